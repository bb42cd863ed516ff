"""jaxviz-convert-weights / scripts/convert_weights.py: Keras VGG16 weights to a flax msgpack params file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from jaxviz.cli.arguments import config_from_args, config_parser, guarded
from jaxviz.errors import JaxvizError
from jaxviz.runtime.paths import broken_link, check_text


@guarded
def main(argv: Sequence[str] | None = None) -> int:
    p = config_parser("Convert Keras VGG16 h5 weights to a flax msgpack params file.", "convert")
    p.add_argument("--output", metavar="FILE", required=True, help="where to write the .msgpack params")
    p.add_argument("--include-top", action="store_true", help="keep fc1, fc2, predictions (needs a full file)")
    args = p.parse_args(argv)
    cfg = config_from_args(args, "convert")
    check_output(args.output)  # before minutes of loading: a wrong --output is said at once
    from jaxviz.model.weights import find_and_load_file, save_params

    loaded = find_and_load_file(cfg.model.weights, cfg.model.download, args.include_top)
    save_params(loaded.params, args.output)  # an OS failure is files.WriteError: one line naming the file
    print(f"jaxviz: wrote {args.output} ({len(loaded.params)} layers from {loaded.path})")
    return 0


def check_output(output: str) -> None:
    """Refuse (JaxvizError, one line) an --output that cannot become the params file: empty, holding control
    characters (an unmeant backslash escape), a directory, or a broken link."""
    if not output:
        raise JaxvizError("--output is empty; name the .msgpack file to write")
    check_text(output, "--output")
    path = Path(output).expanduser()
    if path.is_dir():
        raise JaxvizError(
            f"--output {output!r} is a directory; name a file in it, e.g. {str(path / 'vgg16.msgpack')!r}"
        )
    if (link := broken_link(path)) is not None:
        raise JaxvizError(f"--output {output!r} is {link}")
