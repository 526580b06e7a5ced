"""What the Super-resolve widget's sections share, and the signals they talk through.

The widget (model, layers, output and advanced settings) and its sections (degradation,
live preview, score, evidence, isotropic) each hold their own controls. What one needs of
another goes through one :class:`SuperResolveState`: the viewer, the loaded-model cache, the
results added so far, the current choices (read through functions the widget gives it, so
they are always those on screen) and four signals. No section holds the widget or another
section.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from psygnal import Signal

from .._models import ModelCache

__all__ = ["SuperResolveState"]


class SuperResolveState:
    """The shared state of one Super-resolve widget.

    Signals
    -------
    settings_changed()
        A choice that changes the output changed (the live preview redraws).
    model_changed(meta)
        Another model was chosen: its metadata, or ``None`` when none is usable.
    told(notes)
        What a job or the preview told a degradation-aware model (a list of lines).
    model_made(path)
        A section wrote a model file (adaptation) that the user should find chosen.

    Attributes
    ----------
    viewer : napari.viewer.Viewer
    cache : ModelCache
        Loaded models, shared by runs, previews and scores.
    """

    settings_changed = Signal()
    model_changed = Signal(object)
    told = Signal(object)
    model_made = Signal(object)

    def __init__(
        self,
        viewer,
        *,
        layers: Callable[[], list],
        model: Callable[[], Any],
        settings: Callable[[], Any],
    ) -> None:
        self.viewer = viewer
        self.cache = ModelCache()
        self._layers, self._model, self._settings = layers, model, settings
        self._reference: Callable[[], Any] = lambda: None
        #: (source layer, result layer) of every result added, newest last: a score reads
        #: the result it is given, never one found by its name
        self._results: list[tuple[object, object]] = []

    def chosen_layers(self) -> list:
        """The layers a click on *Super-resolve* would process (never a live preview)."""
        return self._layers()

    def chosen_model(self):
        """The chosen model (name or path); :class:`InputError` when none is."""
        return self._model()

    def settings(self):
        """The job settings of the controls (:class:`InputError` naming a problem)."""
        return self._settings()

    @property
    def reference(self):
        """The reference layer chosen under *Score against* (a real HR capture), or None."""
        return self._reference()

    def provide_reference(self, read: Callable[[], Any]) -> None:
        """Where :attr:`reference` is read from (the score section's choice)."""
        self._reference = read

    @property
    def point(self) -> tuple:
        """The viewer's dims position (the plane shown)."""
        return self.viewer.dims.point

    def add_result(self, source, result) -> None:
        """Remember that ``result`` was made from ``source``."""
        self._results = [(s, r) for s, r in self._results if r in self.viewer.layers]
        self._results.append((source, result))

    def latest_result(self, source):
        """The newest result of ``source`` still in the viewer, or None."""
        for src, result in reversed(self._results):
            if src is source and result in self.viewer.layers:
                return result
        return None

    @contextmanager
    def keeping_selection(self):
        """Add layers without moving the selection (napari selects each new layer)."""
        before = list(self.viewer.layers.selection)
        try:
            yield
        finally:
            selection = self.viewer.layers.selection
            selection.clear()
            selection.update(lyr for lyr in before if lyr in self.viewer.layers)
