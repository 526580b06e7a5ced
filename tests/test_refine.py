"""Refinement against the capture: Richardson-Lucy through the forward model, started from the
result; the count chosen on a calibration pair; its Python and command-line front ends."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from napari_sisr import DegradationParams, choose_refinement, refine, simulate_lr
from napari_sisr.cli import main
from napari_sisr.core.errors import InputError
from napari_sisr.core.evaluation.scoring import bicubic_upsample
from napari_sisr.core.inference.refine import psf_width, refine_plane
from napari_sisr.core.metrics import psnr

TRUTH = DegradationParams(scale=2, sigma=1.5, noise_var=0.5, offset=10.0, gain=0.5)


@pytest.fixture(scope="module")
def pair(actin):
    """A real HR image (0 to 1000), its capture simulated with a known PSF, and a soft start
    (bicubic upsampling, in the capture's intensity units)."""
    hr = actin[:128, :160] / actin[:128, :160].max() * 1000.0
    lr = simulate_lr(hr, TRUTH, rng=np.random.default_rng(0)).astype(np.float64)
    return hr, lr, bicubic_upsample(lr, 2)


def _psnr(a, hr):
    """PSNR after the best gain and offset (the refined image keeps the start's units)."""
    g, o = np.polyfit(a.ravel(), hr.ravel(), 1)
    return psnr(g * a + o, hr, data_range=float(hr.max() - hr.min()))


def test_refining_a_soft_result_brings_it_closer_to_the_truth_and_the_capture(pair):
    hr, lr, start = pair
    refined = refine_plane(start, lr, 2, 1.5, 20)
    assert _psnr(refined, hr) > _psnr(start, hr) + 1.0

    def misfit(x):  # the residual against the capture, after the best gain and offset
        from napari_sisr.core.inference.refine import _Forward

        sim = _Forward(x.shape, lr.shape, 2, (1.5, 1.5))(x)
        g, o = np.polyfit(sim.ravel(), lr.ravel(), 1)
        return float(np.std(lr - g * sim - o))

    assert misfit(refined) < 0.7 * misfit(start)
    assert np.array_equal(refine_plane(start, lr, 2, 1.5, 0), start)


def test_the_result_keeps_its_intensity_units(pair):
    """The gain and offset are fitted between the result and the capture: refining a result
    scaled and shifted gives the same result scaled and shifted."""
    _, lr, start = pair
    a = refine_plane(start, lr, 2, 1.5, 5)
    b = refine_plane(10 * start + 5, lr, 2, 1.5, 5)
    assert np.allclose(b, 10 * a + 5, rtol=1e-6, atol=1e-6 * float(np.abs(b).max()))


def test_the_count_is_chosen_on_a_calibration_pair(pair):
    hr, lr, start = pair
    n, scores = choose_refinement(start, lr, hr, 2, 1.5)
    assert n > 0 and scores[n] == max(scores.values()) and set(scores) >= {0, 5, 20}
    # the truth itself, as if a model had found it, has nothing to gain from more iterations
    n_truth, truth_scores = choose_refinement(hr, lr, hr, 2, 1.5, candidates=(0, 20))
    assert n_truth == 0 and truth_scores[0] > truth_scores[20]


def test_the_psf_is_read_from_a_degradation_at_any_scale(tmp_path):
    fit = DegradationParams(scale=2, sigma=1.5)
    assert psf_width(fit, 4) == pytest.approx((3.0, 3.0))
    fit.save(tmp_path / "fit.json")
    assert psf_width(str(tmp_path / "fit.json"), 2) == pytest.approx((1.5, 1.5))
    assert psf_width((1.0, 2.0), 2) == (1.0, 2.0)
    for bad in (-1.0, float("nan"), [1.0], None):
        with pytest.raises(InputError, match="PSF"):
            psf_width(bad, 2)
    with pytest.raises(InputError, match="not found"):
        psf_width(str(tmp_path / "missing.json"), 2)


def test_stacks_are_refined_plane_by_plane(pair):
    _, lr, start = pair
    both = refine(np.stack([start, 2 * start]), np.stack([lr, lr]), 2, 1.5, 3)
    assert both.shape == (2, *start.shape) and both.dtype == np.float32
    assert np.allclose(both[0], refine_plane(start, lr, 2, 1.5, 3), rtol=1e-5)


@pytest.mark.parametrize("change, match", [
    ({"scale": 3}, "is the scale right"),
    ({"iterations": -1}, "iterations must be"),
    ({"sr": "negated"}, "does not follow the capture"),
    ({"sr": "nan"}, "NaN"),
])  # fmt: skip
def test_what_cannot_be_refined_is_named(pair, change, match):
    _, lr, start = pair
    sr = {"negated": -start, "nan": np.full_like(start, np.nan)}.get(change.get("sr"), start)
    args = {"scale": 2, "iterations": 3, **{k: v for k, v in change.items() if k != "sr"}}
    with pytest.raises(InputError, match=match):
        refine_plane(sr, lr, args["scale"], 1.5, args["iterations"])


def test_the_command_line(tmp_path, pair, capsys):
    hr, lr, start = pair
    for name, image in (("sr", start), ("lr", lr), ("hr", hr)):
        tifffile.imwrite(tmp_path / f"{name}.tif", image.astype(np.float32))
    TRUTH.save(tmp_path / "fit.json")
    base = ["refine", str(tmp_path / "sr.tif"), str(tmp_path / "lr.tif"), "--degradation",
            str(tmp_path / "fit.json"), "-o", str(tmp_path / "out.tif")]  # fmt: skip
    assert main([*base, "--iterations", "5"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["iterations"] == 5 and line["scale"] == 2
    out = tifffile.imread(tmp_path / "out.tif")
    assert out.dtype == np.float32 and out.shape == start.shape
    assert np.allclose(out, refine_plane(start, lr, 2, 1.5, 5), rtol=1e-4, atol=1e-3)
    assert main([*base, "--iterations", "5"]) == 2  # exists
    assert "--overwrite" in capsys.readouterr().err
    cal = [str(tmp_path / f"{n}.tif") for n in ("sr", "lr", "hr")]
    assert main([*base, "--calibrate", *cal, "--overwrite", "-q"]) == 0
    captured = capsys.readouterr()
    line = json.loads(captured.out.strip().splitlines()[-1])
    assert line["iterations"] > 0 and "PSNR by iterations" in captured.err
    assert set(line["calibration_psnr"]) >= {"0", "40"}
