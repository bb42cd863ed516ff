"""jaxviz-device-check / scripts/device_check.py: an accelerator checked in one command (jaxviz.devicecheck)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from jaxviz.cli.arguments import ArgumentParser, guarded
from jaxviz.devicecheck.runner import describe_weights, run
from jaxviz.devicecheck.stage_plan import FULL, SMOKE, STAGE_NAMES
from jaxviz.errors import JaxvizError
from jaxviz.runtime.files import writing


@guarded
def main(argv: Sequence[str] | None = None) -> int:
    p = ArgumentParser(
        description="Check an accelerator in one command: versions, the engine's checks, throughput, auto choices, "
        "dataset examples, out-of-memory recovery, the quality preset; results.jsonl (one line per stage and part, "
        "written as they finish) and PNGs."
    )
    p.add_argument("--out", metavar="DIR", required=True, help="folder for results.jsonl, log.txt and the PNGs")
    p.add_argument("--budget-s", type=float, default=480.0, help="seconds for everything (default 480)")
    p.add_argument("--smoke", action="store_true", help="every stage at tiny sizes (CPU, a few minutes)")
    p.add_argument("--weights", default="", help="VGG16 weights (default $JAXVIZ_WEIGHTS, else random weights)")
    p.add_argument("--stages", default=",".join(STAGE_NAMES), help=f"comma-separated subset of {','.join(STAGE_NAMES)}")
    args = p.parse_args(argv)
    if not math.isfinite(args.budget_s) or args.budget_s <= 0:  # nan passes every comparison
        raise JaxvizError(f"--budget-s must be a number of seconds more than 0, got {args.budget_s:g}")
    only = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in only if s not in STAGE_NAMES]
    if unknown or not only:
        bad = unknown[0] if unknown else ""
        raise JaxvizError(f"--stages: unknown stage {bad!r}; valid: {', '.join(STAGE_NAMES)}")
    weights, described = describe_weights(args.weights)
    out = Path(args.out)
    with writing(out):
        out.mkdir(parents=True, exist_ok=True)
    summary = run(out, args.budget_s, SMOKE if args.smoke else FULL, weights, described, only)
    print(f"jaxviz: device check {summary['status']} in {summary['seconds']:.0f} s: {out / 'results.jsonl'}")
    for name, status in summary["result"]["stages"].items():
        print(f"  {name:<17} {status}")
    return 0 if summary["status"] == "ok" else 1
