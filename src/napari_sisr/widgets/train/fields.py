"""The few field builders the Train widget's sections share (magicgui widgets)."""

from __future__ import annotations

from magicgui.widgets import Container, FloatSpinBox, Label, SpinBox


def number(
    lo: float, hi: float, value: float, step: float, decimals: int = 3, **kwargs
) -> FloatSpinBox:
    """A decimal field showing ``decimals`` places (set before the value, which would
    otherwise be rounded to the two places a Qt spin box starts with)."""
    w = FloatSpinBox(min=lo, max=hi, step=step, **kwargs)
    w.native.setDecimals(decimals)
    w.value = value
    return w


def whole(lo: int, hi: int, value: int, step: int = 1, **kwargs) -> SpinBox:
    """A whole-number field."""
    return SpinBox(min=lo, max=hi, step=step, value=value, **kwargs)


def row(*widgets, label: str = "") -> Container:
    """Widgets side by side, as one labelled row of a section."""
    box = Container(widgets=list(widgets), layout="horizontal", labels=False, label=label)
    box.margins = (0, 0, 0, 0)
    return box


def heading(text: str) -> Label:
    """A section's title."""
    return Label(value=f"<b>{text}</b>")


def refill(combo) -> None:
    """Re-read the choices of ``combo`` (a ComboBox or Select) in their own order, keeping the
    value where it is still offered. magicgui's reset keeps the entries it had and adds new
    ones at the end: scales 2, 3, 4, 8 read 4, 2, 3, 8 after 4 alone."""
    keep = combo.value
    with combo.changed.blocked():
        combo.native.clear()
        combo.reset_choices()
    if isinstance(keep, list):
        offered = [v for v in keep if any(v is c for c in combo.choices)]
        if offered != keep or combo.value != keep:
            combo.value = offered
    elif any(keep is c or keep == c for c in combo.choices):
        combo.value = keep
