"""jaxviz: what every filter of a convnet responds to, by compiled, batched gradient ascent."""

from jaxviz.api import Result, visualize
from jaxviz.errors import JaxvizError
from jaxviz.examples import (  # the function shadows its subpackage's name: jaxviz.examples(...)
    Examples,
    LayerExamples,
    crops,
    crops_grid,
    examples,
)

__version__ = "0.1.0"
__all__ = [
    "Examples",
    "JaxvizError",
    "LayerExamples",
    "Result",
    "SlowCallWarning",
    "__version__",
    "crops",
    "crops_grid",
    "examples",
    "visualize",
]


def __getattr__(name: str):
    # SlowCallWarning lives with the progress bar, which imports rich: `import jaxviz` stays light until asked.
    if name == "SlowCallWarning":
        from jaxviz.progress import SlowCallWarning

        return SlowCallWarning
    raise AttributeError(f"module 'jaxviz' has no attribute {name!r}")
