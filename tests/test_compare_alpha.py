"""The side-by-side study with transparency, variants, partial peers and contact sheets (issue 20's figures)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from jaxviz.bench import preset_comparison as pc
from jaxviz.errors import JaxvizError
from jaxviz.show import display


def _tile(value: int, side: int = 32) -> np.ndarray:
    return np.full((side, side, 3), value, np.uint8)


def test_contact_sheet_has_a_column_per_method_a_row_per_filter_and_blanks_where_missing():
    sets = {"a": {0: _tile(0), 1: _tile(0)}, "b+alpha": {1: _tile(0)}}
    sheet = pc.contact_sheet(sets, [0, 1], "layer")
    left, top = 8 * pc.FONT_PX // 2 + pc.MARGIN, 4 * pc.FONT_PX + 2 * pc.MARGIN
    assert sheet.shape == (top + 2 * (32 + pc.MARGIN), left + 2 * (32 + pc.MARGIN), 3)
    col_b = left + 32 + pc.MARGIN
    assert sheet[top + 5, left + 5].tolist() == [0, 0, 0]  # a's filter 0
    assert sheet[top + 5, col_b + 5].tolist() == [pc.PAGE] * 3  # b lacks filter 0: blank page
    assert sheet[top + 32 + pc.MARGIN + 5, col_b + 5].tolist() == [0, 0, 0]
    assert sheet[: top - 2].min() < 100  # the labels are drawn (dark ink on the page)
    with pytest.raises(ValueError, match="share one"):
        pc.contact_sheet({"a": {0: _tile(0)}, "b": {0: _tile(0, 16)}}, [0], "x")
    assert pc.stacked([sheet, sheet[:, :40]]).shape == (2 * (sheet.shape[0] + pc.MARGIN), sheet.shape[1], 3)


def test_peer_alpha_is_shown_as_jaxviz_shows_its_own_and_missing_maps_give_none(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (16, 16, 3)).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "0003.png")
    alpha = np.zeros((16, 16), np.float32)
    alpha[4:12, 4:12] = 5.0  # looks at the middle only
    np.save(tmp_path / "0003_alpha.npy", alpha)
    shown = pc.peer_alpha(tmp_path, [3], 16)
    want = display.over_background(display.with_alpha(image, display.alpha_for_display(alpha)))
    assert np.array_equal(shown[0], want)
    assert shown[0, 0, 0].tolist() == [display.ALPHA_BACKGROUND] * 3 and np.array_equal(shown[0, 8, 8], image[8, 8])
    assert pc.peer_filters(tmp_path, [2, 3]) == [3]
    assert pc.peer_alpha(tmp_path, [2], 16) is None  # no map: nothing to show


def test_peer_json_seconds_reads_both_peers_lines(tmp_path):
    (tmp_path / "l.json").write_text(json.dumps({"seconds": 80.0, "filters": 8}) + "\n")
    (tmp_path / "h.json").write_text("noise\n" + json.dumps({"seconds_per_filter": 12.5}) + "\n")
    (tmp_path / "bad.json").write_text("{}\n")
    assert pc.peer_json_seconds(tmp_path / "l.json") == 10.0 and pc.peer_json_seconds(tmp_path / "h.json") == 12.5
    assert pc.peer_json_seconds(tmp_path / "bad.json") is None and pc.peer_json_seconds(tmp_path / "none") is None


def test_variants_are_checked_before_anything_runs(tmp_path):
    study = dict(presets=(), layers=["block1_conv1"], filters=[0], size=32, out=tmp_path / "o")
    pc.Comparison(**study, variants={"v": ("maco-fast", ("ascent.steps=2",))}).check()
    with pytest.raises(JaxvizError, match="unknown preset"):
        pc.Comparison(**study, variants={"v": ("nope", ())}).check()
    with pytest.raises(JaxvizError, match="unknown config key"):
        pc.Comparison(**study, variants={"v": ("maco-fast", ("ascent.stepz=2",))}).check()
    with pytest.raises(JaxvizError, match="already"):
        pc.Comparison(**{**study, "presets": ["book"]}, variants={"book": ("maco-fast", ())}).check()


@pytest.mark.parametrize("flag", [["--variant", "v"], ["--variant", "v="], ["--peer", "p"]])
def test_cli_refuses_malformed_variants_and_peers(flag, capsys):
    from jaxviz.cli.compare import main

    with pytest.raises(SystemExit) as e:
        main(["--layers", "block1_conv1", "--filters", "0", "--size", "32", *flag])
    assert e.value.code == 2 and capsys.readouterr().err.count("jaxviz: error:") == 1


def test_compare_scores_alpha_and_a_partial_peer_on_its_filters(monkeypatch, tmp_path, weights_path):
    """Fake ascents (no compile): a preset with maps gives '<preset>+alpha'; a peer with 2 of 3 filters is scored on
    those, beside every other method on the same 2; sheets, npz and the table hold them all."""
    rng = np.random.default_rng(1)
    made = {f: rng.integers(0, 256, (32, 32, 3)).astype(np.uint8) for f in range(3)}

    def fake_run(preset, layer, filters, size, weights, overrides=()):
        images = np.stack([made[f] for f in filters])
        return images, (images // 2 if preset == "maco-fast" else None), 1.5

    monkeypatch.setattr(pc, "run_preset", fake_run)
    peer = tmp_path / "peer" / "block1_conv1"
    peer.mkdir(parents=True)
    for f in (0, 2):
        Image.fromarray(made[f]).save(peer / f"{f:04d}.png")
        np.save(peer / f"{f:04d}_alpha.npy", np.ones((32, 32), np.float32))
    (tmp_path / "peer" / "block1_conv1.json").write_text(json.dumps({"seconds_per_filter": 9.0}) + "\n")
    out = tmp_path / "out"
    study = pc.Comparison(
        ["maco-fast", "book"], ["block1_conv1"], [0, 1, 2], 32, out, str(weights_path), {"h": tmp_path / "peer"}
    )
    rows = pc.compare(study)
    scopes = {(r["method"], tuple(r["filters"])) for r in rows}
    assert scopes == {
        *((m, (0, 1, 2)) for m in ("maco-fast", "maco-fast+alpha", "book")),
        *((m, (0, 2)) for m in ("maco-fast", "maco-fast+alpha", "book", "h", "h+alpha")),
    }
    by = {(r["method"], tuple(r["filters"])): r for r in rows}
    assert by["h", (0, 2)]["seconds_per_filter"] == 9.0 and by["maco-fast+alpha", (0, 2)]["seconds_per_filter"] == 1.5
    # the peer's images are the preset's: the same numbers on the same filters (alpha all ones: opaque, unchanged)
    for key in ("display_activation_mean", "high_frequency_mean"):
        assert by["h", (0, 2)][key] == pytest.approx(by["maco-fast", (0, 2)][key], rel=1e-5)
        assert by["h+alpha", (0, 2)][key] == pytest.approx(by["h", (0, 2)][key], rel=1e-5)
    assert [p["filter"] for p in by["book", (0, 1, 2)]["per_filter"]] == [0, 1, 2]
    saved = np.load(out / "block1_conv1.npz")
    assert saved["h"].shape == (2, 32, 32, 3) and saved["h__filters"].tolist() == [0, 2]
    assert np.array_equal(saved["maco-fast+alpha"], np.stack(list(made.values())) // 2)
    assert Image.open(out / "sheet.png").size[0] > 5 * 32
    text = (out / "compare.md").read_text()
    assert "| block1_conv1 | 0-2 | maco-fast+alpha | 1.5 |" in text and "| block1_conv1 | 0,2 | h | 9.0 |" in text
