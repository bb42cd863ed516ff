"""Atomic file writes: a reader (or a crash) never sees a half-written file; OS failures become one line."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from jaxviz.errors import JaxvizError, WriteError
from jaxviz.runtime.paths import explain


def reason(error: OSError) -> str:
    """An OSError as its real cause ("No space left on device [ENOSPC]: ..."), without the path Python repeats
    (see paths.explain)."""
    return explain(error)


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn any OSError raised inside into a WriteError naming `path` and the reason."""
    try:
        yield
    except OSError as e:
        raise WriteError(f"cannot write {path}: {reason(e)}") from None


@contextlib.contextmanager
def atomic_file(path: str | Path, sync: bool = True) -> Iterator[GuardedFile]:
    """A binary file that becomes `path` only when the block ends without an exception (a temporary file in
    the same directory, then a rename); on any exception the temporary file is removed and `path` is untouched.

    `sync=False` skips the fsync (4 ms a file here: the atlas writes thousands); a crash may then leave an
    empty file, which readers treat as missing. An OS failure of the file itself (creating, writing, syncing,
    renaming) raises WriteError naming `path` and the reason; the block's own exceptions pass unchanged.
    """
    path = Path(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    f = os.fdopen(fd, "wb")
    try:
        yield GuardedFile(f, path)
        # flush, sync and close inside writing(): a full disk often fails only here, when the buffer reaches it
        with writing(path):
            f.flush()
            if sync:
                os.fsync(f.fileno())
            f.close()
        with writing(path):
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make results private to this user
            os.replace(tmp, path)
    except BaseException:
        # Closing flushes what is still buffered, which fails again on a full disk: that second failure must not
        # replace the first one (which names the file), nor the block's own exception.
        with contextlib.suppress(OSError):
            f.close()
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class GuardedFile:
    """A file whose write() turns an OSError into WriteError (what a full disk raises mid-write)."""

    def __init__(self, f: BinaryIO, path: Path):
        self._f, self._path = f, path

    def write(self, data: bytes) -> int:
        with writing(self._path):
            return self._f.write(data)


def atomic_write(path: str | Path, data: bytes, sync: bool = True) -> None:
    """Write `data` to `path` through `atomic_file`: `path` is either the old file or the whole new one."""
    with atomic_file(path, sync) as f:
        f.write(data)


def write_json(path: str | Path, obj: Any) -> None:
    """Atomically write `obj` as indented JSON."""
    atomic_write(path, (json.dumps(obj, indent=1) + "\n").encode())


def damaged(path: str | Path, why: str) -> JaxvizError:
    """The one-line error for a stored file that is not what its writer writes: its path, what is wrong, what to do."""
    return JaxvizError(f"{path} is damaged ({why}); rerun the command that wrote it to write it again")


def read_json(path: str | Path) -> Any:
    """The JSON document a writer stored at `path` (`write_json`); its format's own module checks its shape.

    Raises JaxvizError, one line: "cannot read PATH: <the OS's reason>" (missing, permissions, not UTF-8), or
    `damaged` when it is not JSON (a copy cut short, an edit gone wrong).
    """
    try:
        return json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise JaxvizError(f"cannot read {path}: {reason(e) if isinstance(e, OSError) else e}") from None
    except ValueError as e:
        raise damaged(path, f"not JSON: {e}") from None


def read_npz(path: str | Path, keys: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """The arrays `keys` of an .npz file written by `atomic_write`, or None when it is missing or damaged
    (truncated, not a zip, a key missing): every reader of stored arrays treats damage the same way."""
    try:
        with np.load(path) as z:
            return {key: z[key] for key in keys}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        return None
