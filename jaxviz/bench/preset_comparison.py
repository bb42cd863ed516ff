"""Presets side by side (and a peer's images): seconds per filter and the quality numbers, one table.

Every image set is scored by the same functions (jaxviz.quality) at the same displayed size, so the
numbers compare methods, not tools' own metrics. Peer images (e.g. Lucent's DIR/<layer>/NNNN.png) are
resized to the presets' size; a peer's speed can be timed in the same run through its own command, or read
from the JSON line its run left beside its images (DIR/<layer>.json). A method with transparency maps (MACO's
alpha; a peer's DIR/<layer>/NNNN_alpha.npy) is also scored and shown *with* them, composited over the grids'
light background as jaxviz.show.display shows it ("<method>+alpha"): that is what a reader of a grid sees.
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
    `peers` {name: DIR} adds a peer's images (DIR/<layer>/NNNN.png; a peer that made only some of the filters is
    scored on those, beside every other method on the same ones); `peer_timing` {name: command} times a peer by one
    call of its command at `peer_steps` steps (otherwise DIR/<layer>.json, when there, gives its seconds).
    `variants` {label: (preset, ("section.key=value", ...))} adds a preset with `--set`-style overrides under its
    own label. `alpha`: also score and show every method that has transparency maps with them."""

    presets: Sequence[str]
    layers: Sequence[str]
    filters: Sequence[int]
    size: int
    out: Path
    weights: str = ""
    peers: Mapping[str, Path] = field(default_factory=dict)
    peer_timing: Mapping[str, Sequence[str]] = field(default_factory=dict)
    peer_steps: int = 512
    variants: Mapping[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    alpha: bool = True

    def check(self) -> None:
        """Raise JaxvizError (one line, naming the flag) for an unknown preset or layer, a filter a layer lacks,
        a size out of range, a peer folder or command that is not there, or an output folder that is a file;
        needs no JAX and reads no weights."""
        from jaxviz import config as config_lib
        from jaxviz.config import presets

        valid = presets.names()
        if not self.presets and not self.variants:
            raise JaxvizError(f"--presets is empty; valid presets: {', '.join(valid)}")
        for name in self.presets:
            if name not in valid:
                raise JaxvizError(f"--presets: unknown preset {name!r}; valid presets: {', '.join(valid)}")
        labels = list(self.presets)
        for label, (preset, sets) in self.variants.items():
            if preset not in valid:
                raise JaxvizError(f"--variant {label}: unknown preset {preset!r}; valid presets: {', '.join(valid)}")
            if label in labels or label in self.peers:
                raise JaxvizError(f"--variant {label}: the label is already a method's; give it another")
            labels.append(label)
            config_lib.apply(config_lib.load(presets.path(preset)), config_lib.parse_overrides(list(sets)))
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
    """The set's summary (quality.summarize, `live`, the mean high-frequency energy) and its `per_filter` rows."""
    from jaxviz import quality
    from jaxviz.quality.scores import high_frequency

    rows = quality.evaluate(params, layer, images, filters)
    hf = high_frequency(images)
    per_filter = [{"filter": f, **r, "high_frequency": float(h)} for f, r, h in zip(filters, rows, hf)]
    live = sum(r["display_activation"] > DEAD_EPS for r in rows) / len(rows)
    return {**quality.summarize(rows), "live": live, "high_frequency_mean": float(hf.mean()), "per_filter": per_filter}


def run_preset(
    preset: str, layer: str, filters: list[int], size: int, weights: str, overrides: Sequence[str] = ()
) -> tuple[np.ndarray, np.ndarray | None, float]:
    """The preset's images of `filters` (made at the preset's own size with `overrides` ("section.key=value"),
    first image per filter, resized to `size` for scoring), the same images with their transparency maps composited
    over the grids' background (None when the method keeps none), and seconds per filter, compile and warm-up
    excluded (a 1-step run of one filter first compiles every shape the run needs)."""
    import jaxviz.api as jaxviz  # the notebook API, as a user calls it
    from jaxviz import config as config_lib
    from jaxviz.show import display

    settings = {"weights": weights, "quality": False, "progress": False}  # its own lines say what runs
    dotted = config_lib.parse_overrides(list(overrides))
    jaxviz.visualize(layer, filters[:1], preset=preset, overrides={**dotted, "ascent.steps": 1}, **settings)
    t = time.perf_counter()
    r = jaxviz.visualize(layer, filters, preset=preset, overrides=dotted, **settings)
    seconds = (time.perf_counter() - t) / len(filters)
    side = r.config.ascent.size
    images = np.stack([_resized(im[:, :side], size) for im in r.images])
    if r.alpha is None:
        return images, None, seconds
    shown = display.over_background(r.rgba())
    return images, np.stack([_resized(im[:, :side], size) for im in shown]), seconds


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


def peer_filters(folder: Path, filters: list[int]) -> list[int]:
    """Which of `filters` a peer made: those with a NNNN.png in `folder`."""
    return [f for f in filters if (folder / f"{f:04d}.png").is_file()]


def peer_alpha(folder: Path, filters: list[int], size: int) -> np.ndarray | None:
    """A peer's images with their transparency maps (NNNN_alpha.npy: (H, W) raw, >= 0, e.g. Horama's accumulator
    summed over colour) shown as jaxviz shows its own (display.alpha_for_display, composited over the grids'
    background), resized to `size`; None if any map is missing or does not fit its image."""
    from jaxviz.show import display

    out = []
    for f in filters:
        path = folder / f"{f:04d}_alpha.npy"
        if not path.is_file():
            return None
        image = np.asarray(Image.open(folder / f"{f:04d}.png").convert("RGB"))
        alpha = np.load(path)
        if alpha.shape != image.shape[:2]:
            return None
        out.append(_resized(display.over_background(display.with_alpha(image, display.alpha_for_display(alpha))), size))
    return np.stack(out)


def peer_json_seconds(path: Path) -> float | None:
    """Seconds per filter from a peer's JSON line (its `seconds_per_filter`, or `seconds` over `filters`, as
    the Lucent and Horama peer scripts print); None when the file is missing or says neither."""
    try:
        record = json.loads(Path(path).read_text().strip().splitlines()[-1])
        if "seconds_per_filter" in record:
            return float(record["seconds_per_filter"])
        return float(record["seconds"]) / int(record["filters"])
    except (OSError, ValueError, KeyError, IndexError, TypeError, ZeroDivisionError):
        return None


def peer_seconds(command: list[str], full_steps: int) -> float | None:
    """Seconds per filter of a peer at `full_steps`, from one timed call (its JSON `image_steps_per_s`)."""
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=3600, check=True).stdout
        rate = json.loads(out.strip().splitlines()[-1])["image_steps_per_s"]
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, IndexError):
        return None
    return full_steps / rate


