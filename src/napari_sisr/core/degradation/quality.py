"""Does a fit describe the pair? A verdict (``ok``, ``doubtful``, ``failed``) with reasons.

A least-squares fit always returns numbers, also for a pair at the wrong scale or of two
different fields; these checks tell such numbers from a fit. Thresholds:

* **explained variance** (``1 - var(residual) / var(LR)`` on the fitted region): below
  :data:`EXPLAINED_FAILED` the model explains less than a third of what the LR capture
  holds: failed. The real pairs of the benchmark explain 50 % (a low-light widefield frame,
  mostly noise) to 98 %; a fit at a wrong scale explained 20-34 %.
* **residual whiteness** (mean lag-1 autocorrelation): white noise gives about 0 (within
  ``2 / sqrt(n)``); good real fits give 0.1-0.25, and about 0.4 when the HR capture is itself
  noisy (its noise, blurred into the simulation, is smooth). Above :data:`LAG1_DOUBTFUL` most
  of the residual is structure the model does not explain: doubtful. The fit then compares
  other PSF families on held-out pixels (:mod:`.families`) and names one that explains the
  pair better.
* **search bounds**: a PSF width at the upper bound of the search, or a refined shift at the
  limit of its search window (the scale around the correlation estimate), means the optimum
  lies outside what was searched: failed. A width at the lower bound is doubtful: either the
  scale is wrong, or the LR differs from the HR only by pixel integration (then the fit is
  right).
* **overlap**: a correlation below :data:`CORRELATION_DOUBTFUL` between the LR image and the
  HR image at LR resolution: doubtful (below 0.2 the fit refuses to run).
* **scale**: a scale that contradicts the images' pixel sizes (when the caller knows them).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FitQuality", "assess_fit", "EXPLAINED_FAILED", "LAG1_DOUBTFUL"]

EXPLAINED_FAILED = 0.35
LAG1_DOUBTFUL = 0.5
CORRELATION_DOUBTFUL = 0.5
_ORDER = {"ok": 0, "doubtful": 1, "failed": 2}


@dataclass(frozen=True)
class FitQuality:
    """The verdict on a fit and why."""

    verdict: str = "ok"
    reasons: tuple[str, ...] = ()

    def worse(self, verdict: str, reason: str) -> FitQuality:
        """This quality with one more reason, at ``verdict`` or worse."""
        v = verdict if _ORDER[verdict] > _ORDER[self.verdict] else self.verdict
        return FitQuality(v, (*self.reasons, reason))

    def as_dict(self) -> dict:
        return {"verdict": self.verdict, "reasons": list(self.reasons)}

    def line(self) -> str:
        """``"fit ok"`` or ``"fit doubtful: reason; reason"``."""
        return f"fit {self.verdict}" + (": " + "; ".join(self.reasons) if self.reasons else "")


def assess_fit(
    *,
    sigma: float,
    sigma_bounds: tuple[float, float],
    explained: float,
    lag1: float,
    correlation: float,
    shift_at_bound: bool,
    scale: int,
    expected_scale: float | None = None,
) -> FitQuality:
    """Judge a fit from its diagnostics (see the module docstring for the thresholds)."""
    q = FitQuality()
    lo, hi = sigma_bounds
    if explained < EXPLAINED_FAILED:
        q = q.worse(
            "failed",
            f"the model explains only {100 * max(explained, 0):.0f} % of the LR image's "
            "variance: wrong scale, or not the same field?",
        )
    if sigma >= 0.999 * hi:
        q = q.worse("failed", f"PSF width at the search's upper bound ({hi:g} HR px)")
    elif sigma <= 1.001 * lo:
        q = q.worse(
            "doubtful",
            f"PSF width at the search's lower bound ({lo:g} HR px): the scale may be wrong, "
            "or the LR differs from the HR only by pixel integration",
        )
    if shift_at_bound:
        q = q.worse("failed", "the shift ran to the edge of its search window: not registered")
    if lag1 > LAG1_DOUBTFUL:
        q = q.worse(
            "doubtful",
            f"residual far from white noise (lag-1 {lag1:.2f} > {LAG1_DOUBTFUL}): a Gaussian "
            "PSF and white noise explain this pair poorly",
        )
    if correlation < CORRELATION_DOUBTFUL:
        q = q.worse("doubtful", f"weak overlap of the two fields (correlation {correlation:.2f})")
    if expected_scale is not None and abs(expected_scale - scale) > 0.05 * scale:
        q = q.worse(
            "failed",
            f"scale {scale} contradicts the pixel sizes, which say {expected_scale:.3g}",
        )
    return q
