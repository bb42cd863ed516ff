"""The method of an ascent (hashable, part of what keys the compiled step): how one filter's images are
parameterised, transformed, scored and updated. Everything here is a name from one of the registries
(params.PARAMS, transforms.TRANSFORMS, objectives.TERMS, optim.OPTIMIZERS, optim.SCHEDULES) or a number."""

from __future__ import annotations

from dataclasses import dataclass

from jaxviz.ascent import objectives
from jaxviz.ascent.objectives import Objective
from jaxviz.errors import JaxvizError


@dataclass(frozen=True)
class Method:
    """How one filter's k images are made (`param` ... `init_noise`), shown to the model (`transforms`),
    scored (`objective`, penalties and diversity included, `preactivation`, `revive`) and updated
    (`optimizer`, `schedule`). Raises JaxvizError for diversity with a single image."""

    param: str = "pixels"
    decorrelate: bool = False
    squash: str = "none"
    decay: float = 1.0
    init_mean: float = 128.0  # pixels start at init_mean + init_noise * U[0, 1) (the book's grey plus noise)
    init_noise: float = 20.0
    transforms: tuple[str, ...] = ()
    objective: Objective = objectives.channel()
    preactivation: bool = False
    revive: bool = True
    images: int = 1  # images per filter (k > 1 with a diversity term between them)
    optimizer: str = "normalized"
    schedule: str = "constant"

    def __post_init__(self) -> None:
        if self.objective.uses("diversity") and self.images < 2:
            raise JaxvizError("objective.diversity needs objective.images >= 2 (it compares a filter's images)")

    @property
    def single_channel(self) -> bool:
        """Whether only the filter's own channel of the target layer is needed."""
        return not self.objective.needs_layer

    @property
    def pixel_latent(self) -> bool:
        """Whether the latent is the image's own pixels (what an upscaling stage can resize)."""
        return self.param == "pixels" and not self.decorrelate and self.squash == "none"
