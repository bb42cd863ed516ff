"""Every setting's default, as frozen dataclasses: one per config section. A TOML file holds only what differs.

A field that a command line sets with a flag of its own says so here (`flag`): config.keys reads the commands'
flags from these fields, so a key, its default, its flags and their help are written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def flag(default: Any, metavar: str, help: str, **commands: str) -> Any:
    """A field with `default` that each of `commands` ("visualize", "examples", "convert") sets with the flag
    named as given (`--size`), showing `metavar` and `help` in --help."""
    return field(default=default, metadata={"flags": commands, "metavar": metavar, "help": help})


@dataclass(frozen=True)
class ModelConfig:
    # jaxviz.model.model_registry's names: vgg16 and vgg19 (jaxviz's own), a keras.applications name (resnet50, ...),
    # or keras (the model a .keras or full-model .h5 in `weights` holds). All but the VGGs need jaxviz[keras].
    name: str = flag("vgg16", "NAME", "the model: vgg16, vgg19, a keras.applications name (resnet50, ...), or keras "
                     "(the model in --weights); see docs/models.md", visualize="model", examples="model")  # fmt: skip
    # How a Keras model that is not a keras.applications one wants its input: caffe, tf ([-1, 1]), torch, 0-1, 0-255.
    preprocess: str = ""
    # A Keras .h5, .weights.h5 or .keras, or a converted .msgpack; "" searches (docs/weights.md) and may download.
    weights: str = flag("", "PATH", "weights or model file: Keras .h5, .weights.h5, .keras, or converted .msgpack",
                        visualize="weights", examples="weights", convert="weights")  # fmt: skip
    download: bool = True  # allow downloading Keras' file when nothing is found locally
    fingerprint: str = ""  # the weights' value hash a run used (its config.toml); set, other weights are refused


@dataclass(frozen=True)
class TargetConfig:
    layers: str | tuple[str, ...] = flag("all", "L1,L2|all", "layers to visualise (\"all\", names, or a list)",
                                         visualize="layers", examples="layers")  # fmt: skip
    filters: str | tuple[int, ...] = flag("all", "0:64|3,5,9|all", "filters of each layer (a range, a list, all)",
                                          visualize="filters", examples="filters")  # fmt: skip


@dataclass(frozen=True)
class AscentConfig:
    size: int = flag(150, "PX", "image side in pixels", visualize="size")
    steps: int = flag(40, "N", "ascent steps", visualize="steps")
    step: float = 1.0  # step size (learning rate); in pixel units for pixels with the normalized optimizer
    normalize: str = "rms"  # normalized optimizer: g/(sqrt(mean g^2)+1e-5), g/|g|, g/max|g|, g/max(g)
    optimizer: str = "normalized"  # normalized (the seeds'), sgd, momentum, adam, rmsprop, nadam (optax)
    schedule: str = "constant"  # step size over the steps: constant, cosine, warmup_cosine, linear
    init_mean: float = 128.0  # initial image = init_mean + init_noise * U[0, 1)
    init_noise: float = 20.0
    seed: int = 0
    chunk: int = 0  # filters per compiled batch; 0 picks one that fits device memory
    precision: str = "float32"  # convolutions in float32 or bfloat16 (image and update stay float32)
    transforms: tuple[str, ...] = ()  # random per filter and step, e.g. ["pad:12", "jitter:8", "scale:0.9:1.1"]
    stages: int = 1  # ascent stages of `steps` steps each
    upscale: float = 1.0  # after each stage, resize the image by this (bicubic); the last ends at `size`
    loop: str = "auto"  # host: one dispatch per step (CPU); device: segments of steps in one compiled loop
    target: str = "auto"  # channel: only the filter's channel of the layer (CPU); layer: the whole layer
    conv: str = "auto"  # patches: small maps as a patch matmul (CPU); xla: XLA's convolution everywhere
    compile_cache: str = "auto"  # JAX's persistent compilation cache: auto (see compile_cache.py), off, or a dir


@dataclass(frozen=True)
class ParamConfig:
    kind: str = "pixels"  # pixels, fourier (a 1/f-scaled spectrum), or maco (the phase; [method] has the rest)
    decorrelate: bool = False  # optimise in ImageNet's decorrelated colour space
    squash: str = "none"  # none, or sigmoid (pixels always valid)
    decay: float = 1.0  # fourier: spectrum scaled by 1/frequency^decay


@dataclass(frozen=True)
class MethodConfig:
    """MACO's magnitude template and the crops it shows the model, and transparency maps (docs/methods.md)."""

    # param.kind = "maco": the magnitude template: "" the one shipped with jaxviz, an image folder (one pass, cached)
    # or a template file (jaxviz-spectrum's .npz, or a (3, H, H // 2 + 1) .npy such as Xplique's)
    spectrum: str = ""
    spectrum_fingerprint: str = ""  # the template a run used (its config.toml); set, another template is refused
    crops: int = 0  # random square crops shown per image each step, the objective their mean (0: the image itself)
    crop_side: int = 0  # px the crops are resized to; 0: the model's input side (224 for VGG16)
    crop_start: float = 0.5  # mean crop side, a fraction of the image side, at the first step (Xplique's 0.5) ...
    crop_end: float = 0.05  # ... and at the last (Xplique's 0.05), linear between
    crop_spread: float = 0.05  # standard deviation of each crop's side around that mean (Xplique's)
    noise: float = 0.0  # N(0, noise) + U(-noise/2, noise/2) added to what the model sees, in RGB 0-255 units
    alpha: bool | str = "auto"  # transparency maps: auto (on for param.kind = "maco"), on, off


