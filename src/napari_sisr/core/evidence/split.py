"""Two independent halves of one capture, for resolution measures that invention cannot fool.

A photon-count capture splits exactly by binomial thinning (each count to one half or the
other). Any other capture ``y = x + n`` with noise of variance ``v`` (the Poisson-Gaussian
model, per pixel) splits into ``y1 = y + z`` and ``y2 = y - z`` with ``z`` drawn from
``N(0, v)``: the two noises
``n + z`` and ``n - z`` are uncorrelated (their covariance is ``v - v = 0``), each of variance
``2 v``, like two captures at half the light (Pang et al., "Recorrupted-to-Recorrupted", CVPR
2021). Super-resolve both: what the two results agree on came from the sample; texture a
network invents from the noise differs between them. Two frames of a time series, or two
repeats, are independent halves as they are.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError


def noise_variance(lr: np.ndarray, noise_var: float, poisson_a: float | None) -> np.ndarray:
    """The per-pixel noise variance of a capture under the Poisson-Gaussian model (shot noise
    on the recorded intensity, as :func:`~..degradation.noiselevel.estimate_noise` fits it)."""
    return float(noise_var) + float(poisson_a or 0.0) * np.clip(lr, 0.0, None)


#: Captures of non-negative integers with a mean below this are photon counts, split by
#: binomial thinning.
MAX_MEAN_COUNT = 1000


def is_counts(lr: np.ndarray) -> bool:
    """Whether a capture looks like photon counts (a counting detector: confocal, STED): whole
    numbers down to zero (no camera offset) and a modest mean."""
    lr = np.asarray(lr)
    return (
        lr.size > 0
        and float(lr.min()) == 0
        and float(lr.mean()) < MAX_MEAN_COUNT
        and bool(np.all(lr == np.round(lr)))
    )


def thinned_halves(lr, rng=0) -> tuple[np.ndarray, np.ndarray]:
    """Binomial thinning of a photon-count capture: each count goes to one half or the other
    with probability 1/2, so two halves of Poisson counts are independent Poisson counts at
    half the light (scaled by 2 to the capture's level). Exact for one count per photon."""
    counts = np.asarray(lr, dtype=np.int64)
    k = np.random.default_rng(rng).binomial(counts, 0.5)
    return (2.0 * k).astype(np.float32), (2.0 * (counts - k)).astype(np.float32)


def split_halves(
    lr,
    noise_var: float | None = None,
    poisson_a: float | None = None,
    rng: np.random.Generator | int | None = 0,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Two independent halves of ``lr`` and how they were made: binomial thinning of a
    photon-count capture (:func:`is_counts`), else recorruption with the noise model
    (module docstring), estimated from the capture when not given."""
    lr = np.asarray(lr, dtype=np.float64)
    if lr.ndim != 2:
        raise InputError(f"a capture is split plane by plane, got shape {lr.shape}")
    if noise_var is None and is_counts(lr):
        a, b = thinned_halves(lr, rng)
        return a, b, "binomial thinning of the photon counts (one count per photon assumed)"
    source = "recorrupted halves, noise given"
    if noise_var is None:
        from ..degradation.noiselevel import estimate_noise

        noise_var, poisson_a = estimate_noise(lr, poisson=True)
        source = "recorrupted halves, noise estimated from the capture"
    var = noise_variance(lr, noise_var, poisson_a)
    z = np.sqrt(var) * np.random.default_rng(rng).standard_normal(lr.shape)
    return (lr + z).astype(np.float32), (lr - z).astype(np.float32), source


def frames_as_halves(stack) -> tuple[np.ndarray, np.ndarray]:
    """Two halves from repeated frames ``(T, Y, X)``: the means of the even and the odd frames
    (independent noise, the same sample when nothing moved between frames)."""
    stack = np.asarray(stack, dtype=np.float64)
    if stack.ndim != 3 or stack.shape[0] < 2:
        raise InputError(f"two or more frames (T, Y, X) are needed, got shape {stack.shape}")
    return stack[0::2].mean(0).astype(np.float32), stack[1::2].mean(0).astype(np.float32)
