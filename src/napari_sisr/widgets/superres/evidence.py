"""The Super-resolve widget's *Evidence* section: how far the capture supports each result.

With **Measure the evidence** ticked, every finished result is taken back through the
degradation it was made for and compared with its capture
(:func:`~napari_sisr.core.evidence.job.evidence_of_result`, in the worker). The z-score map
comes back as a layer on the capture's grid, which napari draws over the result: green where
the capture holds signal the result lacks, magenta where the result has signal the capture
does not, black (invisible with additive blending) where they agree within the noise. A
short table gives the resolution of the capture and of the result and the fraction of the
capture's pixels that disagree.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from magicgui.widgets import CheckBox, Container

from .._text import WrappingLabel, bring_into_view

if TYPE_CHECKING:  # pragma: no cover
    import napari

#: Where the z-score colormap is full: |z| = 6 (|z| = 3, the flag, is at 60 %).
Z_LIMIT = 6.0


def z_colormap():
    """Magenta (result has more) - black (agree) - green (capture has more), for z in
    [-6, 6]; |z| below about 1 stays black, so noise hides under additive blending."""
    from napari.utils.colormaps import Colormap

    return Colormap(
        colors=[
            [1, 0, 1, 1],
            [0.6, 0, 0.6, 1],
            [0, 0, 0, 1],
            [0, 0, 0, 1],
            [0, 0.6, 0, 1],
            [0, 1, 0, 1],
        ],
        controls=[0.0, 0.25, 0.42, 0.58, 0.75, 1.0],
        name="evidence z",
    )


class EvidenceControls(Container):
    """A checkbox and the table of the last evidence."""

    def __init__(self) -> None:
        self.enabled_box = CheckBox(
            text="Measure the evidence (consistency with the capture, resolution)",
            value=True,
            name="evidence",
        )
        self.enabled_box.tooltip = (
            "After each result: take it back through the microscope's degradation and compare "
            "with the capture (a z-score map layer: green = signal the result lacks, magenta = "
            "signal the capture lacks), and measure the resolution of both. A few seconds."
        )
        self.table = WrappingLabel(value="", name="evidence_table")
        super().__init__(widgets=[self.enabled_box, self.table], labels=False)
        self.margins = (0, 0, 0, 0)

    @property
    def on(self) -> bool:
        return bool(self.enabled_box.value)

    def show(self, viewer: napari.viewer.Viewer, source, result_name: str, z, summary) -> None:
        """Add the z-score map over ``source`` and show the summaries."""
        name = f"{result_name} evidence"
        if name in viewer.layers:
            viewer.layers.remove(name)
        viewer.add_image(
            z,
            name=name,
            scale=source.scale,
            translate=source.translate,
            colormap=z_colormap(),
            contrast_limits=(-Z_LIMIT, Z_LIMIT),
            blending="additive",
            metadata={"napari_sisr": {"evidence_of": result_name, "summary": summary}},
        )
        self.table.value = evidence_html(summary)
        bring_into_view(self.table)


def evidence_html(summary: dict) -> str:
    """The summaries as a short rich-text table, the notes below it."""
    from ...core.evidence.resolution import describe

    m = summary.get("middle") or {}
    rows = [
        ("pixels disagreeing (|z| > 3)", f"{100 * summary.get('flagged_fraction', 0):.2f} %"),
        ("noise alone", "0.27 %"),
        ("correlation with the capture", f"{summary.get('rsp', 0):.3f}"),
        ("resolution: capture", describe(m.get("resolution_lr"))),
        ("resolution: result", describe(m.get("resolution_sr"))),
    ]
    if m.get("resolution_split"):
        rows.append(("resolution two halves agree on", describe(m["resolution_split"])))
    if m.get("uncertainty") is not None:
        rows.append(("uncertainty (steering)", f"{100 * m['uncertainty']:.2f} %"))
    body = "".join(
        f"<tr><td>{escape(k)}</td><td align='right'>{escape(v)}</td></tr>" for k, v in rows
    )
    notes = "".join(f"<p><small>{escape(n)}</small></p>" for n in m.get("notes", []))
    return f"<table cellspacing='0' cellpadding='2'>{body}</table>{notes}"
