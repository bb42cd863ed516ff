"""One visualisation run: every requested filter of every requested layer, resumable, on every device."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from jaxviz import config as config_lib
from jaxviz.config import Config
from jaxviz.errors import Interrupted
from jaxviz.model.model_registry import FLAX, LoadedModel, model_names
from jaxviz.model.network import layer_file
from jaxviz.run import measure, metrics_file, report
from jaxviz.run.chunk_store import Store, check_writable, settings
from jaxviz.run.recorded import no_output_differences, read_config, recorded_part, resolve, up_to_date, write_config
from jaxviz.run.report import LayerRecord
from jaxviz.run.run_dir import check_run_dir
from jaxviz.run.run_plan import Plan, describe, plan, prepare
from jaxviz.run.session import Session, filter_cost
from jaxviz.runtime import compile_cache, compile_clock, numerics
from jaxviz.runtime import processes as distributed
from jaxviz.runtime.paths import output_dir
from jaxviz.show.progress import Progress, Work
from jaxviz.show.writers import AsyncWriter, NullWriter, TensorBoardWriter, logged_steps

__all__ = ["plan", "resolve", "run_visualization"]
AfterLayer = Callable[[Path], None]  # e.g. the atlas' refresh: the run layer does not import the atlas


QUALITY_SHARE, QUALITY_FLOOR_S = 0.25, 2.0  # "auto" measures when that costs <= a quarter of the ascent, or 2 s


def _quality_mode(setting: bool | str) -> str:
    return {True: "on", False: "off"}.get(setting, setting) if isinstance(setting, bool) else setting


class _Visualization:
    """One invocation's state: the plan, the per-layer records, the writer, the progress bar."""

    def __init__(self, cfg: Config, p: Plan, params: dict, after_layer: AfterLayer | None):
        self.cfg, self.plan, self.params, self.after_layer = cfg, p, params, after_layer
        self.index, self.count = distributed.process()
        self.primary = self.index == 0
        self.out = Path(cfg.output.dir)
        check_writable(self.out)
        self.store = Store(self.out, settings(cfg, cfg.model.fingerprint), numerics.environment())
        self.text = config_lib.to_toml(cfg)
        held = [la for la in p.network.layers if la in p.targets or self.store.holds(la)]
        self.layers = {la: self._record(la) for la in held}

    def _record(self, name: str) -> LayerRecord:
        done, labels = self.store.load(name), self.plan.network.labels(name)  # labels: a logit's class names
        if name not in self.plan.targets:  # a layer an earlier invocation made: reported with what it has
            cached = measure.cached(self.store.root, name, sorted(done))
            return LayerRecord(name, sorted(done), False, done=done, scores=cached, labels=labels)
        filters = self.plan.targets[name]
        share = distributed.share(filters, self.index, self.count)
        cost = filter_cost(self.cfg, name, self.plan.network)
        return LayerRecord(name, filters, True, share, done, cost, labels=labels)

    def start(self) -> None:
        """config.toml, the TensorBoard writer (steps after what the event files hold), the progress bar."""
        targets = [la for la in self.layers.values() if la.target]
        if self.primary:
            write_config(self.out, self.text)
        self.logged = logged_steps(self.out) if self.primary and self.cfg.output.tensorboard else {}
        step = max(self.logged.values(), default=-1) + 1  # past everything TensorBoard already shows
        tensorboard = self.cfg.output.tensorboard and self.primary
        # Written on a thread of its own: live grids are built and encoded there, off the ascent's critical path.
        self.writer = AsyncWriter(TensorBoardWriter(self.out)) if tensorboard else NullWriter()
        self.writer.write_texts(step, {"config": "```toml\n" + self.text + "\n```"})
        work = Work(
            "filters",
            total=sum(len(la.share) for la in targets),
            total_cost=sum(la.cost * len(la.share) for la in targets),
            done=sum(len(la.share) - len(la.todo) for la in targets),
            done_cost=sum(la.cost * (len(la.share) - len(la.todo)) for la in targets),
            layers=sum(bool(la.todo) for la in targets),
            heaviest=max((la.cost for la in targets if la.todo), default=0.0),
        )
        self.bar = Progress(work, self.cfg.output.progress and self.primary)
        self.session = Session(self.cfg, self.store, self.writer, self.bar, step, self.plan.network)
        for name, times in report.previous_times(self.out).items():
            if name in self.layers:
                self.layers[name].times.update(times)

    def ascend(self, name: str) -> None:
        """The layer's ascent (this process's share), then, on process 0, its outputs."""
        from jaxviz import ascent

        layer, t0, c0 = self.layers[name], time.perf_counter(), compile_clock.seconds()
        ascended = bool(layer.todo)
        misses = compile_clock.cache_counts()["cache_misses"]
        if layer.todo:
            segment = self.cfg.output.snapshot_every  # a device loop reports (and can snapshot) this often
            mesh = ascent.filter_mesh()
            engine = ascent.LayerAscent(self.params, self.plan.specs[name], self.plan.knobs, mesh, segment)
            self.session.run_layer(engine, layer.share, layer.done, layer.filters)
            layer.times["compile_seconds"] = round(compile_clock.seconds() - c0, 3)
            # Programs the persistent cache did not hold (0: nothing compiled; not counted with the cache off).
            layer.times["compile_cache_misses"] = compile_clock.cache_counts()["cache_misses"] - misses
        distributed.barrier(f"jaxviz:{self.cfg.output.dir}:{name}", self.cfg.distributed.barrier_timeout)
        if self.primary:
            if self.count > 1:
                layer.done = self.store.load(name)  # the other processes' chunks too
            # A layer resumed with nothing left to do keeps the seconds its ascent took when it ran.
            self.finish(name, time.perf_counter() - t0 if ascended else None)

    def finish(self, name: str, seconds: float | None, interrupted: bool = False) -> None:
        """Grid, TensorBoard, quality numbers, metrics.json and the after-layer hook for what `name` holds now.

        `interrupted`: after Ctrl-C; the layer is marked partial and its quality numbers wait for the rerun.
        """
        cfg, layer, tag = self.cfg, self.layers[name], f"{layer_file(name)}/activation_mean"  # as report writes it
        with self.bar.phase("grid"):
            curve = self.logged[tag] + 1 if tag in self.logged else 0  # each pass's curve after the last one's
            step = self.session.global_step
            layer.summary = report.finish_layer(cfg, self.out, self.writer, name, layer, step, curve)
            self.logged[tag] = curve + cfg.ascent.steps * cfg.ascent.stages
        if seconds is not None:
            layer.times["seconds"] = round(seconds, 3)
        if interrupted:
            layer.summary["partial"] = True
        elif self._quality_wanted(name, layer):
            t0 = time.perf_counter()
            with self.bar.phase("quality numbers"):
                layer.scores = measure.measure_layer(
                    self.params,
                    self.store.root,
                    name,
                    layer.filters,
                    layer.done,
                    cfg.ascent.size,
                    network=self.plan.network,
                )
            layer.times["quality_seconds"] = round(time.perf_counter() - t0, 3)
            _write_quality(self.writer, name, layer.scores, self.session.global_step)
        metrics_file.write(self.out, report.metrics(self.layers))
        if self.after_layer is not None:
            with self.bar.phase("atlas"):
                self.after_layer(self.out)

    def _quality_wanted(self, name: str, layer: LayerRecord) -> bool:
        """output.quality: on, off, or auto: measured unless the estimate says it would cost more than a
        QUALITY_SHARE of the layer's ascent (and more than QUALITY_FLOOR_S); a skip is said once and recorded."""
        mode = _quality_mode(self.cfg.output.quality)
        if mode != "auto":
            return mode == "on"
        size, ascent_s = self.cfg.ascent.size, layer.times.get("seconds", 0.0)
        estimate = measure.estimate_seconds(self.store.root, name, layer.filters, layer.done, size, self.plan.network)
        if estimate <= max(QUALITY_SHARE * ascent_s, QUALITY_FLOOR_S):
            return True
        layer.times["quality_skipped_estimate_seconds"] = round(estimate, 1)
        _say(
            f"quality numbers of {name} skipped: about {estimate:.0f} s against {ascent_s:.0f} s of ascent "
            f'(output.quality = "on" measures them anyway)'
        )
        return False


