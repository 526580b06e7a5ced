"""Isotropic stacks from the stack itself: the axial fit, the network, tiled application,
the OME-Zarr output and the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from conftest import shared_path
from scipy import ndimage

from napari_sisr import isotropic
from napari_sisr.cli import main
from napari_sisr.core.errors import InputError
from napari_sisr.core.isotropic import apply_isotropic, fit_axial, load_axial, save_axial
from napari_sisr.core.isotropic.net import AxialSR


@pytest.fixture(scope="module")
def volume():
    """An isotropic volume of blobs (lateral blur 1.2 px), and its z cut by 4 after an extra
    axial blur of 2.5 px, with noise: (reference, anisotropic)."""
    rng = np.random.default_rng(0)
    vol = np.zeros((96, 64, 64))
    idx = rng.integers(0, vol.shape, size=(400, 3))
    vol[tuple(idx.T)] = rng.uniform(50, 200, 400)
    vol = ndimage.gaussian_filter(vol, 1.2)
    an = ndimage.gaussian_filter1d(vol, 2.5, axis=0)[2::4]
    return vol, an + rng.normal(0, 0.01 * an.max(), an.shape)


@pytest.mark.parametrize("sigma, f", [(2.0, 4), (4.0, 4), (6.0, 5)])
def test_the_axial_blur_is_fitted_from_the_stack_alone(sigma, f):
    rng = np.random.default_rng(0)
    vol = np.zeros((160, 128, 128))
    idx = rng.integers(0, vol.shape, size=(600, 3))
    vol[tuple(idx.T)] = rng.uniform(50, 200, 600)
    vol = ndimage.gaussian_filter(vol, 1.5)
    an = ndimage.gaussian_filter1d(vol, sigma, axis=0)[::f]
    an += rng.normal(0, 0.02 * an.max(), an.shape)
    fit = fit_axial(an, z_step_um=0.1 * f, pixel_um=0.1)
    assert fit.factor == f and fit.sigma == pytest.approx(sigma, rel=0.1)
    assert fit.summary()["sigma_nm"] == pytest.approx(100 * fit.sigma)


def test_restoration_beats_interpolation_and_tiles_agree(volume, tmp_path):
    from napari_sisr.core.isotropic.net import interpolate_rows

    ref, an = volume
    res = isotropic(an, factor=4, train={"iters": 150, "val_every": 50})
    out = np.asarray(res.stack)
    assert out.shape == (an.shape[0] * 4, *an.shape[1:])
    import torch

    lin = interpolate_rows(torch.from_numpy(an.transpose(1, 0, 2)[:, None].astype(np.float32)), 4)
    lin = lin[:, 0].numpy().transpose(1, 0, 2)
    err = np.mean((out - ref[: out.shape[0]]) ** 2)
    assert err < 0.8 * np.mean((lin - ref[: out.shape[0]]) ** 2)
    # the saved network, applied in small blocks and tiles, gives the same stack
    path = save_axial(tmp_path / "iso", AxialSR(4, 8, 1), {"lo": 0.0, "hi": 1.0})
    a = apply_isotropic(an, str(path))
    b = apply_isotropic(an, load_axial(path), block=5, tile=3)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * np.abs(a).max())


def test_an_ome_zarr_output_carries_the_new_z_scale(volume, tmp_path):
    from napari_sisr.core.io.omezarr import read_ngff_metadata

    _, an = volume
    out = tmp_path / "iso.ome.zarr"
    before = an.copy()
    res = isotropic(an, z_step_um=0.4, pixel_um=0.1, out=out, train={"iters": 5})
    np.testing.assert_array_equal(an, before)  # the caller's stack is read, never changed
    meta = read_ngff_metadata(out)
    assert meta["axes"] == "zyx" and [meta["scale"][a] for a in "zyx"] == pytest.approx([0.1] * 3)
    assert res.voxel_um == pytest.approx((0.1, 0.1, 0.1))
    with pytest.raises(InputError, match="exists"):
        isotropic(an, z_step_um=0.4, pixel_um=0.1, out=out, train={"iters": 1})


@pytest.mark.parametrize("kwargs, match", [
    ({"factor": 1}, "nothing to make isotropic"),
    ({}, "z step and the xy pixel size are needed"),
    ({"z_step_um": 4.0, "pixel_um": 65.0}, "0 to 50 um"),
    ({"factor": "4"}, "whole number"), ({"factor": float("nan")}, "whole number"),
    ({"factor": 2.5}, "whole number"),
])  # fmt: skip
def test_what_cannot_be_made_isotropic_is_named(volume, kwargs, match):
    with pytest.raises(InputError, match=match):
        fit_axial(volume[1], **kwargs)


def test_a_model_file_that_is_not_ours_is_refused(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(InputError, match="not a napari-sisr isotropic model"):
        load_axial(tmp_path / "m.json")


def test_the_command_line_on_the_real_bead_stack(tmp_path, capsys):
    path = shared_path("stack_3d/beads_zyx.tif")
    small = tmp_path / "beads.tif"
    data = tifffile.imread(path)[:, 40:120, 40:120]
    tifffile.imwrite(small, data, imagej=True, resolution=(1 / 0.0225, 1 / 0.0225),
                     metadata={"spacing": 0.125, "unit": "um", "axes": "ZYX"})  # fmt: skip
    out, picture = tmp_path / "iso.tif", tmp_path / "fit.png"
    args = [
        "isotropic",
        str(small),
        "-o",
        str(out),
        "--iters",
        "5",
        "-q",
        "--picture",
        str(picture),
    ]
    assert main(args) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["factor"] == 6 and line["z_out_um"] == pytest.approx(0.125 / 6)
    assert line["picture"] == str(picture) and picture.stat().st_size > 5000
    with tifffile.TiffFile(out) as t:
        assert t.series[0].shape == (data.shape[0] * 6, 80, 80)
        assert t.imagej_metadata["spacing"] == pytest.approx(0.125 / 6)
    assert main(["isotropic", str(small), "-o", str(out), "-q"]) == 2  # never over a file unasked


def test_a_wide_stack_gets_a_pyramid(tmp_path):
    """Past 512 px a level of the pyramid is written with every block (the region of a block
    is explicit, not open-ended)."""
    from napari_sisr.core.io.omezarr import read_ngff_metadata

    rng = np.random.default_rng(2)
    stack = ndimage.gaussian_filter(rng.random((8, 40, 520)), 1.5).astype(np.float32)
    out = tmp_path / "wide.ome.zarr"
    isotropic(stack, factor=4, sigma=2.0, out=out, block=16, train={"iters": 2})
    meta = read_ngff_metadata(out)
    assert meta["levels"] == 2
    full = np.asarray(apply_isotropic(stack, load_axial(save_axial(
        tmp_path / "m", AxialSR(4, 4, 1), {"lo": 0.0, "hi": 1.0}))))  # fmt: skip
    assert full.shape == (32, 40, 520)


def test_the_fit_is_drawn_without_matplotlib_too(volume, tmp_path, monkeypatch):
    """The picture's panels: an xy plane on its side, that plane degraded by the fit (blurred
    and sampled 1 in 4, so smoother than the plane), the stack's xz slice, the restored one."""
    import sys

    import imageio.v3 as iio

    from napari_sisr.core.isotropic.picture import axial_picture

    _, an = volume
    fit = fit_axial(an, factor=4)
    restored = np.repeat(an, 4, axis=0)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # the plain row of panels
    img = iio.imread(axial_picture(an, fit, tmp_path / "fit.png", restored)).astype(float)
    z4, width = an.shape[0] * 4, an.shape[2]
    assert img.shape == (z4, 4 * (width + 4))
    panels = [img[:, k * (width + 4) : k * (width + 4) + width] for k in range(4)]
    rows = min(an.shape[1], z4)  # the lateral plane is as tall as the xz view or the stack
    rough = [np.abs(np.diff(p[:rows], axis=0)).mean() for p in panels]
    assert rough[1] < 0.5 * rough[0]  # the degraded plane lost the plane's fine detail along z
    assert np.array_equal(panels[2], panels[3])  # the xz slice, and here the same restored


