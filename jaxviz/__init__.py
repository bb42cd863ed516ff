"""jaxviz: what every filter of a convnet responds to, by compiled, batched gradient ascent.

The notebook API: `visualize` (one layer's filters by gradient ascent, of VGG16 or any model: `flax_model` wraps a
Flax module) and `find_examples` (the images of a folder that drive each filter hardest), their results (`Result`,
`Examples`, `LayerExamples`), `crops` and `crops_grid` (the receptive-field crops of those images). `import jaxviz`
stays light: each name imports its module on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from jaxviz.errors import JaxvizError

__version__ = "0.1.0"

# Public name -> the module that defines it (imported when the name is first used).
_WHERE = {
    "Result": "jaxviz.api",
    "visualize": "jaxviz.api",
    "find_examples": "jaxviz.api",
    "flax_model": "jaxviz.api",
    "Examples": "jaxviz.dataset_examples.examples_store",
    "LayerExamples": "jaxviz.dataset_examples.examples_store",
    "crops": "jaxviz.dataset_examples.examples_store",
    "crops_grid": "jaxviz.dataset_examples.examples_store",
    "SlowCallWarning": "jaxviz.show.progress",  # with the progress bar, which imports rich
}
__all__ = [
    "Examples",
    "JaxvizError",
    "LayerExamples",
    "Result",
    "SlowCallWarning",
    "__version__",
    "crops",
    "crops_grid",
    "find_examples",
    "flax_model",
    "visualize",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'jaxviz' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
