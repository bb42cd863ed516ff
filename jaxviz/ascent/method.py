"""The method of an ascent (hashable, part of what keys the compiled step): how one filter's images are
parameterised, transformed, scored and updated. Everything here is a name from one of the registries
(params.PARAMS, transforms.TRANSFORMS, objectives.TERMS, optim.OPTIMIZERS, optim.SCHEDULES), a number, or the
magnitude template MACO keeps fixed (jaxviz.ascent.spectrum.Magnitude, hashed by its fingerprint)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from jaxviz.ascent import objectives
from jaxviz.ascent.objectives import Objective
from jaxviz.errors import JaxvizError

if TYPE_CHECKING:  # numpy and Pillow: imported where a template is built, not with the method
    from jaxviz.ascent.spectrum import Magnitude

# The crops' defaults are Xplique's `maco` (deel-ai/xplique, xplique/features_visualizations/maco.py): 32 crops a
# step; each crop's side (a fraction of the image's) drawn from N(mean, 0.05) clipped to [0.05, 1], the mean going
# linearly from 0.5 at the first step to 0.05 at the last; the centre from N(0.5, 0.15) per axis (Horama's
# `optimization_step`, serre-lab/Horama horama/common.py, draws the centre the same way).
CROP_CENTRE = (0.5, 0.15)  # mean and standard deviation of a crop's centre, as fractions of the image side
SMALLEST_CROP = 0.05  # a crop's side is clipped to [SMALLEST_CROP, 1] of the image's (Xplique's clip)


@dataclass(frozen=True)
class Method:
    """How one filter's k images are made (`param` ... `init_noise`, `spectrum`), shown to the model
    (`transforms`, then `crops`, `noise`), scored (`objective`, penalties and diversity included,
    `preactivation`, `revive`), updated (`optimizer`, `schedule`) and what is kept beside them (`alpha`).

    param "maco": the phase of each image's spectrum is the latent and its magnitude is `spectrum`
    (jaxviz.ascent.spectrum.Magnitude; None: the template shipped with jaxviz), rendered in decorrelated colour
    through a sigmoid (`decorrelate` and `squash` do not apply to it).

    crops: each step shows the model `crops` random square crops of every image (after `transforms`), each
    resized to `crop_side` px (0: the network's input side, its fixed side or else the side it was trained at),
    instead of the image itself: crop sides are fractions of the image side drawn from N(m, `crop_spread`)
    clipped to [SMALLEST_CROP, 1], m going linearly from `crop_start` at the first step to `crop_end` at the last;
    centres from N(`crop_centre`) per axis, moved so the crop lies inside the image. The objective is the mean
    over the crops. noise: what the model sees gets N(0, noise) plus U(-noise/2, noise/2) per value (RGB 0-255
    units), as MACO's sources add both.

    alpha: accumulate each image's transparency map (|d objective / d image| summed over colour, over the steps,
    divided by how much each pixel was seen: jaxviz.ascent.engine).

    Raises JaxvizError (one line) for diversity with a single image or with crops, or crop numbers out of range.
    """

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
    spectrum: Magnitude | None = None
    crops: int = 0
    crop_side: int = 0
    crop_start: float = 0.5
    crop_end: float = 0.05
    crop_spread: float = 0.05
    crop_centre: tuple[float, float] = CROP_CENTRE
    noise: float = 0.0
    alpha: bool = False

    def __post_init__(self) -> None:
        if self.objective.uses("diversity") and self.images < 2:
            raise JaxvizError("objective.diversity needs objective.images >= 2 (it compares a filter's images)")
        if self.objective.uses("diversity") and self.crops:
            raise JaxvizError("objective.diversity compares whole images; it cannot be used with method.crops")
        if self.crops < 0 or self.crop_side < 0 or self.noise < 0 or self.crop_spread < 0:
            raise JaxvizError("method.crops, method.crop_side, method.crop_spread and method.noise must be 0 or more")
        for name in ("crop_start", "crop_end"):
            if not SMALLEST_CROP <= getattr(self, name) <= 1:
                raise JaxvizError(
                    f"method.{name} is a fraction of the image side: it must lie in {SMALLEST_CROP:g}..1, "
                    f"got {getattr(self, name)!r}"
                )
        if self.crop_centre[1] < 0:
            raise JaxvizError(f"a crop centre's standard deviation must be 0 or more, got {self.crop_centre[1]!r}")

    @property
    def single_channel(self) -> bool:
        """Whether only the filter's own channel of the target layer is needed."""
        return not self.objective.needs_layer

    @property
    def pixel_latent(self) -> bool:
        """Whether the latent is the image's own pixels (what an upscaling stage can resize)."""
        return self.param == "pixels" and not self.decorrelate and self.squash == "none"
