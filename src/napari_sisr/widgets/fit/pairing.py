"""Small pure helpers of the Fit degradation widget: layer pairing and the scale guess."""

from __future__ import annotations

import math

from ...core.limits import MAX_SCALE, MIN_SCALE
from .._layers import OUTPUT_NAMES as _OUTPUT_NAMES
from .._layers import is_output, plane_shape, world_overlap

__all__ = [
    "OUTPUT_NAMES",
    "guess_scale",
    "is_output",
    "pick_pair",
    "pixel_size_ratio",
    "ratio_hint",
    "world_overlap",
]

#: Layers the Fit widget writes (simulated LR, residual, preview); never picked as inputs.
OUTPUT_NAMES = _OUTPUT_NAMES[:3]


def _near_int(x: float, tol: float) -> int | None:
    k = round(x)
    return int(k) if MIN_SCALE <= k <= MAX_SCALE and abs(x - k) <= tol * k else None


def pixel_size_ratio(hr, lr) -> float | None:
    """LR pixel size over HR pixel size from calibrated layers (``None`` if uncalibrated)."""
    if hr is None or lr is None or hr.name == lr.name:
        return None
    hs, ls = tuple(hr.scale[-2:]), tuple(lr.scale[-2:])
    if hs == (1.0, 1.0) and ls == (1.0, 1.0):
        return None
    ratios = [b / a for a, b in zip(hs, ls, strict=True) if a > 0]
    return float(sum(ratios) / len(ratios)) if ratios else None


def guess_scale(hr, lr) -> int | None:
    """The integer scale between two layers, from their pixel sizes or else their shapes.

    Calibrated layers (``layer.scale`` set from the metadata) give the most reliable answer;
    otherwise the ratio of the plane shapes is used when it is close to an integer.
    """
    if hr is None or lr is None or hr.name == lr.name:
        return None
    hs, ls = tuple(hr.scale[-2:]), tuple(lr.scale[-2:])
    if hs != (1.0, 1.0) or ls != (1.0, 1.0):
        ratios = [b / a for a, b in zip(hs, ls, strict=True) if a > 0]
        ks = {_near_int(r, 0.02) for r in ratios}
        if len(ks) == 1 and None not in ks:
            return ks.pop()
    (hy, hx), (ly, lx) = plane_shape(hr), plane_shape(lr)
    if min(ly, lx) < 1:
        return None
    ky, kx = _near_int(hy / ly, 0.05), _near_int(hx / lx, 0.05)
    return ky if ky is not None and ky == kx else None


def pick_pair(hr_combo, lr_combo):
    """Keep a valid (HR, LR) choice; otherwise pick the likeliest pair of image layers.

    Layers this plugin made (:func:`is_output`) are never picked: a super-resolved result is
    the largest layer, but it is not a capture. Of the other layers, the pair preferred is
    (a) calibrated and covering one field (their extents in the world overlap by more than
    half), then (b) an integer scale or a stated pixel ratio apart, then (c) the largest HR
    image; two images that merely differ in size are the last resort.
    """
    hr, lr = hr_combo.value, lr_combo.value
    valid = (
        hr is not None
        and lr is not None
        and hr.name != lr.name
        and not is_output(hr)
        and not is_output(lr)
    )
    if valid:
        return hr, lr
    inputs = [c for c in hr_combo.choices if c is not None and not is_output(c)]
    if len(inputs) < 2:
        return None, None
    pairs = [(a, b) for a in inputs for b in inputs if _area(a) > _area(b)]
    if not pairs:
        by_area = sorted(inputs, key=_area)
        return by_area[-1], by_area[0]
    return max(pairs, key=lambda pair: _pair_score(*pair))


def _area(layer) -> int:
    y, x = plane_shape(layer)
    return y * x


def _calibrated(layer) -> bool:
    return tuple(float(v) for v in layer.scale[-2:]) != (1.0, 1.0)


def _pair_score(hr, lr) -> tuple:
    overlap = world_overlap(hr, lr) if _calibrated(hr) and _calibrated(lr) else 0.0
    apart = guess_scale(hr, lr) is not None or ratio_hint(hr, lr) != ""
    return (overlap > 0.5, apart, overlap, _area(hr), -_area(lr))


def ratio_hint(hr, lr) -> str:
    """What the ratio field should hold for a pair: ``""`` when the pair is an integer scale
    apart (or nothing says otherwise), the pixel-size ratio when the layers are calibrated
    and it is not an integer (e.g. ``"7.306"``), ``"auto"`` when uncalibrated layers of the
    same field have image sizes no integer scale explains (estimated by registration)."""
    if hr is None or lr is None or hr.name == lr.name:
        return ""
    r = pixel_size_ratio(hr, lr)
    if r is not None:
        return "" if _near_int(r, 0.005) is not None else f"{r:.4g}"
    (hy, hx), (ly, lx) = plane_shape(hr), plane_shape(lr)
    if min(ly, lx) < 1:
        return ""
    k = round(math.sqrt(hy * hx / (ly * lx)))
    if MIN_SCALE <= k <= MAX_SCALE and abs(hy - k * ly) <= k and abs(hx - k * lx) <= k:
        return ""
    ry, rx = hy / ly, hx / lx
    if abs(ry - rx) > 0.02 * max(ry, rx) or max(ry, rx) < 1.5:
        return ""  # not the same field at one ratio (a crop, say): the scale is the user's
    return "auto"
