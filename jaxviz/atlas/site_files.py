"""The atlas folder, written incrementally: a file is replaced only when its bytes change, atomically."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

from jaxviz.atlas.atlas_state import STATE
from jaxviz.runtime.files import atomic_write

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

    def prune(self, kept: Iterable[str] = ()) -> int:
        """Delete the atlas files this pass did not produce (a filter or layer no longer in the run); count them.

        `kept`: folders ("points/a/") left as they are, not even listed: a sweep's points that did not change.
        """
        kept, gone, folders = set(kept), 0, []
        for folder, dirs, files in os.walk(self.root):
            rel = os.path.relpath(folder, self.root).replace(os.sep, "/")
            prefix = "" if rel == "." else rel + "/"
            dirs[:] = [d for d in dirs if f"{prefix}{d}/" not in kept]
            folders.append(folder)
            for name in files:
                # A state file goes with its folder (a sweep point no longer in the sweep); other dot files stay.
                owned = name == STATE or (Path(name).suffix in OWNED and not name.startswith("."))
                if owned and prefix + name not in self.produced:
                    Path(folder, name).unlink(missing_ok=True)
                    gone += 1
        for folder in reversed(folders[1:]):  # children before their folders; never the root
            with contextlib.suppress(OSError):
                Path(folder).rmdir()  # only when empty
        return gone
