"""Training of super-resolution GANs: ``iter_train`` (progress generator) and ``train``.

Modules: :mod:`.session` (data, networks, one step, state), :mod:`.loop` (progress,
validation, checkpoints, export), :mod:`.checkpoint` (atomic safetensors + JSON checkpoints),
:mod:`.ema` (weight averaging), :mod:`.config` (the validated settings, light to import).
The names below load on first use, so that reading the settings (``--help``, the widgets'
defaults) does not import torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

_LAZY = {
    "iter_train": ".loop",
    "train": ".loop",
    "TrainResult": ".loop",
    "Trainer": ".session",
    "TrainingDiverged": ".session",
    "CheckpointError": ".checkpoint",
    "save_checkpoint": ".checkpoint",
    "load_checkpoint": ".checkpoint",
    "latest_checkpoint": ".checkpoint",
}

__all__ = list(_LAZY)

if TYPE_CHECKING:  # pragma: no cover
    from .checkpoint import CheckpointError, latest_checkpoint, load_checkpoint, save_checkpoint
    from .loop import TrainResult, iter_train, train
    from .session import Trainer, TrainingDiverged


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
