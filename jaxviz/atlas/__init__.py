"""The atlas: a static, browsable site of every filter of a run or a sweep, written to DIR/atlas/."""

from pathlib import Path

from jaxviz.atlas.build import write_atlas
from jaxviz.errors import JaxvizError, WriteError

__all__ = ["refresh", "write_atlas"]


def refresh(directory: str | Path) -> None:
    """Rewrite DIR/atlas (only what changed) while a run goes on: a bad input is a warning, since the run's own
    outputs are fine; an OS failure to write (WriteError) is an error, as for any other file of the run."""
    try:
        write_atlas(directory)
    except WriteError:
        raise
    except JaxvizError as e:
        print(f"jaxviz: warning: atlas not written: {e}", flush=True)
