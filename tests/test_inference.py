"""Tiled inference: tiled == untiled, layouts, lazy sources, intensities, errors, OOM retry."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import dask.array as da
import numpy as np
import pytest
import torch
from torch import nn

from napari_sisr.core.archs import build_generator
from napari_sisr.core.errors import InputError
from napari_sisr.core.inference import predict as _predict_module
from napari_sisr.core.inference.runner import measure_receptive_field
from napari_sisr.core.progress import run_to_end


def _fp32(fn):
    """These tests check the tiling arithmetic to round-off, so they run in fp32 (``auto``
    takes bf16 on CPUs that have it natively: see tests/test_engines.py)."""

    def wrapped(*args, **kwargs):
        kwargs.setdefault("precision", "fp32")
        return fn(*args, **kwargs)

    return wrapped


predict = _fp32(_predict_module.predict)
prepare = _fp32(_predict_module.prepare)
iter_predict = _fp32(_predict_module.iter_predict)

NONE = {"mode": "none"}


def tiny_srresnet(scale=2, channels=1):
    torch.manual_seed(0)
    return build_generator("srresnet", "fast", scale, channels, n_blocks=1, nf=8).eval()


class PlainNet(nn.Module):
    """A plain module with only a ``scale`` attribute (receptive field measured)."""

    def __init__(self, scale=2, channels=1):
        super().__init__()
        torch.manual_seed(1)
        self.scale = scale
        self.body = nn.Sequential(
            nn.Conv2d(channels, 8, 5, padding=2),
            nn.ReLU(),
            nn.Conv2d(8, channels * scale * scale, 3, padding=1),
            nn.PixelShuffle(scale),
        )

    def forward(self, x):
        return self.body(x)


class Nearest(nn.Module):
    """Nearest-neighbour upscaling: output intensities are exactly the input's."""

    scale = 2
    in_channels = 1
    receptive_field = 0

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x.repeat_interleave(2, -2).repeat_interleave(2, -1) + 0 * self.dummy


def untiled(net, plane, halo=None, scale=None):
    """One forward pass of a (Y, X) or (Y, X, C-joint) float plane, padded "symmetric" by the
    halo (default: the network's receptive field, as predict's ``halo="auto"``) and cropped
    back: what an untiled run is."""
    s = int(scale or net.scale)
    if halo is None:
        halo = getattr(net, "receptive_field", None)
        if halo is None:
            halo = measure_receptive_field(net, getattr(net, "in_channels", 1), s)
    pad = [(halo, halo), (halo, halo)] + [(0, 0)] * (np.ndim(plane) - 2)
    x = torch.from_numpy(np.pad(np.asarray(plane, np.float32), pad, mode="symmetric"))
    x = x[None, None] if x.ndim == 2 else x.permute(2, 0, 1)[None]
    with torch.inference_mode():
        y = net(x)[0].numpy()
    y = y[..., halo * s : y.shape[-2] - halo * s, halo * s : y.shape[-1] - halo * s]
    return y[0] if plane.ndim == 2 else np.moveaxis(y, 0, -1)


@pytest.fixture(scope="module")
def image(nuclei):
    return nuclei[100:161, 200:297].astype(np.float32)  # odd sizes, real content


@pytest.mark.parametrize("tile", [8, 13, 24, 40, 200])
def test_tiled_equals_untiled_for_a_conv_model(image, tile):
    net = tiny_srresnet()
    got = predict(image, net, tile=tile, normalization=NONE).compute()
    ref = untiled(net, image)
    assert got.shape == (2 * 61, 2 * 97)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5 * np.ptp(ref))


def test_plain_module_with_measured_receptive_field(image):
    net = PlainNet()
    assert measure_receptive_field(net, 1, 2) == 4  # radius 3 (5x5 then 3x3 at LR) + 1 margin
    got = predict(image, net, tile=16, batch=3, normalization=NONE).compute()
    np.testing.assert_allclose(got, untiled(net, image), atol=1e-5 * np.ptp(image))


def test_lazy_graph_runs_no_forward_pass_until_computed(image):
    net = tiny_srresnet()
    calls = []
    net.register_forward_hook(lambda *a: calls.append(1))
    # (the torch engine: forward hooks see its passes)
    lazy = predict(image, net, tile=32, normalization=NONE, engine="torch")
    assert calls == [] and lazy.dtype == np.float32 and lazy.shape == (122, 194)
    lazy.compute()
    assert len(calls) == lazy.npartitions


def test_integer_input_keeps_dtype_and_intensities(nuclei):
    img = nuclei[:40, :50]
    out = predict(img, Nearest(), tile=16).compute()
    assert out.dtype == img.dtype
    np.testing.assert_array_equal(out, np.kron(img, np.ones((2, 2), img.dtype)))
    out_f = predict(img, Nearest(), tile=16, dtype="float32").compute()
    assert out_f.dtype == np.float32
    np.testing.assert_allclose(out_f, np.kron(img, np.ones((2, 2))), rtol=1e-5)


