"""jaxviz-sweep / scripts/sweep.py: one visualisation per point of a sweep file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from jaxviz.cli.arguments import (
    ArgumentParser,
    add_distributed_flags,
    add_set_flag,
    atlas_hook,
    guarded,
    join_processes,
    print_where,
)


@guarded
def main(argv: Sequence[str] | None = None) -> int:
    p = ArgumentParser(description="Run one visualisation per point of a sweep file's [sweep.axes].")
    p.add_argument("--config", metavar="FILE", required=True, help="a config plus a [sweep] table (mode, axes)")
    p.add_argument("--out", metavar="DIR", help="sweep directory (default: output.dir if set, else runs/<FILE stem>)")
    add_set_flag(p, "override one key of every point's base config, e.g. --set ascent.size=64 (repeatable)")
    add_distributed_flags(p)
    args = p.parse_args(argv)
    from jaxviz.runtime import processes as distributed
    from jaxviz.sweep.sweep_runner import load_sweep, sweep

    base = load_sweep(args.config, args.out, args.overrides).base  # every point checked first
    join_processes(args, base)

    index = sweep(args.config, args.out, args.overrides, after_point=atlas_hook(base))
    if distributed.process()[0]:
        return 0  # process 0 reports for all
    done = sum(e["status"] == "done" for e in index["points"])
    out = Path(index["sweep"]["base"]["output.dir"])  # the base's output.dir is the sweep directory
    print(f"jaxviz: sweep {out}: {done} points done, {len(index['points']) - done} failed")
    print_where(out, base.output.atlas, base.output.tensorboard)
    return 0
