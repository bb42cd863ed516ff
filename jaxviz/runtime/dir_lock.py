"""One writer per run directory: an advisory lock that the operating system releases when its process ends.

Two jaxviz processes writing one run (or sweep) directory overwrite each other's metrics.json and atlas and
compute every filter twice; a check-then-write of the settings cannot stop that. The writer holds
`fcntl.flock` on DIR/.jaxviz.lock for as long as it writes: a second writer is refused at once with the
holder's pid, host and command, and a process that dies (even by kill -9) lets go of it with nothing stale to
clean up. Readers — the atlas pages, TensorBoard, `metrics.json` — never take it, so they are never blocked.

Holding is re-entrant within a process (a run, its dataset examples and its atlas refreshes nest), since
flock would refuse this process's own second open of the file. Platforms without fcntl (Windows) hold nothing.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jaxviz.errors import JaxvizError
from jaxviz.runtime.paths import explain, make_dir

try:
    import fcntl
except ImportError:  # Windows: no advisory locks of this kind
    fcntl = None

LOCK_NAME = ".jaxviz.lock"


class Busy(JaxvizError):
    """Another process holds the directory (the message names it and what to do)."""


@dataclass
class _Held:
    fd: int
    depth: int


# Real path of a directory -> this process's hold on it. The OS lock belongs to this process's open file, so
# the process itself must remember it holds one (an owned cache, emptied as holds end).
_HELD: dict[str, _Held] = {}


def holder(directory: str | Path) -> dict | None:
    """What the lock file of `directory` says of its holder ({job, program, pid, host, since}), or None when it
    cannot be read or says nothing (a holder that is just starting writes it a moment after taking the lock)."""
    for _ in range(20):
        try:
            text = (Path(directory) / LOCK_NAME).read_text()
        except OSError:
            return None
        if text.strip():
            try:
                found = json.loads(text)
            except ValueError:
                found = None
            return found if isinstance(found, dict) else None
        time.sleep(0.05)
    return None


def _describe(info: dict | None) -> str:
    if not info:
        return "another process"
    since = f" since {info['since']}" if info.get("since") else ""
    where = f"{info.get('program', '?')}, pid {info.get('pid', '?')} on {info.get('host', '?')}{since}"
    return f"{info.get('job', 'a jaxviz process')} ({where})"


def is_held(directory: str | Path) -> bool:
    """Whether some process (this one included) holds `directory` now; never blocks, creates nothing."""
    if os.path.realpath(directory) in _HELD:
        return True
    if fcntl is None:
        return False
    try:
        fd = os.open(Path(directory) / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


@contextlib.contextmanager
def holding(directory: str | Path, job: str, what: str = "run directory", advice: str = "") -> Iterator[None]:
    """Hold `directory` (created if needed) for the block, for `job` ("a visualisation run": what a refused
    process is told, with this program's name, pid and host).

    Raises Busy (a JaxvizError: one line, exit 2 on the command line) when another process holds it, naming
    the holder and what to do (`advice`, else: wait, stop it, or write elsewhere); JaxvizError when the
    directory cannot be created. Nothing is written when refused. A file system without locks (some network
    shares) gets a one-line warning and no lock.
    """
    directory = Path(directory)
    key = os.path.realpath(directory)
    if key in _HELD:
        _HELD[key].depth += 1
        try:
            yield
        finally:
            _HELD[key].depth -= 1
        return
    make_dir(directory, what)
    if fcntl is None:
        yield
        return
    path = directory / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
        if e.errno == errno.EROFS:
            # Nobody can write a read-only directory, so there is no writer to keep out: a complete run reruns
            # ("already complete"), anything that would write says the file system is read-only when it tries.
            yield
            return
        raise JaxvizError(f"cannot open the lock file {path}: {explain(e)}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            then = advice or "wait for it to finish (or stop it), or write somewhere else (another --out)"
            raise Busy(f"{what} {key} is in use by {_describe(holder(directory))}; {then}") from None
        print(f"jaxviz: warning: cannot lock {key} ({explain(e)}); make sure no other jaxviz writes into it",
              file=sys.stderr, flush=True)  # fmt: skip
        yield
        return
    since = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    info = {"job": job, "program": program, "pid": os.getpid(), "host": socket.gethostname(), "since": since}
    with contextlib.suppress(OSError):  # who holds it is a courtesy to the refused; the lock is what counts
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    _HELD[key] = _Held(fd, 1)
    try:
        yield
    finally:
        del _HELD[key]
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # a later refusal must not name a holder that has left
        os.close(fd)  # closing releases the lock
