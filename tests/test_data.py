"""Training data: plane layout, global normalisation, split by image, patches, LR simulation."""

import numpy as np
import pytest
import torch

from napari_sisr import DegradationParams, simulate_lr
from napari_sisr.core.training.config import DegradationRange
from napari_sisr.core.training.images import load_images, split_validation, to_planes
from napari_sisr.core.training.patches import Degrader, PatchSampler, normalised_params


def test_to_planes_layouts():
    assert to_planes(np.zeros((20, 30)), channel_axis=None, rgb=None).shape == (1, 1, 20, 30)
    assert to_planes(np.zeros((5, 20, 30)), channel_axis=None, rgb=None).shape == (5, 1, 20, 30)
    assert to_planes(np.zeros((20, 30, 3)), channel_axis=None, rgb=None).shape == (1, 3, 20, 30)
    assert to_planes(np.zeros((4, 2, 20, 30)), channel_axis=1, rgb=None).shape == (4, 2, 20, 30)
    with pytest.raises(ValueError, match="spatial"):
        to_planes(np.zeros((2, 20, 30)), channel_axis=-1, rgb=None)


def test_normalisation_is_global_per_image(actin):
    img = actin[:200, :300]
    (ti,) = load_images([img], in_channels=1, percentiles=(1.0, 99.8))
    lo, hi = np.percentile(img, (1.0, 99.8))
    np.testing.assert_allclose(ti.data[0, 0], (img - lo) / (hi - lo), rtol=1e-5, atol=1e-5)
    # A dim region keeps its low values (no per-patch stretching).
    dim = np.unravel_index(np.argmin(img), img.shape)
    assert ti.data[0, 0][dim] < 0.05


def test_channels_split_or_kept(actin):
    stack = np.stack([actin[:64, :64], 10 * actin[64:128, :64]])
    split = load_images([stack], in_channels=1, channel_axis=0)[0]
    assert split.data.shape == (2, 1, 64, 64)
    assert split.hi[1, 0] > 5 * split.hi[0, 0]  # each channel has its own range
    joint = load_images([stack], in_channels=2, channel_axis=0)[0]
    assert joint.data.shape == (1, 2, 64, 64)
    with pytest.raises(ValueError, match="3 channel"):
        load_images([np.stack([actin[:64, :64]] * 3)], in_channels=2, channel_axis=0)


def test_bad_images_are_named():
    with pytest.raises(ValueError, match="constant"):
        load_images([np.ones((32, 32))], in_channels=1)
    bad = np.random.default_rng(0).random((32, 32))
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        load_images([bad], in_channels=1)


def test_split_by_image_and_by_band(actin):
    imgs = load_images(
        [actin[:100, :100], actin[100:200, :100], actin[200:300, :100]], in_channels=1
    )
    train, val, info = split_validation(imgs, 0.2, 32, 4)
    assert [i.name for i in train] == ["array0", "array1"] and [i.name for i in val] == ["array2"]
    assert info["mode"] == "images"
    (one,) = load_images([actin[:400, :200]], in_channels=1)
    train, val, info = split_validation([one], 0.25, 64, 4)
    assert info["mode"] == "band"
    assert train[0].data.shape[-2] + val[0].data.shape[-2] == 400
    # The bands do not overlap: the held-out rows are exactly the last ones.
    np.testing.assert_array_equal(val[0].data, one.data[..., train[0].data.shape[-2] :, :])
    with pytest.raises(ValueError, match="too small"):
        split_validation(load_images([actin[:40, :40]], in_channels=1), 0.2, 32, 4)


def test_patch_sampler_reproducible_and_in_bounds(actin):
    imgs = load_images([actin[:90, :70], actin[100:200, 100:300]], in_channels=1)
    sampler = PatchSampler(imgs, 32, 4)
    a = sampler.draw(6, np.random.default_rng(5))
    b = sampler.draw(6, np.random.default_rng(5))
    np.testing.assert_array_equal(a[0], b[0])
    assert a[0].shape == (6, 1, 32, 32) and a[1] is None
    c = sampler.draw(6, np.random.default_rng(6))
    assert not np.array_equal(a[0], c[0])


def test_paired_patches_stay_aligned_under_augmentation(actin):
    from napari_sisr.core.training.images import attach_lr

    hr = actin[:128, :96]
    lr = hr.reshape(32, 4, 24, 4).mean(axis=(1, 3))  # exact block mean, no blur
    (h,) = load_images([hr], in_channels=1, percentiles=(0, 100))
    (lo,) = load_images([lr], in_channels=1, percentiles=(0, 100))
    (pair,) = attach_lr([h], [lo], 4)
    hp, lp, _ = PatchSampler([pair], 32, 4).draw(8, np.random.default_rng(0))
    # Block means of the (augmented) HR patch equal the LR patch up to the affine normalisation.
    means = hp.reshape(8, 1, 8, 4, 8, 4).mean(axis=(3, 5))
    for m, l in zip(means, lp, strict=True):
        assert np.corrcoef(m.ravel(), l.ravel())[0, 1] > 0.9999


