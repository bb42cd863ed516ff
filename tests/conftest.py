"""Shared fixtures and helpers, defined once for every test file: the real weights when present (else a synthetic
Keras-layout file), no downloads; small runs, sweeps and atlas sites; commands run in-process or as a user would;
other processes (free ports, lock holders, joins); a headless browser."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from html.parser import HTMLParser
from pathlib import Path
from urllib.request import url2pathname

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


# Counting traces (what a recompile starts with) by function name, from JAX's own monitoring events: the device
# check ships the same counter to check its promises on an accelerator; the tests use that one.
from jaxviz.devicecheck.engine_checks import traces  # noqa: E402, F401 (the tests import it from here)


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


def assert_main_refuses(
    main: Callable[[Sequence[str] | None], None], argv: Sequence[str], capsys, *needles: str
) -> tuple[str, str]:
    """An entry point's main(argv) called in this process (the installed command's own checks, without the second
    or two a new interpreter costs) refuses `argv` by the bad-input contract, naming `needles`; returns what it
    wrote to (stdout, stderr)."""
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    out, err = capsys.readouterr()
    assert_one_line_error(e.value.code, err, *needles)
    return out, err


# --- Tests whose outcome depends on which weights are loaded ---


def depends_on_weights(why: str) -> str:
    """The reason a test gives when it skips for the weights loaded (synthetic random ones where ImageNet's are not
    found): what it depends on, and how to run it."""
    return (
        f"depends on the weights: {why}; set JAXVIZ_WEIGHTS to ImageNet's VGG16 notop .h5 to run it "
        "(.ci/run does when ../shared/weights holds it)"
    )


# --- Other processes: free ports, lock holders, joins ---


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the OS's pick), e.g. for a jax.distributed coordinator."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def finish(p: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    """Join a started process: (exit code, stdout, stderr); one that outlives `timeout` seconds is killed and the
    timeout raised (a hung child must not outlive its test)."""
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise
    return p.returncode, out, err


HOLD = """
import sys, time
from jaxviz.runtime.dir_lock import holding
with holding(sys.argv[1], sys.argv[2]):
    print("held", flush=True)
    time.sleep(600)
"""


@contextlib.contextmanager
def lock_holder(directory: Path, what: str = "a test holder") -> Iterator[subprocess.Popen]:
    """Another real process holding `directory` through the lock jaxviz takes (naming itself `what`) while inside;
    killed with SIGKILL on the way out, so only the operating system releases its lock."""
    p = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(directory), what], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert p.stdout.readline().strip() == "held"
        yield p
    finally:
        p.kill()
        p.wait()
        p.stdout.close()


# --- Runs, sweeps and atlas sites for the atlas' tests ---

ATLAS_LAYERS = ("block1_conv1", "block2_conv1")


def small_run(out: Path, weights: Path, filters: str = "0:4") -> Path:
    """A real run: two layers, a few filters, 32 px, 2 steps (a few seconds on a CPU), without its atlas."""
    from jaxviz import config
    from jaxviz.run.visualization import run_visualization

    updates = {
        "model.weights": str(weights),
        "target.layers": ",".join(ATLAS_LAYERS),
        "target.filters": filters,
        "ascent.size": 32,
        "ascent.steps": 2,
        "output.dir": str(out),
        "output.tensorboard": False,
        "output.progress": False,
    }
    run_visualization(config.apply(config.Config(), updates))
    shutil.rmtree(out / "atlas", ignore_errors=True)  # whatever the run wrote itself: the tests write their own
    return out


SMALL_SWEEP = """
[model]
weights = {weights}
[target]
layers = "block1_conv1"
filters = "0:3"
[ascent]
size = 32
steps = 2
[output]
progress = false
tensorboard = false
[sweep]
mode = "zip"
[sweep.axes]
"ascent.step" = [0.5, 1.0]
"""


def small_sweep(root: Path, weights: Path) -> Path:
    """A real two-point sweep (3 filters of block1_conv1, 32 px) into ROOT/out, without its atlas."""
    from jaxviz.sweep.sweep_runner import sweep

    root.mkdir(parents=True, exist_ok=True)
    path = root / "sweep.toml"
    path.write_text(SMALL_SWEEP.format(weights=json.dumps(str(weights))))
    sweep(path, root / "out")
    shutil.rmtree(root / "out" / "atlas", ignore_errors=True)
    return root / "out"


def synthetic_run(run_dir: Path, layers: tuple[str, ...] = ATLAS_LAYERS, filters: int = 4, seed: int = 0) -> Path:
    """A finished run directory without an ascent (no JAX): what benchmark_sweep writes, a run's own format."""
    from jaxviz.bench.sweep_atlas_speed import write_point

    write_point(run_dir, seed, layers, filters, size=16, steps=2)
    return run_dir


