"""Small pure helpers of the Fit degradation widget: layer pairing, scale guess, table rows."""

from __future__ import annotations

from ...core.degradation.params import DegradationParams
from .._layers import plane_shape

__all__ = ["OUTPUT_NAMES", "guess_scale", "params_rows", "pick_pair", "pixel_size_ratio"]

#: Layers the widget writes; never picked automatically as inputs.
OUTPUT_NAMES = ("simulated LR", "residual", "simulated LR (preview)")


def _near_int(x: float, tol: float) -> int | None:
    k = round(x)
    return int(k) if 2 <= k <= 16 and abs(x - k) <= tol * k else None


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
    """Keep a valid (HR, LR) choice; otherwise pick the largest and smallest image layers."""
    hr, lr = hr_combo.value, lr_combo.value
    valid = (
        hr is not None
        and lr is not None
        and hr.name != lr.name
        and hr.name not in OUTPUT_NAMES
        and lr.name not in OUTPUT_NAMES
    )
    if valid:
        return hr, lr
    inputs = [c for c in hr_combo.choices if c is not None and c.name not in OUTPUT_NAMES]
    if len(inputs) < 2:
        return None, None
    by_area = sorted(inputs, key=lambda layer: plane_shape(layer)[0] * plane_shape(layer)[1])
    return by_area[-1], by_area[0]


def _f(value, fmt: str = "{:#.4g}") -> str:
    return "-" if value is None else fmt.format(value)


def _r3(value: float | None) -> float | None:
    return None if value is None else round(value, 3) + 0.0  # no "-0.000"


def params_rows(params: DegradationParams | None) -> dict:
    """The parameters as a one-column table (a magicgui ``Table`` value)."""
    p = params
    rows = [
        ("scale", _f(p and p.scale, "{}")),
        ("PSF sigma (HR px)", _f(p and p.sigma)),
    ]
    if p is not None and p.sigma_y is not None:
        rows += [("sigma y / x", f"{p.sigma_y:.4g} / {p.sigma_x:.4g}")]
    shift = None if p is None else "{:.2f}, {:.2f}".format(*p.shift_yx)
    rows += [
        ("shift y, x (HR px)", shift or "-"),
        ("gain", _f(p and p.gain)),
        ("offset", _f(p and p.offset)),
        ("noise std", _f(p and p.noise_std)),
    ]
    if p is not None and p.poisson_a is not None:
        rows += [("Poisson gain a", _f(p.poisson_a))]
    rows += [
        ("residual std", _f(p.residual_std if p else None)),
        ("lag-1 (white: ~0)", _f(_r3(p.residual_lag1) if p else None, "{:+.3f}")),
        ("source", p.source if p else "-"),
    ]
    return {"data": [[v] for _, v in rows], "index": [k for k, _ in rows], "columns": ["value"]}


#: Colours of the fit verdicts (readable on napari's dark and light themes).
VERDICT_COLOURS = {"ok": "#66bb6a", "doubtful": "#ffa726", "failed": "#ef5350"}


def verdict_html(quality: dict | None) -> str:
    """The verdict of a fit as coloured rich text for a label (empty without a verdict)."""
    if not quality:
        return ""
    colour = VERDICT_COLOURS.get(quality.get("verdict"), "#bdbdbd")
    text = f'<b style="color:{colour}">fit {quality.get("verdict")}</b>'
    reasons = quality.get("reasons") or []
    return text + "".join(f"<br>&bull; {r}" for r in reasons)
