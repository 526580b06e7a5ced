"""Infrastructure shared by every napari-sisr widget: background jobs and notifications.

Long work is a core generator ``job(*args, stop=event, **kwargs)`` that yields
:class:`~napari_sisr.core.progress.Progress` and returns its result (see
:mod:`napari_sisr.core.progress`). :class:`JobRunner` runs such a generator in napari's
``thread_worker`` machinery and takes care of everything around it:

* progress goes to a progress bar in the widget and to napari's activity dock;
* *Cancel* sets the ``threading.Event`` passed to the job as ``stop`` (so the core stops even
  between two of its yields) **and** asks the worker to quit;
* exceptions become napari notifications (one line, no traceback dialog): the message itself
  for problems with the input (:func:`~napari_sisr.core.errors.is_expected`), and for anything
  else "internal error, please report" with the log file that holds its traceback; a
  cancelled job becomes a calm info message;
* the *Run* button is disabled while the job runs, and the job is stopped when the widget
  that owns the runner is destroyed.

The result is delivered to ``on_done`` in the GUI thread, the only thread that may touch the
viewer. Layer helpers live in :mod:`napari_sisr.widgets._layers`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from magicgui.widgets import Container, Label, ProgressBar, PushButton

from ..core.errors import describe, is_expected, log_internal_error
from ..core.progress import Cancelled, Progress

__all__ = [
    "JobControls",
    "JobRunner",
    "error_message",
    "notify_error",
    "notify_info",
    "notify_warning",
]

logger = logging.getLogger("napari_sisr")


def error_message(context: str, err: BaseException) -> str:
    """The one-line notification for an error of ``context`` (e.g. "Super-resolve").

    Problems with the input read ``"<context> failed: <what is wrong>"``; anything else is a
    bug: its traceback is logged and the message asks for a report, naming the log file.
    """
    if is_expected(err):
        return f"{context} failed: {describe(err)}"
    if isinstance(err, MemoryError):
        where = log_internal_error(err, context)
        return (
            f"{context} ran out of memory: use smaller tiles, a smaller batch or smaller "
            "images" + (f" (details in {where})" if where else "")
        )
    where = log_internal_error(err, context)
    return (
        f"{context}: internal error ({type(err).__name__}: {describe(err)}); please report it"
        + (f" with the log {where}" if where else "")
    )


def notify_error(message: str) -> None:
    """Show an error notification in napari (never a traceback dialog)."""
    from napari.utils.notifications import show_error

    show_error(message)


def notify_warning(message: str) -> None:
    """Show a warning notification in napari."""
    from napari.utils.notifications import show_warning

    show_warning(message)


def notify_info(message: str) -> None:
    """Show an information notification in napari."""
    from napari.utils.notifications import show_info

    show_info(message)


def save_params_as(parent, params, path, *, title: str, default: str, what: str):
    """Save degradation parameters as JSON to ``path``, asking for a file (dialog ``title``,
    file name ``default``) when ``path`` is None; a notification says where ``what`` went, or
    why it could not be saved. Returns the path written, or None."""
    if path is None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(parent, title, default, "JSON (*.json)")
        if not path:
            return None
    try:
        out = params.save(path)
    except OSError as err:
        notify_error(f"could not save {path}: {err}")
        return None
    notify_info(f"{what} saved to {out}")
    return out


def unfinished(state: str) -> str | None:
    """What a section's own status line says when its job ended without a result (after a
    Cancel it kept the last progress message, as if still at work); ``None`` when done."""
    return {"cancelled": "cancelled: no result", "failed": "failed: the notification says why"}.get(
        state
    )


def status_callbacks(label) -> dict[str, Callable]:
    """``on_update`` / ``on_finished`` for :meth:`JobRunner.start` that keep a section's own
    status ``label`` (whose ``on_done`` writes the job's result summary there): progress as
    "message (done/total)", and :func:`unfinished` when the job ends without a result."""

    def on_update(update) -> None:
        if update.message:
            label.value = f"{update.message} ({update.done}/{update.total})"

    def on_finished(state: str) -> None:
        label.value = unfinished(state) or label.value

    return {"on_update": on_update, "on_finished": on_finished}


@dataclass
class _Outcome:
    value: Any = None
    error: BaseException | None = None
    cancelled: bool = False


def _guarded(job: Callable[..., Generator], stop: threading.Event, args: tuple, kwargs: dict):
    """Run ``job`` and turn its result, cancellation or exception into an :class:`_Outcome`.

    Catching here (in the worker thread) keeps expected failures away from napari's
    traceback-reporting error handler.
    """
    try:
        value = yield from job(*args, stop=stop, **kwargs)
    except Cancelled:
        return _Outcome(cancelled=True)
    except Exception as err:  # reported by the GUI thread (error_message)
        return _Outcome(error=err)
    return _Outcome(value=value)


def _enable(widget, flag: bool) -> None:
    if widget is not None:
        widget.enabled = flag


class JobRunner:
    """Run one core generator at a time in a background thread, with UI feedback.

    Parameters
    ----------
    run_button, cancel_button : magicgui PushButton, optional
        Disabled / enabled while a job runs; *cancel_button* is wired to :meth:`cancel`.
    progress_bar : magicgui ProgressBar, optional
        Follows the ``done / total`` of the yielded updates.
    status : magicgui Label, optional
        Shows the current phase and the final state.
    activity : bool
        Also show a progress bar in napari's activity dock.
    announce : bool
        Show info notifications for cancelled jobs (off for quiet jobs such as previews).
    graceful : bool
        For jobs that wind down on their own when ``stop`` is set: :meth:`cancel` then only
        sets the event, so the job's last updates still arrive (super-resolution hands over
        the planes it finished); a result it still returns (training saves a checkpoint and
        exports its model) is delivered to ``on_done`` as for a finished job.
    """

    def __init__(
        self,
        *,
        run_button=None,
        cancel_button=None,
        progress_bar=None,
        status=None,
        activity: bool = True,
        announce: bool = True,
        graceful: bool = False,
    ) -> None:
        self.run_button, self.cancel_button = run_button, cancel_button
        self.graceful = graceful
        self.progress_bar, self.status = progress_bar, status
        self.activity, self.announce = activity, announce
        self.worker = None
        self.last_state = "idle"  # idle | running | done | cancelled | failed | refused
        self._stop: threading.Event | None = None
        self._outcome: _Outcome | None = None
        self._pbar = None
        self._callbacks: dict[str, Callable | None] = {}
        self._description = ""
        self._t0 = 0.0
        if cancel_button is not None:
            cancel_button.changed.connect(self.cancel)
            cancel_button.enabled = False

    @property
    def busy(self) -> bool:
        """Whether a job is running."""
        return self.worker is not None

    def start(
        self,
        job: Callable[..., Generator[Progress, Any, Any]],
        *args,
        on_done: Callable[[Any], None],
        on_update: Callable[[Progress], None] | None = None,
        on_finished: Callable[[str], None] | None = None,
        description: str = "Job",
        **kwargs,
    ):
        """Start ``job(*args, stop=event, **kwargs)`` in a worker thread.

        ``on_done(result)`` runs in the GUI thread when the job returns; ``on_update`` receives
        every :class:`Progress`; ``on_finished(state)`` always runs last with the final state
        (``"done"``, ``"cancelled"`` or ``"failed"``). Returns the worker, or ``None`` when a
        job is already running.
        """
        from napari.qt.threading import create_worker

        if self.busy:
            notify_info(f"{self._description} is still running; cancel it first")
            return None
        self._stop = threading.Event()
        self._outcome = None
        self._description = description
        self._callbacks = {"done": on_done, "update": on_update, "finished": on_finished}
        worker = create_worker(_guarded, job, self._stop, args, kwargs, _start_thread=False)
        worker.yielded.connect(self._on_yielded)
        worker.returned.connect(self._on_returned)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self.last_state = "running"
        self._t0 = time.perf_counter()
        _enable(self.run_button, False)
        _enable(self.cancel_button, True)
        if self.progress_bar is not None:
            self.progress_bar.max, self.progress_bar.value = 1, 0
        self._set_status(f"{description}: starting")
        if self.activity:
            from napari.utils import progress

            self._pbar = progress(total=0, desc=description)
        worker.start()
        return worker

    def cancel(self, *_) -> None:
        """Ask the running job to stop (at its next stop check or yield)."""
        if not self.busy:
            return
        self._stop.set()
        if not self.graceful:
            self.worker.quit()
        _enable(self.cancel_button, False)
        self._set_status(f"{self._description}: cancelling")

    def shutdown(self) -> None:
        """Stop the job without touching any widget (the owner is being destroyed)."""
        if self.worker is None:
            return
        self._stop.set()
        self.worker.quit()
        for sig, slot in (
            (self.worker.yielded, self._on_yielded),
            (self.worker.returned, self._on_returned),
            (self.worker.finished, self._on_finished),
        ):
            try:
                sig.disconnect(slot)
            except (TypeError, RuntimeError):
                pass
        self.worker = None
        self._close_pbar()

    def bind_lifetime(self, qwidget) -> None:
        """Stop the job when ``qwidget`` (the owner's native widget) is destroyed."""
        qwidget.destroyed.connect(lambda *_: self.shutdown())

    def refuse(self, text: str) -> None:
        """A job that could not start (bad input): notify, and say so in the status line.

        The previous job's "finished in ..." must not stand beside the error. A running job
        is left alone (its own status line keeps going).
        """
        notify_error(text)
        if self.busy:
            return
        self._set_status(text)
        if self.progress_bar is not None:
            self.progress_bar.value = 0
        self.last_state = "refused"

    # ------------------------------------------------------------------ slots (GUI thread)
    def _set_status(self, text: str) -> None:
        if self.status is not None:
            self.status.value = text

    def _on_yielded(self, update) -> None:
        if not isinstance(update, Progress):
            return
        if self.progress_bar is not None:
            self.progress_bar.max = max(update.total, 1)
            self.progress_bar.value = min(update.done, update.total)
        on_update = self._callbacks.get("update")
        if update.message:
            self._set_status(f"{self._description}: {update.message}")
        # The widget sees the update before napari's progress bar redraws: the redraw may
        # process pending events, even `finished`, whose result handler must come last.
        if on_update is not None:
            on_update(update)
        pbar = self._pbar  # a local reference: the redraw may close it
        if pbar is not None:
            if update.message:
                pbar.set_description(f"{self._description}: {update.message}")
            if pbar.total != update.total:
                pbar.total = update.total
            pbar.update(update.done - pbar.n)

    def _on_returned(self, outcome) -> None:
        self._outcome = outcome

    def _close_pbar(self) -> None:
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None

    def _on_finished(self) -> None:
        outcome, callbacks = self._outcome, self._callbacks
        self.worker, self._outcome, self._callbacks = None, None, {}
        self._close_pbar()
        _enable(self.run_button, True)
        _enable(self.cancel_button, False)
        seconds = time.perf_counter() - self._t0
        if outcome is None or outcome.cancelled or (self._stop.is_set() and not self.graceful):
            state, text = "cancelled", f"{self._description} cancelled"
            if self.announce:
                notify_info(text)
        elif outcome.error is not None:
            state, text = "failed", error_message(self._description, outcome.error)
            notify_error(text)
        else:
            state, text = "done", f"{self._description} finished in {seconds:.1f} s"
            try:
                callbacks["done"](outcome.value)
            except Exception as err:  # a bug in a result handler must not kill the GUI
                state = "failed"
                text = error_message(f"{self._description} (showing the result)", err)
                notify_error(text)
        if self.progress_bar is not None and state == "done":
            self.progress_bar.value = self.progress_bar.max
        self.last_state = state
        self._set_status(text)
        if callbacks.get("finished") is not None:
            callbacks["finished"](state)


class JobControls(Container):
    """*Run* and *Cancel* buttons, a progress bar and a status line around a :class:`JobRunner`.

    Embed it in a widget, connect ``controls.run_button.changed`` to the method that gathers
    the inputs, and call ``controls.runner.start(job, ...)`` from there.
    """

    def __init__(
        self, run_text: str = "Run", *, activity: bool = True, graceful: bool = False
    ) -> None:
        self.run_button = PushButton(text=run_text, name="run")
        self.cancel_button = PushButton(text="Cancel", name="cancel")
        self.progress_bar = ProgressBar(value=0, max=1, name="progress")
        self.status = Label(value="", name="status")
        buttons = Container(
            widgets=[self.run_button, self.cancel_button], layout="horizontal", labels=False
        )
        buttons.margins = (0, 0, 0, 0)
        super().__init__(widgets=[buttons, self.progress_bar, self.status], labels=False)
        self.margins = (0, 0, 0, 0)
        self.runner = JobRunner(
            run_button=self.run_button,
            cancel_button=self.cancel_button,
            progress_bar=self.progress_bar,
            status=self.status,
            activity=activity,
            graceful=graceful,
        )
        self.runner.bind_lifetime(self.native)
