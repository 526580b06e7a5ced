"""Engines that run a model's forward pass: torch, OpenVINO, ONNX Runtime.

A job names an engine (``"auto"``, ``"torch"``, ``"openvino"``, ``"onnxruntime"``) and a
precision (``"auto"``, ``"fp32"``, ``"bf16"``, ``"fp16"``, ``"int8"``). :func:`pick_engine`
and :func:`pick_precision` resolve them for the device the job runs on, and refuse what the
device cannot do well: a precision the hardware does not execute natively would run many
times slower than fp32 (bf16 on a CPU without AVX512-BF16 or AMX ran 128 times slower), so it
is refused with a message rather than silently slow.

OpenVINO and ONNX Runtime run the network's ONNX graph, exported once per model and tile
shape into a cache folder (:mod:`.cache`). Engines are built lazily in the process that runs
the tiles (a thread, or a dask worker that received the model's weights) and compiled per
batch size.
"""

from __future__ import annotations

import importlib.util
import logging
import threading

import numpy as np

from ..devices import pick_device, thread_count, torch_device
from ..errors import InputError
from .cache import OPSET, cache_dir, export_onnx, graph_condition, weights_key
from .cache import shared as _shared

__all__ = [
    "OPSET",
    "cache_dir",
    "export_onnx",
    "weights_key",
    "ENGINES",
    "PRECISIONS",
    "Engine",
    "auto_precision",
    "build_engine",
    "installed_engines",
    "native_precisions",
    "pick_engine",
    "pick_precision",
]

log = logging.getLogger(__name__)

ENGINES = ("auto", "torch", "openvino", "onnxruntime")
#: Precisions a job can ask for (``auto``: see :func:`pick_precision`).
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")
_EXTRA = {"openvino": "openvino", "onnxruntime": "onnxruntime"}


def installed_engines() -> list[str]:
    """``torch`` and whichever of OpenVINO and ONNX Runtime can be used.

    Both run graphs exported to ONNX, which needs the ``onnx`` package beside the engine (the
    ``napari-sisr[openvino]`` and ``[onnxruntime]`` extras install both).
    """
    if importlib.util.find_spec("onnx") is None:
        return ["torch"]
    return ["torch"] + [e for e, mod in _EXTRA.items() if importlib.util.find_spec(mod)]


def pick_engine(engine: str, device: str, exportable: bool = True) -> str:
    """The engine a job uses: ``auto`` is OpenVINO on a CPU when installed, else torch.

    ``exportable`` is false for networks that are not project architectures (any
    ``nn.Module``): their graphs are not known to export faithfully, so ``auto`` keeps them
    on torch (an explicit engine is still tried).
    """
    if engine not in ENGINES:
        raise InputError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    dev = pick_device(device)
    installed = installed_engines()
    if engine == "auto":
        fast = dev == "cpu" and "openvino" in installed and exportable
        return "openvino" if fast else "torch"
    if engine != "torch":
        if engine not in installed:
            raise InputError(
                f"the {engine} engine is not installed: pip install 'napari-sisr[{engine}]', "
                "or use engine='torch'"
            )
        if dev != "cpu":
            raise InputError(
                f"the {engine} engine runs on the CPU; on {dev} use engine='torch' (or auto)"
            )
    return engine


def _onednn_native(precision: str) -> bool:
    """Whether oneDNN executes ``precision`` natively on this CPU; False where the installed
    torch cannot tell (torch 2.1 has no fp16 query)."""
    import torch

    try:
        return bool(getattr(torch.ops.mkldnn, f"_is_mkldnn_{precision}_supported")())
    except (AttributeError, RuntimeError):
        return False


