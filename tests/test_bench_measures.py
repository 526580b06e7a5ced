"""The image measures behind the GAN model's published figures (benchmarks/_common.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _common import (  # noqa: E402
    background_departure_ratio,
    background_mask,
    background_std_ratio,
    detail_ratio,
    sharpness_ratio,
)


@pytest.fixture(scope="module")
def hr(actin):
    return actin[:256, :256]


def test_the_hr_image_restores_all_of_its_own_detail_in_any_units(hr):
    assert detail_ratio(hr, hr, 4) == pytest.approx(1.0)
    assert sharpness_ratio(hr, hr, 4) == pytest.approx(1.0)
    assert detail_ratio(3.0 * hr + 50.0, hr, 4) == pytest.approx(1.0)


def test_blur_loses_detail_and_noise_adds_power_but_no_detail(hr):
    soft, softer = (ndimage.gaussian_filter(hr, s) for s in (1.0, 2.0))
    assert 1 > detail_ratio(soft, hr, 4) > detail_ratio(softer, hr, 4) > 0
    assert 1 > sharpness_ratio(soft, hr, 4) > sharpness_ratio(softer, hr, 4)
    # noise that has nothing to do with the HR image: power up, no shared detail added (the
    # least-squares gain match scales a noisier output down a little)
    noisy = soft + np.random.default_rng(0).normal(0, 0.05 * np.ptp(hr), hr.shape)
    assert sharpness_ratio(noisy, hr, 4) > 2 * sharpness_ratio(soft, hr, 4)
    assert detail_ratio(noisy, hr, 4) <= detail_ratio(soft, hr, 4)


def test_background_std_ratio_sees_texture_added_to_empty_regions(hr):
    bic = ndimage.gaussian_filter(hr, 1.5)
    assert background_std_ratio(bic, bic, hr, 4) == pytest.approx(1.0)
    textured = bic + np.random.default_rng(1).normal(0, 0.02 * np.ptp(hr), hr.shape)
    assert background_std_ratio(textured, bic, hr, 4) > 1.5


def test_background_departure_counts_invented_texture_not_the_hr_images_own(hr):
    """Where both captures are empty: an output that reproduces what the HR image holds there
    departs from it less than bicubic (though its std is higher); invented texture departs
    more."""
    bic = ndimage.gaussian_filter(hr, 3.0)
    both = background_mask(hr, 4, bic)
    assert both.any() and not (both & ~background_mask(hr, 4)).any()  # a part of the HR's
    assert background_std_ratio(hr, bic, hr, 4, both=True) > 1
    assert background_departure_ratio(hr, bic, hr, 4) == pytest.approx(0.0, abs=1e-9)
    textured = bic + np.random.default_rng(2).normal(0, 0.02 * np.ptp(hr), hr.shape)
    assert background_departure_ratio(textured, bic, hr, 4) > 1.5
    assert background_departure_ratio(bic, bic, hr, 4) == pytest.approx(1.0)


def test_real_pairs_tables_report_the_background_empty_in_both_captures():
    from bench_real_pairs import merge, tables

    def record(half, method, both):
        scores = {"bicubic": [20.0, 0.5], "bicubic + RL": [21.0, 0.6], method: [22.0, 0.7]}
        return {"pair": "srrf", "half": half, "scale": 2, "iters": 10, "scores": scores,
                "background_both": {"HR": [3.0 + half], method: both}}  # fmt: skip

    runs = [record(0, "chain-init", [2.0, 0.5]), record(1, "chain-init", [1.0, 0.7]),
            record(1, "chain-init+gan", [4.0, 1.5])]  # fmt: skip
    text = tables(merge(runs))
    assert (
        "where the LR capture is empty too, std relative to bicubic's, mean (largest, halves): "
        "HR image 3.50 (4.00, 2), chain-init 1.50 (2.00, 2), chain-init+gan 4.00 (4.00, 1); the "
        "output's departure from the HR image there relative to bicubic's: chain-init 0.60 "
        "(0.70), chain-init+gan 1.50 (1.50)"
    ) in text


def test_real_pairs_tables_take_fresh_and_reloaded_records_alike():
    """A run prints its table from records it has just made (times as tuples) merged with
    those read back from the results file (times as JSON lists, or a bare wall time)."""
    import json

    from bench_real_pairs import merge, tables

    def record(half, train_s, chain):
        scores = {"bicubic": [20.0, 0.5], "bicubic + RL": [21.0, 0.6], "chain": [chain, 0.7]}
        return {"pair": "sted_561", "half": half, "scale": 4, "iters": 10, "scores": scores,
                "train_s": {"chain": train_s}}  # fmt: skip

    fresh = record(0, (120.0, 60.0), 23.0)
    reloaded = json.loads(json.dumps(record(1, (240.0, 120.0), 22.0)))
    old = record(1, 90.0, 22.0) | {"iters": 20}
    text = tables(merge([fresh, reloaded, old]))
    assert "| chain | +2.33 | +0.200 | 3 |" in text
    assert "chain over bicubic + RL: +1.33 dB" in text
    assert "chain 3.0 / 1.5 min" in text
    assert "steps run" not in text  # runs from before early stopping record no steps
    stopped = record(0, (60.0, 30.0), 23.0) | {"train_steps": {"chain": 4}}
    text = tables(merge([stopped, reloaded | {"train_steps": {"chain": 10}}]))
    assert "steps run (early stopping), mean of the budget (fewest): chain 70% (4, 2 runs)" in text


def test_real_pairs_tables_join_detail_measures_of_runs_on_the_same_half():
    """Detail measures recorded by separate runs on one test half are united, then averaged
    per method over the halves that have them."""
    from bench_real_pairs import merge, tables

    def record(half, method, detail):
        scores = {"bicubic": [20.0, 0.5], "bicubic + RL": [21.0, 0.6], method: [22.0, 0.7]}
        return {"pair": "sted_561", "half": half, "scale": 4, "iters": 10, "scores": scores,
                "detail": {"bicubic": [0.1, 0.2], method: detail}}  # fmt: skip

    runs = [record(0, "chain", [0.3, 0.5]), record(0, "chain+gan", [0.4, 0.9]),
            record(1, "chain", [0.5, 0.7])]  # fmt: skip
    merged = merge(runs)
    assert len(merged) == 2 and set(merged[0]["detail"]) == {"bicubic", "chain", "chain+gan"}
    text = tables(merged)
    assert "bicubic 0.100 / 0.20 (2), chain 0.400 / 0.60 (2), chain+gan 0.400 / 0.90 (1)" in text


def test_real_pairs_tables_compare_each_gan_with_its_content_model_and_background():
    """The default start's GAN twin is compared with chain-init (not the random-start chain),
    and the background std is averaged per method over the halves that have it, its largest
    shown, so one half inventing structure is not hidden by the mean."""
    from bench_real_pairs import merge, tables

    def record(half, scores, bg):
        return {"pair": "srrf", "half": half, "scale": 2, "iters": 10,
                "scores": {"bicubic": [20.0, 0.5], "bicubic + RL": [21.0, 0.6], **scores},
                "background_std": bg,
                "detail": {m: [0.1 + 0.2 * ("gan" in m), 0.2 + half + ("gan" in m)]
                           for m in scores}}  # fmt: skip

    runs = [
        record(0, {"chain-init": [24.0, 0.7], "chain-init+gan": [23.5, 0.72]},
               {"chain-init": 0.5, "chain-init+gan": 1.4}),
        record(1, {"chain-init": [23.0, 0.7], "chain-init+gan": [22.9, 0.7]},
               {"chain-init": 0.3, "chain-init+gan": 0.6}),
        record(1, {"chain+gan": [22.0, 0.6]}, {"chain+gan": 0.9}),  # an older run, same half
    ]  # fmt: skip
    text = tables(merge(runs))
    assert "chain-init+gan against chain-init on the same 2 halves: -0.30 dB" in text
    assert "chain+gan against" not in text  # no chain ran on that half
    assert "chain+gan 0.90 (0.90, 1), chain-init 0.40 (0.50, 2), chain-init+gan 1.00 (1.40, 2)" in (
        text
    )
    assert "chain-init+gan background std relative to chain-init's on the same 2 halves: 2.40" in (
        text
    )
    assert (
        "chain-init+gan against chain-init, fine detail on the same 2 halves (HR = 1): agreeing "
        "with the HR image 0.300 against 0.100, all power there 1.70 against 0.70"
    ) in text


def test_real_pairs_versus_compares_a_method_with_itself_in_another_run_half_by_half():
    """--versus: each trained method against the same method of other results, only on the
    halves both scored, with its mean gain over bicubic in each."""
    from bench_real_pairs import merge, versus

    def record(pair, half, chain, **more):
        return {"pair": pair, "half": half, "scale": 2, "iters": 10,
                "scores": {"bicubic": [20.0, 0.5], "chain-init": [chain, 0.7], **more}}  # fmt: skip

    mine = [record("srrf", 0, 23.0), record("srrf", 1, 22.0), record("sim_low", 0, 25.0)]
    theirs = [record("srrf", 0, 22.5), record("srrf", 1, 22.5, paired=[21.0, 0.6])]
    text = versus(merge(mine), merge(theirs), "old.jsonl")
    assert text == (
        "chain-init against chain-init of old.jsonl on the same 2 halves: +0.000 dB PSNR "
        "(-0.50 to +0.50, higher on 1), +0.0000 SSIM; mean gain over bicubic +2.500 dB against "
        "+2.500"
    )
    assert "paired" not in text  # only in the other results
    # the paired mode from the bundled start is also set against the random start's
    mine = [record("srrf", 1, 22.0, **{"paired-init": [22.4, 0.7]})]
    assert versus(merge(mine), merge(theirs), "old.jsonl").splitlines()[0] == (
        "paired-init against paired of old.jsonl on the same 1 halves: +1.400 dB PSNR "
        "(+1.40 to +1.40, higher on 1), +0.1000 SSIM; mean gain over bicubic +2.400 dB against "
        "+1.000"
    )
    assert versus(merge(mine), [], "none.jsonl") == (
        "no trained method of these results is in none.jsonl"
    )


@pytest.fixture
def trainings(monkeypatch):
    """The TrainConfig of every ``napari_sisr.train`` call, which trains nothing."""
    import types

    import napari_sisr

    seen = []
    monkeypatch.setattr(
        napari_sisr,
        "train",
        lambda c: seen.append(c) or types.SimpleNamespace(model="m.json", steps=5),
    )
    return seen


def test_real_pairs_train_options_reach_every_training_and_bad_ones_are_named(trainings):
    """``--train KEY=VALUE`` settings are read as JSON values and passed to the TrainConfig of
    the trained methods; a malformed one is refused by the parser."""
    import argparse

    from bench_real_pairs import _train, train_option

    import napari_sisr

    assert train_option("patch=256") == ("patch", 256)
    assert train_option("lr=5e-4") == ("lr", 5e-4)
    assert train_option("schedule=cosine") == ("schedule", "cosine")
    with pytest.raises(argparse.ArgumentTypeError, match="KEY=VALUE"):
        train_option("patch")
    with pytest.raises(argparse.ArgumentTypeError, match="--iters"):
        train_option("iters=10")

    fit = napari_sisr.DegradationParams(scale=2, sigma=1.0)
    hr = np.zeros((128, 128), np.float32)
    opts = {"patch": 64, "batch": 2}
    for method in ("chain", "paired"):
        _train("x", hr, hr[::2, ::2], 2, fit, method, 5, 1, Path("unused"), opts)
    assert [(c.patch, c.batch, c.iters) for c in trainings] == [(64, 2, 5), (64, 2, 5)]


def test_real_pairs_paired_modes_start_and_steps(trainings):
    """paired trains from random weights for every step, paired-init from the bundled model
    of the scale, paired-finetune from it for a third of the steps (as finetune does)."""
    from bench_real_pairs import _train

    import napari_sisr

    fit = napari_sisr.DegradationParams(scale=2, sigma=1.0)
    hr = np.zeros((128, 128), np.float32)
    for method in ("paired", "paired-init", "paired-finetune", "finetune"):
        _train("x", hr, hr[::2, ::2], 2, fit, method, 30, 1, Path("unused"))
    assert [(c.init, c.iters) for c in trainings] == [
        (None, 30),
        ("default-2x", 30),
        ("default-2x", 10),
        ("default-2x", 10),
    ]
    assert [c.lr_images is not None for c in trainings] == [True, True, True, False]


def test_ensemble_benchmark_finds_kept_runs_and_tables_the_gain(tmp_path):
    """bench_ensemble.py scores the finished runs that bench_real_pairs.py kept (named
    PAIR-HALF-METHOD) and tables the ensemble's gain over the plain run of the same model."""
    from bench_ensemble import kept_models, tables

    for name in ("sted_640-0-chain-init", "caco2_8x-1-chain-init+gan", "sim_low-0-chain-init"):
        (tmp_path / name).mkdir()
    for name in ("sted_640-0-chain-init", "caco2_8x-1-chain-init+gan"):
        (tmp_path / name / "model.json").write_text("{}")
    (tmp_path / "notes").mkdir()
    found = [f[:3] for f in kept_models(tmp_path)]
    assert found == [("caco2_8x", 1, "chain-init+gan"), ("sted_640", 0, "chain-init")]

    def record(pair, plain, both, secs):
        scores = {"bicubic": [20.0, 0.5], "plain": [plain, 0.6], "ensemble": [both, 0.62]}
        return {"pair": pair, "half": 0, "method": "m", "scores": scores,
                "seconds": {"plain": [1, secs[0]], "ensemble": [8, secs[1]]}}  # fmt: skip

    text = tables([record("sted_640", 22.0, 22.3, (1, 7)), record("srrf", 23.0, 22.9, (2, 17))])
    row = next(line for line in text.splitlines() if line.startswith("| m |"))
    # plain +2.50, ensemble +2.60 over bicubic; gain +0.1 (-0.1 to +0.3); 1 of 2; 24 s / 3 s
    assert row == "| m | 2 | +2.50 | +2.60 | +0.100 (-0.10 to +0.30) | +0.0200 | 1/2 | 8.0x |"


