"""Vendors' documented dense peak rates, matched on `jax.Device.device_kind`, to set measured FLOP/s against.

A measured matmul peak (timing.matmul_peak_gflops) says what XLA reaches on this machine today; the datasheet
says what the silicon can do. The benchmark reports the fraction of both. Figures are TFLOP/s per chip, dense:
NVIDIA's datasheets print the tensor-core rates with 2:4 structured sparsity (marked "*"), twice the dense rate,
so the dense rate is half the printed one. Google's Cloud TPU pages give one bf16 peak per chip.

Which figure bounds which precision (`basis`):
- NVIDIA, "bfloat16": the bf16 tensor-core rate.
- NVIDIA, "float32": XLA:GPU runs float32 dots and convolutions at precision DEFAULT on the TF32 tensor cores
  where the chip has them (Ampere and later), so the TF32 rate is the ceiling; the plain FP32 (CUDA core) rate
  is kept in the table for whoever sets jax_default_matmul_precision="highest".
- TPU, both: Google publishes no float32 rate; XLA:TPU runs float32 dots at precision DEFAULT as one bf16 pass,
  so the bf16 rate bounds both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Chip:
    """One part's documented dense rates (TFLOP/s per chip); None where the vendor publishes none."""

    name: str  # the part, as its datasheet names it
    fp32: float | None  # plain IEEE float32 (CUDA cores)
    tf32: float | None  # TF32 tensor cores, dense
    bf16: float  # bf16 tensor cores / MXU, dense
    source: str  # the document the figures come from


# Printed sparse rates halved (see the module docstring); "SXM"/"PCIe" columns of the same datasheet differ.
H100_SXM = Chip("NVIDIA H100 SXM", 67.0, 989.0 / 2, 1979.0 / 2, "NVIDIA H100 Tensor Core GPU datasheet, H100 SXM")
H100_PCIE = Chip("NVIDIA H100 PCIe", 51.0, 756.0 / 2, 1513.0 / 2, "NVIDIA H100 Tensor Core GPU datasheet, H100 PCIe")
H200_SXM = Chip("NVIDIA H200 SXM", 67.0, 989.0 / 2, 1979.0 / 2, "NVIDIA H200 Tensor Core GPU datasheet, H200 SXM")
# The A100 datasheet gives the same rates for the 40GB and 80GB parts, PCIe and SXM (it prints TF32 156 and
# BF16 312 dense, 312* and 624* sparse).
A100 = Chip("NVIDIA A100", 19.5, 156.0, 312.0, "NVIDIA A100 Tensor Core GPU datasheet (40GB and 80GB)")
L4 = Chip("NVIDIA L4", 30.3, 120.0 / 2, 242.0 / 2, "NVIDIA L4 Tensor Core GPU datasheet")
TPU_V4 = Chip("Google TPU v4", None, None, 275.0, "Google Cloud TPU documentation, TPU v4 (peak bf16 per chip)")
TPU_V5E = Chip("Google TPU v5e", None, None, 197.0, "Google Cloud TPU documentation, TPU v5e (peak bf16 per chip)")
TPU_V5P = Chip("Google TPU v5p", None, None, 459.0, "Google Cloud TPU documentation, TPU v5p (peak bf16 per chip)")
TPU_V6E = Chip("Google TPU v6e", None, None, 918.0, "Google Cloud TPU documentation, TPU v6e (peak bf16 per chip)")

# (pattern on device_kind, lower-cased; chip), first match wins. Kinds as JAX reports them: "NVIDIA H100 80GB HBM3"
# (SXM), "NVIDIA H100 PCIe", "NVIDIA H200", "NVIDIA A100-SXM4-40GB", "NVIDIA A100 80GB PCIe", "NVIDIA L4",
# "TPU v4", "TPU v5 lite" (v5e), "TPU v5" / "TPU v5p", "TPU v6 lite" (v6e). NVL parts (two boards bridged, lower
# clocks and other rates) and "L40"/"L40S" are deliberately left unmatched: a wrong ceiling is worse than none.
KINDS: tuple[tuple[str, Chip | None], ...] = (
    (r"\bnvl\b", None),  # H100 NVL, H200 NVL: no entry
    (r"\bh200\b", H200_SXM),
    (r"\bh100\b.*\bpcie\b", H100_PCIE),
    (r"\bh100\b.*\b(hbm3|sxm)", H100_SXM),
    (r"\ba100\b", A100),
    (r"^nvidia l4$", L4),
    (r"^tpu v4$", TPU_V4),
    (r"^tpu v5 ?(lite|e)$", TPU_V5E),
    (r"^tpu v5p?$", TPU_V5P),
    (r"^tpu v6 ?(lite|e)$", TPU_V6E),
)


def chip(device_kind: str) -> Chip | None:
    """The documented chip for a `jax.Device.device_kind` string, or None when it is not in the table."""
    kind = " ".join(device_kind.lower().split())
    for pattern, found in KINDS:
        if re.search(pattern, kind):
            return found
    return None


def dense_peak(device_kind: str, precision: str) -> tuple[float, str] | None:
    """(documented dense peak in GFLOP/s per chip, which figure it is) for `precision` ("float32" or
    "bfloat16") on `device_kind`, or None when the chip is unknown or the vendor publishes no such figure."""
    part = chip(device_kind)
    if part is None:
        return None
    if precision == "bfloat16":
        return part.bf16 * 1e3, f"{part.name} bf16 dense ({part.source})"
    if part.tf32 is not None:
        return part.tf32 * 1e3, f"{part.name} tf32 dense ({part.source})"
    if part.name.startswith("Google TPU"):
        return part.bf16 * 1e3, f"{part.name} bf16 (float32 runs as bf16 passes; {part.source})"
    if part.fp32 is not None:
        return part.fp32 * 1e3, f"{part.name} fp32 ({part.source})"
    return None
