"""jaxviz: what every filter of a convnet responds to, by compiled, batched gradient ascent."""

from jaxviz.api import Result, visualize
from jaxviz.errors import JaxvizError

__version__ = "0.1.0"
__all__ = ["JaxvizError", "Result", "__version__", "visualize"]
