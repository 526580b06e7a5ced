"""The Fit widget's parameter table: rows of a fit or loaded parameters, and its verdict."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.degradation.params import DegradationParams

if TYPE_CHECKING:  # pragma: no cover
    from magicgui.widgets import Table

__all__ = ["VERDICT_COLOURS", "fit_rows", "params_rows", "setup_table", "verdict_html"]


def _f(value, fmt: str = "{:#.4g}") -> str:
    return "-" if value is None else fmt.format(value)


def _r3(value: float | None) -> float | None:
    return None if value is None else round(value, 3) + 0.0  # no "-0.000"


def params_rows(params: DegradationParams | None) -> dict:
    """The parameters as a one-column table (a magicgui ``Table`` value)."""
    p = params
    rows = [
        ("scale", _f(p and p.scale, "{}")),
        ("PSF sigma (HR px)", _f(p and p.sigma)),
    ]
    if p is not None and p.sigma_y is not None:
        rows += [("sigma y / x", f"{p.sigma_y:.4g} / {p.sigma_x:.4g}")]
    shift = None if p is None else "{:.2f}, {:.2f}".format(*p.shift_yx)
    rows += [
        ("shift y, x (HR px)", shift or "-"),
        ("gain", _f(p and p.gain)),
        ("offset", _f(p and p.offset)),
        ("noise std", _f(p and p.noise_std)),
    ]
    if p is not None and p.poisson_a is not None:
        rows += [("Poisson gain a", _f(p.poisson_a))]
    rows += [
        ("residual std", _f(p.residual_std if p else None)),
        ("lag-1 (white: ~0)", _f(_r3(p.residual_lag1) if p else None, "{:+.3f}")),
        ("source", p.source if p else "-"),
    ]
    return {"data": [[v] for _, v in rows], "index": [k for k, _ in rows], "columns": ["value"]}


#: Colours of the fit verdicts (readable on napari's dark and light themes).
VERDICT_COLOURS = {"ok": "#66bb6a", "doubtful": "#ffa726", "failed": "#ef5350"}


def verdict_html(quality: dict | None) -> str:
    """The verdict of a fit as coloured rich text for a label (empty without a verdict)."""
    if not quality:
        return ""
    colour = VERDICT_COLOURS.get(quality.get("verdict"), "#bdbdbd")
    text = f'<b style="color:{colour}">fit {quality.get("verdict")}</b>'
    reasons = quality.get("reasons") or []
    return text + "".join(f"<br>&bull; {r}" for r in reasons)


def setup_table(table: Table) -> None:
    """Show the formatted text as it is, and let the value column fill the width."""
    from qtpy.QtWidgets import QHeaderView, QStyledItemDelegate

    q = table.native
    q.setItemDelegate(QStyledItemDelegate(q))
    q.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
    q.horizontalHeader().hide()
    q.horizontalHeader().setMinimumSectionSize(120)
    q.verticalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
    q.setWordWrap(False)


def fit_rows(table: Table) -> None:
    """Size the table to show every row without a scroll bar."""
    q = table.native
    q.resizeRowsToContents()
    rows = sum(q.rowHeight(i) for i in range(q.rowCount()))
    q.setFixedHeight(rows + 2 * q.frameWidth() + 2)
