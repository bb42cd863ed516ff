"""jaxviz: what every filter of a convnet responds to, by compiled, batched gradient ascent."""

from jaxviz.api import Result, visualize
from jaxviz.errors import JaxvizError
from jaxviz.examples import crops, examples  # the function shadows its subpackage's name: jaxviz.examples(...)

__version__ = "0.1.0"
__all__ = ["JaxvizError", "Result", "__version__", "crops", "examples", "visualize"]
