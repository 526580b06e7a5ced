"""bioimage.io model packages from other tools: 2D image-to-image networks with ONNX weights.

A foreign package is read from its ``rdf.yaml`` (format 0.4 or 0.5) and its ONNX weights only:
PyTorch state dicts and TorchScript files hold pickled Python and are never loaded. What this
package needs to tile the network seam-free comes from the description:

- **axes**: batch, an optional channel axis, then y and x (2D; a z axis is refused);
- **scale**: the output's y / x size relative to the input's (0.5: the ratio of the axes'
  ``scale`` with a size reference; 0.4: the output shape's ``scale``), the same integer on both;
- **halo**: the output halo (output pixels) -> the receptive field in input pixels; a package
  without one is run with cross-faded tiles;
- **input size rule** (``min`` + n * ``step``): tiles are padded by reflection to a valid size
  and the output cropped back;
- **preprocessing**: ``scale_range`` over y and x becomes this package's percentile
  normalisation (computed once per image, so tiles agree); fixed ``scale_linear`` and fixed
  ``zero_mean_unit_variance`` are applied inside the wrapped network; ``ensure_dtype`` is a
  no-op here. Per-sample mean / std normalisation and other operations are refused by name.
- **postprocessing**: ``scale_range`` / ``scale_mean_variance`` back to the input (what this
  package's de-normalisation does anyway) and ``ensure_dtype`` are accepted; others refused.

The network runs through ONNX Runtime (``napari-sisr[onnxruntime]``) or OpenVINO
(``napari-sisr[openvino]``); when its tensors are laid out as ``(batch, channel, y, x)``, need
no folded operation and take any size, the inference engines run the package's own graph.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import shutil
import tempfile
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

__all__ = ["ForeignModel", "foreign_meta", "is_foreign_bmz", "load_foreign_bmz"]

RDF_NAMES = ("rdf.yaml", "bioimageio.yaml")


def is_foreign_bmz(path: str | os.PathLike) -> bool:
    """A bioimage.io zip without this package's own model files inside."""
    from ..io.guard import open_zip
    from .package import OWN_FILES, is_bmz

    if not is_bmz(path):
        return False
    try:
        with open_zip(path) as z:
            names = set(z.namelist())
    except InputError:
        return False  # the loader of our own packages names the problem
    return bool(names & set(RDF_NAMES)) and not set(OWN_FILES) <= names


