"""Self-ensemble inference: the average of a network's answers over flips and rotations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_sisr.core.archs import build_generator
from napari_sisr.core.inference import predict as _predict
from napari_sisr.core.inference.ensemble import orientations, turn, unturn
from napari_sisr.core.inference.runner import ModelRunner

NONE = {"mode": "none"}


def predict(image, net, **kw):
    kw.setdefault("precision", "fp32")
    return _predict.predict(image, net, normalization=NONE, engine="torch", **kw).compute()


def net_2x():
    torch.manual_seed(0)
    return build_generator("srresnet", "fast", 2, 1, n_blocks=1, nf=8).eval()


@pytest.fixture(scope="module")
def image(nuclei):
    return nuclei[100:149, 200:271].astype(np.float32)  # not square, odd sizes


def by_hand(net, plane, ways):
    """The ensemble computed with torch's own flips and rotations, one whole-image pass each
    (of the image padded "symmetric" by the receptive field, as predict pads it)."""
    rf, s = int(net.receptive_field), int(net.scale)
    x = torch.from_numpy(np.pad(plane, rf, mode="symmetric"))[None, None]
    outs = []
    with torch.inference_mode():
        for k, mirror in ways:
            t = torch.rot90(x, k, dims=(-2, -1))
            t = torch.flip(t, dims=(-1,)) if mirror else t
            y = net(t)
            y = torch.flip(y, dims=(-1,)) if mirror else y
            outs.append(torch.rot90(y, -k, dims=(-2, -1))[0, 0].numpy())
    return np.mean(outs, axis=0)[rf * s : -rf * s, rf * s : -rf * s]


def test_orientations_are_distinct_and_undone_exactly():
    x = np.arange(2 * 3 * 5 * 7, dtype=np.float32).reshape(2, 3, 5, 7)
    ways = orientations()
    turned = [turn(x, o) for o in ways]
    assert len({t.tobytes() + bytes(t.shape) for t in turned}) == 8  # all eight differ
    for o, t in zip(ways, turned, strict=True):
        assert t.flags.c_contiguous
        np.testing.assert_array_equal(unturn(t, o), x)
    keep = orientations(keep_axes=True)
    assert len(keep) == 4 and all(turn(x, o).shape == x.shape for o in keep)


@pytest.mark.parametrize("tile", [16, 200])
def test_ensemble_is_the_mean_of_the_eight_passes_and_tiles_exactly(image, tile):
    net = net_2x()
    got = predict(image, net, tile=tile, ensemble=True)
    ref = by_hand(net, image, orientations())
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5 * np.ptp(ref))
    plain = predict(image, net, tile=tile)
    assert np.abs(got - plain).max() > 1e-3 * np.ptp(ref)  # a random network is not symmetric


def test_degradation_aware_networks_keep_their_axes(image):
    torch.manual_seed(0)
    net = build_generator("srresnet_da", "fast", 2, 1, n_blocks=1, nf=8, cond_features=8)
    net = net.eval().with_condition([2.5, 1.0, 0.02, 0.0])  # sigma_y, sigma_x, noise, Poisson
    passes = []
    runner = ModelRunner(net, 2, 4, device="cpu", engine="torch", ensemble=True)
    runner._pass = lambda x: (
        passes.append(x.shape)
        or np.zeros((*x.shape[:2], 2 * x.shape[2], 2 * x.shape[3]), np.float32)
    )
    runner(np.zeros((1, 1, 10, 14), np.float32))
    assert passes == [(1, 1, 10, 14)] * 4  # no quarter turn: sigma_y stays along y
    got = predict(image, net, tile=24, ensemble=True)
    ref = by_hand(net, image, orientations(keep_axes=True))
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5 * np.ptp(ref))


def test_ensemble_is_part_of_the_job_key(image):
    net = net_2x()
    plain = _predict.prepare(image, net, normalization=NONE).job_key()
    both = _predict.prepare(image, net, normalization=NONE, ensemble=True).job_key()
    assert "ensemble" not in plain and both["ensemble"] is True  # older job keys still match
    assert {k: v for k, v in both.items() if k != "ensemble"} == plain


def test_cancel_is_checked_before_every_pass(image):
    from napari_sisr.core.progress import Cancelled

    net = net_2x()
    runner = ModelRunner(net, 2, 4, device="cpu", engine="torch", ensemble=True)
    calls = []
    runner.stop = lambda: len(calls) >= 3
    net.register_forward_hook(lambda *a: calls.append(1))
    with pytest.raises(Cancelled):
        runner(np.zeros((1, 1, 12, 12), np.float32))
    assert len(calls) == 3
