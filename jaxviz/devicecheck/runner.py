"""The device check's runner: every stage in its own process under its own time cap, all within the budget,
each line of results.jsonl written and flushed the moment it is known. It never imports JAX itself, so it holds
no device memory and a stage that crashes or hangs costs only that stage."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from jaxviz.devicecheck.stage_plan import STAGES, Plan
from jaxviz.runtime.files import writing

# The folder that holds this jaxviz package (a checkout, or site-packages): first on the stages' path, so that
# they import this very jaxviz whatever their working directory.
PACKAGE_PARENT = Path(__file__).resolve().parents[2]
RESERVE_S = 3.0  # kept back from the budget for the summary and the last process's exit


class Results:
    """results.jsonl and log.txt in the out folder: one JSON object per line, flushed at once, so a run cut short
    (the machine taken back, a time limit) keeps every line written; thread-safe (stages' output is pumped by
    threads)."""

    def __init__(self, out: Path, common: dict):
        self.common, self._lock = common, threading.Lock()
        self._results = open(out / "results.jsonl", "w", encoding="utf-8")  # closed by close()
        self._log = open(out / "log.txt", "w", encoding="utf-8")

    def write(self, stage: str, fields: dict) -> dict:
        """One line: {"stage", the common device fields, **fields}; returns it."""
        line = {"stage": stage, **fields, **self.common}
        with self._lock:
            self._results.write(json.dumps(line) + "\n")
            self._results.flush()
        return line

    def log(self, text: str) -> None:
        with self._lock:
            self._log.write(text if text.endswith("\n") else text + "\n")
            self._log.flush()

    def close(self) -> None:
        self._results.close()
        self._log.close()


def launch(
    cmd: list[str], env: dict, cap: float, on_line: Callable[[str], None], results: Results
) -> tuple[int | None, list[str]]:
    """Run `cmd` in a session of its own; each stdout line to `on_line` as it comes, stderr to the log.

    Killed (its whole process group: what it started too) at `cap` seconds. Returns (exit code, or None when
    it was killed at the cap; the last 20 lines of stderr).
    """
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    tail: collections.deque[str] = collections.deque(maxlen=20)

    def pump_out() -> None:
        for line in proc.stdout:
            on_line(line.rstrip("\n"))

    def pump_err() -> None:
        for line in proc.stderr:
            results.log(line)
            tail.append(line.rstrip())

    threads = [threading.Thread(target=pump_out, daemon=True), threading.Thread(target=pump_err, daemon=True)]
    for t in threads:
        t.start()
    try:
        code = proc.wait(timeout=cap)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # this stage's own process group, started above
        proc.wait()
        code = None
    for t in threads:
        t.join(timeout=10)
    return code, list(tail)


def child_stage(name: str, args: dict, env: dict, cap: float, results: Results) -> tuple[str, dict]:
    """Run stage `name` in child.py; its parts become lines as they come. Returns (status, final fields)."""
    started, got = time.monotonic(), {}

    def on_line(line: str) -> None:
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            results.log(f"[{name} stdout] {line}")
        elif "part" in obj:
            part = obj.pop("part")
            results.write(name, {"part": part, "seconds": round(time.monotonic() - started, 3), "result": obj})
        else:
            got.update(obj)

    cmd = [sys.executable, "-m", "jaxviz.devicecheck.child", name, json.dumps(args)]
    code, tail = launch(cmd, env, cap, on_line, results)
    if code is None:
        return "timeout", {"error": f"stopped at its time cap ({cap:.0f} s); the parts above were done"}
    if code == 0 and "result" in got:
        result = got["result"]
        return result.pop("status", "ok"), {"result": result}
    return "failed", {"error": got.get("error") or f"exit code {code}: " + " | ".join(tail[-5:])}


def child_env(weights: str, stage: str, plan: dict) -> dict:
    """The stage processes' environment: this jaxviz first on the path, no downloads, output unbuffered, the
    weights (or none: random), and the small memory fraction for the out-of-memory stage."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "JAXVIZ_NO_DOWNLOAD": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_PARENT), os.environ.get("PYTHONPATH", "")) if p)
    env.pop("JAXVIZ_WEIGHTS", None)
    if weights:
        env["JAXVIZ_WEIGHTS"] = weights
    if stage == "oom":
        env["XLA_PYTHON_CLIENT_MEM_FRACTION"] = plan["oom_fraction"]
    return env


StageRunner = Callable[[str, dict, dict, float, Results], tuple[str, dict]]  # as child_stage


def describe_weights(explicit: str) -> tuple[str, str]:
    """(the weights file the stages load, absolute, or "" for random weights; how the results describe them):
    `explicit`, else $JAXVIZ_WEIGHTS, else Keras' or jaxviz's cache (weight_search.find_local_weights, as the
    stages' weights.find_and_load_or_random finds them), else random. Imports no JAX. Raises JaxvizError (one
    line) for a named file that is missing or unreadable."""
    from jaxviz.model.weight_search import RANDOM, find_local_weights

    found = find_local_weights(explicit)
    if found is None:
        return "", RANDOM
    path = str(found.path.absolute())
    return path, f"file {path}"


def run(
    out: Path,
    budget: float,
    plan: Plan,
    weights: str,
    described: str,
    only: Sequence[str],
    clock: Callable[[], float] = time.monotonic,
    run_stage: StageRunner = child_stage,
) -> dict:
    """Every stage named in `only` (in STAGES' order) within `budget` seconds; returns the summary line.

    Each stage's cap is its share of what is left of the budget when it starts (`clock`'s seconds), and a stage
    whose cap is below its least is skipped; `run_stage` runs one (child_stage: its own process, killed at the
    cap). Both are arguments so that the arithmetic can be checked without waiting on real time.
    """
    t0 = clock()
    with writing(out / "results.jsonl"):
        results = Results(out, {"device": "unknown", "devices": None})
    todo = [s for s in STAGES if s.name in only]
    statuses: dict[str, str] = {}
    try:
        for i, stage in enumerate(todo):
            left = budget - (clock() - t0) - RESERVE_S
            cap = left * stage.share / sum(s.share for s in todo[i:])
            if cap < stage.least:
                statuses[stage.name] = "skipped"
                results.write(stage.name, {"status": "skipped", "seconds": 0.0, "cap_s": round(cap, 1)})
                continue
            results.log(f"===== {stage.name} (cap {cap:.0f} s) =====")
            started = clock()
            env = child_env(weights, stage.name, plan.as_dict())
            # The child stops itself a little before the cap (its deadline, on the wall clock it shares with this
            # process); the cap kills it if it does not.
            deadline = time.time() + cap - min(15.0, 0.15 * cap)
            args = {"plan": plan.as_dict(), "weights": weights, "out": str(out.resolve()), "deadline": deadline}
            status, fields = run_stage(stage.name, args, env, cap, results)
            if stage.name == "versions" and status == "ok":
                found = fields["result"]
                results.common.update(device=f"{found['backend']}:{found['device_kinds'][0]}")
                results.common.update(devices=found["devices"])
                found["weights"] = described
            statuses[stage.name] = status
            seconds = round(clock() - started, 3)
            results.write(stage.name, {"status": status, "seconds": seconds, "cap_s": round(cap, 1), **fields})
        ok = all(s == "ok" for s in statuses.values())
        summary = {"status": "ok" if ok else "incomplete", "seconds": round(clock() - t0, 3)}
        summary["result"] = {"budget_s": budget, "stages": statuses, "weights": described, "plan": plan.as_dict()}
        return results.write("summary", summary)
    finally:
        results.close()
