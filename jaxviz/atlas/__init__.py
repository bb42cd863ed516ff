"""The atlas: a static, browsable site of every filter of a run or a sweep, written to DIR/atlas/."""

from jaxviz.atlas.build import write_atlas

__all__ = ["write_atlas"]
