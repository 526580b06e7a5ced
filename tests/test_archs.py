"""Architecture zoo: shapes, receptive fields, registry errors, model files, discriminators."""

from __future__ import annotations

import pytest
import torch
from torch.func import jvp

from napari_sisr.core.archs import ARCHS, build_discriminator, build_generator, get_spec
from napari_sisr.core.modelio import load_model, save_model

ALL = sorted(ARCHS)
# Narrow versions of the fast presets: the same layer structure (hence receptive field) at a
# fraction of the cost, for the float64 influence checks.
NARROW = {
    "srresnet": {"n_blocks": 2, "nf": 6},
    "srgan_nn": {"n_blocks": 2, "nf": 6},
    "rrdb": {"n_blocks": 1, "nf": 6, "gc": 4},
    "cascaded": {"features": [6, 6, 6, 6]},
    "srresnet_da": {"n_blocks": 2, "nf": 6, "cond_features": 4},
}


def _x(c: int, h: int = 12, w: int = 10, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    return torch.rand(1, c, h, w, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_registry_has_the_four_families():
    assert {"srresnet", "srgan_nn", "rrdb", "cascaded"} <= set(ARCHS)
    for spec in ARCHS.values():
        assert {"paper", "fast"} <= set(spec.presets)
        assert set(spec.presets) <= set(spec.loss_defaults)


@pytest.mark.parametrize("arch", ALL)
@pytest.mark.parametrize("scale", [2, 4, 8])
@pytest.mark.parametrize("channels", [1, 3])
def test_generator_shapes(arch, scale, channels):
    torch.manual_seed(0)
    net = build_generator(arch, "fast", scale, channels).eval()
    with torch.no_grad():
        y = net(_x(channels))
    assert y.shape == (1, channels, 12 * scale, 10 * scale)
    assert torch.isfinite(y).all()
    assert net.scale == scale and net.in_channels == channels and net.arch == arch


@pytest.mark.parametrize("arch", [a for a in ALL if 3 in ARCHS[a].scales])
def test_scale_three(arch):
    net = build_generator(arch, "fast", 3, 1).eval()
    with torch.no_grad():
        assert net(_x(1)).shape == (1, 1, 36, 30)


@pytest.mark.parametrize("arch", [a for a in ALL if a != "rrdb"])
def test_paper_preset_shape(arch):
    net = build_generator(arch, "paper", 4, 1).eval()
    with torch.no_grad():
        assert net(_x(1, 8, 8)).shape == (1, 1, 32, 32)


@pytest.mark.slow
def test_rrdb_paper_preset_shape():
    test_paper_preset_shape("rrdb")


def test_narrow_variants_cover_every_arch():
    assert set(NARROW) == set(ARCHS)


def _empirical_radius(net, size: int) -> int:
    """Farthest LR cell whose output changes when the centre input pixel is perturbed.

    Forward-mode differentiation propagates the perturbation exactly (no cancellation against
    the unperturbed output), so tiny but non-zero influence still counts.
    """
    net = net.double().eval()
    x = _x(net.in_channels, size, size, dtype=torch.float64)
    c = size // 2
    tangent = torch.zeros_like(x)
    tangent[..., c, c] = 1.0
    with torch.no_grad():
        _, dy = jvp(net, (x,), (tangent,))
    changed = (dy.abs().amax(dim=(0, 1)) > 0).nonzero()
    cells = torch.div(changed, net.scale, rounding_mode="floor")
    return int((cells - c).abs().max())


@pytest.mark.parametrize("arch", ALL)
@pytest.mark.parametrize("scale", [2, 8])
def test_receptive_field_bounds_influence(arch, scale):
    torch.manual_seed(1)
    net = build_generator(arch, "fast", scale, 1, **NARROW[arch])
    rf = net.receptive_field
    measured = _empirical_radius(net, 2 * rf + 7)
    assert measured <= rf
    assert rf <= 2 * max(measured, 1)


@pytest.mark.parametrize("arch", ["srresnet", "srgan_nn"])
def test_receptive_field_with_paper_output_kernel(arch):
    net = build_generator(arch, "fast", 4, 1, n_blocks=1, nf=4, out_kernel=9)
    measured = _empirical_radius(net, 2 * net.receptive_field + 7)
    assert measured <= net.receptive_field <= 2 * measured


@pytest.mark.parametrize("arch", ALL)
def test_crop_with_halo_matches_whole_image(arch):
    """The tiling contract: a crop with a receptive-field halo reproduces the interior."""
    torch.manual_seed(2)
    net = build_generator(arch, "fast", 2, 1, **NARROW[arch]).double().eval()
    rf, s = net.receptive_field, net.scale
    x = _x(1, 2 * rf + 14, 2 * rf + 12, dtype=torch.float64)
    with torch.no_grad():
        whole = net(x)
        part = net(x[..., 3:, 2:])  # crop off a border; cells >= rf from the new edge agree
    a = whole[..., (3 + rf) * s :, (2 + rf) * s :]
    b = part[..., rf * s :, rf * s :]
    assert a.shape == b.shape and a.numel() > 0
    torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


def test_registry_errors():
    with pytest.raises(ValueError, match="unknown architecture 'nope'"):
        build_generator("nope")
    with pytest.raises(ValueError, match="no preset 'huge'"):
        build_generator("rrdb", "huge")
    with pytest.raises(ValueError, match="does not support scale 3"):
        build_generator("cascaded", "fast", 3)
    with pytest.raises(ValueError, match="does not support scale 5"):
        build_generator("srresnet", "fast", 5)
    with pytest.raises(ValueError, match="in_channels"):
        build_generator("srgan_nn", "fast", 2, 0)
    with pytest.raises(ValueError, match="unknown architecture"):
        get_spec("SRResNet")
    for arch in ("srresnet", "srgan_nn"):
        with pytest.raises(ValueError, match="out_kernel must be odd"):
            build_generator(arch, "fast", 2, 1, out_kernel=4)


@pytest.mark.parametrize("arch", ALL)
def test_save_load_round_trip(arch, tmp_path):
    torch.manual_seed(3)
    net = build_generator(arch, "fast", 2, 1).eval()
    with torch.no_grad():  # move batch-norm statistics / params off their defaults
        for p in net.parameters():
            p.add_(0.01 * torch.randn_like(p))
    save_model(tmp_path / "m", net, {"note": "test"})
    loaded = load_model(tmp_path / "m")
    x = _x(1)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x), rtol=0, atol=0)
    assert loaded.meta["arch"] == arch and loaded.meta["receptive_field"] == net.receptive_field


