"""What a run will do, checked before anything loads or compiles: layers, filters, and the image each layer sees."""

from __future__ import annotations

import math
from typing import NamedTuple

from jaxviz.ascent import Knobs, Method, Spec
from jaxviz.config import Config
from jaxviz.errors import JaxvizError
from jaxviz.model.network import Network, check_layer_files, of_network
from jaxviz.model.targets import resolve_filters, resolve_layers


def fed_sizes(cfg: Config, network: Network | None = None) -> list[tuple[int, int]]:
    """(stage side, side the model is fed) for every ascent stage, in order, in pixels: ascent.spec.fed_side's rule
    (the stage's image after `ascent.transforms`, or with method.crops the side the crops are resized to) for each
    stage (they start smaller than `ascent.size` when `ascent.upscale` > 1). `network`: cfg's model when None (only
    read for crops at the model's own side)."""
    from jaxviz.ascent import stage_sizes
    from jaxviz.ascent.spec import fed_side

    a, view = cfg.ascent, _view(cfg)
    network = _network(cfg, network) if view.crops else network
    return [(side, fed_side(view, side, network)) for side in stage_sizes(a.size, a.stages, a.upscale)]


def _view(cfg: Config) -> Method:
    """What of cfg's method decides what the model is shown (transforms, crops, their side): the Method part
    ascent.spec.fed_side and crop_side read, built without the magnitude template they do not need."""
    m = cfg.method
    return Method(transforms=tuple(cfg.ascent.transforms), crops=m.crops, crop_side=m.crop_side)


def _network(cfg: Config, network: Network | None) -> Network:
    from jaxviz.run.translate import network_of

    return network or network_of(cfg)


def _crop_side(cfg: Config, network: Network | None) -> int:
    """The side (px) method.crops are resized to (ascent.spec.crop_side; `network`: cfg's model when None)."""
    from jaxviz.ascent.spec import crop_side

    view = _view(cfg)
    return crop_side(view, network if view.crop_side else _network(cfg, network))


def _shrinker(cfg: Config, fed: int, least: int) -> str:
    """The settings that decide the side the model is fed (`fed` px at the smallest stage; it needs `least`), in
    words."""
    from jaxviz.ascent.spec import shrinkers

    a, m = cfg.ascent, cfg.method
    if m.crops:
        if m.crop_side:
            return f"method.crops are resized to method.crop_side = {m.crop_side} px"
        return f"method.crops are resized to the model's side, {fed} px (method.crop_side = 0)"
    return shrinkers(method_of_transforms(cfg), a.size, a.stages, a.upscale, least)


def method_of_transforms(cfg: Config) -> Method:
    """A Method holding only cfg's transforms (what the side arithmetic of jaxviz.ascent.spec reads), without
    building the run's objective or loading a magnitude template."""
    return Method(transforms=tuple(cfg.ascent.transforms))


def _exact_size(cfg: Config, fixed: int, upscale: float) -> int | None:
    """The ascent.size at which every stage's image after cfg's transforms (stages upscaled by `upscale`) is exactly
    `fixed` px, or None."""
    from jaxviz.ascent import stage_sizes
    from jaxviz.ascent.transforms import output_side

    a = cfg.ascent
    for size in range(1, 4 * fixed + 256):  # a transform adds or crops a few pixels: the side is near `fixed`
        if all(output_side(a.transforms, s) == fixed for s in stage_sizes(size, a.stages, upscale)):
            return size
    return None


def _fix_fixed(cfg: Config, fixed: int) -> str:
    """What to set so that a model taking `fixed` px only is fed exactly that, in words."""
    a, m = cfg.ascent, cfg.method
    if m.crops:  # the crops' side alone is what the model sees
        return f"set method.crop_side = {fixed}, or 0 for the model's own side"
    fixes = []
    if a.stages > 1 and a.upscale != 1.0:
        fixes.append("ascent.upscale = 1 (every stage at ascent.size)")
    exact = _exact_size(cfg, fixed, 1.0)
    if exact is None:
        fixes.append(f"ascent.size = {fixed} with ascent.transforms that keep the side (no pad or jitter)")
    elif exact != a.size:
        fixes.append(f"ascent.size = {exact}" + (f" (ascent.transforms make it {fixed} px)" if exact != fixed else ""))
    return "set " + " and ".join(fixes) if fixes else f"set ascent.size = {fixed}"


def _fix_small(cfg: Config, least: int) -> str:
    """What to change so that the model is fed at least `least` px at every stage, in words."""
    from jaxviz.ascent.spec import growers

    a, m = cfg.ascent, cfg.method
    if m.crops:
        return f"set method.crop_side to at least {least} (or 0 for the model's own side)"
    return growers(method_of_transforms(cfg), a.size, a.stages, a.upscale, least)


def check_sizes(cfg: Config, layers: list[str], network: Network) -> None:
    """Every target layer of `network` gets at least a 1x1 map from the smallest image the model is fed, and a
    model with a fixed input size gets exactly that size; else one line naming what decides the side the model is
    fed (ascent.size, stages, jitters, method.crop_side) and what to set instead."""
    sizes = fed_sizes(cfg, network)
    fixed = network.input.fixed_size
    if fixed is not None and any(f != fixed for _, f in sizes):
        fed = next(f for _, f in sizes if f != fixed)
        raise JaxvizError(
            f"{network.name} takes {fixed} px images only, but would see {fed} px ({_shrinker(cfg, fed, fixed)}); "
            f"{_fix_fixed(cfg, fixed)}"
        )
    fed = min(f for _, f in sizes)
    for layer in layers:
        least = network.min_size(layer)
        if fed < least:
            raise JaxvizError(
                f"the image is too small for {layer}: it needs at least {least} px but would see {max(fed, 0)} px "
                f"({_shrinker(cfg, fed, least)}); {_fix_small(cfg, least)}"
            )


