"""scripts/device_check.py: the stages in order, each capped by its share of what is left of the budget."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from pathlib import Path

from jaxviz.arguments import guarded
from jaxviz.devicecheck import runner
from jaxviz.devicecheck.plan import FULL, SMOKE, STAGE_NAMES, STAGES, Plan
from jaxviz.errors import JaxvizError
from jaxviz.files import writing

RANDOM = "random (no weights file found: same speed as ImageNet's, but the pictures mean nothing)"


def find_weights(explicit: str) -> tuple[str, str]:
    """(weights file or "" for random weights, how the results describe them): --weights, else $JAXVIZ_WEIGHTS,
    else Keras' or jaxviz's cache, else random. A named file that is missing is a JaxvizError (bad input)."""
    from jaxviz.fetch import resolve_weights

    try:
        path = str(resolve_weights(explicit, download=False))
    except JaxvizError:
        if explicit or os.environ.get("JAXVIZ_WEIGHTS"):
            raise
        return "", RANDOM
    return path, f"file {path}"


def run(out: Path, budget: float, plan: Plan, weights: str, described: str, only: Sequence[str]) -> dict:
    """Every stage named in `only` (in STAGES' order) within `budget` seconds; returns the summary line."""
    t0 = time.monotonic()
    with writing(out / "results.jsonl"):
        results = runner.Results(out, {"device": "unknown", "devices": None})
    todo = [s for s in STAGES if s.name in only]
    statuses: dict[str, str] = {}
    try:
        for i, stage in enumerate(todo):
            left = budget - (time.monotonic() - t0) - runner.RESERVE_S
            cap = left * stage.share / sum(s.share for s in todo[i:])
            if cap < stage.least:
                statuses[stage.name] = "skipped"
                results.write(stage.name, {"status": "skipped", "seconds": 0.0, "cap_s": round(cap, 1)})
                continue
            results.log(f"===== {stage.name} (cap {cap:.0f} s) =====")
            started = time.monotonic()
            env = runner.child_env(weights, stage.name, plan.as_dict())
            if stage.name == "tests":
                status, fields = runner.tests_stage(plan.as_dict(), env, cap, results)
            else:  # the child stops itself a little before the cap; the cap kills it if it does not
                deadline = time.time() + cap - min(15.0, 0.15 * cap)
                args = {"plan": plan.as_dict(), "weights": weights, "out": str(out.resolve()), "deadline": deadline}
                status, fields = runner.child_stage(stage.name, args, env, cap, results)
            if stage.name == "versions" and status == "ok":
                found = fields["result"]
                results.common.update(device=f"{found['backend']}:{found['device_kinds'][0]}")
                results.common.update(devices=found["devices"])
                found["weights"] = described
            statuses[stage.name] = status
            seconds = round(time.monotonic() - started, 3)
            results.write(stage.name, {"status": status, "seconds": seconds, "cap_s": round(cap, 1), **fields})
        ok = all(s == "ok" for s in statuses.values())
        summary = {"status": "ok" if ok else "incomplete", "seconds": round(time.monotonic() - t0, 3)}
        summary["result"] = {"budget_s": budget, "stages": statuses, "weights": described, "plan": plan.as_dict()}
        return results.write("summary", summary)
    finally:
        results.close()


@guarded
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Check an accelerator in one command: versions, tests, throughput, auto choices, out-of-memory "
        "recovery, the quality preset; results.jsonl (one line per stage and part, written as they finish) and PNGs."
    )
    p.add_argument("--out", metavar="DIR", required=True, help="folder for results.jsonl, log.txt and the PNGs")
    p.add_argument("--budget-s", type=float, default=480.0, help="seconds for everything (default 480)")
    p.add_argument("--smoke", action="store_true", help="every stage at tiny sizes (CPU, a few minutes)")
    p.add_argument("--weights", default="", help="VGG16 weights (default $JAXVIZ_WEIGHTS, else random weights)")
    p.add_argument("--stages", default=",".join(STAGE_NAMES), help=f"comma-separated subset of {','.join(STAGE_NAMES)}")
    args = p.parse_args(argv)
    if args.budget_s <= 0:
        raise JaxvizError(f"--budget-s must be more than 0, got {args.budget_s:g}")
    only = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in only if s not in STAGE_NAMES]
    if unknown or not only:
        bad = unknown[0] if unknown else ""
        raise JaxvizError(f"--stages: unknown stage {bad!r}; valid: {', '.join(STAGE_NAMES)}")
    weights, described = find_weights(args.weights)
    out = Path(args.out)
    with writing(out):
        out.mkdir(parents=True, exist_ok=True)
    summary = run(out, args.budget_s, SMOKE if args.smoke else FULL, weights, described, only)
    print(f"jaxviz: device check {summary['status']} in {summary['seconds']:.0f} s: {out / 'results.jsonl'}")
    for name, status in summary["result"]["stages"].items():
        print(f"  {name:<17} {status}")
    return 0 if summary["status"] == "ok" else 1
