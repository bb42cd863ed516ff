"""The high-frequency energy score: noise scores high, smooth and natural-like images low, the scale does not matter."""

from __future__ import annotations

import numpy as np
import pytest

from jaxviz.quality.scores import high_frequency


def _power_law(side: int, seed: int) -> np.ndarray:
    """A grey image whose power spectrum falls as 1/f^2 (natural images' law)."""
    f = np.fft.fftfreq(side)
    radius = np.hypot(*np.meshgrid(f, f, indexing="ij"))
    radius[0, 0] = 1.0
    noise = np.fft.fft2(np.random.default_rng(seed).normal(size=(side, side)))
    return np.repeat(np.real(np.fft.ifft2(noise / radius))[..., None], 3, axis=2)


def test_white_noise_is_high_and_a_gradient_low():
    noise = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3)).astype(np.uint8)
    ramp = np.broadcast_to(np.linspace(0, 255, 64)[None, None, :, None], (1, 64, 64, 3))
    assert np.all(high_frequency(noise) > 0.7)  # ~0.8: the frequency square's area outside the circle
    assert high_frequency(ramp)[0] < 0.01  # the window keeps the ramp's wrap-around from reading as an edge


def test_natural_spectrum_lies_between_and_contrast_does_not_matter():
    image = _power_law(128, 1)
    hf = high_frequency(image)[0]
    assert 0.05 < hf < 0.3
    assert high_frequency(image * 7 + 3)[0] == pytest.approx(hf)


def test_flat_image_scores_zero_and_bad_shapes_are_refused():
    assert high_frequency(np.full((2, 16, 16, 3), 90, np.uint8)).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="must be"):
        high_frequency(np.zeros((16, 16)))
