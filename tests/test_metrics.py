"""PSNR / SSIM: known values, explicit data range, numpy and torch versions agree."""

import math

import numpy as np
import pytest
import torch

from napari_sisr.core.metrics import psnr, psnr_torch, ssim, ssim_torch


def test_psnr_known_value_and_data_range():
    rng = np.random.default_rng(0)
    y = rng.random((32, 40))
    x = y + 0.1  # MSE 0.01
    assert psnr(x, y, 1.0) == pytest.approx(20.0)
    assert psnr(x, y, 2.0) == pytest.approx(20.0 + 20 * math.log10(2.0))
    assert psnr(y, y, 1.0) == math.inf


def test_psnr_rejects_bad_input():
    a = np.zeros((8, 8))
    with pytest.raises(ValueError, match="shape"):
        psnr(a, np.zeros((8, 9)), 1.0)
    with pytest.raises(ValueError, match="data_range"):
        psnr(a, a + 1, 0.0)


def test_ssim_identical_is_one_and_noise_lowers_it(nuclei):
    img = nuclei[:128, :128].astype(np.float64)
    rng_ = float(img.max() - img.min())
    noisy = img + np.random.default_rng(1).normal(0, 0.1 * rng_, img.shape)
    assert ssim(img, img, rng_) == pytest.approx(1.0)
    assert ssim(noisy, img, rng_) < 0.9
    # The data range matters: a larger one hides the same error.
    assert ssim(noisy, img, 10 * rng_) > ssim(noisy, img, rng_)


def test_torch_versions_match_numpy(nuclei):
    rng = np.random.default_rng(2)
    hr = nuclei[None, None, :64, :96].astype(np.float64) / 255.0
    hr = np.concatenate([hr, hr[..., ::-1]], axis=0)
    sr = hr + 0.05 * rng.standard_normal(hr.shape)
    pt = psnr_torch(torch.from_numpy(sr), torch.from_numpy(hr), 1.0)
    st = ssim_torch(torch.from_numpy(sr), torch.from_numpy(hr), 1.0)
    for i in range(2):
        assert float(pt[i]) == pytest.approx(psnr(sr[i], hr[i], 1.0), abs=1e-9)
        assert float(st[i]) == pytest.approx(ssim(sr[i, 0], hr[i, 0], 1.0), abs=1e-9)


def test_ssim_too_small():
    with pytest.raises(ValueError, match="11"):
        ssim(np.zeros((8, 8)), np.zeros((8, 8)), 1.0)
