"""A config in the ascent's own terms: its Method (built once per run), each layer's Spec, the Knobs."""

from __future__ import annotations

from jaxviz.ascent import Knobs, Method, Spec, objectives, transforms
from jaxviz.config import Config
from jaxviz.model.model_registry import LoadedModel
from jaxviz.model.network import Network


def network_of(cfg: Config) -> Network:
    """The model `cfg.model` names (jaxviz.model.model_registry.network_of: the VGGs' facts at once, a Keras model
    built once per process). Raises JaxvizError (one line) for a model that cannot be had."""
    from jaxviz.model.model_registry import network_of as registry_network

    m = cfg.model
    return registry_network(m.name, m.weights, m.preprocess)


def method_of(cfg: Config) -> Method:
    """The Method a config asks for: the objective expression with the penalties and diversity as terms.

    Raises JaxvizError (one line) for an unknown name anywhere or a combination that cannot work.
    """
    a, p, o = cfg.ascent, cfg.param, cfg.objective
    for spec in a.transforms:
        transforms.parse(spec)
    objective = objectives.parse(o.expr)
    for name in ("tv", "l2", "blur", "diversity"):  # config weights are penalties: subtracted
        weight = getattr(o, name)
        if weight:
            objective = objective - weight * objectives.term(name)
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
    )


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
