"""napari-sisr: GAN super-resolution for microscopy.

The public Python API is importable from here; heavy modules load on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_LAZY = {
    "DegradationParams": "napari_sisr.core.degradation.params",
    "simulate_lr": "napari_sisr.core.degradation.simulate",
    "simulate_lr_torch": "napari_sisr.core.degradation.simulate",
    "fit_degradation": "napari_sisr.core.degradation.fit",
    "iter_fit": "napari_sisr.core.degradation.fit",
    "estimate_noise": "napari_sisr.core.degradation.noiselevel",
    "sigma_from_optics": "napari_sisr.core.degradation.optics",
    "estimate_sigma": "napari_sisr.core.degradation.blur_estimate",
    "unpaired_params": "napari_sisr.core.degradation.unpaired",
    "estimate_ratio": "napari_sisr.core.degradation.pairs",
    "resample_hr": "napari_sisr.core.degradation.pairs",
    "fit_pair": "napari_sisr.core.degradation.pairs",
    "iter_fit_pair": "napari_sisr.core.degradation.pairs",
    "PairFit": "napari_sisr.core.degradation.pairs",
    "Cancelled": "napari_sisr.core.progress",
    "Progress": "napari_sisr.core.progress",
    "TrainProgress": "napari_sisr.core.progress",
    "PredictProgress": "napari_sisr.core.progress",
    "Scores": "napari_sisr.core.progress",
    "InputError": "napari_sisr.core.errors",
    "TrainConfig": "napari_sisr.core.training.config",
    "DegradationRange": "napari_sisr.core.degradation.params",
    "iter_train": "napari_sisr.core.training",
    "train": "napari_sisr.core.training",
    "TrainResult": "napari_sisr.core.training",
    "TrainingDiverged": "napari_sisr.core.training",
    "evaluate": "napari_sisr.core.evaluation.scoring",
    "evidence": "napari_sisr.core.evidence",
    "resolution": "napari_sisr.core.evidence",
    "Evidence": "napari_sisr.core.evidence",
    "refine": "napari_sisr.core.inference.refine",
    "choose_refinement": "napari_sisr.core.inference.refine",
    "adapt": "napari_sisr.core.adapt",
    "iter_adapt": "napari_sisr.core.adapt",
    "AdaptConfig": "napari_sisr.core.adapt",
    "AdaptResult": "napari_sisr.core.adapt",
    "isotropic": "napari_sisr.core.isotropic",
    "IsoResult": "napari_sisr.core.isotropic",
    "fit_axial": "napari_sisr.core.isotropic",
    "fit_beads": "napari_sisr.core.degradation.beads",
    "BeadFit": "napari_sisr.core.degradation.beads",
    "tune_steering": "napari_sisr.core.evaluation.tuning",
    "TunedSteering": "napari_sisr.core.evaluation.tuning",
    "Scored": "napari_sisr.core.evaluation.scoring",
    "PredictConfig": "napari_sisr.core.inference.config",
    "predict": "napari_sisr.core.inference.predict",
    "iter_predict": "napari_sisr.core.inference.predict",
    "make_plan": "napari_sisr.core.inference.tiling",
    "ARCHS": "napari_sisr.core.archs",
    "build_generator": "napari_sisr.core.archs",
    "build_discriminator": "napari_sisr.core.archs",
    "load_model": "napari_sisr.core.modelio",
    "save_model": "napari_sisr.core.modelio",
    "export_bmz": "napari_sisr.core.bmz",
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover
    from .core.adapt import AdaptConfig, AdaptResult, adapt, iter_adapt
    from .core.archs import ARCHS, build_discriminator, build_generator
    from .core.bmz import export_bmz
    from .core.degradation.beads import BeadFit, fit_beads
    from .core.degradation.blur_estimate import estimate_sigma
    from .core.degradation.fit import fit_degradation, iter_fit
    from .core.degradation.noiselevel import estimate_noise
    from .core.degradation.optics import sigma_from_optics
    from .core.degradation.pairs import (
        PairFit,
        estimate_ratio,
        fit_pair,
        iter_fit_pair,
        resample_hr,
    )
    from .core.degradation.params import DegradationParams, DegradationRange
    from .core.degradation.simulate import simulate_lr, simulate_lr_torch
    from .core.degradation.unpaired import unpaired_params
    from .core.errors import InputError
    from .core.evaluation.scoring import Scored, evaluate
    from .core.evaluation.tuning import TunedSteering, tune_steering
    from .core.evidence import Evidence, evidence, resolution
    from .core.inference.config import PredictConfig
    from .core.inference.predict import iter_predict, predict
    from .core.inference.refine import choose_refinement, refine
    from .core.inference.tiling import make_plan
    from .core.isotropic import IsoResult, fit_axial, isotropic
    from .core.modelio import load_model, save_model
    from .core.progress import Cancelled, PredictProgress, Progress, Scores, TrainProgress
    from .core.training import TrainingDiverged, TrainResult, iter_train, train
    from .core.training.config import TrainConfig


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'napari_sisr' has no attribute {name!r}")
