"""The Train widget's *Export bioimage.io...* button: the finished run's model as a package.

The export (tracing, test tensors, validation by ``bioimageio.spec``) takes several seconds,
so it runs in a worker thread; the result or the problem is a notification.
"""

from __future__ import annotations

from pathlib import Path

from magicgui.widgets import PushButton

from ...core.progress import Progress
from .._jobs import JobRunner, notify_info

__all__ = ["BmzExportButton", "export_job"]


def export_job(model, out, *, stop=None):
    """Generator job: export ``model`` to ``out`` (see :func:`napari_sisr.export_bmz`)."""
    from ...core.bmz import export_bmz

    yield Progress(0, 1, "exporting the bioimage.io package")
    path = export_bmz(model, out, overwrite=True)  # the save dialog asked about replacing
    yield Progress(1, 1, "done")
    return path


class BmzExportButton(PushButton):
    """Enabled once a run has finished; asks for a file and exports that run's model."""

    def __init__(self) -> None:
        super().__init__(text="Export bioimage.io...", enabled=False)
        self.tooltip = (
            "Save the finished run's model as a bioimage.io package (zip) for deepImageJ, "
            "ilastik, Fiji or bioimageio.core; napari-sisr loads it back too"
        )
        self.model: str | None = None
        self.runner = JobRunner(activity=False, announce=False)
        self.runner.bind_lifetime(self.native)
        self.last_path: Path | None = None
        self.changed.connect(lambda *_: self.export())

    def set_model(self, model) -> None:
        """The model to export (a run's model JSON), or ``None`` to disable the button."""
        self.model = None if model is None else str(model)
        self.enabled = self.model is not None

    def export(self, out: str | Path | None = None):
        """Export to ``out`` (asks for a file when ``None``); returns the worker."""
        if self.model is None:
            return None
        if out is None:
            from qtpy.QtWidgets import QFileDialog

            stem = Path(self.model).parent.name or "model"
            out, _ = QFileDialog.getSaveFileName(
                self.native,
                "Export bioimage.io package",
                f"{stem}.zip",
                "bioimage.io package (*.zip)",
            )
            if not out:
                return None

        def done(path) -> None:
            self.last_path = Path(path)
            notify_info(f"bioimage.io package written to {path}")

        return self.runner.start(
            export_job, self.model, out, on_done=done, description="bioimage.io export"
        )
