"""jaxviz-benchmark / scripts/benchmark.py: ascent throughput, dataset examples against a peer, start-up time."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from jaxviz.ascent.spec import CHOICES
from jaxviz.cli.arguments import guarded
from jaxviz.errors import JaxvizError


@guarded
def main(argv: Sequence[str] | None = None) -> int:
    """scripts/benchmark.py: one layer, or --network (one JSON line per layer as it finishes, then the total)."""
    p = argparse.ArgumentParser(description="Ascent throughput through the engine: one layer, or --network.")
    p.add_argument("--layer", help="conv layer to time (default block3_conv1)")
    p.add_argument("--network", action="store_true", help="time every filter of all 13 layers instead")
    p.add_argument("--size", type=int, help="image side in px (default 128; with --examples 224)")
    p.add_argument("--filters", type=int, help="filters (default 16); with --network at most this many per layer")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--chunk", type=int, default=0, help="filters per batch (0: what a run picks for the device)")
    p.add_argument("--precision", default="float32", help="float32 or bfloat16 (sets ascent.precision)")
    for name, valid in CHOICES.items():  # --loop/--target/--conv, each auto by default
        p.add_argument(f"--{name}", default="auto", help=f"ascent.{name}: {'|'.join(valid)} (auto: by backend)")
    p.add_argument("--devices", type=int, help="use the first N local devices (default all)")
    p.add_argument("--weights", default="", help="weights file; random weights if none is found")
    p.add_argument("--no-per-filter", action="store_true", help="skip the one-filter-at-a-time baseline")
    p.add_argument("--json", action="store_true", help="print JSON lines")
    p.add_argument("--startup", action="store_true", help="time every command's --help and bad-input refusals instead")
    g = p.add_argument_group("dataset examples (--examples: the 13 layers at 224 px, images/s)")
    g.add_argument("--examples", metavar="DIR", help="time jaxviz-examples over this folder instead of the ascent "
                   "(--conv then takes examples.conv's values: auto, xla, winograd)")  # fmt: skip
    g.add_argument("--repeat", type=int, default=1, help="cycle the folder this many times (a steadier timing)")
    g.add_argument("--batch", type=int, default=0, help="images per forward pass (0: what a run picks)")
    g.add_argument("--rounds", type=int, default=2, help="alternations of jaxviz and the peer")
    g.add_argument("--peer", metavar="SCRIPT", default="", help="a peer script run alternately (e.g. tf_examples.py)")
    g.add_argument("--peer-python", metavar="PY", default="python3", help="the peer's interpreter (its own venv)")
    args = p.parse_args(argv)
    if args.startup:
        from jaxviz.bench.startup_speed import run as startup

        startup(as_json=args.json)
        return 0
    if args.examples is not None:
        from jaxviz.bench.examples_speed import main as examples_benchmark

        ascent = {"--network": args.network, "--layer": args.layer, "--filters": args.filters,
                  "--steps": args.steps != 5, "--chunk": args.chunk}  # fmt: skip
        given = [flag for flag, value in ascent.items() if value]
        if given:
            raise JaxvizError(f"--examples times all 13 layers over the folder; {given[0]} is the ascent's: drop it")

        return examples_benchmark(args.examples, args.repeat, args.batch, args.weights, args.rounds, args.peer,
                                  args.peer_python, args.json, args.conv, args.size or 224)  # fmt: skip
    from jaxviz.bench.ascent_speed import benchmark, network
    from jaxviz.bench.speed_report import format_network_header, format_network_row, format_report
    from jaxviz.model.architecture import CONV_LAYERS

    size = 128 if args.size is None else args.size
    choices = {name: getattr(args, name) for name in CHOICES}
    common = {"chunk": args.chunk, "weights": args.weights, "precision": args.precision, "devices": args.devices}
    if not args.network:
        filters = 16 if args.filters is None else args.filters
        layer, per_filter = args.layer or "block3_conv1", not args.no_per_filter
        report = benchmark(layer, size, filters, args.steps, per_filter=per_filter, choices=choices, **common)
        print(json.dumps(report) if args.json else format_report(report))
        return 0
    if args.layer is not None:
        raise JaxvizError("--network times every layer; drop --layer (or drop --network to time one layer)")

    def show(header: dict, row: dict) -> None:
        if args.json:
            print(json.dumps({**header, "mode": "network_layer", **row}), flush=True)
            return
        if row["layer"] == CONV_LAYERS[0]:
            print(format_network_header(header), flush=True)
        print(format_network_row(row), flush=True)

    report = network(size, args.steps, args.filters, choices=choices, on_layer=show, **common)
    total = format_network_row({"layer": "total", **report["total"]})
    print(json.dumps(report) if args.json else total, flush=True)
    return 0
