"""What a run directory may be: new, empty, or jaxviz's own (a run's or dataset examples'), never a sweep's, never
some other folder. Checked before anything is written: `--out ""`, `--out /` or `--out photos/` once wrote a run
into the working directory, the root or a photo folder (whose next dataset-examples pass then counted jaxviz's own
grids among the photos).
"""

from __future__ import annotations

from pathlib import Path

from jaxviz.errors import JaxvizError

# Any of these makes a directory jaxviz's: a run's config, metrics, chunk store, dataset examples, or its lock.
RUN_MARKS = ("config.toml", "metrics.json", "state", "examples", ".jaxviz.lock")
SWEEP_MARKS = ("index.json", "sweep.toml")  # a sweep directory's own files (its points are run directories)
IGNORED = {".DS_Store", "Thumbs.db"}  # what file browsers leave in any folder


def _entries(path: Path) -> list[str]:
    try:
        return sorted(p.name for p in path.iterdir() if p.name not in IGNORED)
    except FileNotFoundError:
        return []
    except OSError:
        return []  # unreadable: the write check that follows names the real cause


def _foreign(path: Path, entries: list[str], what: str, mine: str) -> JaxvizError:
    shown = ", ".join(entries[:4]) + (f" and {len(entries) - 4} more" if len(entries) > 4 else "")
    return JaxvizError(
        f"{what} {str(path)!r} already holds other files ({shown}) and is not {mine}; give a new or empty directory"
    )


def check_run_dir(path: Path, what: str = "output directory") -> None:
    """Raise JaxvizError (one line) unless `path` is new, empty, or a jaxviz run directory; a sweep directory is
    refused by name (its points are the run directories)."""
    entries = _entries(path)
    if any(name in entries for name in SWEEP_MARKS) and not any(name in entries for name in RUN_MARKS[:4]):
        raise JaxvizError(
            f"{what} {str(path)!r} is a sweep directory (index.json); a run goes in a directory of its own, "
            f"e.g. {path / 'my-run'}, and a sweep's points are written by jaxviz-sweep"
        )
    if entries and not any(name in entries for name in RUN_MARKS):
        raise _foreign(path, entries, what, "a jaxviz run directory")


def check_sweep_dir(path: Path, what: str = "sweep directory") -> None:
    """Raise JaxvizError (one line) unless `path` is new, empty, or a sweep directory; a run directory is refused
    by name."""
    entries = _entries(path)
    if any(name in entries for name in SWEEP_MARKS):
        return
    if any(name in entries for name in RUN_MARKS[:4]):
        raise JaxvizError(
            f"{what} {str(path)!r} is a run directory (config.toml, state/); give the sweep a directory of its own"
        )
    if entries and entries != [".jaxviz.lock"]:
        raise _foreign(path, entries, what, "a jaxviz sweep directory")
