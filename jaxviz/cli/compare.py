"""jaxviz-compare / scripts/compare.py: presets (and peers' images) side by side, or each building block's speed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from jaxviz.cli.arguments import ArgumentParser, guarded
from jaxviz.errors import JaxvizError


@guarded
def main(argv: Sequence[str] | None = None) -> int:
    """scripts/compare.py: presets (and Lucent's images) side by side, or --costs: each building block's speed."""
    p = ArgumentParser(description="Seconds per filter and quality numbers of presets, one table.")
    p.add_argument("--presets", default="book,keras-example,tf2-tape,max-normalised,quality")
    p.add_argument("--layers", default="block3_conv1,block4_conv3,block5_conv3")
    p.add_argument("--filters", default="0:16", help="a range like 0:16 or a list 0,3,5")
    p.add_argument("--size", type=int, default=128, help="displayed size every image set is scored at")
    p.add_argument("--out", default="docs/compare")
    p.add_argument("--weights", default="")
    p.add_argument("--lucent", metavar="DIR", help="Lucent's images, DIR/<layer>/NNNN.png")
    p.add_argument("--lucent-python", metavar="PY", help="time Lucent too, with this interpreter (its own venv)")
    p.add_argument("--lucent-script", metavar="FILE", help="the Lucent peer script that --lucent-python runs")
    p.add_argument(
        "--peer",
        metavar="NAME=DIR",
        action="append",
        default=[],
        help="another peer's images, DIR/<layer>/NNNN.png (NNNN_alpha.npy: its transparency; DIR/<layer>.json: its "
        "seconds); repeatable",
    )
    p.add_argument(
        "--variant",
        metavar="'LABEL=PRESET KEY=VALUE ...'",
        action="append",
        default=[],
        help="a preset with config overrides (section.key=value) under its own label, "
        "e.g. 'maco-128=maco-fast ascent.steps=128'; repeatable",
    )
    p.add_argument("--no-alpha", action="store_true", help="do not add '<method>+alpha' (images over their alpha)")
    p.add_argument("--costs", action="store_true", help="instead: image-steps/s of each method building block")
    args = p.parse_args(argv)
    from jaxviz.ascent.spec import MIN_SEEN
    from jaxviz.bench.preset_comparison import MAX_SIZE, Comparison
    from jaxviz.model.architecture import min_size
    from jaxviz.model.targets import resolve_filters, resolve_layers
    from jaxviz.model.weight_search import find_local_weights
    from jaxviz.runtime.paths import output_dir

    layers = resolve_layers(args.layers)
    if args.costs:
        need = max(min_size(layers[0]), MIN_SEEN)  # the ascent's size: the layer's, and what the model is shown
        if not need <= args.size <= MAX_SIZE:
            raise JaxvizError(f"--size must be {need} to {MAX_SIZE} px for {layers[0]}, got {args.size}")
        find_local_weights(args.weights)  # a named file that is not there: one line, before JAX
        from jaxviz.bench.preset_comparison import method_costs
        from jaxviz.model.weights import find_and_load

        costs = method_costs(find_and_load(args.weights), layers[0], args.size, steps=16)
        print(json.dumps(costs, indent=1))
        return 0
    peers = {"lucent": Path(args.lucent)} if args.lucent else {}
    for item in args.peer:
        name, eq, folder = item.partition("=")
        if not (eq and name and folder) or name in peers:
            raise JaxvizError(f"--peer {item!r} is not NAME=DIR with a name of its own")
        peers[name] = Path(folder)
    variants = {}
    for item in args.variant:
        label, eq, spec = item.partition("=")
        preset, *sets = spec.split() or [""]
        if not (eq and label and preset) or label in variants:
            raise JaxvizError(f"--variant {item!r} is not 'LABEL=PRESET KEY=VALUE ...' with a label of its own")
        variants[label] = (preset, tuple(sets))
    timing = {}
    if args.lucent_python or args.lucent_script:
        if not (args.lucent_python and args.lucent_script):
            raise JaxvizError("--lucent-python and --lucent-script time Lucent together: give both (or neither)")
        if not args.lucent:
            raise JaxvizError("--lucent-python times Lucent beside its images: give --lucent DIR too")
        timing["lucent"] = [args.lucent_python, args.lucent_script, "--weights", args.weights]
        timing["lucent"] += ["--filters", "1", "--steps", "32", "--threads", "2"]
    output_dir(args.out, "--out")  # as typed: Path("") would be the current folder
    filters = resolve_filters(args.filters, "block5_conv3")  # parsed at the widest; check() holds it to each layer
    presets = [name for name in args.presets.split(",") if name]
    study = Comparison(
        presets,
        layers,
        filters,
        args.size,
        Path(args.out),
        args.weights,
        peers,
        timing,
        variants=variants,
        alpha=not args.no_alpha,
    )
    study.check()
    find_local_weights(args.weights)  # a named file that is not there: one line, before JAX
    from jaxviz.bench.preset_comparison import compare

    rows = compare(study)
    print((Path(args.out) / "compare.md").read_text())
    return 0 if rows else 2