def test_save_load_keeps_overrides(tmp_path):
    net = build_generator("cascaded", "fast", 4, 1, n_dpf=6, dpf_radii=(2.0, 4.0)).eval()
    save_model(tmp_path / "c", net, {})
    loaded = load_model(tmp_path / "c")
    assert loaded.dpf.weight.shape[0] == 6
    with torch.no_grad():
        torch.testing.assert_close(loaded(_x(1)), net(_x(1)))


@pytest.mark.parametrize("arch", ALL)
@pytest.mark.parametrize("channels", [1, 3])
def test_discriminator_shapes(arch, channels):
    torch.manual_seed(4)
    d = build_discriminator(arch, "fast", channels)
    for h, w in ((32, 32), (40, 48)):
        out = d(torch.rand(2, channels, h, w))
        expected = (2, 1, h, w) if arch == "rrdb" else (2, 1)
        assert out.shape == expected


@pytest.mark.parametrize("arch", ALL)
def test_gradients_reach_every_parameter(arch):
    torch.manual_seed(5)
    net = build_generator(arch, "fast", 4, 1)
    d = build_discriminator(arch, "fast", 1)
    levels = net.forward_levels(_x(1, 8, 8))  # intermediate levels train through their losses
    (d(levels[-1]).mean() + sum(level.mean() for level in levels[:-1])).backward()
    for name, p in [*net.named_parameters(), *d.named_parameters()]:
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert sum(float(p.grad.abs().sum()) for p in net.parameters()) > 0


def _check_presets_ordered(small: str, big: str) -> None:
    for arch, spec in ARCHS.items():
        fast = build_generator(arch, small, 4, 1)
        paper = build_generator(arch, big, 4, 1)
        assert 0 < fast.flops_per_output_pixel() < paper.flops_per_output_pixel(), arch
        n_fast = sum(p.numel() for p in fast.parameters())
        assert n_fast < sum(p.numel() for p in paper.parameters()), arch
        assert spec.loss_defaults[big], arch


def test_fast_cheaper_than_balanced():
    _check_presets_ordered("fast", "balanced")


@pytest.mark.slow
def test_balanced_cheaper_than_paper():
    _check_presets_ordered("balanced", "paper")


def test_cascaded_levels_and_fixed_bank():
    net = build_generator("cascaded", "fast", 8, 1)
    levels = net.forward_levels(_x(1, 6, 5))
    assert [tuple(t.shape[-2:]) for t in levels] == [(12, 10), (24, 20), (48, 40)]
    assert "dpf.weight" in net.state_dict()
    assert all(p is not net.dpf.weight for p in net.parameters())
    single = build_generator("srresnet", "fast", 2, 1)
    assert len(single.forward_levels(_x(1))) == 1


@pytest.mark.parametrize("skip", ["bicubic", "bilinear"])
def test_srresnet_interpolation_skip(skip, tmp_path):
    """The image-level residual adds interpolation; tiling contract and files still hold."""
    torch.manual_seed(4)
    net = build_generator("srresnet", "fast", 4, 1, skip=skip, **NARROW["srresnet"]).eval()
    x = _x(1, 16, 14)
    with torch.no_grad():
        net.out.weight.zero_()
        net.out.bias.zero_()
        interp = torch.nn.functional.interpolate(x, scale_factor=4, mode=skip)
        torch.testing.assert_close(net(x), interp)
        for p in net.parameters():
            p.add_(0.01 * torch.randn_like(p))
    assert net.arch_kwargs["skip"] == skip
    measured = _empirical_radius(net, 2 * net.receptive_field + 7)
    assert measured <= net.receptive_field <= 2 * measured
    save_model(tmp_path / "m", net.float(), {})
    loaded = load_model(tmp_path / "m")
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x), rtol=0, atol=0)


def test_srresnet_without_skip_keeps_its_settings_unchanged():
    """Models saved before the skip option existed rebuild as the same network."""
    net = build_generator("srresnet", "fast", 4, 1)
    assert "skip" not in net.arch_kwargs and net.skip == "none"
    with pytest.raises(ValueError, match="skip must be one of"):
        build_generator("srresnet", "fast", 4, 1, skip="lanczos")
