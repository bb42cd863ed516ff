"""jaxviz-benchmark / scripts/benchmark.py: ascent throughput (any preset's method beside the default one), dataset
examples against a peer, start-up time."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from jaxviz.ascent.spec import CHOICES, MIN_SEEN
from jaxviz.cli.arguments import ArgumentParser, add_set_flag, guarded
from jaxviz.errors import JaxvizError


@guarded
def main(argv: Sequence[str] | None = None) -> int:
    """scripts/benchmark.py: one layer, or --network (one JSON line per layer as it finishes, then the total)."""
    p = ArgumentParser(
        description="Ascent throughput through the engine: one layer, or --network; a preset's method "
        "(--preset, --set) beside the default one."
    )
    p.add_argument("--model", default="vgg16", help="the model (as --model of visualize.py; default vgg16)")
    p.add_argument("--layer", help="layer to time (default block3_conv1, or the model's middle layer)")
    p.add_argument("--network", action="store_true", help="time every filter of all 13 layers instead")
    p.add_argument("--size", type=int, help="image side in px (default 128; with --examples 224)")
    p.add_argument("--filters", type=int, help="filters (default 16); with --network at most this many per layer")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--chunk", type=int, default=0, help="filters per batch (0: what a run picks for the device)")
    p.add_argument("--precision", help="float32 or bfloat16 (sets ascent.precision; default float32)")
    for name, valid in CHOICES.items():  # --loop/--target/--conv, each auto by default
        p.add_argument(f"--{name}", default="auto", help=f"ascent.{name}: {'|'.join(valid)} (auto: by backend)")
    p.add_argument("--preset", metavar="NAME", help="time this preset's method (maco, maco-fast, quality, ...) beside "
                   "the default method, alternating --rounds times; --size defaults to the preset's")  # fmt: skip
    add_set_flag(p, "override one config key of the method timed, e.g. --set method.crops=4 (repeatable); the "
                 "timing's own flags win")  # fmt: skip
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
    g.add_argument("--rounds", type=int, default=2, help="alternations of jaxviz and the peer (with --preset or "
                   "--set: of the method and the default one)")  # fmt: skip
    g.add_argument("--peer", metavar="SCRIPT", default="", help="a peer script run alternately (e.g. tf_examples.py)")
    g.add_argument("--peer-python", metavar="PY", default="python3", help="the peer's interpreter (its own venv)")
    args = p.parse_args(argv)
    if args.startup:
        from jaxviz.bench.startup_speed import run as startup

        startup(as_json=args.json)
        return 0
    from jaxviz.model.weight_search import find_local_weights

    if args.examples is not None:
        from jaxviz.bench.examples_speed import ExamplesBench
        from jaxviz.bench.examples_speed import main as examples_benchmark

        given = [flag for flag, value in _ascent_flags(args).items() if value]
        if given:
            raise JaxvizError(f"--examples times all 13 layers over the folder; {given[0]} is the ascent's: drop it")
        bench = ExamplesBench(
            Path(args.examples),
            args.repeat,
            args.batch,
            weights=args.weights,
            rounds=args.rounds,
            peer_script=args.peer,
            peer_python=args.peer_python,
            conv=args.conv,
            size=224 if args.size is None else args.size,
        )
        bench.check()
        find_local_weights(args.weights)  # a named file that is not there: one line, before JAX
        return examples_benchmark(bench, args.json)
    from jaxviz.bench.ascent_speed import Settings, config_of
    from jaxviz.model.architecture import CONV_LAYERS

    custom = bool(args.preset or args.overrides)
    given = [flag for flag, value in _examples_flags(args).items() if value and not (custom and flag == "--rounds")]
    if given:
        raise JaxvizError(f"{given[0]} is for --examples DIR (the dataset examples' benchmark): drop it")
    # The size, precision and choices: the flags, else the preset's and overrides' (refused here in one line when
    # the preset, a key or a value is unknown), else the benchmark's defaults.
    a = config_of(args.preset or "", args.overrides).ascent if custom else None
    choices = {name: getattr(args, name) if getattr(args, name) != "auto" or a is None else getattr(a, name)
               for name in CHOICES}  # fmt: skip
    size = args.size if args.size is not None else a.size if a else 128
    precision = args.precision or (a.precision if a else "float32")
    settings = Settings(size, args.steps, args.chunk, args.weights, precision, args.devices, choices,
                        model=args.model, preset=args.preset or "", overrides=tuple(args.overrides))  # fmt: skip
    if custom and args.rounds < 1:
        raise JaxvizError(f"--rounds must be 1 or more, got {args.rounds}")
    if args.network and args.layer is not None:
        raise JaxvizError("--network times every layer; drop --layer (or drop --network to time one layer)")
    default = "block3_conv1" if args.model in ("vgg16", "vgg19") else None
    if args.network:
        layers = CONV_LAYERS if args.model == "vgg16" else list(settings.network.default_layers)
    else:
        middle = "" if default else settings.network.default_layers[len(settings.network.default_layers) // 3]
        layers = [args.layer if args.layer is not None else default or middle]
    filters = 16 if args.filters is None and not args.network else args.filters
    settings.check(layers, 1 if filters is None else filters)
    if size < MIN_SEEN:  # a layer's own minimum may be less: the model is never shown less than this
        raise JaxvizError(f"--size {size} is too small: the ascent needs {MIN_SEEN} px or more")
    for layer in layers:
        settings.spec(layer)  # every other refusal of the engine's, before JAX
    if args.model == "vgg16":  # (another model's weights were loaded with it, by settings.check)
        find_local_weights(args.weights)  # a named file that is not there: one line, before JAX
    from jaxviz.bench.ascent_speed import benchmark, network
    from jaxviz.bench.speed_report import format_network_header, format_network_row, format_report

    if not args.network:
        report = benchmark(settings, layers[0], filters, per_filter=not args.no_per_filter, rounds=args.rounds)
        print(json.dumps(report) if args.json else format_report(report))
        return 0

    def show(header: dict, row: dict) -> None:
        if args.json:
            print(json.dumps({**header, "mode": "network_layer", **row}), flush=True)
            return
        if row["layer"] == CONV_LAYERS[0]:
            print(format_network_header(header), flush=True)
        print(format_network_row(row), flush=True)

    report = network(settings, filters, on_layer=show)
    total = format_network_row({"layer": "total", **report["total"]})
    print(json.dumps(report) if args.json else total, flush=True)
    return 0


def _ascent_flags(args: argparse.Namespace) -> dict[str, bool]:
    """The ascent's flags, each true when given (not at its default): --examples refuses them."""
    return {
        "--network": args.network,
        "--layer": args.layer is not None,
        "--filters": args.filters is not None,
        "--steps": args.steps != 5,
        "--chunk": args.chunk != 0,
        "--precision": args.precision is not None,
        "--devices": args.devices is not None,
        "--no-per-filter": args.no_per_filter,
        "--loop": args.loop != "auto",
        "--target": args.target != "auto",
        "--preset": args.preset is not None,
        "--set": bool(args.overrides),
    }


def _examples_flags(args: argparse.Namespace) -> dict[str, bool]:
    """The dataset examples' flags, each true when given (not at its default): the ascent refuses them."""
    return {
        "--repeat": args.repeat != 1,
        "--batch": args.batch != 0,
        "--rounds": args.rounds != 2,
        "--peer": bool(args.peer),
        "--peer-python": args.peer_python != "python3",
    }
