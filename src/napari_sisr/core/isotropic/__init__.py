"""Isotropic stacks from the stack itself: the axial degradation fitted on the stack, a
network trained on its own lateral planes degraded that way, applied to its axial slices.

:func:`fit_axial` finds how much the axial (xz, yz) slices are blurred and subsampled compared
with the lateral (xy) planes; :func:`train_isotropic` trains a small network that undoes that
along one axis, on the stack's xy planes; :func:`apply_isotropic` applies it to every xz and
yz slice and averages the two, in blocks, to an array or an OME-Zarr store; :func:`isotropic`
does the three.
"""

from __future__ import annotations

from .apply import apply_isotropic, iter_apply_isotropic
from .fit import AxialFit, axial_sigma_from_beads, fit_axial
from .job import IsoResult, isotropic, iter_isotropic
from .net import AxialSR, load_axial, save_axial
from .train import IsoTrainConfig, train_isotropic

__all__ = [
    "AxialFit",
    "AxialSR",
    "IsoResult",
    "IsoTrainConfig",
    "apply_isotropic",
    "axial_sigma_from_beads",
    "fit_axial",
    "isotropic",
    "iter_apply_isotropic",
    "iter_isotropic",
    "load_axial",
    "save_axial",
    "train_isotropic",
]