def test_normalisation_is_global_not_per_tile(image):
    net = tiny_srresnet()
    job = prepare(image, net, tile=16)
    lo, hi = job.spec.stats
    np.testing.assert_allclose(lo, np.percentile(image, 0.1))
    np.testing.assert_allclose(hi, np.percentile(image, 99.9))
    got = predict(image, net, tile=16, dtype="float32").compute()
    ref = untiled(net, (image - lo[0]) / (hi[0] - lo[0])) * (hi[0] - lo[0]) + lo[0]
    np.testing.assert_allclose(got, ref, atol=1e-4 * np.ptp(ref))


def test_rgb_per_channel_and_joint():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (30, 41, 3), dtype=np.uint8)
    one = tiny_srresnet()
    got = predict(rgb, one, tile=16, normalization=NONE, dtype="float32").compute()
    assert got.shape == (60, 82, 3)
    for c in range(3):
        ref = untiled(one, rgb[..., c].astype(np.float32))
        np.testing.assert_allclose(got[..., c], ref, atol=1e-4 * np.ptp(ref))
    three = tiny_srresnet(channels=3)
    got3 = predict(rgb, three, tile=16, normalization=NONE, dtype="float32").compute()
    ref3 = untiled(three, rgb.astype(np.float32))
    np.testing.assert_allclose(got3, ref3, atol=1e-4 * np.ptp(ref3))
    out8 = predict(rgb, three, tile=16).compute()
    assert out8.dtype == np.uint8 and out8.shape == (60, 82, 3)


def test_stacks_are_processed_plane_by_plane(image):
    net = tiny_srresnet()
    zyx = np.stack([image, image[::-1], 2 * image])
    got = predict(zyx, net, tile=24, normalization=NONE).compute()
    for z in range(3):
        ref = untiled(net, zyx[z])
        np.testing.assert_allclose(got[z], ref, atol=1e-5 * np.ptp(ref))


def test_tcyx_with_channel_axis_uses_per_channel_statistics(image):
    net = tiny_srresnet()
    tcyx = np.stack([np.stack([image, 100 * image + 5]) for _ in range(2)])
    job = prepare(tcyx, net, tile=32, channel_axis=1)
    lo, hi = job.spec.stats
    assert lo.shape == (2,) and hi[1] > 50 * hi[0]
    got = job.lazy.compute()
    assert got.shape == (2, 2, 122, 194)
    # both channels are the same picture up to an affine map, so results agree after it
    np.testing.assert_allclose(got[1, 1], 100 * got[0, 0] + 5, rtol=1e-3, atol=1e-3 * hi[1])


def test_dask_and_zarr_inputs_match_numpy(image, tmp_path):
    import zarr

    net = tiny_srresnet()
    ref = predict(image, net, tile=24, normalization=NONE).compute()
    lazy_in = da.from_array(image, chunks=(17, 23))
    np.testing.assert_allclose(predict(lazy_in, net, tile=24, normalization=NONE), ref, atol=1e-6)
    z = zarr.create_array(str(tmp_path / "in.zarr"), shape=image.shape, chunks=(20, 30), dtype="f4")
    z[:] = image
    np.testing.assert_allclose(predict(z, net, tile=24, normalization=NONE), ref, atol=1e-6)


def test_napari_like_multiscale_layer_and_pixel_sizes(image):
    net = tiny_srresnet()
    layer = SimpleNamespace(
        data=[image, image[::2, ::2]],
        multiscale=True,
        rgb=False,
        scale=(0.5, 0.5),
        translate=(10.0, 0.0),
        name="cells",
    )
    job = prepare(layer, net, tile=32)
    assert job.lazy.shape == (122, 194)
    scale, trans, _ = job.out_axes_scale()
    assert scale == [0.25, 0.25]
    assert trans[0] == pytest.approx(10.0 + 0.5 * (1 - 2) / 4)
    coarse = prepare(layer, net, tile=32, level=1)
    assert coarse.lazy.shape == (62, 98)
    # napari's downsample factors are shape ratios (61/31, 97/49)
    assert coarse.out_axes_scale()[0] == pytest.approx([0.25 * 61 / 31, 0.25 * 97 / 49])


def test_iter_predict_reports_progress_per_tile(image):
    updates = []
    out = run_to_end(
        iter_predict(image, tiny_srresnet(), tile=16, normalization=NONE), updates.append
    )
    assert out.shape == (122, 194)
    assert [u.done for u in updates] == sorted(u.done for u in updates)
    assert updates[-1].done == updates[-1].total == 4 * 7
    assert any(u.eta_s is not None for u in updates)