def synthetic_examples(run_dir: Path, layers: dict[str, int], images: int = 3, top: int = 2, size: int = 32) -> Path:
    """RUN/examples as jaxviz-examples writes it (its own writer, examples_store.write), from random scores over
    `images` small PNGs beside RUN: no JAX, no network."""
    from PIL import Image

    from jaxviz.dataset_examples.examples_store import Examples, LayerExamples, write
    from jaxviz.dataset_examples.receptive import boxes

    folder = run_dir.parent / f"{run_dir.name}-images"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(images):
        Image.fromarray(rng.integers(0, 256, (size + 8, size + 4, 3), dtype=np.uint8)).save(folder / f"im{i}.png")
    found = {}
    for layer, n in layers.items():
        scores = -np.sort(-rng.random((n, top), dtype=np.float32), axis=1) * 10
        position = rng.integers(0, 2, (n, top, 2)).astype(np.int32)
        found[layer] = LayerExamples(
            scores=scores,
            image=rng.integers(0, images, (n, top)).astype(np.int32),
            position=position,
            box=boxes(layer, position, size),
            mean=rng.random(n, dtype=np.float32),
            fires=rng.random(n, dtype=np.float32),
            filters=np.arange(n, dtype=np.int32),
        )
    meta = [{"path": f"im{i}.png", "width": size + 4, "height": size + 8} for i in range(images)]
    write(run_dir, Examples(folder.resolve(), size, meta, found))
    return run_dir


class SyntheticSweep:
    """A sweep directory that grows a point at a time, as jaxviz.sweep.sweep_runner leaves it after each point
    (synthetic points in a run's own format: no JAX)."""

    def __init__(self, root: Path, points: int, layers: tuple[str, ...] = ATLAS_LAYERS):
        from jaxviz.bench import sweep_atlas_speed

        self._points = sweep_atlas_speed
        self.root, self.layers = root, layers
        self.entries = [sweep_atlas_speed.index_entry(i, "pending") for i in range(points)]
        root.mkdir(parents=True)
        self.publish()

    def publish(self) -> None:
        axes = {"ascent.step": [e["values"]["ascent.step"] for e in self.entries]}
        doc = {"sweep": {"mode": "grid", "axes": axes, "base": {}}, "points": self.entries}
        (self.root / "index.json").write_text(json.dumps(doc))

    def finish(self, i: int) -> None:
        summary = self._points.write_point(self.root / self.entries[i]["name"], i, self.layers, 3, 16, 2)
        self.entries[i] = self._points.index_entry(i, "done", summary, 1.0)
        self.publish()


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.imgs: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.links += [a[k] for k in ("href", "src") if a.get(k)]
        if tag == "img":
            self.imgs.append(a)


def check_links(atlas: Path) -> int:
    """Every link and source of every page is a file of the atlas: nothing broken, nothing from the network (but
    a dataset example's link to its original image file, which the atlas does not copy); every picture has its alt
    text. Returns the number of pages."""
    pages = sorted(atlas.rglob("*.html"))
    for page in pages:
        parser = _Links()
        parser.feed(page.read_text())
        for link in parser.links:
            if link.startswith("#") or link == "data:,":  # data:, is the empty favicon (no request for one)
                continue
            if link.startswith("file:///"):
                assert Path(url2pathname(link[len("file://") :])).is_file(), (page, link)
                continue
            assert not re.match(r"[a-z]+:", link), (page, link)
            target = (page.parent / link.split("#")[0]).resolve()
            assert target.is_file() and atlas.resolve() in target.parents, (page, link)
        assert all(i.get("alt") for i in parser.imgs), page
    return len(pages)


# --- A headless browser for the atlas' pages ---

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
CHROMEDRIVER = shutil.which("chromedriver")
NO_BROWSER = (
    "no headless browser: needs selenium (pip install -e '.[test]') and Chromium with its driver "
    "(apt-get install chromium chromium-driver; .ci/run installs them)"
)


def have_browser() -> bool:
    """selenium, Chromium and its driver are all here (no driver is ever downloaded)."""
    import importlib.util

    return bool(CHROMIUM and CHROMEDRIVER) and importlib.util.find_spec("selenium") is not None


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium through selenium, 1280 x 900, its console log kept; one per test module (a test that
    resizes the window sets it back). Skips, saying why, where there is none or it does not start."""
    if not have_browser():
        pytest.skip(NO_BROWSER)
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:  # a given driver: nothing is downloaded
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except WebDriverException as e:
        pytest.skip(f"headless Chromium ({CHROMIUM}, {CHROMEDRIVER}) did not start: {str(e.msg).splitlines()[0]}")
    yield driver
    driver.quit()


def open_page(d, path: Path | str) -> None:
    """Load a page (a file path or an address) in browser `d` and wait until it has loaded."""
    from selenium.webdriver.support.ui import WebDriverWait

    d.get(path if isinstance(path, str) else path.as_uri())
    WebDriverWait(d, 10).until(lambda d: d.execute_script("return document.readyState") == "complete")


def console_errors(d) -> list[dict]:
    """The browser console's errors since the last call (failed loads, script errors)."""
    return [e for e in d.get_log("browser") if e["level"] == "SEVERE"]


def small_flax_cnn(size: int):
    """(module, variables): the small Flax CNN the model tests share (conv1 8 -> pool -> conv2 16 -> a Dense head
    of 10 over the mean; its class is named Small, so its network is "flax:Small"), initialised for size px."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    class Small(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Conv(8, (3, 3), name="conv1")(x))
            x = nn.max_pool(x, (2, 2), (2, 2))
            x = nn.relu(nn.Conv(16, (3, 3), name="conv2")(x))
            return nn.Dense(10, name="head")(x.mean(axis=(1, 2)))

    module = Small()
    return module, module.init(jax.random.key(0), jnp.zeros((1, size, size, 3)))
