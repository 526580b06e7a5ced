"""Text that fits a narrow dock: labels that wrap, combo boxes that elide."""

from __future__ import annotations

from magicgui.widgets import Label


class WrappingLabel(Label):
    """A label that wraps its long lines, is as narrow as the dock, and as tall as its text.

    Word wrap alone is not enough: a magicgui label's horizontal size policy is *Fixed*, so
    the layout takes the wrapped text's preferred width (600 px and more for a long line) as
    its minimum, widens the whole dock, and pushes every control's right part out of view.
    Made narrower, the label needs more lines than its size hint says, which the form layout
    does not ask it (a rich-text table lost its last lines): its minimum height follows its
    width (on every resize) and its text (on every new value).
    """

    def __init__(self, **kwargs) -> None:
        from qtpy.QtCore import QEvent, QObject
        from qtpy.QtWidgets import QSizePolicy

        super().__init__(**kwargs)
        native = self.native
        native.setWordWrap(True)
        native.setSizePolicy(QSizePolicy.Policy.Preferred, native.sizePolicy().verticalPolicy())
        fit = self._fit_height

        class FitOnResize(QObject):
            def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt's name)
                if event.type() == QEvent.Type.Resize:
                    fit()
                return False

        self._on_resize = FitOnResize(native)  # parented to the label: lives as long
        native.installEventFilter(self._on_resize)
        self._fit_height()

    @property
    def value(self) -> str:
        return Label.value.fget(self)

    @value.setter
    def value(self, text: str) -> None:
        Label.value.fset(self, text)
        self._fit_height()

    def _fit_height(self) -> None:
        native = self.native
        needed = native.heightForWidth(native.width()) if native.text() else 0
        if needed != native.minimumHeight():
            native.setMinimumHeight(max(needed, 0))


def fit_to_dock(root, chars: int = 12) -> None:
    """Let the rows of ``root`` fit a narrow dock: combo boxes narrower than their longest
    entry (they elide it), and form rows that put a field under its label when the two do
    not fit side by side.

    A Qt combo box asks for the width of its longest entry: "(none: a simulated held-out LR)"
    or a long layer name made the Train widget's form 540 px wide, and a dock narrower than
    that cut off the right part of every row.
    """
    from qtpy.QtWidgets import QComboBox, QFormLayout

    for combo in root.findChildren(QComboBox):
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(chars)
    for form in root.findChildren(QFormLayout):
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)


def bring_into_view(widget) -> None:
    """Scroll the dock that holds ``widget`` (a magicgui widget or a Qt one) so it shows whole
    (a table of results just filled in below the fold of a laptop screen).

    A table that was just filled in grows only when its wrapped text is laid out, a few event
    passes later: the scroll follows the scroll bar's next change of range (for a second),
    as well as happening at once.
    """
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QScrollArea

    native = getattr(widget, "native", widget)
    area = native.parentWidget()
    while area is not None and not isinstance(area, QScrollArea):
        area = area.parentWidget()
    if area is None:
        return
    bar = area.verticalScrollBar()

    def scroll(*_) -> None:
        try:
            area.ensureWidgetVisible(native, 0, 0)
        except RuntimeError:  # the widget was closed meanwhile
            pass

    def stop_following() -> None:
        try:
            bar.rangeChanged.disconnect(scroll)
        except (RuntimeError, TypeError):
            pass

    bar.rangeChanged.connect(scroll)
    QTimer.singleShot(0, scroll)
    QTimer.singleShot(1000, stop_following)
