"""Turn `target.layers` / `target.filters` specs into layer names and filter indices."""

from __future__ import annotations

from jaxviz.errors import JaxvizError
from jaxviz.model.network import VGG16, Network


def valid_layers(network: Network) -> str:
    """`network`'s layers as a refusal lists them: all of them when few, else grouped by their name's stem with
    counts and the first and last of each group, so that a 300-layer model's list stays readable."""
    layers = network.layers
    if len(layers) <= 24:
        return ", ".join(layers)
    groups: dict[str, list[str]] = {}
    for name in layers:
        stem = name.rsplit("_", 1)[-1].rstrip("0123456789") or name
        groups.setdefault(stem, []).append(name)
    return "; ".join(
        f"{len(names)} x {stem} ({names[0]}" + (f" ... {names[-1]})" if len(names) > 1 else ")")
        for stem, names in groups.items()
    )


def resolve_layers(spec: str | tuple[str, ...], network: Network = VGG16) -> list[str]:
    """Layer names of `network` (VGG16 by default) in network order; "all" is its `default_layers` (the VGGs' conv
    layers; a Keras model's convolutions, block outputs and logits)."""
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    if names == ["all"]:
        return list(network.default_layers)
    if not names or "" in names:
        raise JaxvizError(f"target.layers is empty; valid layers: all, {valid_layers(network)}")
    for name in names:
        if name not in network.widths:
            of = "" if network.name == "vgg16" else f" of {network.name}"  # the default model goes without saying
            raise JaxvizError(f"unknown layer {name!r}{of}; valid layers: all, {valid_layers(network)}")
    if len(set(names)) != len(names):
        raise JaxvizError(f"target.layers names a layer twice: {', '.join(names)}")
    return names


def _int(text: str, spec: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise JaxvizError(f"target.filters {spec!r} is not 'all', a range like 0:64, or a list like 3,5,9") from None


def resolve_filters(spec: str | tuple[int, ...], layer: str, network: Network = VGG16) -> list[int]:
    """Filter indices for `layer` of `network` (VGG16 by default), each checked against its width."""
    width = network.widths[layer]
    if isinstance(spec, str):
        text = spec.replace(" ", "")
        if text == "all":
            return list(range(width))
        if ":" in text:
            lo, _, hi = text.partition(":")
            start, stop = _int(lo or "0", spec), _int(hi, spec) if hi else width
            if start >= stop:
                raise JaxvizError(f"target.filters {spec!r} is an empty range")
            indices = list(range(start, stop))
        else:
            indices = [_int(t, spec) for t in text.split(",")]
    else:
        indices = list(spec)
    if not indices:
        raise JaxvizError("target.filters is empty")
    bad = [i for i in indices if not 0 <= i < width]
    if bad:
        raise JaxvizError(f"filter {bad[0]} is out of range for {layer}, which has filters 0..{width - 1}")
    if len(set(indices)) != len(indices):
        raise JaxvizError("target.filters names a filter twice")
    return indices
