"""The command line's shared parts: the one-line error contract, readers that leave, config and process flags."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from jaxviz import config as config_lib
from jaxviz.errors import Interrupted, JaxvizError
from jaxviz.runtime.paths import explain


class ReaderMayLeave:
    """A text stream (stdout, stderr) whose reader may leave or never be there: `visualize.py ... | head -1` closes
    the pipe after one line, `>&-` closes the stream before the start, `>/dev/full` fills at the first write. The
    first write that fails (BrokenPipeError or any OSError) points the descriptor at /dev/null, and the run goes on
    to write every output with no traceback; what it would have said is simply not read. `stream` None (Python's
    stand-in for a closed stream) writes to /dev/null from the start."""

    def __init__(self, stream: TextIO | None):
        self.left = stream is None
        self._stream = stream if stream is not None else open(os.devnull, "w")  # noqa: SIM115 (lives as long as we do)

    def write(self, text: str) -> int:
        if not self.left:
            try:
                return self._stream.write(text)
            except (OSError, ValueError):  # a broken pipe, a full device, a stream closed under us
                self._leave()
        return len(text)

    def flush(self) -> None:
        if not self.left:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self._leave()

    def _leave(self) -> None:
        self.left = True
        # The descriptor itself goes to /dev/null, so the interpreter's own flush at exit finds nothing broken.
        with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def isatty(self) -> bool:
        return not self.left and self._stream.isatty()

    def __getattr__(self, name: str) -> Any:  # fileno, encoding, ...: the stream's own
        return getattr(self._stream, name)


def _standard_descriptors() -> None:
    """Give a closed standard descriptor (0, 1, 2: `>&-`, a daemon's) /dev/null: else the next file opened takes
    its number, and whatever writes to "stdout" — Python, XLA's C++ logging, a child process — writes into that
    file (a run's chunk, its lock file) and corrupts it."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            devnull = os.open(os.devnull, os.O_RDWR)
            if devnull != fd:
                os.dup2(devnull, fd)
                os.close(devnull)


class Terminated(KeyboardInterrupt):
    """SIGTERM (what `kill`, SLURM and `docker stop` send), raised where Ctrl-C would be: every path that saves
    what finished on Ctrl-C does so for it too."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose refusals keep the one-line contract: `jaxviz: error: ...` (via JaxvizError and
    `guarded`), exit 2, instead of the usage block and argparse's own error line."""

    def error(self, message: str) -> None:  # argparse calls this for an unknown flag, a missing value, ...
        raise JaxvizError(f"{message} (see {self.prog} --help)")


def guarded(main: Callable[[Sequence[str] | None], int]) -> Callable[[Sequence[str] | None], None]:
    """An entry point that keeps the command line's contract: bad input or a failed write is one line
    `jaxviz: error: ...` and exit 2; Ctrl-C is one line `jaxviz: interrupted: ...` and exit 130, SIGTERM one line
    `jaxviz: terminated: ...` and exit 143 (128 + the signal, the shell's convention), what finished saved either
    way, never a traceback; an operating-system refusal that no check named first is one line with its path and
    real cause (paths.explain); a reader of stdout or stderr that leaves, or a closed or full stream, stops
    nothing (ReaderMayLeave).

    Interrupted as a program (called with argv None, as the console scripts and scripts/*.py call it), the process
    leaves at once (`_leave_now`) once every output is written and closed: XLA's compile goes on in a thread of
    its own when Ctrl-C stops the wait for it, and the interpreter's shutdown under that thread segfaults (exit
    139 instead of 130). Called with an argv (tests, a notebook), it raises SystemExit as ever."""

    def wrapped(argv: Sequence[str] | None = None) -> None:
        _standard_descriptors()
        streams = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = ReaderMayLeave(sys.stdout), ReaderMayLeave(sys.stderr)
        handler = (
            signal.signal(signal.SIGTERM, _terminate) if threading.current_thread() is threading.main_thread() else None
        )
        try:
            code = main(argv)
        except (Interrupted, KeyboardInterrupt) as e:
            terminated = isinstance(e, Terminated) or isinstance(e.__context__, Terminated)
            word = "terminated" if terminated else "interrupted"
            print(f"jaxviz: {word}" + (f": {e}" if isinstance(e, Interrupted) else ""), file=sys.stderr)
            code = 143 if terminated else 130
        except JaxvizError as e:
            print(f"jaxviz: error: {e}", file=sys.stderr)
            code = 2
        except OSError as e:
            where = f"{e.filename}: " if e.filename else ""
            print(f"jaxviz: error: {where}{explain(e)}", file=sys.stderr)
            code = 2
        finally:
            if handler is not None:
                signal.signal(signal.SIGTERM, handler)
            sys.stdout.flush()
            sys.stdout, sys.stderr = streams
        if code in (130, 143) and argv is None and threading.current_thread() is threading.main_thread():
            _leave_now(code)
        sys.exit(code)

    return wrapped


def _leave_now(code: int) -> NoReturn:
    """End the process with `code` and no interpreter shutdown (os._exit), the streams and logging flushed first.

    Why: jaxlib's compile waits for XLA in a way Ctrl-C (or SIGTERM, raised the same way) can stop, while the
    compile itself goes on in XLA's thread; Python's finalisation and the C++ destructors at exit then free what
    that thread still uses, and the process dies of SIGSEGV (measured: a jitted function's compile interrupted
    after 0.5 s, 4 of 4 tries exit 139; with os._exit 0 of 5). Nothing is lost: the run's files are written and
    closed before this (its writer joined, its lock released); only atexit handlers are skipped, and jaxviz's one
    (the presets' extracted copies, made only when jaxviz is imported from a zip) leaves a temporary file at most.
    """
    import logging

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    with contextlib.suppress(Exception):
        logging.shutdown()
    os._exit(code)


def add_set_flag(p: argparse.ArgumentParser, text: str) -> None:
    """--set KEY=VALUE (repeatable), collected in args.overrides."""
    p.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="overrides", help=text)


def config_parser(description: str, command: str) -> ArgumentParser:
    """A parser with --config, --set and `command`'s config flags (config.keys.flags: each sets one config key)."""
    from jaxviz.config.keys import flags

    p = ArgumentParser(description=description)
    p.add_argument("--config", metavar="FILE", help="TOML file holding what differs from the defaults")
    add_set_flag(p, "override one key, e.g. --set ascent.steps=20 (repeatable)")
    for f in flags(command).values():
        p.add_argument(f"--{f.name}", metavar=f.metavar, help=f"{f.help} (sets {f.key})")
    return p


def add_distributed_flags(p: argparse.ArgumentParser) -> None:
    """--coordinator/--num-processes/--process-id: one process of a multi-process (multi-machine) job."""
    g = p.add_argument_group("several processes (leave out on one machine; SLURM, Open MPI, TPU pods are detected)")
    g.add_argument("--coordinator", metavar="HOST:PORT", default="", help="address of process 0")
    g.add_argument("--num-processes", metavar="N", help="how many processes take part")
    g.add_argument("--process-id", metavar="I", help="this process's index, 0..N-1")


def join_processes(args: argparse.Namespace, cfg: config_lib.Config) -> None:
    """Join the multi-process job the flags (or the cluster environment) describe; before any JAX call."""
    from jaxviz.runtime.processes import Launch, initialize

    def number(flag: str, value: str | None) -> int | None:
        try:
            return None if value is None else int(value)
        except ValueError:
            raise JaxvizError(f"{flag} expects a whole number, got {value!r}") from None

    launch = Launch(
        args.coordinator, number("--num-processes", args.num_processes), number("--process-id", args.process_id)
    )
    initialize(launch, cfg.distributed.initialization_timeout, cfg.distributed.heartbeat_timeout)


def config_from_args(
    args: argparse.Namespace, command: str, base: config_lib.Config | None = None
) -> config_lib.Config:
    """Defaults (or `base`) <- --preset <- --config <- --set <- `command`'s config flags."""
    from jaxviz.config import presets
    from jaxviz.config.keys import flags

    preset = getattr(args, "preset", None)
    if preset:
        base = config_lib.load(presets.path(preset), base=base)
    cfg = config_lib.load(args.config, args.overrides, base=base)
    updates = {}
    for f in flags(command).values():
        value = getattr(args, f.name.replace("-", "_"), None)
        if value is not None:
            updates.update({f.key: value} if f.raw else config_lib.parse_overrides([f"{f.key}={value}"]))
    return config_lib.apply(cfg, updates)


def atlas_hook(cfg: config_lib.Config) -> Callable[[object], None] | None:
    """The atlas' refresh, run after each layer (or sweep point), when output.atlas asks for it."""
    if not cfg.output.atlas:
        return None
    from jaxviz.atlas import refresh

    return refresh


def tensorboard_command(logdir: Path) -> str:
    """How to start TensorBoard on `logdir` from here: this environment's own, else the one on PATH, else the
    command and how to get it first (the extra that installs it)."""
    import shutil

    beside = Path(sys.executable).parent / "tensorboard"  # a virtual environment that is not activated
    if beside.is_file():
        return f"{beside} --logdir {logdir}"
    if shutil.which("tensorboard"):
        return f"tensorboard --logdir {logdir}"
    return f"tensorboard --logdir {logdir} (once pip install 'jaxviz[tensorboard]' has installed it)"


def print_where(out: Path, atlas: bool, tensorboard: bool, otherwise: str = "") -> None:
    """The last line of a run or sweep: what to open (its atlas, else `otherwise`) and the TensorBoard command."""
    page = out / "atlas" / "index.html"
    where = [f"{page} in a browser"] if atlas and page.is_file() else [otherwise] if otherwise else []
    if tensorboard:
        where.append(f"run: {tensorboard_command(out)}")
    if where:
        print("jaxviz: open " + ", or ".join(where), flush=True)
