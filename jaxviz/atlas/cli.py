"""jaxviz-atlas DIR: write (or refresh) the atlas of a run or sweep directory."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from jaxviz.arguments import guarded


@guarded
def atlas_main(argv: Sequence[str] | None = None) -> int:
    """The jaxviz-atlas command: 0 once DIR/atlas is up to date (bad input: a one-line error, 2)."""
    p = argparse.ArgumentParser(
        description="Write DIR/atlas/: a static site of every filter of a run or sweep directory (opens from file://)."
    )
    p.add_argument("dir", metavar="DIR", help="a run directory (metrics.json) or a sweep directory (index.json)")
    args = p.parse_args(argv)
    from jaxviz.atlas import write_atlas

    index = write_atlas(args.dir)
    print(f"jaxviz: wrote {index} (open it in a browser)")
    return 0
