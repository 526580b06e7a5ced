"""Tuning a degradation-aware model's steering on a pair: the search, its result, its errors."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import tifffile

from napari_sisr import (
    Cancelled,
    DegradationParams,
    predict,
    simulate_lr,
    tune_steering,
)
from napari_sisr.cli import main
from napari_sisr.core.errors import InputError


@pytest.fixture(scope="module")
def pair(request):
    """A real HR crop and its simulated 2x capture: PSF sigma 2.5 HR px, noise 2 % of range."""
    actin = request.getfixturevalue("actin")
    hr = actin[:192, :192].astype(np.float64)
    span = float(np.percentile(hr, 99.9) - np.percentile(hr, 0.1))
    truth = DegradationParams(scale=2, sigma=2.5, noise_var=(0.02 * span) ** 2)
    lr = simulate_lr(hr, truth, rng=np.random.default_rng(0))
    return lr, hr, truth


def test_a_wrong_start_is_corrected_towards_the_truth(pair):
    lr, hr, truth = pair
    wrong = truth.with_sigma(0.3)  # a start far too sharp
    updates = []
    tuned = tune_steering("aware-2x", lr, hr, degradation=wrong, progress=updates.append)
    # never worse on the pair than the start (the start is one of the trials), and here better
    assert tuned.psnr >= tuned.psnr_fit
    assert tuned.psnr > tuned.psnr_fit + 0.3
    assert tuned.psnr > tuned.psnr_bicubic
    assert abs(tuned.params.sigma - truth.sigma) < abs(wrong.sigma - truth.sigma)
    # the result is the start with two values changed, marked as tuned, and says so
    p = tuned.params
    assert p.source == "tuned" and p.scale == 2 and p.shift_yx == wrong.shift_yx
    assert p.notes["tuned_for"] == "aware-2x" and p.notes["fitted_sigma"] == pytest.approx(0.3)
    assert p.notes["tuned_psnr"] == pytest.approx(tuned.psnr)
    assert max(t[2] for t in tuned.tried) == pytest.approx(tuned.psnr)
    # one update per trial, the last one complete
    assert len(updates) >= len(tuned.tried) and updates[-1].fraction == 1.0
    assert "told the fit" in tuned.table() and f"{tuned.psnr:.2f}" in tuned.table()
    # the tuned values steer the model in predict, which names where they came from
    sr = np.asarray(predict(lr.astype(np.float32), "aware-2x", degradation=p))
    assert sr.shape == (2 * lr.shape[0], 2 * lr.shape[1])


def test_without_a_fit_the_pair_is_fitted_first(pair):
    lr, hr, _ = pair
    updates = []
    tuned = tune_steering("aware-2x", lr, hr, 2, progress=updates.append)
    assert tuned.fit.source == "fit" and "fitting" in updates[0].message
    assert tuned.psnr >= tuned.psnr_fit


def test_what_cannot_be_tuned_is_named(pair):
    lr, hr, truth = pair
    with pytest.raises(InputError, match="degradation-aware"):
        tune_steering("default-2x", lr, hr)
    with pytest.raises(InputError, match="x4 but the model super-resolves x2"):
        tune_steering("aware-2x", lr, hr, 4)
    with pytest.raises(InputError, match="degradation is for x4"):
        tune_steering("aware-2x", lr, hr, degradation=truth.updated(scale=4))


def test_it_stops_when_asked(pair):
    lr, hr, truth = pair
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        tune_steering("aware-2x", lr, hr, degradation=truth, stop=stop)


def test_cli_writes_what_predict_reads(tmp_path, pair, capsys):
    lr, hr, truth = pair
    tifffile.imwrite(tmp_path / "lr.tif", lr.astype(np.float32))
    tifffile.imwrite(tmp_path / "hr.tif", hr.astype(np.float32))
    truth.with_sigma(0.3).save(tmp_path / "fit.json")
    out = tmp_path / "tuned.json"
    args = ["tune", "aware-2x", str(tmp_path / "lr.tif"), str(tmp_path / "hr.tif"), "-q"]
    assert main([*args, "--degradation", str(tmp_path / "fit.json"), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    line = json.loads(captured.out.strip().splitlines()[-1])
    assert line["source"] == "tuned" and line["psnr"]["tuned"] >= line["psnr"]["fit"]
    assert "| PSF sigma (HR px) | noise std | PSNR |" in captured.err
    saved = DegradationParams.load(out)
    assert saved.source == "tuned" and saved.sigma == pytest.approx(line["sigma"])
    # an existing output is refused before any work, and kept
    before = out.read_text()
    assert main([*args, "-o", str(out)]) == 2
    assert "exists" in capsys.readouterr().err and out.read_text() == before
    sr = tmp_path / "sr.tif"
    assert main(["predict", str(tmp_path / "lr.tif"), "-o", str(sr), "--model", "aware-2x",
                 "--degradation", str(out), "-q"]) == 0  # fmt: skip
    assert "the steering tuned on a pair" in capsys.readouterr().err
    # a model that takes no degradation: a clear error, exit code 2
    assert main(["tune", "default-2x", str(tmp_path / "lr.tif"), str(tmp_path / "hr.tif")]) == 2
    assert "degradation-aware" in capsys.readouterr().err
