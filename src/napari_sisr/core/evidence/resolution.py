"""Resolution without a reference: decorrelation analysis and Fourier ring correlation.

**Decorrelation analysis** (Descloux, Grussmayer & Radenovic, Nat. Methods 16, 918, 2019)
reads the resolution of one image from its own spectrum: the image's Fourier transform is
correlated with its phase (the spectrum normalised to unit amplitude) inside discs of growing
radius; the correlation peaks where signal gives way to noise. Repeating this after Gaussian
high-pass filters of decreasing width finds the highest frequency that still carries signal,
``k_c`` (1 at the Nyquist frequency), and the resolution is ``2 * pixel / k_c``. Implemented
here after the paper, with radial cumulative sums instead of one masked sum per radius. A
filter's width is the sigma, in pixels, of the Gaussian blur it subtracts, as in the authors'
ImageJ plugin and in nanopyx (their MATLAB code states the width in the Fourier domain, 2/pi
of it), and the second pass samples up to 0.3 above the first pass's best cut-off, as both
reference codes do.

**Fourier ring correlation** of two images of the same field with independent noise gives the
frequency where their correlation falls below a threshold (1/7 by convention): what the two
agree on is signal, what they do not is noise or invention. Given two independent halves of a
capture, each super-resolved, it measures the detail an SR output shows *reproducibly*, which
invented texture does not raise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

#: Largest side (px) analysed: larger images are read through their central square.
MAX_SIDE = 2048
#: Radii sampled per curve, and high-pass filters per refinement pass (the paper's values).
N_RADII, N_FILTERS = 50, 10
#: How far above the first pass's best cut-off the second pass samples (the reference codes').
REFINE_SPAN = 0.3
#: Peaks weaker than this are noise, not resolution (the paper's threshold).
MIN_AMPLITUDE = 0.05
#: FRC threshold (the 1/7 criterion).
FRC_THRESHOLD = 1 / 7


@dataclass(frozen=True)
class Resolution:
    """A resolution estimate: ``value`` in ``unit`` (``"nm"`` when the pixel size is known,
    else ``"px"`` of the image measured, or ``"LR px"`` in an evidence summary), the cut-off
    frequency ``kc`` (1 = Nyquist) and the peak amplitude (signal to noise of the estimate;
    below :data:`MIN_AMPLITUDE` nothing was found)."""

    value: float
    unit: str
    kc: float
    amplitude: float
    method: str
    at_limit: bool = False  # the curve never fell below its threshold: a bound, not a value

    def as_dict(self) -> dict:
        """The estimate as JSON-safe values (``value`` None where nothing was measurable)."""
        return {
            "value": self.value if math.isfinite(self.value) else None,
            "unit": self.unit,
            "kc": self.kc,
            "amplitude": self.amplitude,
            "method": self.method,
            "at_limit": self.at_limit,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Resolution:
        """The estimate back from :meth:`as_dict`'s form."""
        value = d.get("value")
        return cls(
            float("inf") if value is None else float(value),
            d.get("unit", "px"),
            float(d.get("kc", 0.0)),
            float(d.get("amplitude", 0.0)),
            d.get("method", ""),
            bool(d.get("at_limit", False)),
        )

    def text(self) -> str:
        if not math.isfinite(self.value):
            return "not measurable (no signal above the noise)"
        value = f"{self.value:.0f} nm" if self.unit == "nm" else f"{self.value:.2f} {self.unit}"
        return f"the pixel limit ({value}) or finer" if self.at_limit else value


def describe(d: dict | None) -> str:
    """A resolution in :meth:`Resolution.as_dict`'s form (as in an evidence summary), in words;
    ``"?"`` where there is none."""
    return Resolution.from_dict(d).text() if d else "?"


def _check_pixel_size(pixel_size_nm) -> None:
    if pixel_size_nm is not None and not (
        isinstance(pixel_size_nm, int | float | np.number)
        and math.isfinite(pixel_size_nm)
        and pixel_size_nm > 0
    ):
        raise InputError(f"the pixel size must be a positive number of nm, got {pixel_size_nm!r}")


def _square(image, max_side: int = MAX_SIDE) -> np.ndarray:
    """The central square of a 2D image, of odd side (at most ``max_side``), in float64."""
    if image is None or isinstance(image, str | bytes):
        raise InputError(f"an image array is needed, got {type(image).__name__}")
    a = np.asarray(image, dtype=np.float64)
    if a.ndim != 2:
        raise InputError(f"resolution is measured on one 2D plane, got shape {a.shape}")
    if min(a.shape) < 16:
        raise InputError(f"an image of {a.shape[0]} x {a.shape[1]} px is too small to measure")
    n = min(min(a.shape), max_side)
    n -= 1 - n % 2  # odd: the zero frequency sits on a pixel, the spectrum is symmetric
    y0, x0 = (a.shape[0] - n) // 2, (a.shape[1] - n) // 2
    a = a[y0 : y0 + n, x0 : x0 + n]
    if not np.isfinite(a).all():
        raise InputError("the image holds NaN or infinite values")
    return a


