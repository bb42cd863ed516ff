"""One visualisation run: every requested filter of every requested layer, resumable, on every device."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxviz import config as config_lib
from jaxviz.config import Config
from jaxviz.errors import Interrupted, JaxvizError
from jaxviz.files import atomic_write, write_json
from jaxviz.images import save_png
from jaxviz.progress import Progress
from jaxviz.run import distributed, measure
from jaxviz.run.session import DEAD_EPS, Session, filter_cost, layer_grid
from jaxviz.run.state import FilterResult, Store, check_writable, settings
from jaxviz.targets import min_size, resolve_filters, resolve_layers
from jaxviz.vgg import CONV_LAYERS
from jaxviz.writers import NullWriter, TensorBoardWriter


def plan(cfg: Config) -> dict[str, list[int]]:
    """Layer -> filter indices, every name, index and size checked before any work starts."""
    from jaxviz.ascent.method import method_of

    method_of(cfg)  # objective, transforms and their combinations, checked before any compile
    out = {}
    for layer in resolve_layers(cfg.target.layers):
        if cfg.ascent.size < min_size(layer):
            raise JaxvizError(f"ascent.size {cfg.ascent.size} is too small for {layer} (needs {min_size(layer)}+)")
        out[layer] = resolve_filters(cfg.target.filters, layer)
    return out


def _filter_record(layer: str, f: int, r: FilterResult) -> dict:
    final = float(r.history[-1])
    finite = [float(v) for v in r.history if math.isfinite(v)]
    return {
        "layer": layer,
        "filter": f,
        "activation": final if math.isfinite(final) else None,
        "initial_activation": finite[0] if finite else None,
        "max_activation": max(finite) if finite else None,
        "dead": bool(max(finite, default=0.0) <= DEAD_EPS),
        "nan": r.nan_step >= 0,
        "nan_step": r.nan_step if r.nan_step >= 0 else None,
        "history": [round(v, 6) if math.isfinite(v) else None for v in map(float, r.history)],
    }


def _layer_summary(layer: str, records: list[dict]) -> dict:
    finals = [r["activation"] for r in records if r["activation"] is not None]
    return {
        "filters": len(records),
        "dead": sum(r["dead"] for r in records),
        "nan": sum(r["nan"] for r in records),
        "activation_mean": float(np.mean(finals)) if finals else 0.0,
        "activation_median": float(np.median(finals)) if finals else 0.0,
        "activation_max": float(np.max(finals)) if finals else 0.0,
        "grid": f"{layer}.png",
    }


def _previous_seconds(out: Path) -> dict[str, float]:
    try:
        layers = json.loads((out / "metrics.json").read_text())["layers"]
        return {name: float(s["seconds"]) for name, s in layers.items() if "seconds" in s}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def run(cfg: Config, hparams: Sequence[str] | None = None) -> dict:
    """Run `cfg`; returns the metrics also written to RUN/metrics.json.

    With several processes (see `distributed`), each computes its share of every layer and process 0
    writes the outputs. `hparams`: the config keys TensorBoard's HParams dashboard shows (default: all).
    """
    from jaxviz import ascent
    from jaxviz.fetch import resolve_weights
    from jaxviz.weights import fingerprint, load_params

    targets = plan(cfg)
    params = load_params(resolve_weights(cfg.model.weights, download=cfg.model.download))
    index, count = distributed.process()
    primary = index == 0
    out = Path(cfg.output.dir)
    check_writable(out)
    store = Store(out, settings(cfg, fingerprint(params)))
    resolved = config_lib.to_toml(cfg)
    writer = TensorBoardWriter(out) if cfg.output.tensorboard and primary else NullWriter()
    if primary:
        atomic_write(out / "config.toml", resolved.encode())
        writer.write_texts(0, {"config": "```toml\n" + resolved + "\n```"})
    held = [layer for layer in CONV_LAYERS if layer in targets or layer in store.layers()]
    done = {layer: store.load(layer) for layer in held}
    shares = {layer: distributed.share(fs, index, count) for layer, fs in targets.items()}
    costs = {layer: filter_cost(cfg, layer) for layer in targets}
    bar = Progress(
        sum(map(len, shares.values())),
        sum(costs[la] * len(fs) for la, fs in shares.items()),
        cfg.output.progress and primary,
    )
    bar.base = sum(sum(f in done[la] for f in fs) for la, fs in shares.items())
    bar.base_cost = sum(costs[la] * sum(f in done[la] for f in fs) for la, fs in shares.items())
    session = Session(cfg, store, writer, bar)
    mesh, method = ascent.filter_mesh(), ascent.method_of(cfg)
    seconds = _previous_seconds(out)
    scores = {layer: measure.cached(store.root, layer, sorted(done[layer])) for layer in held if layer not in targets}
    summary: dict[str, dict] = {}
    try:
        for layer, filters in targets.items():
            t0 = time.perf_counter()
            if any(f not in done[layer] for f in shares[layer]):
                engine = ascent.LayerAscent(params, layer, cfg.ascent, mesh, method)
                session.run_layer(engine, shares[layer], done[layer], filters)
            distributed.barrier(f"jaxviz:{cfg.output.dir}:{layer}", cfg.distributed.barrier_timeout)
            if not primary:
                continue
            if count > 1:
                done[layer] = store.load(layer)  # the other processes' chunks too
            seconds[layer] = round(time.perf_counter() - t0, 3)
            summary[layer] = _finish_layer(cfg, out, writer, layer, filters, done[layer], session.global_step)
            if cfg.output.quality:
                scores[layer] = measure.measure_layer(params, store.root, layer, filters, done[layer], cfg.ascent.size)
                _write_quality(writer, layer, scores[layer], session.global_step)
            write_json(out / "metrics.json", _metrics(held, targets, summary, done, seconds, scores))
            if cfg.output.atlas:
                refresh_atlas(out)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted; finished chunks are in {out}: rerun the same command to resume") from None
    finally:
        bar.close()
        writer.flush()
    if not primary:
        return {"filters": [], "layers": {}}
    flat = config_lib.as_flat_dict(cfg)
    writer.write_hparams(
        {k: flat[k] for k in hparams} if hparams is not None else flat,
        {f"hparams/{layer}/activation_mean": s["activation_mean"] for layer, s in summary.items()},
    )
    writer.close()
    return _metrics(held, targets, summary, done, seconds, scores)


def refresh_atlas(directory: Path) -> None:
    """Rewrite DIR/atlas (only what changed); a failure is a warning, never the end of a run."""
    from jaxviz.atlas import write_atlas

    try:
        write_atlas(directory)
    except JaxvizError as e:
        print(f"jaxviz: warning: atlas not written: {e}", flush=True)


def _write_quality(writer, layer: str, rows: dict[int, dict], step: int) -> None:
    from jaxviz import quality

    numbers = {k: v for k, v in quality.summarize(list(rows.values())).items() if v is not None}
    writer.write_scalars(step, {f"{layer}/quality/{k}": v for k, v in numbers.items()})


def _metrics(held: list[str], targets: dict, finished: dict, done: dict, seconds: dict, scores: dict) -> dict:
    """metrics.json: the layers finished so far and every other layer the run directory holds, with the
    quality numbers measured for them (`scores`: layer -> filter -> numbers)."""
    records, layers = [], {}
    for layer in held:
        if layer in targets and layer not in finished:
            continue
        filters = targets.get(layer) or sorted(done[layer])
        rows = [_filter_record(layer, f, done[layer][f]) for f in filters if f in done[layer]]
        measured = scores.get(layer, {})
        for row in rows:
            row.update(measured.get(row["filter"], {}))
        records += rows
        layers[layer] = _layer_summary(layer, rows)
        if measured:
            from jaxviz import quality

            layers[layer].update(quality.summarize([measured[r["filter"]] for r in rows if r["filter"] in measured]))
        if layer in seconds:
            layers[layer]["seconds"] = seconds[layer]
    return {"filters": records, "layers": layers}


def _finish_layer(cfg, out, writer, layer, filters, results, global_step) -> dict:
    image = layer_grid(cfg, filters, results)
    save_png(out / f"{layer}.png", image)
    if cfg.output.filter_pngs:
        for f in filters:
            save_png(out / "filters" / layer / f"{f:04d}.png", results[f].tile)
    history = np.stack([results[f].history for f in filters])
    for s in range(history.shape[1]):
        column = history[:, s][np.isfinite(history[:, s])]
        if column.size:
            writer.write_scalars(
                s, {f"{layer}/activation_mean": column.mean(), f"{layer}/activation_max": column.max()}
            )
    summary = _layer_summary(layer, [_filter_record(layer, f, results[f]) for f in filters])
    counts = {f"{layer}/dead_filters": summary["dead"], f"{layer}/nan_filters": summary["nan"]}
    writer.write_scalars(global_step, counts)
    writer.write_images(global_step, {f"{layer}/grid": image})
    writer.flush()
    return summary
