"""The VGG family's architecture as plain facts: layer names, widths, geometry, minimum sizes, cost. No JAX here.

The engine, the config checks, the progress bar and the atlas all need these; the atlas and the config
must not pay for importing JAX to learn the layer order. Source: Simonyan & Zisserman, "Very Deep
Convolutional Networks for Large-Scale Image Recognition" (arXiv:1409.1556), configurations D (VGG16) and E
(VGG19), with Keras' layer names (keras.applications.vgg16, keras.applications.vgg19). The module-level names
are VGG16's (the default model); `VGGArchitecture` describes either.
"""

from __future__ import annotations

from dataclasses import dataclass

# Keras' VGG16 "caffe" preprocessing: RGB -> BGR, then this per-channel mean is subtracted.
MEAN_BGR = (103.939, 116.779, 123.68)
BLOCK_WIDTHS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
CONV_LAYERS = tuple(f"block{b}_conv{c}" for b, widths in enumerate(BLOCK_WIDTHS, 1) for c in range(1, len(widths) + 1))
CONV_WIDTHS = dict(zip(CONV_LAYERS, (w for widths in BLOCK_WIDTHS for w in widths)))
VGG19_BLOCK_WIDTHS = ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4)
TOP_LAYERS = ("fc1", "fc2", "predictions")
TOP_INPUT_SIZE = 224  # the classifier top's Flatten expects a 7x7x512 map


def block(layer: str) -> int:
    """The block (1-5) of a conv layer name; ValueError for a name that is not one."""
    if layer not in CONV_WIDTHS:
        raise ValueError(f"unknown layer {layer!r}; valid: {', '.join(CONV_LAYERS)}")
    return int(layer[len("block")])


def min_size(layer: str) -> int:
    """Smallest image side (px) for which `layer`'s map is at least 1x1: one 2x2 pool ends each earlier block
    (VGG16's: VGGArchitecture.min_size)."""
    return VGG16_ARCHITECTURE.min_size(layer)


def conv_geometry(upto: str, size: int) -> list[tuple[str, int, int, int]]:
    """(name, map side, in channels, out channels) of every VGG16 conv layer up to `upto` for `size` px input
    (VGGArchitecture.conv_geometry)."""
    return VGG16_ARCHITECTURE.conv_geometry(upto, size)


def gflop_per_step(layer: str, size: int) -> float:
    """GFLOP of one VGG16 ascent step of one image (VGGArchitecture.gflop_per_step)."""
    return VGG16_ARCHITECTURE.gflop_per_step(layer, size)


@dataclass(frozen=True)
class VGGArchitecture:
    """A VGG network's facts: `name` ("vgg16", "vgg19") and its `block_widths` (the conv widths of each of its
    five blocks, each block ending in a 2x2 max pool). JAX-free; the same arithmetic as the module functions."""

    name: str
    block_widths: tuple[tuple[int, ...], ...]

    @property
    def layers(self) -> tuple[str, ...]:
        """The conv layers in network order, named as Keras names them (block{b}_conv{c})."""
        return tuple(f"block{b}_conv{c}" for b, ws in enumerate(self.block_widths, 1) for c in range(1, len(ws) + 1))

    @property
    def widths(self) -> dict[str, int]:
        """Channels of each conv layer."""
        return dict(zip(self.layers, (w for ws in self.block_widths for w in ws)))

    def min_size(self, layer: str) -> int:
        """Smallest image side (px) for which `layer`'s map is at least 1x1 (a pool ends each earlier block)."""
        if layer not in self.widths:
            raise ValueError(f"unknown layer {layer!r}; valid: {', '.join(self.layers)}")
        return 2 ** (int(layer[len("block")]) - 1)

    def conv_geometry(self, upto: str, size: int) -> list[tuple[str, int, int, int]]:
        """(name, map side, in channels, out channels) of every conv layer up to `upto` for `size` px input."""
        out, side, cin, widths = [], size, 3, self.widths
        for name in self.layers[: self.layers.index(upto) + 1]:
            if name.endswith("conv1") and name != self.layers[0]:
                side //= 2  # a 2x2 'valid' pool ends every block
            out.append((name, side, cin, widths[name]))
            cin = widths[name]
        return out

    def gflop_per_step(self, layer: str, size: int) -> float:
        """GFLOP of one ascent step of one image: forward to `layer`, input-gradient backward (2 FLOP per MAC)."""
        macs = sum(side * side * 9 * cin * cout for _, side, cin, cout in self.conv_geometry(layer, size))
        return 2 * 2 * macs / 1e9


VGG16_ARCHITECTURE = VGGArchitecture("vgg16", BLOCK_WIDTHS)
VGG19_ARCHITECTURE = VGGArchitecture("vgg19", VGG19_BLOCK_WIDTHS)
