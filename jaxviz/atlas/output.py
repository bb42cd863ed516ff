"""The atlas folder, written incrementally: a file is replaced only when its bytes change, atomically."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from jaxviz.files import atomic_write

OWNED = {".html", ".css", ".js", ".png", ".webp"}  # what pruning may delete: only what the atlas writes


class Output:
    """Files under `root` by relative path; remembers what this pass produced so the rest can be pruned."""

    def __init__(self, root: Path):
        self.root = root
        self.produced: set[str] = set()

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
        """Write `data` (str: as UTF-8) to `rel`, unless the file already holds exactly these bytes."""
        data = data.encode() if isinstance(data, str) else data
        self.produced.add(rel)
        path = self.root / rel
        with contextlib.suppress(OSError):
            if path.stat().st_size == len(data) and path.read_bytes() == data:
                return
        # No fsync (4 ms a file here, 50 s for the ~13,000 files of a whole network): after a crash an empty
        # file counts as missing (`exists`) and is redone.
        atomic_write(path, data, sync=False)

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
