"""Presets side by side (and a peer's images): seconds per filter and the quality numbers, one table.

Every image set is scored by the same functions (jaxviz.quality) at the same displayed size, so the
numbers compare methods, not tools' own metrics. Peer images (e.g. Lucent's DIR/<layer>/NNNN.png) are
resized to the presets' size; a peer's speed can be timed in the same run through its own command.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from jaxviz.ascent.records import DEAD_EPS
from jaxviz.errors import JaxvizError
from jaxviz.model.architecture import CONV_LAYERS, CONV_WIDTHS, min_size
from jaxviz.runtime.files import atomic_write
from jaxviz.runtime.images import grid, save_png
from jaxviz.runtime.paths import output_dir

# px: the largest displayed size images are scored at. The presets make theirs at 128-150 px and the scores run
# VGG16 on the resized images, whose first layers' activations grow with the square of the side (block1 alone:
# 1024 * 1024 * 64 float32 = 256 MiB an image); beyond this a comparison measures the resize, not the methods.
MAX_SIZE = 1024


@dataclass(frozen=True)
class Comparison:
    """One side-by-side study: every preset of `presets` on `filters` of every layer of `layers`, each image set
    scored at `size` px, written into `out`; with the `weights` ("" to search, downloading if none is found).
    `peers` {name: DIR} adds a peer's images (DIR/<layer>/NNNN.png); `peer_timing` {name: command} times a
    peer by one call of its command at `peer_steps` steps."""

    presets: Sequence[str]
    layers: Sequence[str]
    filters: Sequence[int]
    size: int
    out: Path
    weights: str = ""
    peers: Mapping[str, Path] = field(default_factory=dict)
    peer_timing: Mapping[str, Sequence[str]] = field(default_factory=dict)
    peer_steps: int = 512

    def check(self) -> None:
        """Raise JaxvizError (one line, naming the flag) for an unknown preset or layer, a filter a layer lacks,
        a size out of range, a peer folder or command that is not there, or an output folder that is a file;
        needs no JAX and reads no weights."""
        from jaxviz.config import presets

        valid = presets.names()
        if not self.presets:
            raise JaxvizError(f"--presets is empty; valid presets: {', '.join(valid)}")
        for name in self.presets:
            if name not in valid:
                raise JaxvizError(f"--presets: unknown preset {name!r}; valid presets: {', '.join(valid)}")
        if not self.layers:
            raise JaxvizError(f"--layers is empty; valid layers: {', '.join(CONV_LAYERS)}")
        for layer in self.layers:
            if layer not in CONV_LAYERS:
                raise JaxvizError(f"--layers: unknown layer {layer!r}; valid layers: {', '.join(CONV_LAYERS)}")
            if self.filters and max(self.filters) >= CONV_WIDTHS[layer]:
                last = CONV_WIDTHS[layer] - 1
                raise JaxvizError(f"--filters: filter {max(self.filters)} is out of range for {layer} (0..{last})")
        if not self.filters:
            raise JaxvizError("--filters is empty")
        need = max(min_size(layer) for layer in self.layers)
        if not need <= self.size <= MAX_SIZE:
            raise JaxvizError(f"--size must be {need} to {MAX_SIZE} px for these layers, got {self.size}")
        for name, folder in self.peers.items():
            if not Path(folder).is_dir():
                raise JaxvizError(f"--{name} {str(folder)!r} is not a directory")
        for name, command in self.peer_timing.items():
            if shutil.which(command[0]) is None:
                raise JaxvizError(f"--{name}-python {command[0]!r} is not a program that can be run")
            if not Path(command[1]).is_file():
                raise JaxvizError(f"--{name}-script {command[1]!r} is not a file")
        output_dir(self.out, "--out")


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


def compare(study: Comparison) -> list[dict]:
    """Run every preset of `study` on every layer; write OUT/compare.json, OUT/compare.md and OUT/<layer>.png.
    Returns one row per (layer, method): seconds per filter and the quality numbers. Raises JaxvizError (one
    line) as `Comparison.check` does, or for weights that cannot be found or read."""
    from jaxviz.model.weights import find_and_load

    study.check()
    params = find_and_load(study.weights, True)
    presets, filters, size, out = list(study.presets), list(study.filters), study.size, Path(study.out)
    rows, strips = [], {}
    for layer in study.layers:
        sets = {}
        for preset in presets:
            images, seconds = run_preset(preset, layer, filters, size, study.weights)
            sets[preset] = images
            rows.append(
                {
                    "layer": layer,
                    "method": preset,
                    "seconds_per_filter": seconds,
                    **_score(params, layer, images, filters),
                }
            )
        for name, folder in study.peers.items():
            images = peer_images(Path(folder) / layer, filters, size)
            if images is None:
                continue
            sets[name] = images
            timing = study.peer_timing.get(name)
            seconds = peer_seconds([*timing, "--layer", layer], study.peer_steps) if timing else None
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
    atomic_write(out / "compare.md", table(rows, presets + list(study.peers)).encode())
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
