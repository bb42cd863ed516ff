"""jaxviz-convert-weights / scripts/convert_weights.py: Keras VGG16 weights to a flax msgpack params file."""

from __future__ import annotations

from collections.abc import Sequence

from jaxviz.cli.arguments import config_from_args, config_parser, guarded


@guarded
def main(argv: Sequence[str] | None = None) -> int:
    p = config_parser("Convert Keras VGG16 h5 weights to a flax msgpack params file.", "convert")
    p.add_argument("--output", metavar="FILE", required=True, help="where to write the .msgpack params")
    p.add_argument("--include-top", action="store_true", help="keep fc1, fc2, predictions (needs a full file)")
    args = p.parse_args(argv)
    cfg = config_from_args(args, "convert")
    from jaxviz.model.weight_search import resolve_weights
    from jaxviz.model.weights import load_params, save_params

    source = resolve_weights(cfg.model.weights, args.include_top, cfg.model.download)
    params = load_params(source, args.include_top)
    save_params(params, args.output)  # an OS failure is files.WriteError: one line naming the file
    print(f"jaxviz: wrote {args.output} ({len(params)} layers from {source})")
    return 0