def run_visualization(
    cfg: Config,
    hparams: Sequence[str] | None = None,
    metric_layers: Sequence[str] | None = None,
    after_layer: AfterLayer | None = None,
    model: LoadedModel | None = None,
) -> dict:
    """Run `cfg`; returns the metrics also written to RUN/metrics.json.

    With several processes (see `distributed`), each computes its share of every layer and process 0
    writes the outputs. `hparams`: the config keys TensorBoard's HParams dashboard shows (default: all);
    `metric_layers`: the layers whose metrics it declares (default: this run's; a sweep passes every
    point's, so all its runs share one table); `after_layer(RUN)`: called on process 0 after each layer's
    outputs (the command line refreshes the atlas). Ctrl-C raises Interrupted after writing what finished.
    `model`: a model with its weights already in hand instead of cfg's (jaxviz.flax_model(module, variables): a Flax
    module, which no config can name); cfg.model.name is then recorded as its registry name, else "flax", and a
    rerun resumes only with the same weights (their fingerprint).

    The run directory is held for the whole run (jaxviz.runtime.dir_lock): another process writing it is refused
    (JaxvizError, one line naming it) before anything is loaded or written.
    """
    from jaxviz.run.translate import model_of

    if model is not None:  # recorded as the API records it (api.visualize)
        named = model.network.name if model.network.name in model_names() else FLAX
        cfg = config_lib.apply(cfg, {"model.name": named})
    p = prepare(cfg, model.network if model is not None else None)
    out = output_dir(cfg.output.dir)  # a link and its target are one run directory
    check_run_dir(out)  # new, empty or jaxviz's: never a sweep's or some other folder
    weights = model if model is not None else model_of(cfg)  # bad weights create no directory
    check_fits(cfg, p)  # an image size no device holds: refused now, not after minutes of swapping
    with distributed.holding(out, "a visualisation run", cfg.distributed.initialization_timeout):
        return _run_held(cfg, p, weights, hparams, metric_layers, after_layer)


