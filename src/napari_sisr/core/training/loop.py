"""The training loop: progress updates, validation, checkpoints, logs and the exported model.

Run folder layout::

    RUN_DIR/config.json          the validated config (image sources by name) and the split
    RUN_DIR/log.jsonl            one line per logged step and per validation
    RUN_DIR/checkpoints/         atomic resumable checkpoints + latest.json
    RUN_DIR/model_best.*         generator with the best validation PSNR so far
    RUN_DIR/model_last.*         generator at the last step
    RUN_DIR/model.*              the one chosen by ``config.export`` (default: best)
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..degradation.params import DegradationParams, DegradationRange
from ..devices import thread_count
from ..errors import InputError, OutputExistsError
from ..io.atomic import atomic_write_text
from ..progress import Progress, Scores, StopLike, TrainProgress, as_stop, run_to_end
from .checkpoint import (
    CheckpointError,
    complete_checkpoints,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from .config import TrainConfig
from .schedule import should_stop_early
from .session import Trainer, TrainingDiverged

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a finished (or stopped) training run produced.

    Attributes
    ----------
    run_dir : Path
        The run folder.
    model, best, last : Path
        JSON files of the exported model (``model.json``), the best and the last generator.
    checkpoint : Path, optional
        The newest checkpoint folder.
    steps : int
        Generator updates done in total.
    stopped : bool
        True if the ``stop`` condition ended the run early (the model is exported anyway).
    stopped_early : bool
        True if early stopping ended it: no better validation PSNR for ``config.patience``
        steps (the best model is exported; resuming stops again).
    metrics, best_metrics : dict
        Validation metrics at the last step and at the best step.
    split : dict
        Which images (or bands) were trained on and held out.
    timing : dict
        ``steps_per_s`` and ``data_fraction`` (time outside the networks' forward/backward).
    """

    run_dir: Path
    model: Path
    best: Path
    last: Path
    checkpoint: Path | None
    steps: int
    stopped: bool
    metrics: dict[str, Any]
    best_metrics: dict[str, Any]
    split: dict[str, Any]
    timing: dict[str, float] = field(default_factory=dict)
    stopped_early: bool = False

    @property
    def worse_than_bicubic(self) -> bool:
        """Whether the exported (best) model is below bicubic upsampling on validation."""
        return worse_than_bicubic(self.best_metrics)


#: The file that marks a folder as a run folder of this package (written when a run starts).
RUN_MARKER = ".napari-sisr-run"
#: What a run writes in its folder; anything else is the user's.
RUN_FILES = {"config.json", "log.jsonl", "checkpoints", RUN_MARKER} | {
    f"{stem}{suffix}"
    for stem in ("model", "model_best", "model_last")
    for suffix in (".json", ".safetensors")
}


def _foreign(out: Path) -> list[str]:
    """Names in ``out`` that a run did not write (its hidden temporaries excepted)."""
    if not out.is_dir():
        return []
    return sorted(
        p.name for p in out.iterdir() if p.name not in RUN_FILES and not p.name.startswith(".")
    )


def check_run_dir(out: str | Path | None, resume: bool, overwrite: bool = False) -> bool:
    """Check a run folder against the wish to resume; returns whether it holds a run.

    Raises :class:`InputError` when there is nothing to resume, or the folder holds files no
    run wrote (the user's own: never replaced without ``overwrite``), and
    :class:`OutputExistsError` when a new run would replace one without ``overwrite``.
    """
    if out is None or not str(out).strip():
        raise InputError("no output folder: set out (the run folder)")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"the run folder {out} is a file: choose a folder")
    ckpt = out / "checkpoints"
    has_run = latest_checkpoint(ckpt) is not None if ckpt.exists() else False
    if resume and not has_run:
        raise InputError(
            f"nothing to resume: {out} holds no checkpoint (a run stops before its first one "
            "when it is killed early): start it again without resume"
        )
    ours = (out / RUN_MARKER).is_file()
    used = out.is_dir() and any(out.iterdir())
    if not resume and not overwrite and used and (has_run or not ours or _foreign(out)):
        if has_run:
            raise OutputExistsError(
                f"{out} already holds a training run: resume it (--resume), choose another "
                "folder, or replace it (--overwrite; overwrite=True in Python)"
            )
        names = ", ".join((_foreign(out) or sorted(p.name for p in out.iterdir()))[:5])
        raise OutputExistsError(
            f"{out} holds files a run did not write ({names}): choose an empty or new folder, "
            "or replace them (--overwrite; overwrite=True in Python)"
        )
    return has_run


