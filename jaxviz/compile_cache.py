"""JAX's persistent compilation cache, on by default: a second run of the same programs compiles nothing.

Where: `ascent.compile_cache` ("auto", "off" or a directory); "auto" is $JAXVIZ_COMPILE_CACHE when set (a
directory, or "off"), else $XDG_CACHE_HOME/jaxviz/xla, else ~/.cache/jaxviz/xla. JAX reads the setting when it
first compiles, so `enable` runs before any compile of a run (a later call cannot move it).
"""

from __future__ import annotations

import os
from pathlib import Path

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
    its compile); returns the directory, or None when off. Raises nothing: an unusable directory only means
    JAX compiles again (it warns)."""
    import jax

    where = directory(setting)
    if where is None:
        jax.config.update("jax_enable_compilation_cache", False)
        return None
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # read-only home, say: compile as if off rather than fail the run
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", str(where))
    # JAX caches only programs that took >= 1 s to compile by default; jaxviz's steps compile in about that,
    # and a whole network is dozens of them: cache them all.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return where
