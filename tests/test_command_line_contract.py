"""The command line's contract: the one decorator that keeps it (jaxviz.cli.arguments.guarded), tested here directly,
then end to end in the conditions a batch job meets: closed or full output streams, SIGTERM, and argparse's own
refusals — one line, the right exit code, and every output written (or what finished saved)."""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, assert_main_refuses, assert_one_line_error

from jaxviz.cli import atlas, examples, visualize
from jaxviz.cli import sweep as sweep_command
from jaxviz.cli.arguments import guarded
from jaxviz.errors import JaxvizError

SMALL = ["--layers", "block1_conv1", "--filters", "0:4", "--size", "32", "--steps", "3",
         "--set", "output.atlas=false", "--set", "output.quality=false"]  # fmt: skip


@pytest.mark.parametrize("case", ["bad input", "os error", "ctrl-c", "closed stdout"])
def test_guarded_keeps_the_contract(case, tmp_path, monkeypatch, capsys):
    """The decorator every entry point wears (tests/test_scripts.py checks they do), called in this process: bad
    input is one line and exit 2; an operating-system error no check named first is one line with its path and
    real cause, exit 2; Ctrl-C is one line and exit 130; a closed stdout stops nothing (the command finishes, exit
    0). Never a traceback, and the streams and the SIGTERM handler are the caller's again afterwards."""

    @guarded
    def main(argv):
        if case == "bad input":
            raise JaxvizError("--size must be 1 or more, got 0")
        if case == "os error":
            raise PermissionError(errno.EACCES, "Permission denied", "/some/where")
        if case == "ctrl-c":
            raise KeyboardInterrupt
        for i in range(3):
            print(f"line {i}")  # into a stream that is closed
        (tmp_path / "written").write_text(" ".join(argv))
        return 0

    if case == "closed stdout":
        closed = io.StringIO()
        closed.close()
        monkeypatch.setattr(sys, "stdout", closed)
    streams, handler = (sys.stdout, sys.stderr), signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as e:
        main(["every", "output"])
    assert (sys.stdout, sys.stderr) == streams and signal.getsignal(signal.SIGTERM) == handler
    err = capsys.readouterr().err
    if case == "bad input":
        assert_one_line_error(e.value.code, err, "--size must be 1 or more, got 0")
    elif case == "os error":
        assert_one_line_error(e.value.code, err, "/some/where: Permission denied [EACCES]")
    elif case == "ctrl-c":
        assert e.value.code == 130 and err.splitlines() == ["jaxviz: interrupted"], err
    else:
        assert e.value.code == 0 and err == "", err
        assert (tmp_path / "written").read_text() == "every output"


def _visualize(args: list[str], redirect: str, cwd) -> subprocess.CompletedProcess:
    """scripts/visualize.py run by a shell with `redirect` (e.g. `>&- 2>&-`), as cron or nohup would."""
    command = " ".join([sys.executable, str(ROOT / "scripts" / "visualize.py"), *map(_quote, args), redirect])
    env = {**os.environ, "JAXVIZ_NO_DOWNLOAD": "1"}
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"


@pytest.mark.parametrize(
    "redirect", [">&- 2>&-", ">&- 2>{err}", "2>&- >{out}", ">/dev/full"], ids=["both-closed", "stdout-closed",
                                                                              "stderr-closed", "stdout-full"]
)  # fmt: skip
def test_a_run_with_closed_or_full_streams_finishes_and_writes_everything(tmp_path, weights_path, redirect):
    run = tmp_path / "run"
    redirect = redirect.format(err=tmp_path / "err.txt", out=tmp_path / "out.txt")
    p = _visualize([*SMALL, "--weights", str(weights_path), "--out", str(run)], redirect, tmp_path)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr + p.stdout
    for name in ("metrics.json", "config.toml", "block1_conv1.png"):
        assert (run / name).is_file(), name
    assert len(json.loads((run / "metrics.json").read_text())["filters"]) == 4
    if (tmp_path / "err.txt").exists():
        assert "Traceback" not in (tmp_path / "err.txt").read_text()


