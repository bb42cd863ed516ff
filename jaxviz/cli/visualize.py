"""jaxviz-visualize / scripts/visualize.py: one visualisation run, its dataset examples and atlas."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from jaxviz import config as config_lib
from jaxviz.cli.arguments import (
    add_distributed_flags,
    atlas_hook,
    config_from_args,
    config_parser,
    guarded,
    join_processes,
    print_where,
)


@guarded
def main(argv: Sequence[str] | None = None) -> int:
    what = "Visualise a convnet's filters (VGG16's by default) by gradient ascent in input space."
    p = config_parser(what, "visualize")
    p.add_argument("--preset", metavar="NAME", help="start from a preset (jaxviz/presets/NAME.toml), e.g. quality")
    add_distributed_flags(p)
    args = p.parse_args(argv)
    cfg = moved_run(args, config_from_args(args, "visualize"))
    from jaxviz.run import examples_stage as run_examples
    from jaxviz.run.run_dir import check_run_dir
    from jaxviz.run.run_plan import prepare
    from jaxviz.runtime.paths import output_dir

    out = output_dir(cfg.output.dir)
    check_run_dir(out)  # new, empty or jaxviz's: never a sweep's or some other folder
    prepare(cfg)  # every name, filter and size refused here, before JAX is imported: a mistake answers at once
    job = run_examples.job_for(cfg) if cfg.examples.images else None  # its checks import no JAX either
    join_processes(args, cfg)
    from jaxviz.run.translate import model_of
    from jaxviz.run.visualization import check_fits, run_visualization
    from jaxviz.runtime import processes as distributed

    model_of(cfg)  # bad weights: refused before a directory is made
    check_fits(cfg, prepare(cfg))  # so is an image no memory holds
    # Held across the ascent, its examples and its atlas (each holds it too, re-entrantly): no other writer
    # can slip in between them.
    with distributed.holding(out, "a visualisation run", cfg.distributed.initialization_timeout):
        if job is not None:
            run_examples.check_before(job)  # refused before the ascent, not after
        result = run_visualization(cfg, after_layer=atlas_hook(cfg))
        # Every process takes its share of the examples too; process 0 merges them.
        examples = run_examples.after_ascent(cfg, job, atlas_hook(cfg)) if job is not None else None
    index, count = distributed.process()
    if index:
        print(f"jaxviz: process {index} of {count} finished its share; process 0 writes {cfg.output.dir}")
        return 0
    print_outcome(cfg, result, examples)
    return 0


def moved_run(args: argparse.Namespace, cfg: config_lib.Config) -> config_lib.Config:
    """`cfg`, continuing where its run directory is now when `--config DIR/config.toml` names a run that was moved
    or copied (its recorded output.dir is elsewhere) and no other directory was asked for; said in one line."""
    if not args.config or args.out is not None or any(o.strip().startswith("output.dir") for o in args.overrides):
        return cfg
    here = Path(args.config).resolve().parent
    if Path(args.config).name != "config.toml" or not (here / "state").is_dir():
        return cfg  # not a run's recorded config
    if Path(cfg.output.dir).resolve() == here:
        return cfg
    print(f"jaxviz: {args.config} was recorded for {cfg.output.dir}; the run is now in {here}: continuing there")
    return config_lib.apply(cfg, {"output.dir": str(here)})


def print_outcome(cfg: config_lib.Config, result: dict, examples: tuple | None = None) -> None:
    """What a run wrote, then, as the last line, what to open. `examples`: (Examples, whether they were
    written) when the config has an [examples] table (see jaxviz.run.examples_stage.after_ascent)."""
    from jaxviz.run.examples_stage import summary

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
