"""Training schedule defaults: per-preset learning rates, the GAN phase and early stopping.

Validation chooses the exported model (the best validation PSNR). On real pairs a run started
from a bundled model often scores best on its held-out part within its first few hundred
steps and drifts after that (benchmarks/bench_real_pairs.py,
benchmarks/reports/real-captures-history.md): a content-only run stops once its validation
PSNR has not improved for a while, and the GAN phase starts from the warm-up's best
generator. Validating more often does not choose better
there: on one small held-out band the best of more validations is more often a lucky one.
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

#: Early stopping: a content-only run ends when its validation PSNR has not improved for this
#: share of its steps, and never sooner than this many validations after its best.
PATIENCE_FRACTION = 1 / 3
PATIENCE_MIN_VALIDATIONS = 2


def default_adversarial(device: str) -> bool:
    """The GAN phase by default on a GPU only: on a CPU a run of a few minutes gains more
    from content-loss steps (benchmarks/bench_train.py, bench_real_pairs.py)."""
    from ..devices import pick_device

    return pick_device(device).startswith("cuda")


def default_patience(iters: int, val_every: int) -> int:
    """Steps without a better validation PSNR after which a content-only run stops (1500
    steps validated every 200: 500)."""
    return max(int(iters * PATIENCE_FRACTION), PATIENCE_MIN_VALIDATIONS * val_every)


def should_stop_early(step: int, best_step: int | None, patience: int) -> bool:
    """Whether a run at ``step`` whose best validation was at ``best_step`` has waited
    ``patience`` steps for a better one (``patience`` 0: never)."""
    return bool(patience) and best_step is not None and step - best_step >= patience


#: The weight average's warm-up (:class:`.ema.EMA`) from random weights: early steps forgotten
#: fast; from a trained model: every step averaged alike until the decay is reached.
EMA_WARMUP_FROM_RANDOM = 10.0
EMA_WARMUP_FROM_MODEL = 2.0


def default_ema_warmup(init: str | None, adversarial: bool) -> float:
    """A content-only run from a trained model averages all its steps alike: fine-tuned on one
    small field at the ``fast`` learning rate, its weights drift from the start's within a few
    hundred steps, and the uniform average holds the best held-out PSNR longer and higher than
    an average of the last few dozen steps (benchmarks/reports/real-captures-history.md).
    From random weights, and in the adversarial phase, the early steps are forgotten fast."""
    if init is not None and not adversarial:
        return EMA_WARMUP_FROM_MODEL
    return EMA_WARMUP_FROM_RANDOM
