"""Running visualisations: one run (`job`), its resumable state, sweeps of runs, several processes."""

from jaxviz.run.job import plan, run

__all__ = ["plan", "run"]