def test_real_pairs_scores_kept_models_without_training_them(actin, tmp_path, monkeypatch):
    """--models: a model an earlier run kept (``<pair>-<half>-<method>/model.json``) is scored
    with this version's measures, and nothing is trained."""
    import shutil

    import bench_real_pairs

    from napari_sisr.core.modelio import bundled_models

    hr = actin[:192, :256]
    lr = ndimage.gaussian_filter(hr, 1.5).reshape(96, 2, 128, 2).mean(axis=(1, 3))
    monkeypatch.setattr(bench_real_pairs, "load_pair", lambda name: (lr, hr, 2))

    def no_training(*args, **kwargs):
        raise AssertionError("a kept model was trained again")

    monkeypatch.setattr(bench_real_pairs, "_train", no_training)
    bundled = bundled_models()["default-2x"]
    for k in (0, 1):
        folder = tmp_path / f"pair-{k}-chain-init"
        folder.mkdir()
        for ext in (".json", ".safetensors"):
            shutil.copy(bundled.with_suffix(ext), folder / f"model{ext}")
    records = bench_real_pairs.run_pair(
        "pair", ["chain-init"], 10, 1, tmp_path / "work", kept=tmp_path
    )
    assert [r["half"] for r in records] == [0, 1]
    for r in records:
        assert np.isfinite(r["scores"]["chain-init"]).all() and r["train_s"] == {}
        assert set(r["background_both"]) == {"HR", "bicubic + RL", "chain-init"}


