"""int8: the exported graph quantised by NNCF, kept on disk beside the exported graphs.

A quantised graph is named by the digests of the weights and of the calibration inputs, so it
is built once per model and calibration set (:mod:`.calibration`) and read back by later jobs
and processes: quantising takes seconds, longer than a small job.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from .cache import shared

__all__ = ["quantized_model"]


def quantized_model(core, onnx_path: Path, key: str, shape, calibration: list[np.ndarray]):
    """``(model, name)``: the exported graph ``onnx_path`` (inputs ``(n, *shape)``) with free
    sizes, quantised on ``calibration`` (zeros when empty), from the disk cache (the folder of
    ``onnx_path``) when it is there."""
    import openvino as ov

    data = calibration or [np.zeros((1, *shape), np.float32)]
    h = hashlib.sha256(key.encode())
    for item in data:  # an input batch, or [batch, condition] for a degradation-aware graph
        for d in item if isinstance(item, list) else [item]:
            h.update(str(d.shape).encode() + np.ascontiguousarray(d, np.float32).tobytes())
    path = onnx_path.parent / f"{key}-int8-{h.hexdigest()[:12]}.xml"

    def build():
        if path.exists() and path.with_suffix(".bin").exists():
            return core.read_model(str(path))
        model = _quantize(core, onnx_path, shape, data)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.partial.xml")
        try:
            ov.save_model(model, str(tmp), compress_to_fp16=False)
            os.replace(tmp.with_suffix(".bin"), path.with_suffix(".bin"))
            os.replace(tmp, path)  # the .xml last: it names a complete graph
        finally:
            tmp.unlink(missing_ok=True)
            tmp.with_suffix(".bin").unlink(missing_ok=True)
        return model

    return shared(("ov-int8", str(path)), build), path.name


def _quantize(core, onnx_path: Path, shape, data):
    import contextlib
    import io

    import nncf

    model = core.read_model(str(onnx_path))
    sizes = {0: [-1, shape[0], -1, -1]}
    if isinstance(data[0], list):  # the condition input of a degradation-aware graph
        sizes[1] = [-1, data[0][1].shape[1]]
    model.reshape(sizes)
    # NNCF draws its own progress bars on stdout, where the CLI writes its JSON lines
    with contextlib.redirect_stdout(io.StringIO()):
        return nncf.quantize(
            model, nncf.Dataset(data), subset_size=len(data), preset=nncf.QuantizationPreset.MIXED
        )
