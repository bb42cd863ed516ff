"""One visualisation run: every requested filter of every requested layer, resumable, on every device."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

from jaxviz import config as config_lib
from jaxviz.architecture import CONV_LAYERS
from jaxviz.config import Config
from jaxviz.errors import Interrupted, JaxvizError, WriteError
from jaxviz.files import atomic_write, write_json
from jaxviz.progress import Progress
from jaxviz.run import distributed, measure, report
from jaxviz.run.plan import describe, plan
from jaxviz.run.session import Session, filter_cost
from jaxviz.run.state import Store, check_writable, settings
from jaxviz.writers import NullWriter, TensorBoardWriter, logged_steps

__all__ = ["plan", "resolve", "run", "refresh_atlas"]


def resolve(cfg: Config, weights: str | Path, fingerprint: str) -> Config:
    """`cfg` as a run directory records it: absolute paths, the weights actually used and their fingerprint,
    so `--config DIR/config.toml` reruns the same run from any working directory.

    Raises JaxvizError when `cfg` names a fingerprint the weights do not have (the file changed since).
    """
    if cfg.model.fingerprint and cfg.model.fingerprint != fingerprint:
        raise JaxvizError(
            f"the weights {str(weights)!r} have fingerprint {fingerprint}, but model.fingerprint is "
            f"{cfg.model.fingerprint} (the weights this run used); pass the same weights, or set "
            f'model.fingerprint = "" to accept these'
        )
    return config_lib.apply(
        cfg,
        {
            "model.weights": os.path.abspath(weights),
            "model.fingerprint": fingerprint,
            "output.dir": os.path.abspath(os.path.expanduser(cfg.output.dir)),
        },
    )


def _up_to_date(out: Path, text: str, targets: dict, done: dict, cfg: Config) -> dict | None:
    """The metrics of a run that is already complete with this very config (so a rerun writes nothing)."""
    try:
        if (out / "config.toml").read_text() != text:
            return None
        found = json.loads((out / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    layers = found.get("layers", {}) if isinstance(found, dict) else {}
    for layer, filters in targets.items():
        if any(f not in done[layer] for f in filters) or layers.get(layer, {"partial": True}).get("partial"):
            return None
        if not (out / f"{layer}.png").is_file():
            return None
    if cfg.output.atlas and not (out / "atlas" / "index.html").is_file():
        return None
    return found


def run(cfg: Config, hparams: Sequence[str] | None = None, metric_layers: Sequence[str] | None = None) -> dict:
    """Run `cfg`; returns the metrics also written to RUN/metrics.json.

    With several processes (see `distributed`), each computes its share of every layer and process 0
    writes the outputs. `hparams`: the config keys TensorBoard's HParams dashboard shows (default: all);
    `metric_layers`: the layers whose metrics it declares (default: this run's; a sweep passes every
    point's, so all its runs share one table). Ctrl-C raises Interrupted after writing what was finished.
    """
    from jaxviz import ascent
    from jaxviz.fetch import resolve_weights
    from jaxviz.weights import fingerprint, load_params

    targets = plan(cfg)
    index, count = distributed.process()
    primary = index == 0
    if primary:
        for line in describe(config_lib.apply(cfg, {"output.dir": os.path.abspath(cfg.output.dir)}), targets):
            _say(cfg, line)  # before the weights load: a whole-network run by mistake is stopped at once
    weights = resolve_weights(cfg.model.weights, download=cfg.model.download)
    params = load_params(weights)
    cfg = resolve(cfg, weights, fingerprint(params))
    out = Path(cfg.output.dir)
    check_writable(out)
    store = Store(out, settings(cfg, cfg.model.fingerprint))
    resolved = config_lib.to_toml(cfg)
    held = [layer for layer in CONV_LAYERS if layer in targets or layer in store.layers()]
    done = {layer: store.load(layer) for layer in held}
    if count == 1 and (found := _up_to_date(out, resolved, targets, done, cfg)) is not None:
        _say(cfg, f"{out} is already complete with this config; nothing to do")
        return found
    if primary:
        atomic_write(out / "config.toml", resolved.encode())
    logged = logged_steps(out) if primary and cfg.output.tensorboard else {}
    step = max(logged.values(), default=-1) + 1  # past everything TensorBoard already shows
    writer = TensorBoardWriter(out) if cfg.output.tensorboard and primary else NullWriter()
    writer.write_texts(step, {"config": "```toml\n" + resolved + "\n```"})
    shares = {layer: distributed.share(fs, index, count) for layer, fs in targets.items()}
    costs = {layer: filter_cost(cfg, layer) for layer in targets}
    bar = Progress(
        sum(map(len, shares.values())),
        sum(costs[la] * len(fs) for la, fs in shares.items()),
        cfg.output.progress and primary,
        done=sum(sum(f in done[la] for f in fs) for la, fs in shares.items()),
        done_cost=sum(costs[la] * sum(f in done[la] for f in fs) for la, fs in shares.items()),
        layers=sum(any(f not in done[la] for f in fs) for la, fs in shares.items()),
    )
    session = Session(cfg, store, writer, bar, step)
    mesh, method = ascent.filter_mesh(), ascent.method_of(cfg)
    extra = {
        layer: {k: v for k, v in s.items() if k.endswith("seconds")} for layer, s in report.previous_layers(out).items()
    }
    scores = {layer: measure.cached(store.root, layer, sorted(done[layer])) for layer in held if layer not in targets}
    summary: dict[str, dict] = {}

    def finish(layer: str, seconds: float | None, interrupted: bool = False) -> None:
        """Grid, TensorBoard, quality numbers, metrics.json and atlas for what `layer` holds now.

        `interrupted`: after Ctrl-C; the layer is marked partial and its quality numbers wait for the rerun.
        """
        filters, tag = targets[layer], f"{layer}/activation_mean"
        with bar.phase("grid"):
            curve = logged[tag] + 1 if tag in logged else 0  # each pass's curve after the last one's
            summary[layer] = report.finish_layer(
                cfg, out, writer, layer, filters, done[layer], session.global_step, curve
            )
            logged[tag] = curve + cfg.ascent.steps * cfg.ascent.stages
        if seconds is not None:
            extra[layer] = {"seconds": round(seconds, 3)}
        if interrupted:
            summary[layer]["partial"] = True
        elif cfg.output.quality:
            t0 = time.perf_counter()
            with bar.phase("quality numbers"):
                scores[layer] = measure.measure_layer(params, store.root, layer, filters, done[layer], cfg.ascent.size)
            extra.setdefault(layer, {})["quality_seconds"] = round(time.perf_counter() - t0, 3)
            _write_quality(writer, layer, scores[layer], session.global_step)
        write_json(out / "metrics.json", report.metrics(held, targets, summary, done, extra, scores))
        if cfg.output.atlas:
            with bar.phase("atlas"):
                refresh_atlas(out)

    current = None
    try:
        for layer in targets:
            current, t0 = layer, time.perf_counter()
            if any(f not in done[layer] for f in shares[layer]):
                engine = ascent.LayerAscent(params, layer, cfg.ascent, mesh, method)
                session.run_layer(engine, shares[layer], done[layer], targets[layer])
            distributed.barrier(f"jaxviz:{cfg.output.dir}:{layer}", cfg.distributed.barrier_timeout)
            if primary:
                if count > 1:
                    done[layer] = store.load(layer)  # the other processes' chunks too
                finish(layer, time.perf_counter() - t0)
            current = None
    except KeyboardInterrupt:
        bar.close()
        if primary and current is not None and done[current]:
            _say(cfg, f"interrupted: writing the grid, metrics and atlas of what {current} has so far (partial)")
            finish(current, None, interrupted=True)
        writer.close()
        raise Interrupted(f"{out} holds what finished (marked partial); rerun the same command to resume") from None
    finally:
        bar.close()
    if not primary:
        return {"filters": [], "layers": {}}
    flat = config_lib.as_flat_dict(cfg)
    declared = metric_layers if metric_layers is not None else list(targets)
    writer.write_hparams(
        session.global_step,
        {k: flat[k] for k in hparams} if hparams is not None else flat,
        {
            f"hparams/{la}/activation_mean": summary[la]["activation_mean"] if la in summary else float("nan")
            for la in declared
        },
    )
    writer.close()
    return report.metrics(held, targets, summary, done, extra, scores)


def _say(cfg: Config, text: str) -> None:
    print(f"jaxviz: {text}", flush=True)


def refresh_atlas(directory: Path) -> None:
    """Rewrite DIR/atlas (only what changed); a bad input is a warning, an OS failure to write is an error."""
    from jaxviz.atlas import write_atlas

    try:
        write_atlas(directory)
    except WriteError:
        raise
    except JaxvizError as e:
        print(f"jaxviz: warning: atlas not written: {e}", flush=True)


def _write_quality(writer, layer: str, rows: dict[int, dict], step: int) -> None:
    from jaxviz import quality

    numbers = {k: v for k, v in quality.summarize(list(rows.values())).items() if v is not None}
    writer.write_scalars(step, {f"{layer}/quality/{k}": v for k, v in numbers.items()})