@pytest.mark.parametrize(
    "steer, told",
    [("true", "fit"), ("auto", "auto"), ("sigma", {"sigma": 2.0})],
)
def test_held_out_grid_tells_an_aware_model_what_each_steering_knows(
    actin, tmp_path, monkeypatch, steer, told
):
    """bench_default_models: ``true`` passes the simulation's own parameters, ``auto`` nothing,
    ``sigma`` the PSF width alone (the noise left to the estimate)."""
    import bench_default_models as bdm
    import tifffile

    tifffile.imwrite(tmp_path / "img.tif", actin[:64, :64].astype(np.float32))
    monkeypatch.setattr(bdm, "HELD_OUT", ["img.tif"])
    seen = []

    def fake_predict(lr, model, dtype, **kw):
        seen.append(kw.get("degradation"))
        return bdm.bicubic(lr, model.scale)

    monkeypatch.setattr(bdm, "predict", fake_predict)
    model = type("Aware", (), {"conditioned": True, "scale": 2})()
    rows = bdm.evaluate(model, tmp_path, conditions=[(2.0, 0.02)], steer=steer)
    assert len(rows) == 1 and rows[0]["psnr_sr"] == pytest.approx(rows[0]["psnr_bicubic"])
    # an output that is bicubic itself has bicubic's background, wherever it is measured
    assert rows[0]["bg_both_ratio"] == pytest.approx(1.0)
    assert rows[0]["bg_both_departure"] == pytest.approx(1.0)
    assert np.isfinite(rows[0]["bg_both_hr"])
    if told == "fit":
        assert seen[0].sigma == 2.0 and seen[0].scale == 2 and seen[0].noise_var > 0
    else:
        assert seen == [told]


