"""Which model runs when none is named: the route follows what the user has.

With a PSF from any source (a fit, beads, the optics, a width typed in, or the file's own
metadata) the degradation-aware model of the scale runs, steered by it. With nothing, the
blind model runs: on the real pairs, told nothing, the aware model gained less over bicubic
than the blind one (docs/without-ground-truth.md), so it is chosen only when it has something
to be told.
"""

from __future__ import annotations

__all__ = ["default_route"]


def default_route(steering=None, optics_in_file: bool = False, scale: int = 4) -> tuple[str, str]:
    """The bundled model to run and why, in one line.

    Parameters
    ----------
    steering : Steering, optional
        What the user gave (a fit, a width, the optics); ``None``: nothing.
    optics_in_file : bool
        Whether the image's metadata states NA, emission wavelength and pixel size.
    scale : int
    """
    from ..modelio import bundled_models

    aware, blind = f"aware-{scale}x", f"default-{scale}x"
    if aware in bundled_models():
        if steering is not None:
            what = _given(steering)
            return aware, f"model {aware}: the degradation-aware model, steered by {what}"
        if optics_in_file:
            return aware, (
                f"model {aware}: the degradation-aware model, steered by the optics the "
                "image's metadata states"
            )
    if blind not in bundled_models():
        from ..errors import InputError

        raise InputError(f"no bundled model at {scale}x: name one with --model")
    return blind, (
        f"model {blind}: the blind model, as no PSF was given (a fit, beads or the optics "
        f"steer {aware}, which then does better)"
    )


def _given(steering) -> str:
    if steering.fit is not None:
        return {"beads": "the bead measurement", "tuned": "the tuned steering"}.get(
            steering.fit.source, "the degradation JSON"
        )
    if steering.optics is not None:
        return "the optics given"
    if steering.sigma is not None:
        return "the PSF width given"
    return "the noise given, the PSF from the image or the card"
