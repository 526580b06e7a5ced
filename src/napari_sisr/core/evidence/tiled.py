"""The consistency map of images of any size, tile by tile.

:func:`~.consistency.consistency` works on one plane in memory; here the same computation runs
over LR tiles with a halo (the PSF's reach), reading only the SR and LR windows each tile
needs from numpy, dask or zarr arrays, in two passes: the tiles give the gain and offset (and
a central crop of the capture the noise model), then every tile's z-scores are written to
``out`` and the summaries accumulated. The tiled map equals the whole-plane map to round-off
(tested): the halo covers the blur. Captures beyond 4096 x 4096 px take the gain and offset
from 64 tiles spread over them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from .forward import WHITE_LAG1, Z_FLAG, Region, _linear, degrade, regions

#: LR tile side of the tiled computation.
TILE = 512
#: Largest LR crop the noise model is estimated from.
NOISE_CROP = 1024


@dataclass
class Sums:
    """Running sums of what the summaries need."""

    n: int = 0
    flagged: int = 0
    sq: float = 0.0
    a: float = 0.0
    b: float = 0.0
    aa: float = 0.0
    bb: float = 0.0
    ab: float = 0.0
    lag_num: float = 0.0
    lag_den: float = 0.0
    regions: list[Region] = field(default_factory=list)

    def add(self, lr, sim, z, resid, origin) -> None:
        self.n += lr.size
        self.flagged += int((np.abs(z) > Z_FLAG).sum())
        self.sq += float((resid**2).sum())
        self.a += float(lr.sum())
        self.b += float(sim.sum())
        self.aa += float((lr**2).sum())
        self.bb += float((sim**2).sum())
        self.ab += float((lr * sim).sum())
        r = resid - resid.mean()
        self.lag_num += float((r[1:] * r[:-1]).sum() + (r[:, 1:] * r[:, :-1]).sum())
        self.lag_den += float((r * r).sum()) * 2
        oy, ox = origin
        for reg in regions(z):
            y0, x0, y1, x1 = reg.bbox
            self.regions.append(
                Region((y0 + oy, x0 + ox, y1 + oy, x1 + ox), reg.pixels, reg.mean_z)
            )

    def rsp(self) -> float:
        n = max(self.n, 1)
        cov = self.ab / n - (self.a / n) * (self.b / n)
        va, vb = self.aa / n - (self.a / n) ** 2, self.bb / n - (self.b / n) ** 2
        return float(cov / math.sqrt(va * vb)) if va > 0 and vb > 0 else 0.0


def gaussian_z(resid: np.ndarray, expected: np.ndarray, noise) -> np.ndarray:
    """Residuals in units of the Poisson-Gaussian noise std at each pixel."""
    var = float(noise[0]) + float(noise[1] or 0.0) * np.clip(expected, 0.0, None)
    return resid / np.sqrt(np.maximum(var, 1e-30))


def poisson_z(counts: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """The z-score of each count under a Poisson law of the expected mean: the standard
    normal quantile of its tail probability (at a few counts a Gaussian z would flag every
    pixel that catches two photons where 0.3 were expected)."""
    from scipy import stats

    lam = np.clip(expected, 1e-3, None)
    k = np.round(counts)
    up = stats.poisson.sf(k - 1, lam)  # P(X >= k)
    down = stats.poisson.cdf(k, lam)  # P(X <= k)
    z = np.where(k > lam, stats.norm.isf(np.clip(up, 1e-300, 0.5)), 0.0)
    return np.where(k < lam, -stats.norm.isf(np.clip(down, 1e-300, 0.5)), z)


#: The noise model of a capture with no variation at all (its z-scores are all 0).
FLAT_NOISE = ((1.0, 0.0), "none: the capture is flat")


def _noise_crop(lr) -> np.ndarray | None:
    """A crop of at most :data:`NOISE_CROP` px to estimate the noise on: the central one,
    else the first of a 3 x 3 grid of crops that is not constant (a slide's blank middle);
    None where every one is."""
    h, w = (int(n) for n in lr.shape)
    n = NOISE_CROP // 2
    centres = [(h // 2, w // 2)] + [
        (int(h * fy), int(w * fx)) for fy in (0.2, 0.5, 0.8) for fx in (0.2, 0.5, 0.8)
    ]
    for cy, cx in centres:
        y0, x0 = max(min(cy - n, h - 2 * n), 0), max(min(cx - n, w - 2 * n), 0)
        crop = np.asarray(lr[y0 : y0 + 2 * n, x0 : x0 + 2 * n], np.float64)
        if np.ptp(crop) > 0:
            return crop
    return None


def capture_noise(lr) -> tuple[tuple[float, float], str]:
    """The noise model of a capture from a crop of it (:func:`_noise_crop`): Poisson counts
    for a photon-counting capture (:func:`.split.is_counts`), else the Poisson-Gaussian
    estimate; :data:`FLAT_NOISE` for a capture that does not vary."""
    from ..degradation.noiselevel import estimate_noise
    from .split import is_counts

    crop = _noise_crop(lr)
    if crop is None:
        return FLAT_NOISE
    if is_counts(crop):
        return (0.0, 1.0), "photon counts (variance = counts)"
    return estimate_noise(crop, poisson=True), "estimated from the capture"


def check_shapes(sr_shape, lr_shape, scale: int) -> None:
    """The SR plane must be ``scale`` times the capture (a few SR pixels more, less than one
    capture pixel, are cut off): anything else is a wrong scale or the wrong pair, which
    would otherwise be compared pixel against unrelated pixel."""
    if len(lr_shape) != 2 or len(sr_shape) != 2:
        raise InputError(f"evidence is computed plane by plane: got {sr_shape} and {lr_shape}")
    s = int(scale)
    if not all(n * s <= m < (n + 1) * s for m, n in zip(sr_shape, lr_shape, strict=True)):
        raise InputError(
            f"the SR image ({sr_shape[0]} x {sr_shape[1]}) is not {s} times the capture "
            f"({lr_shape[0]} x {lr_shape[1]}): is the scale right?"
        )


def _tiles(shape: tuple[int, int], tile: int):
    for y in range(0, shape[0], tile):
        for x in range(0, shape[1], tile):
            yield y, x, min(y + tile, shape[0]), min(x + tile, shape[1])


def _window(sr, lr, box, halo, s):
    """The LR tile with its halo (clipped to the image) and the matching SR window."""
    y0, x0, y1, x1 = box
    h, w = lr.shape
    a0, b0 = max(y0 - halo, 0), max(x0 - halo, 0)
    a1, b1 = min(y1 + halo, h), min(x1 + halo, w)
    low = np.asarray(lr[a0:a1, b0:b1], dtype=np.float64)
    high = np.asarray(sr[a0 * s : a1 * s, b0 * s : b1 * s], dtype=np.float64)
    inner = (slice(y0 - a0, y1 - a0), slice(x0 - b0, x1 - b0))
    return low, high, inner


def _gain_offset(sr, lr, boxes, halo, s, sigma_yx, shift_yx):
    """The gain and offset from every tile (a tiled map equals the whole-plane one), or from
    64 tiles spread over a capture of more than 4096 x 4096 px; and the degraded tiles
    (LR-sized) where every tile was used, so the second pass need not degrade them again."""
    h, w = lr.shape
    every = h * w <= 4096**2
    sample = boxes if every else boxes[:: max(1, len(boxes) // 64)]
    xs, ys, kept = [], [], {}
    for box in sample:
        low, high, inner = _window(sr, lr, box, halo, s)
        sim = degrade(high, s, sigma_yx, shift_yx)[inner]
        xs.append(sim.ravel())
        ys.append(low[inner].ravel())
        if every:
            kept[box] = (sim, low[inner])
    g, o = _linear(np.concatenate(xs), np.concatenate(ys))
    return g, o, kept


def _noise_model(lr, noise) -> tuple[tuple[float, float], str]:
    """The noise model given (variance = counts is a photon-count capture's) or estimated."""
    if noise is None:
        return capture_noise(lr)
    if float(noise[0]) == 0.0 and float(noise[1] or 0.0) == 1.0:
        return noise, "given: photon counts (variance = counts)"
    return noise, "given"


def consistency_tiled(
    sr,
    lr,
    scale: int,
    sigma_yx: tuple[float, float],
    *,
    shift_yx: tuple[float, float] = (0.0, 0.0),
    noise=None,
    out=None,
    tile: int = TILE,
) -> tuple[np.ndarray | None, dict]:
    """z-scores of ``sr`` against ``lr`` tile by tile (module docstring).

    Parameters
    ----------
    sr, lr : 2D array-likes (numpy, dask, zarr)
        The SR plane (``scale`` times the LR plane) and the capture.
    sigma_yx : (float, float)
        The PSF in HR px.
    shift_yx : (float, float)
        Translation of ``sr`` against ``lr`` in HR px (0 for an SR image of that capture).
    noise : (noise_var, poisson_a), optional
        The capture's noise model in its units; estimated from a central crop when omitted.
    out : 2D array-like, optional
        Where the z-scores go (e.g. a zarr array of the LR shape); a numpy array is made and
        returned when omitted.

    Returns
    -------
    z, summary
        The z-score map (``out`` itself, or a new array), and its summaries as
        :meth:`~.consistency.Consistency.summary` gives them.
    """
    s = int(scale)
    check_shapes(tuple(sr.shape), tuple(lr.shape), s)
    h, w = (int(n) for n in lr.shape)
    halo = int(math.ceil((4 * max(sigma_yx) + s + max(map(abs, shift_yx))) / s)) + 1
    boxes = list(_tiles((h, w), tile))
    g, o, kept = _gain_offset(sr, lr, boxes, halo, s, sigma_yx, shift_yx)
    noise, noise_source = _noise_model(lr, noise)
    counts = "photon counts" in noise_source
    z_out = out if out is not None else np.full((h, w), np.nan, np.float32)
    sums = Sums()
    lo, hi = float("inf"), float("-inf")
    for box in boxes:
        if box in kept:
            unit, cap = kept.pop(box)
        else:
            low, high, inner = _window(sr, lr, box, halo, s)
            unit, cap = degrade(high, s, sigma_yx, shift_yx)[inner], low[inner]
        sim = g * unit + o
        resid = cap - sim
        z = poisson_z(cap, sim) if counts else gaussian_z(resid, sim, noise)
        z_out[box[0] : box[2], box[1] : box[3]] = z.astype(np.float32)
        sums.add(cap, sim, z, resid, box[:2])
        lo, hi = min(lo, float(cap.min())), max(hi, float(cap.max()))
    span = (hi - lo) or 1.0
    lag = sums.lag_num / sums.lag_den if sums.lag_den > 0 else 0.0
    summary = {
        "rse": math.sqrt(sums.sq / max(sums.n, 1)) / span,
        "rsp": sums.rsp(),
        "flagged_fraction": sums.flagged / max(sums.n, 1),
        "regions": [r.as_dict() for r in sorted(sums.regions, key=lambda r: -r.pixels)[:50]],
        "n_regions": len(sums.regions),
        "residual_lag1": lag,
        "sigma_hr_px": float(math.sqrt(sigma_yx[0] * sigma_yx[1])),
        "noise_source": noise_source,
        "gain": g,
        "offset": o,
        "notes": _notes(lag, lo, hi),
    }
    return (z_out if out is None else None), summary


def _notes(lag: float, lo: float, hi: float) -> list[str]:
    """What the summaries cannot show by themselves: a capture with nothing in it, a residual
    the degradation model leaves structured."""
    notes = []
    if hi == lo:
        notes.append(
            f"the capture is flat (every pixel {lo:g}): it holds nothing to compare the result "
            "with, so agreeing with it shows nothing"
        )
    if abs(lag) > WHITE_LAG1:
        notes.append(
            f"the residual is not white (lag-1 autocorrelation {lag:.2f}): part of the "
            "disagreement is the degradation model's, not the result's"
        )
    return notes
