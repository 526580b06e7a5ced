"""The network side of inference: resolve a model argument, measure its receptive field, and
carry it into dask tasks (threads or cluster workers) where it runs tile batches.

:class:`ModelRunner` is what the task graph holds. It pickles project generators as state dict +
rebuild information (never as a pickled module), rebuilds them once per process, picks the
device there, and retries batches or tiles that run out of memory with smaller pieces.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import InputError, InputTypeError
from ..progress import Cancelled
from .intensity import DEFAULT_NORMALIZATION

log = logging.getLogger(__name__)

_RF_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: One forward pass at a time per process: it gets all of torch's threads (and one tile's
#: activations in memory) while other dask threads read, normalise and write blocks.
FORWARD_LOCK = threading.Lock()


@dataclass
class ModelInfo:
    """What inference needs to know about a network."""

    scale: int
    in_channels: int
    receptive_field: int | None  # LR pixels; None = unbounded (global operations)
    normalization: dict[str, Any]
    name: str = "model"
    min_size: int = 1
    meta: dict[str, Any] = field(default_factory=dict)


def _first_conv_channels(net: nn.Module) -> int | None:
    for m in net.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            return int(m.in_channels)
    return None


def resolve_model(model, scale: int | None = None, device: str = "cpu") -> tuple[nn.Module, dict]:
    """A network from a project model, a model name/path, or any ``nn.Module``.

    Returns the module (eval mode) and its meta dict (empty for plain modules).
    """
    if isinstance(model, str | os.PathLike):
        from ..modelio import load_model

        model = load_model(model, device="cpu")
    if not isinstance(model, nn.Module):
        raise InputTypeError(
            f"model must be a model name, path or torch.nn.Module, got {type(model)}"
        )
    model.eval()
    meta = dict(getattr(model, "meta", None) or {})
    own = getattr(model, "scale", None)
    if scale is not None and own is not None and int(own) != int(scale):
        raise InputError(f"scale={scale} given but the model upscales by {own}")
    if scale is None and own is None and meta.get("scale") is None:
        raise InputError("the model has no 'scale' attribute: pass scale=")
    return model, meta


def model_info(net: nn.Module, meta: dict, scale: int | None = None) -> ModelInfo:
    """Collect scale, channels, receptive field and normalisation of a resolved network."""
    s = int(scale or getattr(net, "scale", None) or meta["scale"])
    cin = getattr(net, "in_channels", None) or meta.get("in_channels") or _first_conv_channels(net)
    if cin is None:
        raise InputError("cannot tell the model's input channels: set model.in_channels")
    rf: int | None
    try:
        rf = int(net.receptive_field)
    except (AttributeError, NotImplementedError, TypeError):
        rf = meta.get("receptive_field")
        if rf is None and "receptive_field" not in meta:  # stated unknown: not measurable
            rf = measure_receptive_field(net, int(cin), s)
    norm = dict(meta.get("normalization") or DEFAULT_NORMALIZATION)
    name = str(meta.get("name") or getattr(net, "arch", "") or type(net).__name__)
    min_size = int(getattr(net, "min_input_size", None) or meta.get("min_input_size") or 1)
    return ModelInfo(s, int(cin), rf, norm, name, min_size, meta)


def measure_receptive_field(
    net: nn.Module, in_channels: int, scale: int, max_size: int = 256
) -> int | None:
    """Receptive-field radius in LR pixels, measured from input gradients (cached per module).

    The output pixels of the centre LR pixel are back-propagated to a random input; the radius
    is the farthest input pixel with a non-zero gradient, plus one pixel of margin. ``None``
    when the influence reaches the border of a ``max_size`` input (global operations).
    """
    if net in _RF_CACHE:
        return _RF_CACHE[net]
    param = next(net.parameters(), None)
    dev = param.device if param is not None else torch.device("cpu")
    gen = torch.Generator().manual_seed(0)
    n, result = 33, None
    while n <= max_size + 1:
        c = n // 2
        grad_sum = torch.zeros(n, n)
        for _ in range(2):
            x = torch.randn(1, in_channels, n, n, generator=gen).to(dev).requires_grad_(True)
            with torch.enable_grad():
                y = net(x)
                y[..., c * scale : (c + 1) * scale, c * scale : (c + 1) * scale].sum().backward()
            grad_sum += x.grad.detach().abs().sum(dim=(0, 1)).cpu()
        rows, cols = torch.nonzero(grad_sum, as_tuple=True)
        radius = int(max((rows - c).abs().max(), (cols - c).abs().max())) if len(rows) else 0
        if radius < c - 1:
            result = radius + 1
            break
        n = 2 * n - 1
    if result is None:
        log.warning("the model's output depends on the whole input (global operations)")
    _RF_CACHE[net] = result
    return result


def _is_oom(err: BaseException) -> bool:
    if isinstance(err, MemoryError):
        return True
    oom_type = getattr(torch.cuda, "OutOfMemoryError", ())
    if oom_type and isinstance(err, oom_type):
        return True
    msg = str(err).lower()
    return isinstance(err, RuntimeError) and (
        "out of memory" in msg or "can't allocate memory" in msg or "cannot allocate" in msg
    )


class ModelRunner:
    """Runs batches of normalised tiles through a network, in whatever process holds it.

    Parameters
    ----------
    net : nn.Module
        The network, mapping ``(N, C, y, x)`` to ``(N, C, s*y, s*x)``.
    scale, halo : int
        Upscaling factor; halo used when a tile must be split after running out of memory.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``; resolved where it runs.
    precision : {"fp32", "bf16", "fp16", "int8"}
        Precision of the forward pass, resolved for the device
        (:func:`~napari_sisr.core.inference.engines.pick_precision`).
    engine : {"torch", "openvino", "onnxruntime"}
        What runs the forward pass (:mod:`~napari_sisr.core.inference.engines`); the engine
        is built in the process that runs the tiles.
    channels_last : bool or None
        Channels-last memory format; ``None`` = on for CUDA only.
    torch_threads : int or dict or None
        CPU threads of each forward pass, set in the thread that runs it and restored after
        (a dict maps a worker's host to the number of worker processes on it, for clusters);
        ``None`` keeps torch's default (every core). Forward passes of one process run one
        at a time (:data:`FORWARD_LOCK`), so each may use all those threads.
    ensemble : bool
        Average the network's answers for the tile flipped and rotated
        (:mod:`~napari_sisr.core.inference.ensemble`): eight forward passes per batch, four
        for degradation-aware networks.
    """

    def __init__(
        self,
        net: nn.Module,
        scale: int,
        halo: int,
        device: str = "auto",
        precision: str = "fp32",
        channels_last: bool | None = None,
        torch_threads: int | dict | None = None,
        engine: str = "torch",
        ensemble: bool = False,
    ):
        self.net, self.scale, self.halo = net, int(scale), int(halo)
        self.ensemble = bool(ensemble)
        self.device, self.precision, self.engine_name = device, precision, engine
        self.channels_last, self.torch_threads = channels_last, torch_threads
        self.calibration: list[np.ndarray] = []  # int8: input batches to calibrate on
        #: The job's stop condition (local runs): a tile waiting for its turn to run gives up
        #: once it is true, so cancelling waits for at most the forward pass under way.
        self.stop: Callable[[], bool] | None = None
        self._lock = threading.Lock()
        self._ready = None

    # -- pickling: project generators travel as state dict + rebuild info
    def __getstate__(self) -> dict:
        skip = ("_lock", "_ready", "stop")
        state = {k: v for k, v in self.__dict__.items() if k not in skip}
        net = self.net
        arch = getattr(net, "arch", "")
        from ..archs import ARCHS

        if arch in ARCHS and hasattr(net, "arch_kwargs"):
            tensors = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
            state["net"] = None
            state["rebuild"] = {
                "arch": arch,
                "preset": getattr(net, "preset", "custom"),
                "scale": int(net.scale),
                "in_channels": int(net.in_channels),
                "arch_kwargs": dict(net.arch_kwargs),
                "meta": dict(getattr(net, "meta", {}) or {}),
                "tensors": tensors,
            }
        return state

    def __setstate__(self, state: dict) -> None:
        rebuild = state.pop("rebuild", None)
        self.__dict__.update(state)
        self._lock, self._ready, self.stop = threading.Lock(), None, None
        if rebuild is not None:
            from ..archs import build_generator

            net = build_generator(
                rebuild["arch"],
                rebuild["preset"] if rebuild["preset"] != "custom" else "fast",
                rebuild["scale"],
                rebuild["in_channels"],
                **rebuild["arch_kwargs"],
            )
            net.load_state_dict({k: torch.from_numpy(v) for k, v in rebuild["tensors"].items()})
            net.meta = rebuild["meta"]
            self.net = net.eval()

    def _threads(self) -> int | None:
        t = self.torch_threads
        if isinstance(t, dict):
            try:
                from distributed import get_worker

                host = get_worker().address.split("://")[-1].rsplit(":", 1)[0]
                return max(1, (os.cpu_count() or 1) // max(1, t.get(host, 1)))
            except (ImportError, ValueError):
                return None
        return t

    def engine(self):
        """The engine that runs the forward passes, built once per process."""
        from .engines import build_engine

        with self._lock:
            if self._ready is None:
                engine = build_engine(
                    self.engine_name, self.net, self.device, self.precision, self.channels_last
                )
                if self.calibration and hasattr(engine, "calibrate"):
                    engine.calibrate(self.calibration)
                self._ready = engine
            return self._ready

    def _forward(self, x: np.ndarray) -> np.ndarray:
        if not self.ensemble:
            return self._pass(x)
        from .ensemble import orientations, turn, unturn
        from .steering import is_degradation_aware

        ways = orientations(keep_axes=is_degradation_aware(self.net))
        total = None
        for o in ways:  # one pass at a time: cancelling waits for one pass, not eight
            y = unturn(self._pass(turn(x, o)), o)
            total = y.astype(np.float32) if total is None else total + y
        return total / len(ways)

    def _pass(self, x: np.ndarray) -> np.ndarray:
        engine = self.engine()
        with FORWARD_LOCK:
            if self.stop is not None and self.stop():
                raise Cancelled("cancelled by the user")
            return engine(x, self._threads())

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Run ``(N, C, y, x)`` float32 through the network, splitting on out-of-memory."""
        try:
            return self._forward(x)
        except Exception as err:  # noqa: BLE001 - only out-of-memory is handled
            if not _is_oom(err):
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        if x.shape[0] > 1:
            self._say(f"a batch of {x.shape[0]} tiles ran out of memory; running them one by one")
            half = x.shape[0] // 2
            return np.concatenate([self(x[:half]), self(x[half:])])
        return self._split(x)

    def _split(self, x: np.ndarray) -> np.ndarray:
        from .tiling import make_plan, stitch, take_window

        ny, nx = x.shape[-2:]
        core = max(ny, nx) - 2 * self.halo
        new = max(8, math.ceil(core / 2))
        if new >= core or max(ny, nx) <= 8:
            raise MemoryError(f"a tile of {ny}x{nx} px does not fit in memory even when split")
        self._say(f"a {ny}x{nx} px tile ran out of memory; retrying with {new} px tiles")
        plan = make_plan((ny, nx), new, self.halo, self.scale)
        outs = [np.moveaxis(self(take_window(x, t.src)), (0, 1), (-2, -1)) for t in plan.tiles]
        return np.moveaxis(stitch(plan, outs), (-2, -1), (0, 1))

    def _say(self, msg: str) -> None:
        log.warning(msg)
