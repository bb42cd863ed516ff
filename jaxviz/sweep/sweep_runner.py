"""Config-driven sweeps: one ordinary run per point of a sweep file, an index of them, resumable."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from jaxviz import config as config_lib
from jaxviz.errors import Interrupted, JaxvizError
from jaxviz.run.run_dir import check_sweep_dir
from jaxviz.runtime.dir_lock import Busy
from jaxviz.sweep import sweep_index as index_lib
from jaxviz.sweep.sweep_file import Point, Sweep, load_sweep, resolved_points

__all__ = ["Point", "Sweep", "load_sweep", "resolved_points", "sweep"]


def sweep(
    path: str | Path,
    out: str | Path | None = None,
    overrides: Sequence[str] = (),
    after_point: Callable[[Path], None] | None = None,
) -> dict:
    """Run every point of sweep file `path` as OUT/<name>, skipping finished ones; returns the index.

    OUT defaults to runs/<file stem>. Each point that fails is recorded and the rest still run; then a
    JaxvizError names the failed points. Only process 0 writes OUT/index.json, index.csv and sweep.toml,
    and calls `after_point(OUT)` whenever the index changes (the command line refreshes the sweep's atlas).
    The sweep directory is held meanwhile (jaxviz.runtime.dir_lock): a second sweep or run writing it is refused.
    """
    from jaxviz.runtime import processes as distributed

    sw = load_sweep(path, out, overrides)
    check_sweep_dir(sw.out)  # new, empty or a sweep's: never a run's or some other folder
    resolved = resolved_points(sw)  # every point's config as its run directory records it; weights checked first
    with distributed.holding(sw.out, "a sweep", sw.base.distributed.initialization_timeout, what="sweep directory"):
        return _sweep(sw, resolved, after_point)


def _sweep(sw: Sweep, resolved: dict, after_point: Callable[[Path], None] | None) -> dict:
    """sweep(), once this process (or job) holds the sweep directory; `resolved`: resolved_points(sw)."""
    from jaxviz.run import examples_stage as run_examples
    from jaxviz.run import visualization as job
    from jaxviz.run.chunk_store import check_writable
    from jaxviz.runtime import processes as distributed

    keys = list(sw.axes)
    layers = index_lib.layer_columns(p.layers for p in sw.points)
    # A point's [examples] checked before any point runs, computed after it (once per distinct setting).
    jobs = {p.name: run_examples.job_for(resolved[p.name]) for p in sw.points if resolved[p.name].examples.images}
    for examples_job in jobs.values():
        run_examples.check_before(examples_job)
    shared = run_examples.Shared()
    kept = index_lib.finished(sw.out, {p.name: config_lib.to_toml(resolved[p.name]) for p in sw.points})
    # Every process must skip the same points (run()'s barriers pair up in order): all have read the
    # directory before process 0 changes it.
    distributed.barrier(f"jaxviz-sweep:{sw.out}", sw.base.distributed.barrier_timeout)
    # Point directories relative to the sweep directory: the index stays right when the sweep is moved.
    entries = [kept.get(p.name) or index_lib.entry(p.name, p.name, p.values, "pending") for p in sw.points]
    previous = _previous_entries(sw.out)
    writer = distributed.process()[0] == 0

    def publish() -> dict:
        index = index_lib.document(sw.mode, sw.axes, sw.base, entries)
        if writer:
            index_lib.write(sw.out, index, layers)
            if after_point is not None and any(e["status"] != "pending" for e in entries):
                after_point(sw.out)
        return index

    if writer:
        check_writable(sw.out)
        index_lib.write_sweep_toml(sw.out, resolved[None], sw.mode, sw.axes)
    index = publish()
    busy: list[str] = []
    for i, p in enumerate(sw.points):
        if p.name in kept:
            _say(writer, f"sweep point {i + 1}/{len(sw.points)} {p.name}: already done")
            if p.name in jobs:  # examples cut off last time are continued
                shared(resolved[p.name], jobs[p.name])
            continue
        _say(writer, f"sweep point {i + 1}/{len(sw.points)} {p.name}: running")
        t0 = time.perf_counter()
        status, error, summary = "done", None, None
        try:
            result = job.run_visualization(p.cfg, hparams=keys, metric_layers=layers)
            if p.name in jobs:
                _say(writer, f"sweep point {p.name}: dataset examples {shared(resolved[p.name], jobs[p.name])}")
        except (Interrupted, KeyboardInterrupt):
            # Ctrl-C or SIGTERM (Interrupted from the run; a bare KeyboardInterrupt if it lands between its
            # handlers): the index says so for this point (a rerun resumes it from its chunks).
            entries[i] = index_lib.entry(p.name, p.name, p.values, "interrupted", None, time.perf_counter() - t0)
            publish()
            raise
        except Busy as e:
            # Another process holds this point's directory (a run extending it by hand): its results are intact,
            # so its entry stays as it was; the sweep says so and goes on.
            busy.append(p.name)
            if p.name in previous:
                entries[i] = previous[p.name]
                publish()
            _say(writer, f"warning: sweep point {p.name} skipped: {e}")
            continue
        except JaxvizError as e:
            status, error = "failed", str(e)
        else:
            # Only the point's own layers: metrics also list other layers its directory holds, and
            # processes other than 0 get no records at all.
            summary = {layer: s for layer, s in result["layers"].items() if layer in p.layers}
            records = [r for r in result["filters"] if r["layer"] in p.layers]
            if records and all(r["nan"] for r in records):
                status = "failed"
                error = f"every filter ({len(records)}) hit non-finite values; see {p.cfg.output.dir}"
        seconds = time.perf_counter() - t0
        entries[i] = index_lib.entry(p.name, p.name, p.values, status, error, seconds, summary)
        index = publish()
        if error:
            _say(writer, f"warning: sweep point {p.name} failed: {error}")
    failed = [e["name"] for e in entries if e["status"] == "failed"]
    if failed:
        raise JaxvizError(
            f"{len(failed)} of {len(entries)} sweep points failed: {', '.join(failed)} (see {sw.out / 'index.json'})"
        )
    if busy:
        raise JaxvizError(
            f"{len(busy)} of {len(entries)} sweep points were in use by another process and were skipped: "
            f"{', '.join(busy)}; rerun the sweep once they are free"
        )
    return index


def _previous_entries(out: Path) -> dict[str, dict]:
    """The entries OUT/index.json held before this sweep, by point name ({} when there is none or it is damaged:
    the sweep rewrites it)."""
    try:
        found = index_lib.read(out)
    except JaxvizError:
        return {}
    return {e["name"]: e for e in found.points} if found is not None else {}


def _say(writer: bool, text: str) -> None:
    if writer:
        print(f"jaxviz: {text}", flush=True)
