"""The atlas folder, written incrementally: a file is replaced only when its bytes change, atomically."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from jaxviz.errors import JaxvizError

OWNED = {".html", ".css", ".js", ".png", ".webp"}  # what pruning may delete: only what the atlas writes


class Output:
    """Files under `root` by relative path; remembers what this pass produced so the rest can be pruned."""

    def __init__(self, root: Path):
        self.root = root
        self.produced: set[str] = set()
        self.changed = 0

    def exists(self, rel: str) -> bool:
        """A non-empty file (an empty one is what a crash may leave of an unsynced write)."""
        try:
            return (self.root / rel).stat().st_size > 0
        except OSError:
            return False

    def keep(self, rel: str) -> None:
        """`rel` is up to date as it is."""
        self.produced.add(rel)

    def put(self, rel: str, data: bytes | str) -> None:
        data = data.encode() if isinstance(data, str) else data
        self.produced.add(rel)
        path = self.root / rel
        with contextlib.suppress(OSError):
            if path.stat().st_size == len(data) and path.read_bytes() == data:
                return
        try:
            _replace(path, data)
        except OSError as e:
            raise JaxvizError(f"cannot write the atlas file {path}: {e.strerror or e}") from None
        self.changed += 1

    def prune(self) -> int:
        """Delete the atlas files this pass did not produce (a filter or layer no longer in the run); count them."""
        gone = 0
        for folder, dirs, files in os.walk(self.root, topdown=False):  # children before their folders
            rel = os.path.relpath(folder, self.root).replace(os.sep, "/")
            prefix = "" if rel == "." else rel + "/"
            for name in files:
                if Path(name).suffix in OWNED and not name.startswith(".") and prefix + name not in self.produced:
                    Path(folder, name).unlink(missing_ok=True)
                    gone += 1
            for name in dirs:
                with contextlib.suppress(OSError):
                    Path(folder, name).rmdir()  # only when empty
        return gone


def _replace(path: Path, data: bytes) -> None:
    """files.atomic_write without its fsync: a reader never sees half a file, but fsync took 4 ms a file here,
    50 s for the ~13,000 files of a whole network. After a crash, an empty file counts as missing and is redone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make the atlas private to this user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
