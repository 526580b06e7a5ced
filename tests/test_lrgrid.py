"""Simulating the model on the grid of a real LR capture, and the widget's pure helpers."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from napari_sisr import DegradationParams, simulate_lr
from napari_sisr.core.degradation.lrgrid import residual_map, simulate_lr_region


class _Recorder:
    """An array-like that records the windows read from it."""

    def __init__(self, arr):
        self.arr, self.shape, self.reads = arr, arr.shape, []

    def __getitem__(self, key):
        self.reads.append(key)
        return self.arr[key]


def test_region_matches_the_full_simulation(actin):
    hr = actin[:300, :400]
    p = DegradationParams(scale=4, sigma=2.2, shift_yx=(1.7, -2.4), gain=3.0, offset=5.0)
    full = simulate_lr(hr, p, noise=False).astype(np.float64)
    rec = _Recorder(hr)
    region = simulate_lr_region(rec, p, (20, 50), (10, 70))
    np.testing.assert_allclose(region, full[20:50, 10:70], rtol=1e-5, atol=1e-3)
    ((ys, xs),) = rec.reads
    # Only the HR window the region depends on is read (block + PSF support + shift).
    assert ys.stop - ys.start < 4 * 30 + 2 * (4 * 2.2 + 4) and xs.stop - xs.start < 4 * 60 + 30


def test_residual_of_the_true_model_is_the_noise(actin):
    hr = actin[:256, :256]
    truth = DegradationParams(scale=2, sigma=1.4, gain=0.5, offset=3.0, noise_var=4.0)
    lr = simulate_lr(hr, truth, rng=np.random.default_rng(0))[10:110, 5:120]
    # The LR capture starts at LR pixel (10, 5): the model shifts HR by -2 * (10, 5).
    on_grid = truth.model_copy(update={"shift_yx": (-20.0, -10.0)})
    simulated, residual = residual_map(hr, lr, on_grid)
    assert simulated.shape == residual.shape == lr.shape
    assert residual.std() == pytest.approx(2.0, rel=0.05)
    # With a wrong sigma the residual carries image structure and grows.
    wrong = on_grid.model_copy(update={"sigma": 2.5})
    assert residual_map(hr, lr, wrong)[1].std() > 1.5 * residual.std()


def test_region_rejects_nan_and_non_planes():
    p = DegradationParams(scale=2)
    hr = np.ones((40, 40))
    hr[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        simulate_lr_region(hr, p, (0, 10), (0, 10))
    with pytest.raises(ValueError, match="2D"):
        simulate_lr_region(np.ones((2, 40, 40)), p, (0, 10), (0, 10))


def _layer(name, shape, scale=(1.0, 1.0)):
    return SimpleNamespace(
        name=name, data=np.zeros(shape), scale=scale, multiscale=False, rgb=False
    )


def test_scale_guess_and_pair_pick():
    from napari_sisr.widgets.fit.pairing import guess_scale, pick_pair

    hr, lr = _layer("hr", (400, 600)), _layer("lr", (100, 150))
    assert guess_scale(hr, lr) == 4
    assert guess_scale(hr, _layer("odd", (130, 150))) is None
    # Calibrated pixel sizes win over shapes (here an LR capture of a smaller field).
    calibrated = _layer("h", (400, 600), (0.1, 0.1))
    assert guess_scale(calibrated, _layer("l", (40, 40), (0.3, 0.3))) == 3
    assert guess_scale(calibrated, _layer("l", (40, 40), (0.25, 0.25))) is None
    combo = SimpleNamespace(value=None, choices=(None, lr, hr, _layer("residual", (999, 999))))
    picked = pick_pair(combo, SimpleNamespace(value=None))
    assert [layer.name for layer in picked] == ["hr", "lr"]


def test_preview_window_caps_large_planes():
    from napari_sisr.widgets.fit.preview import preview_window

    assert preview_window((100, 120), None, 4) == ((0, 100), (0, 120))
    visible = np.array([[900, 50], [1100, 250]])
    rows, cols = preview_window((2000, 300), visible, 4, max_hr_px=1024)
    assert rows == (872, 1128) and cols == (22, 278)


def test_ratio_hint_and_parse():
    from types import SimpleNamespace

    from napari_sisr.core.degradation.pairs import parse_ratio
    from napari_sisr.core.errors import InputError
    from napari_sisr.widgets.fit.pairing import ratio_hint

    def layer(name, shape, scale=(1.0, 1.0)):
        return SimpleNamespace(
            name=name, data=np.zeros(shape), scale=scale, rgb=False, ndim=len(shape),
            multiscale=False,
        )  # fmt: skip

    hr = layer("hr", (400, 300))
    assert ratio_hint(hr, layer("lr", (100, 75))) == ""  # exactly 4x
    assert ratio_hint(hr, layer("lr", (101, 75))) == ""  # a pixel of cropping
    assert ratio_hint(hr, layer("lr", (55, 41))) == "auto"  # 7.3x, same field
    assert ratio_hint(hr, layer("lr", (120, 40))) == ""  # a crop: the user's scale
    assert ratio_hint(hr, layer("lr", (55, 41), (7.31, 7.31))) == "7.31"
    assert ratio_hint(hr, layer("lr", (100, 75), (4.0, 4.0))) == ""
    assert parse_ratio("") is None and parse_ratio(" Auto ") == "auto"
    assert parse_ratio("7.31") == 7.31 == parse_ratio(7.31)  # text (widget) or number (CLI)
    assert parse_ratio(None) is None and parse_ratio("64") == 64
    for bad in ("seven", "0.5", "1", "nan", "-3", "65", 0.9):
        with pytest.raises(InputError, match="HR px per LR px"):
            parse_ratio(bad)


def test_the_pair_picked_covers_one_field():
    """With an unrelated image open, the Fit widget pairs the two captures of one field
    (calibrated, overlapping), not the largest and the smallest image."""
    from napari_sisr.widgets.fit.pairing import pick_pair, world_overlap

    sted = _layer("sted", (508, 508), (0.015, 0.015))
    confocal = _layer("confocal", (127, 127), (0.06, 0.06))
    other = _layer("other", (2048, 2048))  # larger, uncalibrated, another field
    tiny = _layer("thumb", (64, 64))
    assert world_overlap(sted, confocal) > 0.95 and world_overlap(sted, other) < 0.01
    combo = SimpleNamespace(value=None, choices=(None, other, sted, tiny, confocal))
    assert [layer.name for layer in pick_pair(combo, SimpleNamespace(value=None))] == [
        "sted",
        "confocal",
    ]
    # uncalibrated: a pair an integer scale apart beats the largest and the smallest
    hr, lr = _layer("hr", (400, 600)), _layer("lr", (100, 150))
    odd = _layer("odd", (999, 333))
    combo = SimpleNamespace(value=None, choices=(None, odd, hr, lr, _layer("t", (30, 31))))
    assert [layer.name for layer in pick_pair(combo, SimpleNamespace(value=None))] == ["hr", "lr"]
