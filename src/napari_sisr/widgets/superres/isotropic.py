"""The Super-resolve widget's *Isotropic (z-stacks)* section.

For the chosen layer when it is a z-stack: fits its axial blur, trains the axial network on
its own xy planes and restores its z axis to the xy sampling (:func:`napari_sisr.isotropic`),
in the background with progress and cancel. The result is added as a layer whose z scale is
the z step divided by the factor, so it overlays its source. The z step and the pixel size
are the layer's scale where it has length units, else the values typed here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from magicgui.widgets import Container, FloatSpinBox, PushButton

from ...core.errors import InputError
from .._jobs import JobRunner, notify_error, status_callbacks
from .._text import WrappingLabel


def isotropic_job(data, z_um, px_um, train, *, stop=None):
    """Worker job: :func:`napari_sisr.core.isotropic.iter_isotropic` on one stack."""
    from ...core.isotropic import iter_isotropic

    return (
        yield from iter_isotropic(
            np.asarray(data), z_step_um=z_um, pixel_um=px_um, train=train, stop=stop
        )
    )


def _sizes(layer) -> tuple[float | None, float | None]:
    """The layer's z step and x pixel size in um where its units say they are lengths."""
    from ...core.io.units import length_unit, to_micrometres

    units = [str(u) for u in (getattr(layer, "units", None) or ())]
    scale = list(layer.scale)
    if len(units) < 3 or len(scale) < 3:
        return None, None
    out = []
    for value, unit in ((scale[-3], units[-3]), (scale[-1], units[-1])):
        out.append(to_micrometres(value, unit) if length_unit(unit) else None)
    return out[0], out[1]


class IsotropicControls(Container):
    """z step / pixel fields (used where the layer states none), Run / Cancel, a status line.

    ``layer()`` returns the chosen layer (or raises :class:`InputError`); ``add(layer_data,
    kwargs)`` adds the result to the viewer; ``device()`` names the device to train and run on
    (the widget's Device).
    """

    def __init__(self, layer: Callable, add: Callable, device: Callable[[], str] | None = None):
        self._layer, self._add, self._device = layer, add, device or (lambda: "auto")
        self.z_step = FloatSpinBox(
            label="z step (um)", min=0.0, max=50.0, step=0.05, value=0.0, name="iso_z"
        )
        self.pixel = FloatSpinBox(
            label="xy pixel (um)", min=0.0, max=50.0, step=0.01, value=0.0, name="iso_px"
        )
        self.button = PushButton(text="Make isotropic", name="iso_run")
        self.cancel = PushButton(text="Cancel", name="iso_cancel")
        row = Container(widgets=[self.button, self.cancel], layout="horizontal", labels=False)
        row.margins = (0, 0, 0, 0)
        self.status = WrappingLabel(value="", name="iso_status")
        super().__init__(widgets=[self.z_step, self.pixel, row, self.status])
        self.margins = (0, 0, 0, 0)
        self.train: dict = {}  # IsoTrainConfig settings other than the defaults
        self.runner = JobRunner(run_button=self.button, cancel_button=self.cancel)
        self.runner.bind_lifetime(self.native)
        self.button.changed.connect(self.start)
        self.button.tooltip = (
            "For a z-stack: restore its z axis to the xy sampling, learning from its own xy "
            "planes (minutes on a CPU). The z step and pixel size are the layer's, else the "
            "values above (0: unknown)"
        )

    def start(self, *_):
        """Start the job (returns the worker, or None when the input is not usable)."""
        try:
            layer = self._layer()
            if layer.ndim != 3 or getattr(layer, "rgb", False):
                raise InputError(f"layer {layer.name!r} is not a z-stack (Z, Y, X)")
            z_um, px_um = _sizes(layer)
            z_um = z_um or (self.z_step.value or None)
            px_um = px_um or (self.pixel.value or None)
            if not (z_um and px_um):
                raise InputError("give the z step and the xy pixel size (um): the layer has none")
        except InputError as err:
            notify_error(f"Isotropic: {err}")
            return None
        self.status.value = "fitting the axial blur..."
        self._source = layer
        train = {"device": self._device(), **self.train}
        return self.runner.start(
            isotropic_job,
            layer.data,
            z_um,
            px_um,
            train,
            on_done=self._done,
            **status_callbacks(self.status),
            description="Isotropic",
        )

    def _done(self, result) -> None:
        src, f = self._source, result.fit.factor
        scale = list(src.scale)
        scale[-3] = scale[-3] / f
        translate = list(src.translate)
        translate[-3] = translate[-3] - (f // 2) * scale[-3]
        meta = {"napari_sisr": {"isotropic_of": src.name, "fit": result.fit.summary()}}
        self._add(
            np.asarray(result.stack),
            {
                "name": f"{src.name} isotropic (z x{f})",
                "scale": scale,
                "translate": translate,
                "metadata": meta,
            },
        )
        last = result.validation[-1] if result.validation else None
        held = f"; held-out planes {last[1]:.1f} dB (linear {last[2]:.1f})" if last else ""
        self.status.value = (
            f"done in {result.seconds:.0f} s: axial blur {result.fit.sigma:.2f} xy px, z x{f}"
            + held
            + "".join(f"; {n}" for n in result.fit.notes)
        )
