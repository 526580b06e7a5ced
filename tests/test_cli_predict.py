"""``napari-sisr predict``: formats, batches, progress, and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import torch

from napari_sisr.cli import main
from napari_sisr.core.archs import build_generator
from napari_sisr.core.io.images import open_lazy
from napari_sisr.core.io.omezarr import read_state
from napari_sisr.core.modelio import save_model


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    torch.manual_seed(0)
    net = build_generator("srresnet", "fast", 2, 1, n_blocks=1, nf=8)
    path = tmp_path_factory.mktemp("model") / "tiny"
    save_model(path, net, {"name": "tiny"})
    return str(path)


@pytest.fixture(scope="module")
def tif(tmp_path_factory, nuclei):
    path = tmp_path_factory.mktemp("in") / "cells.ome.tif"
    tifffile.imwrite(
        path, nuclei[:80, :96], ome=True, metadata={"PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5}
    )
    return path


def _json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_tiff_to_ome_zarr_keeps_pixel_size(tif, model_path, tmp_path, capsys):
    out = tmp_path / "sr.zarr"
    rc = main(["predict", str(tif), "-o", str(out), "--model", model_path, "--tile", "32"])
    assert rc == 0
    captured = capsys.readouterr()
    (info,) = _json_lines(captured.out)
    assert info["shape"] == [160, 192] and info["dtype"] == "uint16"
    assert read_state(out)["complete"] is True
    import zarr

    ms = zarr.open_group(str(out), mode="r").attrs["multiscales"][0]
    assert ms["datasets"][0]["coordinateTransformations"][0]["scale"] == pytest.approx([0.25] * 2)
    assert open_lazy(out).shape == (160, 192)


def test_tiff_output_and_overwrite(tif, model_path, tmp_path, capsys):
    out = tmp_path / "sr.tif"
    args = ["predict", str(tif), "-o", str(out), "--model", model_path, "-q"]
    assert main(args) == 0
    assert tifffile.imread(out).shape == (160, 192)
    capsys.readouterr()
    assert main(args) == 2
    assert "exists" in capsys.readouterr().err
    assert main([*args, "--overwrite", "--dtype", "float32"]) == 0
    assert tifffile.imread(out).dtype == np.float32


def test_ensemble_flag_runs_the_self_ensemble(tif, model_path, tmp_path):
    from napari_sisr import predict

    out = tmp_path / "sr.tif"
    base = ["predict", str(tif), "-o", str(out), "--model", model_path, "-q", "--dtype", "float32"]
    assert main([*base, "--ensemble", "--engine", "torch", "--precision", "fp32"]) == 0
    lr = tifffile.imread(tif)
    want = predict(lr, model_path, ensemble=True, engine="torch", precision="fp32", dtype="float32")
    np.testing.assert_allclose(tifffile.imread(out), np.asarray(want, np.float32), atol=1e-3)
    plain = predict(lr, model_path, engine="torch", precision="fp32", dtype="float32")
    assert np.abs(tifffile.imread(out) - np.asarray(plain)).max() > 1e-2


def test_folder_batch_png_and_tiff(tif, model_path, tmp_path, capsys):
    import imageio.v3 as iio

    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "a.tif").write_bytes(tif.read_bytes())
    rgb = np.random.default_rng(0).integers(0, 255, (40, 44, 3), dtype=np.uint8)
    iio.imwrite(folder / "b.png", rgb)
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "results"
    rc = main(["predict", str(folder), "-o", str(out), "--model", model_path, "-q"])
    assert rc == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["a_sr.tif", "b_sr.tif"]
    assert tifffile.imread(out / "b_sr.tif").shape == (80, 88, 3)
    assert len(_json_lines(capsys.readouterr().out)) == 2
    rc = main(["predict", str(folder), "-o", str(tmp_path / "z"), "--format", "zarr", "--model",
               model_path, "-q"])  # fmt: skip
    assert rc == 0
    assert sorted(p.name for p in (tmp_path / "z").iterdir()) == ["a_sr.zarr", "b_sr.zarr"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "/nonexistent/model"], "not found"),
        (["--model", "MODEL", "--halo", "big"], "--halo must be an integer"),
    ],
)
def test_errors_are_one_line(tif, model_path, tmp_path, capsys, extra, message):
    extra = [model_path if e == "MODEL" else e for e in extra]
    rc = main(["predict", str(tif), "-o", str(tmp_path / "o.zarr"), *extra])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and "Traceback" not in err


def test_corrupt_model_and_channel_mismatch(tif, model_path, tmp_path, capsys):
    bad = tmp_path / "bad"
    torch.manual_seed(0)
    save_model(bad, build_generator("srresnet", "fast", 2, 3, n_blocks=1, nf=8), {})
    rc = main(["predict", str(tif), "-o", str(tmp_path / "o.zarr"), "--model", str(bad)])
    assert rc == 2 and "expects 3-channel input" in capsys.readouterr().err
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 10)
    rc = main(["predict", str(tif), "-o", str(tmp_path / "o.zarr"), "--model", str(bad)])
    assert rc == 2 and "corrupt" in capsys.readouterr().err
    # a broken model.json is named as such, not as a missing model
    save_model(tmp_path / "m2", build_generator("srresnet", "fast", 2, 1, n_blocks=1, nf=8), {})
    (tmp_path / "m2.json").write_text("{not json")
    for given in ("m2", "m2.json", "m2.safetensors"):
        rc = main(["predict", str(tif), "-o", str(tmp_path / "o.zarr"), "--model",
                   str(tmp_path / given)])  # fmt: skip
        err = capsys.readouterr().err
        assert rc == 2 and "m2.json is not valid JSON" in err and "not found" not in err, err


def test_no_stray_progress_bar_before_an_error(capsys):
    """A bar stopped at 0 % above an error message reads as a hang: none is drawn before the
    first piece of work, and open bars are closed before the message."""
    from napari_sisr.cli._common import _OPEN_BARS, close_progress, progress_printer
    from napari_sisr.core.progress import PredictProgress

    show = progress_printer(quiet=False)
    show(PredictProgress(done=0, total=5, message="loading the model"))
    assert capsys.readouterr().err == "" and not _OPEN_BARS
    show(PredictProgress(done=2, total=5, message="tiles"))
    assert "2/5" in capsys.readouterr().err and len(_OPEN_BARS) == 1
    close_progress()
    assert not _OPEN_BARS


def test_a_late_bar_has_no_rate_for_the_work_done_before_it(capsys):
    """The bar appears after the first tiles: its rate counts only what it saw happen (a
    one-tile image once read "100000 it/s"), in tiles."""
    from napari_sisr.cli._common import close_progress, progress_printer
    from napari_sisr.core.progress import PredictProgress

    show = progress_printer(quiet=False)
    show(PredictProgress(done=0, total=1, message="super-resolving"))
    show(PredictProgress(done=1, total=1, message="super-resolving"))
    err = capsys.readouterr().err
    close_progress()
    assert "1/1" in err and "?tile/s" in err, err
    assert "it/s" not in err.replace("?tile/s", ""), err


def test_every_drawn_bar_line_names_its_job(capsys):
    """tqdm draws a bar as it is made: made without its description, its first line read
    " 50%|#####     | 1/2" above the named ones."""
    from napari_sisr.cli._common import close_progress, progress_printer
    from napari_sisr.core.progress import PredictProgress

    show = progress_printer(quiet=False)
    show(PredictProgress(done=1, total=2, message="super-resolving"))
    show(PredictProgress(done=2, total=2, message="super-resolving"))
    close_progress()
    drawn = [
        line for line in capsys.readouterr().err.replace("\r", "\n").split("\n") if "/2" in line
    ]
    assert drawn and all(line.startswith("super-resolving") for line in drawn), drawn


def test_default_model_cli_equals_python(nuclei, tmp_path):
    """One pipeline, two doors: the CLI without --model equals predict(..., "default-4x")."""
    import napari_sisr

    img = np.ascontiguousarray(nuclei[100:164, 200:280])
    src = tmp_path / "crop.tif"
    tifffile.imwrite(src, img)
    assert main(["predict", str(src), "-o", str(tmp_path / "sr.tif"), "-q"]) == 0
    cli = tifffile.imread(tmp_path / "sr.tif")
    py = np.asarray(napari_sisr.predict(img, "default-4x"))
    assert cli.shape == (256, 320) and cli.dtype == img.dtype
    np.testing.assert_array_equal(cli, py)


def test_image_suffix_writes_that_image(tif, model_path, tmp_path, capsys):
    import imageio.v3 as iio

    out = tmp_path / "sr.png"
    assert main(["predict", str(tif), "-o", str(out), "--model", model_path, "-q"]) == 0
    png = iio.imread(out)
    assert out.is_file() and png.shape == (160, 192) and png.dtype == np.uint16  # kept
    ref = tifffile.imread(tif)
    assert main(["predict", str(tif), "-o", str(tmp_path / "sr.jpg"), "--model", model_path]) == 0
    captured = capsys.readouterr()
    err = captured.err
    assert "holds 8-bit values" in err and "0-255" in err  # uint16 mapped, said so
    # the summary line names what the file holds, not what the network gave
    assert json.loads(captured.out.strip().splitlines()[-1])["dtype"] == "uint8"
    assert iio.imread(tmp_path / "sr.jpg").dtype == np.uint8 and ref.dtype == np.uint16
    rc = main(["predict", str(tif), "-o", str(tmp_path / "sr.dat"), "--model", model_path])
    assert rc == 2 and "cannot write sr.dat" in capsys.readouterr().err


def test_batch_names_stay_unique_and_the_input_is_never_replaced(tif, model_path, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    data = tifffile.imread(tif)
    tifffile.imwrite(folder / "x.tif", data)
    tifffile.imwrite(folder / "x.ome.tif", data[::-1].copy(), ome=True)
    out = tmp_path / "out"
    assert main(["predict", str(folder), "-o", str(out), "--model", model_path, "-q"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["x_ome_tif_sr.tif", "x_tif_sr.tif"]
    a, b = (tifffile.imread(out / n) for n in names)
    assert not np.array_equal(a, b)  # two results, neither overwrote the other
    capsys.readouterr()
    zarr_in = tmp_path / "self.zarr"
    assert main(["predict", str(tif), "-o", str(zarr_in), "--model", model_path, "-q"]) == 0
    rc = main(["predict", str(zarr_in), "-o", str(zarr_in), "--model", model_path,
               "--overwrite", "-q"])  # fmt: skip
    assert rc == 2 and "would replace the input" in capsys.readouterr().err
    assert read_state(zarr_in)["complete"]  # untouched


@pytest.mark.parametrize(
    ("write", "expected"),
    [({}, "QYX"), ({"imagej": True, "metadata": {"axes": "TYX"}}, "TYX"),
     ({"ome": True, "metadata": {"axes": "ZYX"}}, "ZYX")],
)  # fmt: skip
def test_stack_axes_are_kept_and_unnamed_ones_not_invented(
    nuclei, model_path, tmp_path, capsys, write, expected
):
    """A stack TIFF without axis names may be a time-lapse: its result must not call the
    first axis Z; named axes (ImageJ, OME) come back as they were."""
    stack = np.stack([nuclei[:32, :40]] * 5)
    src = tmp_path / "stack.tif"
    tifffile.imwrite(src, stack, **write)
    out = tmp_path / "stack_sr.tif"
    assert main(["predict", str(src), "-o", str(out), "--model", model_path, "-q"]) == 0
    with tifffile.TiffFile(out) as result:
        assert result.series[0].axes == expected
        assert result.series[0].shape == (5, 64, 80)
