"""`jaxviz-spectrum` / scripts/spectrum.py: MACO's magnitude template from an image folder (error contract:
arguments.guarded). The pass is numpy's FFT over the dataset-examples loader's images: no JAX, except the
progress bar's, for folders of BAR_FILES images or more."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from jaxviz.cli.arguments import ArgumentParser, guarded
from jaxviz.errors import JaxvizError
from jaxviz.runtime.paths import broken_link, check_text

if TYPE_CHECKING:
    from jaxviz.show.progress import Progress

DEFAULT_SIZE = 256  # = jaxviz.dataset_examples.spectrum_pass.DEFAULT_SIZE (not imported: --help stays light)
# The bar (jaxviz.show.progress) imports JAX for its compile clock, about a second: shown only for folders whose
# pass takes longer than that (decoding photos runs at tens of images/s a core).
BAR_FILES = 200


@guarded
def main(argv: Sequence[str] | None = None) -> int:
    """Write the magnitude template of a folder (or rewrite a template file) to --out; exit 0, or 2 with one line."""
    p = ArgumentParser(
        description="MACO's magnitude template: the mean Fourier magnitude of a folder's images, per decorrelated "
        "colour channel, for method.spectrum. The pass is cached: a second run on an unchanged folder is instant."
    )
    p.add_argument("source", metavar="DIR", help="a folder of JPEG/PNG images (searched recursively), or a template "
                   "file to rewrite in jaxviz's format (e.g. Xplique's spectrum_decorrelated.npy)")  # fmt: skip
    p.add_argument("--out", metavar="FILE", required=True,
                   help="the template to write (.npz; .npy: the bare array, as Xplique reads)")  # fmt: skip
    p.add_argument("--size", metavar="N", type=int, default=DEFAULT_SIZE,
                   help=f"each image resized and centre-cropped to N x N px (default {DEFAULT_SIZE})")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress line")
    args = p.parse_args(argv)
    check_output(args.out)
    check_text(args.source, "DIR")
    from jaxviz.ascent import spectrum
    from jaxviz.dataset_examples import spectrum_pass

    if args.size < spectrum.MIN_SIZE:
        raise JaxvizError(f"--size {args.size} is too small: give at least {spectrum.MIN_SIZE}")

    def progress(total: int, done: int) -> Progress | None:
        if args.quiet or total < BAR_FILES:
            return None
        from jaxviz.show.progress import Progress as Bar

        return Bar.over_files(total, done)

    cached = spectrum_pass.is_cached(args.source, args.size)
    t0 = time.perf_counter()
    m = spectrum_pass.template_of(args.source, args.size, progress)
    seconds = time.perf_counter() - t0
    spectrum.save(m, args.out)
    how = "from the cache" if cached else f"{m.images / seconds:.0f} images/s" if m.images and seconds > 0 else ""
    made = f"{m.images} image(s) at {m.size} px" if m.images else f"{m.size} px"
    print(
        f"jaxviz: wrote {args.out}: the magnitude template of {made}{f' ({how})' if how else ''}, fingerprint "
        f"{m.fingerprint[:12]}, radial power slope {spectrum.radial_slope(m):.2f} (natural photographs: about -2 to -3)"
    )
    return 0


def check_output(out: str) -> None:
    """Refuse (JaxvizError, one line) an --out that cannot become the template file: empty, control characters,
    a directory, or a broken link."""
    if not out:
        raise JaxvizError("--out is empty; name the template file to write, e.g. spectrum.npz")
    check_text(out, "--out")
    path = Path(out).expanduser()
    if path.is_dir():
        raise JaxvizError(f"--out {out!r} is a directory; name a file in it, e.g. {str(path / 'spectrum.npz')!r}")
    if (link := broken_link(path)) is not None:
        raise JaxvizError(f"--out {out!r} is {link}")
