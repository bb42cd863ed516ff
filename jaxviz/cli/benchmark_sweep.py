"""jaxviz-benchmark-sweep / scripts/benchmark_sweep.py: a sweep atlas's refresh, seconds per point at several sizes."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from jaxviz.cli.arguments import ArgumentParser, guarded
from jaxviz.errors import JaxvizError


@guarded
def main(argv: Sequence[str] | None = None) -> int:
    """One line per sweep size (JSON with --json): the atlas refresh's seconds per point."""
    p = ArgumentParser(description="Seconds per point of a sweep's atlas refresh, at several sweep sizes.")
    p.add_argument("--points", default="10,40,160", help="sweep sizes, comma-separated (default 10,40,160)")
    p.add_argument("--layers", default="block1_conv1,block2_conv1", help="each point's layers")
    p.add_argument("--filters", type=int, default=4, help="filters per layer and point (default 4)")
    p.add_argument("--size", type=int, default=32, help="tile side in px (default 32)")
    p.add_argument("--steps", type=int, default=2, help="ascent steps in each history (default 2)")
    p.add_argument("--dir", help="where to write the sweeps (default: a temporary folder, deleted after)")
    p.add_argument("--json", action="store_true", help="print JSON lines")
    args = p.parse_args(argv)
    sizes, layers = _checked(args)
    from jaxviz.bench.sweep_atlas_speed import measure

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


# The most synthetic results (tiles and histories) the largest sweep may write: about 1,000 times the default
# sweeps' (160 points x 2 layers x 4 filters of 32 px: 4 MB); more is refused in one line, not left to fill a disk.
MAX_BYTES = 4 * 2**30


def _checked(args: argparse.Namespace) -> tuple[list[int], list[str]]:
    """(the sweep sizes, the layers), once every argument is checked: JaxvizError naming the flag; no JAX."""
    from jaxviz.model.architecture import CONV_LAYERS, CONV_WIDTHS

    try:
        sizes = [int(x) for x in args.points.split(",")]
    except ValueError:
        raise JaxvizError(f"--points takes comma-separated whole numbers, not {args.points!r}") from None
    if not sizes or min(sizes) < 1 or args.filters < 1 or args.size < 1 or args.steps < 1:
        raise JaxvizError("--points, --filters, --size and --steps must be at least 1")
    layers = [la for la in args.layers.split(",") if la]
    if not layers:
        raise JaxvizError(f"--layers is empty; valid layers: {', '.join(CONV_LAYERS)}")
    for layer in layers:
        if layer not in CONV_LAYERS:
            raise JaxvizError(f"--layers: unknown layer {layer!r}; valid layers: {', '.join(CONV_LAYERS)}")
        if args.filters > CONV_WIDTHS[layer]:
            raise JaxvizError(f"--filters {args.filters}: {layer} has {CONV_WIDTHS[layer]} filters")
    per_filter = args.size * args.size * 3 + (args.steps + 1) * 4  # a uint8 RGB tile and a float32 history
    total = max(sizes) * len(layers) * args.filters * per_filter
    if total > MAX_BYTES:
        raise JaxvizError(
            f"a sweep of {max(sizes)} points would write {total / 2**30:.1f} GiB of synthetic results "
            f"(at most {MAX_BYTES // 2**30} GiB): lower --points, --filters, --size or --steps"
        )
    if args.dir is not None and not Path(args.dir).is_dir():
        raise JaxvizError(f"--dir {args.dir!r} is not a directory (the sweeps go in a temporary folder inside it)")
    return sizes, layers
