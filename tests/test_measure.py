"""A layer's quality numbers in a run: measured once in one pass, with their cost said before and after."""

from __future__ import annotations

import numpy as np
import pytest

from jaxviz import quality
from jaxviz.run import measure
from jaxviz.run.chunk_store import FilterResult

LAYER, SIZE = "block1_conv2", 28  # a size no other test uses: this file's first call compiles


@pytest.fixture(scope="module")
def results() -> dict[int, FilterResult]:
    rng = np.random.default_rng(2)
    tiles = rng.integers(0, 256, (6, SIZE, SIZE, 3), dtype=np.uint8)
    return {f: FilterResult(tiles[f], np.zeros(3, np.float32), -1) for f in range(6)}


def test_measure_layer_equals_quality_evaluate_and_reports_its_seconds(params, results, tmp_path):
    before = measure.estimate_seconds(tmp_path, LAYER, [0, 1, 2], results, SIZE)
    spent: dict = {}
    rows = measure.measure_layer(params, tmp_path, LAYER, [0, 1, 2], results, SIZE, spent=spent)
    images = np.stack([results[f].tile for f in (0, 1, 2)])
    expected = quality.evaluate(params, LAYER, images, [0, 1, 2])
    assert [rows[f] for f in (0, 1, 2)] == [pytest.approx(e) for e in expected]
    assert spent["seconds"] >= spent["compile_s"] > 0  # compile seconds are part of the call's
    assert before > 0 and quality.plan(LAYER, SIZE, 3)[1] == []  # all compiled now
    # Compiled: what is left for new filters is their forward passes, less than the call that compiled.
    assert 0 < measure.estimate_seconds(tmp_path, LAYER, [3, 4, 5], results, SIZE) < spent["seconds"]


def test_nothing_left_to_measure_costs_nothing(params, results, tmp_path):
    spent: dict = {}
    measure.measure_layer(params, tmp_path, LAYER, [0, 1], results, SIZE, spent=spent)
    assert spent["seconds"] > 0
    assert measure.estimate_seconds(tmp_path, LAYER, [0, 1], results, SIZE) == 0.0
    assert measure.estimate_seconds(tmp_path, LAYER, [0, 1, 9], results, SIZE) == 0.0  # 9: no result yet
    measure.measure_layer(params, tmp_path, LAYER, [0, 1], results, SIZE, spent=spent)  # the same dict again
    assert spent == {"seconds": 0.0, "compile_s": 0.0}


def test_plan_counts_padding_and_copy_groups():
    n, copies = 3, quality.COPIES + 1  # two groups of COPIES
    passes, _ = quality.plan(LAYER, SIZE, n, copies)
    chunk = quality.chunk_size(LAYER, SIZE, n)
    assert passes == -(-n // chunk) * chunk * (1 + 2 * quality.COPIES)
    assert quality.plan(LAYER, SIZE, 0) == (0, [])


def test_the_quality_cache_round_trips_beside_the_chunks(params, results, tmp_path):
    rows = measure.measure_layer(params, tmp_path, LAYER, [0, 1, 2], results, SIZE)
    assert [p.name for p in tmp_path.iterdir()] == [f"{LAYER}.quality.npz"]  # beside the layer's chunk folder
    assert measure.cached(tmp_path, LAYER, [0, 1, 2]) == rows  # read back, nothing computed
    assert measure.cached(tmp_path, LAYER, [1, 2, 7]).keys() == {1, 2}  # 7 was never measured


def test_a_damaged_quality_cache_is_ignored_and_measured_again(params, results, tmp_path):
    rows = measure.measure_layer(params, tmp_path, LAYER, [0, 1], results, SIZE)
    (tmp_path / f"{LAYER}.quality.npz").write_bytes(b"cut short")
    assert measure.cached(tmp_path, LAYER, [0, 1]) == {}
    assert measure.estimate_seconds(tmp_path, LAYER, [0, 1], results, SIZE) > 0  # to be measured again
    spent: dict = {}
    assert measure.measure_layer(params, tmp_path, LAYER, [0, 1], results, SIZE, spent=spent) == rows
    assert spent["seconds"] > 0 and measure.cached(tmp_path, LAYER, [0, 1]) == rows  # and cached again


def test_the_estimate_learns_what_measuring_took_here():
    from jaxviz.quality.passes import Executables

    fresh = Executables()  # nothing compiled, the figures measured on XLA:CPU
    passes, compiles = quality.plan(LAYER, SIZE, 3, compiled=fresh)
    assert compiles == ["measure", "copies"] and fresh.estimate_seconds(LAYER, SIZE, 3) > 0
    took = {"seconds": 3.0, "compile_s": 1.0, "measure_compile_s": 0.6, "copies_compile_s": 0.4}
    fresh.learn(LAYER, SIZE, passes, took)
    # The same work again, still to compile in `fresh`: what that call took, compiles and forward passes alike.
    assert fresh.estimate_seconds(LAYER, SIZE, 3) == pytest.approx(3.0)
    rate = dict(fresh.gflops)
    fresh.learn(LAYER, SIZE, passes, {**took, "seconds": 1.01})  # 0.01 s of passes: dispatch, not a rate
    assert fresh.gflops == rate
    assert fresh.estimate_seconds(LAYER, SIZE, 0) == 0.0
