"""jaxviz-atlas DIR: write (or refresh) the atlas of a run or sweep directory."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from jaxviz.cli.arguments import ArgumentParser, guarded


@guarded
def main(argv: Sequence[str] | None = None) -> int:
    """The jaxviz-atlas command: 0 once DIR/atlas is up to date (bad input: a one-line error, 2)."""
    p = ArgumentParser(
        description="Write DIR/atlas/: a static site of every filter of a run or sweep directory (opens from file://)."
    )
    p.add_argument("dir", metavar="DIR", help="a run directory (metrics.json) or a sweep directory (index.json)")
    args = p.parse_args(argv)
    from jaxviz.atlas import write_atlas
    from jaxviz.atlas.site import read
    from jaxviz.runtime.dir_lock import holding

    directory = Path(args.dir)
    read(directory)  # neither a run nor a sweep, or damaged: its one-line error, before the lock file is made
    # A run or sweep still writing DIR refreshes its atlas itself as it goes; a second writer would race it.
    page = directory.absolute() / "atlas" / "index.html"
    advice = f"it refreshes the atlas itself as it goes (open {page}); run jaxviz-atlas again once it has finished"
    with holding(directory, "an atlas being written", advice=advice):
        index = write_atlas(directory)
    print(f"jaxviz: wrote {index} (open it in a browser)")
    return 0
