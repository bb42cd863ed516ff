"""Metric writers with one small interface (as CommonLoopUtils): TensorBoard or nothing."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


class NullWriter:
    """Accepts everything, writes nothing (TensorBoard off)."""

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None: ...

    def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None: ...

    def write_texts(self, step: int, texts: Mapping[str, str]) -> None: ...

    def write_hparams(self, hparams: Mapping[str, Any], metrics: Mapping[str, float]) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class TensorBoardWriter(NullWriter):
    """TensorBoard event files via tensorboardX, flushed often so a live `tensorboard` sees progress."""

    def __init__(self, logdir: str | Path, flush_secs: int = 10):
        from tensorboardX import SummaryWriter

        self._writer = SummaryWriter(logdir=str(logdir), flush_secs=flush_secs)

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        for tag, value in scalars.items():
            self._writer.add_scalar(tag, float(value), step)

    def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
        for tag, image in images.items():
            self._writer.add_image(tag, np.asarray(image), step, dataformats="HWC")

    def write_texts(self, step: int, texts: Mapping[str, str]) -> None:
        for tag, text in texts.items():
            self._writer.add_text(tag, text, step)

    def write_hparams(self, hparams: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        from tensorboardX.summary import hparams as hparams_summary

        # Into this run's own event file (add_hparams would open a second, timestamped run).
        for summary in hparams_summary(dict(hparams), dict(metrics)):
            self._writer.file_writer.add_summary(summary)
        for tag, value in metrics.items():
            self._writer.add_scalar(tag, float(value), 0)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
