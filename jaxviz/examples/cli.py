"""`jaxviz-examples` / scripts/examples.py: the dataset-examples command line (error contract: arguments.guarded)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from jaxviz import config as config_lib
from jaxviz.arguments import add_distributed_flags, guarded, join_processes


@guarded
def examples_main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="The real images of a folder that drive every VGG16 filter hardest.")
    p.add_argument("--images", metavar="DIR", required=True, help="folder of JPEG/PNG files (searched recursively)")
    p.add_argument("--layers", metavar="L1,L2|all", default="all", help="conv layers (default all)")
    p.add_argument("--filters", metavar="0:64|3,5,9|all", default="all", help="filters of each layer (default all)")
    p.add_argument("--top", metavar="K", type=int, default=16, help="images kept per filter (default 16)")
    p.add_argument("--size", metavar="PX", type=int, default=224, help="centre-crop side (default 224)")
    p.add_argument("--batch", metavar="N", type=int, default=0, help="images per forward pass (0: picked)")
    p.add_argument("--weights", metavar="PATH", default="", help="Keras VGG16 .h5 or converted .msgpack")
    p.add_argument("--out", metavar="RUN", default="runs/examples", help="run directory (default runs/examples)")
    p.add_argument("--save-every", metavar="N", type=int, default=1024, help="images between state saves")
    p.add_argument("--stop-after", metavar="N", type=int, help=argparse.SUPPRESS)  # tests: an interruption
    p.add_argument("--quiet", action="store_true", help="no progress line")
    add_distributed_flags(p)  # each process a share of the files; process 0 merges and writes
    args = p.parse_args(argv)
    join_processes(args, config_lib.Config())  # before any JAX call
    from jaxviz.examples import make_job
    from jaxviz.examples.job import run

    job = make_job(args.images, args.layers, args.filters, args.top, args.size, args.batch, args.weights, args.out,
                   args.save_every)  # fmt: skip
    result = run(job, stop_after=args.stop_after, progress=not args.quiet)
    from jaxviz.run.distributed import process

    if process()[0] and result.complete:
        print(f"jaxviz: process {process()[0]} of {process()[1]} finished its share; process 0 writes {job.out}")
        return 0
    rate = f", {result.rate:.1f} images/s after the first batch" if result.rate else ""
    skipped = f"; {result.skipped} file(s) skipped (unreadable)" if result.skipped else ""
    read = len(result.images)
    if not result.complete:
        print(f"jaxviz: stopped after {read} image(s){skipped}; rerun to continue (state in {job.out}/examples)")
        return 0
    print(f"jaxviz: wrote {job.out.absolute()}/examples: {len(result.layers)} layer(s), {read} image(s){rate}{skipped}")
    return 0
