"""One visualisation run: every requested filter of every requested layer, resumable."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxviz import config as config_lib
from jaxviz.config import Config
from jaxviz.errors import JaxvizError
from jaxviz.files import atomic_write, write_json
from jaxviz.images import deprocess, grid, save_png
from jaxviz.progress import Progress
from jaxviz.run.state import FilterResult, Store, check_writable, settings
from jaxviz.targets import min_size, resolve_filters, resolve_layers
from jaxviz.writers import NullWriter, TensorBoardWriter

SNAPSHOT_SECONDS = 2.0  # live grid snapshots at most this often: each is a grid build + PNG encode
DEAD_EPS = 1e-7  # a filter whose activation never exceeds this never fired (the upscaling seed's test)


def plan(cfg: Config) -> dict[str, list[int]]:
    """Layer -> filter indices, every name, index and size checked before any work starts."""
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


def _layer_grid(cfg: Config, filters: list[int], results: dict[int, FilterResult]) -> np.ndarray:
    order = list(filters)
    if cfg.output.sort:
        order.sort(key=lambda f: -np.nan_to_num(results[f].history[-1], nan=-np.inf) if f in results else np.inf)
    blank = np.zeros((cfg.ascent.size, cfg.ascent.size, 3), np.uint8)
    tiles = np.stack([results[f].tile if f in results else blank for f in order])
    return grid(tiles, cfg.output.columns, cfg.output.margin)


class _Session:
    """The state one run threads through its layers and chunks."""

    def __init__(self, cfg: Config, store: Store, writer, bar: Progress, finished: int):
        self.cfg, self.store, self.writer, self.bar = cfg, store, writer, bar
        self.finished = finished
        self.global_step = store.steps_done()
        self.last_snapshot = -float("inf")

    def on_step(self, layer: str, filters: list[int], results: dict, part: list[int], s: int, act, images) -> None:
        a, out_cfg = self.cfg.ascent, self.cfg.output
        self.global_step += 1
        layer_done = sum(f in results for f in filters) + len(part) * s / a.steps
        self.bar.update(layer, self.finished + len(part) * s / a.steps, layer_done, len(filters))
        finite = act[np.isfinite(act)]
        if finite.size:
            self.writer.write_scalars(
                self.global_step,
                {
                    f"live/{layer}/activation_mean": finite.mean(),
                    f"live/{layer}/activation_max": finite.max(),
                },
            )
        every = out_cfg.snapshot_every
        if every and s % every == 0 and s < a.steps and time.monotonic() - self.last_snapshot >= SNAPSHOT_SECONDS:
            self.last_snapshot = time.monotonic()
            live = dict(results)
            for f, image in zip(part, np.asarray(images)[: len(part)]):
                live[f] = FilterResult(deprocess(image, out_cfg.deprocess_std), None, -1)
            self.writer.write_images(self.global_step, {f"{layer}/grid": _layer_grid(self.cfg, filters, live)})

    def run_layer(self, params: dict, layer: str, filters: list[int], results: dict) -> None:
        """Ascend every filter of `layer` not yet in `results`, saving each chunk as it finishes."""
        from jaxviz import ascent

        a = self.cfg.ascent
        self.last_snapshot = -float("inf")  # every layer gets its first live snapshot
        todo = [f for f in filters if f not in results]
        chunk = a.chunk or (ascent.auto_chunk(layer, a.size, len(todo)) if todo else 1)
        for start in range(0, len(todo), chunk):
            part = todo[start : start + chunk]
            on_step = functools.partial(self.on_step, layer, filters, results, part)
            r = ascent.ascend(params, layer, part, a, chunk=chunk, on_step=on_step)
            new = [
                FilterResult(deprocess(im, self.cfg.output.deprocess_std), h, int(n))
                for im, h, n in zip(r.images, r.history, r.nan_step)
            ]
            self.store.save(layer, part, new)
            results.update(zip(part, new))
            self.finished += len(part)
            for f, res in zip(part, new):
                if res.nan_step >= 0:
                    print(
                        f"jaxviz: warning: {layer} filter {f}: non-finite update at step {res.nan_step}; "
                        f"kept its last finite image",
                        flush=True,
                    )
        self.bar.update(layer, self.finished, len(filters), len(filters), force=True)


def run(cfg: Config, hparams: Sequence[str] | None = None) -> dict:
    """Run `cfg`; returns the metrics also written to RUN/metrics.json.

    `hparams`: the config keys TensorBoard's HParams dashboard shows for this run (default: all).
    """
    from jaxviz.fetch import resolve_weights
    from jaxviz.weights import fingerprint, load_params

    targets = plan(cfg)
    params = load_params(resolve_weights(cfg.model.weights, download=cfg.model.download))
    out = Path(cfg.output.dir)
    check_writable(out)
    store = Store(out, settings(cfg, fingerprint(params)))
    resolved = config_lib.to_toml(cfg)
    atomic_write(out / "config.toml", resolved.encode())
    writer = TensorBoardWriter(out) if cfg.output.tensorboard else NullWriter()
    writer.write_texts(0, {"config": "```toml\n" + resolved + "\n```"})
    done = {layer: store.load(layer) for layer in targets}
    bar = Progress(sum(len(fs) for fs in targets.values()), cfg.output.progress)
    bar.base = sum(sum(f in done[layer] for f in fs) for layer, fs in targets.items())
    session = _Session(cfg, store, writer, bar, bar.base)
    records, summary = [], {}
    try:
        for layer, filters in targets.items():
            t0 = time.perf_counter()
            session.run_layer(params, layer, filters, done[layer])
            layer_records = [_filter_record(layer, f, done[layer][f]) for f in filters]
            records += layer_records
            summary[layer] = _finish_layer(
                cfg, out, writer, layer, filters, done[layer], layer_records, session.global_step
            )
            summary[layer]["seconds"] = round(time.perf_counter() - t0, 3)
            write_json(out / "metrics.json", {"filters": records, "layers": summary})
    except KeyboardInterrupt:
        raise JaxvizError(
            f"interrupted; finished chunks are saved in {out}: rerun the same command to resume"
        ) from None
    finally:
        bar.close()
        writer.flush()
    flat = config_lib.as_flat_dict(cfg)
    writer.write_hparams(
        {k: flat[k] for k in hparams} if hparams is not None else flat,
        {f"hparams/{layer}/activation_mean": s["activation_mean"] for layer, s in summary.items()},
    )
    writer.close()
    return {"filters": records, "layers": summary}


def _finish_layer(cfg, out, writer, layer, filters, results, records, global_step) -> dict:
    image = _layer_grid(cfg, filters, results)
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
    dead = sum(r["dead"] for r in records)
    nan = sum(r["nan"] for r in records)
    writer.write_scalars(global_step, {f"{layer}/dead_filters": dead, f"{layer}/nan_filters": nan})
    writer.write_images(global_step, {f"{layer}/grid": image})
    writer.flush()
    finals = [r["activation"] for r in records if r["activation"] is not None]
    return {
        "filters": len(filters),
        "dead": dead,
        "nan": nan,
        "activation_mean": float(np.mean(finals)) if finals else 0.0,
        "activation_median": float(np.median(finals)) if finals else 0.0,
        "activation_max": float(np.max(finals)) if finals else 0.0,
        "grid": f"{layer}.png",
    }
