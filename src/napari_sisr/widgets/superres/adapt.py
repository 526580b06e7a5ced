"""The Super-resolve widget's *Adapt to this image* row (degradation-aware models).

With the PSF known (a fit or bead JSON, or a width typed in), the chosen model is adapted to
the chosen layer's captures alone (:func:`napari_sisr.adapt`) in the background, with
progress and cancel; the adapted model is added to the model list and chosen. The run folder
goes under the plugin's data folder, named after the layer and the time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from magicgui.widgets import Container, PushButton

from ...core.errors import InputError
from .._jobs import JobRunner, notify_error, status_callbacks
from .._text import WrappingLabel


def adapt_job(model, images, degradation, out, options=None, *, stop=None):
    """Worker job: :func:`napari_sisr.core.adapt.iter_adapt` on the captures."""
    from ...core.adapt import AdaptConfig, iter_adapt

    c = AdaptConfig(
        images=[np.asarray(i) for i in images],
        degradation=degradation,
        model=str(model),
        out=out,
        **(options or {}),
    )
    return (yield from iter_adapt(c, stop=stop))


def run_folder(name: str) -> Path:
    """A new run folder for an adaptation of the layer ``name``."""
    import platformdirs

    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "image"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return (
        Path(platformdirs.user_data_dir("napari-sisr", appauthor=False))
        / "adapted"
        / (f"{safe[:40]}-{stamp}")
    )


class AdaptControls(Container):
    """Adapt / Cancel and a line saying what the adaptation did.

    ``inputs()`` returns ``(model, images, degradation, layer name)`` or raises
    :class:`InputError`; ``chosen(path)`` is called with the adapted model's JSON.
    """

    def __init__(self, inputs: Callable, chosen: Callable[[Path], None]) -> None:
        self._inputs, self._chosen = inputs, chosen
        self.settings: dict = {}  # AdaptConfig settings other than the defaults
        self.button = PushButton(text="Adapt to this image", name="adapt_run")
        self.cancel = PushButton(text="Cancel", name="adapt_cancel")
        row = Container(widgets=[self.button, self.cancel], layout="horizontal", labels=False)
        row.margins = (0, 0, 0, 0)
        self.status = WrappingLabel(value="", name="adapt_status")
        super().__init__(widgets=[row, self.status], labels=False)
        self.margins = (0, 0, 0, 0)
        self.runner = JobRunner(run_button=self.button, cancel_button=self.cancel)
        self.runner.bind_lifetime(self.native)
        self.button.changed.connect(self.start)
        self.button.tooltip = (
            "Fine-tune this model on the chosen image alone, with the PSF given above (no HR "
            "image needed): a few minutes on a CPU. The adapted model is added to the list"
        )

    def start(self, *_):
        """Start the adaptation (returns the worker, or None when an input is missing)."""
        try:
            model, images, degradation, name = self._inputs()
        except InputError as err:
            notify_error(f"Adapt: {err}")
            return None
        self.status.value = "adapting..."
        return self.runner.start(
            adapt_job,
            model,
            images,
            degradation,
            run_folder(name),
            self.settings,
            on_done=self._done,
            **status_callbacks(self.status),
            description="Adapt",
        )

    def _done(self, result) -> None:
        self.status.value = (
            "adapted" if result.best_step else "kept as it is"
        ) + f" in {result.seconds:.0f} s: {result.report['why']}; saved to {result.model.parent}"
        self._chosen(result.model)
