"""Dataset examples: preprocessing, receptive fields, the device top-K against brute force, resume, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest
from PIL import Image

from jaxviz.api import find_examples
from jaxviz.cli.examples import main as examples_main
from jaxviz.dataset_examples import crops, make_job
from jaxviz.dataset_examples.loader import list_images, load
from jaxviz.dataset_examples.receptive import boxes, field
from jaxviz.dataset_examples.scan import run
from jaxviz.errors import JaxvizError
from jaxviz.model.vgg import VGG as VGG16

SIZE = 32
LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1")


@pytest.fixture(autouse=True)
def _weights(weights_path, monkeypatch):
    monkeypatch.setenv("JAXVIZ_WEIGHTS", str(weights_path))


def save(path: Path, array: np.ndarray, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kw)
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """14 small images: stripes, dots, gradients, solid colours (some JPEG), and an exact duplicate (ties)."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:48, 0:40]
    for i in range(10):
        a = np.zeros((48, 40, 3), np.uint8)
        a[..., i % 3] = np.where((xx // (2 + i)) % 2 == 0, 255, 0)  # stripes of one colour
        a[rng.integers(0, 48, 30), rng.integers(0, 40, 30)] = rng.integers(0, 256, 3)  # dots
        a[..., (i + 1) % 3] = (yy * 255 // 47).astype(np.uint8)  # a gradient
        save(root / ("sub" if i % 4 == 0 else "") / f"p{i:02d}.png", a)
    for name, rgb in (("red", (230, 20, 20)), ("green", (20, 200, 30)), ("blue", (20, 30, 220))):
        save(root / f"solid_{name}.jpg", np.full((36, 36, 3), rgb, np.uint8), quality=95)
    shutil.copy(root / "p01.png", root / "z_dup.png")  # same pixels as p01: every score ties, p01 must win
    return root


def brute_force(params, root: Path, names: list[str], layer: str):
    """Scores, images, flat positions by sorting every image's (-max, index) in NumPy, from VGG16(upto=layer)."""
    rgb = np.stack([load(root, n, SIZE).pixels for n in names]).astype(np.float32)
    maps = np.asarray(VGG16(upto=layer).apply({"params": params}, rgb))
    flat = maps.reshape(len(names), -1, maps.shape[-1])
    best, where = flat.max(axis=1).T, flat.argmax(axis=1).T  # (C, N)
    order = np.stack([np.lexsort((np.arange(len(names)), -row)) for row in best])
    return np.take_along_axis(best, order, 1), order, np.take_along_axis(where, order, 1)


def test_receptive_fields_follow_the_standard_recurrence():
    sizes = {"block1_conv1": 3, "block1_conv2": 5, "block2_conv1": 10, "block3_conv1": 24, "block5_conv3": 196}
    assert {la: field(la).size for la in sizes} == sizes
    assert field("block5_conv3").jump == 16
    # block2_conv1 position (0, 0): centre 0.5, 10 px wide -> pixels -4..5, clipped to 0..5 (exclusive 6)
    assert boxes("block2_conv1", np.array([[0, 0]]), 32).tolist() == [[0, 0, 6, 6]]
    assert boxes("block1_conv1", np.array([[5, 7]]), 32).tolist() == [[4, 6, 7, 9]]
    assert boxes("block1_conv1", np.array([[-1, -1]]), 32).tolist() == [[-1, -1, -1, -1]]


def test_device_top_k_equals_brute_force_exactly(folder):
    from jaxviz.model.weights import find_and_load

    # batch 4 over 14 images: a padded last batch, and the duplicate's ties cross batches; "xla": the arithmetic
    # of jaxviz.model.vgg, so the comparison is bit for bit
    result = find_examples(folder, layers=",".join(LAYERS), top=5, size=SIZE, batch=4, conv="xla")
    names = [im["path"] for im in result.images]
    assert names == list_images(folder) and "z_dup.png" in names
    params = find_and_load("")
    for layer in LAYERS:
        scores, image, flat = brute_force(params, folder, names, layer)
        ex = result.layers[layer]
        side = SIZE // 2 ** (int(layer[5]) - 1)
        np.testing.assert_array_equal(ex.image, image[:, :5])
        np.testing.assert_array_equal(ex.scores, scores[:, :5])
        np.testing.assert_array_equal(ex.position[..., 0] * side + ex.position[..., 1], flat[:, :5])
        assert ex.box.shape == (ex.scores.shape[0], 5, 4)
    dup, orig = names.index("z_dup.png"), names.index("p01.png")
    img = result.layers["block1_conv1"].image
    for row in img:  # where both made the top-K, the earlier image comes first
        if dup in row and orig in row:
            assert list(row).index(orig) < list(row).index(dup)


def test_winograd_forward_is_within_its_rounding_of_xla_and_is_used(folder):
    from jaxviz.dataset_examples.topk import with_winograd
    from jaxviz.model.weights import find_and_load

    params = find_and_load("")
    fast = with_winograd(params, ["block3_conv2"], SIZE, "cpu")
    # >= 256 channels in, maps <= 64 x 64: from block3_conv2 on (at 224 px too: block3 maps are 56 x 56)
    assert [n for n in fast if "winograd" in fast[n]] == ["block3_conv2"]
    assert [n for n, v in with_winograd(params, ["block4_conv1"], 224, "cpu").items() if "winograd" in v] == [
        "block3_conv2", "block3_conv3", "block4_conv1"]  # fmt: skip
    assert not any("winograd" in v for v in with_winograd(params, ["block3_conv2"], SIZE, "cpu", "xla").values())
    assert not any("winograd" in v for v in with_winograd(params, ["block3_conv2"], SIZE, "gpu").values())
    layers = "block2_conv1,block3_conv2"
    exact = find_examples(folder, layers=layers, top=14, size=SIZE, batch=4, conv="xla")
    quick = find_examples(folder, layers=layers, top=14, size=SIZE, batch=4, conv="auto")
    np.testing.assert_array_equal(quick.layers["block2_conv1"].scores, exact.layers["block2_conv1"].scores)
    a, b = quick.layers["block3_conv2"], exact.layers["block3_conv2"]
    assert not np.array_equal(a.scores, b.scores)  # Winograd really ran (its rounding differs)
    np.testing.assert_allclose(a.scores, b.scores, rtol=0, atol=5e-5 * float(b.scores.max()))
    np.testing.assert_allclose(a.mean, b.mean, rtol=0, atol=5e-5 * float(b.scores.max()))
    # The ranking differs only between images whose exact scores are closer than the rounding.
    gap = np.abs(np.diff(b.scores, axis=1)).min(axis=1) > 1e-4 * float(b.scores.max())
    np.testing.assert_array_equal(a.image[gap], b.image[gap])


def test_winograd_convolution_equals_xla_within_rounding():
    from jax import lax

    from jaxviz.model.winograd import conv3x3, transform_kernel

    rng = np.random.default_rng(0)
    for shape, cout in (((2, 8, 8, 256), 64), ((1, 7, 10, 130), 5), ((3, 1, 5, 8), 9)):  # tiles cropped too
        x = np.maximum(rng.normal(size=shape), 0).astype(np.float32)
        k = (rng.normal(size=(3, 3, shape[-1], cout)) / np.sqrt(9 * shape[-1])).astype(np.float32)
        want = np.asarray(lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                                   precision="highest"))  # fmt: skip
        got = np.asarray(jax.jit(conv3x3)(x, transform_kernel(k)))
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=3e-5 * np.abs(want).max())


def test_a_colour_filter_ranks_its_colour_first(tmp_path):
    from jaxviz.model.weights import find_and_load

    colours = {"a_white": (255, 255, 255), "b_grey": (128, 128, 128), "c_green": (20, 200, 30), "d_red": (230, 20, 20)}
    for name, rgb in {**colours, "e_blue": (20, 30, 220)}.items():
        save(tmp_path / f"{name}.png", np.full((36, 36, 3), rgb, np.uint8))
    kernel = find_and_load("")["block1_conv1"]["kernel"].sum(axis=(0, 1))  # (3 BGR in, 64 out)
    red = int(np.argmax(kernel[2] - np.abs(kernel[:2]).sum(axis=0)))  # the filter most for red, least for others
    result = find_examples(tmp_path, layers="block1_conv1", filters=[red], top=3, size=SIZE)
    best = result.images[result.layers["block1_conv1"].image[0, 0]]["path"]
    assert best == "d_red.png"
    (crop, *_) = crops(result, "block1_conv1", red)
    assert crop.shape[2] == 3 and crop.dtype == np.uint8 and (crop == (230, 20, 20)).all()


def test_outputs_and_resume_equal_a_straight_run(folder, tmp_path, capsys):
    common = ["--images", str(folder), "--layers", "block1_conv2,block2_conv2", "--filters", "0:8", "--size", "32"]
    common += ["--top", "4", "--batch", "3", "--quiet", "--save-every", "2"]
    with pytest.raises(SystemExit) as e:
        examples_main([*common, "--out", str(tmp_path / "a")])
    assert e.value.code == 0
    with pytest.raises(SystemExit):
        examples_main([*common, "--out", str(tmp_path / "b"), "--stop-after", "5"])
    assert "stopped after" in capsys.readouterr().out
    assert not (tmp_path / "b" / "examples" / "images.json").exists()
    with pytest.raises(SystemExit) as e:
        examples_main([*common, "--out", str(tmp_path / "b")])
    assert e.value.code == 0
    for layer in ("block1_conv2", "block2_conv2"):
        with (
            np.load(tmp_path / "a" / "examples" / f"{layer}.npz") as a,
            np.load(tmp_path / "b" / "examples" / f"{layer}.npz") as b,
        ):
            assert set(a) == {"scores", "image", "position", "box", "mean", "fires", "filters"}
            assert a["scores"].shape == (8, 4) and a["scores"].dtype == np.float32
            assert a["position"].shape == (8, 4, 2) and a["box"].shape == (8, 4, 4) and a["image"].dtype == np.int32
            assert np.all(np.diff(a["scores"], axis=1) <= 0)
            for key in a:
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{layer} {key}")
    meta = json.loads((tmp_path / "a" / "examples" / "images.json").read_text())
    assert meta["root"] == str(folder.absolute()) and meta["size"] == 32 and len(meta["images"]) == 14
    assert meta["images"][0] == {"path": "p01.png", "width": 40, "height": 48}


def test_changed_images_or_settings_are_refused_by_name(folder, tmp_path):
    root = tmp_path / "imgs"
    shutil.copytree(folder, root)
    job = make_job(root, "block1_conv1", "0:4", top=2, size=SIZE, out=tmp_path / "run")
    run(job)
    with pytest.raises(JaxvizError, match="a different setting of top"):
        run(make_job(root, "block1_conv1", "0:4", top=3, size=SIZE, out=tmp_path / "run"))
    save(root / "new.png", np.zeros((40, 40, 3), np.uint8))
    with pytest.raises(JaxvizError, match=r"a different setting of image list .*'new.png' added"):
        run(job)


def test_bad_files_are_skipped_with_a_count(folder, tmp_path, capsys):
    root = tmp_path / "mixed"
    shutil.copytree(folder, root)
    whole = (folder / "solid_red.jpg").read_bytes()
    (root / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    (root / "notes.png").write_text("not an image")
    (root / "empty.jpeg").write_bytes(b"")
    result = find_examples(root, layers="block1_conv1", filters="0:2", top=2, size=SIZE)
    assert result.skipped == 3 and len(result.images) == 14
    err = capsys.readouterr().err
    assert all(f"skipped {n}" in err for n in ("cut.jpg", "notes.png", "empty.jpeg")) and "Traceback" not in err


@pytest.mark.parametrize("content", ["nothing", "only_bad"])
def test_no_readable_image_is_one_line_exit_2(tmp_path, capsys, content):
    (tmp_path / "d").mkdir()
    if content == "only_bad":
        (tmp_path / "d" / "x.png").write_text("text")
    with pytest.raises(SystemExit) as e:
        examples_main(["--images", str(tmp_path / "d"), "--layers", "block1_conv1", "--size", "32", "--quiet"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("jaxviz: error")]
    assert e.value.code == 2 and len(err) == 1


def test_image_modes_become_rgb(tmp_path):
    grey = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (64, 1))
    save(tmp_path / "grey.png", grey)
    Image.fromarray(np.full((40, 40, 3), 200, np.uint8)).convert("CMYK").save(tmp_path / "cmyk.jpg")
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., 0], rgba[:20, :, 3] = 255, 255  # top half opaque red, bottom transparent (white)
    save(tmp_path / "rgba.png", rgba)
    Image.fromarray(np.full((40, 50), 65535, np.uint16)).save(tmp_path / "deep.png")  # 16-bit greyscale
    small = load(tmp_path, "grey.png", 96)  # smaller than the crop: enlarged
    assert small.pixels.shape == (96, 96, 3) and (small.width, small.height) == (64, 64)
    assert load(tmp_path, "deep.png", 32).pixels.min() == 255
    assert np.abs(load(tmp_path, "cmyk.jpg", 32).pixels.astype(int) - 200).max() < 8
    px = load(tmp_path, "rgba.png", 32).pixels
    assert px[0, 16].tolist() == [255, 0, 0] and px[-1, 16].tolist() == [255, 255, 255]
    result = find_examples(tmp_path, layers="block1_conv1", filters="0:2", top=4, size=SIZE)
    assert len(result.images) == 4 and result.skipped == 0
    assert jax.numpy.isfinite(result.layers["block1_conv1"].scores).all()


def test_listing_follows_symlinked_folders_once_and_reports_broken_links(tmp_path, capsys):
    a = np.full((8, 8, 3), 90, np.uint8)
    save(tmp_path / "elsewhere" / "far.png", a)
    root = tmp_path / "root"
    save(root / "near.png", a)
    (root / "linked").symlink_to(tmp_path / "elsewhere")  # followed
    (root / "again").symlink_to(tmp_path / "elsewhere")  # the same real folder: listed once
    (root / "loop").symlink_to(root)  # ends, never recurses
    (root / "gone.png").symlink_to(tmp_path / "missing.png")
    said = []
    assert list_images(root, said.append) == ["again/far.png", "near.png"]
    assert said == [f"skipped {root / 'gone.png'}: a link to nothing"]
    result = find_examples(root, layers="block1_conv1", filters=[0], top=2, size=SIZE)
    assert [im["path"] for im in result.images] == ["again/far.png", "near.png"]
    assert "a link to nothing" in capsys.readouterr().err


def test_a_complete_rerun_says_so_and_the_api_speaks_plainly(folder, tmp_path, capsys):
    args = ["--images", str(folder), "--layers", "block1_conv1", "--filters", "0:2", "--size", "32", "--quiet"]
    args += ["--out", str(tmp_path / "r")]
    for expected in ("jaxviz: wrote", "already complete with these settings; nothing to do"):
        with pytest.raises(SystemExit) as e:
            examples_main(args)
        assert e.value.code == 0 and expected in capsys.readouterr().out
    result = find_examples(folder, layers="block1_conv1", filters="0:12", top=2, size=SIZE)
    assert repr(result) == f"Examples({str(folder.absolute())!r}, size 32, 14 images, 0 skipped, complete; " \
        "block1_conv1: 12 filters)"  # fmt: skip
    with pytest.raises(KeyError, match="layer 'block2_conv1' was not computed; computed: block1_conv1"):
        crops(result, "block2_conv1", 0)
    with pytest.raises(ValueError, match=r"filter 40 was not computed \(12 filters: 0, 1, 2, 3, 4, 5, 6, 7, \.\.\.\)"):
        crops(result, "block1_conv1", 40)


def test_decoding_threads_leave_cpu_cores_to_xla_and_take_an_accelerators_host():
    from jaxviz.dataset_examples.loader import decoders

    assert [decoders("cpu", n) for n in (1, 2, 8, 16, 64)] == [1, 1, 1, 2, 8]
    assert [decoders(b, 16) for b in ("gpu", "tpu")] == [16, 16]
