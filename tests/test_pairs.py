"""Real pairs at a non-integer pixel ratio: estimate it, resample HR to an integer scale."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from scipy import ndimage
from test_cli import cli, last_json

from napari_sisr import DegradationParams, estimate_ratio, fit_degradation, resample_hr


def _capture(hr: np.ndarray, ratio: float, sigma_lr: float, seed: int = 0) -> np.ndarray:
    """An LR capture ``ratio`` HR pixels per LR pixel, made without the package's code."""
    blurred = ndimage.gaussian_filter(hr, sigma_lr * ratio, mode="reflect")
    shape = (round(hr.shape[0] / ratio), round(hr.shape[1] / ratio))
    zooms = [m / n for m, n in zip(shape, hr.shape, strict=True)]
    lr = ndimage.zoom(blurred, zooms, order=1, mode="reflect", grid_mode=True)
    rng = np.random.default_rng(seed)
    return lr + 0.01 * np.ptp(lr) * rng.standard_normal(lr.shape), zooms


@pytest.mark.parametrize("ratio", [3.3, 7.31])
def test_estimate_ratio_on_real_image(actin, ratio):
    lr, zooms = _capture(actin, ratio, 0.8)
    lr = lr[3:-2, 4:-1]  # not quite the same field
    got, corr = estimate_ratio(actin, lr)
    true = 1 / np.mean(zooms)  # the exact ratio after rounding the shape
    assert abs(got / true - 1) < 0.005
    assert corr > 0.9


def test_resample_hr_shapes_and_intensity(actin):
    up = resample_hr(actin, 7.31, 8)
    (h, w) = actin.shape
    assert up.shape == (round(h * 8 / 7.31), round(w * 8 / 7.31))
    assert abs(up.mean() / actin.mean() - 1) < 0.01
    down = resample_hr(actin, 4.4, 4)
    assert down.shape == (round(h * 4 / 4.4), round(w * 4 / 4.4))
    np.testing.assert_array_equal(resample_hr(actin, 4.0, 4), actin)
    with pytest.raises(ValueError, match="HR px per LR px"):
        resample_hr(actin, -1.0, 4)
    with pytest.raises(ValueError, match="2D"):
        resample_hr(actin[None], 3.0, 4)


def test_fit_after_resampling_finds_the_blur(actin):
    # The capture's blur is 0.8 LR px = 3.2 HR px of the x4 grid (plus the linear
    # interpolation of the zoom, which widens it a little).
    lr, zooms = _capture(actin, 3.7, 0.8)
    hr4 = resample_hr(actin, 1 / np.mean(zooms), 4)
    fit = fit_degradation(hr4, lr, 4)
    assert 3.0 < fit.sigma < 3.6
    assert abs(fit.residual_lag1) < 0.2


def test_cli_hr_ratio(tmp_path, actin):
    lr, zooms = _capture(actin, 3.7, 0.8)
    hr_path, lr_path = tmp_path / "hr.tif", tmp_path / "lr.tif"
    tifffile.imwrite(hr_path, actin.astype(np.float32))
    tifffile.imwrite(lr_path, lr.astype(np.float32))
    params = tmp_path / "p.json"
    out = cli("fit", hr_path, lr_path, "--scale", 4, "--hr-ratio", "auto", "-q", "-o", params)
    got = last_json(out)
    assert 3.0 < got["sigma"] < 3.6
    notes = DegradationParams.load(params).notes["hr_resampled"]
    assert abs(notes["ratio"] * np.mean(zooms) - 1) < 0.005
    bad = cli("fit", hr_path, lr_path, "--scale", 4, "--hr-ratio", "seven", check=False)
    assert bad.returncode == 2 and "--hr-ratio" in bad.stderr


def test_cli_widget_and_api_fit_a_pair_alike(tmp_path, actin):
    """One workflow (core's fit_pair) behind `napari-sisr fit --hr-ratio`, the Fit widget's job
    and the Python API: the same pixels give the same parameters and the same notes."""
    from napari_sisr import fit_pair
    from napari_sisr.core.progress import run_to_end
    from napari_sisr.widgets.fit.job import fit_job

    lr, _ = _capture(actin, 3.7, 0.8)
    lr = lr.astype(np.float32)
    hr_path, lr_path = tmp_path / "hr.tif", tmp_path / "lr.tif"
    tifffile.imwrite(hr_path, actin.astype(np.float32))
    tifffile.imwrite(lr_path, lr)
    saved = tmp_path / "p.json"
    cli("fit", hr_path, lr_path, "--scale", 4, "--hr-ratio", "3.7", "-q", "-o", saved)
    from_cli = DegradationParams.load(saved)
    api = fit_pair(actin.astype(np.float32), lr, 4, ratio=3.7)
    widget, _, _ = run_to_end(fit_job(actin.astype(np.float32), lr, 4, ratio=3.7))
    assert api.hr.shape == (round(actin.shape[0] * 4 / 3.7), round(actin.shape[1] * 4 / 3.7))
    for got in (api.params, widget):
        assert got.notes["hr_resampled"] == from_cli.notes["hr_resampled"]
        for key in ("sigma", "gain", "offset", "residual_std"):
            assert getattr(got, key) == pytest.approx(getattr(from_cli, key), rel=1e-6), key
        assert got.shift_yx == pytest.approx(from_cli.shift_yx, abs=1e-6)
    # at exactly the scale nothing is resampled: the pair itself, as the CLI records it
    same = fit_pair(actin, actin.reshape(128, 4, 128, 4).mean(axis=(1, 3)), 4, ratio=4)
    assert "hr_resampled" not in same.params.notes
    np.testing.assert_array_equal(same.hr, actin)
    with pytest.raises(ValueError, match="HR px per LR px"):
        fit_pair(actin, lr, 4, ratio="seven")