def _openvino_capabilities() -> set[str]:
    """What OpenVINO's CPU plugin says it optimises (``BF16``, ``INT8``, ...); empty where it
    cannot be asked."""
    try:
        from openvino import Core

        return {str(c).upper() for c in Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")}
    except Exception:  # noqa: BLE001 - not installed, or an old release without the property
        return set()


def native_precisions(device: str, engine: str = "torch") -> list[str]:
    """The precisions ``device`` executes natively (fp32 always).

    On a CPU, bf16 and fp16 count only where oneDNN executes them natively; oneDNN honours
    ``ONEDNN_MAX_CPU_ISA``, so ``ONEDNN_MAX_CPU_ISA=AVX2`` makes an AVX-512 machine answer as
    an AVX2 one would (how the test suite is run with those features masked). OpenVINO's bf16
    also needs OpenVINO's own plugin to report it.
    """
    import torch

    dev = torch_device(device).type
    out = ["fp32"]
    if dev == "cuda":
        out.append("fp16")
        if torch.cuda.is_bf16_supported():
            out.append("bf16")
    elif dev == "mps":
        out.append("fp16")
    elif dev == "cpu":
        out += [p for p in ("bf16", "fp16") if _onednn_native(p)]
        if engine == "openvino":
            caps = _openvino_capabilities()
            if "bf16" in out and caps and "BF16" not in caps:
                out.remove("bf16")
            out.append("int8")
    return out


def auto_precision(device: str, engine: str = "torch") -> str:
    """What ``precision="auto"`` runs: bf16 with OpenVINO on a CPU that executes it natively,
    else fp32.

    On a CPU with AVX512-BF16 / AMX, OpenVINO bf16 ran ``default-4x`` 2.1x and ``default-2x``
    1.2x faster than OpenVINO fp32, and changed their PSNR against the HR images by 0.001 dB
    (``benchmarks/bench_engines.py``). Torch's bf16 was faster for one model and slower than
    fp32 for the other, fp16 slower than bf16 everywhere (and than fp32 for ``default-2x``),
    and a CPU without native bf16 emulates it many times slower: those stay off. On GPUs auto
    keeps fp32: ask for fp16 / bf16 there explicitly after measuring them with the benchmark.
    """
    dev = pick_device(device)
    if dev == "cpu" and engine == "openvino" and "bf16" in native_precisions(dev, engine):
        return "bf16"
    return "fp32"


def pick_precision(precision: str, device: str, engine: str) -> str:
    """The precision a job runs in (``auto``: :func:`auto_precision`).

    An explicit low precision that the device does not execute natively is refused, naming
    what it has; ``int8`` needs the OpenVINO engine.
    """
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return auto_precision(device, engine)
    if precision == "fp32":
        return "fp32"
    if precision == "int8" and engine != "openvino":
        raise InputError("int8 runs on the OpenVINO engine: pass engine='openvino'")
    if precision == "fp16" and pick_device(device) == "cpu":
        raise InputError(
            "fp16 is refused on a CPU: with fp16 instructions it still ran slower than fp32 "
            "for default-2x on every engine, and slower than bf16 for every model "
            "(benchmarks/bench_engines.py): use bf16 or fp32"
        )
    native = native_precisions(device, engine)
    if precision not in native:
        raise InputError(
            f"{precision} is not executed natively on {pick_device(device)} here (it has "
            f"{', '.join(native)}): it would run many times slower than fp32, so it is refused"
        )
    if precision == "int8":
        import importlib.util

        if importlib.util.find_spec("nncf") is None:
            raise InputError(
                "int8 needs the nncf package: pip install 'napari-sisr[int8]', or use fp32"
            )
    return precision


# ----------------------------------------------------------------------------- engines


class Engine:
    """Runs ``(N, C, y, x)`` float32 batches through a network: the interface."""

    name = "engine"

    def __call__(self, x: np.ndarray, threads: int | None = None) -> np.ndarray:
        raise NotImplementedError


class TorchEngine(Engine):
    """The network itself, in eval mode on its device, under autocast for bf16 / fp16."""

    name = "torch"

    def __init__(self, net, device: str, precision: str, channels_last: bool | None):
        import torch

        self.dev = torch_device(device)
        self.net = net.to(self.dev).eval()
        # channels-last ran fp32 convolutions 1.4-2.6x faster on CPUs too (bench_engines.py)
        cl = channels_last if channels_last is not None else self.dev.type in ("cuda", "cpu")
        if cl:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.channels_last = cl
        self.dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]

    def __call__(self, x: np.ndarray, threads: int | None = None) -> np.ndarray:
        import torch

        t = torch.from_numpy(x).to(self.dev)
        if self.channels_last:
            t = t.contiguous(memory_format=torch.channels_last)
        with thread_count(threads), torch.inference_mode():
            if self.dtype is not None:
                with torch.autocast(device_type=self.dev.type, dtype=self.dtype):
                    y = self.net(t)
            else:
                y = self.net(t)
        return y.float().cpu().numpy()


