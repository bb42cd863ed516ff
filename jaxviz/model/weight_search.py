"""Find VGG16 weights (explicit path, $JAXVIZ_WEIGHTS, Keras' cache, jaxviz's cache) or download them."""

from __future__ import annotations

import hashlib
import os
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from jaxviz.errors import JaxvizError
from jaxviz.runtime.paths import explain, input_file

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"


@dataclass(frozen=True)
class KerasFile:
    """One of Keras' published VGG16 weight files."""

    name: str
    md5: str
    size: int

    @property
    def url(self) -> str:
        return _BASE + self.name


# What a weights path may be, for the errors that refuse one.
FORMATS = "a Keras VGG16 .h5, .weights.h5 or .keras file, or a .msgpack written by jaxviz-convert-weights"
NOTOP = KerasFile("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "6d6bbae143d832006294945121d1f1fc", 58889256)
TOP = KerasFile("vgg16_weights_tf_dim_ordering_tf_kernels.h5", "64373286793e3c8b2b4e3219cbf3544b", 553467096)


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded models ($KERAS_HOME/models, default ~/.keras/models)."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "models"


def jaxviz_cache_dir() -> Path:
    """Where jaxviz downloads to ($JAXVIZ_CACHE, else $XDG_CACHE_HOME/jaxviz, else ~/.cache/jaxviz)."""
    if os.environ.get("JAXVIZ_CACHE"):
        return Path(os.environ["JAXVIZ_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jaxviz"


def download_allowed() -> bool:
    return os.environ.get("JAXVIZ_NO_DOWNLOAD", "") in ("", "0")


def check_is_file(path: Path, what: str) -> None:
    """Raise a one-line JaxvizError unless `path` is a readable file, with the real cause (a folder, a broken
    link, missing, permissions, ...; see paths.input_file); `what` says where the path came from."""
    inside = Path(path) / "model.weights.h5"  # what `model.save(dir, zipped=False)` writes
    hint = f" (an unzipped Keras model? pass {str(inside)!r})" if inside.is_file() else ""
    input_file(path, what, f"{hint}; expected {FORMATS}", noun="weights file")


# How random weights of the right shapes (weights.random_params) are described where no file was found: the
# benchmark and the device check run on them, and say so.
RANDOM = "random (no weights file found: same speed as ImageNet's, but the pictures mean nothing)"


class FoundWeights(NamedTuple):
    """A weights file and how it was found, in words ("given", "from $JAXVIZ_WEIGHTS", "in Keras' cache", ...)."""

    path: Path
    how: str


def find_local_weights(explicit: str = "", include_top: bool = False) -> FoundWeights | None:
    """The weights file on this machine, in the documented order (`explicit`, $JAXVIZ_WEIGHTS, Keras' cache,
    jaxviz's cache), and how it was found; None when no path was named and neither cache holds one.

    Never downloads, never imports JAX: commands check a named file with it before anything else. Raises
    JaxvizError (one line) when `explicit` or $JAXVIZ_WEIGHTS is not a readable file (the real cause named), or
    a cache folder cannot be entered.
    """
    if explicit:
        path = Path(explicit).expanduser()
        check_is_file(path, "weights file")
        return FoundWeights(path, "given")
    env = os.environ.get("JAXVIZ_WEIGHTS", "")
    if env:
        path = Path(env).expanduser()
        check_is_file(path, "JAXVIZ_WEIGHTS file")
        return FoundWeights(path, "from $JAXVIZ_WEIGHTS")
    for spec in [TOP] if include_top else [NOTOP, TOP]:
        for folder, where in ((keras_cache_dir(), "Keras' cache"), (jaxviz_cache_dir(), "jaxviz's cache")):
            try:
                if (folder / spec.name).is_file():
                    return FoundWeights(folder / spec.name, f"in {where}")
            except OSError as e:  # a cache folder this user may not enter: say so rather than look past it
                raise JaxvizError(f"cannot look in the weights cache {str(folder)!r}: {explain(e)}") from None
    return None


def find_weights(explicit: str = "", include_top: bool = False, download: bool = True) -> FoundWeights:
    """The weights file to use (`find_local_weights`) and how it was found; downloads only as the last resort.

    Raises JaxvizError (one line) as find_local_weights does, or when nothing is found and downloading is off
    (`download` false or $JAXVIZ_NO_DOWNLOAD set) or fails (its real cause named).
    """
    found = find_local_weights(explicit, include_top)
    if found is not None:
        return found
    spec = TOP if include_top else NOTOP
    target = jaxviz_cache_dir() / spec.name
    options = (
        f"pass --weights PATH (or model.weights in the config), set JAXVIZ_WEIGHTS, or put Keras' "
        f"{spec.name} in {keras_cache_dir()}"
    )
    if not (download and download_allowed()):
        raise JaxvizError(f"no VGG16 weights found and downloading is off: {options}")
    try:
        return FoundWeights(download_file(spec.url, target, spec.md5, spec.size), "downloaded from Keras' site")
    except (urllib.error.URLError, OSError) as e:
        raise JaxvizError(f"no VGG16 weights found and download failed ({_network_reason(e)}): {options}") from None


def _network_reason(error: Exception) -> str:
    """Why a download failed, in the user's terms: no network (the name did not resolve), or the OS's errno."""
    reason = getattr(error, "reason", None) or error
    host = urllib.parse.urlsplit(_BASE).hostname
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve {host}: no network, or no DNS here ({reason.strerror or reason})"
    if isinstance(reason, OSError) and reason.errno is not None:
        return f"cannot reach {host}: {explain(reason)}"
    return str(reason)


def download_file(url: str, target: Path, md5: str, size: int) -> Path:
    """Download `url` to `target`, checking size and md5 before the atomic rename into place (files.atomic_file);
    a corrupt or interrupted download leaves nothing behind."""
    from jaxviz.runtime.files import atomic_file

    digest, got = hashlib.md5(), 0
    with atomic_file(target) as out, urllib.request.urlopen(url, timeout=60) as response:
        print(f"jaxviz: downloading {url}", file=sys.stderr)
        while chunk := response.read(1 << 20):
            out.write(chunk)
            digest.update(chunk)
            got += len(chunk)
        if got != size or digest.hexdigest() != md5:
            raise JaxvizError(
                f"download of {url} is corrupt: {got} bytes, md5 {digest.hexdigest()} "
                f"(expected {size} bytes, md5 {md5}); nothing was kept"
            )
    return target
