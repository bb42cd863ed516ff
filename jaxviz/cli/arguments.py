"""The command line's shared parts: the one-line error contract, readers that leave, config and process flags."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from jaxviz import config as config_lib
from jaxviz.errors import Interrupted, JaxvizError
from jaxviz.runtime.paths import explain

# Shortcut flag -> (config key, value kept as a raw string (else parsed as TOML), metavar, help).
SHORTCUTS = {
    "layers": ("target.layers", True, "L1,L2|all", "layers to visualise"),
    "filters": ("target.filters", True, "0:64|3,5,9|all", "filters of each layer"),
    "size": ("ascent.size", False, "PX", "image side in pixels"),
    "steps": ("ascent.steps", False, "N", "ascent steps"),
    "weights": ("model.weights", True, "PATH", "Keras VGG16 .h5 or converted .msgpack"),
    "out": ("output.dir", True, "DIR", "run directory"),
}


class ReaderMayLeave:
    """A text stream (stdout, stderr) whose reader may leave: `visualize.py ... | head -1` closes the pipe after
    one line. The first write that finds it closed (BrokenPipeError) points the descriptor at /dev/null, and the
    run goes on to write every output with no traceback; what it would have said is simply not read."""

    def __init__(self, stream: TextIO):
        self._stream, self.left = stream, False

    def write(self, text: str) -> int:
        if not self.left:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._leave()
        return len(text)

    def flush(self) -> None:
        if not self.left:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._leave()

    def _leave(self) -> None:
        self.left = True
        # The descriptor itself goes to /dev/null, so the interpreter's own flush at exit finds nothing broken.
        with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, ...: the stream's own
        return getattr(self._stream, name)


def guarded(main: Callable[[Sequence[str] | None], int]) -> Callable[[Sequence[str] | None], None]:
    """An entry point that keeps the command line's contract: bad input or a failed write is one line
    `jaxviz: error: ...` and exit 2; Ctrl-C is one line `jaxviz: interrupted: ...` and exit 130 (128 + SIGINT,
    the shell's convention), never a traceback; an operating-system refusal that no check named first is one
    line with its path and real cause (paths.explain); a reader of stdout or stderr that leaves stops nothing
    (ReaderMayLeave)."""

    def wrapped(argv: Sequence[str] | None = None) -> None:
        streams = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = ReaderMayLeave(sys.stdout), ReaderMayLeave(sys.stderr)
        try:
            code = main(argv)
        except Interrupted as e:
            print(f"jaxviz: interrupted: {e}", file=sys.stderr)
            code = 130
        except KeyboardInterrupt:
            print("jaxviz: interrupted", file=sys.stderr)
            code = 130
        except JaxvizError as e:
            print(f"jaxviz: error: {e}", file=sys.stderr)
            code = 2
        except OSError as e:
            where = f"{e.filename}: " if e.filename else ""
            print(f"jaxviz: error: {where}{explain(e)}", file=sys.stderr)
            code = 2
        finally:
            sys.stdout.flush()
            sys.stdout, sys.stderr = streams
        sys.exit(code)

    return wrapped


def add_set_flag(p: argparse.ArgumentParser, text: str) -> None:
    """--set KEY=VALUE (repeatable), collected in args.overrides."""
    p.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="overrides", help=text)


def config_parser(description: str, shortcuts: Sequence[str] = tuple(SHORTCUTS)) -> argparse.ArgumentParser:
    """A parser with --config, --set and the `shortcuts` flags (each sets one config key)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--config", metavar="FILE", help="TOML file holding what differs from the defaults")
    add_set_flag(p, "override one key, e.g. --set ascent.steps=20 (repeatable)")
    for name in shortcuts:
        key, _, metavar, text = SHORTCUTS[name]
        p.add_argument(f"--{name}", metavar=metavar, help=f"{text} (sets {key})")
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


def config_from_args(args: argparse.Namespace) -> config_lib.Config:
    """Defaults <- --preset <- --config <- --set <- shortcut flags."""
    from jaxviz.config import presets

    preset = getattr(args, "preset", None)
    base = config_lib.load(presets.path(preset)) if preset else None
    cfg = config_lib.load(args.config, args.overrides, base=base)
    updates = {}
    for name, (key, raw, _, _) in SHORTCUTS.items():
        value = getattr(args, name, None)
        if value is not None:
            updates.update({key: value} if raw else config_lib.parse_overrides([f"{key}={value}"]))
    return config_lib.apply(cfg, updates)


def atlas_hook(cfg: config_lib.Config) -> Callable[[object], None] | None:
    """The atlas' refresh, run after each layer (or sweep point), when output.atlas asks for it."""
    if not cfg.output.atlas:
        return None
    from jaxviz.atlas import refresh

    return refresh


def tensorboard_command() -> str:
    """How to start TensorBoard from here: this environment's own, else the one on PATH, else how to get it."""
    import shutil

    beside = Path(sys.executable).parent / "tensorboard"  # a virtual environment that is not activated
    if beside.is_file():
        return str(beside)
    if shutil.which("tensorboard"):
        return "tensorboard"
    return "tensorboard (pip install 'jaxviz[tensorboard]' first)"


def print_where(out: Path, atlas: bool, tensorboard: bool, otherwise: str = "") -> None:
    """The last line of a run or sweep: what to open (its atlas, else `otherwise`) and the TensorBoard command."""
    page = out / "atlas" / "index.html"
    where = [f"{page} in a browser"] if atlas and page.is_file() else [otherwise] if otherwise else []
    if tensorboard:
        where.append(f"run: {tensorboard_command()} --logdir {out}")
    if where:
        print("jaxviz: open " + ", or ".join(where), flush=True)
