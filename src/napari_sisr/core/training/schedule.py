"""Training schedule defaults: per-preset learning rates, the GAN phase, validation cadence and
early stopping.

Validation chooses the exported model (the best validation PSNR), so how often a run validates
decides how close to its best it can stop. On real pairs a run started from a bundled model
scores best on its held-out part within its first few hundred steps and drifts after that
(benchmarks/bench_real_pairs.py, docs/real-captures.md): a short run validates often, and a
content-only run stops once its validation PSNR has not improved for a while.
"""

from __future__ import annotations

from typing import Any

#: Training defaults per preset, used for what the config leaves unset (``lr``, ``warmup``).
#: The "fast" preset targets short CPU budgets: a higher learning rate and a long pixel-loss
#: warm-up before a short, light adversarial phase give the largest PSNR gain per minute
#: (see benchmarks/bench_train.py). Other presets follow the papers: lr 1e-4, then the GAN
#: from half-way.
#: The fast preset also trains its content term with L1 instead of MSE (sharper, higher PSNR
#: early on); the architecture's other loss terms and weights are kept.
PRESET_TRAINING: dict[str, dict[str, Any]] = {
    "fast": {"lr": 1e-3, "warmup_fraction": 0.8, "loss": {"pixel_l1": 1.0, "pixel_mse": 0.0}},
    "*": {"lr": 1e-4, "warmup_fraction": 0.5, "loss": {}},
}

#: Validation cadences a run chooses from (steps): the largest giving about
#: :data:`VALIDATIONS_PER_RUN` validations, so that a short run's best step is found to within
#: a few percent of the run and a long one does not spend its time validating.
VAL_CADENCES = (25, 50, 100, 200)
VALIDATIONS_PER_RUN = 30

#: Early stopping: a content-only run ends when its validation PSNR has not improved for this
#: share of its steps, and never sooner than this many validations after its best.
PATIENCE_FRACTION = 1 / 3
PATIENCE_MIN_VALIDATIONS = 10

#: Steps between checkpoints when the run does not say (at least its validation cadence): a
#: checkpoint of a GAN run holds both networks and their optimisers (tens of MB).
CHECKPOINT_EVERY = 200


def default_adversarial(device: str) -> bool:
    """The GAN phase by default on a GPU only: on a CPU a run of a few minutes gains more
    from content-loss steps (benchmarks/bench_train.py, bench_real_pairs.py)."""
    from ..devices import pick_device

    return pick_device(device).startswith("cuda")


def default_val_every(iters: int) -> int:
    """Steps between validations of a run of ``iters`` steps (1500 steps: every 50)."""
    fitting = [c for c in VAL_CADENCES if c * VALIDATIONS_PER_RUN <= iters]
    return max(fitting) if fitting else min(VAL_CADENCES)


def default_patience(iters: int, val_every: int) -> int:
    """Steps without a better validation PSNR after which a content-only run stops."""
    return max(int(iters * PATIENCE_FRACTION), PATIENCE_MIN_VALIDATIONS * val_every)


def should_stop_early(step: int, best_step: int | None, patience: int) -> bool:
    """Whether a run at ``step`` whose best validation was at ``best_step`` has waited
    ``patience`` steps for a better one (``patience`` 0: never)."""
    return bool(patience) and best_step is not None and step - best_step >= patience
