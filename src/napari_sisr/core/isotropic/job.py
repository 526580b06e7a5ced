"""The whole isotropic job: fit the axial degradation, train on the lateral planes, apply."""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..progress import Progress, StopLike, as_stop

__all__ = ["IsoResult", "isotropic", "iter_isotropic"]


@dataclass
class IsoResult:
    """What :func:`isotropic` made: the stack (or its OME-Zarr path), the axial fit, the
    held-out restoration (PSNR of the network and of linear interpolation along z on the
    stack's own held-out planes), the saved model and the time taken."""

    stack: Any
    fit: Any
    voxel_um: tuple[float, float, float] | None
    validation: list = field(default_factory=list)
    model: Path | None = None
    seconds: float = 0.0

    def summary(self) -> dict:
        last = self.validation[-1] if self.validation else None
        return {
            "output": str(self.stack) if isinstance(self.stack, Path) else None,
            "shape": list(self.stack.shape) if hasattr(self.stack, "shape") else None,
            **self.fit.summary(),
            "voxel_out_um": list(self.voxel_um) if self.voxel_um else None,
            "held_out_psnr": last[1] if last else None,
            "held_out_psnr_linear": last[2] if last else None,
            "model": str(self.model) if self.model else None,
            "seconds": self.seconds,
        }


def iter_isotropic(
    stack,
    *,
    z_step_um: float | None = None,
    pixel_um: float | None = None,
    factor: int | None = None,
    sigma: float | None = None,
    out=None,
    model_out=None,
    train: dict | None = None,
    block: int = 64,
    overwrite: bool = False,
    stop: StopLike = None,
) -> Generator[Progress, None, IsoResult]:
    """Fit, train and apply (module docstring); ``train`` holds
    :class:`~.train.IsoTrainConfig` settings, ``sigma`` skips the fit's blur search (a bead
    measurement's axial width, in xy pixels beyond the lateral one)."""
    from .apply import iter_apply_isotropic
    from .fit import AxialFit, _ratio, fit_axial
    from .net import save_axial
    from .train import IsoTrainConfig, iter_train_isotropic

    t0 = time.perf_counter()
    stop_fn = as_stop(stop)
    if out is not None and Path(out).exists() and not overwrite:
        raise InputError(f"{out} exists: choose another output or allow overwriting")
    yield Progress(0, 1, "fitting the axial blur")
    data = np.asarray(stack)
    if sigma is None:
        fit = fit_axial(data, z_step_um, pixel_um, factor=factor)
    else:
        f = _ratio(z_step_um, pixel_um, factor)
        fit = AxialFit(
            max(2, round(f)),
            f,
            float(sigma),
            pixel_um,
            z_step_um,
            notes=["the axial blur given, not fitted"],
        )
    config = IsoTrainConfig(**(train or {}))
    trained = yield from iter_train_isotropic(data, fit, config, stop=stop_fn)
    meta = {"lo": trained.lo, "hi": trained.hi, "sigma": fit.sigma, "fit": fit.summary()}
    model = save_axial(model_out, trained.net, meta) if model_out else None
    voxel = None
    if z_step_um and pixel_um:
        voxel = (z_step_um / fit.factor, pixel_um, pixel_um)
    result = yield from iter_apply_isotropic(
        data,
        (trained.net, meta),
        out=out,
        voxel_um=(z_step_um, pixel_um, pixel_um) if voxel else None,
        block=block,
        overwrite=overwrite,
        stop=stop_fn,
    )
    return IsoResult(result, fit, voxel, trained.val, model, time.perf_counter() - t0)


def isotropic(stack, *, progress=None, **options) -> IsoResult:
    """Make a z-stack isotropic from the stack itself (:func:`iter_isotropic`)."""
    from ..progress import run_to_end

    return run_to_end(iter_isotropic(stack, **options), progress)
