"""The axial degradation of a stack, from the stack alone.

An axial (xz or yz) slice of a light-sheet or confocal stack shows the sample as a lateral
(xy) plane would, blurred further along z (the axial PSF is wider than the lateral one) and
sampled every z step: ``factor`` = z step / pixel size xy pixels apart, each plane an optical
section (a point sample along z). :func:`fit_axial` finds the extra blur ``sigma`` (a Gaussian,
in xy pixels) by degrading the stack's own xy planes along one axis until the power spectrum
along that axis matches the power spectrum along z of its xz and yz slices: the shapes are
compared on a log scale over the band both resolve, with the noise floor of the stack added to
the degraded planes (the real axial samples carry their noise unblurred).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

__all__ = ["AxialFit", "axial_sigma_from_beads", "fit_axial", "degrade_rows"]

#: Normalised frequencies (cycles per coarse sample) the spectra are compared over.
BAND = (0.04, 0.42)
#: Most planes / slices the spectra are averaged over.
MAX_SLICES = 256
#: Most columns of a lateral plane the spectra are taken over.
MAX_SIDE = 512


@dataclass
class AxialFit:
    """The axial degradation: ``factor`` (integer, xy pixels per z step as the network
    upsamples), ``sigma`` (extra Gaussian blur along z, xy pixels), the sizes it came from."""

    factor: int
    ratio: float  # z step / xy pixel size, before rounding
    sigma: float
    pixel_um: float | None
    z_step_um: float | None
    curve: list[tuple[float, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        out = {
            "factor": self.factor,
            "ratio": self.ratio,
            "sigma_xy_px": self.sigma,
            "pixel_um": self.pixel_um,
            "z_step_um": self.z_step_um,
            "notes": self.notes,
        }
        if self.pixel_um:
            out["sigma_nm"] = 1000 * self.sigma * self.pixel_um
            out["z_out_um"] = self.z_step_um / self.factor if self.z_step_um else None
        return out


def degrade_rows(plane: np.ndarray, sigma: float, factor: int, offset: int = 0) -> np.ndarray:
    """An xy plane as an axial slice would show it: blurred along the rows by ``sigma`` and
    sampled every ``factor`` rows."""
    from scipy.ndimage import gaussian_filter1d

    a = np.asarray(plane, np.float64)
    if sigma > 0:
        a = gaussian_filter1d(a, sigma, axis=0, mode="reflect")
    return a[offset::factor]


def _spectrum(slices, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean power spectrum along axis 0 over the first ``n`` samples (Hann window, mean
    removed), on normalised frequencies (cycles per sample, 0 to 0.5). ``slices``: a list, or
    any iterable when ``n`` is given (each slice is then made, used and dropped in turn)."""
    n = n or min(s.shape[0] for s in slices)
    win = np.hanning(n)[:, None]
    acc = np.zeros(n // 2 + 1)
    count = 0
    for s in slices:
        a = np.asarray(s[:n], np.float64)
        a = a - a.mean(axis=0, keepdims=True)
        acc += (np.abs(np.fft.rfft(a * win, axis=0)) ** 2).mean(axis=1)
        count += 1
    return np.fft.rfftfreq(n), acc / max(count, 1)


def _axial_slices(stack: np.ndarray, rng) -> list[np.ndarray]:
    z, y, x = stack.shape
    ys = rng.choice(y, size=min(y, MAX_SLICES // 2), replace=False)
    xs = rng.choice(x, size=min(x, MAX_SLICES // 2), replace=False)
    return [stack[:, i, :] for i in ys] + [stack[:, :, i] for i in xs]


def _lateral_planes(stack: np.ndarray, rng) -> list[np.ndarray]:
    zs = rng.choice(stack.shape[0], size=min(stack.shape[0], MAX_SLICES // 2), replace=False)
    planes = [_central(stack[i]) for i in zs]
    return planes + [_central(stack[i].T) for i in zs]  # both lateral axes play the part of z


def _central(plane: np.ndarray) -> np.ndarray:
    """The central ``MAX_SIDE`` columns of a plane: the spectrum along its rows is averaged
    over columns, and more of them only cost time."""
    w = plane.shape[1]
    x0 = max(0, (w - MAX_SIDE) // 2)
    return plane[:, x0 : x0 + MAX_SIDE]


def all_finite(stack) -> bool:
    """Whether every value of ``stack`` is finite, a plane at a time (no whole-stack copy)."""
    a = stack if hasattr(stack, "dtype") else np.asarray(stack)
    if not np.issubdtype(a.dtype, np.floating):
        return True
    return all(bool(np.isfinite(np.asarray(a[i])).all()) for i in range(a.shape[0]))


def _cost(sim_f, sim_p, ref_f, ref_p, usable) -> float:
    band = (ref_f >= BAND[0]) & (ref_f <= BAND[1]) & usable
    if band.sum() < 3:  # the noise hides all but the lowest frequencies: use the band anyway
        band = (ref_f >= BAND[0]) & (ref_f <= BAND[1]) & (ref_p > 0)
    s = np.interp(ref_f[band], sim_f, sim_p)
    d = np.log(np.maximum(s, 1e-30)) - np.log(np.maximum(ref_p[band], 1e-30))
    return float(np.mean((d - d.mean()) ** 2))


def _cost_function(a: np.ndarray, f: int, rng):
    """The mismatch between the axial slices' spectrum and that of the xy planes degraded
    with a given extra blur. Noise is compared apart from the signal: the signal's spectra are
    matched where they stand above the noise floor (the real axial samples carry their noise
    unblurred, the degraded planes a blurred copy of theirs)."""
    from ..degradation.noiselevel import estimate_noise

    ref_f, ref_p = _spectrum(_axial_slices(a, rng))
    planes = _lateral_planes(a, rng)
    try:
        noise_var, _ = estimate_noise(np.asarray(a[a.shape[0] // 2], np.float64))
    except InputError:
        noise_var = 0.0
    offsets = [int(rng.integers(f)) for _ in planes]
    white = [np.sqrt(noise_var) * rng.standard_normal(p.shape) for p in planes[:16]]
    ref_noise = 0.0 * ref_p
    if noise_var > 0:
        flat = [np.sqrt(noise_var) * rng.standard_normal((a.shape[0], 64)) for _ in range(16)]
        ref_noise = _spectrum(flat)[1]
    ref_signal = ref_p - ref_noise
    usable = ref_signal > 0.5 * np.maximum(ref_noise, 1e-30 * ref_p.max())

    n = min(len(range(o, p.shape[0], f)) for p, o in zip(planes, offsets, strict=True))

    def cost(sigma: float) -> float:
        sim = (degrade_rows(p, sigma, f, o) for p, o in zip(planes, offsets, strict=True))
        sf, sp = _spectrum(sim, n)
        if noise_var > 0:
            sp = sp - _spectrum([degrade_rows(w, sigma, f) for w in white], n)[1]
        return _cost(sf, np.maximum(sp, 1e-12 * sp.max()), ref_f, ref_signal, usable)

    return cost


def fit_axial(
    stack,
    z_step_um: float | None = None,
    pixel_um: float | None = None,
    *,
    factor: int | None = None,
    max_sigma: float | None = None,
    seed: int = 0,
) -> AxialFit:
    """Fit the axial degradation of a z-stack (module docstring).

    Parameters
    ----------
    stack : array-like (Z, Y, X)
    z_step_um, pixel_um : float, optional
        The z step and the xy pixel size (micrometres); their ratio is the factor.
    factor : int, optional
        The factor directly (xy pixels per z step), when the sizes are unknown.
    max_sigma : float, optional
        Largest extra blur tried (xy px; default four z steps).
    """
    from scipy.optimize import minimize_scalar

    a = stack if isinstance(stack, np.ndarray) else np.asarray(stack)  # slices read as needed
    if a.ndim != 3:
        raise InputError(f"a z-stack is (Z, Y, X), got shape {a.shape}")
    if not all_finite(a):
        raise InputError("the stack holds NaN or infinite values")
    ratio = _ratio(z_step_um, pixel_um, factor)
    f = max(1, int(round(ratio)))
    if f < 2:
        raise InputError(
            f"the z step is {ratio:.2f} times the xy pixel: the stack is already sampled about "
            "as finely along z as in xy (nothing to make isotropic)"
        )
    if a.shape[0] < 8 or min(a.shape[1:]) < 8 * f:
        raise InputError(
            f"a stack of {a.shape} is too small to fit its axial blur at a factor of {f} (need "
            f"8 planes and {8 * f} px laterally)"
        )
    rng = np.random.default_rng(seed)
    cost = _cost_function(a, f, rng)
    hi = float(max_sigma) if max_sigma is not None else 4.0 * f
    grid = np.linspace(0.0, hi, 17)
    costs = [cost(s) for s in grid]
    k = int(np.argmin(costs))
    lo_, hi_ = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    best = minimize_scalar(cost, bounds=(lo_, hi_), method="bounded", options={"xatol": 0.02})
    sigma = float(best.x) if best.fun <= costs[k] else float(grid[k])
    notes = []
    if abs(ratio - f) > 0.05 * ratio:
        notes.append(
            f"the z step is {ratio:.2f} xy pixels: the result is sampled every {1 / f:.3g} z "
            f"step ({ratio / f:.3g} xy pixels), not exactly like xy"
        )
    if sigma >= 0.95 * hi:
        notes.append(f"the axial blur reached the largest width tried ({hi:.3g} px)")
    curve = [(float(s), float(c)) for s, c in zip(grid, costs, strict=True)]
    return AxialFit(f, float(ratio), sigma, pixel_um, z_step_um, curve, notes)


def _ratio(z_step_um, pixel_um, factor) -> float:
    if factor is not None:
        whole = isinstance(factor, numbers.Real) and math.isfinite(factor) and factor % 1 == 0
        if not whole or factor < 1:
            raise InputError(
                f"the factor is a whole number of xy pixels per z step, got {factor!r}"
            )
        return float(factor)
    if z_step_um is None or pixel_um is None:
        raise InputError(
            "the z step and the xy pixel size are needed (from the file's metadata, or give "
            "them: --z-step-um and --pixel-size-um)"
        )
    for name, v in (("z step", z_step_um), ("pixel size", pixel_um)):
        if not (math.isfinite(v) and 0 < v <= 50):
            raise InputError(f"the {name} must be 0 to 50 um, got {v}")
    return float(z_step_um) / float(pixel_um)


def axial_sigma_from_beads(params, pixel_um: float) -> float:
    """The extra axial blur (xy pixels of a stack of ``pixel_um``) that a bead measurement
    gives: the stack's xy planes already carry the lateral PSF, so what an axial slice adds is
    ``sqrt(sigma_z**2 - sigma_lateral**2)``. ``params``: the degradation JSON of
    ``napari-sisr psf`` on a z-stack of beads (a path or its :class:`DegradationParams`)."""
    from ..degradation.params import DegradationParams

    p = params if isinstance(params, DegradationParams) else DegradationParams.load(params)
    beads = p.notes.get("beads") if isinstance(p.notes, dict) else None
    nm = (beads or {}).get("sigma_nm") or {}
    if "z" not in nm:
        raise InputError(
            "the PSF JSON holds no axial width in nm: measure a z-stack of beads with its z step "
            "and pixel size known (napari-sisr psf BEADS.tif -o psf.json)"
        )
    if not (math.isfinite(pixel_um) and 0 < pixel_um <= 50):
        raise InputError(f"the pixel size must be 0 to 50 um, got {pixel_um}")
    lateral = math.sqrt(float(nm["y"]) * float(nm["x"]))
    extra = float(nm["z"]) ** 2 - lateral**2
    if extra <= 0:
        raise InputError(
            f"the beads are as sharp along z ({nm['z']:.0f} nm) as laterally ({lateral:.0f} nm): "
            "no axial blur to undo"
        )
    return math.sqrt(extra) / (1000.0 * pixel_um)
