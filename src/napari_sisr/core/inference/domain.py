"""A cheap check that an image looks like what a model was trained on.

A model trained on fluorescence images sharpens a phase-contrast or brightfield image as if
it were fluorescence, and can end up worse than bicubic upsampling without any other sign.
Two numbers tell the kinds apart well enough to warn (measured on the sample data):

* ``bright``: the fraction of pixels far above the median (3 MADs): fluorescence has sparse
  bright signal on a dark background (0.09-0.39 for the fluorescence images here),
  brightfield 0.04-0.06, histology below 0.01;
* ``dark``: the fraction far below it: 0 to 0.02 for fluorescence, 0.1 for a phase-contrast
  image (dark halos around cells on a grey background).

A model card records the range of both over its training images (``input_statistics``); an
input outside that range, with a margin, gets a warning naming the modalities the model was
trained on. A low ``bright`` alone is not enough: a field densely packed with nuclei (the
confocal DAPI sample: median at 40 % of the range) has no sparse bright pixels either, but
also no dark tail (``dark`` 0.000), while brightfield has both (``bright`` 0.04-0.06,
``dark`` 0.011-0.027); so ``bright`` counts only with ``dark`` above :data:`DARK_TAIL`.
It is a hint, not a verdict: an unusual fluorescence image can trip it too, and an H&E
slide (neither tail) passes.
"""

from __future__ import annotations

import numpy as np

__all__ = ["domain_warning", "image_statistics", "statistics_range"]

#: An input is flagged when ``dark`` exceeds the training maximum by this factor (plus an
#: absolute slack), or ``bright`` falls below the training minimum times the inverse.
MARGIN = 1.5
SLACK = 0.01
#: ``dark`` fraction above which a missing bright tail counts (see the module docstring).
DARK_TAIL = 0.005


def image_statistics(sample: np.ndarray) -> dict[str, float]:
    """``bright`` and ``dark`` fractions of a sample of pixels (``(n,)`` or ``(n, C)``)."""
    a = np.asarray(sample, dtype=np.float64)
    a = a.reshape(a.shape[0], -1) if a.ndim > 1 else a[:, None]
    bright, dark = [], []
    for col in a.T:
        col = col[np.isfinite(col)]
        if col.size < 16:
            continue
        lo, md, hi = np.percentile(col, [1.0, 50.0, 99.8])
        col = np.clip(col, lo, hi)
        mad = float(np.median(np.abs(col - md)))
        if mad <= 0:
            mad = 1e-3 * max(hi - lo, 1e-12)
        bright.append(float(np.mean(col > md + 3 * mad)))
        dark.append(float(np.mean(col < md - 3 * mad)))
    if not bright:
        return {"bright": 0.0, "dark": 0.0}
    return {"bright": float(np.mean(bright)), "dark": float(np.mean(dark))}


def statistics_range(stats: list[dict[str, float]]) -> dict[str, list[float]]:
    """The range of each statistic over several images (for a model card)."""
    return {k: [min(s[k] for s in stats), max(s[k] for s in stats)] for k in ("bright", "dark")}


def domain_warning(card: dict, stats: dict[str, float]) -> str | None:
    """A warning when ``stats`` lie outside the card's training range, else ``None``."""
    ranges = (card or {}).get("input_statistics")
    if not ranges:
        return None
    modalities = list(card.get("modalities") or [])
    bright_min = ranges["bright"][0] / MARGIN - SLACK
    dark_max = ranges["dark"][1] * MARGIN + SLACK
    too_dark = stats["dark"] > dark_max
    too_flat = stats["bright"] < bright_min and stats["dark"] > DARK_TAIL
    if not (too_dark or too_flat):
        return None
    looks = []
    if too_dark:
        looks.append(f"{100 * stats['dark']:.0f} % of its pixels are far darker than the median")
    if too_flat:
        dark = "" if too_dark else f", {100 * stats['dark']:.1f} % far darker"
        looks.append(f"only {100 * stats['bright']:.1f} % are far brighter{dark}")
    if modalities:
        kinds = " and ".join(filter(None, [", ".join(modalities[:-1]), modalities[-1]]))
        head = f"this model was trained on {kinds} images, and this image looks different"
    else:
        head = "this image looks unlike the images this model was trained on"
    advice = "compare its result with bicubic upsampling before trusting it"
    return f"{head} ({'; '.join(looks)}): {advice}"
