"""Engines: the same output as torch (every architecture, tiled), cached graphs, precisions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_sisr import predict
from napari_sisr.core.archs import ARCHS, build_generator
from napari_sisr.core.errors import InputError
from napari_sisr.core.inference import engines
from napari_sisr.core.inference.engines import installed_engines, pick_engine, pick_precision

EXPORTED = [e for e in ("openvino", "onnxruntime") if e in installed_engines()]


# every test gets a cache folder of its own (conftest.private_cache)
pytestmark = pytest.mark.usefixtures("private_cache")


def _net(arch: str, scale: int = 2):
    torch.manual_seed(0)
    return build_generator(arch, "fast", scale, 1).eval()


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    from scipy import ndimage

    return ndimage.gaussian_filter(rng.random((72, 90)), 2).astype(np.float32)


@pytest.mark.parametrize("engine", EXPORTED)
@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_engine_equals_torch_tiled(engine, arch, image):
    net = _net(arch)
    ref = np.asarray(predict(image, net, engine="torch", precision="fp32", tile=32))
    out = np.asarray(predict(image, net, engine=engine, precision="fp32", tile=32))
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() <= 1e-5 * np.ptp(ref), engine


@pytest.mark.parametrize("engine", EXPORTED)
def test_engine_runs_the_self_ensemble_like_torch(engine, image):
    net = _net("srresnet")  # quarter turns make tiles of new shapes: exported per shape
    ref = np.asarray(predict(image, net, engine="torch", precision="fp32", tile=24, ensemble=True))
    out = np.asarray(predict(image, net, engine=engine, precision="fp32", tile=24, ensemble=True))
    assert np.abs(out - ref).max() <= 1e-5 * np.ptp(ref), engine


@pytest.mark.skipif(not EXPORTED, reason="no exported-graph engine installed")
def test_graphs_are_cached_per_weights_and_tile(image, private_cache):
    engine = EXPORTED[0]
    net = _net("srresnet")
    predict(image, net, engine=engine, precision="fp32", tile=32).compute()
    files = sorted(private_cache.glob("*.onnx"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    predict(
        image, net, engine=engine, precision="fp32", tile=32
    ).compute()  # same model and tile: reused
    assert sorted(private_cache.glob("*.onnx")) == files and files[0].stat().st_mtime_ns == stamp
    predict(
        image, net, engine=engine, precision="fp32", tile=48
    ).compute()  # another tile shape: another graph
    assert len(list(private_cache.glob("*.onnx"))) == 2
    with torch.no_grad():
        next(net.parameters()).add_(0.01)  # retrained weights: a new graph, a new result
    changed = np.asarray(predict(image, net, engine=engine, precision="fp32", tile=32))
    assert len(list(private_cache.glob("*.onnx"))) == 3
    ref = np.asarray(predict(image, net, engine="torch", precision="fp32", tile=32))
    assert np.abs(changed - ref).max() <= 1e-5 * np.ptp(ref)


@pytest.mark.parametrize("engine", EXPORTED)
def test_later_jobs_reuse_the_compiled_graph(engine, image, monkeypatch):
    """A batch of images (or a second click) compiles the graph once per process."""
    from napari_sisr.core.inference import cache

    made = []
    real = cache.shared

    def counting(key, make):
        return real(key, lambda: made.append(key) or make())

    monkeypatch.setattr(engines, "_shared", counting)
    net = _net("srresnet")
    first = np.asarray(predict(image, net, engine=engine, precision="fp32", tile=32))
    n = len(made)
    assert n >= 1
    again = np.asarray(predict(image * 0.5, net, engine=engine, precision="fp32", tile=32))
    assert len(made) == n  # nothing compiled for the second job
    np.testing.assert_allclose(again, first * 0.5, rtol=0, atol=1e-4 * np.ptp(first))


def test_auto_engine_and_precision():
    assert pick_engine("auto", "cpu") == ("openvino" if "openvino" in EXPORTED else "torch")
    native_bf16 = "bf16" in engines.native_precisions("cpu", "openvino")
    assert pick_precision("auto", "cpu", "openvino") == ("bf16" if native_bf16 else "fp32")
    assert pick_precision("auto", "cpu", "torch") == "fp32"
    assert pick_precision("auto", "cpu", "onnxruntime") == "fp32"


def test_auto_precision_follows_the_hardware(monkeypatch):
    """bf16 (OpenVINO) where the CPU executes it natively, fp32 where it would be emulated;
    torch stays fp32 (its bf16 was slower than fp32 for default-2x)."""
    monkeypatch.setattr(engines, "native_precisions", lambda d, e="torch": ["fp32", "bf16"])
    assert pick_precision("auto", "cpu", "openvino") == "bf16"
    assert pick_precision("auto", "cpu", "torch") == "fp32"
    monkeypatch.setattr(engines, "native_precisions", lambda d, e="torch": ["fp32"])
    assert pick_precision("auto", "cpu", "openvino") == "fp32"
    assert pick_precision("auto", "cpu", "torch") == "fp32"
    with pytest.raises(InputError, match="engine must be one of"):
        pick_engine("tensorrt", "cpu")


def test_missing_engine_is_named(monkeypatch):
    monkeypatch.setattr(engines, "installed_engines", lambda: ["torch"])
    with pytest.raises(InputError, match=r"pip install 'napari-sisr\[openvino\]'"):
        pick_engine("openvino", "cpu")
    assert pick_engine("auto", "cpu") == "torch"  # auto falls back


def test_slow_precision_is_refused_not_run(monkeypatch, image):
    """A precision the hardware lacks runs many times slower than fp32: it is refused."""
    monkeypatch.setattr(engines, "native_precisions", lambda device, engine="torch": ["fp32"])
    with pytest.raises(InputError, match="not executed natively"):
        predict(image, _net("srresnet"), engine="torch", precision="bf16", tile=32)
    with pytest.raises(InputError, match="OpenVINO"):
        pick_precision("int8", "cpu", "torch")
    # fp16 ran slower than fp32 on CPUs even with fp16 instructions: never offered there
    monkeypatch.setattr(engines, "native_precisions", lambda d, e="torch": ["fp32", "fp16"])
    with pytest.raises(InputError, match="slower than fp32"):
        pick_precision("fp16", "cpu", "openvino")


def test_native_bf16_runs_close_to_fp32(image):
    if "bf16" not in engines.native_precisions("cpu"):
        pytest.skip("this CPU has no native bf16")
    net = _net("srresnet")
    ref = np.asarray(predict(image, net, engine="torch", precision="fp32", tile=32))
    low = np.asarray(predict(image, net, engine="torch", precision="bf16", tile=32))
    assert np.abs(low - ref).max() <= 0.02 * np.ptp(ref)


@pytest.mark.skipif(
    "openvino" not in EXPORTED or not __import__("importlib").util.find_spec("nncf"),
    reason="int8 needs OpenVINO and nncf",
)
def test_int8_runs_close_to_fp32_and_keeps_stdout_clean(image, capfd, private_cache):
    """int8 is calibrated on a fixed set of real images, quantised once per model and kept on
    disk: a later job (here after the process forgot it) reads it back, and gives the same
    result. NNCF's progress bars must not reach stdout, where the CLI writes its JSON lines."""

    from napari_sisr.core.inference import cache, quantize

    net = _net("srresnet")
    ref = np.asarray(predict(image, net, engine="openvino", precision="fp32", tile=32))
    out = np.asarray(predict(image, net, engine="openvino", precision="int8", tile=32))
    assert out.shape == ref.shape
    # quantised, but the same image: int8's largest errors reach 15 % of the range even for a
    # trained model (default-2x on real nuclei, before and after the image-border padding)
    assert np.sqrt(np.mean((out - ref) ** 2)) <= 0.02 * np.ptp(ref)
    assert np.corrcoef(out.ravel(), ref.ravel())[0, 1] > 0.99
    assert capfd.readouterr().out == ""
    saved = sorted(private_cache.glob("*-int8-*.xml"))
    assert len(saved) == 1 and saved[0].with_suffix(".bin").exists()
    cache._SHARED.clear()
    calls = []
    real = quantize._quantize
    quantize._quantize = lambda *a: calls.append(a) or real(*a)
    try:
        again = np.asarray(predict(image, net, engine="openvino", precision="int8", tile=32))
    finally:
        quantize._quantize = real
    assert not calls  # read back from the disk, not quantised again
    np.testing.assert_array_equal(again, out)
