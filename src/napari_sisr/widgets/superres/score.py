"""Scoring a Super-resolve result against a reference layer (a real HR capture of the field).

The newest result of the first chosen layer (held by the widget, not looked up by its name)
and the reference are compared
on the plane shown by the dims sliders with :func:`napari_sisr.evaluate`'s protocol, beside
nearest, bicubic and bicubic + Richardson-Lucy (PSF fitted on the pair), in a worker thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import ComboBox, Container, PushButton

from ...core.errors import InputError
from .._jobs import JobRunner, notify_error
from .._layers import image_layer_choices, is_output, layer_plane, world_overlap
from .._text import WrappingLabel, bring_into_view

if TYPE_CHECKING:  # pragma: no cover
    from .state import SuperResolveState

#: Largest reference plane scored in the widget (HR pixels).
MAX_SCORED_PX = 4096 * 4096


def score_job(lr, hr, sr, scale: int, label: str, model: str | None = None, *, stop=None):
    """Worker job: the scores of ``sr`` and of the baselines against ``hr`` (and, when the
    pair is the training data of ``model``, of the part held out from training)."""
    from ...core.evaluation.scoring import evaluate
    from ...core.modelio import read_model_meta
    from ...core.progress import Progress

    yield Progress(0, 1, "fitting the PSF and scoring")
    trained_on = None
    if model:
        try:
            trained_on = read_model_meta(model).get("training_data")
        except (InputError, OSError):
            trained_on = None  # the model file went away: scored without the check
    scored = evaluate(
        np.asarray(lr),
        np.asarray(hr),
        scale,
        sr=np.asarray(sr),
        label=label,
        training_data=trained_on,
    )
    yield Progress(1, 1, "done")
    return scored


class ScoreControls(Container):
    """*Score against* a reference layer, a *Score* button and the table of the scores."""

    def __init__(self, state: SuperResolveState) -> None:
        self.state = state
        self.reference = ComboBox(
            label="Score against", choices=self._choices, nullable=True, name="reference"
        )
        self.button = PushButton(text="Score result", name="score")
        self.table = WrappingLabel(value="", name="scores")
        self.scored = None  # the last scores shown
        super().__init__(widgets=[self.reference, self.button, self.table], labels=True)
        self.margins = (0, 0, 0, 0)
        self.reference.tooltip = (
            "A real high-resolution capture of the same field: the result is registered to it "
            "and scored beside bicubic and Richardson-Lucy deconvolution"
        )
        self.runner = JobRunner(run_button=self.button)
        self.runner.bind_lifetime(self.native)
        self.button.changed.connect(self.score)
        state.provide_reference(lambda: self.reference.value)

    def suggest(self) -> None:
        """With no reference chosen, choose the one layer that looks like a real HR capture of
        the chosen layer's field: not made by this plugin, more finely sampled, and covering
        the same field in the world (its extent overlapping by more than half)."""
        if self.reference.value is not None:
            return
        sources = self.state.chosen_layers()
        if not sources:
            return
        src = sources[0]
        finer = [
            lyr
            for _, lyr in image_layer_choices(self.state.viewer)
            if lyr is not src
            and not is_output(lyr)
            and float(lyr.scale[-1]) < float(src.scale[-1])
            and world_overlap(lyr, src) > 0.5
        ]
        if len(finer) == 1:
            self.reference.value = finer[0]

    def _choices(self, _widget=None):
        return [(name, layer) for name, layer in image_layer_choices(self.state.viewer)]

    def score(self, *_):
        """Score the first chosen layer's result against the reference (returns the worker)."""
        try:
            lr, hr, sr, scale, label, model = self._planes()
        except InputError as err:
            notify_error(f"Score: {err}")
            return None
        return self.runner.start(
            score_job,
            lr.data,
            hr.data,
            sr.data,
            scale,
            label,
            model,
            on_done=self._show,
            description="Score",
        )

    def _planes(self):
        ref = self.reference.value
        sources = self.state.chosen_layers()
        if ref is None:
            raise InputError("choose the reference layer (a real HR capture of the field)")
        if not sources:
            raise InputError("choose the layer whose result is scored")
        src = sources[0]
        result = self.state.latest_result(src)
        if result is None:
            raise InputError(f"no result of {src.name!r} yet: super-resolve it first")
        scale = int(result.metadata["napari_sisr"]["scale_factor"])
        model = result.metadata["napari_sisr"].get("model")
        name = result.name
        point = self.state.point
        planes = [layer_plane(lyr, point) for lyr in (src, ref, result)]
        if np.prod(planes[1].shape) > MAX_SCORED_PX:
            raise InputError(
                f"the reference plane is {planes[1].shape[0]} x {planes[1].shape[1]} px: too "
                "large to score here; score a crop with napari-sisr evaluate"
            )
        return (*planes, scale, name, model)

    def _show(self, scored) -> None:
        self.scored = scored
        self.table.value = scores_html(scored)
        bring_into_view(self.table)


def scores_html(scored) -> str:
    """The scores as a rich-text table (best PSNR in bold) and the notes below it: unlike the
    command line's aligned text, its columns and a long layer name fit a narrow dock."""
    from html import escape

    best = scored.best()
    rows = [
        "<tr><th align='left'>method</th><th align='right'>PSNR dB</th>"
        "<th align='right'>SSIM</th></tr>"
    ]
    for name, s in scored.scores.items():
        b, nb = ("<b>", "</b>") if name == best else ("", "")
        rows.append(
            f"<tr><td>{b}{escape(name)}{nb}</td><td align='right'>{b}{s.psnr:.2f}{nb}</td>"
            f"<td align='right'>{s.ssim:.4f}</td></tr>"
        )
    html = (
        f"<table cellspacing='0' cellpadding='2'>{''.join(rows)}</table>"
        f"<p><small>best PSNR in bold; {escape(scored.notes())}</small></p>"
    )
    if scored.overlap is not None:
        warn = "<p><b>Trained on this pair:</b> its score says how well the model remembers.</p>"
        held = (
            "<p>The part held out from training:</p>" + scores_html(scored.held_out)
            if scored.held_out is not None
            else ""
        )
        html = warn + html + held
    return html
