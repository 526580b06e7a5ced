"""Property-based fuzzing: every input ends in a sane result or in a named InputError.

Dtypes, shapes, non-finite values and option values for predict, fit, simulate and train,
and mutations of a model's JSON. A case may succeed (then the output must be finite and of
the promised shape) or be refused with an error the front ends show as one line
(:func:`napari_sisr.core.errors.is_expected`); anything else (a KeyError, an IndexError, a
numpy error, a hang or a memory blow-up) is a bug these tests exist to catch. Examples are
drawn deterministically (``derandomize``) so CI sees the same cases every time.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_sisr import DegradationParams, fit_degradation, predict, simulate_lr
from napari_sisr.core.archs import build_generator
from napari_sisr.core.errors import is_expected
from napari_sisr.core.modelio import load_model, save_model

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
DTYPES = ["uint8", "uint16", "uint16", "int16", "int32", "int64", "float16", "float32",
          "float32", "float64", "bool", "complex64"]  # fmt: skip


def mostly(valid: list, invalid: list):
    """Values that are valid three times in four: every case also reaches the work itself."""
    return st.sampled_from(valid * 3 + invalid)


def _expected_or_ok(fn):
    """Run ``fn``; return its result, or ``None`` if it was refused as an input error."""
    try:
        return fn()
    except Exception as err:  # noqa: BLE001 - the property: only input errors may escape
        assert is_expected(err), f"{type(err).__name__}: {err}"
        return None


@st.composite
def images(draw, max_side=40):
    dtype = draw(st.sampled_from(DTYPES))
    ndim = draw(st.sampled_from([2, 2, 3]))
    shape = [draw(st.one_of(st.integers(8, max_side), st.integers(0, max_side))) for _ in "yx"]
    if ndim == 3:
        shape = [draw(st.sampled_from([1, 2, 3]))] + shape
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    arr = (rng.random(shape) * 200).astype(dtype)
    if arr.dtype.kind == "f" and arr.size and draw(st.booleans()):
        arr.flat[draw(st.integers(0, arr.size - 1))] = draw(
            st.sampled_from([np.nan, np.inf, -np.inf, 1e30])
        )
    return arr


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return build_generator("srresnet", "fast", 2, 1, n_blocks=1, nf=4).eval()


@FUZZ
@given(
    image=images(),
    tile=mostly([8, 16, 24, 64], [0, -4, 7]),
    halo=mostly(["auto", 0, 3, 12], [-3, 10**6]),
    batch=mostly([1, 2, 3], [0, -1]),
    channel_axis=mostly([None, None, 0, -1], [5, -9]),
    axes=mostly([None, None, "yx", "zyx", "cyx"], ["qq", "zz", "x", "tczyxz"]),
    dtype=mostly([None, "float32", "uint8", "uint16"], ["complex64", "bogus"]),
)
def test_predict(net, image, tile, halo, batch, channel_axis, axes, dtype):
    options = dict(tile=tile, halo=halo, batch=batch, channel_axis=channel_axis, axes=axes)
    options["dtype"] = dtype
    out = _expected_or_ok(lambda: np.asarray(predict(image, net, engine="torch", **options)))
    if out is not None:
        assert out.ndim == image.ndim and out.size > 0
        if out.dtype.kind == "f":
            assert np.all(np.isfinite(out))


@FUZZ
@given(
    hr_side=st.one_of(st.integers(64, 128), st.integers(0, 128)),
    ratio=mostly([2, 3, 4], [1]),
    scale=mostly([2, 3, 4], [-1, 0, 1, 9]),
    poison=mostly([None, None], ["nan", "constant", "bool"]),
)
def test_fit(actin, hr_side, ratio, scale, poison):
    hr = actin[:hr_side, : hr_side + 8]
    h, w = hr.shape[0] // ratio, hr.shape[1] // ratio
    lr = hr[: h * ratio, : w * ratio].reshape(h, ratio, w, ratio).mean(axis=(1, 3))
    if poison == "nan" and lr.size:
        lr = lr.copy()
        lr.flat[0] = np.nan
    elif poison == "constant":
        lr = np.full_like(lr, 3.0)
    elif poison == "bool":
        lr = lr > 0
    params = _expected_or_ok(lambda: fit_degradation(hr, lr, scale))
    if params is not None:
        numbers = [params.sigma, params.noise_var, params.gain, params.offset, *params.shift_yx]
        assert all(math.isfinite(v) for v in numbers)
        assert params.notes["quality"]["verdict"] in ("ok", "doubtful", "failed")


FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 1.0, -1.0, 1e9])
)


def numbers(valid: list):
    return st.one_of(st.sampled_from(valid), st.sampled_from(valid), FLOATS)


@FUZZ
@given(
    scale=mostly([2, 3, 4], [-2, 0, 20]),
    sigma=numbers([0.0, 0.5, 1.5, 3.0]),
    noise_var=numbers([0.0, 1.0, 25.0]),
    gain=numbers([1.0, 0.3, -2.0]),
    offset=numbers([0.0, 100.0, -5.0]),
    shift=st.tuples(numbers([0.0, 1.5, -7.25]), numbers([0.0, 0.5, 30.0])),
    image=images(max_side=48),
)
def test_simulate(scale, sigma, noise_var, gain, offset, shift, image):
    def run():
        p = DegradationParams(
            scale=scale, sigma=sigma, noise_var=noise_var, gain=gain, offset=offset, shift_yx=shift
        )
        return simulate_lr(image, p, rng=0)

    out = _expected_or_ok(run)
    if out is not None:
        assert np.all(np.isfinite(out)) and out.dtype == np.float32


MUTATIONS = st.sampled_from(
    [None, [], [1, 2], "four", -1, 0, 10**9, 1.5, float("nan"), True, {"a": 1}, "srresnet"]
)
KEYS = st.sampled_from(
    ["arch", "scale", "in_channels", "preset", "arch_kwargs", "receptive_field",
     "normalization", "format", "weights_sha256", "nf", "n_blocks", "low", "high", "mode"]
)  # fmt: skip


@FUZZ
@given(edits=st.lists(st.tuples(KEYS, MUTATIONS, st.booleans()), min_size=1, max_size=3))
def test_model_json_mutations(tmp_path_factory, edits):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("m") / "model"
    save_model(path, build_generator("srresnet", "fast", 2, 1, n_blocks=1, nf=4), {})
    meta = json.loads(path.with_suffix(".json").read_text())
    meta["normalization"] = {"mode": "percentile", "low": 1.0, "high": 99.8}
    for key, value, delete in edits:
        where = meta
        if key in ("nf", "n_blocks"):
            where = meta["arch_kwargs"] if isinstance(meta.get("arch_kwargs"), dict) else {}
        elif key in ("low", "high", "mode"):
            where = meta["normalization"] if isinstance(meta.get("normalization"), dict) else {}
        if delete:
            where.pop(key, None)
        else:
            where[key] = value
    path.with_suffix(".json").write_text(json.dumps(meta))
    net = _expected_or_ok(lambda: load_model(path))
    if net is not None:
        x = torch.rand(1, net.in_channels, 8, 8)
        with torch.no_grad():
            assert net(x).shape[-1] == 8 * net.scale


@FUZZ
@given(
    scale=mostly([2, 4], [-1, 0, 3, 9]),
    patch=mostly([32, 48, 64], [-8, 0, 30, 81]),
    batch=mostly([1, 2], [-1, 0]),
    lr=numbers([1e-3, 1e-4]),
    n_blocks=mostly([1, 2], [-1, 0, "x", 10**7]),
    threads=mostly([None, 1], [-1, 0]),
)
def test_train_config(tmp_path_factory, crops, scale, patch, batch, lr, n_blocks, threads):
    from napari_sisr import TrainConfig

    def build():
        return TrainConfig(
            hr=crops[:2],
            out=tmp_path_factory.mktemp("run"),
            scale=scale,
            patch=patch,
            batch=batch,
            lr=lr,
            arch_overrides={"n_blocks": n_blocks, "nf": 4},
            threads=threads,
            adversarial=False,
        )

    cfg = _expected_or_ok(build)
    if cfg is not None:
        assert cfg.scale >= 1 and cfg.patch % cfg.scale == 0 and math.isfinite(cfg.learning_rate)
        from napari_sisr.core.archs import build_generator as build_g

        build_g(cfg.arch, cfg.preset, cfg.scale, 1, **cfg.arch_overrides)  # must be buildable


@pytest.fixture(scope="module")
def crops(actin):
    return [actin[:96, :96].astype(np.float32), actin[200:296, 300:396].astype(np.float32)]


def test_cli_never_shows_a_traceback(tmp_path, capsys):
    """A sweep of bad command lines: exit 2 with one line, never 1 (a bug) or a traceback."""
    import tifffile

    from napari_sisr.cli import main

    img = tmp_path / "img.tif"
    tifffile.imwrite(img, np.random.default_rng(0).random((64, 64)).astype(np.float32))
    out = str(tmp_path / "o.tif")
    bad = [
        ["predict", str(img), "-o", out, "--tile", "0"],
        ["predict", str(img), "-o", out, "--batch", "-1"],
        ["predict", str(img), "-o", out, "--device", "bogus"],
        ["predict", str(img), "-o", out, "--device", "cuda:7"],
        ["predict", str(img), "-o", out, "--pixel-size", "nan"],
        ["predict", str(img), "-o", out, "--pixel-size", "-1"],
        ["predict", str(img), "-o", out, "--axes", "qq"],
        ["predict", str(img), "-o", out, "--level", "3"],
        ["predict", str(img), "-o", out, "--model", str(tmp_path / "evil.pt")],
        ["predict", str(img), "-o", out, "--channel-axis", "5"],
        ["simulate", str(img), "-o", out, "--shift", "1e9", "1e9"],
        ["simulate", str(img), "-o", out, "--noise-var", "inf"],
        ["simulate", str(img), "-o", out, "--offset", "nan"],
        ["simulate", str(img), "-o", out, "--sigma", "nan"],
        ["fit", str(img), str(img), "--scale", "0"],
        ["train", "--hr", str(img), "--out", str(tmp_path / "r"), "--scale", "0"],
        ["train", "--hr", str(img), "--out", str(tmp_path / "r"), "--threads", "-1"],
        ["train", "--hr", str(img), "--out", str(tmp_path / "r"), "--lr", "inf"],
        ["train", "--hr", str(img), "--out", str(tmp_path / "r"), "--arch-option", "nf=0"],
        ["train", "--hr", str(img), "--out", str(tmp_path / "r"), "--resume"],
    ]
    for args in bad:
        rc = main(args)
        err = capsys.readouterr().err
        assert rc == 2, (args, rc, err)
        assert "Traceback" not in err and "internal error" not in err, (args, err)
        assert not (tmp_path / "r").exists(), args  # a refused run leaves no folder
