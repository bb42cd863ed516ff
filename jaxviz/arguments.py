"""The command line's shared parts: the one-line error contract, config flags, multi-process flags."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from jaxviz import config as config_lib
from jaxviz.errors import Interrupted, JaxvizError

# Shortcut flag -> (config key, value kept as a raw string (else parsed as TOML), metavar, help).
SHORTCUTS = {
    "layers": ("target.layers", True, "L1,L2|all", "layers to visualise"),
    "filters": ("target.filters", True, "0:64|3,5,9|all", "filters of each layer"),
    "size": ("ascent.size", False, "PX", "image side in pixels"),
    "steps": ("ascent.steps", False, "N", "ascent steps"),
    "weights": ("model.weights", True, "PATH", "Keras VGG16 .h5 or converted .msgpack"),
    "out": ("output.dir", True, "DIR", "run directory"),
}


def guarded(main: Callable[[Sequence[str] | None], int]) -> Callable[[Sequence[str] | None], None]:
    """An entry point that keeps the command line's contract: bad input or a failed write is one line
    `jaxviz: error: ...` and exit 2; Ctrl-C is one line `jaxviz: interrupted: ...` and exit 130 (128 + SIGINT,
    the shell's convention), never a traceback."""

    def wrapped(argv: Sequence[str] | None = None) -> None:
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
    from jaxviz.run.distributed import Launch, initialize

    def number(flag: str, value: str | None) -> int | None:
        try:
            return None if value is None else int(value)
        except ValueError:
            raise JaxvizError(f"{flag} expects a whole number, got {value!r}") from None

    launch = Launch(
        args.coordinator, number("--num-processes", args.num_processes), number("--process-id", args.process_id)
    )
    initialize(launch, cfg.distributed)


def config_from_args(args: argparse.Namespace) -> config_lib.Config:
    """Defaults <- --preset <- --config <- --set <- shortcut flags."""
    from jaxviz import presets

    preset = getattr(args, "preset", None)
    base = config_lib.load(presets.path(preset)) if preset else None
    cfg = config_lib.load(args.config, args.overrides, base=base)
    updates = {}
    for name, (key, raw, _, _) in SHORTCUTS.items():
        value = getattr(args, name, None)
        if value is not None:
            updates.update({key: value} if raw else config_lib.parse_overrides([f"{key}={value}"]))
    return config_lib.apply(cfg, updates)
