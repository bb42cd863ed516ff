"""JAX's persistent compilation cache, on by default: a second run of the same programs compiles nothing.

Where: `ascent.compile_cache` ("auto", "off" or a directory); "auto" is $JAXVIZ_COMPILE_CACHE when set (a
directory, or "off"), else $XDG_CACHE_HOME/jaxviz/xla, else ~/.cache/jaxviz/xla. JAX reads the setting when it
first compiles, so `enable` runs before any compile of a run (a later call cannot move it).
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from pathlib import Path

from jaxviz.runtime.paths import control_characters, explain

OFF = ("off", "0", "false", "no", "none")


def directory(setting: str = "auto") -> Path | None:
    """The cache directory `setting` means here, or None when caching is off."""
    value = setting
    if setting == "auto":
        value = os.environ.get("JAXVIZ_COMPILE_CACHE", "")
        if not value:
            base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
            return Path(base) / "jaxviz" / "xla"
    if value.strip().lower() in OFF:
        return None
    return Path(value).expanduser()


def enable(setting: str = "auto") -> Path | None:
    """Point JAX's persistent compilation cache at `directory(setting)` (every program cached, however quick
    its compile); returns the directory, or None when off or unusable. Raises nothing: an unusable cache only
    means JAX compiles again, and that is said once, in one line (`say_once`), not once per program: a
    directory that cannot be created or written is turned off; entries JAX cannot read or write (a corrupted
    or read-only cache) are collapsed into one warning."""
    import jax

    where = directory(setting)
    if where is None:
        jax.config.update("jax_enable_compilation_cache", False)
        return None
    why = _unusable(where)
    if why:
        say_once(
            f"the compilation cache {str(where)!r} cannot be used ({why}); every program is compiled each run: "
            f'set ascent.compile_cache (or $JAXVIZ_COMPILE_CACHE) to another directory, or to "off"'
        )
        jax.config.update("jax_enable_compilation_cache", False)
        return None
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", str(where))
    # JAX caches only programs that took >= 1 s to compile by default; jaxviz's steps compile in about that,
    # and a whole network is dozens of them: cache them all.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _collapse_entry_warnings(where)
    return where


def _unusable(where: Path) -> str:
    """Why `where` cannot hold the cache ("" when it can): control characters in its name (a mistyped variable),
    a file in its place, or what the OS said when it was created and a file written in it."""
    found = control_characters(str(where))
    if found:
        return f"its name holds {', '.join(dict.fromkeys(found))}"
    if where.exists() and not where.is_dir():
        return "it is a file, not a directory"
    try:
        where.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".jaxviz-probe-", dir=where)  # JAX writes entries beside it
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        return explain(e)
    return ""


# JAX's own warning for each program whose cache entry it cannot read or write (jax/_src/compiler.py).
_ENTRY_WARNINGS = (
    "Error reading persistent compilation cache entry",
    "Error writing persistent compilation cache entry",
)
_said: set[str] = set()  # what say_once has said in this process


def say_once(text: str) -> None:
    """A jaxviz warning line on stderr, the first time this process has `text` to say."""
    if text not in _said:
        _said.add(text)
        print(f"jaxviz: warning: {text}", file=sys.stderr, flush=True)


def _collapse_entry_warnings(where: Path) -> None:
    """Replace JAX's warning per unreadable or unwritable cache entry (one per program: dozens in a run) by
    one line of ours. Installed once per process through warnings.showwarning, the standard library's hook
    for how warnings are shown; every other warning passes to the previous hook unchanged."""
    previous = warnings.showwarning
    if getattr(previous, "jaxviz_cache", False):
        return

    def show(message, category, filename, lineno, file=None, line=None):
        text = str(message)
        if text.startswith(_ENTRY_WARNINGS[0]):
            why = text.split("': ", 1)[-1]
            say_once(f"the compilation cache {where} holds entries JAX cannot read ({why}); those programs are "
                     f"compiled again and their entries rewritten (delete {where} to start it afresh)")  # fmt: skip
        elif text.startswith(_ENTRY_WARNINGS[1]):
            why = text.split("': ", 1)[-1]
            say_once(f"cannot write to the compilation cache {where} ({why}); programs compiled now will be "
                     f'compiled again next run: free space there, or set ascent.compile_cache to "off"')  # fmt: skip
        else:
            previous(message, category, filename, lineno, file, line)

    show.jaxviz_cache = True
    warnings.showwarning = show