def test_help_with_stdout_closed_is_no_traceback(tmp_path):
    p = subprocess.run(["bash", "-c", f"{sys.executable} {ROOT / 'scripts' / 'sweep.py'} --help >&-"],
                       capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert p.returncode == 0 and not p.stderr, p.stderr


@pytest.mark.parametrize(
    "name, args, needle",
    [
        ("visualize", ["--bogus"], "unrecognized arguments: --bogus (see visualize.py --help)"),
        ("visualize", ["--size"], "argument --size: expected one argument"),
        ("atlas", [], "the following arguments are required: DIR"),
        ("sweep", [], "the following arguments are required: --config"),
        ("examples", ["--top", "many"], "examples.top: expected an integer, got 'many'"),
    ],
)
def test_argparse_refusals_are_one_line(name, args, needle, monkeypatch, capsys):
    main = {"visualize": visualize.main, "atlas": atlas.main, "sweep": sweep_command.main, "examples": examples.main}
    monkeypatch.setattr(sys, "argv", [str(ROOT / "scripts" / f"{name}.py")])  # argparse names the command from it
    _, err = assert_main_refuses(main[name], args, capsys, needle)
    assert "usage:" not in err


def test_sigterm_saves_what_finished_and_says_so_in_one_line(tmp_path, weights_path):
    """SIGTERM (SLURM, docker stop, kill) is handled as Ctrl-C is: the finished chunks' grid and metrics marked
    partial, one line, exit 143 (128 + SIGTERM)."""
    run = tmp_path / "run"
    args = [*SMALL[:3], "0:64", *SMALL[4:7], "200", *SMALL[8:], "--set", "output.progress=false"]
    args += ["--weights", str(weights_path), "--out", str(run)]
    env = {**os.environ, "JAXVIZ_NO_DOWNLOAD": "1"}
    command = [sys.executable, str(ROOT / "scripts" / "visualize.py"), *args]
    p = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while not list((run / "state" / "block1_conv1").glob("*.npz")):  # a chunk has finished
        assert p.poll() is None and time.monotonic() < deadline, p.stderr.read() if p.poll() is not None else "slow"
        time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert p.returncode == 143 and "Traceback" not in err, err
    assert lines[-1].startswith("jaxviz: terminated: ") and "rerun the same command to resume" in lines[-1], err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["partial"] and metrics["layers"]["block1_conv1"]["partial"]
    assert (run / "block1_conv1.png").is_file()


# Run as `python -c`: the ascent's first compile (the program engine.step_name names) is sent the signal 0.2 s
# after it starts, the way a Ctrl-C during the first compile lands; a line on stderr says it landed there.
_SIGNAL_IN_COMPILE = """
import os, signal, sys, threading
import jax._src.compiler as compiler
real, armed = compiler.backend_compile_and_load, []
def compile_signalled(*args, **kwargs):
    if not armed and "ascent_" in str(args[1].operation.attributes["sym_name"]):
        armed.append(True)
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIG{name})).start()
    try:
        return real(*args, **kwargs)
    except KeyboardInterrupt:
        print("signalled in a compile", file=sys.__stderr__, flush=True)
        raise
compiler.backend_compile_and_load = compile_signalled
sys.argv = {argv!r}
from jaxviz.cli.visualize import main
main()
"""


@pytest.mark.parametrize("name, code, word", [("INT", 130, "interrupted"), ("TERM", 143, "terminated")])
def test_a_signal_during_a_compile_exits_cleanly(name, code, word, tmp_path):
    """Ctrl-C or SIGTERM while XLA compiles the first step: jaxlib stops waiting, the compile goes on in XLA's own
    thread, and the interpreter's shutdown under it used to segfault (exit 139, every time here). Now the exit is
    130 or 143 with one line, which does not claim that something finished when nothing did."""
    run = tmp_path / "run"
    argv = ["visualize.py", "--model", "vgg16", "--weights", "random", *SMALL, "--out", str(run),
            "--set", "ascent.compile_cache=off", "--set", "output.progress=false"]  # fmt: skip
    env = {**os.environ, "JAXVIZ_NO_DOWNLOAD": "1"}
    command = [sys.executable, "-c", _SIGNAL_IN_COMPILE.format(name=name, argv=argv)]
    p = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    if "signalled in a compile" not in p.stderr:  # the compile finished within 0.2 s: nothing to test
        pytest.skip(f"the compile ended before the signal (rc {p.returncode})")
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == code, p.stderr
    assert "Traceback" not in p.stderr and "Fatal Python error" not in p.stderr, p.stderr
    assert lines[-1].startswith(f"jaxviz: {word}: no filter had finished yet"), lines[-1]
    assert "holds what finished" not in p.stderr and "rerun the same command" in lines[-1]
