"""Presets side by side (and a peer's images): seconds per filter and the quality numbers, one table.

Every image set is scored by the same functions (jaxviz.quality) at the same displayed size, so the
numbers compare methods, not tools' own metrics. Peer images (e.g. Lucent's DIR/<layer>/NNNN.png) are
resized to the presets' size; a peer's speed can be timed in the same run through its own command.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np
from PIL import Image

from jaxviz.ascent.records import DEAD_EPS
from jaxviz.runtime.files import atomic_write
from jaxviz.runtime.images import grid, save_png


def _score(params: dict, layer: str, images: np.ndarray, filters: list[int]) -> dict:
    from jaxviz import quality

    rows = quality.evaluate(params, layer, images, filters)
    return {**quality.summarize(rows), "live": sum(r["display_activation"] > DEAD_EPS for r in rows) / len(rows)}


def run_preset(preset: str, layer: str, filters: list[int], size: int, weights: str) -> tuple[np.ndarray, float]:
    """The preset's images of `filters` (made at the preset's own size, first image per filter, resized
    to `size` for scoring) and seconds per filter, compile and warm-up excluded (a 1-step run of one
    filter first compiles every shape the run needs)."""
    import jaxviz.api as jaxviz  # the notebook API, as a user calls it

    settings = {"weights": weights, "quality": False, "progress": False}  # its own lines say what runs
    jaxviz.visualize(layer, filters[:1], preset=preset, **settings, steps=1)
    t = time.perf_counter()
    r = jaxviz.visualize(layer, filters, preset=preset, **settings)
    seconds = (time.perf_counter() - t) / len(filters)
    side = r.config.ascent.size
    return np.stack([_resized(im[:, :side], size) for im in r.images]), seconds


def _resized(image: np.ndarray, size: int) -> np.ndarray:
    if image.shape[0] == size:
        return image
    return np.asarray(Image.fromarray(image).resize((size, size), Image.BICUBIC))


def peer_images(folder: Path, filters: list[int], size: int) -> np.ndarray | None:
    """A peer's NNNN.png images for `filters`, resized to `size` (None if any is missing)."""
    paths = [folder / f"{f:04d}.png" for f in filters]
    if not all(p.is_file() for p in paths):
        return None
    return np.stack([_resized(np.asarray(Image.open(p).convert("RGB")), size) for p in paths])


def peer_seconds(command: list[str], full_steps: int) -> float | None:
    """Seconds per filter of a peer at `full_steps`, from one timed call (its JSON `image_steps_per_s`)."""
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=3600, check=True).stdout
        rate = json.loads(out.strip().splitlines()[-1])["image_steps_per_s"]
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, IndexError):
        return None
    return full_steps / rate


def compare(
    presets: list[str],
    layers: list[str],
    filters: list[int],
    size: int,
    out: Path,
    weights: str = "",
    peers: dict[str, Path] | None = None,
    peer_timing: dict[str, list[str]] | None = None,
    peer_steps: int = 512,
) -> list[dict]:
    """Run every preset on every layer; write OUT/compare.json, OUT/compare.md and OUT/<layer>.png."""
    from jaxviz.model.weights import find_and_load

    params = find_and_load(weights, True)
    rows, strips = [], {}
    for layer in layers:
        sets = {}
        for preset in presets:
            images, seconds = run_preset(preset, layer, filters, size, weights)
            sets[preset] = images
            rows.append(
                {
                    "layer": layer,
                    "method": preset,
                    "seconds_per_filter": seconds,
                    **_score(params, layer, images, filters),
                }
            )
        for name, folder in (peers or {}).items():
            images = peer_images(folder / layer, filters, size)
            if images is None:
                continue
            sets[name] = images
            timing = (peer_timing or {}).get(name)
            seconds = peer_seconds([*timing, "--layer", layer], peer_steps) if timing else None
            rows.append(
                {
                    "layer": layer,
                    "method": name,
                    "seconds_per_filter": seconds,
                    **_score(params, layer, images, filters),
                }
            )
        strips[layer] = grid(np.concatenate(list(sets.values())), columns=len(filters), margin=4)
        save_png(out / f"{layer}.png", strips[layer])
    atomic_write(out / "compare.json", (json.dumps(rows, indent=1) + "\n").encode())
    atomic_write(out / "compare.md", table(rows, presets + list(peers or {})).encode())
    return rows


def table(rows: list[dict], order: list[str]) -> str:
    """A Markdown table: one row per (layer, method)."""
    head = "| layer | method | s / filter | activation as displayed | robustness | selectivity | live |\n"
    head += "|---|---|---|---|---|---|---|\n"
    lines = []
    for r in sorted(rows, key=lambda r: (r["layer"], order.index(r["method"]))):
        seconds = f"{r['seconds_per_filter']:.1f}" if r["seconds_per_filter"] is not None else "n/a"
        selectivity = f"{r['selectivity']:.2f}" if r["selectivity"] is not None else "n/a"
        lines.append(
            f"| {r['layer']} | {r['method']} | {seconds} | {r['display_activation_mean']:.1f} | "
            f"{r['robustness_mean']:.2f} | {selectivity} | {r['live']:.2f} |"
        )
    return head + "\n".join(lines) + "\n"


def method_costs(params: dict, layer: str = "block3_conv1", size: int = 128, steps: int = 8, rounds: int = 2) -> dict:
    """image-steps/s of each building block against plain pixel ascent, on one layer (best of `rounds`,
    variants interleaved so machine noise hits them alike). Compile and warm-up excluded."""
    import dataclasses as dc

    from jaxviz import ascent
    from jaxviz.ascent import objectives

    lucid = ("pad:12", "jitter:8", "scale:0.9:0.95:1.0:1.05:1.1", "rotate:-10:-5:0:5:10", "jitter:4")
    base = ascent.Method()
    variants = {
        "pixels (book)": base,
        "revive off": dc.replace(base, revive=False),
        "transforms (pad, jitter, scale, rotate, jitter)": dc.replace(base, transforms=lucid),
        "fourier + decorrelate + sigmoid": dc.replace(base, param="fourier", decorrelate=True, squash="sigmoid"),
        "adam": dc.replace(base, optimizer="adam"),
        "objective layer_l2 (whole layer)": dc.replace(base, objective=objectives.layer_l2()),
        "tv + l2 + blur": dc.replace(
            base, objective=base.objective - objectives.tv() - objectives.l2() - objectives.blur()
        ),
        "2 images + diversity (per filter)": dc.replace(
            base, images=2, objective=base.objective - objectives.diversity()
        ),
        "quality preset (all of fourier, transforms, adam)": dc.replace(
            base, param="fourier", decorrelate=True, squash="sigmoid", transforms=lucid, optimizer="adam"
        ),
    }
    knobs = ascent.Knobs(steps=steps)
    engines = {
        name: ascent.LayerAscent(params, ascent.Spec(layer, size, method=m), knobs) for name, m in variants.items()
    }
    for engine in engines.values():
        engine([0])  # compile and warm up
    best = dict.fromkeys(engines, 0.0)
    for _ in range(rounds):
        for name, engine in engines.items():
            t = time.perf_counter()
            engine([1])
            best[name] = max(best[name], steps / (time.perf_counter() - t))
    plain = best["pixels (book)"]
    return {name: {"image_steps_per_s": round(v, 2), "relative": round(v / plain, 2)} for name, v in best.items()}
