"""Command-line entry points: visualize, convert, benchmark, sweep, compare (error contract: arguments.py)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from jaxviz import config as config_lib
from jaxviz.arguments import (
    add_distributed_flags,
    add_set_flag,
    config_from_args,
    config_parser,
    guarded,
    join_processes,
)
from jaxviz.ascent.spec import CHOICES
from jaxviz.errors import JaxvizError


@guarded
def visualize_main(argv: Sequence[str] | None = None) -> int:
    p = config_parser("Visualise VGG16 filters by gradient ascent in input space.")
    p.add_argument("--preset", metavar="NAME", help="start from a preset (jaxviz/presets/NAME.toml), e.g. quality")
    add_distributed_flags(p)
    args = p.parse_args(argv)
    cfg = config_from_args(args)
    from jaxviz.paths import output_dir
    from jaxviz.run import examples as run_examples
    from jaxviz.run.plan import prepare

    prepare(cfg)  # every name, filter and size refused here, before JAX is imported: a mistake answers at once
    job = run_examples.job_for(cfg) if cfg.examples.images else None  # its checks import no JAX either
    join_processes(args, cfg)
    from jaxviz.run import distributed, run
    from jaxviz.weights import find_and_load_file

    find_and_load_file(cfg.model.weights, cfg.model.download)  # bad weights: refused before a directory is made
    # Held across the ascent, its examples and its atlas (each holds it too, re-entrantly): no other writer
    # can slip in between them.
    with distributed.holding(output_dir(cfg.output.dir), "a visualisation run", cfg.distributed.initialization_timeout):
        if job is not None:
            run_examples.check_before(job)  # refused before the ascent, not after
        result = run(cfg, after_layer=atlas_hook(cfg))
        # Every process takes its share of the examples too; process 0 merges them.
        examples = run_examples.after_ascent(cfg, job, atlas_hook(cfg)) if job is not None else None
    index, count = distributed.process()
    if index:
        print(f"jaxviz: process {index} of {count} finished its share; process 0 writes {cfg.output.dir}")
        return 0
    print_outcome(cfg, result, examples)
    return 0


def atlas_hook(cfg: config_lib.Config) -> Callable[[object], None] | None:
    """The atlas' refresh, run after each layer (or sweep point), when output.atlas asks for it."""
    if not cfg.output.atlas:
        return None
    from jaxviz.atlas import refresh

    return refresh


def tensorboard_command() -> str:
    """How to start TensorBoard from here: this environment's own, else the one on PATH, else how to get it."""
    import shutil

    beside = Path(sys.executable).parent / "tensorboard"  # a virtual environment that is not activated
    if beside.is_file():
        return str(beside)
    if shutil.which("tensorboard"):
        return "tensorboard"
    return "tensorboard (pip install 'jaxviz[tensorboard]' first)"


def print_outcome(cfg: config_lib.Config, result: dict, examples: tuple | None = None) -> None:
    """What a run wrote, then, as the last line, what to open. `examples`: (Examples, whether they were
    written) when the config has an [examples] table (see jaxviz.run.examples.after_ascent)."""
    from jaxviz.run.examples import summary

    out = Path(cfg.output.dir).absolute()
    layers = result["layers"]
    flagged = sum(s["nan"] for s in layers.values())
    wrote = f", {summary(examples[0])}" if examples is not None and examples[1] else ""
    if not result.get("up_to_date"):  # a complete run rerun wrote nothing: say only what to open
        print(
            f"jaxviz: wrote {out}: {len(layers)} grid(s), metrics.json, config.toml"
            + (", TensorBoard events" if cfg.output.tensorboard else "")
            + wrote
            + (f"; {flagged} filter(s) hit non-finite values" if flagged else "")
        )
    elif wrote:  # the ascent was complete; its examples were not
        print(f"jaxviz: wrote {out}: {wrote[2:]}")
    print_where(out, cfg.output.atlas, cfg.output.tensorboard, f"{out}/*.png")


def print_where(out: Path, atlas: bool, tensorboard: bool, otherwise: str = "") -> None:
    """The last line of a run or sweep: what to open (its atlas, else `otherwise`) and the TensorBoard command."""
    page = out / "atlas" / "index.html"
    where = [f"{page} in a browser"] if atlas and page.is_file() else [otherwise] if otherwise else []
    if tensorboard:
        where.append(f"run: {tensorboard_command()} --logdir {out}")
    if where:
        print("jaxviz: open " + ", or ".join(where), flush=True)


@guarded
def convert_main(argv: Sequence[str] | None = None) -> int:
    p = config_parser("Convert Keras VGG16 h5 weights to a flax msgpack params file.", ["weights"])
    p.add_argument("--output", metavar="FILE", required=True, help="where to write the .msgpack params")
    p.add_argument("--include-top", action="store_true", help="keep fc1, fc2, predictions (needs a full file)")
    args = p.parse_args(argv)
    cfg = config_from_args(args)
    from jaxviz.fetch import resolve_weights
    from jaxviz.weights import load_params, save_params

    source = resolve_weights(cfg.model.weights, args.include_top, cfg.model.download)
    params = load_params(source, args.include_top)
    save_params(params, args.output)  # an OS failure is files.WriteError: one line naming the file
    print(f"jaxviz: wrote {args.output} ({len(params)} layers from {source})")
    return 0


@guarded
def benchmark_main(argv: Sequence[str] | None = None) -> int:
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
        from jaxviz.benchmark_startup import run as startup

        startup(as_json=args.json)
        return 0
    if args.examples is not None:
        from jaxviz.benchmark_examples import main as examples_benchmark

        ascent = {"--network": args.network, "--layer": args.layer, "--filters": args.filters,
                  "--steps": args.steps != 5, "--chunk": args.chunk}  # fmt: skip
        given = [flag for flag, value in ascent.items() if value]
        if given:
            raise JaxvizError(f"--examples times all 13 layers over the folder; {given[0]} is the ascent's: drop it")

        return examples_benchmark(args.examples, args.repeat, args.batch, args.weights, args.rounds, args.peer,
                                  args.peer_python, args.json, args.conv, args.size or 224)  # fmt: skip
    from jaxviz.architecture import CONV_LAYERS
    from jaxviz.benchmark import benchmark, network
    from jaxviz.benchmark_report import format_network_header, format_network_row, format_report

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


@guarded
def sweep_main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Run one visualisation per point of a sweep file's [sweep.axes].")
    p.add_argument("--config", metavar="FILE", required=True, help="a config plus a [sweep] table (mode, axes)")
    p.add_argument("--out", metavar="DIR", help="sweep directory (default: output.dir if set, else runs/<FILE stem>)")
    add_set_flag(p, "override one key of every point's base config, e.g. --set ascent.size=64 (repeatable)")
    add_distributed_flags(p)
    args = p.parse_args(argv)
    from jaxviz.run import distributed
    from jaxviz.run.sweep import load_sweep, sweep

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


@guarded
def compare_main(argv: Sequence[str] | None = None) -> int:
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
        from jaxviz.compare import method_costs
        from jaxviz.weights import find_and_load

        costs = method_costs(find_and_load(args.weights), args.layers.split(",")[0], args.size, steps=16)
        print(json.dumps(costs, indent=1))
        return 0
    from pathlib import Path

    from jaxviz.compare import compare
    from jaxviz.targets import resolve_filters

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