def _unpack(path: Path) -> tuple[dict, Path]:
    """The package's description and its ONNX weights, extracted into the user cache folder
    (by their digest); read once per zip file version."""
    stat = path.stat()
    rdf, onnx_path = _unpack_version(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if not onnx_path.exists():  # the cache was emptied meanwhile
        _unpack_version.cache_clear()
        rdf, onnx_path = _unpack_version(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    return copy.deepcopy(rdf), onnx_path


@lru_cache(maxsize=16)
def _unpack_version(where: str, mtime_ns: int, size: int) -> tuple[dict, Path]:

    from ..inference.engines import cache_dir
    from ..io.guard import MAX_TEXT_BYTES, load_yaml, open_zip, read_member

    path = Path(where)
    with open_zip(path, "bioimage.io package") as z:
        names = z.namelist()
        rdf_name = next(n for n in RDF_NAMES if n in names)
        text = read_member(z, rdf_name, path.name, MAX_TEXT_BYTES)
        rdf = load_yaml(text.decode("utf-8", errors="replace"), f"{path.name}: {rdf_name}")
        if not isinstance(rdf, dict):
            raise InputError(f"{path.name}: {rdf_name} is not a description")
        onnx = _weights_entry(rdf, path.name)
        source = str(onnx.get("source") or "")
        if source not in names:
            raise InputError(f"{path.name}: its ONNX weights {source!r} are not in the zip")
        data = read_member(z, source, path.name)
    digest = hashlib.sha256(data).hexdigest()
    want = onnx.get("sha256")
    if want and want != digest:
        raise InputError(f"{path.name}: the ONNX weights do not match their sha256 in the rdf")
    folder = cache_dir() / "bmz" / f"onnx-{digest[:16]}"
    if not (folder / "weights.onnx").exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
        (tmp / "weights.onnx").write_bytes(data)
        try:
            os.replace(tmp, folder)
        except OSError:  # another process got there first
            shutil.rmtree(tmp, ignore_errors=True)
    rdf["_weights_sha256"] = digest
    return rdf, folder / "weights.onnx"


def _weights_entry(rdf: dict, name: str) -> dict:
    if rdf.get("type", "model") != "model":
        raise InputError(f"{name} describes a {rdf.get('type')!r}, not a model")
    weights = rdf.get("weights") or {}
    if "onnx" not in weights:
        have = ", ".join(weights) or "none"
        raise InputError(
            f"{name}: only ONNX weights of other tools' packages load here (the others hold "
            f"pickled Python); this package has {have}"
        )
    return weights["onnx"] or {}


def _axes(tensor: dict, name: str, which: str) -> list[dict]:
    """A tensor's axes as dicts with ``type``, ``id`` and the 0.4 / 0.5 size fields."""
    axes = tensor.get("axes")
    if isinstance(axes, str):  # format 0.4: "bcyx"; sizes in tensor["shape"]
        kinds = {"b": "batch", "c": "channel", "y": "space", "x": "space", "z": "space"}
        kinds["i"] = kinds["t"] = "other"
        shape = tensor.get("shape")
        out = []
        for i, a in enumerate(axes):
            ax: dict[str, Any] = {"type": kinds.get(a, "other"), "id": a}
            if isinstance(shape, dict):
                for key in ("min", "step", "scale", "offset"):
                    if key in shape:
                        ax[key] = shape[key][i]
                if "reference_tensor" in shape:
                    ax["reference"] = shape["reference_tensor"]
                if a == "c" and not shape.get("step", [1] * len(axes))[i] and "min" in shape:
                    ax["fixed"] = shape["min"][i]
            elif isinstance(shape, list):
                ax["fixed"] = shape[i]
            if tensor.get("halo"):
                ax["halo"] = tensor["halo"][i]
            out.append(ax)
        return out
    if not isinstance(axes, list):
        raise InputError(f"{name}: the {which} tensor does not describe its axes")
    out = []
    for a in axes:
        ax = {
            "type": a.get("type"),
            "id": a.get("id") or {"batch": "b", "channel": "c"}.get(a.get("type"), ""),
        }
        size = a.get("size")
        if isinstance(size, dict) and "tensor_id" in size:
            ax["reference"] = size["tensor_id"]
            ax["offset"] = size.get("offset", 0)
        elif isinstance(size, dict):
            ax["min"], ax["step"] = size.get("min", 1), size.get("step", 0)
        elif isinstance(size, int):
            ax["fixed"] = size
        if a.get("type") == "channel":
            ax["fixed"] = len(a.get("channel_names") or []) or a.get("size") or 1
        ax["axis_scale"] = a.get("scale", 1.0)
        ax["halo"] = a.get("halo", 0)
        out.append(ax)
    return out


def _operations(ops: list | None) -> list[tuple[str, dict]]:
    """``(id, kwargs)`` of each pre- or postprocessing step (0.5 ``id``, 0.4 ``name``)."""
    return [(str(op.get("id") or op.get("name")), dict(op.get("kwargs") or {})) for op in ops or []]


def foreign_meta(rdf: dict, name: str) -> dict[str, Any]:
    """What this package needs to run the network, from its description (see the module doc).

    Raises :class:`InputError` naming what cannot be run here.
    """
    ins, outs = rdf.get("inputs") or [], rdf.get("outputs") or []
    if len(ins) != 1 or len(outs) != 1:
        raise InputError(
            f"{name}: the network has {len(ins)} inputs and {len(outs)} outputs; image-to-image "
            "networks with one of each load here"
        )
    ax_in, ax_out = _axes(ins[0], name, "input"), _axes(outs[0], name, "output")
    order_in, order_out = _order(ax_in, name, "input"), _order(ax_out, name, "output")
    by_in = {a["id"] if a["type"] != "batch" else "b": a for a in ax_in}
    by_out = {a["id"] if a["type"] != "batch" else "b": a for a in ax_out}
    s = _scale(by_in, by_out, name)
    c_in, c_out = _channels(by_in, by_out)
    if c_in != c_out:
        raise InputError(
            f"{name}: {c_in} channels in, {c_out} out; networks that keep the channels load here"
        )
    halo = max(float(by_out[a].get("halo") or 0) for a in "yx")
    norm, affine = _preprocessing(ins[0].get("preprocessing"), name)
    for op, _ in _operations(outs[0].get("postprocessing")):
        if op not in ("scale_range", "scale_mean_variance", "ensure_dtype"):
            raise InputError(f"{name}: its output postprocessing {op!r} is not supported here")
    step = max(int(by_in[a].get("step") or 0) for a in "yx")
    low = max(int(by_in[a].get("min") or by_in[a].get("fixed") or 1) for a in "yx")
    return {
        "format": "bioimage.io",
        "name": str(rdf.get("name") or name),
        "arch": f"bioimage.io ({rdf.get('name') or name})",
        "preset": "onnx",
        "scale": s,
        "in_channels": c_in,
        "receptive_field": int(math.ceil(halo / s)) if halo > 0 else None,
        "normalization": norm,
        "affine": affine,
        "order_in": order_in,
        "order_out": order_out,
        "size_min": low,
        "size_step": step,
        "min_input_size": low,
        "license": rdf.get("license"),
        "description": rdf.get("description"),
        "weights_sha256": rdf.get("_weights_sha256"),
    }


def _order(axes: list[dict], name: str, which: str) -> str:
    """The axes as letters (``b`` for batch): batch, y, x and an optional channel axis."""
    order = "".join(a["id"] if a["type"] != "batch" else "b" for a in axes)
    if sorted(order.replace("c", "")) != sorted("bxy") or len(order) != len(set(order)):
        raise InputError(
            f"{name}: its {which} axes are {order!r}; 2D networks with batch, y, x and an "
            "optional channel axis load here"
        )
    return order


def _scale(by_in: dict, by_out: dict, name: str) -> int:
    """The one integer scale from input to output along y and x."""
    scales = []
    for a in "yx":
        o, i = by_out[a], by_in[a]
        if "reference" not in o:
            raise InputError(f"{name}: its output size does not follow its input size")
        if "scale" in o:  # 0.4: output = input * scale + 2 * offset
            s = float(o["scale"])
        else:  # 0.5: sizes in the ratio of the axes' physical scales
            s = float(i.get("axis_scale") or 1.0) / float(o.get("axis_scale") or 1.0)
        if float(o.get("offset") or 0) != 0:
            raise InputError(f"{name}: its output is cropped by an offset; not supported")
        scales.append(s)
    s = scales[0]
    if scales[0] != scales[1] or s < 1 or abs(s - round(s)) > 1e-6:
        raise InputError(
            f"{name}: its output is {scales[0]:g} x {scales[1]:g} its input; a single integer "
            "scale is needed"
        )
    return int(round(s))


def _channels(by_in: dict, by_out: dict) -> tuple[int, int]:
    """Channels in and out (a fixed count, or the input's through a size reference)."""
    c_in = int(by_in["c"].get("fixed") or 1) if "c" in by_in else 1
    c_out = 1
    if "c" in by_out:
        c_out = int(by_out["c"].get("fixed") or (c_in if "reference" in by_out["c"] else 1))
    return c_in, c_out


def _preprocessing(ops, name: str) -> tuple[dict, tuple[float, float] | None]:
    """Our normalisation and an affine ``gain * x + offset`` applied inside the network."""
    norm: dict[str, Any] = {"mode": "none"}
    gain, offset = 1.0, 0.0
    for op, kw in _operations(ops):
        if op == "ensure_dtype":
            continue
        if op == "scale_range" and norm["mode"] == "none" and (gain, offset) == (1.0, 0.0):
            axes = kw.get("axes")
            if axes is not None and set(axes) - set("yxc") and not set(axes) <= {"y", "x"}:
                raise InputError(f"{name}: scale_range over axes {axes!r} is not supported")
            norm = {
                "mode": "percentile",
                "low": float(kw.get("min_percentile", 0.0)),
                "high": float(kw.get("max_percentile", 100.0)),
            }
        elif op == "scale_linear" and np.ndim(kw.get("gain", 1.0)) == 0:
            g, o = float(kw.get("gain", 1.0)), float(kw.get("offset", 0.0))
            gain, offset = g * gain, g * offset + o
        elif op in ("zero_mean_unit_variance", "fixed_zero_mean_unit_variance") and (
            kw.get("mode") == "fixed" or op.startswith("fixed")
        ):
            mean, std = kw.get("mean"), kw.get("std")
            if np.ndim(mean) or np.ndim(std):
                raise InputError(f"{name}: per-channel mean / std normalisation is not supported")
            g = 1.0 / (float(std) + float(kw.get("eps", 1e-6)))
            gain, offset = g * gain, g * (offset - float(mean))
        else:
            raise InputError(
                f"{name}: its input preprocessing {op!r} ({kw.get('mode', 'as described')}) "
                "is not supported here: it would be computed per tile, and tiles would not agree"
            )
    return norm, None if (gain, offset) == (1.0, 0.0) else (gain, offset)


def _runtime(path: Path):
    """A callable ``f(x) -> y`` on float32 arrays: ONNX Runtime, else OpenVINO."""
    import importlib.util

    if importlib.util.find_spec("onnxruntime") is not None:
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        return lambda x: sess.run(None, {name: x})[0]
    if importlib.util.find_spec("openvino") is not None:
        import openvino as ov

        compiled = ov.Core().compile_model(str(path), "CPU")
        return lambda x: compiled(x)[0]
    raise InputError(
        "this bioimage.io package's network is ONNX: pip install 'napari-sisr[onnxruntime]' "
        "(or [openvino]) to run it"
    )


def _module_base():
    import torch.nn as nn

    return nn.Module


class ForeignModel(_module_base()):
    """A foreign package's ONNX network as a ``(N, C, y, x) -> (N, C, s*y, s*x)`` module.

    It has no trainable parameters; ``graph_digest`` (a buffer) ties job keys and caches to
    the ONNX weights. ``onnx_graph`` is the package's graph when the engines can run it as it
    is (layout ``bcyx``, nothing folded in, any input size), else ``None``.
    """

    def __init__(self, meta: dict, onnx_path: Path):
        import torch

        super().__init__()
        self.meta = meta
        self.arch = meta["arch"]
        self.scale = int(meta["scale"])
        self.in_channels = int(meta["in_channels"])
        self.receptive_field = meta["receptive_field"]
        self.min_input_size = int(meta["size_min"])
        self.onnx_path = Path(onnx_path)
        digest = bytes.fromhex(meta["weights_sha256"])
        self.register_buffer("graph_digest", torch.tensor(list(digest), dtype=torch.uint8))
        plain = (
            meta["order_in"] == meta["order_out"] == "bcyx"
            and meta["affine"] is None
            and meta["size_step"] <= 1
        )
        self.onnx_graph = self.onnx_path if plain else None
        self._run = None
        self._lock = threading.Lock()

    def _valid(self, n: int) -> int:
        low, step = int(self.meta["size_min"]), int(self.meta["size_step"])
        if n <= low or step <= 0:
            return max(n, low)
        return low + -(-(n - low) // step) * step

    def forward(self, x):
        import torch
        import torch.nn.functional as F

        from ..inference.cache import shared

        with self._lock:
            if self._run is None:  # one session per graph for all jobs of the process
                self._run = shared(
                    ("bmz-foreign", str(self.onnx_path)), lambda: _runtime(self.onnx_path)
                )
        h, w = x.shape[-2:]
        ph, pw = self._valid(h) - h, self._valid(w) - w
        t = x.detach().float()
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            t = F.pad(t, (0, pw, 0, ph), mode=mode)
        if self.meta["affine"] is not None:
            g, o = self.meta["affine"]
            t = t * g + o
        arr = _to_order(t.cpu().numpy(), "bcyx", self.meta["order_in"])
        y = _to_order(
            np.asarray(self._run(np.ascontiguousarray(arr, np.float32))),
            self.meta["order_out"],
            "bcyx",
        )
        s = self.scale
        return torch.from_numpy(np.ascontiguousarray(y[..., : h * s, : w * s])).to(x.device)


def _to_order(a: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Reorder (and add or drop a size-1 channel axis) between two axis orders."""
    if "c" in src and "c" not in dst:
        a = np.take(a, 0, axis=src.index("c"))
        src = src.replace("c", "")
    if "c" in dst and "c" not in src:
        a, src = a[None], "c" + src
    return np.transpose(a, [src.index(k) for k in dst])


def load_foreign_bmz(path: str | os.PathLike) -> ForeignModel:
    """The network of another tool's bioimage.io zip (see the module doc), eval mode."""
    path = Path(path)
    rdf, onnx_path = _unpack(path)
    try:
        meta = foreign_meta(rdf, path.name)
    except (TypeError, KeyError, AttributeError, IndexError, ValueError) as err:
        if isinstance(err, InputError):
            raise
        raise InputError(
            f"{path.name}: its description is not of the shape bioimage.io models have "
            f"({type(err).__name__}: {err})"
        ) from None
    return ForeignModel(meta, onnx_path).eval()
