"""The static half of an ascent (hashable, keys the compiled step), built and checked from a config."""

from __future__ import annotations

from dataclasses import dataclass

from jaxviz.ascent import objectives, transforms
from jaxviz.ascent.objectives import Objective
from jaxviz.config import Config
from jaxviz.errors import JaxvizError


@dataclass(frozen=True)
class Method:
    """How one filter's image is parameterised, transformed, scored and updated (everything but values
    that are traced: step size, normaliser, seed, step count)."""

    param: str = "pixels"
    decorrelate: bool = False
    squash: str = "none"
    decay: float = 1.0
    transforms: tuple[str, ...] = ()
    objective: Objective = objectives.channel()
    preactivation: bool = False
    revive: bool = True
    tv: float = 0.0
    l2: float = 0.0
    blur: float = 0.0
    diversity: float = 0.0
    images: int = 1  # images per filter (k > 1 with a diversity penalty between them)
    optimizer: str = "normalized"
    schedule: str = "constant"

    @property
    def single_channel(self) -> bool:
        """Whether only the filter's own channel of the target layer is needed."""
        return not self.objective.needs_layer and not (self.diversity and self.images > 1)


def method_of(cfg: Config) -> Method:
    """The Method a config asks for; unsupported combinations are one-line errors naming why."""
    a, p, o = cfg.ascent, cfg.param, cfg.objective
    for spec in a.transforms:
        transforms.parse(spec)
    m = Method(
        param=p.kind,
        decorrelate=p.decorrelate,
        squash=p.squash,
        decay=p.decay,
        transforms=tuple(a.transforms),
        objective=objectives.parse(o.expr),
        preactivation=o.preactivation,
        revive=o.revive,
        tv=o.tv,
        l2=o.l2,
        blur=o.blur,
        diversity=o.diversity,
        images=o.images,
        optimizer=a.optimizer,
        schedule=a.schedule,
    )
    if a.upscale != 1.0 and a.stages > 1 and not (m.param == "pixels" and not m.decorrelate and m.squash == "none"):
        raise JaxvizError(
            "ascent.stages with ascent.upscale resize the image between stages, which needs param.kind = "
            '"pixels" with no decorrelate or squash (a Fourier or squashed latent has no pixels to resize)'
        )
    if m.diversity and m.images < 2:
        raise JaxvizError("objective.diversity needs objective.images >= 2 (it compares a filter's images)")
    if transforms.output_side(a.transforms, stage_sizes(a.size, a.stages, a.upscale)[0]) < 8:
        raise JaxvizError(f"ascent.transforms crop the {a.size} px image below 8 px; use smaller jitter or pad more")
    return m


def stage_sizes(size: int, stages: int, upscale: float) -> list[int]:
    """The side of each ascent stage: the last stage's image is resized by `upscale` up to `size`.

    With upscale 1 every stage runs at `size` (stages then only split the steps).
    """
    if upscale == 1.0:
        return [size] * stages
    return [int(size / upscale ** (stages - i)) for i in range(stages)]
