"""MACO's magnitude template: the mean Fourier magnitude of natural images, per decorrelated colour channel.

MACO (Fel et al., "Unlocking Feature Visualization for Deeper Networks with MAgnitude Constrained
Optimization", NeurIPS 2023) optimises only the phase of an image's spectrum; the magnitude stays fixed to this
template. This module is the one place that makes, resizes, writes and reads it.

Convention (the one Xplique's `spectrum_decorrelated.npy` follows, so that file loads and compares): pixels in
[0, 1] (centred here: minus 0.5, which changes only the zero-frequency bin), mapped into the decorrelated colour
space by the inverse of the recorrelation the renderers apply (`u @ COLOR.T`, jaxviz.ascent.params; Xplique and
Horama use the same matrix, Lucid's), then `rfft2` per channel over an H x H image, |.|, averaged over images:
an array (3, H, H // 2 + 1), unnormalised (numpy's forward FFT), rows in FFT order (row 0 = zero frequency).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

from jaxviz.ascent.params import COLOR
from jaxviz.errors import JaxvizError
from jaxviz.runtime import files
from jaxviz.runtime.paths import input_file

FORMAT = "jaxviz-spectrum"
VERSION = 1  # of the file format; a file of another version is refused by name
DEFAULT_SOURCE = "jaxviz default"
MIN_SIZE = 4  # smaller templates have no frequencies left to speak of
# RGB (centred, 0-1) -> the decorrelated space the renderers recolour from (row vectors: rgb @ _DECORRELATE)
_DECORRELATE = np.linalg.inv(COLOR.T.astype(np.float64))


def check_array(array: np.ndarray, what: str) -> np.ndarray:
    """`array` as a read-only C-contiguous float32 (3, H, H // 2 + 1) template; JaxvizError (one line, naming
    `what`) when it has another shape, holds NaN, infinity or a negative value, or is zero at every frequency but
    the constant one (its images would be flat: MACO's standardisation then divides zero by zero)."""
    a = np.asarray(array)
    if a.dtype.kind not in "fiu":
        raise JaxvizError(f"{what} holds {a.dtype} values, not numbers")
    if a.ndim != 3 or a.shape[0] != 3 or a.shape[1] < MIN_SIZE or a.shape[2] != a.shape[1] // 2 + 1:
        raise JaxvizError(
            f"{what} has shape {a.shape}, not (3, H, H // 2 + 1) with H >= {MIN_SIZE} "
            "(the rfft2 magnitude of H x H images per colour channel)"
        )
    a = np.ascontiguousarray(a, dtype=np.float32)
    if not np.isfinite(a).all():
        raise JaxvizError(f"{what} holds NaN or infinite values")
    if (a < 0).any():
        raise JaxvizError(f"{what} holds negative values; a magnitude is >= 0")
    if not (a[:, 1:, :].any() or a[:, 0, 1:].any()):
        raise JaxvizError(f"{what} is zero at every frequency but 0 (a flat image has no phase to optimise)")
    a.flags.writeable = False
    return a


def fingerprint_of(array: np.ndarray) -> str:
    """sha256 hex of a float32 C-order array's shape and little-endian bytes (what a run records)."""
    a = np.ascontiguousarray(array, dtype="<f4")
    h = hashlib.sha256(repr(tuple(a.shape)).encode())
    h.update(a.tobytes())
    return h.hexdigest()


@dataclass(frozen=True, eq=False)
class Magnitude:
    """A magnitude template: `array` (3, H, H // 2 + 1) float32 >= 0, the mean |rfft2| per decorrelated colour
    channel of H x H images (the module docstring's convention); `fingerprint` sha256 of it (computed when left
    empty; a wrong one raises ValueError); `source` what it was made from; `images` how many (0: unknown).

    Equal and hashed by fingerprint, so a method holding one stays hashable and keys a compiled program.
    Raises JaxvizError (one line) for an array of the wrong shape, NaN/inf or negative values.
    """

    array: np.ndarray
    fingerprint: str = ""
    source: str = ""
    images: int = 0

    def __post_init__(self) -> None:
        a = check_array(self.array, f"the magnitude template{f' ({self.source})' if self.source else ''}")
        object.__setattr__(self, "array", a)
        fp = fingerprint_of(a)
        if self.fingerprint and self.fingerprint != fp:
            raise ValueError(f"fingerprint {self.fingerprint[:12]} does not match the array's {fp[:12]}")
        object.__setattr__(self, "fingerprint", fp)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Magnitude) and other.fingerprint == self.fingerprint

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __repr__(self) -> str:
        return f"Magnitude(size={self.size}, source={self.source!r}, fingerprint={self.fingerprint[:12]})"

    @property
    def size(self) -> int:
        """H: the side of the square images it describes."""
        return int(self.array.shape[1])

    def resized(self, size: int) -> np.ndarray:
        """The template for `size` x `size` images: (3, size, size // 2 + 1) float32, read-only, cached.

        As MACO's sources do (Horama 0.3.0 `init_maco_buffer`: bilinear, antialiased, half-pixel centres;
        Xplique's `init_maco_buffer` the same without antialiasing), the half-spectrum array is resized as an
        image of its own, values unchanged: bin (i, j) of H goes to (i, j) * size / H, the same frequency in
        cycles per pixel, the same scale convention. Only the shape matters to MACO (its renderer
        standardises the image after the inverse FFT). Pillow's bilinear filter widens with the shrink factor
        (an antialiased resize, as Horama's). Raises ValueError for size < MIN_SIZE.
        """
        return _resized(self, int(size))


