"""A user's paths, checked before use, and the operating system's refusals said as their real cause.

Every path a user hands jaxviz (weights, configs, image folders, run directories, caches) goes through here
before it is opened or created, so a failure is one line naming the path and what the errno means for the user
— never a guess ("damaged file" for a locked one, "File exists" for a broken link). No JAX, no NumPy: the
command line checks its arguments with this before anything heavy is imported.
"""

from __future__ import annotations

import errno
import os
import stat
import unicodedata
from pathlib import Path

from jaxviz.errors import JaxvizError

# errno -> what it means for the person running jaxviz (strerror says what failed, this says what to do).
# Sources: POSIX errno definitions; HDF5's file locking (H5Fopen fails with EAGAIN while another process holds it).
_MEANING = {
    errno.EACCES: "your user may not use it; check its owner and mode (ls -l)",
    errno.EPERM: "the operating system forbids it here; check its owner, mode and attributes (ls -l, lsattr)",
    errno.ENOENT: "it does not exist (or a folder on the way does not)",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder, not a file",
    errno.EROFS: "the file system is mounted read-only",
    errno.ENOSPC: "the disk is full; free some space, then rerun to resume",
    errno.EDQUOT: "your disk quota is used up; free some space, then rerun to resume",
    errno.ELOOP: "its symbolic links form a loop",
    errno.ENAMETOOLONG: "the name is longer than the file system allows",
    errno.EAGAIN: "another process holds a lock on it",
    errno.EIO: "the disk or network share failed to read or write (input/output error)",
    errno.EMFILE: "this process has too many files open",
    errno.ENFILE: "the system has too many files open",
    errno.EBUSY: "it is in use by the system (a mount point, or busy)",
    errno.ESTALE: "the network share was remounted under it; open it again",
    errno.ETXTBSY: "a running program is using it",
}


def explain(error: OSError) -> str:
    """An OSError as its real cause in a few words: "Permission denied [EACCES]: your user may not use it; ...".

    The errno's symbolic name is always given when there is one (so it can be looked up), then what it means
    for the user; an error without an errno (HDF5's, say) keeps its own first line.
    """
    code = error.errno
    text = error.strerror or (str(error).strip().splitlines() or [type(error).__name__])[0]
    if code is None:
        return text
    name = errno.errorcode.get(code, str(code))
    meaning = _MEANING.get(code)
    return f"{text} [{name}]" + (f": {meaning}" if meaning else "")


def control_characters(text: str) -> list[str]:
    """The control characters in `text` as readable names ("a newline", "a tab", "U+001B"), in order."""
    names = {"\n": "a newline (\\n)", "\t": "a tab (\\t)", "\r": "a carriage return (\\r)", "\b": "a backspace (\\b)",
             "\f": "a form feed (\\f)", "\x00": "a NUL byte"}  # fmt: skip
    return [names.get(c, f"U+{ord(c):04X}") for c in text if unicodedata.category(c) == "Cc"]


BACKSLASH_HINT = (
    "a backslash in a double-quoted TOML string (or a Python string) starts an escape, so a Windows-style path "
    'like "runs\\new" turns \\n into a newline; write it in single quotes (\'runs\\new\'), as r"..." in Python, '
    "or with forward slashes (runs/new)"
)


def check_text(text: str, what: str) -> None:
    """Refuse (JaxvizError, one line) a path or name holding control characters: they are almost always a
    backslash escape that was not meant (see BACKSLASH_HINT), and a directory named with a newline is a trap."""
    found = control_characters(text)
    if found:
        raise JaxvizError(f"{what} {text!r} holds {', '.join(dict.fromkeys(found))}: {BACKSLASH_HINT}")


def broken_link(path: Path) -> str | None:
    """ "a broken symbolic link to ..." when `path` is a link whose target does not exist, else None."""
    if path.is_symlink() and not path.exists():
        try:
            target = os.readlink(path)
        except OSError as e:
            return f"a symbolic link that cannot be read ({explain(e)})"
        return f"a broken symbolic link: it points to {target!r}, which does not exist"
    return None


def input_file(path: str | Path, what: str, folder_hint: str = "", noun: str = "file") -> Path:
    """`path` (`~` expanded) once it is a readable file; else JaxvizError naming `what` and the real cause:
    control characters, a broken link, missing, a directory ("not a `noun`", then `folder_hint`), or what
    open() said (permissions, a lock, an I/O error: paths.explain)."""
    check_text(str(path), what)
    p = Path(path).expanduser()
    link = broken_link(p)
    if link:
        raise JaxvizError(f"{what} {str(path)!r} is {link}")
    kind = _special(p)
    if kind:  # opening a FIFO waits for a writer forever; a pipe or a device cannot be read twice or seeked
        raise JaxvizError(f"{what} {str(path)!r} is {kind}, not a regular file; copy it into a file first")
    try:
        with open(p, "rb"):
            pass
    except IsADirectoryError:
        raise JaxvizError(f"{what} {str(path)!r} is a directory, not a {noun}{folder_hint}") from None
    except FileNotFoundError:
        parent = _missing_parent(p)
        where = f" (the folder {str(parent)!r} does not exist)" if parent is not None else ""
        raise JaxvizError(f"{what} {str(path)!r} does not exist{where}") from None
    except OSError as e:
        raise JaxvizError(f"cannot read {what} {str(path)!r}: {explain(e)}") from None
    return p


def _special(p: Path) -> str:
    """What `p` is when it exists and is neither a regular file nor a directory ("a named pipe (FIFO)", ...)."""
    try:
        mode = os.stat(p).st_mode
    except OSError:
        return ""  # missing or unreadable: open() names the real cause
    for test, name in ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):  # fmt: skip
        if test(mode):
            return name
    return ""


def _missing_parent(p: Path) -> Path | None:
    """The first folder on the way to `p` that does not exist (None when its own folder exists)."""
    missing = None
    for parent in p.absolute().parents:
        if parent.exists():
            break
        missing = parent
    return missing


def output_dir(path: str | Path, what: str = "output directory") -> Path:
    """The real (symbolic links resolved), absolute path of a directory jaxviz will write into, checked but not
    created: JaxvizError for control characters, a broken link (named with where it points), or a path that
    exists and is not a directory. The same directory given through a link or by its real path is one run."""
    check_text(str(path), what)
    if not str(path).strip():
        raise JaxvizError(f"{what} is empty: give a directory (e.g. runs/first)")
    p = Path(os.path.expanduser(str(path)))
    link = broken_link(p)
    if link:
        raise JaxvizError(f"{what} {str(path)!r} is {link}; create that folder, or remove the link")
    real = Path(os.path.realpath(p))
    if real.exists() and not real.is_dir():
        raise JaxvizError(f"{what} {str(path)!r} exists and is not a directory")
    return real


def make_dir(path: Path, what: str = "output directory") -> None:
    """Create `path` (and its parents) if needed; JaxvizError with the real cause when the system refuses."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise JaxvizError(f"{what} {str(path)!r}: a file of that name is in the way") from None
    except OSError as e:
        where = f" ({e.filename})" if e.filename and str(e.filename) != str(path) else ""
        raise JaxvizError(f"cannot create {what} {str(path)!r}{where}: {explain(e)}") from None