def check_fits(cfg: Config, p: Plan) -> None:
    """Refuse (JaxvizError, one line) a run of which not even one filter fits the device (or, on CPU, the free
    memory) at once: its largest layer at ascent.size, with its images per filter and precision."""
    from jaxviz.ascent import bytes_per_image
    from jaxviz.runtime.device_fit import check_one_fits

    a = cfg.ascent
    deepest = max(p.targets, key=p.network.layers.index)  # the deepest layer holds the most maps
    need = bytes_per_image(deepest, a.size, a.precision, cfg.objective.images, p.network)
    check_one_fits(need, f"one filter of {deepest} at {a.size} px", "ascent.size (or objective.images)")


def _run_held(
    cfg: Config, p: Plan, loaded, hparams: Sequence[str] | None, metric_layers: Sequence[str] | None, after_layer
) -> dict:
    """run_visualization(), once this process (or job) holds the run directory; `loaded`: model_registry.LoadedModel."""
    from jaxviz.run.examples_stage import check_same_weights

    compile_cache.enable(cfg.ascent.compile_cache)  # before anything compiles: JAX reads it once
    params, weights, how = loaded.params, loaded.path, loaded.how
    cfg = resolve(cfg, weights, loaded.fingerprint)
    check_same_weights(output_dir(cfg.output.dir), cfg.model.fingerprint, "this run")
    r = _Visualization(
        cfg, p, params, after_layer
    )  # every refusal (weights, settings, directory) before a word is said
    if r.count == 1 and (complete := up_to_date(r.out, r.text, r.layers, after_layer is not None)) is not None:
        (found, same), recorded = complete, read_config(r.out) or ""
        # Only [examples] or where the same weights are differs: record it, nothing else (a chunk size, say, is not
        # recorded anew: that would be the one write of a run that writes nothing).
        if same and recorded_part(recorded) != recorded_part(r.text):
            write_config(r.out, r.text)
        unused = no_output_differences(recorded, r.text)
        if same and unused:
            _say(f"{r.out} is already complete with this config ({', '.join(unused)} changes none of its outputs); "
                 f"nothing to do")  # fmt: skip
        elif same:
            _say(f"{r.out} is already complete with this config; nothing to do")
        else:  # fewer layers or filters than it holds: what it shows stays whole
            _say(f"{r.out} already holds these filters, complete, among more; nothing to do (its config.toml "
                 f"says what it shows)")  # fmt: skip
        return {**found, "up_to_date": True}
    if r.primary:
        for line in describe(cfg, p.targets, p.network):
            _say(line)  # before any compile: a whole-network run by mistake is stopped at once
        where = f"{cfg.model.weights} ({how}; " if cfg.model.weights else f"{how} ("  # a module handed over: no file
        _say(f"weights: {where}fingerprint {cfg.model.fingerprint})")
    r.start()
    current = None
    try:
        for name in p.targets:
            current = name
            r.ascend(name)
            current = None
    except KeyboardInterrupt:
        r.bar.close()
        if r.primary and current is not None and r.layers[current].done:
            _say(f"interrupted: writing the grid, metrics and atlas of what {current} has so far (partial)")
            r.finish(current, None, interrupted=True)
        elif r.primary and current is not None:  # nothing of it finished yet: metrics.json still says partial
            r.layers[current].summary = {"partial": True}
            metrics_file.write(r.out, report.metrics(r.layers))
        r.writer.close()
        raise Interrupted(_interrupted_message(r)) from None
    finally:
        r.bar.close()
        if sys.exc_info()[0] is not None:  # the run's own error is the one to report, not a write's after it
            with contextlib.suppress(Exception):
                r.writer.close()  # pending writes done (a live grid lands before the last one), thread stopped
    if not r.primary:
        return {"filters": [], "layers": {}}
    flat = config_lib.as_flat_dict(cfg)
    declared = metric_layers if metric_layers is not None else list(p.targets)
    values = {la: r.layers[la].summary["activation_mean"] for la in declared if la in r.layers and r.layers[la].summary}
    r.writer.write_hparams(
        r.session.global_step,
        {k: flat[k] for k in hparams} if hparams is not None else flat,
        {f"hparams/{layer_file(la)}/activation_mean": values.get(la, float("nan")) for la in declared},
    )
    r.writer.close()
    return report.metrics(r.layers)


def _interrupted_message(r: _Visualization) -> str:
    """What Ctrl-C leaves: the filters the run directory holds now (this invocation's and earlier ones'), or that
    none had finished (an interrupt during the first compile): then there is nothing to look at yet."""
    held = sum(len(layer.done) for layer in r.layers.values())
    if not held:
        return f"no filter had finished yet, so {r.out} holds none; rerun the same command to start again"
    return f"{r.out} holds what finished ({held} filter(s), marked partial); rerun the same command to resume"


def _say(text: str) -> None:
    print(f"jaxviz: {text}", flush=True)


def _write_quality(writer, layer: str, rows: dict[int, dict], step: int) -> None:
    from jaxviz import quality

    numbers = {k: v for k, v in quality.summarize(list(rows.values())).items() if v is not None}
    writer.write_scalars(step, {f"{layer_file(layer)}/quality/{k}": v for k, v in numbers.items()})