@functools.lru_cache(maxsize=16)
def _resized(m: Magnitude, size: int) -> np.ndarray:
    if size < MIN_SIZE:
        raise ValueError(f"template size {size} < {MIN_SIZE}")
    shape = (size, size // 2 + 1)
    if m.array.shape[1:] == shape:
        return m.array
    out = np.stack(
        [
            np.asarray(Image.fromarray(ch).resize((shape[1], shape[0]), Image.Resampling.BILINEAR))  # float32: "F"
            for ch in m.array
        ]
    )
    out = np.maximum(out, 0.0).astype(np.float32)  # bilinear weights are >= 0; guards rounding only
    out.flags.writeable = False
    return out


class Accumulator:
    """A streamed mean of |rfft2| over images of one size: `add` batches, then `result`.

    Sums in float64 so a million images lose nothing to rounding; memory is one template.
    """

    def __init__(self, size: int):
        if size < MIN_SIZE:
            raise JaxvizError(f"the template size {size} is too small: give at least {MIN_SIZE}")
        self.size = int(size)
        self.count = 0
        self._sum = np.zeros((3, self.size, self.size // 2 + 1), np.float64)

    def add(self, images: np.ndarray) -> None:
        """Add `images`: (n, size, size, 3) or one (size, size, 3), RGB 0-255 (uint8 or float).

        Raises JaxvizError (one line) for another shape, or NaN/inf values."""
        x = np.asarray(images)
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or x.shape[1:] != (self.size, self.size, 3):
            raise JaxvizError(
                f"an image of shape {tuple(np.shape(images))} cannot join a template of "
                f"{self.size} x {self.size} RGB images (expected (n, {self.size}, {self.size}, 3))"
            )
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            raise JaxvizError("an image holds NaN or infinite values")
        # float32 FFTs over the last axes (numpy >= 2 keeps single precision): 7x faster than float64 at 512 px,
        # and the mean of 1e6 magnitudes is still summed in float64.
        u = (x.astype(np.float32) / np.float32(255.0) - np.float32(0.5)) @ _DECORRELATE.astype(np.float32)
        u = np.ascontiguousarray(u.transpose(0, 3, 1, 2))  # (n, 3, H, W) decorrelated, centred
        self._sum += np.abs(np.fft.rfft2(u)).sum(axis=0, dtype=np.float64)
        self.count += x.shape[0]

    def result(self, source: str) -> Magnitude:
        """The mean so far as a Magnitude; JaxvizError when no image was added."""
        if self.count == 0:
            raise JaxvizError(f"no images to make a magnitude template from ({source})")
        return Magnitude(self._sum / self.count, source=source, images=self.count)


def from_images(images: Iterable[np.ndarray], size: int, source: str = "images") -> Magnitude:
    """The template of `images` (each (size, size, 3) or a batch (n, size, size, 3), RGB 0-255), streamed:
    one image's spectrum in memory at a time. Raises JaxvizError for none, a wrong shape or NaN."""
    acc = Accumulator(size)
    for im in images:
        acc.add(im)
    return acc.result(source)


def radial_slope(m: Magnitude, band: tuple[float, float] = (1 / 32, 1 / 4)) -> float:
    """The log-log slope of the radially averaged power |A|^2 against frequency, over `band` in cycles per pixel.

    Natural images' power falls as 1/f^2 (Field 1987, J. Opt. Soc. Am. A 4:2379; van der Schaaf & van Hateren
    1996, Vision Res. 36:2759: exponents 1.88 +- 0.43), so the slope is near -2 (-1 for the magnitude). The band
    leaves out the lowest frequencies (a few rings, dominated by each photo's layout) and the top quarter
    (resampling and JPEG compression cut it). Rings of width one bin are averaged over every channel and bin of
    the half-spectrum, then a least-squares line through (log f, log power). Raises ValueError when fewer than
    three rings fall in the band (a template too small for it).
    """
    h = m.size
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(h)[None, :]
    ring = np.rint(np.sqrt(fx * fx + fy * fy) * h).astype(int)  # radius in cycles per image
    power = (m.array.astype(np.float64) ** 2).mean(axis=0)
    total = np.bincount(ring.ravel(), power.ravel())
    count = np.bincount(ring.ravel())
    k = np.arange(len(total))
    f = k / h
    use = (f >= band[0]) & (f <= band[1]) & (count > 0)
    if use.sum() < 3:
        raise ValueError(f"a {h} px template has {int(use.sum())} frequency rings in {band}; need 3")
    slope = np.polyfit(np.log(f[use]), np.log(total[use] / count[use]), 1)[0]
    return float(slope)


# The file: an .npz (numpy's zip of arrays) of the float32 template, the image count, and a JSON header (format,
# version, source, fingerprint) that `load` checks, so a truncated or edited file is reported as damaged.
_KEYS = ("magnitude", "images", "header")


def save(m: Magnitude, path: str | Path) -> None:
    """Write `m` to `path` atomically (a reader sees the old file or the whole new one): jaxviz's .npz, or, for a
    name ending in .npy, the bare (3, H, H // 2 + 1) float32 array, as Xplique's and Horama's templates are (what
    those tools and a plain np.load read; `load` takes it back, without the header's check).
    Raises WriteError (one line) when the system refuses the write."""
    if str(path).lower().endswith(".npy"):
        buf = io.BytesIO()
        np.save(buf, np.asarray(m.array, np.float32))
        files.atomic_write(path, buf.getvalue())
        return
    header = {"format": FORMAT, "version": VERSION, "source": m.source, "fingerprint": m.fingerprint}
    buf = io.BytesIO()
    np.savez(buf, magnitude=m.array, images=np.int64(m.images), header=np.asarray(json.dumps(header)))
    files.atomic_write(path, buf.getvalue())


def load(path: str | Path) -> Magnitude:
    """The template in `path`: a file `save` wrote (.npz), or a bare .npy array (3, H, H // 2 + 1) in this
    module's convention (e.g. Xplique's `spectrum_decorrelated.npy`). `source` is the path as given.

    Raises JaxvizError (one line): missing or unreadable, not a template file, damaged, another format
    version, wrong shape, NaN/inf or negative values.
    """
    p = input_file(path, "the magnitude template")
    what = f"the magnitude template {str(path)!r}"
    try:
        with open(p, "rb") as f:
            magic = f.read(6)
    except OSError as e:
        raise JaxvizError(f"cannot read {what}: {files.reason(e)}") from None
    if magic == b"\x93NUMPY":
        try:
            array = np.load(p, allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            why = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise JaxvizError(f"{what} is not a readable .npy array ({why})") from None
        return Magnitude(check_array(array, what), source=str(path))
    if not zipfile.is_zipfile(p):
        raise JaxvizError(
            f"{what} is neither a template written by jaxviz-spectrum (.npz) nor a .npy array (3, H, H // 2 + 1)"
        )
    z = files.read_npz(p, _KEYS)
    if z is None:
        raise files.damaged(path, "a magnitude template file with missing or unreadable parts")
    try:
        header = json.loads(str(z["header"]))
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise files.damaged(path, "its header is not a jaxviz magnitude template's")
    if header.get("version") != VERSION:
        raise JaxvizError(
            f"{what} has format version {header.get('version')!r}; this jaxviz reads version {VERSION}: "
            "make it again with jaxviz-spectrum"
        )
    array = check_array(z["magnitude"], what)
    if fingerprint_of(array) != header.get("fingerprint"):
        raise files.damaged(path, "its values do not match the fingerprint it was written with")
    return Magnitude(array, header["fingerprint"], str(path), int(z["images"]))


@functools.lru_cache(maxsize=1)
def default() -> Magnitude:
    """The template shipped with jaxviz (jaxviz/ascent/data/spectrum_default.npz, made by `jaxviz-spectrum` from
    the public-domain and CC0 photographs beside it; docs/spectrum.md), source "jaxviz default"."""
    ref = resources.files("jaxviz.ascent") / "data" / "spectrum_default.npz"
    with resources.as_file(ref) as p:
        m = load(p)
    return Magnitude(m.array, m.fingerprint, DEFAULT_SOURCE, m.images)
