"""The learned PSF-width estimator: it reads more blur where there is more, loads only
safetensors, refuses what it cannot read, and steers a model only where its card says so."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from napari_sisr import DegradationParams, simulate_lr
from napari_sisr.core.degradation.blur_estimate import (
    ESTIMATOR,
    SigmaNet,
    estimate_sigma,
    load_sigma_net,
    sample_batch,
)
from napari_sisr.core.errors import InputError
from napari_sisr.core.inference.input import canonical_input
from napari_sisr.core.inference.steering import resolve_steering


def lr_of(hr, sigma, scale=2, noise=0.005, seed=0):
    span = float(np.percentile(hr, 99.9) - np.percentile(hr, 0.1))
    p = DegradationParams(scale=scale, sigma=sigma, noise_var=(noise * span) ** 2)
    return simulate_lr(hr, p, rng=np.random.default_rng(seed))


def test_the_bundled_estimator_reads_more_blur_where_there_is_more(actin):
    assert ESTIMATOR.with_suffix(".safetensors").exists()
    hr = actin.astype(np.float64)
    est = [estimate_sigma(lr_of(hr, s), 2) for s in (1.0, 2.0, 3.0)]
    assert est[0] < est[1] < est[2], est
    assert all(0 <= e <= 3.5 for e in est)


def test_unreadable_planes_are_refused():
    with pytest.raises(InputError, match="2D plane"):
        estimate_sigma(np.zeros((8, 8)), 2)
    with pytest.raises(InputError, match="2D plane"):
        estimate_sigma(np.zeros((3, 32, 32)), 2)
    with pytest.raises(InputError, match="flat"):
        estimate_sigma(np.full((64, 64), 7.0), 2)
    with pytest.raises(InputError, match="NaN"):  # not "flat", as the percentiles said
        estimate_sigma(np.full((64, 64), np.nan), 2)


def test_weights_load_from_safetensors_with_their_card(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(1)
    net = SigmaNet()
    base = tmp_path / "mine"
    save_file(net.state_dict(), str(base.with_suffix(".safetensors")))
    with pytest.raises(InputError, match="not found"):
        load_sigma_net(str(base.with_suffix(".safetensors")))
    base.with_suffix(".json").write_text(json.dumps({"features": 32}))
    got = load_sigma_net(str(base.with_suffix(".safetensors")))
    x = torch.rand(1, 1, 40, 40)
    with torch.no_grad():
        assert float(got(x)) == pytest.approx(float(net.eval()(x)))
    plane = np.random.default_rng(0).random((40, 40))
    lo, hi = np.percentile(plane, [0.1, 99.9])
    x = torch.from_numpy(((plane - lo) / (hi - lo)).astype(np.float32))[None, None]
    with torch.no_grad():
        want = 4 * float(net(x))  # LR px times the scale
    assert estimate_sigma(plane, 4, str(base)) == pytest.approx(want, rel=1e-5)


def test_training_batches_are_drawn_from_the_aware_ranges():
    rng, gen = np.random.default_rng(0), torch.Generator().manual_seed(0)
    planes = [np.random.default_rng(1).random((200, 220)).astype(np.float32)]
    lr, sigma = sample_batch(planes, 6, 4, rng, gen, lr_patch=16)
    assert lr.shape == (6, 1, 16, 16) and sigma.shape == (6,)
    assert float(sigma.min()) >= 0 and float(sigma.max()) <= 1.5
    with pytest.raises(InputError, match="larger than"):
        sample_batch(planes, 2, 4, rng, gen, lr_patch=64)


def test_automatic_steering_reads_the_image_only_where_the_card_says_so(actin):
    from napari_sisr.core.modelio import load_model

    net = load_model("aware-2x")
    lr = lr_of(actin.astype(np.float64), 3.0)
    inp = canonical_input(lr)
    meta = json.loads(json.dumps(net.meta))
    meta["steering"] = {"sigma": 1.0}
    fixed = resolve_steering(None, net, meta, inp, None)
    assert fixed.condition[0] == 1.0 and "model card's default" in fixed.note
    meta["steering"]["sigma_from_image"] = True
    read = resolve_steering(None, net, meta, inp, None)
    assert read.condition[0] == pytest.approx(estimate_sigma(lr, 2), abs=0.01)
    assert read.condition[0] > 1.5, read.note
    assert "PSF sigma" in read.note and "estimated from the image" in read.note
    assert "give the width if you know it" in read.note  # the estimate's known failure named
    meta["degradation"]["sigma"] = [0.0, 1.2]  # kept inside the trained range
    assert resolve_steering(None, net, meta, inp, None).condition[0] == 1.2


def test_automatic_steering_assumes_a_noise_it_cannot_estimate_and_says_so(actin):
    """A background clipped at zero leaves too few clean patches for the noise estimate:
    automatic steering still runs, with the card's (else a fixed) noise and a warning."""
    from napari_sisr.core.inference.steering import FALLBACK_NOISE_STD
    from napari_sisr.core.modelio import load_model

    net = load_model("aware-2x")
    lr = lr_of(actin.astype(np.float64), 2.0)
    clipped = np.clip(lr - np.percentile(lr, 95), 0, None)  # 95 % of the pixels at zero
    inp = canonical_input(clipped)
    got = resolve_steering(None, net, net.meta, inp, None)
    assert got.condition[2] == FALLBACK_NOISE_STD
    assert "assumed" in got.note
    (warning,) = [w for w in got.warnings if "could not be estimated" in w]
    assert "2 % of the intensity range was assumed" in warning and "--noise-std" in warning
    meta = json.loads(json.dumps(net.meta))
    meta["steering"]["noise_std"] = 0.05
    assert resolve_steering(None, net, meta, inp, None).condition[2] == 0.05
    fine = resolve_steering(None, net, net.meta, canonical_input(lr), None)
    assert not any("could not be estimated" in w for w in fine.warnings)
    assert "estimated from the image" in fine.note.split("noise")[1]
