"""The PSF from an image of sub-resolution beads (a 2D image or a z-stack).

Isolated beads are found as local maxima of the lightly smoothed image well above the
background noise; beads at the border, saturated or with a neighbour within the fitting
window are set aside and counted. Each kept bead is fitted with a Gaussian integrated over
each pixel's area (the camera or scanner integrates over the pixel; the z planes are optical
sections, so the axial profile is sampled at the plane), plus a constant background, by least
squares. The PSF's width is the median over beads, with their robust spread (1.4826 x the
median absolute deviation); the finite size of the beads is taken out in quadrature when
their diameter is given (a uniform ball of diameter d adds d^2/20 to the variance along each
axis).

The widths are in pixels of the bead image, and in nm when its pixel size is known; a
degradation JSON (:meth:`BeadFit.to_params`) states them in HR pixels of the scale asked for,
with ``source = "beads"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

__all__ = ["Bead", "BeadFit", "fit_beads"]

#: Peaks must stand this many background noise std above the background.
MIN_SNR = 10.0
#: Most beads fitted (the brightest isolated ones).
MAX_BEADS = 60
#: Fewest beads a PSF is reported from.
MIN_BEADS = 1


@dataclass
class Bead:
    """One fitted bead: position and widths (px, axis order of the image: (z,) y, x)."""

    position: tuple[float, ...]
    sigma: tuple[float, ...]
    amplitude: float
    background: float
    rel_residual: float  # residual RMS / amplitude

    def as_dict(self) -> dict:
        return {
            "position": [round(v, 2) for v in self.position],
            "sigma_px": [round(v, 4) for v in self.sigma],
            "amplitude": self.amplitude,
            "background": self.background,
            "rel_residual": self.rel_residual,
        }


@dataclass
class BeadFit:
    """The PSF measured on beads (module docstring)."""

    sigma_px: tuple[float, ...]  # median over beads, (z,) y, x, bead size taken out
    spread_px: tuple[float, ...]  # robust std over beads
    voxel_um: tuple[float, ...] | None  # (z,) y, x
    beads: list[Bead] = field(default_factory=list)
    rejected: dict[str, int] = field(default_factory=dict)
    bead_nm: float = 0.0

    @property
    def ndim(self) -> int:
        return len(self.sigma_px)

    def sigma_nm(self) -> tuple[float, ...] | None:
        if self.voxel_um is None:
            return None
        return tuple(1000 * s * v for s, v in zip(self.sigma_px, self.voxel_um, strict=True))

    def spread_nm(self) -> tuple[float, ...] | None:
        if self.voxel_um is None:
            return None
        return tuple(1000 * s * v for s, v in zip(self.spread_px, self.voxel_um, strict=True))

    def summary(self) -> dict:
        axes = "zyx"[-self.ndim :]
        out = {
            "n_beads": len(self.beads),
            "rejected": dict(self.rejected),
            "sigma_px": dict(zip(axes, self.sigma_px, strict=True)),
            "spread_px": dict(zip(axes, self.spread_px, strict=True)),
            "voxel_um": dict(zip(axes, self.voxel_um, strict=True)) if self.voxel_um else None,
            "bead_nm": self.bead_nm,
        }
        if self.voxel_um:
            out["sigma_nm"] = dict(zip(axes, self.sigma_nm(), strict=True))
            out["spread_nm"] = dict(zip(axes, self.spread_nm(), strict=True))
            out["fwhm_nm"] = {a: 2.3548 * v for a, v in out["sigma_nm"].items()}
        return out

    def to_params(self, scale: int, pixel_um: float | None = None):
        """A degradation JSON for captures of LR pixel ``pixel_um`` (default: the bead
        image's own pixel) super-resolved ``scale`` times: the PSF in HR px of that grid."""
        from .params import DegradationParams

        sy, sx = self.sigma_px[-2:]
        notes = {"beads": self.summary()}
        if pixel_um is not None:
            if self.voxel_um is None:
                raise InputError(
                    "the bead image's pixel size is unknown: give it (pixel size of the beads) "
                    "to use the PSF on captures of another pixel size"
                )
            ky, kx = self.voxel_um[-2] / pixel_um, self.voxel_um[-1] / pixel_um
            sy, sx = sy * ky, sx * kx
            notes["capture_pixel_um"] = pixel_um
        sz = None
        if self.ndim == 3:
            # along z in the same HR px as the lateral width (only for the isotropic route)
            lateral_um = (pixel_um or self.voxel_um[-1]) if self.voxel_um else None
            if lateral_um and self.voxel_um:
                sz = self.sigma_px[0] * self.voxel_um[0] / lateral_um * scale
        return DegradationParams(
            scale=scale,
            sigma_y=sy * scale,
            sigma_x=sx * scale,
            sigma_z=min(sz, 64.0) if sz else None,
            source="beads",
            notes=notes,
        )

    def table(self) -> str:
        axes = "zyx"[-self.ndim :]
        nm = self.sigma_nm()
        sp = self.spread_nm()
        lines = [f"{len(self.beads)} isolated bead(s) fitted"]
        for i, a in enumerate(axes):
            line = f"sigma {a}: {self.sigma_px[i]:.2f} px (spread {self.spread_px[i]:.2f})"
            if nm:
                line += f" = {nm[i]:.0f} nm (spread {sp[i]:.0f}), FWHM {2.3548 * nm[i]:.0f} nm"
            lines.append(line)
        if self.rejected:
            lines.append("set aside: " + ", ".join(f"{n} {k}" for k, n in self.rejected.items()))
        return "\n".join(lines)


def _integrated(coord: np.ndarray, centre: float, sigma: float) -> np.ndarray:
    """A unit-peak Gaussian integrated over pixels of side 1 centred on ``coord``,
    normalised so that a wide Gaussian keeps its peak of 1."""
    from scipy.special import erf

    k = 1.0 / (math.sqrt(2.0) * max(sigma, 1e-3))
    area = 0.5 * (erf((coord + 0.5 - centre) * k) - erf((coord - 0.5 - centre) * k))
    return area * math.sqrt(2 * math.pi) * max(sigma, 1e-3)


def _model(params: np.ndarray, grids: list[np.ndarray], ndim: int) -> np.ndarray:
    amp, bg = params[0], params[1]
    centres, sigmas = params[2 : 2 + ndim], params[2 + ndim : 2 + 2 * ndim]
    out = amp
    lateral0 = ndim - 2
    for ax in range(ndim):
        if ax < lateral0:  # z: an optical section samples the profile at the plane
            prof = np.exp(-((grids[ax] - centres[ax]) ** 2) / (2 * sigmas[ax] ** 2))
        else:
            prof = _integrated(grids[ax], centres[ax], sigmas[ax])
        out = out * prof
    return out + bg


def _fit_one(crop: np.ndarray, origin: tuple[int, ...], guess_sigma: tuple[float, ...]):
    from scipy.optimize import least_squares

    ndim = crop.ndim
    grids = list(np.meshgrid(*[np.arange(n, dtype=np.float64) for n in crop.shape], indexing="ij"))
    bg0 = float(np.percentile(crop, 10))
    amp0 = float(crop.max() - bg0)
    centre0 = [float(c) for c in np.unravel_index(int(np.argmax(crop)), crop.shape)]
    x0 = np.array([amp0, bg0, *centre0, *guess_sigma])
    lo = [0.0, -np.inf, *[-0.5] * ndim, *[0.3] * ndim]
    hi = [np.inf, np.inf, *[n - 0.5 for n in crop.shape], *[n / 2.0 for n in crop.shape]]
    x0 = np.clip(x0, np.array(lo) + 1e-6, np.array(hi) - 1e-6)
    res = least_squares(
        lambda p: (_model(p, grids, ndim) - crop).ravel(),
        x0,
        bounds=(lo, hi),
        x_scale="jac",
        max_nfev=400,
    )
    p = res.x
    sig = tuple(float(v) for v in p[2 + ndim :])
    at_bound = any(v >= (n / 2.0) * 0.98 or v <= 0.31 for v, n in zip(sig, crop.shape, strict=True))
    rms = float(np.sqrt(np.mean(res.fun**2)))
    bead = Bead(
        tuple(float(o + c) for o, c in zip(origin, p[2 : 2 + ndim], strict=True)),
        sig,
        float(p[0]),
        float(p[1]),
        rms / max(float(p[0]), 1e-12),
    )
    return bead, (res.success and not at_bound)


def _noise(a: np.ndarray) -> tuple[float, float]:
    """Background level and noise std (robust: median and MAD of the dimmer half)."""
    bg = float(np.median(a))
    dim = a[a <= np.percentile(a, 75)]
    std = 1.4826 * float(np.median(np.abs(dim - np.median(dim))))
    if std <= 0:  # integer images with a flat background: the spread of the dim half
        std = float(dim.std()) or 1.0
    return bg, std


def _moment_width(crop: np.ndarray, bg: float) -> tuple[float, ...]:
    """Rough widths from the second moments of the background-subtracted crop."""
    w = np.clip(crop - bg, 0, None)
    total = w.sum()
    if total <= 0:
        return tuple(1.0 for _ in crop.shape)
    out = []
    for ax in range(crop.ndim):
        coord = np.arange(crop.shape[ax], dtype=np.float64)
        prof = w.sum(axis=tuple(i for i in range(crop.ndim) if i != ax))
        m = (prof * coord).sum() / total
        out.append(float(math.sqrt(max((prof * (coord - m) ** 2).sum() / total, 0.25))))
    return tuple(out)


def fit_beads(
    image,
    voxel_um: tuple[float, ...] | float | None = None,
    *,
    bead_nm: float = 0.0,
    max_beads: int = MAX_BEADS,
    min_snr: float = MIN_SNR,
) -> BeadFit:
    """Fit the PSF on an image of sub-resolution beads (module docstring).

    Parameters
    ----------
    image : array-like
        A 2D image (Y, X) or a z-stack (Z, Y, X) of beads.
    voxel_um : float or tuple, optional
        Pixel size in micrometres: one number (lateral; a stack then needs its z step too),
        or one per axis ((z,) y, x). Without it the widths are in pixels only.
    bead_nm : float
        Bead diameter (nm), taken out of the widths in quadrature (0: sub-resolution).
    max_beads : int
        The brightest isolated beads fitted at most.
    min_snr : float
        How far above the background noise a peak must stand (in noise std).
    """
    a = np.asarray(image)
    if a.ndim not in (2, 3):
        raise InputError(f"a bead image is 2D (Y, X) or a z-stack (Z, Y, X), got shape {a.shape}")
    if a.dtype.kind not in "uif":
        raise InputError(f"a bead image holds numbers, got dtype {a.dtype}")
    if min(a.shape[-2:]) < 16 or (a.ndim == 3 and a.shape[0] < 5):
        raise InputError(f"a bead image of shape {a.shape} is too small to fit a PSF on")
    data = a.astype(np.float64)
    if not np.isfinite(data).all():
        raise InputError("the bead image holds NaN or infinite values")
    voxel = _voxel(voxel_um, a.ndim)
    if bead_nm < 0 or not math.isfinite(bead_nm):
        raise InputError(f"the bead diameter must be 0 or more nm, got {bead_nm}")
    if bead_nm and voxel is None:
        raise InputError("the bead diameter needs the pixel size to be taken out")
    saturated_at = float(np.iinfo(a.dtype).max) if a.dtype.kind in "ui" else math.inf
    bg, std = _noise(data)
    coords = _peaks(data, bg, std, min_snr)
    beads, rejected = _fit_isolated(a, data, coords, bg, saturated_at, max_beads)
    if len(beads) < MIN_BEADS:
        raise InputError(
            "no isolated bead could be fitted ("
            + ", ".join(f"{n} {k}" for k, n in rejected.items())
            + "): beads must lie apart and inside the image"
        )
    sig = np.array([b.sigma for b in beads])
    if bead_nm and voxel is not None:
        extra = np.array([(bead_nm / 1000.0 / v) ** 2 / 20.0 for v in voxel])
        sig = np.sqrt(np.clip(sig**2 - extra, 1e-6, None))
    med = np.median(sig, axis=0)
    spread = 1.4826 * np.median(np.abs(sig - med), axis=0)
    return BeadFit(
        tuple(float(v) for v in med),
        tuple(float(v) for v in spread),
        voxel,
        beads,
        rejected,
        float(bead_nm),
    )


def _peaks(data: np.ndarray, bg: float, std: float, min_snr: float) -> np.ndarray:
    """Local maxima of the lightly smoothed image standing ``min_snr`` noise std above the
    background, brightest first."""
    from scipy import ndimage

    smooth = ndimage.gaussian_filter(data, 1.0)
    peaks = smooth == ndimage.maximum_filter(smooth, size=5)
    coords = np.argwhere(peaks & (data > bg + min_snr * std))
    if len(coords) == 0:
        raise InputError(
            f"no bead stands {min_snr:g} noise std above the background: is this an image of beads?"
        )
    return coords[np.argsort(-data[tuple(coords.T)])]


def _fit_isolated(a, data, coords, bg, saturated_at, max_beads):
    """The beads fitted, and how many were set aside for what."""
    rejected: dict[str, int] = {}

    def reject(why: str) -> None:
        rejected[why] = rejected.get(why, 0) + 1

    # the fitting window from the median rough width of the brightest unsaturated peaks
    bright = [c for c in coords[:20] if a[tuple(c)] < saturated_at][:5] or list(coords[:1])
    radius = tuple(int(v) for v in np.median([_radius(data, c, bg) for c in bright], axis=0))
    edge = [max(2, (r - 1) * 2 // 3) for r in radius]  # about two widths: the peak's tails inside
    beads: list[Bead] = []
    for c in coords:
        if len(beads) >= max_beads:
            break
        if any(v < e or v > n - 1 - e for v, e, n in zip(c, edge, data.shape, strict=True)):
            reject("at the border")
            continue
        if int((np.abs(coords - c) <= np.array(radius)).all(axis=1).sum()) > 1:
            reject("with a neighbour within the fitting window")
            continue
        lo = [max(int(v) - r, 0) for v, r in zip(c, radius, strict=True)]
        hi = [min(int(v) + r + 1, n) for v, r, n in zip(c, radius, data.shape, strict=True)]
        box = tuple(slice(lo_, h) for lo_, h in zip(lo, hi, strict=True))
        if a[box].max() >= saturated_at:
            reject("saturated")
            continue
        bead, ok = _fit_one(data[box], tuple(lo), _moment_width(data[box], bg))
        if not ok:
            reject("whose fit did not converge")
            continue
        beads.append(bead)
    return beads, rejected


def _voxel(voxel_um, ndim: int) -> tuple[float, ...] | None:
    if voxel_um is None:
        return None
    values = [float(voxel_um)] * 2 if np.isscalar(voxel_um) else [float(v) for v in voxel_um]
    if ndim == 3 and len(values) == 2:
        raise InputError("a z-stack of beads needs its z step too: give (z, y, x) in um")
    if len(values) != ndim:
        raise InputError(f"{len(values)} pixel sizes given for a {ndim}D bead image")
    for v in values:
        if not (math.isfinite(v) and 0 < v <= 50):
            raise InputError(
                f"pixel size {v:g} um is not a microscope's (0 to 50 um): the unit is "
                "micrometres (65 nm is 0.065)"
            )
    return tuple(values)


def _radius(data: np.ndarray, peak, bg: float) -> tuple[int, ...]:
    """The fitting window's half-size per axis: about 3 widths of the brightest bead."""
    r0 = [min(12, n // 4) for n in data.shape]
    lo = [max(int(v) - r, 0) for v, r in zip(peak, r0, strict=True)]
    hi = [int(v) + r + 1 for v, r in zip(peak, r0, strict=True)]
    crop = data[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))]
    widths = _moment_width(crop, bg)
    return tuple(
        max(3, min(int(math.ceil(3 * w)) + 1, n // 3))
        for w, n in zip(widths, data.shape, strict=True)
    )


def _bead_crop(data: np.ndarray, bead: Bead, half: tuple[int, ...]):
    c = [int(round(v)) for v in bead.position]
    lo = [max(v - h, 0) for v, h in zip(c, half, strict=True)]
    hi = [min(v + h + 1, n) for v, h, n in zip(c, half, data.shape, strict=True)]
    crop = data[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))]
    grids = list(
        np.meshgrid(
            *[np.arange(a, b, dtype=np.float64) for a, b in zip(lo, hi, strict=True)], indexing="ij"
        )
    )
    p = np.array([bead.amplitude, bead.background, *bead.position, *bead.sigma])
    return crop, _model(p, grids, data.ndim)


def bead_picture(image, fit: BeadFit, path) -> str:
    """A picture of the measurement: the brightest fitted bead in xy (and xz for a stack),
    its fitted Gaussian and their difference, and the profiles through its centre with the
    fit, the widths in nm where the pixel size is known. PNG; matplotlib draws it where it is
    installed, else the panels are written side by side."""
    from ..io.figures import pyplot
    from ..io.guard import staged

    data = np.asarray(image, dtype=np.float64)
    bead = max(fit.beads, key=lambda b: b.amplitude)
    half = tuple(max(4, int(math.ceil(4 * s))) for s in bead.sigma)
    crop, model = _bead_crop(data, bead, half)
    if crop.ndim == 3:
        views = [
            ("xy", crop.max(axis=0), model.max(axis=0)),
            ("xz", crop.max(axis=1), model.max(axis=1)),
        ]
    else:
        views = [("xy", crop, model)]
    plt = pyplot()
    with staged(path) as tmp:
        if plt is None:
            _panels(views, tmp)
        else:
            _draw(plt, views, crop, model, fit, tmp)
    return str(path)


def _panels(views, tmp) -> None:
    """Bead, fit and difference side by side, one row per view, without matplotlib."""
    import imageio.v3 as iio

    rows = []
    for _, d, m in views:
        lo, hi = float(d.min()), float(d.max()) or 1.0
        row = [np.clip((x - lo) / (hi - lo), 0, 1) for x in (d, m, 0.5 + (d - m) / (hi - lo))]
        rows.append(np.hstack([np.kron(r, np.ones((8, 8))) for r in row]))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, [(0, 4), (0, width - r.shape[1])], constant_values=1) for r in rows]
    iio.imwrite(tmp, (np.vstack(rows) * 255).astype(np.uint8), extension=".png")


def _draw(plt, views, crop, model, fit: BeadFit, tmp) -> None:
    names = "zyx"[-crop.ndim :]
    nm = fit.sigma_nm()
    fig, axes = plt.subplots(len(views), 4, figsize=(13, 3.2 * len(views)), squeeze=False)
    for row, (name, d, m) in zip(axes, views, strict=True):
        for ax, img, title in zip(
            row[:3], (d, m, d - m), ("bead", "fitted Gaussian", "difference"), strict=True
        ):
            ax.imshow(
                img,
                cmap="coolwarm" if title == "difference" else "magma",
                interpolation="nearest",
                aspect="auto",
            )
            ax.set_title(f"{title} ({name})", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        ax = row[3]
        centre = [s // 2 for s in crop.shape]
        axes_of_view = [0] if name == "xz" else [crop.ndim - 2, crop.ndim - 1]
        for axis in axes_of_view:
            index = list(centre)
            index[axis] = slice(None)
            width = f"{nm[axis]:.0f} nm" if nm else f"{fit.sigma_px[axis]:.2f} px"
            ax.plot(crop[tuple(index)], "o", ms=3, label=f"{names[axis]} data")
            ax.plot(model[tuple(index)], "-", label=f"{names[axis]} fit, sigma {width}")
        ax.legend(fontsize=7)
        ax.set_xlabel("pixels")
        ax.set_title("profiles through the centre", fontsize=9)
    fig.suptitle(fit.table(), fontsize=8)
    fig.tight_layout()
    fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
