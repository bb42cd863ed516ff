"""What the atlas is made with besides its code: Jinja2 templates and one stylesheet and one script.

Both ship inside the package (templates/, static/) and are read through importlib.resources, so an installed
jaxviz needs no source checkout. The pages load no fonts, libraries or anything from the network.
"""

from __future__ import annotations

import functools
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import jinja2

PACKAGE = "jaxviz.atlas"
STATIC = ("atlas.css", "atlas.js")  # copied to the atlas root, beside its pages
CSS, JS = STATIC


def static(name: str) -> bytes:
    """A static file's bytes, as the package ships it."""
    return (resources.files(PACKAGE) / "static" / name).read_bytes()


@functools.cache
def environment() -> jinja2.Environment:
    """The one Jinja2 environment: made once, so that each template is compiled once per process."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(PACKAGE, "templates"),
        autoescape=jinja2.select_autoescape(("html",), default=True),
        undefined=jinja2.StrictUndefined,  # a variable a page forgot is an error, not an empty string
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # the package's templates do not change while it runs: no stat a page
    )
    # tojson escapes <, >, & and ' (nothing in the data can end its <script>); no spaces: large layers' data.
    env.policies["json.dumps_kwargs"] = {"separators": (",", ":")}
    return env


def render(template: str, **context: Any) -> str:
    """The page `template` (a file under templates/) made from `context`: plain values, escaped by Jinja2."""
    return environment().get_template(template).render(context)


def _files(folder: Traversable) -> list[Traversable]:
    return sorted((f for f in folder.iterdir() if f.is_file()), key=lambda f: f.name)


def sources() -> list[bytes]:
    """Every template and static file, in a fixed order: a change to any of them is a change to the pages."""
    root = resources.files(PACKAGE)
    return [f.name.encode() + f.read_bytes() for name in ("templates", "static") for f in _files(root / name)]
