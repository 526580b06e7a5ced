"""The settings of a super-resolution job, validated once for every front end.

:class:`PredictConfig` is what :func:`~napari_sisr.core.inference.predict.predict` takes as
keyword arguments (or as ``config=``), what the command line builds from its flags and what
the Super-resolve widget builds from its controls; its defaults are the defaults of all three.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import InputError
from ..limits import MAX_SCALE, MAX_TILE, MIN_TILE
from .engines import ENGINES, PRECISIONS
from .steering import Steering

__all__ = ["DEFAULT_TILE", "ENGINES", "PRECISIONS", "PredictConfig"]

#: Default tile core in LR pixels. 512 rather than 256: with the compiled engines a 256 px tile
#: spends a larger share of each forward pass on its halo, and the gigapixel job of
#: ``default-4x`` ran 15 % faster at 512 (benchmarks/bench_engines.py); a tile still takes only
#: a few seconds, so progress and cancelling stay responsive.
DEFAULT_TILE = 512
#: Largest lateral pixel size (um, in the sample) of a microscope image: more is a unit mistake.
MAX_PIXEL_UM = 50.0


class PredictConfig(BaseModel):
    """How to super-resolve an image (everything but the image, the model and the output).

    Attributes
    ----------
    scale : int, optional
        Upscaling factor, for plain ``nn.Module`` models that carry none.
    tile : int
        Tile core in LR pixels (:data:`DEFAULT_TILE`).
    halo : int or "auto"
        Context read around each tile, LR pixels; ``"auto"`` = the model's receptive field,
        which makes tiled output equal untiled output.
    batch : int
        Tiles per forward pass.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    engine : {"auto", "torch", "openvino", "onnxruntime"}
        What runs the network: ``auto`` is OpenVINO on a CPU when it is installed, else torch.
    precision : {"auto", "fp32", "bf16", "fp16", "int8"}
        Precision of the forward pass: ``auto`` is fp32; a low precision the device does not
        execute natively is refused; ``int8`` (OpenVINO) is quantised once per model, calibrated
        on real sample images (on the input's tiles when intensities are not normalised).
    dtype : str, optional
        Output dtype; default the input's (floats for non-numeric inputs).
    blend : bool, optional
        Cross-fade overlapping tiles; default only for models without a finite receptive field.
    rgb, channel_axis, axes, level, pixel_size : optional
        Input layout: colour last axis, the channel axis, axis names (e.g. ``"tczyx"``), the
        pyramid level of multiscale inputs, and the pixel size in micrometres (a number, a
        ``(y, x)`` pair or a dict by axis name) when the input does not carry it.
    normalization : dict, optional
        Overrides the model's intensity normalisation (``{"mode": "percentile", "low": ...}``).
    intensity_range : (float, float), optional
        Fixed ``(low, high)`` input range instead of percentiles.
    torch_threads : int or dict, optional
        CPU threads of each forward pass (a dict: worker host -> worker processes there).
    num_workers : int, optional
        Local dask threads (default 2: one runs the network while the other reads and writes).
    degradation : Steering, optional
        For a degradation-aware model: the degradation of the image (a fit, its JSON path,
        ``{"sigma": .., "noise_std": .., "optics": ..}`` or ``"auto"``; see
        :class:`~napari_sisr.core.inference.steering.Steering`). Unset is automatic: noise
        estimated from the image, PSF width from its metadata or the model card. Refused for
        other models.
    ensemble : bool
        Self-ensemble: run each tile in eight orientations (flipped and rotated; four for a
        degradation-aware model) and average the answers turned back
        (:mod:`~napari_sisr.core.inference.ensemble`): a little more accurate on real
        pairs (``benchmarks/bench_ensemble.py``), for eight times the compute.
    ngff : {"0.4", "0.5"}
        OME-Zarr version of an ``out`` folder: 0.4 on zarr v2 (default, opened by every
        OME-Zarr reader) or 0.5 on zarr v3 with sharding (far fewer files for huge images).
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    scale: int | None = Field(None, ge=1, le=MAX_SCALE)
    tile: int = Field(DEFAULT_TILE, ge=MIN_TILE, le=MAX_TILE)
    halo: int | Literal["auto"] = "auto"
    batch: int = Field(1, ge=1, le=4096)
    device: str = "auto"
    engine: Literal["auto", "torch", "openvino", "onnxruntime"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16", "int8"] = "auto"
    dtype: str | None = None
    blend: bool | None = None
    rgb: bool | None = None
    channel_axis: int | None = None
    axes: str | None = None
    level: int = Field(0, ge=0, le=64)
    pixel_size: float | tuple[float, float] | dict[str, float] | None = None
    normalization: dict[str, Any] | None = None
    intensity_range: tuple[float, float] | None = None
    torch_threads: int | dict[str, int] | None = None
    num_workers: int | None = Field(None, ge=1, le=256)
    ngff: Literal["0.4", "0.5"] = "0.4"
    ensemble: bool = False
    degradation: Steering | None = None

    @field_validator("degradation", mode="before")
    @classmethod
    def _check_degradation(cls, v):
        return Steering.coerce(v)

    @field_validator("halo")
    @classmethod
    def _check_halo(cls, v):
        if v != "auto" and int(v) < 0:
            raise InputError(f"halo must be >= 0 or 'auto', got {v}")
        return v

    @field_validator("dtype", mode="before")
    @classmethod
    def _check_dtype(cls, v):
        if v is None:
            return None
        import numpy as np

        try:
            dt = np.dtype(v)
        except TypeError:
            raise InputError(f"unknown output dtype {v!r}") from None
        if dt.kind not in "uif":
            raise InputError(f"output dtype must be an integer or float type, got {dt}")
        return dt.name

    @field_validator("pixel_size")
    @classmethod
    def _check_pixel_size(cls, v):
        values = v.values() if isinstance(v, dict) else v if isinstance(v, tuple) else [v]
        for x in [] if v is None else values:
            if not (math.isfinite(float(x)) and float(x) > 0):
                raise InputError(f"pixel size must be a positive number, got {v}")
        lateral = [v.get(a) for a in "yx"] if isinstance(v, dict) else list(values or [])
        for x in (float(x) for x in lateral if x is not None):
            if x > MAX_PIXEL_UM:
                raise InputError(
                    f"pixel size {x:g} um is more than a microscope image has in the sample "
                    f"({MAX_PIXEL_UM:g} um): the unit is micrometres (65 nm is 0.065)"
                )
        return v

    @field_validator("intensity_range")
    @classmethod
    def _check_range(cls, v):
        if v is not None and not (all(math.isfinite(x) for x in v) and v[1] > v[0]):
            raise InputError(f"intensity_range must be (low, high) with high > low, got {v}")
        return v

    @field_validator("torch_threads")
    @classmethod
    def _check_threads(cls, v):
        if isinstance(v, int) and v < 1:
            raise InputError(f"torch_threads must be at least 1, got {v}")
        return v

    @classmethod
    def build(cls, config: PredictConfig | None = None, **options: Any) -> PredictConfig:
        """``config`` (or the defaults) with ``options`` laid over it, validated."""
        base = config.model_dump(exclude_unset=True) if config is not None else {}
        return cls(**{**base, **options})
