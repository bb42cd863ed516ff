"""Horama 0.3.0's MACO (PyPI `horama`, torch) on the same Keras VGG16 weights as jaxviz, one filter per call, for
side-by-side speed and image quality with jaxviz's `maco` presets.

Not part of jaxviz: run it in its own virtual environment (Horama needs torch and torchvision):
  python -m venv HVENV && HVENV/bin/pip install torch==2.14.1 torchvision==0.29.1 h5py pillow numpy tqdm \
      einops matplotlib && HVENV/bin/pip install --no-deps horama==0.3.0
  HVENV/bin/python scripts/peers/horama_peer.py --weights VGG16.h5 --template spectrum_decorrelated.npy \
      --peers ../shared/peers --layer block3_conv1 --filters 8 --out DIR

The model is `lucent_peer.KerasVGG16` from the peers folder (`--peers`): VGG16's features up to --layer built from
the Keras h5, RGB in [0, 1] in, Keras' preprocessing inside, `block3_conv1` = conv + ReLU. Horama's `maco` runs
with its own defaults except the sizes given here (its defaults are 1280 px images, 224 px crops, 1000 steps):
NAdam lr 1.0, 6 crops a step of 0.25-0.30 of the side centred ~N(0.5, 0.15), values in [0, 1] (the model's range)
and noise 0.01 there (`--noise`: Horama's default 0.05 is of its default range (-2.5, 2.5), five times as wide).
Horama downloads its magnitude template at run time; here it reads `--template` (copied into a temporary working
directory under the name Horama looks for), so the run is offline.

Writes DIR/NNNN.png (the final image, uint8), DIR/NNNN_alpha.npy (Horama's transparency accumulator summed over
colour, (size, size) float32) and prints one JSON line: seconds per filter and image-steps/s.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", required=True, help="Keras VGG16 notop h5")
    p.add_argument("--template", required=True, help="MACO magnitude template .npy, (3, H, H//2+1)")
    p.add_argument("--peers", required=True, help="folder holding lucent_peer.py (its KerasVGG16 is the model)")
    p.add_argument("--layer", default="block3_conv1")
    p.add_argument("--filters", type=int, default=8)
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--size", type=int, default=128, help="the optimised image's side (Horama's image_size)")
    p.add_argument("--input-size", type=int, default=128, help="the crops' side fed to the model")
    p.add_argument("--steps", type=int, default=256)
    p.add_argument("--crops", type=int, default=6)
    p.add_argument(
        "--noise",
        type=float,
        default=0.01,
        help="noise std in the model's [0, 1] units; Horama's default is 0.05 of its (-2.5, 2.5) range, i.e. 0.01",
    )
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    sys.path.insert(0, str(Path(a.peers).resolve()))
    import horama
    from lucent_peer import KerasVGG16  # the same model and preprocessing as the Lucent peer

    model = KerasVGG16(str(Path(a.weights).resolve()), a.layer).eval()
    for q in model.parameters():
        q.requires_grad_(False)
    out = Path(a.out).resolve() if a.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp())
    shutil.copy(a.template, work / "spectrum_decorrelated.npy")  # the name horama.maco_fv loads from the cwd
    os.chdir(work)
    seconds = []
    for f in range(a.first, a.first + a.filters):
        torch.manual_seed(a.seed + f)

        def objective(x, f=f):
            return model(x)[:, f].mean()

        t0 = time.perf_counter()
        image, alpha = horama.maco(
            objective,
            total_steps=a.steps,
            image_size=a.size,
            model_input_size=a.input_size,
            values_range=(0.0, 1.0),
            crops_per_iteration=a.crops,
            noise=a.noise,
            device="cpu",
        )
        seconds.append(time.perf_counter() - t0)
        if out:
            rgb = (image.detach().permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
            Image.fromarray(rgb).save(out / f"{f:04d}.png")
            np.save(out / f"{f:04d}_alpha.npy", alpha.sum(0).detach().numpy().astype(np.float32))
    shutil.rmtree(work, ignore_errors=True)
    total = sum(seconds)
    print(
        json.dumps(
            {
                "peer": "horama",
                "version": getattr(horama, "__version__", "0.3.0"),
                "layer": a.layer,
                "filters": a.filters,
                "size": a.size,
                "input_size": a.input_size,
                "steps": a.steps,
                "crops": a.crops,
                "noise": a.noise,
                "seconds_per_filter": round(total / a.filters, 3),
                "image_steps_per_s": round(a.filters * a.steps / total, 3),
                "torch": torch.__version__,
                "torch_threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
