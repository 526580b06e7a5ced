"""What the Fit degradation widget's parts share, and the signals they talk through.

The widget (layers, scale, fit options, the parameter table and the buttons) and its preview
controls each hold their own controls. What one needs of the other goes through one
:class:`FitState`: the viewer, the parameters shown (a fit's or a file's) and the pair they
came from, and three signals. The preview controls do not hold the widget.
"""

from __future__ import annotations

from psygnal import Signal

__all__ = ["FitState"]


class FitState:
    """The shared state of one Fit degradation widget.

    Signals
    -------
    shown(params)
        Parameters are shown: a fit's or a file's
        (:class:`~napari_sisr.core.degradation.params.DegradationParams`), or the defaults of
        the scale when the pair changed. The preview's sliders start from them.
    edited()
        A control changed what the preview simulates (a slider, the scale, the ratio, the
        pair): the table and the live preview follow.
    noise_range(maximum)
        The LR layer's intensity range calls for a noise slider up to ``maximum``.

    Attributes
    ----------
    viewer : napari.viewer.Viewer
    has_result : bool
        A fit or a loaded file is shown (not the sliders' defaults).
    result_pair : tuple of str, or None
        The (HR, LR) layer names the fit shown came from.
    """

    shown = Signal(object)
    edited = Signal()
    noise_range = Signal(float)

    def __init__(self, viewer) -> None:
        self.viewer = viewer
        self.has_result = False
        self.result_pair: tuple[str, str] | None = None

    def show(self, params, *, pair: tuple[str, str] | None = None) -> None:
        """Show ``params`` as the result: fitted on the layers ``pair``, or loaded."""
        self.has_result = True
        if pair is not None:
            self.result_pair = pair
        self.shown.emit(params)

    def forget(self, params) -> None:
        """The pair changed: the result shown no longer describes it; show ``params``
        (the defaults of the scale) instead."""
        self.has_result, self.result_pair = False, None
        self.shown.emit(params)
