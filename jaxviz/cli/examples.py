"""`jaxviz-examples` / scripts/examples.py: the dataset-examples command line (error contract: arguments.guarded).

With --config FILE the settings come from that config (see jaxviz.run.examples_stage), so the examples land in the
run directory of its ascent; every flag given overrides the file.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from jaxviz.cli.arguments import add_distributed_flags, config_from_args, config_parser, guarded, join_processes

DEFAULT_OUT = "runs/examples"  # output.dir without --config (a config's own output.dir otherwise)


@guarded
def main(argv: Sequence[str] | None = None) -> int:
    """Compute (or continue) the dataset examples of a folder into RUN/examples; exit 0, or 2 with one line."""
    p = config_parser("The real images of a folder that drive every filter of the model hardest.", "examples")
    p.add_argument("--stop-after", metavar="N", type=int, help=argparse.SUPPRESS)  # tests: an interruption
    p.add_argument("--quiet", action="store_true", help="no progress line")
    add_distributed_flags(p)  # each process a share of the files; process 0 merges and writes
    args = p.parse_args(argv)
    from jaxviz import config as config_lib
    from jaxviz.run.examples_stage import compute, job_for

    # Without a config the examples go to DEFAULT_OUT; with one, beside its ascent (its output.dir).
    base = None if args.config else config_lib.apply(config_lib.Config(), {"output.dir": DEFAULT_OUT})
    cfg = config_from_args(args, "examples", base)
    job = job_for(cfg)  # every setting checked before JAX is imported
    join_processes(args, cfg)
    from jaxviz.cli.arguments import atlas_hook
    from jaxviz.runtime.processes import holding, process

    # bad weights: refused before the run directory is made; the job's model, loaded once (load_model caches it)
    weights = job.load()
    if process()[0] == 0 and not args.quiet:
        where = weights.path or "random"
        print(f"jaxviz: weights: {where} ({weights.how}; fingerprint {weights.fingerprint})", flush=True)

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
