"""Scoring against a real HR capture: registration, intensity matching, baselines, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from napari_sisr import DegradationParams, evaluate, simulate_lr
from napari_sisr.cli import main
from napari_sisr.core.errors import InputError
from napari_sisr.core.evaluation.scoring import (
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


def test_a_pair_the_model_was_trained_on_is_said_and_its_held_out_part_scored(
    tmp_path, pair, one_torch_thread, capsys
):
    """Training records which planes of which capture it used and which band it held out;
    a score on that pair says so and scores the held-out band apart, the CLI as the API."""
    from napari_sisr import TrainConfig, train

    lr, hr, truth = pair
    config = TrainConfig(
        hr=[hr], out=tmp_path / "run", scale=4, patch=32, batch=2, iters=2,
        arch_overrides={"n_blocks": 1, "nf": 8}, adversarial=False, val_every=2,
        val_max_size=64, ema=None, degradation=truth, init=None,
    )  # fmt: skip
    train(config)
    model = tmp_path / "run" / "model.json"
    record = json.loads(model.read_text())["training_data"]
    assert [(r["use"], r["region_yx"]) for r in record] == [
        ("trained", [[0, 204], [0, 256]]),
        ("held out", [[204, 256], [0, 256]]),
    ]
    scored = evaluate(lr, hr, 4, model=str(model), rl_iterations=2, sigma=2.0)
    assert scored.overlap is not None and scored.overlap.held_out == ((204, 256), (0, 256))
    assert scored.held_out is not None and "model" in scored.held_out.scores
    assert "training data" in scored.notes() and "held-out part" in scored.table()
    # an SR image of another model's making names no overlap; told the record, it does
    sr = bicubic_upsample(prepare_pair(lr, hr, 4)[0], 4)
    assert evaluate(lr, hr, 4, sr=sr, rl_iterations=2, sigma=2.0).overlap is None
    told = evaluate(lr, hr, 4, sr=sr, rl_iterations=2, sigma=2.0, training_data=record)
    assert told.overlap is not None
    # the same field captured anew (other pixels): no overlap
    other = hr + np.random.default_rng(3).normal(0, 1, hr.shape)
    assert evaluate(lr, other, 4, sr=sr, training_data=record, sigma=2.0).overlap is None
    tifffile.imwrite(tmp_path / "lr.tif", lr.astype(np.float32))
    tifffile.imwrite(tmp_path / "hr.tif", hr)
    code = main(["evaluate", str(model), str(tmp_path / "lr.tif"), str(tmp_path / "hr.tif"),
                 "--scale", "4", "--sigma", "2", "--rl-iterations", "2"])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0 and "training data" in out.err
    summary = json.loads(out.out.strip().splitlines()[-1])
    assert summary["training_overlap"]["held_out_yx"] == [[204, 256], [0, 256]]
    assert "model.json" in summary["held_out"]
