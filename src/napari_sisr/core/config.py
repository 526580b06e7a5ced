"""Validated configuration objects shared by every part of the package.

Configurations are plain pydantic v2 models: they are built and validated when a job starts
(never kept as widget state), carry a ``version`` field, and round-trip through JSON files.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CONFIG_VERSION = 1

#: Integer scales the degradation model supports.
SUPPORTED_SCALES = (2, 3, 4, 8)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` so that a crash never leaves a half-written file.

    The text goes to a temporary file in the same folder, which is flushed, synced and then
    renamed over ``path`` (an atomic operation on POSIX and Windows file systems).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class DegradationParams(BaseModel):
    """Parameters of the physical degradation model.

    ``LR = gain * D_s(K_sigma * T_shift(HR)) + offset + noise``

    Attributes
    ----------
    scale : int
        Integer down-scaling factor ``s``; ``D_s`` is the mean over each ``s x s`` block.
    sigma : float
        Standard deviation of the Gaussian PSF in HR pixels, excluding pixel integration.
        For an anisotropic PSF this is the geometric mean of ``sigma_y`` and ``sigma_x``.
    sigma_y, sigma_x : float, optional
        Per-axis PSF widths (HR pixels); default to ``sigma``.
    sigma_z : float, optional
        PSF width along Z (planes) for 3D blur of z-stacks; ``None`` blurs plane by plane.
    noise_var : float
        Variance of the additive Gaussian noise, in LR intensity units (``b`` of the
        Poisson-Gaussian model).
    poisson_a : float, optional
        Signal-dependent noise gain ``a``: the noise variance is ``a * signal + noise_var``.
    shift_yx : (float, float)
        Translation of the HR content before blurring, in HR pixels:
        ``T_shift(HR)(y, x) = HR(y - dy, x - dx)``.
    gain, offset : float
        Linear intensity mapping from HR to LR units.
    residual_std, residual_lag1 : float, optional
        Fit diagnostics: standard deviation of (real LR - noise-free simulated LR) and its mean
        lag-1 autocorrelation (near 0 for white noise).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    version: int = CONFIG_VERSION
    scale: int = Field(4, description="Integer down-scaling factor")
    sigma: float = Field(1.5, ge=0.0, le=64.0)
    sigma_y: float | None = Field(None, ge=0.0, le=64.0)
    sigma_x: float | None = Field(None, ge=0.0, le=64.0)
    sigma_z: float | None = Field(None, ge=0.0, le=64.0)
    noise_var: float = Field(0.0, ge=0.0)
    poisson_a: float | None = Field(None, ge=0.0)
    shift_yx: tuple[float, float] = (0.0, 0.0)
    gain: float = 1.0
    offset: float = 0.0
    residual_std: float | None = None
    residual_lag1: float | None = None
    source: str = Field("manual", description="'manual', 'fit', 'unpaired' or 'optics'")
    notes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("scale")
    @classmethod
    def _check_scale(cls, v: int) -> int:
        if v < 1 or v > 16:
            raise ValueError(f"scale must be an integer between 1 and 16, got {v}")
        return v

    @field_validator("gain")
    @classmethod
    def _check_gain(cls, v: float) -> float:
        if not math.isfinite(v) or v == 0:
            raise ValueError(f"gain must be finite and non-zero, got {v}")
        return v

    @model_validator(mode="after")
    def _check_anisotropy(self) -> DegradationParams:
        if (self.sigma_y is None) != (self.sigma_x is None):
            raise ValueError("give both sigma_y and sigma_x, or neither")
        return self

    # ------------------------------------------------------------------ helpers
    @property
    def sigma_yx(self) -> tuple[float, float]:
        """PSF widths ``(sigma_y, sigma_x)`` in HR pixels."""
        if self.sigma_y is not None and self.sigma_x is not None:
            return float(self.sigma_y), float(self.sigma_x)
        return float(self.sigma), float(self.sigma)

    @property
    def noise_std(self) -> float:
        """Standard deviation of the additive Gaussian noise (LR units)."""
        return math.sqrt(self.noise_var)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the parameters as JSON (atomically) and return the path."""
        atomic_write_text(path, self.model_dump_json(indent=2) + "\n")
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> DegradationParams:
        """Read parameters written by :meth:`save` (or any JSON with the same keys)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"degradation file not found: {path}") from None
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON: {err}") from None
        return cls.model_validate(data)

    def summary(self) -> dict[str, Any]:
        """The stable, flat JSON summary printed by ``napari-sisr fit``."""
        out = self.model_dump(mode="json")
        out.pop("notes", None)
        return out
