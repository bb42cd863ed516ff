"""jaxviz-compare / scripts/compare.py: presets (and Lucent's images) side by side, or each building block's speed."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from jaxviz.cli.arguments import guarded
from jaxviz.errors import JaxvizError


@guarded
def main(argv: Sequence[str] | None = None) -> int:
    """scripts/compare.py: presets (and Lucent's images) side by side, or --costs: each building block's speed."""
    p = argparse.ArgumentParser(description="Seconds per filter and quality numbers of presets, one table.")
    p.add_argument("--presets", default="book,keras-example,tf2-tape,max-normalised,quality")
    p.add_argument("--layers", default="block3_conv1,block4_conv3,block5_conv3")
    p.add_argument("--filters", default="0:16", help="a range like 0:16 or a list 0,3,5")
    p.add_argument("--size", type=int, default=128, help="displayed size every image set is scored at")
    p.add_argument("--out", default="docs/compare")
    p.add_argument("--weights", default="")
    p.add_argument("--lucent", metavar="DIR", help="Lucent's images, DIR/<layer>/NNNN.png")
    p.add_argument("--lucent-python", metavar="PY", help="time Lucent too, with this interpreter (its own venv)")
    p.add_argument("--lucent-script", metavar="FILE", help="the Lucent peer script that --lucent-python runs")
    p.add_argument("--costs", action="store_true", help="instead: image-steps/s of each method building block")
    args = p.parse_args(argv)
    if args.costs:
        from jaxviz.bench.preset_comparison import method_costs
        from jaxviz.model.weights import find_and_load

        costs = method_costs(find_and_load(args.weights), args.layers.split(",")[0], args.size, steps=16)
        print(json.dumps(costs, indent=1))
        return 0
    from pathlib import Path

    from jaxviz.bench.preset_comparison import compare
    from jaxviz.model.targets import resolve_filters

    peers = {"lucent": Path(args.lucent)} if args.lucent else {}
    timing = {}
    if args.lucent_python:
        if not args.lucent_script:
            raise JaxvizError("--lucent-python needs --lucent-script PATH: the Lucent peer script to time")
        timing["lucent"] = [args.lucent_python, args.lucent_script, "--weights", args.weights]
        timing["lucent"] += ["--filters", "1", "--steps", "32", "--threads", "2"]
    filters = resolve_filters(args.filters, "block5_conv3")  # each layer checks its own range again
    rows = compare(
        [p for p in args.presets.split(",") if p],
        args.layers.split(","),
        filters,
        args.size,
        Path(args.out),
        args.weights,
        peers,
        timing,
    )
    print((Path(args.out) / "compare.md").read_text())
    return 0 if rows else 2
