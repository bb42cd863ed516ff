"""jaxviz-benchmark-sweep / scripts/benchmark_sweep.py: a sweep atlas's refresh, seconds per point at several sizes."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from jaxviz.cli.arguments import guarded
from jaxviz.errors import JaxvizError


@guarded
def main(argv: Sequence[str] | None = None) -> int:
    """One line per sweep size (JSON with --json): the atlas refresh's seconds per point."""
    p = argparse.ArgumentParser(description="Seconds per point of a sweep's atlas refresh, at several sweep sizes.")
    p.add_argument("--points", default="10,40,160", help="sweep sizes, comma-separated (default 10,40,160)")
    p.add_argument("--layers", default="block1_conv1,block2_conv1", help="each point's layers")
    p.add_argument("--filters", type=int, default=4, help="filters per layer and point (default 4)")
    p.add_argument("--size", type=int, default=32, help="tile side in px (default 32)")
    p.add_argument("--steps", type=int, default=2, help="ascent steps in each history (default 2)")
    p.add_argument("--dir", help="where to write the sweeps (default: a temporary folder, deleted after)")
    p.add_argument("--json", action="store_true", help="print JSON lines")
    args = p.parse_args(argv)
    try:
        sizes = [int(x) for x in args.points.split(",")]
    except ValueError:
        raise JaxvizError(f"--points takes comma-separated whole numbers, not {args.points!r}") from None
    if not sizes or min(sizes) < 1 or args.filters < 1 or args.size < 1 or args.steps < 1:
        raise JaxvizError("--points, --filters, --size and --steps must be at least 1")
    from jaxviz.bench.sweep_atlas_speed import measure

    layers = [la for la in args.layers.split(",") if la]
    for row in measure(sizes, layers, args.filters, args.size, args.steps, args.dir):
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            n = row["points"]
            print(
                f"{n:4d} points: {row['mean_s_per_point']:.3f} s per point on average, "
                f"{row['last_tenth_s_per_point']:.3f} s for the last tenth, {row['total_s']:.1f} s in all",
                flush=True,
            )
    return 0
