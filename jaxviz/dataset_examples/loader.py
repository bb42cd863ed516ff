"""Images from a folder, preprocessed as in ImageNet evaluation, decoded by a thread pool ahead of the device.

Pillow releases the GIL while it decodes and resizes, so threads (not processes) overlap decoding with the
device's forward pass without copying images between processes.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from jaxviz.errors import JaxvizError
from jaxviz.runtime.paths import explain

EXTENSIONS = (".jpg", ".jpeg", ".png")
# Pillow warns (Python's own warning, with its source path) about images over 89 million pixels and refuses
# those over twice that; a photo that large is still a photo: read it quietly. The refused ones are skipped
# with a jaxviz warning line like any unreadable file.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
RESIZE_RATIO = 256 / 224  # ImageNet evaluation: shorter side to 256, centre crop 224 (Krizhevsky et al. 2012)


def list_images(root: str | Path, warn: Callable[[str], None] | None = None) -> list[str]:
    """Every JPEG/PNG under `root`, recursively, as POSIX paths relative to it, sorted (a stable order).

    Symlinked folders are followed, each real folder once (a link loop ends there); a folder that cannot be
    read, or a link to nothing, is reported through `warn` (one line each) and left out. Raises JaxvizError
    (one line) when `root` is not a readable directory or holds no JPEG/PNG file.
    """
    root = Path(root)
    if not root.exists():
        raise JaxvizError(f"the image folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise JaxvizError(f"the image folder {str(root)!r} is not a directory")
    try:
        os.listdir(root)
    except OSError as e:
        raise JaxvizError(f"cannot read the image folder {str(root)!r}: {explain(e)}") from None
    say = warn or (lambda _: None)
    found, seen = [], set()

    def unreadable(e: OSError) -> None:
        say(f"skipped the folder {e.filename}: {explain(e)}")

    for folder, dirs, names in os.walk(root, onerror=unreadable, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a link back to a folder already listed (a loop, or two links to one place)
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        for name in names:
            if not name.lower().endswith(EXTENSIONS):
                continue
            path = Path(folder) / name
            if path.is_file():
                found.append(path.relative_to(root).as_posix())
            else:
                say(f"skipped {path}: a link to nothing")
    if not found:
        raise JaxvizError(f"no JPEG or PNG files under {str(root)!r}")
    return sorted(found)


def stamps(root: str | Path, files: Sequence[str]) -> list[str]:
    """Each file's "size:modification time in ns" (a file replaced, or the same names elsewhere, differ);
    "missing" for one that cannot be read any more (it is then skipped when its turn comes)."""
    out = []
    for name in files:
        try:
            st = os.stat(Path(root) / name)
            out.append(f"{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            out.append("missing")
    return out


def to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB: alpha composited over white (a transparent background reads as paper, not
    black), 16/32-bit greyscale scaled from 0-65535 (Pillow's own convert would clip it at 255), CMYK, palette
    and greyscale through Pillow's conversions."""
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        a = np.asarray(im, dtype=np.float64) / 257.0  # 65535 / 257 = 255
        im = Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")
    elif im.mode == "F":
        im = Image.fromarray(np.clip(np.rint(np.asarray(im)), 0, 255).astype(np.uint8), "L")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    return im.convert("RGB")


@dataclass(frozen=True)
class Loaded:
    """One decoded file: `pixels` (size, size, 3) uint8 and the original (width, height), or the `error`."""

    path: str
    pixels: np.ndarray | None = None
    width: int = 0
    height: int = 0
    error: str = ""


def load(root: Path, path: str, size: int) -> Loaded:
    """Decode, orient (EXIF; `width`/`height` stay the stored file's), convert to RGB, shorter side to
    round(size * 256/224) (bilinear; an image smaller than the crop is enlarged), centre crop size x size.
    Never raises: a bad file becomes `error`."""
    try:
        with Image.open(root / path) as im:
            width, height = im.size
            short = max(round(size * RESIZE_RATIO), size)
            scale = short / min(width, height)
            # JPEG decodes straight at 1/2, 1/4 or 1/8 scale when that stays at least as large as the target:
            # several times faster on photos, and the bilinear resize below does the rest.
            im.draft(None, (int(np.ceil(width * scale)), int(np.ceil(height * scale))))
            im = to_rgb(ImageOps.exif_transpose(im))  # a phone photo's "rotate 90" tag honoured, as viewers do
        w, h = im.size
        scale = short / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        im = im.resize((nw, nh), Image.Resampling.BILINEAR)
        left, top = (nw - size) // 2, (nh - size) // 2
        pixels = np.asarray(im.crop((left, top, left + size, top + size)), dtype=np.uint8)
        return Loaded(path, pixels, width, height)
    except OSError as e:
        if e.errno is not None:  # the file system's refusal (permissions, I/O), not Pillow's opinion of the bytes
            return Loaded(path, error=explain(e))
        return Loaded(path, error=str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)
    except Exception as e:  # Pillow raises many types (SyntaxError, ValueError, DecompressionBombError)
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return Loaded(path, error=text)


def decoders(backend: str, cores: int | None = None) -> int:
    """Decoding threads for `backend`: on an accelerator every core (the device computes; decoding is what
    the host does), on CPU one per 8 cores, at least one, because XLA's own threads are computing on them.
    On 2 cores one thread measured 7.4-7.8 images/s end to end against 6.6-7.2 with two (BENCHMARKS.md)."""
    cores = cores or os.cpu_count() or 2
    return cores if backend != "cpu" else max(1, cores // 8)


def batches(
    root: str | Path,
    paths: Sequence[str],
    size: int,
    batch: int,
    workers: int = 0,
    ahead: int = 2,
) -> Iterator[list[Loaded]]:
    """`paths` in order, `batch` files at a time (the last may be shorter), decoded by `workers` threads
    (0: one per core) that keep `ahead` batches decoded in advance. Bad files come back with `error` set."""
    root = Path(root)
    workers = workers or os.cpu_count() or 2
    with cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jaxviz-decode") as pool:
        pending: collections.deque[cf.Future[Loaded]] = collections.deque()
        submit: Callable[[str], cf.Future[Loaded]] = lambda p: pool.submit(load, root, p, size)  # noqa: E731
        nxt = 0
        while nxt < len(paths) or pending:
            while nxt < len(paths) and len(pending) < batch * (ahead + 1):
                pending.append(submit(paths[nxt]))
                nxt += 1
            take = min(batch, len(pending))
            yield [pending.popleft().result() for _ in range(take)]
