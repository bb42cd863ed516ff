"""A filter's activation over the ascent steps, as the coordinates curve.html draws an SVG line chart from."""

from __future__ import annotations

from jaxviz.atlas.page_parts import fmt

W, H, LEFT, RIGHT, TOP, BOTTOM = 560, 220, 60, 14, 14, 36  # the chart and its margins, in SVG units
DOTS = 60  # at most this many steps get a dot each: more would blur into the line


def curve(history: list, nan_step: int | None) -> dict | None:
    """The chart of `history` (None: a non-finite step, which breaks the line); None when nothing was recorded."""
    points = [(i, v) for i, v in enumerate(history) if v is not None]
    if not points:
        return None
    lo, hi = min(v for _, v in points), max(v for _, v in points)
    span, last = (hi - lo) or abs(hi) or 1.0, max(len(history) - 1, 1)

    def x(i: float) -> float:
        return LEFT + (W - LEFT - RIGHT) * i / last

    def y(v: float) -> float:
        return TOP + (H - TOP - BOTTOM) * (1 - (v - lo) / span)

    lines, run = [], []
    for i, v in enumerate(history):
        if v is None:
            lines, run = lines + [run] * bool(run), []
        else:
            run.append(f"{x(i):.1f},{y(v):.1f}")
    lines += [run] * bool(run)
    ticks = [{"x": LEFT - 6, "y": f"{y(v) + 4:.1f}", "anchor": "end", "text": fmt(v)} for v in sorted({lo, hi})]
    ticks += [{"x": f"{x(i):.1f}", "y": H - BOTTOM + 18, "anchor": "middle", "text": i} for i in sorted({0, last})]
    (i0, v0), (i1, v1) = points[0], points[-1]
    return {
        "width": W,
        "height": H,
        "left": LEFT,
        "right": W - RIGHT,
        "top": TOP,
        "bottom": H - BOTTOM,
        "middle": f"{(LEFT + W - RIGHT) / 2:.0f}",
        "ticks": ticks,
        "lines": [" ".join(r) for r in lines if len(r) > 1],  # a lone point between two gaps is only a dot
        "dots": [(f"{x(i):.1f}", f"{y(v):.1f}") for i, v in points] if len(history) <= DOTS else [],
        "nan": f"{x(nan_step):.1f}" if nan_step is not None and 0 <= nan_step <= last else None,
        "desc": f"From {fmt(v0)} at step {i0} to {fmt(v1)} at step {i1}; lowest {fmt(lo)}, highest {fmt(hi)}.",
        "steps": [(i, fmt(v, 6)) for i, v in enumerate(history)],
    }