class OnnxRuntimeEngine(Engine):
    """ONNX Runtime on the CPU, one session per input shape."""

    name = "onnxruntime"

    def __init__(self, net):
        self.net, self.key = net, weights_key(net)
        self._sessions: dict[tuple, object] = {}

    def _session(self, shape, threads):
        import onnxruntime as ort

        k = (shape, threads)
        if k not in self._sessions:
            opts = ort.SessionOptions()
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            if threads:
                opts.intra_op_num_threads = int(threads)
            path = export_onnx(self.net, shape, self.key)
            self._sessions[k] = _shared(  # sessions run from several threads safely
                ("ort", self.key, *k),
                lambda: ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"]),
            )
        return self._sessions[k]

    def __call__(self, x: np.ndarray, threads: int | None = None) -> np.ndarray:
        sess = self._session(tuple(x.shape[1:]), threads)
        name = sess.get_inputs()[0].name  # "lr" in our graphs; a package's own may differ
        feed = {name: np.ascontiguousarray(x, np.float32)}
        cond = graph_condition(self.net, len(x))
        if cond is not None:  # a degradation-aware graph: the condition is an input
            feed["condition"] = cond
        return sess.run(None, feed)[0]


class OpenVINOEngine(Engine):
    """OpenVINO on the CPU: the exported graph compiled per batch size and precision.

    ``int8`` quantises the graph after training with NNCF (:mod:`.quantize`), calibrated on
    the inputs it is given, and needs the ``nncf`` package.
    """

    name = "openvino"
    HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16", "int8": "f32"}

    def __init__(self, net, precision: str):
        import openvino as ov

        self.net, self.key, self.precision = net, weights_key(net), precision
        self.core = ov.Core()
        self._compiled: dict[tuple, object] = {}
        self._calibration: list[np.ndarray] = []
        self._quantized = None  # int8: the graph quantised on the calibration inputs
        self._lock = threading.Lock()

    def _model(self, shape, n):
        if self.precision == "int8":  # quantised once (kept on disk), shaped per tile shape
            model = self._quantized_for(shape)[0].clone()
        else:
            model = self.core.read_model(str(export_onnx(self.net, shape, self.key)))
        sizes = {0: [n, *shape]}
        cond = graph_condition(self.net, n)
        if cond is not None:  # the condition input of a degradation-aware graph
            sizes[1] = list(cond.shape)
        model.reshape(sizes)
        return model

    def _quantized_for(self, shape):
        from .quantize import quantized_model

        with self._lock:
            if self._quantized is None:
                onnx_path = export_onnx(self.net, shape, self.key)
                data = self._calibration
                if graph_condition(self.net, 1) is not None:  # calibrated at this condition
                    data = [[t, graph_condition(self.net, len(t))] for t in data or []]
                self._quantized = quantized_model(self.core, onnx_path, self.key, shape, data)
            return self._quantized

    def _compiled_for(self, shape, n, threads):
        k = (shape, n, threads)
        if k not in self._compiled:
            config = {
                "INFERENCE_PRECISION_HINT": self.HINTS[self.precision],
                "PERFORMANCE_HINT": "LATENCY",
            }
            if threads:
                config["INFERENCE_NUM_THREADS"] = int(threads)

            def compiled():
                return self.core.compile_model(self._model(shape, n), "CPU", config)

            key = ("ov", self.key, self.precision, *k)
            if self.precision == "int8":  # the quantised graph's name holds its calibration
                key += (self._quantized_for(shape)[1],)
            compiled = _shared(key, compiled)
            self._compiled[k] = compiled.create_infer_request()  # one per engine: thread-safe
        return self._compiled[k]

    def calibrate(self, tiles: list[np.ndarray]) -> None:
        """Input batches that int8 quantisation is calibrated on (before the first call)."""
        self._calibration = [np.ascontiguousarray(t, np.float32) for t in tiles]

    def __call__(self, x: np.ndarray, threads: int | None = None) -> np.ndarray:
        request = self._compiled_for(tuple(x.shape[1:]), int(x.shape[0]), threads)
        inputs = [np.ascontiguousarray(x, np.float32)]
        cond = graph_condition(self.net, len(x))
        if cond is not None:  # a degradation-aware graph: the condition is an input
            inputs.append(cond)
        request.infer(inputs)
        return request.get_output_tensor(0).data.copy()


def build_engine(name: str, net, device: str, precision: str, channels_last=None) -> Engine:
    """The engine object for a resolved engine name and precision."""
    if name == "torch":
        return TorchEngine(net, device, precision, channels_last)
    if name == "onnxruntime":
        if precision != "fp32":
            raise InputError("the onnxruntime engine runs in fp32 here; use openvino or torch")
        return OnnxRuntimeEngine(net)
    if name == "openvino":
        return OpenVINOEngine(net, precision)
    raise InputError(f"unknown engine {name!r}")