def _prepare_run_dir(config: TrainConfig) -> Path:
    has_run = check_run_dir(config.out, config.resume, config.overwrite)
    out = Path(config.out)
    ckpt = out / "checkpoints"
    if not config.resume and has_run:
        shutil.rmtree(ckpt)
        (out / "log.jsonl").unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    if not (out / RUN_MARKER).is_file():
        atomic_write_text(out / RUN_MARKER, json.dumps({"napari_sisr": "run folder"}) + "\n")
    return out


def _resume(trainer: Trainer, ckpt_dir: Path) -> Generator[Progress, None, None]:
    """Load the newest checkpoint that reads back whole; a newer one that does not (cut
    short by a full disk or a kill) is skipped, and the progress says so."""
    problems = []
    for folder in complete_checkpoints(ckpt_dir):
        try:
            trainer.load_state(*load_checkpoint(folder))
        except CheckpointError as err:
            problems.append(str(err))
            continue
        if problems:
            yield Progress(0, 1, f"resuming from {folder.name}: a newer checkpoint was unreadable")
            log.warning("skipped unreadable checkpoints: %s", "; ".join(problems))
        return
    raise CheckpointError(
        f"no checkpoint in {ckpt_dir} reads back whole ({'; '.join(problems) or 'none found'}): "
        "start the run again without resume"
    )


def _degradation_meta(config: TrainConfig) -> dict[str, Any]:
    model = config.degradation_model()
    if model is None:
        return {"mode": "paired"}
    if isinstance(model, DegradationRange):
        return {"mode": "blind", **model.model_dump(mode="json")}
    assert isinstance(model, DegradationParams)
    return {"mode": "fixed", **model.model_dump(mode="json")}


#: Said of a model (notifications, CLI, model card) whose validation PSNR is below bicubic's.
WORSE_THAN_BICUBIC = (
    "worse than bicubic upsampling on the held-out images: train longer, or check the degradation"
)


def worse_than_bicubic(metrics: dict) -> bool:
    """Whether validation metrics put the model below bicubic upsampling."""
    return "psnr" in metrics and metrics["psnr"] < metrics.get("psnr_bicubic", -float("inf"))


def _export(trainer: Trainer, path: Path, metrics: dict, kind: str) -> Path:
    from ..modelio import save_model

    c = trainer.config
    validation = {**metrics, "data_range": 1.0, "split": trainer.split}
    if worse_than_bicubic(metrics):
        validation["warning"] = WORSE_THAN_BICUBIC
    meta = {
        "normalization": {"mode": "percentile", "low": c.percentiles[0], "high": c.percentiles[1]},
        "degradation": _degradation_meta(c),
        "validation": validation,
        "training_data": trainer.provenance,
        "card": {"input_statistics": trainer.input_statistics},
        "training": {
            "steps": trainer.step,
            "weights": kind,
            "ema": c.ema,
            "loss_weights": trainer.loss_weights,
            "config": c.to_json_dict(),
        },
    }
    try:
        return save_model(path, trainer.eval_net, meta)
    except OSError as err:
        raise CheckpointError(
            err.errno, f"could not write the model {path} ({err.strerror or err})"
        ) from err