@dataclass(frozen=True)
class ObjectiveConfig:
    expr: str = "channel"  # a weighted sum of channel, neuron (centre), layer_l2, e.g. "channel + 0.5*neuron"
    preactivation: bool = False  # score the layer before its ReLU
    revive: bool = True  # a silent filter follows its pre-activation's gradient until it fires
    tv: float = 0.0  # penalty weights: total variation, distance from grey, difference from a blur
    l2: float = 0.0
    blur: float = 0.0
    diversity: float = 0.0  # penalty on the similarity of a filter's images (needs images >= 2)
    images: int = 1  # images per filter


@dataclass(frozen=True)
class OutputConfig:
    dir: str = flag("runs/latest", "DIR", "run directory", visualize="out", examples="out")
    columns: int = 0  # grid columns; 0 = ceil(sqrt(filters))
    margin: int = 5  # black pixels between tiles
    sort: bool = False  # order the grid by final activation, highest first
    deprocess_std: float = 0.1  # each tile is centred, scaled to this std, shifted by 0.5, clipped
    display: str = "std"  # std: centred, scaled to deprocess_std (the seeds'); minmax; clip (0-255 as is)
    grid: str = "all"  # all, or best_square: the n*n live filters with the highest activation (the Keras example)
    quality: bool | str = "auto"  # displayed activation, robustness, selectivity: auto (when cheap), on, off
    atlas: bool = True  # write DIR/atlas/ (a browsable site), refreshed as layers or sweep points finish
    filter_pngs: bool = False  # also write one PNG per filter
    tensorboard: bool = True
    snapshot_every: int = 10  # grid image to TensorBoard every N steps (0: only the final grid)
    progress: bool = True


@dataclass(frozen=True)
class ExamplesConfig:
    """Dataset examples (scripts/examples.py; with `images` set, visualize computes them after the ascent)."""

    # Folder of JPEG/PNG files (searched recursively); "" = off. Relative: to the working directory.
    images: str = flag("", "DIR", "folder of JPEG/PNG files, searched recursively", examples="images")
    top: int = flag(16, "K", "images kept per filter", examples="top")
    size: int = flag(224, "PX", "centre-crop side in pixels", examples="size")
    batch: int = flag(0, "N", "images per forward pass (0 picks one for the device)", examples="batch")
    save_every: int = flag(1024, "N", "images between saves of the resumable state", examples="save-every")
    # auto (Winograd on CPU's deep layers), xla (Keras' exact arithmetic), winograd
    conv: str = flag("auto", "auto|xla|winograd", "auto: Winograd on CPU's deep layers (scores within ~2e-5); "
                     "xla: Keras' exact arithmetic", examples="conv")  # fmt: skip


@dataclass(frozen=True)
class DistributedConfig:
    """Multi-process settings (which process this is comes from --coordinator/--num-processes/--process-id)."""

    initialization_timeout: int = 300  # seconds to wait for every process to join
    heartbeat_timeout: int = 100  # seconds without a heartbeat before a process counts as dead
    barrier_timeout: int = 86400  # seconds process 0 waits for the others to finish a layer


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    target: TargetConfig = field(default_factory=TargetConfig)
    ascent: AscentConfig = field(default_factory=AscentConfig)
    param: ParamConfig = field(default_factory=ParamConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    examples: ExamplesConfig = field(default_factory=ExamplesConfig)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)
