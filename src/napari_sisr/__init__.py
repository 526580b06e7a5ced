"""napari-sisr: GAN super-resolution for microscopy.

The public Python API is importable from here; heavy modules load on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_LAZY = {
    "DegradationParams": "napari_sisr.core.config",
    "simulate_lr": "napari_sisr.core.degradation",
    "simulate_lr_torch": "napari_sisr.core.degradation",
    "fit_degradation": "napari_sisr.core.fit",
    "iter_fit": "napari_sisr.core.fit",
    "estimate_noise": "napari_sisr.core.unpaired",
    "sigma_from_optics": "napari_sisr.core.unpaired",
    "unpaired_params": "napari_sisr.core.unpaired",
    "estimate_ratio": "napari_sisr.core.pairs",
    "resample_hr": "napari_sisr.core.pairs",
    "Cancelled": "napari_sisr.core.progress",
    "Progress": "napari_sisr.core.progress",
    "TrainConfig": "napari_sisr.core.train_config",
    "DegradationRange": "napari_sisr.core.train_config",
    "iter_train": "napari_sisr.core.training",
    "train": "napari_sisr.core.training",
    "TrainResult": "napari_sisr.core.training",
    "TrainingDiverged": "napari_sisr.core.training",
    "predict": "napari_sisr.core.inference",
    "iter_predict": "napari_sisr.core.inference",
    "make_plan": "napari_sisr.core.tiling",
    "ARCHS": "napari_sisr.core.archs",
    "build_generator": "napari_sisr.core.archs",
    "build_discriminator": "napari_sisr.core.archs",
    "load_model": "napari_sisr.core.modelio",
    "save_model": "napari_sisr.core.modelio",
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover
    from .core.archs import ARCHS, build_discriminator, build_generator
    from .core.config import DegradationParams
    from .core.degradation import simulate_lr, simulate_lr_torch
    from .core.fit import fit_degradation, iter_fit
    from .core.inference import iter_predict, predict
    from .core.modelio import load_model, save_model
    from .core.pairs import estimate_ratio, resample_hr
    from .core.progress import Cancelled, Progress
    from .core.tiling import make_plan
    from .core.train_config import DegradationRange, TrainConfig
    from .core.training import TrainingDiverged, TrainResult, iter_train, train
    from .core.unpaired import estimate_noise, sigma_from_optics, unpaired_params


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'napari_sisr' has no attribute {name!r}")
