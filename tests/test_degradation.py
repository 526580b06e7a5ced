"""The degradation model: conventions, numpy/torch twins, shapes."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from napari_sisr import DegradationParams, simulate_lr, simulate_lr_torch
from napari_sisr.core.degradation.simulate import axis_operator, axis_operators


def test_block_mean_without_blur_is_exact():
    rng = np.random.default_rng(0)
    hr = rng.random((32, 48))
    p = DegradationParams(scale=4, sigma=0.0)
    lr = simulate_lr(hr, p, noise=False)
    expected = hr.reshape(8, 4, 12, 4).mean(axis=(1, 3))
    np.testing.assert_allclose(lr, expected, rtol=1e-6)


def test_blur_matches_scipy_gaussian_interior():
    rng = np.random.default_rng(1)
    hr = ndimage.gaussian_filter(rng.random((96, 96)), 1.0)
    p = DegradationParams(scale=2, sigma=2.0)
    lr = simulate_lr(hr, p, noise=False)
    ref = ndimage.gaussian_filter(hr, 2.0, mode="reflect", truncate=6.0)
    ref = ref.reshape(48, 2, 48, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(lr[8:-8, 8:-8], ref[8:-8, 8:-8], atol=1e-4)


def test_shift_convention_moves_content_forward():
    hr = np.zeros((64, 64))
    hr[32, 20] = 1.0
    p = DegradationParams(scale=1, sigma=1.0, shift_yx=(2.0, -3.0))
    out = simulate_lr(hr, p, noise=False)
    assert np.unravel_index(np.argmax(out), out.shape) == (34, 17)


def test_numpy_and_torch_twins_agree(actin):
    hr = actin[:256, :320]
    plist = [
        DegradationParams(scale=4, sigma=2.3, shift_yx=(0.7, -1.4), gain=0.6, offset=12.0),
        DegradationParams(scale=4, sigma_y=1.1, sigma_x=3.0, sigma=1.8, gain=2.0),
    ]
    batch = torch.as_tensor(np.stack([hr, hr[::-1].copy()]))[:, None].double()
    out_t = simulate_lr_torch(batch, plist, noise=False).numpy()[:, 0]
    for k, p in enumerate(plist):
        out_n = simulate_lr(batch[k, 0].numpy(), p, noise=False)
        np.testing.assert_allclose(out_t[k], out_n, rtol=1e-5, atol=1e-3)


def test_batched_axis_operators_equal_the_sparse_ones():
    # Blind training builds one operator per patch in one go; each must be the sparse
    # operator of its own kernel: wide and narrow blurs, sub-pixel and whole-pixel shifts,
    # the linear-interpolation branch (sigma < 0.25), kernels wider than the axis (folded).
    sigmas = [0.0, 0.1, 0.6, 1.7, 3.0, 9.0]
    shifts = [0.0, 1.6, -0.4, 2.0, 0.25, -3.5]
    for n_hr, scale in ((96, 4), (40, 2), (11, 1), (7, 3)):
        ops = axis_operators(n_hr, scale, sigmas, shifts)
        assert ops.shape == (len(sigmas), n_hr // scale, n_hr)
        for op, sg, sh in zip(ops, sigmas, shifts, strict=True):
            np.testing.assert_allclose(op, axis_operator(n_hr, scale, sg, sh).toarray(), atol=1e-15)
    with pytest.raises(ValueError, match="shorter than one block"):
        axis_operators(3, 4, [1.0], [0.0])


def test_one_model_and_per_sample_models_simulate_the_same():
    rng = np.random.default_rng(5)
    hr = torch.as_tensor(rng.random((3, 1, 48, 40)))
    p = DegradationParams(scale=4, sigma=1.3, shift_yx=(0.5, -0.2), gain=1.5)
    same = simulate_lr_torch(hr, p, noise=False)  # one cached operator for the batch
    each = simulate_lr_torch(hr, [p.model_copy() for _ in range(3)], noise=False)  # batched
    torch.testing.assert_close(same, each, rtol=0, atol=1e-12)


def test_noise_statistics_agree_between_twins():
    hr = np.full((256, 256), 100.0)
    p = DegradationParams(scale=2, sigma=1.0, noise_var=4.0, poisson_a=0.5)
    n = simulate_lr(hr, p, rng=np.random.default_rng(3))
    g = torch.Generator().manual_seed(3)
    t = simulate_lr_torch(torch.as_tensor(hr)[None, None], p, generator=g)[0, 0].numpy()
    expected_var = 4.0 + 0.5 * 100.0
    assert abs(n.var() / expected_var - 1) < 0.05
    assert abs(t.var() / expected_var - 1) < 0.05


def test_seeded_noise_is_reproducible():
    hr = np.random.default_rng(0).random((64, 64))
    p = DegradationParams(scale=2, sigma=1.0, noise_var=0.01)
    a = simulate_lr(hr, p, rng=np.random.default_rng(7))
    b = simulate_lr(hr, p, rng=np.random.default_rng(7))
    c = simulate_lr(hr, p, rng=np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_shapes_rgb_stacks_and_3d(scale):
    p = DegradationParams(scale=scale, sigma=1.0)
    rgb = np.random.default_rng(0).random((64, 72, 3))
    assert simulate_lr(rgb, p).shape == (64 // scale, 72 // scale, 3)
    stack = np.random.default_rng(0).random((5, 64, 72))
    out = simulate_lr(stack, p, noise=False)
    assert out.shape == (5, 64 // scale, 72 // scale)
    np.testing.assert_allclose(out[2], simulate_lr(stack[2], p, noise=False), rtol=1e-6)
    p3 = DegradationParams(scale=scale, sigma=1.0, sigma_z=1.5)
    out3 = simulate_lr(stack, p3, noise=False)
    assert out3.shape == out.shape and not np.allclose(out3, out)


def test_per_channel_rgb_equals_channelwise():
    rgb = np.random.default_rng(2).random((40, 40, 3))
    p = DegradationParams(scale=2, sigma=1.3)
    out = simulate_lr(rgb, p, noise=False)
    for c in range(3):
        np.testing.assert_allclose(out[..., c], simulate_lr(rgb[..., c], p, noise=False))


def test_operator_rows_sum_to_one():
    a = axis_operator(100, 4, 2.5, 1.7)
    np.testing.assert_allclose(np.asarray(a.sum(axis=1)).ravel(), 1.0, rtol=1e-12)


def test_params_json_roundtrip(tmp_path):
    p = DegradationParams(scale=4, sigma=2.0, noise_var=3.5, shift_yx=(0.5, -1.0), gain=1.7)
    p.save(tmp_path / "p.json")
    assert DegradationParams.load(tmp_path / "p.json") == p


@pytest.mark.parametrize(
    "bad",
    [{"scale": 0}, {"gain": 0.0}, {"sigma": -1.0}, {"noise_var": -1.0}, {"sigma_y": 1.0}],
)
def test_params_validation(bad):
    with pytest.raises(ValueError):
        DegradationParams(**bad)


def test_simulate_rejects_bad_input():
    p = DegradationParams(scale=4)
    with pytest.raises(ValueError, match="NaN"):
        simulate_lr(np.array([[np.nan] * 8] * 8), p)
    with pytest.raises(TypeError, match="dtype"):
        simulate_lr(np.ones((8, 8), dtype=complex), p)
    with pytest.raises(ValueError, match="smaller"):
        simulate_lr(np.ones((3, 3)), p)