def test_precision_options_run_close_to_fp32(image):
    """bf16 runs close to fp32 where this CPU executes it natively, and is refused (never
    emulated many times slower) where it does not: both branches are checked on the machine
    the suite runs on, and the refusal also with the feature masked."""
    from napari_sisr.core.inference import engines

    net = tiny_srresnet()
    ref = predict(image, net, tile=32, engine="torch").compute()
    if "bf16" in engines.native_precisions("cpu", "torch"):
        got = predict(image, net, tile=32, engine="torch", precision="bf16", dtype="float32")
        assert np.abs(got.compute() - ref).max() < 0.05 * np.ptp(ref)
    else:
        with pytest.raises(InputError, match="bf16 is not executed natively"):
            predict(image, net, tile=32, engine="torch", precision="bf16")
    with pytest.raises(ValueError, match="precision"):
        predict(image, net, precision="fp8")


class GlobalMean(nn.Module):
    """Nearest upscaling plus the mean of the whole input: no finite receptive field."""

    scale = 2
    in_channels = 1

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x):
        up = x.repeat_interleave(2, -2).repeat_interleave(2, -1)
        return self.w * up + x.mean(dim=(-2, -1), keepdim=True)


def test_global_models_are_blended_without_steps():
    ramp = np.add.outer(np.arange(64.0), np.arange(96.0)).astype(np.float32)
    net = GlobalMean()
    job = prepare(ramp, net, tile=24, normalization=NONE)
    assert job.blend and job.plan.halo == 16
    blended = job.lazy.compute()
    cropped = predict(ramp, net, tile=24, halo=16, blend=False, normalization=NONE).compute()

    def max_jump(a):  # largest step between neighbouring columns, minus the ramp's own slope
        return np.abs(np.diff(a, axis=1)).max() - 1.0

    assert max_jump(blended) < 0.5 * max_jump(cropped)


class OOMAbove(nn.Module):
    """Raises an out-of-memory error for windows larger than ``limit`` pixels."""

    def __init__(self, limit):
        super().__init__()
        self.inner, self.limit = tiny_srresnet(), limit
        self.scale, self.in_channels, self.receptive_field = 2, 1, self.inner.receptive_field

    def forward(self, x):
        if x.shape[0] * x.shape[-1] * x.shape[-2] > self.limit:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.inner(x)


def test_out_of_memory_tiles_are_split_and_still_exact(image, caplog):
    net = OOMAbove(limit=40 * 40)
    with caplog.at_level(logging.WARNING):
        got = predict(image, net, tile=40, batch=2, normalization=NONE).compute()
    ref = untiled(net.inner, image)
    np.testing.assert_allclose(got, ref, atol=1e-5 * np.ptp(ref))
    assert "out of memory" in caplog.text


# ------------------------------------------------------------------ bad input
def test_channel_mismatch_is_explained(image):
    with pytest.raises(ValueError, match="expects 3-channel input but the image has one channel"):
        predict(image, tiny_srresnet(channels=3))
    rgba = np.zeros((20, 20, 4), np.uint8)
    with pytest.raises(ValueError, match="alpha"):
        predict(rgba, tiny_srresnet(channels=3))


def test_image_smaller_than_the_model_minimum(image):
    net = tiny_srresnet()
    net.min_input_size = 32
    with pytest.raises(ValueError, match="smaller than the model's minimum of 32"):
        predict(image[:20, :20], net)


@pytest.mark.parametrize("dtype", [np.complex64, bool])
def test_unsupported_dtypes(dtype):
    with pytest.raises(TypeError, match="complex|boolean"):
        predict(np.zeros((16, 16), dtype), tiny_srresnet())


def test_non_finite_values_are_reported(image):
    bad = image.copy()
    bad[::2, ::2] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        predict(bad, tiny_srresnet())
    one = image.copy()
    one[30, 77] = np.inf  # not in a strided sample: found by the tile that reads it
    with pytest.raises(ValueError, match="non-finite"):
        predict(one, tiny_srresnet(), intensity_range=(0, 1000)).compute()


def test_missing_or_corrupt_model_file(tmp_path, image):
    from napari_sisr.core.modelio import save_model

    with pytest.raises(FileNotFoundError, match="not found"):
        predict(image, str(tmp_path / "nope"))
    save_model(tmp_path / "m", tiny_srresnet(), {})
    (tmp_path / "m.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="corrupt"):
        predict(image, str(tmp_path / "m"))


def test_model_without_scale_needs_scale_argument(image):
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.PixelShuffle(2))
    with pytest.raises(ValueError, match="scale"):
        predict(image, net)
    out = predict(image, net, scale=2, tile=32, normalization=NONE).compute()
    np.testing.assert_allclose(out, untiled(net, image, scale=2), atol=1e-5 * np.ptp(image))
