"""Shared fixtures: the real weights when present (else a synthetic Keras-layout file), no downloads."""

from __future__ import annotations

import collections
import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ["JAXVIZ_NO_DOWNLOAD"] = "1"  # tests never download anything
# One persistent compilation cache for this test session and the scripts it starts: each program compiles once
# (a test that wants another cache, or none, sets the variable for its own process).
os.environ.setdefault("JAXVIZ_COMPILE_CACHE", tempfile.mkdtemp(prefix="jaxviz-test-xla-"))

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "weights" / "vgg16_keras_imagenet_notop.h5"


def write_keras2_h5(path: Path, seed: int = 0, skip: str = "", bad_shape: str = "") -> Path:
    """A Keras 2 `save_weights`-layout VGG16 notop file with random weights (names from vgg.py)."""
    from jaxviz.model.architecture import BLOCK_WIDTHS

    rng = np.random.default_rng(seed)
    names, cin = [], 3
    with h5py.File(path, "w") as f:
        for b, widths in enumerate(BLOCK_WIDTHS, 1):
            for c, width in enumerate(widths, 1):
                name = f"block{b}_conv{c}"
                shape = (3, 3, cin, width + (name == bad_shape))
                cin = width
                if name == skip:
                    continue
                names.append(name)
                g = f.create_group(name)
                g.attrs["weight_names"] = [f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()]
                g.create_dataset(
                    f"{name}/kernel:0", data=rng.normal(0, np.sqrt(2 / (9 * shape[2])), shape).astype("f4")
                )
                g.create_dataset(f"{name}/bias:0", data=rng.normal(0, 0.01, shape[-1]).astype("f4"))
            names.append(f"block{b}_pool")
            f.create_group(f"block{b}_pool").attrs["weight_names"] = np.array([], dtype="S1")
        f.attrs["layer_names"] = [n.encode() for n in names]
    return path


@pytest.fixture(scope="session")
def weights_path(tmp_path_factory) -> Path:
    """$JAXVIZ_WEIGHTS, else the shared real file, else a synthetic file made here."""
    for candidate in (os.environ.get("JAXVIZ_WEIGHTS"), SHARED):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return write_keras2_h5(tmp_path_factory.mktemp("weights") / "synthetic_vgg16_notop.h5")


@pytest.fixture(scope="session")
def real_weights(weights_path) -> bool:
    return "synthetic" not in weights_path.name


@pytest.fixture(scope="session")
def params(weights_path):
    from jaxviz.model.weights import load_params

    return load_params(weights_path)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """No test sees (or fills) the real ~/.keras or ~/.cache."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("JAXVIZ_CACHE", raising=False)


TRACE_EVENT = "/jax/core/compile/jaxpr_trace_duration"  # JAX's monitoring event for each trace of a jitted function


@contextlib.contextmanager
def traces() -> Iterator[collections.Counter]:
    """Count traces (what a recompile starts with) by function name while inside, from JAX's own monitoring
    events: the compiled ascent step is named `ascent.step_name(layer, side)`."""
    import jax.monitoring

    seen: collections.Counter = collections.Counter()

    def listen(event: str, duration: float, fun_name: str = "", **_) -> None:
        if event == TRACE_EVENT:
            seen[fun_name] += 1

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        yield seen
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)


def small_cfg(tmp_path: Path, weights_path: Path, **updates):
    """A small in-process run's config: block1_conv1 at 32 px, 2 steps, into TMP/r, no progress bar; `updates`
    (dotted keys) on top."""
    from jaxviz import config

    base = {
        "model.weights": str(weights_path),
        "target.layers": "block1_conv1",
        "ascent.size": 32,
        "ascent.steps": 2,
        "output.dir": str(tmp_path / "r"),
        "output.progress": False,
    }
    return config.apply(config.Config(), {**base, **updates})


def interrupt_chunk(monkeypatch, n: int):
    """Make the n-th chunk a run ascends raise KeyboardInterrupt (Ctrl-C mid-run); returns the real __call__."""
    from jaxviz import ascent

    original, calls = ascent.LayerAscent.__call__, []

    def stopped(self, filters, chunk=None, on_step=None):
        calls.append(filters)
        if len(calls) == n:
            raise KeyboardInterrupt
        return original(self, filters, chunk, on_step)

    monkeypatch.setattr(ascent.LayerAscent, "__call__", stopped)
    return original


def script(
    name: str, *args: str, env: dict | None = None, cwd: Path = ROOT, drop: tuple[str, ...] = (), timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run scripts/NAME.py as a user would, in a new interpreter: never downloading; `env` added to this
    process's environment and `drop` removed from it (a new shell); output captured as text."""
    full = {k: v for k, v in os.environ.items() if k not in drop}
    full.update({"JAXVIZ_NO_DOWNLOAD": "1", **(env or {})})
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / f"{name}.py"), *args],
        capture_output=True,
        text=True,
        env=full,
        cwd=cwd,
        timeout=timeout,
    )


def assert_one_line_error(code: int, stderr: str, *needles: str) -> None:
    """The bad-input contract: exit 2, one line `jaxviz: error: ...` naming `needles`, no traceback."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert code == 2 and "Traceback" not in stderr, (code, stderr)
    assert len(lines) == 1 and lines[0].startswith("jaxviz: error: "), stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
