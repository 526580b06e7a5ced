"""Loss functions: known values, soft labels, relativistic symmetry, VGG loading, builder."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from napari_sisr.core.archs import ARCHS, build_generator
from napari_sisr.core.archs.dpf import make_dpf_bank
from napari_sisr.core.losses import (
    DPFContentLoss,
    build_discriminator_loss,
    build_generator_loss,
    gan_loss_d,
    gan_loss_g,
    pixel_loss,
    smoothed_targets,
    ssim,
    ssim_loss,
)


def _rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


# --- pixel and SSIM -------------------------------------------------------------------------


def test_pixel_loss_known_values():
    sr, hr = torch.zeros(2, 1, 4, 4), torch.full((2, 1, 4, 4), 2.0)
    assert float(pixel_loss(sr, hr, "l1")) == 2.0
    assert float(pixel_loss(sr, hr, "mse")) == 4.0
    with pytest.raises(ValueError, match="'l1' or 'mse'"):
        pixel_loss(sr, hr, "l3")
    with pytest.raises(ValueError, match="differs"):
        pixel_loss(sr, hr[..., :2])


def test_ssim_identity_and_matches_skimage():
    from skimage.metrics import structural_similarity

    x = _rand(2, 1, 32, 40, seed=1)
    torch.testing.assert_close(ssim(x, x), torch.tensor(1.0))
    y = (x + 0.1 * _rand(2, 1, 32, 40, seed=2)).clamp(0, 1)
    ours = ssim(x.double(), y.double(), reduction="none")
    ref = [
        structural_similarity(
            x[i, 0].double().numpy(),
            y[i, 0].double().numpy(),
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
        )
        for i in range(2)
    ]
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-6)
    assert float(ssim_loss(x, y)) == pytest.approx(1 - float(ssim(x, y)))


def test_ssim_gradient_and_small_input_error():
    x = _rand(1, 3, 16, 16).requires_grad_()
    ssim_loss(x, _rand(1, 3, 16, 16, seed=3)).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="at least 11 px"):
        ssim(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))


# --- DPF content ----------------------------------------------------------------------------


def test_dpf_content_zero_for_block_means_and_positive_otherwise():
    hr = _rand(2, 1, 32, 32)
    levels = [torch.nn.functional.avg_pool2d(hr, 4), torch.nn.functional.avg_pool2d(hr, 2), hr]
    loss = DPFContentLoss()
    assert float(loss(levels, hr)) == pytest.approx(0.0, abs=1e-7)
    assert float(loss(hr, hr)) == pytest.approx(0.0, abs=1e-7)
    noisy = [lv + 0.1 * _rand(*lv.shape, seed=i) for i, lv in enumerate(levels)]
    assert float(loss(noisy, hr)) > 1e-3
    with pytest.raises(ValueError, match="not a multiple"):
        loss(_rand(1, 1, 10, 10), hr[:1])


def test_dpf_content_with_cascaded_levels_trains_every_level():
    net = build_generator("cascaded", "fast", 4, 1)
    loss = DPFContentLoss(net.dpf.weight)
    levels = net.forward_levels(_rand(1, 1, 8, 8))
    loss(levels, _rand(1, 1, 32, 32, seed=5)).backward()
    assert all(p.grad is not None for p in net.parameters())
    with pytest.raises(ValueError, match=r"\(n, 1, k, k\)"):
        DPFContentLoss(torch.zeros(3, 3))


# --- adversarial ----------------------------------------------------------------------------


def test_smoothed_target_ranges():
    g = torch.Generator().manual_seed(0)
    t = smoothed_targets(torch.zeros(4, 1, 32, 32), 0.8, 1.2, g)
    assert 0.8 <= float(t.min()) < 0.81 and 1.19 < float(t.max()) <= 1.2
    t = smoothed_targets(torch.zeros(4096, 1), 0.0, 0.2, g)
    assert 0.0 <= float(t.min()) < 0.01 and 0.19 < float(t.max()) <= 0.2


def test_ns_loss_known_value_and_seeded_smoothing():
    zeros = torch.zeros(8, 1)
    hard = gan_loss_d(zeros, zeros, "ns", smoothing=False)
    assert float(hard) == pytest.approx(np.log(2))
    a = gan_loss_d(zeros + 1, zeros - 1, generator=torch.Generator().manual_seed(1))
    b = gan_loss_d(zeros + 1, zeros - 1, generator=torch.Generator().manual_seed(1))
    c = gan_loss_d(zeros + 1, zeros - 1, generator=torch.Generator().manual_seed(2))
    assert float(a) == float(b) != float(c)
    assert float(gan_loss_g(None, zeros)) == pytest.approx(np.log(2))


def test_label_smoothing_stays_bounded_for_confident_real_logits():
    # Plain BCE with a target t > 1 turns negative and keeps falling as the logit grows;
    # the weighted reading keeps every decision's loss >= 0 and has a finite best logit.
    t = smoothed_targets(torch.zeros(512, 1), 0.8, 1.2, torch.Generator().manual_seed(3))
    naive = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.full_like(t, 50.0), t, reduction="none"
    )
    assert float(naive[t > 1].max()) < 0
    fake = torch.full((512, 1), -5.0)
    losses = [
        float(gan_loss_d(torch.full((512, 1), x), fake, generator=torch.Generator().manual_seed(3)))
        for x in (0.0, 3.0, 50.0, 500.0)
    ]
    assert min(losses) >= 0
    assert losses[1] < losses[0] and losses[1] < losses[2] < losses[3]


def test_relativistic_symmetry_and_shift_invariance():
    real, fake = _rand(4, 1, 8, 8, seed=1), _rand(4, 1, 8, 8, seed=2) - 0.5
    g_loss = gan_loss_g(real, fake, "relativistic")
    d_swapped = gan_loss_d(fake, real, "relativistic")
    torch.testing.assert_close(g_loss, d_swapped)
    torch.testing.assert_close(
        gan_loss_d(real + 3, fake + 3, "relativistic"), gan_loss_d(real, fake, "relativistic")
    )
    with pytest.raises(ValueError, match="real logits"):
        gan_loss_g(None, fake, "relativistic")
    with pytest.raises(ValueError, match="GAN kind"):
        gan_loss_d(real, fake, "wgan")


def test_relativistic_gradients():
    real = _rand(3, 1, seed=4).requires_grad_()
    fake = _rand(3, 1, seed=5).requires_grad_()
    gan_loss_g(real, fake, "relativistic").backward()
    assert real.grad is None and fake.grad.abs().sum() > 0
    real.grad = fake.grad = None
    gan_loss_d(real, fake, "relativistic").backward()
    assert real.grad.abs().sum() > 0 and fake.grad.abs().sum() > 0


# --- builder --------------------------------------------------------------------------------


def test_every_arch_loss_default_builds():
    for spec in ARCHS.values():
        for weights in spec.loss_defaults.values():
            build_discriminator_loss(weights)
            loss = build_generator_loss(weights)  # no VGG weights: that term is off
            assert loss.feature_loss is None


def test_builder_terms_and_total(caplog):
    weights = {"pixel_l1": 1.0, "ssim": 0.5, "vgg": 1.0, "adv": 0.1, "gan": "relativistic"}
    with caplog.at_level(logging.INFO):
        loss = build_generator_loss(weights)
    assert "VGG feature loss off: no VGG19 weights given" in caplog.text
    sr = _rand(2, 1, 16, 16, seed=1).requires_grad_()
    hr = _rand(2, 1, 16, 16, seed=2)
    total, terms = loss(sr, hr)
    assert set(terms) == {"l_g_pix", "l_g_ssim"}  # no logits: no adversarial term
    total, terms = loss(sr, hr, torch.zeros(2, 1), torch.ones(2, 1))
    assert set(terms) == {"l_g_pix", "l_g_ssim", "l_g_gan"}
    torch.testing.assert_close(total.detach(), sum(terms.values()))
    torch.testing.assert_close(terms["l_g_pix"], pixel_loss(sr, hr).detach())
    total.backward()
    assert sr.grad.abs().sum() > 0


def test_builder_cascaded_levels():
    net = build_generator("cascaded", "fast", 4, 1)
    loss = build_generator_loss(ARCHS["cascaded"].loss_defaults["fast"], dpf_bank=net.dpf.weight)
    levels = net.forward_levels(_rand(1, 1, 8, 8))
    total, terms = loss(levels, _rand(1, 1, 32, 32, seed=3), fake_logits=torch.zeros(1, 1))
    assert set(terms) == {"l_g_pix", "l_g_dpf", "l_g_gan"}
    assert torch.isfinite(total)


def test_builder_rejects_bad_weights():
    with pytest.raises(ValueError, match="unknown loss key"):
        build_generator_loss({"pixel_l2": 1.0})
    with pytest.raises(ValueError, match=">= 0"):
        build_generator_loss({"pixel_l1": -1.0})
    with pytest.raises(ValueError, match="'ns' or 'relativistic'"):
        build_generator_loss({"pixel_l1": 1.0, "gan": "hinge"})
    with pytest.raises(ValueError, match="no loss term"):
        build_generator_loss({"adv": 1.0})(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4))


def test_discriminator_loss_builder_uses_smoothing():
    weights = ARCHS["srgan_nn"].loss_defaults["fast"]
    zeros = torch.zeros(64, 1)
    l_a, terms = build_discriminator_loss(weights, torch.Generator().manual_seed(0))(zeros, zeros)
    l_b, _ = build_discriminator_loss(weights, torch.Generator().manual_seed(1))(zeros, zeros)
    assert float(l_a) != float(l_b) and set(terms) == {"l_d"}
    hard, _ = build_discriminator_loss({"adv": 1.0, "label_smoothing": False})(zeros, zeros)
    assert float(hard) == pytest.approx(np.log(2))


def test_default_dpf_bank_used_by_builder():
    loss = build_generator_loss({"dpf_content": 1.0})
    torch.testing.assert_close(loss.dpf_loss.bank, make_dpf_bank())
