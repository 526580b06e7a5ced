"""The Fit widget's model options: PSF shape and where the noise comes from."""

from __future__ import annotations

from magicgui.widgets import CheckBox, ComboBox

__all__ = ["fit_options"]

#: (label, ``fit_degradation(noise=...)``) of the *noise from* choice.
NOISE_CHOICES = [("the fit's residual", "residual"), ("the LR image itself", "image")]


def fit_options() -> tuple[CheckBox, CheckBox, ComboBox]:
    """The *anisotropic* and *Poisson* boxes and the *noise from* choice, with tooltips."""
    anisotropic = CheckBox(value=False, text="Anisotropic PSF (sigma_y, sigma_x)")
    poisson = CheckBox(value=False, text="Poisson-Gaussian noise")
    noise_from = ComboBox(label="noise from", choices=NOISE_CHOICES, name="noise_from")
    noise_from.tooltip = (
        "The residual's variance (default: on real pairs, training on it does best, also "
        "where the residual is mostly structure the model does not explain), or the LR "
        "capture's own noise, estimated from the image alone (the camera's physical noise)"
    )
    return anisotropic, poisson, noise_from
