"""The device check: one command that, on a machine lent with an accelerator and no network, measures and
records within a time budget what the project needs to know about that accelerator.

Stages (stage_plan.STAGES), each in its own process under its own time cap (runner.py, child.py): versions and
devices; the engine's promises checked on the device ("tests": engine_checks.py, shipped with the package); block3_conv1
fp32 and bf16; the whole network fp32 and bf16; each "auto" choice against its alternative; dataset examples; a real
out-of-memory recovery; the quality preset's grid. A stage that fails records its error and the next one runs.
Output: results.jsonl (one JSON object per line, flushed as each stage or part finishes), log.txt (every stage's
stderr) and a few grid PNGs.
"""

from jaxviz.devicecheck.runner import run

__all__ = ["run"]
