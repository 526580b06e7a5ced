"""Scoring against a real HR capture: registration, intensity matching, baselines, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from napari_sisr import DegradationParams, evaluate, simulate_lr
from napari_sisr.cli import main
from napari_sisr.core.errors import InputError
from napari_sisr.core.evaluate import (
    bicubic_upsample,
    prepare_pair,
    richardson_lucy,
    rl_psf,
    score_outputs,
)


@pytest.fixture(scope="module")
def pair(request):
    """A real HR crop and its simulated 4x capture, shifted by a known amount."""
    actin = request.getfixturevalue("actin")
    hr = actin[16:272, 0:256]
    truth = DegradationParams(scale=4, sigma=2.0, shift_yx=(1.5, -2.0), noise_var=4.0)
    lr = simulate_lr(hr, truth, rng=np.random.default_rng(0))
    return lr, hr, truth


def test_the_true_image_wins_whatever_its_intensity_scale(pair):
    lr, hr, truth = pair
    # an "SR" that is the HR itself, in other units and moved back by the simulated shift
    from scipy import ndimage

    moved = ndimage.shift(hr, truth.shift_yx, order=3, mode="nearest")
    scored = evaluate(lr, hr, 4, sr=3.0 * moved + 50.0, sigma=2.0, rl_iterations=10)
    s = scored.scores
    assert s["sr"].psnr > s["bicubic"].psnr + 10 and s["sr"].ssim > 0.97
    # each output gets its own gain and offset: the units of the output do not matter
    same = evaluate(lr, hr, 4, sr=moved, sigma=2.0, rl_iterations=10).scores["sr"]
    assert same.psnr == pytest.approx(s["sr"].psnr, abs=1e-6)
    assert same.gain == pytest.approx(3.0 * s["sr"].gain)
    # the registration found the simulated shift (bicubic of block means: same grid)
    np.testing.assert_allclose(scored.shift_yx, [-v for v in truth.shift_yx], atol=0.3)


def test_deconvolution_beats_bicubic_on_a_blurred_capture(pair):
    lr, hr, truth = pair
    scored = evaluate(lr, hr, 4, sigma=truth.sigma, rl_iterations=20)
    s = scored.scores
    assert s["bicubic + RL"].psnr > s["bicubic"].psnr > s["nearest"].psnr
    assert scored.extra == {"sigma": 2.0, "rl_iterations": 20}
    text = scored.table()
    assert "bicubic + RL" in text and "20 iterations" in text


def test_richardson_lucy_keeps_the_flux_and_zero_iterations_is_identity():
    rng = np.random.default_rng(0)
    img = rng.random((64, 64)) + 10.0
    psf = rl_psf(1.5, 2)
    assert psf.sum() == pytest.approx(1.0) and psf.min() >= 0
    np.testing.assert_array_equal(richardson_lucy(img, psf, 0), img)
    out = richardson_lucy(img, psf, 5)
    assert out.mean() == pytest.approx(img.mean(), rel=1e-3)


def test_bad_pairs_are_named(pair):
    lr, hr, _ = pair
    with pytest.raises(InputError, match="smaller than the LR image"):
        prepare_pair(lr, hr[:200], 4)
    with pytest.raises(InputError, match="much larger"):
        prepare_pair(lr, hr, 2)
    with pytest.raises(InputError, match="too small"):
        prepare_pair(lr[:8, :8], hr[:32, :32], 4)
    other = np.random.default_rng(1).random(hr.shape)
    with pytest.raises(InputError, match="same field"):
        score_outputs({"bicubic": bicubic_upsample(lr, 4)}, other, 4)


def test_cli_scores_an_image_and_a_model(tmp_path, pair, capsys):
    lr, hr, _ = pair
    tifffile.imwrite(tmp_path / "lr.tif", lr.astype(np.float32))
    tifffile.imwrite(tmp_path / "hr.tif", hr.astype(np.float32))
    tifffile.imwrite(tmp_path / "sr.tif", bicubic_upsample(lr, 4).astype(np.float32))
    args = [str(tmp_path / "lr.tif"), str(tmp_path / "hr.tif"), "--scale", "4", "--sigma", "2"]
    assert main(["evaluate", str(tmp_path / "sr.tif"), *args]) == 0
    out = capsys.readouterr()
    scores = json.loads(out.out)["scores"]
    assert scores["sr.tif"]["psnr"] == pytest.approx(scores["bicubic"]["psnr"], abs=1e-6)
    assert "sr.tif" in out.err and "PSNR" in out.err
    assert main(["evaluate", "default-4x", *args]) == 0
    assert "default-4x" in json.loads(capsys.readouterr().out)["scores"]
    # a model of another scale is named as such, not as an output of the wrong shape
    assert main(["evaluate", "default-2x", *args]) == 2
    err = capsys.readouterr().err
    assert "default-2x super-resolves x2, the pair is at x4" in err and "shape" not in err
    assert main(["evaluate", "no-such-thing", *args]) == 2
    assert "neither an image file nor a model" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "sr.tif"), *args, "--ensemble"]) == 2
    assert "--ensemble applies to a model" in capsys.readouterr().err


def test_cli_scores_a_model_with_the_self_ensemble(tmp_path, pair, capsys):
    lr, hr, _ = pair
    tifffile.imwrite(tmp_path / "lr.tif", lr.astype(np.float32))
    tifffile.imwrite(tmp_path / "hr.tif", hr.astype(np.float32))
    args = [str(tmp_path / "lr.tif"), str(tmp_path / "hr.tif"), "--scale", "4", "--sigma", "2"]
    scores = []
    for extra in ([], ["--ensemble"]):
        assert main(["evaluate", "default-4x", *args, *extra]) == 0
        scores.append(json.loads(capsys.readouterr().out)["scores"]["default-4x"]["psnr"])
    assert scores[0] != scores[1]  # a different output, scored the same way
