"""What inference keeps for later: the ONNX graphs of the networks, exported once per model and
tile shape into a cache folder, and the graphs compiled from them, shared by the jobs of a
process (:func:`shared`).

The folder is ``NAPARI_SISR_CACHE_DIR``, else the user cache folder; a graph is named by a
digest of the network's structure and weights (:func:`weights_key`), so a retrained model gets
a new graph and an unchanged one is never exported twice.

A degradation-aware network's graph takes its condition as a second input (``condition``,
``(n, 4)``) rather than building it in: every degradation a batch of images is told then runs
through one exported, compiled graph (:func:`graph_condition` gives the values to feed).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = [
    "OPSET",
    "SHARED_GRAPHS",
    "cache_dir",
    "export_onnx",
    "graph_condition",
    "shared",
    "weights_key",
]

#: ONNX opset of the exported graphs.
OPSET = 18
#: The buffer of a degradation-aware network that its graphs take as an input.
CONDITION = "condition"


def cache_dir() -> Path:
    """Where exported graphs are kept (``NAPARI_SISR_CACHE_DIR`` overrides it)."""
    env = os.environ.get("NAPARI_SISR_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("napari-sisr", appauthor=False)) / "engines"


def _conditioned(net) -> bool:
    return bool(getattr(net, "conditioned", False))


def graph_condition(net, n: int) -> np.ndarray | None:
    """The ``condition`` input of ``net``'s graph for a batch of ``n`` (None: no such input)."""
    if not _conditioned(net):
        return None
    c = net.condition.detach().cpu().float().numpy()[None]
    return np.ascontiguousarray(np.repeat(c, n, axis=0), np.float32)


def weights_key(net) -> str:
    """A digest of the network's structure and weights (names the exported graphs); the
    condition of a degradation-aware network is left out (its graphs take it as an input)."""
    h = hashlib.sha256(type(net).__qualname__.encode())
    skip = CONDITION if _conditioned(net) else None
    for k, v in net.state_dict().items():
        if k == skip:
            continue
        h.update(k.encode())
        h.update(str(tuple(v.shape)).encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:20]


_EXPORT_LOCK = threading.Lock()


def export_onnx(net, shape: tuple[int, int, int], key: str) -> Path:
    """The network's ONNX graph for ``(C, y, x)`` inputs of any batch size (cached)."""
    import torch

    if hasattr(net, "onnx_graph"):  # a bioimage.io package's own graph
        if net.onnx_graph is None:
            raise InputError(
                "this bioimage.io network is adapted around its ONNX graph (axis order, "
                "input size or folded preprocessing): run it with engine='torch' or 'auto'"
            )
        return Path(net.onnx_graph)
    path = cache_dir() / f"{key}-{shape[0]}x{shape[1]}x{shape[2]}-opset{OPSET}.onnx"
    with _EXPORT_LOCK:
        if path.exists():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
        import copy
        import warnings

        model = copy.deepcopy(net).cpu().float().eval()
        inputs: tuple = (torch.zeros((1, *shape)),)
        names, axes = ["lr"], {"lr": {0: "n"}, "sr": {0: "n"}}
        cond = graph_condition(model, 1)
        if cond is not None:
            inputs += (torch.from_numpy(cond),)
            names.append(CONDITION)
            axes[CONDITION] = {0: "n"}
        try:
            with warnings.catch_warnings(), torch.inference_mode():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    model,
                    inputs,
                    str(tmp),
                    input_names=names,
                    output_names=["sr"],
                    dynamic_axes=axes,
                    opset_version=OPSET,
                    dynamo=False,
                )
            os.replace(tmp, path)
        except OSError as err:  # the cache cannot be written: a full disk, a quota
            tmp.unlink(missing_ok=True)
            from ..errors import write_failed

            raise write_failed(
                path,
                err,
                "nothing was left behind; free space, set NAPARI_SISR_CACHE_DIR to "
                "another disk, or run with engine torch (--engine torch)",
            ) from err
        except Exception as err:
            tmp.unlink(missing_ok=True)
            raise InputError(f"this model cannot be exported to ONNX ({err})") from err
    return path


# ---------------------------------------------------------------- compiled, in memory
_SHARED: OrderedDict = OrderedDict()
_SHARED_LOCK = threading.Lock()
#: Compiled graphs kept for later jobs of the process (a batch of images, widget clicks).
SHARED_GRAPHS = 8


def shared(key: tuple, make):
    """A compiled graph or session shared by the jobs of this process (least recently used
    dropped): compiling costs as much as running a small image."""
    with _SHARED_LOCK:
        if key in _SHARED:
            _SHARED.move_to_end(key)
            return _SHARED[key]
    made = make()
    with _SHARED_LOCK:
        _SHARED[key] = made
        while len(_SHARED) > SHARED_GRAPHS:
            _SHARED.popitem(last=False)
    return made
