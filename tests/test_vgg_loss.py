"""VGG19 feature loss: loading user weights (safetensors / .pth), shape checks, running."""

from __future__ import annotations

import logging

import pytest
import torch
from safetensors.torch import save_file

from napari_sisr.core.losses import VGGFeatureLoss, build_feature_loss, build_generator_loss
from napari_sisr.core.losses.vgg import _CONVS


def _vgg19_state(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for idx, (cin, cout) in _CONVS.items():
        std = (2.0 / (9 * cin)) ** 0.5
        state[f"features.{idx}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * std
        state[f"features.{idx}.bias"] = torch.zeros(cout)
    state["classifier.0.bias"] = torch.zeros(7)  # ignored, as a full vgg19 dict's head
    return state


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vgg") / "vgg19.safetensors"
    save_file(_vgg19_state(), str(path))
    return path


def test_random_vgg19_weights_load_and_run(vgg_file):
    loss = VGGFeatureLoss(vgg_file, layer="conv5_4")
    assert len(loss.features) == 35
    torch.testing.assert_close(loss.features[34].weight, _vgg19_state()["features.34.weight"])
    hr = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    sr = (hr + 0.2 * torch.rand(2, 1, 32, 32)).requires_grad_()
    assert float(loss(hr, hr)) == 0.0
    value = loss(sr, hr)
    assert float(value) > 0
    value.backward()
    assert sr.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.parameters())
    loss.train()
    assert not loss.training


def test_layer_mix_channels_and_pth(vgg_file, tmp_path):
    pth = tmp_path / "vgg.pth"
    torch.save({"state_dict": _vgg19_state()}, pth)
    mix = VGGFeatureLoss(pth, layer={"conv1_2": 0.1, "relu2_2": 1.0}, criterion="mse")
    assert len(mix.features) == 9  # stops after the deepest layer asked for
    x, y = torch.rand(1, 2, 16, 16), torch.rand(1, 2, 16, 16)  # 2 channels: each as gray
    assert float(mix(x, y)) > 0
    rgb = VGGFeatureLoss(vgg_file, layer="relu1_1")
    assert float(rgb(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))) > 0


def test_wrong_or_missing_weights_error(tmp_path):
    bad = _vgg19_state()
    bad["features.5.weight"] = torch.zeros(128, 64, 5, 5)
    save_file(bad, str(tmp_path / "bad.safetensors"))
    with pytest.raises(ValueError, match=r"features\.5\.weight has shape \(128, 64, 5, 5\)"):
        VGGFeatureLoss(tmp_path / "bad.safetensors")
    short = {k: v for k, v in _vgg19_state().items() if not k.startswith("features.34")}
    save_file(short, str(tmp_path / "short.safetensors"))
    with pytest.raises(ValueError, match=r"lacks features\.34\.weight"):
        VGGFeatureLoss(tmp_path / "short.safetensors")
    VGGFeatureLoss(tmp_path / "short.safetensors", layer="conv4_4")  # enough for that layer
    with pytest.raises(FileNotFoundError):
        VGGFeatureLoss(tmp_path / "missing.safetensors")
    with pytest.raises(ValueError, match="needs VGG19 weights"):
        VGGFeatureLoss(None)
    with pytest.raises(ValueError, match="unknown VGG19 layer"):
        VGGFeatureLoss(tmp_path / "short.safetensors", layer="conv6_1")


def test_build_feature_loss_without_weights_logs(caplog, vgg_file):
    with caplog.at_level(logging.WARNING):
        assert build_feature_loss(None) is None
    assert "VGG" not in caplog.text  # the normal case: not a warning on every run
    with caplog.at_level(logging.INFO):
        assert build_feature_loss(None) is None
    assert "VGG feature loss off: no VGG19 weights given" in caplog.text
    assert isinstance(build_feature_loss(vgg_file, layer="relu1_2"), VGGFeatureLoss)


def test_builder_adds_perceptual_term(vgg_file):
    weights = {"pixel_l1": 1.0, "vgg": 0.5, "vgg_layers": "relu2_2", "vgg_scale": 0.5}
    loss = build_generator_loss(weights, vgg_weights=vgg_file)
    sr, hr = torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16)
    total, terms = loss(sr, hr)
    assert set(terms) == {"l_g_pix", "l_g_percep"}
    assert loss.feature_loss.feature_scale == 0.5