class _Log:
    """Appends JSON lines to ``log.jsonl`` (on resume, lines past the checkpoint are dropped)."""

    def __init__(self, path: Path, resume_step: int | None):
        self.path = path
        if resume_step is not None and path.exists():
            kept = []
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    if json.loads(line).get("step", 0) <= resume_step:
                        kept.append(line)
                except json.JSONDecodeError:
                    continue
            atomic_write_text(path, "".join(k + "\n" for k in kept))

    def write(self, record: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")


def iter_train(
    config: TrainConfig, stop: StopLike = None
) -> Generator[Progress, None, TrainResult]:
    """Train a super-resolution generator, yielding a :class:`TrainProgress` after every step.

    Each update carries the step, the phase ("content" or "adversarial"), the loss terms and
    the learning rate, and on the steps that compute them the validation :class:`Scores`
    (model and bicubic on the held-out set) and a preview (a small SR array of a validation
    image, normalised units). Setup phases yield plain :class:`Progress`. With
    ``config.threads`` set, torch uses that many CPU threads in this job's thread only.

    Parameters
    ----------
    config : TrainConfig
        The run; with ``resume`` it continues from the newest checkpoint in ``config.out``.
    stop : callable or threading.Event, optional
        Checked before every step; when set, the run saves a checkpoint, exports the model and
        returns with ``stopped=True`` (resume continues it).

    Returns
    -------
    TrainResult

    Raises
    ------
    TrainingDiverged
        A loss became non-finite; the last good checkpoint is kept and named in the message.
    CheckpointError
        A checkpoint could not be written (e.g. disk full); the previous one is intact.
    """
    with thread_count(config.threads):
        return (yield from _run(config, as_stop(stop)))


def _run(c: TrainConfig, stop_fn) -> Generator[Progress, None, TrainResult]:
    from ..io.omezarr import StoreLock

    if c.out is None or not str(c.out).strip():
        raise InputError("no output folder: set out (the run folder)")
    lock = StoreLock(Path(c.out)).acquire()  # one job per run folder
    try:
        return (yield from _run_locked(c, stop_fn))
    finally:
        lock.release()


def _run_locked(c: TrainConfig, stop_fn) -> Generator[Progress, None, TrainResult]:
    out, trainer, log = yield from _open_run(c)
    ckpt_dir = out / "checkpoints"
    loop = _Loop(last_ckpt=latest_checkpoint(ckpt_dir))

    def checkpoint() -> Path:
        tensors, meta = trainer.state()
        return save_checkpoint(ckpt_dir, trainer.step, tensors, meta, keep=c.keep_checkpoints)

    t_start, steps_at_start = time.perf_counter(), trainer.step
    while trainer.step < c.iters:
        if stop_fn():
            loop.stopped = True
            break
        update = _step(c, trainer, out, log, loop, checkpoint)
        elapsed = time.perf_counter() - t_start
        rate = (update.step - steps_at_start) / elapsed if elapsed > 0 else 0.0
        update.steps_per_s = rate
        update.eta_s = (c.iters - update.step) / rate if rate > 0 else None
        yield update
        if loop.early:
            log.write({"event": "early_stop", "step": update.step, "best_step": loop.best_step})
            break
    return _finish(c, trainer, out, log, loop, checkpoint)


@dataclass
class _Loop:
    """What the step loop carries from step to step and hands to the end of the run."""

    last_ckpt: Path | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    acc: dict[str, float] = field(default_factory=dict)  # losses summed since the last log line
    n_acc: int = 0
    best_step: int | None = None
    stopped: bool = False
    early: bool = False


def _open_run(c: TrainConfig) -> Generator[Progress, None, tuple[Path, Trainer, _Log]]:
    """The run folder, the trainer (resumed from its last checkpoint with ``resume``), the
    run's config.json and its log."""
    created = c.out is not None and not Path(c.out).exists()
    out = _prepare_run_dir(c)
    yield Progress(0, c.iters, "loading images and building the networks")
    try:
        trainer = Trainer(c)
    except BaseException:
        if created:  # a run that never started leaves no empty folder behind
            shutil.rmtree(out, ignore_errors=True)
        raise
    resume_step = None
    if c.resume:
        yield from _resume(trainer, out / "checkpoints")
        resume_step = trainer.step
    atomic_write_text(
        out / "config.json",
        json.dumps({**c.to_json_dict(), "split": trainer.split}, indent=2) + "\n",
    )
    log = _Log(out / "log.jsonl", resume_step)
    if resume_step is None:
        start = {"event": "start", "step": 0, "split": trainer.split}
        log.write({**start, "device": str(trainer.device)})
    return out, trainer, log


def _step(c: TrainConfig, trainer: Trainer, out: Path, log: _Log, loop: _Loop, checkpoint):
    """One training step with what falls due at it (log line, validation, preview,
    checkpoint); the :class:`TrainProgress` to show, without its speed."""
    if trainer.net_d is not None and trainer.step == c.warmup:
        _rewind_to_best_content(trainer, out, log)
    try:
        losses = trainer.train_step()
    except TrainingDiverged as err:
        where = f"at {loop.last_ckpt}" if loop.last_ckpt else "none was written yet"
        log.write({"event": "diverged", "step": trainer.step, "message": str(err)})
        raise TrainingDiverged(
            f"{err}; training stopped. The last good checkpoint is kept ({where}); "
            "resume with a lower learning rate or stronger gradient clipping"
        ) from None
    step, phase = trainer.step, trainer.last_phase
    for k, v in losses.items():
        loop.acc[k] = loop.acc.get(k, 0.0) + v
    loop.n_acc += 1
    shown = {k: v for k, v in losses.items() if k != "lr"}
    message = f"{phase} step {step}/{c.iters}"
    update = TrainProgress(step, c.iters, message, step=step, phase=phase, losses=shown)
    update.lr = losses["lr"]
    last = step == c.iters
    if step % c.log_every == 0 or last:
        log.write(
            {"step": step, "phase": phase, **{k: v / loop.n_acc for k, v in loop.acc.items()}}
        )
        loop.acc, loop.n_acc = {}, 0
    if step % c.val_every == 0 or last:
        loop.metrics = _validate(trainer, out, log)
        update.val = Scores(**loop.metrics)
        loop.best_step = (trainer.best or {}).get("step")
        loop.early = not last and should_stop_early(step, loop.best_step, c.patience)
    if step % (c.preview_every or c.val_every) == 0 or last:
        update.preview = trainer.preview()
    if step % (c.checkpoint_every or c.val_every) == 0 or last:
        loop.last_ckpt = checkpoint()
    if loop.early:
        update.message = (
            f"stopping early at step {step}: no better validation PSNR since step "
            f"{loop.best_step} ({c.patience} steps)"
        )
    return update


def _finish(c: TrainConfig, trainer: Trainer, out: Path, log: _Log, loop: _Loop, checkpoint):
    """Validate and checkpoint the last step if it was not, export the last and best models,
    publish the chosen one as ``model.*`` and log how the run ended."""
    metrics = loop.metrics
    if not metrics or metrics.get("step") != trainer.step:
        metrics = _validate(trainer, out, log)
    last_ckpt = loop.last_ckpt
    if last_ckpt is None or last_ckpt.name != f"step_{trainer.step:08d}":
        last_ckpt = checkpoint()
    last = _export(trainer, out / "model_last", metrics, "last")
    best_path = out / "model_best.json"
    if not best_path.exists():
        best_path = _export(trainer, out / "model_best", metrics, "best")
    _publish(best_path if c.export == "best" else last, out)
    total = trainer.time_total
    timing = {
        "steps_per_s": trainer.step / total if total else 0.0,
        "data_fraction": trainer.time_data / total if total else 0.0,
    }
    event = "stopped" if loop.stopped else "stopped_early" if loop.early else "done"
    log.write({"event": event, "step": trainer.step, **timing})
    return TrainResult(
        run_dir=out,
        model=out / "model.json",
        best=best_path,
        last=last,
        checkpoint=last_ckpt,
        steps=trainer.step,
        stopped=loop.stopped,
        stopped_early=loop.early,
        metrics=metrics,
        best_metrics=(trainer.best or {}).get("metrics", metrics),
        split=trainer.split,
        timing=timing,
    )


def _publish(chosen: Path, out: Path) -> None:
    """Copy the chosen model to ``model.*``: weights first, JSON last, each staged under an
    unpredictable name and renamed into place."""
    from ..io.guard import staged

    try:
        for suffix in (".safetensors", ".json"):
            with staged(out / f"model{suffix}") as tmp:
                shutil.copyfile(chosen.with_suffix(suffix), tmp)
    except (OSError, InputError) as err:
        raise CheckpointError(
            getattr(err, "errno", None), f"could not write {out / 'model.json'} ({err})"
        ) from err


def _rewind_to_best_content(trainer: Trainer, out: Path, log: _Log) -> None:
    """At the end of the content warm-up, go back to its best validated generator (a run on
    one small field often drifts after its first few hundred steps): the adversarial phase
    refines the model a content-only run would have exported."""
    from ..modelio import load_model

    best = trainer.best
    if not best or best.get("adversarial") or best["step"] >= trainer.step:
        return
    net = load_model(out / "model_best.json", device="cpu")
    trainer.restart_generator(net.state_dict())
    log.write({"event": "adversarial_start", "step": trainer.step, "from_step": best["step"]})


def _validate(trainer: Trainer, out: Path, log: _Log) -> dict[str, Any]:
    metrics = trainer.validate()
    log.write({"event": "val", "step": trainer.step, "val": metrics})
    best = trainer.best
    # An adversarial run keeps the best of its adversarial phase: a generator from the content
    # warm-up nearly always scores a higher PSNR, and exporting it would drop the GAN silently.
    gan = trainer.net_d is not None and trainer.step > trainer.config.warmup
    if (
        best is None
        or (gan and not best.get("adversarial"))
        or metrics["psnr"] > best["metrics"]["psnr"]
    ):
        trainer.best = {"step": trainer.step, "metrics": metrics, "adversarial": gan}
        _export(trainer, out / "model_best", metrics, "best")
    return metrics


def train(config: TrainConfig, stop: StopLike = None, progress=None) -> TrainResult:
    """Run :func:`iter_train` to the end (``progress`` is called with every update)."""
    return run_to_end(iter_train(config, stop), progress)


__all__ = ["iter_train", "train", "TrainResult", "TrainingDiverged", "CheckpointError"]
