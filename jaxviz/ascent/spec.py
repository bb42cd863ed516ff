"""The ascent's inputs: a static `Spec` (what is compiled) and traced `Knobs` (what can change for free).

A Spec is hashable and keys the compiled step: the layer, the image side, the stages and their
upscaling, the precision and the Method. Knobs are values the compiled step takes as arguments, so a
sweep over step sizes, normalisers, seeds or step counts compiles once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import NamedTuple

from jaxviz.ascent import transforms
from jaxviz.ascent.method import Method
from jaxviz.ascent.optim import NORMALIZERS
from jaxviz.errors import JaxvizError
from jaxviz.model.network import VGG16, Network, check_target

PRECISIONS = ("float32", "bfloat16")  # the convolutions' dtype; the image and its update stay float32
# How the step runs, each "auto" by backend (`for_backend`); every choice gives the same images (within float
# rounding), so "auto" is only about speed:
# loop: "host" dispatches one step at a time from Python (fastest measured on XLA:CPU), "device" runs a
#   segment of steps in one compiled lax.fori_loop (one dispatch per segment: accelerators);
# target: "channel" computes only the maximised filter's channel of the target layer (under vmap a grouped
#   convolution, cheap on XLA:CPU), "layer" computes the whole layer and takes the channel (no grouped
#   convolution: cuDNN's kernels and sharding want this);
# conv: "patches" computes small maps and the RGB layer as a patch matmul (XLA:CPU's convolution gradient is
#   slow there), "xla" always uses XLA's convolution (accelerators: no 9x copy of the activations).
LOOPS, TARGETS, CONVS = ("auto", "host", "device"), ("auto", "channel", "layer"), ("auto", "xla", "patches")
CHOICES = {"loop": LOOPS, "target": TARGETS, "conv": CONVS}
CPU_CHOICES = {"loop": "host", "target": "channel", "conv": "patches"}
ACCELERATOR_CHOICES = {"loop": "device", "target": "layer", "conv": "xla"}
MIN_SEEN = 8  # px: the smallest image the transforms may hand the model (a 3x3 conv and a pool still fit)


class Knobs(NamedTuple):
    """Traced values: `step` (step size, pixel units for pixels with `normalized`), `normalizer` (a name
    of optim.NORMALIZERS), `seed` (each filter's start and transforms come from (seed, layer, filter)),
    `steps` (per stage; the schedules see steps * stages in all)."""

    step: float = 1.0
    normalizer: str = "rms"
    seed: int = 0
    steps: int = 40

    def normalizer_index(self) -> int:
        """`normalizer`'s position in optim.NORMALIZERS (what the compiled step receives)."""
        return list(NORMALIZERS).index(self.normalizer)


@dataclass(frozen=True)
class Spec:
    """What one layer's compiled ascent is: `layer` of `network` (jaxviz.model.network.Network, VGG16 by default),
    the final image side `size` (px), `stages` of steps each followed by a bicubic resize by `upscale` (the last
    ending at `size`), `precision`, `method`.

    Raises JaxvizError for combinations that cannot work (an upscaled Fourier latent, a crop below
    MIN_SEEN px, diversity with one image).
    """

    layer: str
    size: int
    stages: int = 1
    upscale: float = 1.0
    precision: str = "float32"
    method: Method = field(default_factory=Method)
    loop: str = "auto"
    target: str = "auto"
    conv: str = "auto"
    network: Network = VGG16

    def __post_init__(self) -> None:
        check_target(self.network, self.layer)  # an unknown layer, or one of the model's that cannot be a target
        if self.precision not in PRECISIONS:
            raise JaxvizError(f"precision must be one of {', '.join(PRECISIONS)}; got {self.precision!r}")
        if self.precision != "float32" and self.network.family != "vgg":  # Keras and Flax layers keep their dtype
            raise JaxvizError(
                f"ascent.precision = {self.precision!r} is for the VGG family; {self.network.name} runs in float32"
            )
        for name, valid in (("loop", LOOPS), ("target", TARGETS), ("conv", CONVS)):
            if getattr(self, name) not in valid:
                raise JaxvizError(f"ascent.{name} must be one of {', '.join(valid)}; got {getattr(self, name)!r}")
        m = self.method
        if self.upscale != 1.0 and self.stages > 1 and not m.pixel_latent:
            raise JaxvizError(
                "ascent.stages with ascent.upscale resize the image between stages, which needs param.kind = "
                '"pixels" with no decorrelate or squash (a Fourier or squashed latent has no pixels to resize)'
            )
        first = self.sizes[0]
        seen = transforms.output_side(m.transforms, first)
        if seen < MIN_SEEN:
            raise JaxvizError(
                f"the model would be shown {max(seen, 0)} px images, below the {MIN_SEEN} px the ascent needs (a 3 x 3 "
                f"convolution and a pool): {shrinkers(m, self.size, self.stages, self.upscale, MIN_SEEN)}; "
                f"{growers(m, self.size, self.stages, self.upscale, MIN_SEEN)}"
            )
        if m.crops and crop_side(m, self.network) < MIN_SEEN:
            raise JaxvizError(f"method.crop_side must be at least {MIN_SEEN} px; got {m.crop_side}")

    def for_backend(self, backend: str) -> Spec:
        """This spec with every "auto" choice made for `backend` ("cpu", "gpu", "tpu"): CPU_CHOICES on CPU,
        ACCELERATOR_CHOICES elsewhere (reasoned from XLA:GPU's rules; to be confirmed on a lent device)."""
        table = CPU_CHOICES if backend == "cpu" else ACCELERATOR_CHOICES
        chosen = {k: table[k] for k in ("loop", "target", "conv") if getattr(self, k) == "auto"}
        return dataclasses.replace(self, **chosen) if chosen else self

    @property
    def single_channel(self) -> bool:
        """Whether the step computes only the filter's own channel of the target layer (made choices only; the VGG
        family's fast path: another network computes the whole layer)."""
        return self.target == "channel" and self.method.single_channel and self.network.family == "vgg"

    def fed_side(self, stage: int = 0) -> int:
        """The side (px) of what the model is shown at `stage` (`fed_side`)."""
        return fed_side(self.method, self.sizes[stage], self.network)

    @property
    def sizes(self) -> list[int]:
        """Each stage's image side: with upscale 1 every stage runs at `size` (stages then only split steps)."""
        return stage_sizes(self.size, self.stages, self.upscale)


def stage_sizes(size: int, stages: int, upscale: float) -> list[int]:
    """The side of each ascent stage: the last stage's image is resized by `upscale` up to `size`."""
    if upscale == 1.0:
        return [size] * stages
    return [int(size / upscale ** (stages - i)) for i in range(stages)]


def shrinkers(method: Method, size: int, stages: int, upscale: float, least: int) -> str:
    """What makes the first stage's image, after `method.transforms`, smaller than `least` px, in words: `size`
    itself (when nothing else does), upscaling stages that start below it, jitters that crop it (pads only add)."""
    first = stage_sizes(size, stages, upscale)[0]
    seen = transforms.output_side(method.transforms, first)
    why = []
    if first < size:
        why.append(
            f"stage 1 of ascent.stages = {stages} runs at {first} px (ascent.size = {size} divided by ascent.upscale = "
            f"{upscale:g} once per stage)"
        )
    if seen < first:
        jitters = [t for t in method.transforms if t.strip().startswith("jitter")]
        below = f" below {least} px" if seen < least <= first else ""
        why.append(f"ascent.transforms {', '.join(jitters)} crop the {first} px image{below} to {max(seen, 0)} px")
    return "; ".join(why) or f"ascent.size = {size}" + (" is that small" if size < least else "")


def least_size(method: Method, stages: int, upscale: float, least: int) -> int | None:
    """The smallest ascent.size (px) at which every stage's image after `method.transforms` is at least `least` px
    (None past 65536 px: transforms that never let it). Each stage's side grows with ascent.size and a transform's
    output with its input, so the first size that works is found by doubling and bisection."""

    def fits(size: int) -> bool:
        return min(transforms.output_side(method.transforms, s) for s in stage_sizes(size, stages, upscale)) >= least

    hi = max(least, 1)
    while not fits(hi):
        hi *= 2
        if hi > 65536:
            return None
    lo = 0  # fails (or is 0); hi fits
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(mid) else (mid, hi)
    return hi


def growers(method: Method, size: int, stages: int, upscale: float, least: int) -> str:
    """What to change so that every stage shows the model at least `least` px, in words: the ascent.size that does
    it (`least_size`), or, where none does, the settings that shrink the image (fewer stages, smaller jitters)."""
    need = least_size(method, stages, upscale, least)
    others = []
    if stages > 1 and upscale != 1.0:
        others.append("fewer ascent.stages or a smaller ascent.upscale")
    if any(t.strip().startswith("jitter") for t in method.transforms):
        others.append("smaller jitters in ascent.transforms")
    if need is None:
        return f"use {' or '.join(others)}" if others else "use a larger image"
    return f"raise ascent.size to at least {need}" + (f", or use {' or '.join(others)}" if others else "")


def crop_side(method: Method, network: Network) -> int:
    """The side (px) method.crops are resized to: method.crop_side, or 0 for the network's input side (its fixed
    side, else the side it was trained at: 224 for VGG16 and most Keras applications), as MACO's sources resize
    their crops to the model's input size."""
    return method.crop_side or network.input.fixed_size or network.input.natural_size


def fed_side(method: Method, side: int, network: Network) -> int:
    """The side (px) of what `network` is shown of a `side` px image under `method`: the crop side with
    method.crops, else the image after method.transforms (pads add, jitters crop)."""
    return crop_side(method, network) if method.crops else transforms.output_side(method.transforms, side)