def compare(study: Comparison) -> list[dict]:
    """Run every preset and variant of `study` on every layer and read every peer's images; write OUT/compare.json,
    OUT/compare.md, OUT/<layer>.png (methods in rows), OUT/<layer>_sheet.png and OUT/sheet.png (labelled contact
    sheets: a row per filter, a column per method) and OUT/<layer>.npz (every image set, by method). Returns one row
    per (layer, method, filters): seconds per filter, the quality numbers and the high-frequency energy; a peer that
    made only some filters adds rows for every method on those. Raises JaxvizError (one line) as
    `Comparison.check` does, or for weights that cannot be found or read."""
    from jaxviz.model.weights import find_and_load

    study.check()
    params = find_and_load(study.weights, True)
    filters, size, out = list(study.filters), study.size, Path(study.out)
    runs = {name: (name, ()) for name in study.presets} | dict(study.variants)
    rows, sheets, order = [], [], []
    for layer in study.layers:
        sets: dict[str, dict[int, np.ndarray]] = {}  # method -> {filter: image as displayed, `size` px}
        seconds: dict[str, float | None] = {}
        for label, (preset, overrides) in runs.items():
            images, shown, seconds[label] = run_preset(preset, layer, filters, size, study.weights, overrides)
            sets[label] = dict(zip(filters, images))
            if shown is not None and study.alpha:
                sets[f"{label}+alpha"], seconds[f"{label}+alpha"] = dict(zip(filters, shown)), seconds[label]
        for name, folder in study.peers.items():
            made = peer_filters(Path(folder) / layer, filters)
            if not made:
                continue
            sets[name] = dict(zip(made, peer_images(Path(folder) / layer, made, size)))
            timing = study.peer_timing.get(name)
            seconds[name] = (
                peer_seconds([*timing, "--layer", layer], study.peer_steps)
                if timing
                else peer_json_seconds(Path(folder) / f"{layer}.json")
            )
            shown = peer_alpha(Path(folder) / layer, made, size) if study.alpha else None
            if shown is not None:
                sets[f"{name}+alpha"], seconds[f"{name}+alpha"] = dict(zip(made, shown)), seconds[name]
        order += [m for m in sets if m not in order]
        scopes = [filters] + sorted({tuple(sorted(s)) for s in sets.values() if len(s) < len(filters)})
        for scope in map(list, scopes):
            for method, images in sets.items():
                if not set(scope) <= set(images):
                    continue
                stack = np.stack([images[f] for f in scope])
                row = {"layer": layer, "method": method, "filters": scope, "seconds_per_filter": seconds[method]}
                rows.append({**row, **_score(params, layer, stack, scope)})
        full = [m for m, images in sets.items() if len(images) == len(filters)]
        save_png(out / f"{layer}.png", grid(np.stack([sets[m][f] for m in full for f in filters]), len(filters), 4))
        sheets.append(contact_sheet(sets, filters, layer))
        save_png(out / f"{layer}_sheet.png", sheets[-1])
        np.savez_compressed(
            out / f"{layer}.npz",
            filters=np.asarray(filters),
            **{f"{m}__filters": np.asarray(list(v)) for m, v in sets.items()},
            **{m: np.stack(list(v.values())) for m, v in sets.items()},
        )
    save_png(out / "sheet.png", stacked(sheets))
    atomic_write(out / "compare.json", (json.dumps(rows, indent=1) + "\n").encode())
    atomic_write(out / "compare.md", table(rows, order).encode())
    return rows


