"""A sweep's atlas, incrementally: a new or changed point remakes its own pages and the sweep's, never the others'.

Synthetic points (benchmark_sweep writes them in a run's own format): no JAX, a second or two in all.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import ATLAS_LAYERS, SyntheticSweep, check_links

from jaxviz.atlas import filter_pages, sweep_build, write_atlas
from jaxviz.cli import benchmark_sweep as benchmark_sweep_command
from jaxviz.errors import JaxvizError


def listed(atlas: Path) -> list[dict]:
    """The points compare/points.js lists (what the layers' pages across the sweep show)."""
    text = (atlas / "compare" / "points.js").read_text()
    return json.loads(re.fullmatch(r"window\.jaxvizPoints = (.*);\n", text, re.S)[1])["points"]


def _times(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def counted(monkeypatch) -> dict[str, list]:
    """Which points' runs a pass reads, and which filter pages it makes."""
    calls: dict[str, list] = {"read": [], "pages": []}
    real_read, real_page = sweep_build.read_run, filter_pages.filter_html
    monkeypatch.setattr(sweep_build, "read_run", lambda path: calls["read"].append(path.name) or real_read(path))
    monkeypatch.setattr(
        filter_pages, "filter_html", lambda v, here, *a: calls["pages"].append(here) or real_page(v, here, *a)
    )
    return calls


def test_a_new_point_remakes_only_its_own_pages(tmp_path, counted):
    sw = SyntheticSweep(tmp_path / "sweep", 4)
    for i in range(3):
        sw.finish(i)
    atlas = write_atlas(sw.root).parent
    before = _times(atlas / "points")
    pages = {p: t for p, t in _times(atlas / "compare").items() if p.suffix == ".html"}
    counted["read"].clear(), counted["pages"].clear()

    sw.finish(3)
    write_atlas(sw.root)
    after = _times(atlas / "points")
    assert {p: t for p, t in after.items() if p in before} == before  # no file of another point was touched
    assert {p: t for p, t in _times(atlas / "compare").items() if p in pages} == pages  # nor the layers' pages
    assert counted["read"] == ["point-0003"]  # the others were not even read
    assert {p.split("/")[1] for p in counted["pages"]} == {"point-0003"} and len(counted["pages"]) == 6
    # What spans the points still shows every point: the table, each layer across the points.
    home = (atlas / "index.html").read_text()
    assert all(f'href="points/point-000{i}/index.html"' in home for i in range(4))
    points = listed(atlas)
    assert [p["name"] for p in points] == [f"point-000{i}" for i in range(4)]
    assert points[3] == {"name": "point-0003", "caption": "step 0.2", "prefix": "../points/point-0003/",
                         "layers": list(ATLAS_LAYERS)}  # fmt: skip
    for layer in ATLAS_LAYERS:
        assert (atlas / "compare" / f"{layer}.html").is_file()
        data = (atlas / "points" / "point-0003" / "across" / f"{layer}.js").read_text()
        assert '"point":"point-0003"' in data and f"filters/{layer}/0002.html" in data
    # A filter page leads to that filter in every point (the layer's page across the sweep, at its row).
    page = (atlas / "points" / "point-0001" / "filters" / "block2_conv1" / "0002.html").read_text()
    assert 'href="../../../../compare/block2_conv1.html#f2"' in page
    assert check_links(atlas) == 1 + 2 + 4 * (1 + 1 + 2 + 6)  # home, compare; each point: index, numbers, layers

    counted["read"].clear(), counted["pages"].clear()
    write_atlas(sw.root)  # nothing changed: nothing read, nothing made
    assert counted == {"read": [], "pages": []}


def test_a_changed_or_removed_point_is_remade_or_removed(tmp_path, counted):
    sw = SyntheticSweep(tmp_path / "sweep", 3)
    for i in range(3):
        sw.finish(i)
    atlas = write_atlas(sw.root).parent
    metrics_path = sw.root / "point-0001" / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics["filters"][1]["activation"] = 4321.5  # block1_conv1 filter 1 of point 1 (0 is dead), rewritten by hand
    metrics_path.write_text(json.dumps(metrics))
    counted["read"].clear(), counted["pages"].clear()
    write_atlas(sw.root)
    assert counted["read"] == ["point-0001"]
    assert sorted(counted["pages"]) == [f"points/point-0001/filters/block1_conv1/{f:04d}.html" for f in range(3)]
    assert "4322" in (atlas / "points" / "point-0001" / "across" / "block1_conv1.js").read_text()

    sw.entries.pop(2)  # the sweep file no longer has that point: its pages go
    sw.publish()
    write_atlas(sw.root)
    assert not (atlas / "points" / "point-0002").exists()
    assert [p["name"] for p in listed(atlas)] == ["point-0000", "point-0001"]
    check_links(atlas)

    before = _times(atlas)
    (sw.root / "point-0001" / "metrics.json").write_text('{"filters": [')  # damaged: it is read, and refused
    with pytest.raises(JaxvizError, match=r"point-0001/metrics.json is damaged"):
        write_atlas(sw.root)
    assert _times(atlas) == before  # before anything was written
    (sw.root / "point-0001" / "metrics.json").write_text(json.dumps(metrics))

    shutil.move(sw.root, tmp_path / "renamed")  # its name is in every page's crumbs: all made again
    counted["read"].clear()
    write_atlas(tmp_path / "renamed")
    assert sorted(counted["read"]) == ["point-0000", "point-0001"]
    assert ">renamed</a>" in (tmp_path / "renamed" / "atlas" / "points" / "point-0000" / "index.html").read_text()


def test_the_benchmark_prints_seconds_per_point(capsys):
    with pytest.raises(SystemExit) as done:
        benchmark_sweep_command.main(["--points", "2,3", "--filters", "2", "--size", "8", "--json"])
    assert done.value.code == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["points"] for r in rows] == [2, 3] and all(r["mean_s_per_point"] > 0 for r in rows)
