"""Turn `target.layers` / `target.filters` specs into layer names and filter indices."""

from __future__ import annotations

from jaxviz.errors import JaxvizError
from jaxviz.model.network import VGG16, Network, check_target, valid_layers


def resolve_layers(spec: str | tuple[str, ...], network: Network = VGG16) -> list[str]:
    """Layer names of `network` (VGG16 by default) in network order; "all" is its `default_layers` (the VGGs' conv
    layers; a Keras model's convolutions and block outputs: its logits only by name).

    Raises JaxvizError (one line): an empty list, a layer named twice, a layer of the model that cannot be a target
    (why said: jaxviz.model.network.check_target) or an unknown layer (the valid ones listed as
    jaxviz.model.network.valid_layers groups them)."""
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    if names == ["all"]:
        return list(network.default_layers)
    if not names or "" in names:
        raise JaxvizError(f"target.layers is empty; valid layers: all, {valid_layers(network)}")
    for name in names:
        check_target(network, name, all_too=True)
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