def test_normalised_params_match_raw_simulation(actin):
    hr = actin[:128, :128]
    p = DegradationParams(scale=4, sigma=1.7, gain=2.0, offset=50.0, noise_var=400.0)
    lo, hi = np.percentile(hr, (1, 99.8))
    raw = simulate_lr(hr, p, noise=False)
    pn = normalised_params(p, lo, hi - lo)
    norm = simulate_lr((hr - lo) / (hi - lo), pn, noise=False)
    np.testing.assert_allclose(
        (raw - p.gain * lo - p.offset) / (p.gain * (hi - lo)), norm, atol=1e-5
    )
    assert pn.noise_std == pytest.approx(20.0 / (2.0 * (hi - lo)))
    assert pn.shift_yx == (0.0, 0.0) and pn.gain == 1.0 and pn.offset == 0.0


def test_blind_degrader_samples_per_patch():
    rng = np.random.default_rng(0)
    deg = Degrader(DegradationRange(scale=2, sigma=(0.5, 3.0), noise_std=(0.0, 0.05)))
    params = [deg.params_for(None, 0, rng) for _ in range(8)]
    sigmas = {p.sigma for p in params}
    assert len(sigmas) > 4 and all(0.5 <= s <= 3.0 for s in sigmas)
    hr = torch.rand(8, 1, 32, 32)
    lr = deg(hr, params, torch.Generator().manual_seed(0))
    assert lr.shape == (8, 1, 16, 16)
    mid = deg.fixed_for(None, 0)
    assert mid.sigma == pytest.approx(1.75) and mid.noise_std == pytest.approx(0.025)


def test_log_noise_sampling_spreads_over_decades():
    rng = np.random.default_rng(1)
    uni = DegradationRange(scale=2, noise_std=(0.005, 0.05))
    log = DegradationRange(scale=2, noise_std=(0.005, 0.05), noise_sampling="log")
    u = np.array([uni.sample(rng).noise_std for _ in range(4000)])
    g = np.array([log.sample(rng).noise_std for _ in range(4000)])
    assert u.min() >= 0.005 - 1e-12 and g.min() >= 0.005 - 1e-12 and g.max() <= 0.05 + 1e-12
    # Uniform: median near the middle (2.75 %); log-uniform: near the geometric mean (1.58 %).
    assert np.median(u) == pytest.approx(0.0275, abs=0.002)
    assert np.median(g) == pytest.approx(np.sqrt(0.005 * 0.05), abs=0.002)
    with pytest.raises(ValueError, match="log noise sampling needs a noise_std minimum above 0"):
        DegradationRange(noise_std=(0.0, 0.05), noise_sampling="log")


def test_soften_batch_equals_one_patch_at_a_time():
    # One grouped convolution for the batch (kernels padded to the widest) must give what
    # blurring each patch alone with its own reflect padding gives.
    import torch.nn.functional as F

    from napari_sisr.core.degradation.simulate import soften

    rng = np.random.default_rng(2)
    hr = torch.as_tensor(rng.random((5, 2, 20, 17)))
    sigmas = [0.0, 0.4, 1.5, 3.0, 12.0]  # the last one's kernel is clipped by the patch size
    out = soften(hr, sigmas)
    for i, sigma in enumerate(sigmas):
        if sigma == 0:
            torch.testing.assert_close(out[i], hr[i], rtol=0, atol=0)
            continue
        r = max(1, min(int(np.ceil(3 * sigma)), 16))
        t = torch.arange(-r, r + 1, dtype=hr.dtype)
        k = torch.exp(-0.5 * (t / sigma) ** 2)
        k = k / k.sum()
        x = F.pad(hr[i : i + 1], (r, r, r, r), mode="reflect")
        x = F.conv2d(x, k.view(1, 1, 1, -1).expand(2, 1, 1, -1), groups=2)
        ref = F.conv2d(x, k.view(1, 1, -1, 1).expand(2, 1, -1, 1), groups=2)
        torch.testing.assert_close(out[i : i + 1], ref, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="got 2 sigmas for a batch of 5"):
        soften(hr, [1.0, 2.0])


def test_soften_blurs_each_patch_by_its_own_sigma():
    from napari_sisr.core.degradation.simulate import soften

    hr = torch.zeros(3, 1, 33, 33, dtype=torch.float64)
    hr[:, :, 16, 16] = 1.0
    out = soften(hr, [0.0, 1.0, 2.0])
    torch.testing.assert_close(out[0], hr[0])  # sigma 0: unchanged
    for i, sigma in ((1, 1.0), (2, 2.0)):
        img = out[i, 0]
        assert float(img.sum()) == pytest.approx(1.0, abs=1e-9)  # flux kept
        yy = torch.arange(33, dtype=torch.float64) - 16
        var = float((img.sum(1) * yy**2).sum())
        assert var == pytest.approx(sigma**2, rel=0.02)  # the blur has the asked width
    assert (
        DegradationRange(content_sigma=(0.0, 1.5)).sample_content_sigma(np.random.default_rng(0))
        <= 1.5
    )
    with pytest.raises(ValueError, match="content_sigma range"):
        DegradationRange(content_sigma=(2.0, 1.0))
    rng = np.random.default_rng(0)
    assert 0.01 <= DegradationRange(content_noise=(0.01, 0.03)).sample_content_noise(rng) <= 0.03
    assert DegradationRange().sample_content_noise(rng) == 0.0
    with pytest.raises(ValueError, match="content_noise range"):
        DegradationRange(content_noise=(-0.01, 0.02))
