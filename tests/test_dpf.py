"""Diffraction-pattern filter bank."""

from __future__ import annotations

import math

import pytest
import torch

from napari_sisr.core.archs.dpf import apply_bank, make_dpf_bank


def test_bank_shape_and_dc_follow_the_phase_model():
    bank = make_dpf_bank(12, 15, (2.0, 3.5, 6.0))
    assert bank.shape == (12, 1, 15, 15)
    # DC gain of sin(theta) * delta + (cos - sin) * ring is sin(theta): the ring has zero mean.
    thetas = [math.pi * (i // 3 + 0.5) / 4 for i in range(12)]
    dc = bank.sum(dim=(1, 2, 3))
    torch.testing.assert_close(dc, torch.tensor([math.sin(t) for t in thetas]), atol=1e-5, rtol=0)
    # Different ring scales give different kernels.
    assert not torch.allclose(bank[0], bank[1])


def test_apply_bank_is_per_channel():
    bank = make_dpf_bank(4, 7, (2.0,))
    x = torch.rand(2, 3, 16, 16)
    y = apply_bank(x, bank)
    assert y.shape == (2, 12, 16, 16)
    torch.testing.assert_close(y[:, 4:8], apply_bank(x[:, 1:2], bank))


@pytest.mark.parametrize(
    ("kwargs", "msg"), [({"n": 0}, ">= 1"), ({"size": 8}, "odd"), ({"radii": (0.0,)}, "positive")]
)
def test_bad_bank_arguments(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        make_dpf_bank(**kwargs)