def _flat(a: np.ndarray) -> bool:
    """No variation beyond round-off: no structure, no resolution."""
    return bool(np.ptp(a) <= 1e-9 * max(float(np.abs(a).max()), 1e-300))


def _apodise(a: np.ndarray, width: int = 20) -> np.ndarray:
    """The image less its mean, with its edges rolled off to zero by a raised cosine over
    ``width`` px (edges would otherwise add a cross of spurious high frequencies)."""
    mean = a.mean()
    n = a.shape[0]
    w = min(width, n // 4)
    ramp = np.ones(n)
    if w > 0:
        t = (np.sin(np.linspace(-np.pi / 2, np.pi / 2, w)) + 1) / 2
        ramp[:w], ramp[-w:] = t, t[::-1]
    return (a - mean) * np.outer(ramp, ramp)


def _spectrum(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Fourier transform inside the unit disc (Nyquist = 1) and each frequency's radius."""
    n = a.shape[0]
    f = np.fft.fftshift(np.fft.fft2(a))
    k = np.linspace(-1, 1, n)
    kr = np.sqrt(k[:, None] ** 2 + k[None, :] ** 2)
    f[kr > 1] = 0
    return f, kr


class _Rings:
    """Cumulative sums over the radius, so the correlation inside every disc is one lookup."""

    def __init__(self, kr: np.ndarray, bins: int = 2048):
        self.bins = bins
        idx = np.floor(kr.ravel() * bins).astype(int)
        idx[kr.ravel() > 1] = bins + 1  # outside the disc: an overflow bin never summed
        self.idx = np.minimum(idx, bins + 1)

    def cumulative(self, values: np.ndarray) -> np.ndarray:
        sums = np.bincount(self.idx, weights=values.ravel(), minlength=self.bins + 2)
        return np.cumsum(sums[: self.bins + 1])

    def at(self, cum: np.ndarray, r: np.ndarray) -> np.ndarray:
        """Sums over the frequencies of radius below ``r`` (per value of ``r``)."""
        i = np.ceil(np.asarray(r) * self.bins).astype(int) - 1
        return np.where(i >= 0, cum[np.clip(i, 0, self.bins)], 0.0)


def _local_max(d: np.ndarray) -> int:
    """Index of the curve's highest peak that is not its last point (the paper's rule: a
    maximum at the end means the curve is still rising, so it is dropped and the search
    repeats)."""
    d = np.asarray(d, dtype=np.float64)
    n = len(d)
    while n > 1:
        ind = int(np.argmax(d[:n]))
        if ind == n - 1:
            n -= 1
            continue
        if ind == 0 or d[ind] - d[ind:n].min() >= 0.0005:
            return ind
        n -= 1
    return 0


def _curve(f, phase, rings, c_phase, r) -> np.ndarray:
    """Correlation of ``f`` with the unit-amplitude phase inside discs of radii ``r``."""
    num = rings.at(rings.cumulative(np.real(f * np.conj(phase))), r)
    norm = math.sqrt(float(np.sum(np.abs(f) ** 2))) or 1.0
    den = np.sqrt(np.maximum(rings.at(c_phase, r), 1e-30)) * norm
    return num / den


def _peak(f, phase, rings, c_phase, r) -> tuple[float, float]:
    d = _curve(f, phase, rings, c_phase, r)
    i = _local_max(d)
    return float(r[i]), float(d[i])


def _refined_widths(kcs: list[float], widths: np.ndarray, n: int) -> tuple[np.ndarray, int]:
    """The filter widths of the second pass, between the filter that reached the highest
    frequency and the next narrower one (the paper's rule), and the index of that peak."""
    best = max(i for i, k in enumerate(kcs) if k == max(kcs))  # kcs[0]: no filter
    if best == 0:
        g1, g2 = n, widths[0]
    elif best >= len(widths) - 1:
        g1, g2 = widths[best - 2], widths[best - 1]
    else:
        g1, g2 = widths[best - 1], widths[best]
    return np.exp(np.linspace(math.log(g1), math.log(g2), N_FILTERS)), best


def _high_pass(kr: np.ndarray, g: float) -> np.ndarray:
    """Transfer function of "the image minus its Gaussian blur of sigma ``g`` px" at the
    normalised frequencies ``kr`` (1 = Nyquist, i.e. 0.5 cycles per pixel)."""
    return 1 - np.exp(-0.5 * (math.pi * g * kr) ** 2)


#: Half-angle of the sector a directional analysis keeps around its axis (degrees).
SECTOR_DEG = 30.0


def decorrelation(image, pixel_size_nm: float | None = None, axis: int | None = None) -> Resolution:
    """The resolution of ``image`` by decorrelation analysis (module docstring).

    Parameters
    ----------
    image : 2D array
        One plane; its central square of at most :data:`MAX_SIDE` px is analysed.
    pixel_size_nm : float, optional
        Pixel size in nanometres: the result in nm, else in pixels.
    axis : {0, 1}, optional
        Measure along this axis only (the frequencies within :data:`SECTOR_DEG` of it, as the
        paper's sectorial analysis does): e.g. axis 0 of an xz slice is the axial resolution.
    """
    _check_pixel_size(pixel_size_nm)
    a = _square(image)
    unit = "nm" if pixel_size_nm else "px"
    if _flat(a):
        return Resolution(float("inf"), unit, 0.0, 0.0, "decorrelation")  # flat: no structure
    # without its mean: the zero frequency says nothing about resolution, and left in, it makes
    # a peak at the lowest radius that pure noise on an offset would be read by
    a = _apodise(a)
    n = a.shape[0]
    f, kr = _spectrum(a)
    if axis is not None:
        if axis not in (0, 1):
            raise InputError(f"axis must be 0 or 1, got {axis}")
        k = np.abs(np.linspace(-1, 1, n))
        along = k[:, None] * np.ones((1, n)) if axis == 0 else np.ones((n, 1)) * k[None, :]
        f = np.where(along >= math.cos(math.radians(SECTOR_DEG)) * kr, f, 0)
    mag = np.abs(f)
    phase = np.where(mag > 0, f / np.where(mag > 0, mag, 1), 0)
    rings = _Rings(kr)
    c_phase = rings.cumulative(np.abs(phase) ** 2)
    r = np.linspace(0, 1, N_RADII)
    k0, a0 = _peak(f, phase, rings, c_phase, r)
    g_max = 2 / k0 if k0 > 0 else n / 2
    widths = np.concatenate(
        [[n / 4], np.exp(np.linspace(math.log(g_max), math.log(0.15), N_FILTERS))]
    )
    kcs, amps = [k0], [a0]
    for rpass in range(2):
        for g in widths:
            k, amp = _peak(f * _high_pass(kr, g), phase, rings, c_phase, r)
            kcs.append(k)
            amps.append(amp)
        if rpass == 0:
            widths, best = _refined_widths(kcs, widths, n)
            r1 = max(kcs[best] - (r[1] - r[0]), 0.0)
            r = np.linspace(r1, min(kcs[best] + REFINE_SPAN, float(r[-1])), N_RADII)
    valid = [(k, amp) for k, amp in zip(kcs, amps, strict=True) if amp >= MIN_AMPLITUDE and k > 0]
    if not valid:
        return Resolution(float("inf"), unit, 0.0, 0.0, "decorrelation")
    kc, amp = max(valid)
    value = 2.0 / kc * (float(pixel_size_nm) if pixel_size_nm else 1.0)
    return Resolution(value, unit, kc, amp, "decorrelation")


def frc_curve(a, b, rings: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fourier ring correlation of two images of one field: ``(frequencies, frc)``, the
    frequency of each ring (1 = Nyquist) and the correlation there."""
    a, b = _square(a), _square(b)
    if a.shape != b.shape:
        raise InputError(f"FRC needs two images of one shape, got {a.shape} and {b.shape}")
    fa, kr = _spectrum(_apodise(a))
    fb, _ = _spectrum(_apodise(b))
    n = a.shape[0]
    nrings = rings or n // 2
    idx = np.minimum((kr * nrings).astype(int), nrings)
    num = np.bincount(idx.ravel(), np.real(fa * np.conj(fb)).ravel(), nrings + 1)[:nrings]
    pa = np.bincount(idx.ravel(), (np.abs(fa) ** 2).ravel(), nrings + 1)[:nrings]
    pb = np.bincount(idx.ravel(), (np.abs(fb) ** 2).ravel(), nrings + 1)[:nrings]
    frc = num / np.sqrt(np.maximum(pa * pb, 1e-300))
    freq = (np.arange(nrings) + 0.5) / nrings
    return freq, frc


def frc_resolution(a, b, pixel_size_nm: float | None = None) -> Resolution:
    """The resolution at which the FRC of ``a`` and ``b`` first falls below 1/7 (after a
    light smoothing of the curve: three rings)."""
    _check_pixel_size(pixel_size_nm)
    if _flat(_square(a)) or _flat(_square(b)):  # nothing to agree on: not the pixel limit
        return Resolution(float("inf"), "nm" if pixel_size_nm else "px", 0.0, 0.0, "frc")
    freq, frc = frc_curve(a, b)
    smooth = np.convolve(frc, np.ones(3) / 3, mode="same")
    smooth[0] = frc[0]
    below = np.nonzero(smooth[1:] < FRC_THRESHOLD)[0]
    if len(below) == 0:
        kc = 1.0
    else:
        j = int(below[0]) + 1
        f0, f1, c0, c1 = freq[j - 1], freq[j], smooth[j - 1], smooth[j]
        kc = float(f0 + (c0 - FRC_THRESHOLD) * (f1 - f0) / (c0 - c1)) if c0 != c1 else float(f1)
    amp = float(np.mean(smooth[: max(2, len(smooth) // 20)]))
    px = 2.0 / max(kc, 1e-6)
    limit = len(below) == 0
    if pixel_size_nm:
        return Resolution(px * float(pixel_size_nm), "nm", kc, amp, "frc", limit)
    return Resolution(px, "px", kc, amp, "frc", limit)
