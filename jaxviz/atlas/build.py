"""write_atlas: a run's or a sweep's whole atlas, brought up to date incrementally."""

from __future__ import annotations

from pathlib import Path

from jaxviz.atlas import assets, sweep_build
from jaxviz.atlas.atlas_state import STATE, dumps, known
from jaxviz.atlas.run_build import write_run
from jaxviz.atlas.site import Run, read
from jaxviz.atlas.site_files import Output
from jaxviz.atlas.sweep_pages import HOME

FOLDER = "atlas"


def write_atlas(directory: str | Path) -> Path:
    """Write DIR/atlas for the run or sweep directory DIR, or bring it up to date; returns DIR/atlas/index.html.

    DIR may be a run (an ascent, dataset examples, or both) or a sweep. Cheap to call again: pictures are encoded
    only for tiles that changed, a layer's filter pages are made only when what they show changed, a sweep point
    that did not change is not even read, and files are replaced only when their bytes change. Bad input (neither
    a run nor a sweep, a damaged metrics.json or index.json) raises a one-line JaxvizError before anything is
    written.
    """
    site = read(directory)
    out = Output(Path(directory) / FOLDER)
    was = known(out.root / STATE)
    # A sweep's changed points are read (and checked) before anything is written.
    plan = None if isinstance(site, Run) else sweep_build.plan(out, site, was)
    for name in assets.STATIC:
        out.put(name, assets.static(name))  # replaced only when the package's copy differs
    if plan is None:
        _, made = write_run(out, site, "", was.get(""))
        state, kept = {"": made}, []
    else:
        state, kept = sweep_build.write_sweep(out, site, plan)
    out.put(STATE, dumps(state))
    out.prune(kept)
    return out.root / HOME
