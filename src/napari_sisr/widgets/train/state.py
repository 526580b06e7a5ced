"""What the Train widget's sections share, and the signals they talk through.

The widget has four sections (data, degradation, training, model) and the run controls. What
one needs of another goes through one :class:`TrainState`: the viewer, the captures it offers
as training data, the fit loaded as the degradation, whether a run is going, the values each
section reports (the configuration is built from them when Start is pressed) and five
signals. No section holds the widget or another section.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from psygnal import Signal

from .._layers import image_layer_choices, is_output

__all__ = ["TrainState"]


class TrainState:
    """The shared state of one Train widget.

    Signals
    -------
    layers_changed()
        The viewer's captures changed (added, removed or renamed): the layer lists refresh.
    degradation_set(params, origin)
        A fit (:class:`~napari_sisr.core.degradation.params.DegradationParams`) is the fixed
        degradation now; ``origin`` says where it came from (a file name, the Fit widget).
    scales_changed(scales)
        The scales the chosen network offers (the degradation's scale choice follows).
    model_fixed(meta)
        A model to fine-tune fixes architecture, preset and scale (its metadata), or
        ``None`` when they are free again.
    running_changed(running)
        A run started (``True``) or ended: the settings are locked while it goes.

    Attributes
    ----------
    viewer : napari.viewer.Viewer
    loaded_params : DegradationParams or None
        The fit shown as the degradation (used exactly unless a field is edited).
    """

    layers_changed = Signal()
    degradation_set = Signal(object, str)
    scales_changed = Signal(object)
    model_fixed = Signal(object)
    running_changed = Signal(bool)

    def __init__(self, viewer) -> None:
        self.viewer = viewer
        self.loaded_params = None
        self._readers: list[Callable[[], dict[str, Any]]] = []
        self.degradation_set.connect(self._remember)

    def _remember(self, params, _origin: str) -> None:
        self.loaded_params = params

    def set_running(self, running: bool) -> None:
        """Say that a run started or ended (the sections lock or unlock their fields)."""
        self.running_changed.emit(bool(running))

    def captures(self) -> list:
        """The image layers that are data (not results, previews or maps the plugin made)."""
        return [ly for _, ly in image_layer_choices(self.viewer) if not is_output(ly)]

    def report(self, read: Callable[[], dict[str, Any]]) -> None:
        """Add a section's reader of its values to what :meth:`values` returns."""
        self._readers.append(read)

    def values(self) -> dict[str, Any]:
        """Every section's values as one plain dict (unvalidated): what Start builds the
        training configuration from."""
        out: dict[str, Any] = {}
        for read in self._readers:
            out.update(read())
        return out
