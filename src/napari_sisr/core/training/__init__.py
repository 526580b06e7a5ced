"""Training of super-resolution GANs: ``iter_train`` (progress generator) and ``train``.

Modules: :mod:`.session` (data, networks, one step, state), :mod:`.loop` (progress,
validation, checkpoints, export), :mod:`.checkpoint` (atomic safetensors + JSON checkpoints),
:mod:`.ema` (weight averaging).
"""

from .checkpoint import CheckpointError, latest_checkpoint, load_checkpoint, save_checkpoint
from .loop import TrainResult, iter_train, train
from .session import Trainer, TrainingDiverged

__all__ = [
    "iter_train",
    "train",
    "TrainResult",
    "Trainer",
    "TrainingDiverged",
    "CheckpointError",
    "save_checkpoint",
    "load_checkpoint",
    "latest_checkpoint",
]
