"""A wheel installed outside the repository works: presets (and every file read at run time) ship in it.

The wheel is built from a copy of the sources and installed into a fresh virtual environment that
sees this environment's dependencies (no download of JAX again) but not the editable jaxviz: a .pth
file appends this environment's site-packages directories to sys.path, and .pth files inside a
directory added that way are not processed, so the editable install's finder never starts.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

# A shipped file that names the development checkout's neighbours (../shared/...) or the numbered
# source documents means nothing to someone who installed the wheel.
OUTSIDE = re.compile(r"shared/|\bseed 0\d\d\b")


def _run(cmd: list, **kwargs) -> subprocess.CompletedProcess:
    """Run `cmd` (5 minutes at most); a failure shows its stderr."""
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{done.stderr}"
    return done


def _setuptools_builds() -> bool:
    """Whether this environment's setuptools can build the wheel offline (SPDX `license`: setuptools 77)."""
    try:
        major = int(importlib.metadata.version("setuptools").split(".")[0])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return False
    return major >= 77


def _build_wheel(tmp: Path) -> Path:
    """The wheel of a clean copy of the sources: a build in the checkout would leave build/ behind, and a
    stale build/lib there could ship files the sources no longer have."""
    src = tmp / "src"
    src.mkdir()
    for item in ROOT.iterdir():
        if item.is_file():
            shutil.copy2(item, src / item.name)
    shutil.copytree(ROOT / "jaxviz", src / "jaxviz", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # With setuptools >= 77 here (the test extra), no network; else pip fetches the build requirements.
    isolation = ["--no-build-isolation"] if _setuptools_builds() else []
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w", str(tmp / "dist"), str(src)]
    _run(cmd)
    (wheel,) = (tmp / "dist").glob("jaxviz-*.whl")
    return wheel


def _site_dirs() -> list[str]:
    """Where this environment's dependencies are: every site-packages on sys.path (also those a .pth adds).
    Never the checkout itself (PYTHONPATH may hold it), so only an installed jaxviz can be found."""
    dirs = [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages") and Path(p).is_dir()]
    return list(dict.fromkeys(dirs))


def _environ(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}  # PYTHONPATH may hold the checkout
    return {**env, "HOME": str(home), "JAXVIZ_NO_DOWNLOAD": "1"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """(the fresh environment, the wheel installed in it)."""
    tmp = tmp_path_factory.mktemp("install")
    wheel = _build_wheel(tmp)
    env = tmp / "venv"
    venv.create(env, symlinks=os.name != "nt", with_pip=False)
    python = env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    (Path(purelib) / "jaxviz-test-deps.pth").write_text("\n".join(_site_dirs()) + "\n")
    cmd = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", wheel]
    _run(cmd, env=_environ(tmp))
    return env, wheel


def test_the_wheel_ships_every_preset_and_nothing_pointing_outside(installed):
    from jaxviz.config import presets

    _, wheel = installed
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        shipped = {Path(n).stem for n in names if n.startswith("jaxviz/config/presets/") and n.endswith(".toml")}
        assert shipped == set(presets.names()) and {"book", "quality"} <= shipped, names
        for name in names:
            if name.endswith((".py", ".toml", ".txt", ".md", ".json", ".html", ".css", ".js")):
                hit = OUTSIDE.search(z.read(name).decode())
                assert not hit, f"{name} refers to {hit[0]!r}, which is not part of the installed package"


def test_a_preset_runs_from_the_installed_command_line_outside_the_repository(installed, weights_path, tmp_path):
    env, _ = installed
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    assert not cwd.resolve().is_relative_to(ROOT)
    script = env / ("Scripts/jaxviz-visualize.exe" if os.name == "nt" else "bin/jaxviz-visualize")
    cmd = [script, "--preset", "book", "--layers", "block1_conv1", "--filters", "0:2", "--size", "32"]
    cmd += ["--steps", "2", "--weights", str(weights_path), "--out", "out"]
    cmd += ["--set", "output.quality=false", "--set", "output.atlas=false", "--set", "output.tensorboard=false"]
    _run(cmd, cwd=cwd, env=_environ(tmp_path))
    assert (cwd / "out" / "block1_conv1.png").is_file()
    assert 'normalize = "rms"' in (cwd / "out" / "config.toml").read_text()


def test_visualize_runs_from_the_installed_package_outside_the_repository(installed, weights_path, tmp_path):
    env, _ = installed
    code = (
        "import jaxviz\n"
        "from pathlib import Path\n"
        "print(Path(jaxviz.__file__).resolve())\n"
        f"r = jaxviz.visualize('block1_conv1', [0], preset='tf2-tape', weights={str(weights_path)!r}, quality=False,"
        " size=32, steps=2)\n"
        "print(r.images.shape)\n"
    )
    python = env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    where, shape = _run([python, "-c", code], cwd=tmp_path, env=_environ(tmp_path)).stdout.splitlines()[-2:]
    assert Path(where).is_relative_to(env.resolve()), f"imported {where}, not the wheel's copy"
    assert shape == "(1, 32, 32, 3)"
