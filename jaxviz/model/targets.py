"""Turn `target.layers` / `target.filters` specs into layer names and filter indices."""

from __future__ import annotations

from jaxviz.errors import JaxvizError
from jaxviz.model.architecture import CONV_LAYERS, CONV_WIDTHS


def resolve_layers(spec: str | tuple[str, ...]) -> list[str]:
    """Layer names in network order; "all" is every conv layer."""
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    if names == ["all"]:
        return list(CONV_LAYERS)
    if not names or "" in names:
        raise JaxvizError(f"target.layers is empty; valid layers: all, {', '.join(CONV_LAYERS)}")
    for name in names:
        if name not in CONV_LAYERS:
            raise JaxvizError(f"unknown layer {name!r}; valid layers: all, {', '.join(CONV_LAYERS)}")
    if len(set(names)) != len(names):
        raise JaxvizError(f"target.layers names a layer twice: {', '.join(names)}")
    return names


def _int(text: str, spec: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise JaxvizError(f"target.filters {spec!r} is not 'all', a range like 0:64, or a list like 3,5,9") from None


def resolve_filters(spec: str | tuple[int, ...], layer: str) -> list[int]:
    """Filter indices for `layer`, each checked against its width."""
    width = CONV_WIDTHS[layer]
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