# Contact sheets: a white page, tiles apart by a margin, labels in the default font (Pillow's, no file needed).
PAGE, INK, MARGIN, FONT_PX = 255, 20, 6, 13


def contact_sheet(sets: Mapping[str, Mapping[int, np.ndarray]], filters: Sequence[int], title: str) -> np.ndarray:
    """A labelled picture of image sets, uint8 (H, W, 3): `title` on top, then a header row naming each method (a
    "+" starts a second line) and one row per filter ("filter N" at the left), a column per method in `sets`' order.
    `sets` {method: {filter: (S, S, 3) uint8}}, every image the same size; a filter a method lacks is left blank
    (the page). Raises ValueError for no sets, no filters, or images of different shapes."""
    from PIL import ImageDraw, ImageFont

    tiles = [im for images in sets.values() for im in images.values()]
    if not tiles or not filters:
        raise ValueError("a contact sheet needs at least one image set and one filter")
    if len({im.shape for im in tiles}) != 1 or tiles[0].ndim != 3:
        raise ValueError(
            f"a contact sheet's images must share one (S, S, 3) shape, got {sorted({im.shape for im in tiles})}"
        )
    h, w = tiles[0].shape[:2]
    font = ImageFont.load_default(FONT_PX)
    left, top = 8 * FONT_PX // 2 + MARGIN, 4 * FONT_PX + 2 * MARGIN  # room for "filter 511" and title + 2 lines
    page = Image.new("RGB", (left + len(sets) * (w + MARGIN), top + len(filters) * (h + MARGIN)), (PAGE,) * 3)
    draw = ImageDraw.Draw(page)
    draw.text((MARGIN, MARGIN // 2), title, fill=(INK,) * 3, font=font)
    for c, (method, images) in enumerate(sets.items()):
        x = left + c * (w + MARGIN)
        head, plus, rest = method.partition("+")
        draw.text((x, FONT_PX + MARGIN), head, fill=(INK,) * 3, font=font)
        draw.text((x, 2 * FONT_PX + MARGIN + 2), plus + rest, fill=(INK,) * 3, font=font)
        for r, f in enumerate(filters):
            if f in images:
                page.paste(Image.fromarray(np.asarray(images[f], np.uint8)), (x, top + r * (h + MARGIN)))
    for r, f in enumerate(filters):
        draw.text(
            (MARGIN // 2, top + r * (h + MARGIN) + h // 2 - FONT_PX // 2), f"filter {f}", fill=(INK,) * 3, font=font
        )
    return np.asarray(page)


def stacked(pictures: Sequence[np.ndarray]) -> np.ndarray:
    """Pictures (H_i, W_i, 3) uint8 one above the other, left-aligned on the contact sheets' page colour."""
    width = max(p.shape[1] for p in pictures)
    padded = [np.pad(p, ((0, MARGIN), (0, width - p.shape[1]), (0, 0)), constant_values=PAGE) for p in pictures]
    return np.concatenate(padded)


def _span(filters: Sequence[int]) -> str:
    """Filters as a reader writes them: "0-7" for a run of consecutive ones, else "0,3,5"."""
    f = list(filters)
    if len(f) > 1 and f == list(range(f[0], f[-1] + 1)):
        return f"{f[0]}-{f[-1]}"
    return ",".join(map(str, f))


def table(rows: list[dict], order: list[str]) -> str:
    """A Markdown table: one row per (layer, filters, method); the layer's whole filter range first."""

    def fmt(x: float | None, spec: str) -> str:
        return "n/a" if x is None else format(x, spec)

    head = "| layer | filters | method | s / filter | activation as displayed | robustness | selectivity | live "
    head += "| HF energy |\n|---|---|---|---|---|---|---|---|---|\n"
    lines = []
    key = lambda r: (r["layer"], -len(r.get("filters", ())), r.get("filters", []), order.index(r["method"]))  # noqa: E731
    for r in sorted(rows, key=key):
        lines.append(
            f"| {r['layer']} | {_span(r.get('filters', []))} | {r['method']} | {fmt(r['seconds_per_filter'], '.1f')} | "
            f"{r['display_activation_mean']:.1f} | {fmt(r['robustness_mean'], '.2f')} | "
            f"{fmt(r['selectivity'], '.2f')} | {r['live']:.2f} | {fmt(r.get('high_frequency_mean'), '.3f')} |"
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