class Plan(NamedTuple):
    """A checked config in the ascent's terms: layer -> filters, the Method (built once), each layer's Spec, Knobs,
    and the Network they run on."""

    targets: dict[str, list[int]]
    method: Method
    specs: dict[str, Spec]
    knobs: Knobs
    network: Network


def prepare(cfg: Config, network: Network | None = None) -> Plan:
    """Everything a run needs from `cfg`, every name, index, combination and size checked before any work.

    Raises JaxvizError (one line) for an unknown layer or filter, layers whose file names differ only in case
    (network.check_layer_files), a method that cannot work, or an image too small for a layer at any stage after
    its transforms. `network`: the model, when not cfg's (an API caller's).
    """
    from jaxviz.run.translate import knobs_of, method_of, network_of, spec_of

    method = method_of(cfg)  # objective, transforms and their combinations, checked before any compile
    # `network`: one the caller has (a Flax module from the API), else cfg's: a VGG at once, a Keras model built
    # first (its layers are known then)
    network = network or network_of(cfg)
    layers = resolve_layers(cfg.target.layers, network)
    check_layer_files(layers, network.name)  # each layer's files its own on any file system
    specs = {layer: spec_of(cfg, layer, method, network) for layer in layers}
    check_sizes(cfg, layers, network)
    targets = {layer: resolve_filters(cfg.target.filters, layer, network) for layer in layers}
    return Plan(targets, method, specs, knobs_of(cfg), network)


def plan(cfg: Config) -> dict[str, list[int]]:
    """Layer -> filter indices, checked as `prepare` checks them."""
    return prepare(cfg).targets


def tiny_crops(cfg: Config, side: int) -> str:
    """A warning, or "": method.crops' smallest crops (the smaller of crop_start and crop_end, never below
    SMALLEST_CROP, of the last stage's side) span fewer than MIN_SEEN pixels of the image, so the model is shown
    a few pixels enlarged to `side` px: blurred blocks, not the image (MACO's 0.05 of 512 px is 26 px; of 32 px it
    is 1.6 px)."""
    from jaxviz.ascent.method import SMALLEST_CROP
    from jaxviz.ascent.spec import MIN_SEEN

    a, m = cfg.ascent, cfg.method
    smallest = max(min(m.crop_start, m.crop_end), SMALLEST_CROP)
    px = smallest * a.size
    if px >= MIN_SEEN:
        return ""
    end = "crop_end" if m.crop_end <= m.crop_start else "crop_start"
    return (
        f"warning: the smallest crops are {smallest:g} of the {a.size} px image, {px:.3g} px, enlarged to {side} px "
        f"({side / px:.0f}x): the model sees a few pixels blown up; raise ascent.size to at least "
        f"{math.ceil(MIN_SEEN / smallest)} or method.{end} to at least {math.ceil(100 * MIN_SEEN / a.size) / 100:g}"
    )


def describe(cfg: Config, targets: dict[str, list[int]], network: Network | None = None) -> list[str]:
    """The plan in words: a first line that warns when the defaults cover the whole network, then what runs.
    `network`: the model, when not cfg's (one handed over in Python)."""
    from jaxviz.run.translate import network_of

    a, lines, network = cfg.ascent, [], network or network_of(cfg)
    n = sum(map(len, targets.values()))
    whole = sum(network.widths.values())
    if n == whole and cfg.target.layers == "all" and cfg.target.filters == "all":
        example = network.layers[len(network.layers) // 2]
        lines.append(
            f"no layers or filters given: this run covers all {whole:,} filters of all {len(network.layers)} layers "
            f"of {network.name} (hours on a CPU; try --layers {example} --filters 0:16 first)"
        )
    names = list(targets)
    shown = ", ".join(names) if len(names) <= 4 else f"{names[0]} ... {names[-1]}"
    stages = f" x {a.stages} stages" if a.stages > 1 else ""
    method = f"{cfg.param.kind}, {a.optimizer}" + (f" ({a.normalize})" if a.optimizer == "normalized" else "")
    extra = f", transforms {' '.join(a.transforms)}" if a.transforms else ""
    m = cfg.method
    if m.crops:
        side = _crop_side(cfg, network)
        extra += f", {m.crops} crops of {m.crop_start:g}->{m.crop_end:g} of the side at {side} px"
        tiny = tiny_crops(cfg, side)
        if tiny:
            lines.append(tiny)
    model = of_network(network)
    if cfg.target.layers == "all" and network.family != "vgg":  # say what "all" took from a model of many kinds
        model += f" (all: its convolutions and block outputs, {len(network.default_layers)} of {len(network.layers)})"
    lines.append(
        f"plan: {n:,} filter(s) of {len(names)} layer(s){model} ({shown}), {a.size} px x {a.steps} steps{stages}, "
        f"{method}, objective {cfg.objective.expr}{extra} -> {cfg.output.dir}"
    )
    return lines
