"""A config in the ascent's own terms: its Method (built once per run), each layer's Spec, the Knobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jaxviz.ascent import Knobs, Method, Spec, objectives, transforms
from jaxviz.config import Config
from jaxviz.errors import JaxvizError
from jaxviz.model.model_registry import LoadedModel
from jaxviz.model.network import Network

if TYPE_CHECKING:  # numpy and Pillow: loaded when a maco config is translated
    from jaxviz.ascent.spectrum import Magnitude


def network_of(cfg: Config) -> Network:
    """The model `cfg.model` names (jaxviz.model.model_registry.network_of: the VGGs' facts at once, a Keras model
    built once per process). Raises JaxvizError (one line) for a model that cannot be had."""
    from jaxviz.model.model_registry import network_of as registry_network

    m = cfg.model
    return registry_network(m.name, m.weights, m.preprocess)


def method_of(cfg: Config) -> Method:
    """The Method a config asks for: the objective expression with the penalties and diversity as terms; for
    param.kind = "maco" its magnitude template (`spectrum_of`); method.alpha "auto" on for maco only.

    Raises JaxvizError (one line) for an unknown name anywhere, a combination that cannot work, or a template
    that cannot be had.
    """
    a, p, o = cfg.ascent, cfg.param, cfg.objective
    for spec in a.transforms:
        transforms.parse(spec)
    objective = objectives.parse(o.expr)
    for name in ("tv", "l2", "blur", "diversity"):  # config weights are penalties: subtracted
        weight = getattr(o, name)
        if weight:
            objective = objective - weight * objectives.term(name)
    m = cfg.method
    alpha = {"auto": p.kind == "maco", "on": True, "off": False}.get(m.alpha, m.alpha)  # or a bool: on / off
    return Method(
        param=p.kind,
        decorrelate=p.decorrelate,
        squash=p.squash,
        decay=p.decay,
        init_mean=float(a.init_mean),
        init_noise=float(a.init_noise),
        transforms=tuple(a.transforms),
        objective=objective,
        preactivation=o.preactivation,
        revive=o.revive,
        images=o.images,
        optimizer=a.optimizer,
        schedule=a.schedule,
        spectrum=spectrum_of(cfg) if p.kind == "maco" else None,
        crops=m.crops,
        crop_side=m.crop_side,
        crop_start=float(m.crop_start),
        crop_end=float(m.crop_end),
        crop_spread=float(m.crop_spread),
        noise=float(m.noise),
        alpha=bool(alpha),
    )


def spectrum_of(cfg: Config) -> Magnitude:
    """MACO's magnitude template `cfg.method.spectrum` names: the one shipped with jaxviz (""), an image folder's
    (jaxviz.dataset_examples.spectrum_pass.template_of: one streamed pass, cached; a bar while it runs, with
    output.progress) or a template file's. Raises JaxvizError (one line) for a path that is not one, or for a
    template other than the one `method.spectrum_fingerprint` names (the one a run being resumed used)."""
    from jaxviz.ascent import spectrum
    from jaxviz.dataset_examples.spectrum_pass import template_of

    m = cfg.method
    if m.spectrum:
        from jaxviz.show.progress import Progress

        template = template_of(m.spectrum, progress=Progress.over_files if cfg.output.progress else None)
    else:
        template = spectrum.default()
    if m.spectrum_fingerprint and m.spectrum_fingerprint != template.fingerprint:
        named = repr(m.spectrum) if m.spectrum else "the template shipped with this jaxviz"
        raise JaxvizError(
            f"the magnitude template {named} has fingerprint {template.fingerprint}, but method.spectrum_fingerprint "
            f"is {m.spectrum_fingerprint} (the template this run used); pass the same template, or set "
            f'method.spectrum_fingerprint = "" to accept this one'
        )
    return template


def model_of(cfg: Config) -> LoadedModel:
    """The model `cfg.model` names with its weights, found and checked (jaxviz.model.model_registry.load_model: once
    per process). Raises JaxvizError (one line) as that does."""
    from jaxviz.model.model_registry import load_model

    m = cfg.model
    return load_model(m.name, m.weights, m.download, m.preprocess)


def spec_of(cfg: Config, layer: str, method: Method | None = None, network: Network | None = None) -> Spec:
    """`layer`'s Spec under `cfg` (`method`: the run's, to avoid building it again; `network`: the model when not
    cfg's). JaxvizError if it cannot work."""
    a, network = cfg.ascent, network or network_of(cfg)
    method = method or method_of(cfg)
    return Spec(layer, a.size, a.stages, a.upscale, a.precision, method, a.loop, a.target, a.conv, network)


def knobs_of(cfg: Config) -> Knobs:
    """The traced values of `cfg`: step size, normaliser, seed, steps per stage."""
    a = cfg.ascent
    return Knobs(step=a.step, normalizer=a.normalize, seed=a.seed, steps=a.steps)