def test_fit_and_training_read_the_stack_a_slice_at_a_time():
    """Bounded memory: what the fit and the training hold does not grow with the number of
    planes (before, each made float64 copies of the whole stack: about 7 times its float32
    size at their peak)."""
    import tracemalloc

    from napari_sisr.core.isotropic import IsoTrainConfig, train_isotropic

    rng = np.random.default_rng(3)
    plane = ndimage.gaussian_filter(rng.random((384, 384)), 1.5).astype(np.float32)
    peaks = []
    train_isotropic(
        plane[None].repeat(8, 0),
        fit_axial(plane[None].repeat(8, 0), factor=4),
        IsoTrainConfig(iters=1),
    )  # imports and first-call caches, not measured
    for z in (8, 40):
        stack = np.stack([np.roll(plane, 7 * k, axis=1) for k in range(z)])
        tracemalloc.start()
        try:
            fit = fit_axial(stack, factor=4)
            train_isotropic(stack, fit, IsoTrainConfig(iters=1, val_every=1))
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    grown = (peaks[1] - peaks[0]) / (32 * plane.nbytes)  # per byte of the 32 planes added
    assert grown < 0.25, f"peaks {peaks[0] >> 20} and {peaks[1] >> 20} MB"


def test_a_bead_measurement_gives_the_axial_blur(volume, tmp_path, capsys):
    """From a bead z-stack's widths: the blur an axial slice adds to an xy plane, in the
    stack's pixels, sqrt(sigma_z^2 - sigma_xy^2); the command line uses it instead of fitting."""
    from napari_sisr.core.degradation.params import DegradationParams
    from napari_sisr.core.isotropic import axial_sigma_from_beads

    def beads(z, y, x):
        notes = {"beads": {"sigma_nm": {"z": z, "y": y, "x": x}}}
        return DegradationParams(scale=4, sigma=1.0, source="beads", notes=notes)

    assert axial_sigma_from_beads(beads(300, 100, 100), 0.1) == pytest.approx(8**0.5)
    with pytest.raises(InputError, match="no axial width"):
        axial_sigma_from_beads(DegradationParams(scale=4, sigma=1.0), 0.1)
    with pytest.raises(InputError, match="no axial blur"):
        axial_sigma_from_beads(beads(90, 100, 100), 0.1)
    _, an = volume
    stack, psf = tmp_path / "an.tif", tmp_path / "psf.json"
    tifffile.imwrite(stack, an.astype(np.float32), imagej=True, resolution=(10, 10),
                     metadata={"spacing": 0.4, "unit": "um", "axes": "ZYX"})  # fmt: skip
    beads(300, 100, 100).save(psf)
    args = ["isotropic", str(stack), "-o", str(tmp_path / "o.tif"), "--beads", str(psf)]
    assert main([*args, "--iters", "2", "-q"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["sigma_xy_px"] == pytest.approx(8**0.5) and line["factor"] == 4


def test_a_device_that_is_not_here_is_named(volume, tmp_path, capsys):
    import torch

    _, an = volume
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA is not available"):
            isotropic(an, factor=4, train={"iters": 1, "device": "cuda"})
    stack = tmp_path / "an.tif"
    tifffile.imwrite(stack, an.astype(np.float32))
    args = ["isotropic", str(stack), "-o", str(tmp_path / "o.tif"), "--factor", "4"]
    assert main([*args, "--device", "tpu", "-q"]) == 2
    assert "unknown device 'tpu'" in capsys.readouterr().err
    assert main([*args, "--device", "cpu", "--iters", "1", "-q"]) == 0


@pytest.mark.parametrize("z_step", ["0", "-1", "nan", "1e9"])
def test_a_z_step_out_of_range_is_named_as_the_z_step(volume, tmp_path, capsys, z_step):
    stack = tmp_path / "an.tif"
    tifffile.imwrite(stack, volume[1].astype(np.float32))
    args = ["isotropic", str(stack), "-o", str(tmp_path / "o.tif"), "--pixel-size-um", "0.1"]
    assert main([*args, "--z-step-um", z_step]) == 2
    err = capsys.readouterr().err
    assert "--z-step-um" in err and "--pixel-size-um" not in err, err
    assert not (tmp_path / "o.tif").exists()
