"""jaxviz: what every filter of a convnet responds to, by compiled, batched gradient ascent."""

from jaxviz.errors import JaxvizError

__version__ = "0.1.0"
__all__ = ["JaxvizError", "__version__"]
