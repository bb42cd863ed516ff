"""What the device check runs: its stages in order with their share of the budget, and the sizes of each,
full (an accelerator, about 8 minutes) or smoke (every stage tiny, on CPU, in a couple of minutes)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from jaxviz.model.architecture import CONV_LAYERS


@dataclass(frozen=True)
class Stage:
    """One stage: `name` (results.jsonl's "stage"), `share` (its weight in what is left of the budget when it
    starts), `least` (seconds below which it is skipped rather than started)."""

    name: str
    share: float
    least: float


STAGES = (
    Stage("versions", 0.06, 5),  # a first CUDA start can take 10 s or more
    Stage("tests", 0.18, 20),  # engine_checks: the engine's promises on this device
    Stage("layer_float32", 0.08, 15),
    Stage("layer_bfloat16", 0.08, 15),
    Stage("network_float32", 0.17, 20),
    Stage("network_bfloat16", 0.17, 20),
    Stage("choices", 0.15, 20),
    Stage("examples", 0.1, 20),
    Stage("oom", 0.07, 15),
    Stage("quality", 0.07, 15),
    Stage("maco", 0.25, 20),  # MACO's promises and speed (issue 20): about 60-90 s on an H200
    Stage("models", 0.1, 20),  # models beyond VGG16: VGG19 natively, Keras applications where Keras is installed
)
STAGE_NAMES = tuple(s.name for s in STAGES)


@dataclass(frozen=True)
class Plan:
    """The sizes of every stage (px, steps, filters); the defaults are the full check the issue asks for."""

    size: int = 128
    steps: int = 20
    layer: str = "block3_conv1"
    layer_filters: int = 256  # all of block3_conv1
    grid_filters: int = 64  # the first filters of the layer stage, saved as layer_<precision>.png
    network_layers: tuple[str, ...] = CONV_LAYERS
    network_filters: int = 0  # 0: every filter of each layer
    choice_layers: tuple[str, ...] = ("block3_conv1", "block5_conv3")
    choice_filters: int = 0  # 0: every filter of the layer
    program_calls: int = 10  # back-to-back calls of the step program (program and dispatch ms)
    oom_layer: str = "block1_conv2"  # big activations, small params: memory scales with the chunk alone
    oom_size: int = 224
    oom_steps: int = 2
    oom_fraction: str = "0.02"  # XLA_PYTHON_CLIENT_MEM_FRACTION of the out-of-memory stage's process
    oom_simulated_fit: int = 2  # CPU cannot run out of device memory: chunks above this raise XLA's error
    quality_layer: str = "block4_conv3"
    quality_filters: int = 16
    quality_size: int = 128
    quality_steps: int = 64
    quality_metrics: bool = True  # jaxviz.visualize's quality numbers (more compiles)
    examples_files: int = 64  # distinct synthetic 500 x 375 JPEGs written for the dataset-examples stage
    examples_repeat: int = 32  # each read this many times: 2,048 images through the whole engine
    examples_size: int = 224
    examples_seconds: float = 10.0  # the step alone on decoded images, timed this long
    checks_size: int = 40  # px of the engine's checks (engine_checks.py), as the tests that they mirror
    checks_steps: int = 6
    checks_layers: tuple[str, ...] = ("block1_conv2", "block3_conv1", "block5_conv3")  # every choice's images
    checks_optimizers: tuple[str, ...] = ("normalized", "sgd", "momentum", "adam", "rmsprop")  # no conditional
    peak_side: int | None = None  # the matmul that measures the peak (None: timing.matmul_peak_gflops' own)
    # (model, layer) pairs of the models stage, random weights: VGG19 needs nothing more, the others Keras (carry
    # its wheel to a machine without it; they are skipped, said so, where it is missing)
    models: tuple[tuple[str, str], ...] = (
        ("vgg19", "block4_conv4"),
        ("resnet50", "conv4_block1_out"),
        ("mobilenetv2", "block_6_expand_relu"),
        ("efficientnetb0", "block4a_expand_activation"),
    )
    models_filters: int = 64
    # The maco stage (maco_stage.py): its checks run every filter of maco_check_layer at maco_check_size px for
    # maco_check_steps steps as tests/test_maco.py does (its layer, side and steps), maco_check_filters also alone
    maco_check_layer: str = "block1_conv2"
    maco_check_size: int = 32
    maco_check_steps: int = 3
    maco_check_filters: tuple[int, ...] = (1, 6, 9)
    # ... then times each preset on a whole-layer chunk of each layer: maco_speed_steps steps at the preset's own
    # size (maco_speed_size 0) with maco_speed_overrides ("key=value", as --set), beside the default method in
    # maco_rounds alternating rounds (0: the preset alone: the default method's programs would add a compile per
    # item to a stage meant to take 60-90 s on an H200)
    maco_speed_presets: tuple[str, ...] = ("maco", "maco-fast")
    maco_speed_layers: tuple[str, ...] = ("block3_conv1", "block5_conv3")
    maco_speed_steps: int = 4
    maco_speed_size: int = 0
    maco_speed_overrides: tuple[str, ...] = ()
    maco_rounds: int = 0

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


FULL = Plan()
SMOKE = Plan(
    size=32,
    steps=2,
    layer_filters=4,
    grid_filters=4,
    network_layers=CONV_LAYERS[:2],
    network_filters=2,
    choice_layers=("block3_conv1",),
    choice_filters=2,
    program_calls=2,
    oom_size=32,
    quality_filters=2,
    quality_size=32,
    quality_steps=2,
    quality_metrics=False,
    examples_files=3,
    examples_repeat=6,  # 18 images: batches after the first (which compiles) give the rate
    examples_size=32,
    examples_seconds=0.5,
    checks_size=32,
    checks_steps=2,
    checks_layers=("block1_conv2",),
    checks_optimizers=("adam",),
    peak_side=256,
    models=(("vgg19", "block3_conv4"),),
    models_filters=2,
    maco_check_steps=2,
    maco_speed_layers=("block3_conv1",),
    maco_speed_steps=1,
    maco_speed_size=32,
    maco_speed_overrides=("method.crops=1", "method.crop_side=32"),
)