def test_width_selection_rules_pick_the_largest_width_they_allow():
    from bench_sigma_selection import discrepancy_rule, gains, knee_rule

    case = {
        "sigma": 1.5,
        "estimate": 0.5,
        "widths": np.array([0.0, 1.0, 2.0, 3.0]),
        "discrepancy": np.array([0.8, 0.9, 0.96, 1.2]),
        "lap": np.array([1.0, 0.9, 1.0, 2.0]),
        "psnr": np.array([30.0, 32.0, 31.0, 20.0]),
        "bicubic": 30.5,
    }
    assert discrepancy_rule(case, 0.95) == 1.0
    assert discrepancy_rule(case, 0.5) == 0.0  # nothing consistent enough: no sharpening
    assert knee_rule(case, 0.2) == 2.0  # within 1.2 x the least (0.9): 0, 1 and 2
    assert knee_rule(case, 0.0) == 1.0
    # PSNR interpolated between the sweep's widths; a case below bicubic is counted
    mean, below = gains([case], lambda c: c["sigma"])
    assert mean == pytest.approx(31.5 - 30.5) and below == 0
    assert gains([case], lambda c: c["estimate"]) == (pytest.approx(0.5), 0)
    assert gains([case], lambda c: 2.5) == (pytest.approx(25.5 - 30.5), 1)
