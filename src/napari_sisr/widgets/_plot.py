"""A small line plot drawn with QPainter, for live training curves.

It needs nothing beyond Qt (no matplotlib backend to pick, no OpenGL), so it renders the same
under a virtual display as on a desktop. Data are appended cheaply; repaints are throttled by a
single-shot timer so a fast training loop cannot flood the GUI thread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from qtpy.QtCore import QPointF, QRectF, Qt, QTimer
from qtpy.QtGui import QColor, QPainter, QPainterPath, QPen
from qtpy.QtWidgets import QSizePolicy, QWidget

#: Colours cycled through for series without an explicit colour (readable on dark themes).
PALETTE = ("#4fc3f7", "#ffb74d", "#81c784", "#e57373", "#ba68c8", "#fff176", "#a1887f")


@dataclass
class Series:
    """One named curve: x and y values, colour and line style."""

    name: str
    color: str
    dashed: bool = False
    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)


def nice_ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    """About ``n`` round tick values covering ``[lo, hi]``."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step + 1e-9) + 1)]


def x_ticks(lo: float, hi: float, integer: bool) -> list[float]:
    """Ticks of the x axis: at whole numbers only where x counts steps (one validation at
    step 200 reads 200, not 199.5 / 200 / 200.5)."""
    ticks = nice_ticks(lo, hi)
    if not integer:
        return ticks
    whole = [t for t in ticks if abs(t - round(t)) < 1e-9]
    return whole or [float(round((lo + hi) / 2))]


