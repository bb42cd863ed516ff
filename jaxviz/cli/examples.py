"""`jaxviz-examples` / scripts/examples.py: the dataset-examples command line (error contract: arguments.guarded).

With --config FILE the settings come from that config (see jaxviz.run.examples_stage), so the examples land in the
run directory of its ascent; every flag given overrides the file.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from jaxviz.cli.arguments import ArgumentParser, add_distributed_flags, add_set_flag, guarded, join_processes
from jaxviz.dataset_examples import CONVS

# Flag -> the config key it overrides.
KEYS = {
    "images": "examples.images",
    "layers": "target.layers",
    "filters": "target.filters",
    "top": "examples.top",
    "size": "examples.size",
    "batch": "examples.batch",
    "weights": "model.weights",
    "out": "output.dir",
    "save_every": "examples.save_every",
    "conv": "examples.conv",
}
DEFAULT_OUT = "runs/examples"  # output.dir without --config (a config's own output.dir otherwise)


@guarded
def main(argv: Sequence[str] | None = None) -> int:
    """Compute (or continue) the dataset examples of a folder into RUN/examples; exit 0, or 2 with one line."""
    p = ArgumentParser(description="The real images of a folder that drive every VGG16 filter hardest.")
    p.add_argument("--config", metavar="FILE", help="a config: its [examples] table, [target], [model] weights "
                   "and [output] dir (the examples go beside its ascent)")  # fmt: skip
    add_set_flag(p, "override one config key, e.g. --set examples.top=9 (repeatable)")
    p.add_argument("--images", metavar="DIR", help="folder of JPEG/PNG files, searched recursively (required unless "
                   "the config sets examples.images)")  # fmt: skip
    p.add_argument("--layers", metavar="L1,L2|all", help="conv layers (default: target.layers, all)")
    p.add_argument("--filters", metavar="0:64|3,5,9|all", help="filters of each layer (default: target.filters, all)")
    p.add_argument("--top", metavar="K", type=int, help="images kept per filter (default: examples.top, 16)")
    p.add_argument("--size", metavar="PX", type=int, help="centre-crop side (default: examples.size, 224)")
    p.add_argument("--batch", metavar="N", type=int, help="images per forward pass (default: examples.batch; 0 picks)")
    p.add_argument("--weights", metavar="PATH", help="Keras VGG16 .h5 or converted .msgpack (default: model.weights)")
    p.add_argument("--out", metavar="RUN", help=f"run directory (default: the config's output.dir, else {DEFAULT_OUT})")
    p.add_argument("--save-every", metavar="N", type=int, help="images between state saves (default 1024)")
    p.add_argument("--conv", metavar="|".join(CONVS), help="auto: Winograd on CPU's deep layers (scores within ~2e-5); "
                   "xla: Keras' exact arithmetic (default: examples.conv, auto)")  # fmt: skip
    p.add_argument("--stop-after", metavar="N", type=int, help=argparse.SUPPRESS)  # tests: an interruption
    p.add_argument("--quiet", action="store_true", help="no progress line")
    add_distributed_flags(p)  # each process a share of the files; process 0 merges and writes
    args = p.parse_args(argv)
    from jaxviz import config as config_lib
    from jaxviz.run.examples_stage import compute, job_for

    base = None if args.config else config_lib.apply(config_lib.Config(), {"output.dir": DEFAULT_OUT})
    cfg = config_lib.load(args.config, args.overrides, base=base)
    flags = {key: getattr(args, name) for name, key in KEYS.items() if getattr(args, name) is not None}
    cfg = config_lib.apply(cfg, flags)
    job = job_for(cfg)  # every setting checked before JAX is imported
    join_processes(args, cfg)
    from jaxviz.cli.arguments import atlas_hook
    from jaxviz.model.weights import find_and_load
    from jaxviz.runtime.processes import holding, process

    find_and_load(job.weights)  # bad weights: refused before the run directory is made (and loaded once)

    page = job.out.absolute() / "atlas" / "index.html"
    with holding(job.out, "a dataset-examples run", cfg.distributed.initialization_timeout):
        result, wrote = compute(job, cfg, cfg.output.progress and not args.quiet, args.stop_after)
        index, count = process()
        refresh = atlas_hook(cfg)
        # The atlas shows the examples (beside the run's optimised images, or alone): made when they changed,
        # or when the run directory has none yet.
        if refresh is not None and index == 0 and result.complete and (wrote or not page.is_file()):
            refresh(job.out)
    if index and result.complete:
        print(f"jaxviz: process {index} of {count} finished its share; process 0 writes {job.out}")
        return 0
    rate = f", {result.rate:.1f} images/s after the first batch" if result.rate else ""
    skipped = f"; {result.skipped} file(s) skipped (unreadable)" if result.skipped else ""
    read = len(result.images)
    if not result.complete:
        print(f"jaxviz: stopped after {read} image(s){skipped}; rerun to continue (state in {job.out}/examples)")
        return 0
    what = f"{job.out.absolute()}/examples: {len(result.layers)} layer(s), {read} image(s)"
    if not wrote:
        print(f"jaxviz: {what} already complete with these settings; nothing to do")
    else:
        print(f"jaxviz: wrote {what}{rate}{skipped}")
    if cfg.output.atlas and page.is_file():
        print(f"jaxviz: open {page} in a browser (each filter's top images)", flush=True)
    else:
        print(f"jaxviz: the examples are in {job.out.absolute()}/examples; in Python, jaxviz.crops shows them")
    return 0