def log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks in log10 space: whole decades, or round values when the range is narrow."""
    decades = [float(e) for e in range(math.ceil(lo), math.floor(hi) + 1)]
    return decades if len(decades) >= 2 else nice_ticks(lo, hi, 3)


def _fmt(v: float, digits: int = 4) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.0e}"
    return f"{v:.{digits}g}"


def ema(values: list[float], span: float) -> list[float]:
    """Exponential moving average (``span`` points), the same length as ``values``."""
    alpha = 2.0 / (span + 1.0)
    out, acc = [], values[0]
    for v in values:
        acc += alpha * (v - acc)
        out.append(acc)
    return out


class LinePlot(QWidget):
    """Curves against a shared x axis (training step), optionally with a log y axis.

    Parameters
    ----------
    title : str
        Drawn at the top left.
    log_y : bool
        Plot ``log10(y)`` (for losses); non-positive values are skipped.
    smooth : bool
        Draw noisy curves (many points) faintly with a moving average on top.
    min_interval_ms : int
        Shortest time between two repaints triggered by :meth:`append`.
    labels : dict, optional
        Series name -> what the legend says (e.g. ``l_g_pix`` -> ``pixel difference``).
    integer_x : bool
        The x values are counts (training steps): ticks at whole numbers only.
    """

    MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 46, 8, 20, 18

    def __init__(
        self,
        title: str = "",
        log_y: bool = False,
        smooth: bool = False,
        min_interval_ms: int = 250,
        parent=None,
        *,
        labels: dict[str, str] | None = None,
        integer_x: bool = True,
    ):
        super().__init__(parent)
        self.title = title
        self.labels = dict(labels or {})
        self.integer_x = integer_x
        self.log_y = log_y
        self.smooth = smooth
        self.series: dict[str, Series] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(min_interval_ms)
        self._timer.timeout.connect(self.update)
        self.setMinimumHeight(110)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)

    # ------------------------------------------------------------------ data
    def add_series(self, name: str, color: str | None = None, dashed: bool = False) -> Series:
        """Declare a curve (a series is also created on first :meth:`append`)."""
        if name not in self.series:
            color = color or PALETTE[len(self.series) % len(PALETTE)]
            self.series[name] = Series(name, color, dashed)
        return self.series[name]

    def append(self, name: str, x: float, y: float) -> None:
        """Add one point; the repaint happens later (throttled)."""
        if y is None or not math.isfinite(float(y)):
            return
        s = self.add_series(name)
        s.xs.append(float(x))
        s.ys.append(float(y))
        if not self._timer.isActive():
            self._timer.start()

    def clear(self) -> None:
        """Remove all points (series keep their colours)."""
        for s in self.series.values():
            s.xs.clear()
            s.ys.clear()
        self.update()

    def n_points(self) -> int:
        """Total number of points over all series."""
        return sum(len(s.xs) for s in self.series.values())

    # ------------------------------------------------------------------ drawing
    def _ty(self, y: float) -> float | None:
        if self.log_y:
            return math.log10(y) if y > 0 else None
        return y

    def _bounds(self) -> tuple[float, float, float, float] | None:
        xs, ys = [], []
        for s in self.series.values():
            xs += s.xs
            ys += [t for t in map(self._ty, s.ys) if t is not None]
        if not xs or not ys:
            return None
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        if x1 == x0:
            x0, x1 = x0 - 1, x1 + 1
        pad = (y1 - y0) * 0.05 or max(abs(y0) * 0.05, 0.05)
        return x0, x1, y0 - pad, y1 + pad

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt API)
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        fg = self.palette().windowText().color()
        grid = QColor(fg)
        grid.setAlpha(50)
        title = self.title + ("  (log)" if self.log_y else "")
        p.setPen(fg)
        p.drawText(QPointF(4, 14), title)
        top = self._draw_legend(p, 16 + p.fontMetrics().horizontalAdvance(title), fg)
        rect = QRectF(
            self.MARGIN_L,
            top,
            max(self.width() - self.MARGIN_L - self.MARGIN_R, 10),
            max(self.height() - top - self.MARGIN_B, 10),
        )
        bounds = self._bounds()
        p.setPen(QPen(grid))
        p.drawRect(rect)
        if bounds is None:
            p.setPen(fg)
            p.drawText(rect, Qt.AlignCenter, "no data yet")
            p.end()
            return
        x0, x1, y0, y1 = bounds

        def to_px(x: float, y: float) -> QPointF:
            return QPointF(
                rect.left() + (x - x0) / (x1 - x0) * rect.width(),
                rect.bottom() - (y - y0) / (y1 - y0) * rect.height(),
            )

        for t in log_ticks(y0, y1) if self.log_y else nice_ticks(y0, y1):
            pt = to_px(x0, t)
            p.setPen(QPen(grid))
            p.drawLine(QPointF(rect.left(), pt.y()), QPointF(rect.right(), pt.y()))
            p.setPen(fg)
            label = _fmt(10**t, 2) if self.log_y else _fmt(t)
            p.drawText(QRectF(0, pt.y() - 8, self.MARGIN_L - 4, 16), Qt.AlignRight, label)
        for t in x_ticks(x0, x1, self.integer_x):
            pt = to_px(t, y0)
            p.setPen(fg)
            p.drawText(QRectF(pt.x() - 30, rect.bottom() + 1, 60, 16), Qt.AlignHCenter, _fmt(t))

        for s in self.series.values():
            self._draw_series(p, s, to_px, max(int(rect.width()), 1))
        p.end()

    def _draw_legend(self, p: QPainter, x: float, fg: QColor) -> float:
        """Legend entries after the title, wrapped; returns the top of the plot area."""
        y = 10.0
        for s in self.series.values():
            if not s.xs:
                continue
            name = self.labels.get(s.name, s.name)
            advance = 24 + p.fontMetrics().horizontalAdvance(name)
            if x + advance > self.width() - self.MARGIN_R and x > 8:
                x, y = 8.0, y + 15
            p.setPen(QPen(QColor(s.color), 2, Qt.DashLine if s.dashed else Qt.SolidLine))
            p.drawLine(QPointF(x, y), QPointF(x + 14, y))
            p.setPen(fg)
            p.drawText(QPointF(x + 17, y + 4), name)
            x += advance
        return y + self.MARGIN_T - 10

    def _draw_series(self, p: QPainter, s: Series, to_px, width_px: int) -> None:
        pts = [(x, t) for x, y in zip(s.xs, s.ys, strict=True) if (t := self._ty(y)) is not None]
        if not pts:
            return
        stride = max(1, len(pts) // (2 * width_px))  # never draw more than ~2 points per pixel
        color = QColor(s.color)
        style = Qt.DashLine if s.dashed else Qt.SolidLine
        if len(pts) == 1:
            p.setPen(QPen(color, 1.6))
            p.setBrush(color)
            p.drawEllipse(to_px(*pts[0]), 2.5, 2.5)
            p.setBrush(Qt.NoBrush)
            return
        if self.smooth and len(pts) > 20:  # raw values faint, their moving average on top
            faint = QColor(color)
            faint.setAlpha(70)
            self._polyline(p, pts[::stride], QPen(faint, 1.0, style), to_px)
            ys = ema([y for _, y in pts], max(3.0, len(pts) / 25))
            pts = [(x, y) for (x, _), y in zip(pts, ys, strict=True)]
        pts = pts[::stride]
        self._polyline(p, pts, QPen(color, 1.8, style), to_px)
        if len(pts) <= 40:  # mark sparse points (validation) so single steps stay visible
            p.setBrush(color)
            for x, y in pts:
                p.drawEllipse(to_px(x, y), 2.0, 2.0)
            p.setBrush(Qt.NoBrush)

    @staticmethod
    def _polyline(p: QPainter, pts, pen: QPen, to_px) -> None:
        p.setPen(pen)
        path = QPainterPath(to_px(*pts[0]))
        for x, y in pts[1:]:
            path.lineTo(to_px(x, y))
        p.drawPath(path)
