"""Turn the Train widget's form values and the viewer's layers into a validated training job.

Nothing here touches Qt: it reads layer data and builds a
:class:`~napari_sisr.core.training.config.TrainConfig`. Every problem the user can fix is raised
as :class:`JobError` with a message naming the field or layer.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...core.errors import InputError, describe
from .._layers import LayerSnapshot

if TYPE_CHECKING:
    import napari

    from ...core.degradation.params import DegradationParams
    from ...core.training.config import TrainConfig

#: Where runs go when the user leaves the run folder empty.
RUNS_ROOT = Path.home() / ".napari-sisr" / "runs"


class JobError(InputError):
    """A problem with the user's input, worded for a notification."""


def default_run_dir(root: Path = RUNS_ROOT) -> Path:
    """A fresh, time-stamped run folder under ``root``."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path, i = root / stamp, 1
    while path.exists():
        path, i = root / f"{stamp}-{i}", i + 1
    return path


def _degradation(values: dict[str, Any], loaded) -> dict[str, Any] | DegradationParams:
    """Degradation settings: the loaded fit, with the values the user edited laid over it.

    ``values["edited"]`` names the fields typed since the fit was loaded; the others keep the
    loaded values exactly (never as rounded by the form), so loading a fit and pressing Start
    trains with the fit itself. A typed sigma rescales a fitted anisotropic PSF, keeping its
    shape (:meth:`~napari_sisr.core.degradation.params.DegradationParams.with_sigma`). The scale
    is not part of it: the training config states it once.
    """
    typed = {"sigma": float(values["sigma"]), "noise_std": float(values["noise_std"])}
    typed["gain"] = float(values["gain"])
    if loaded is None:
        return {
            "sigma": typed["sigma"],
            "noise_var": typed["noise_std"] ** 2,
            "gain": typed["gain"],
            "source": "manual",
        }
    edited = set(values.get("edited") or ())
    params = loaded.with_sigma(typed["sigma"]) if "sigma" in edited else loaded
    changes: dict[str, Any] = {}
    if "noise_std" in edited:
        changes["noise_var"] = typed["noise_std"] ** 2
    if "gain" in edited:
        changes["gain"] = typed["gain"]
    if edited:
        changes["source"] = "manual"
    return params.updated(**changes) if changes else params


def _source(viewer: napari.viewer.Viewer, name: str, role: str) -> LayerSnapshot:
    """The snapshot of a layer the core trains on (the worker never touches the layer)."""
    try:
        layer = viewer.layers[name]
    except KeyError:
        raise JobError(f"{role}: layer {name!r} no longer exists") from None
    return LayerSnapshot.of(layer)


def build_config(
    viewer: napari.viewer.Viewer,
    values: dict[str, Any],
    *,
    loaded=None,
    resume: bool = False,
    overrides: dict[str, Any] | None = None,
) -> TrainConfig:
    """Check the form values against the viewer's layers and build the training config.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        Source of the layers named in ``values``.
    values : dict
        :meth:`TrainForm.values`.
    loaded : DegradationParams, optional
        Parameters loaded from a fit JSON; typed values are laid over them.
    resume : bool
        Continue the run in ``values["run_dir"]`` from its newest checkpoint.
    overrides : dict, optional
        Extra :class:`TrainConfig` fields laid over the form (scripts, tests).

    Raises
    ------
    JobError
        With a message naming the problem (missing layer, patch too large, invalid field).
    """
    from pydantic import ValidationError

    from ...core.training.config import TrainConfig

    names = values["hr_layers"]
    if not names:
        raise JobError("choose at least one HR layer to train on")
    hr = [_source(viewer, n, "HR layers") for n in names]
    patch = int(values["patch"])
    small = [
        f"{s.name!r} ({s.shape_yx[0]} x {s.shape_yx[1]})" for s in hr if min(s.shape_yx) < patch
    ]
    if small:
        raise JobError(
            f"patch size {patch} is larger than HR layer {', '.join(small)}: choose a smaller patch"
        )
    fields: dict[str, Any] = {"hr": hr, **_validation(viewer, values)}
    fields.update(_what_to_learn(viewer, values, loaded))
    fields.update(
        scale=values["scale"],
        arch=values["arch"],
        preset=values["preset"],
        init=values["init"],
        patch=patch,
        batch=values["batch"],
        iters=values["iterations"],
        learning_rate=_learning_rate(values["learning_rate"]),
        adversarial=values["adversarial"],
        val_every=values["val_every"],
        preview_every=values["preview_every"],
        patience=None if values.get("early_stop", True) else 0,
        device=values["device"],
        out=_run_dir(values["run_dir"], resume),
        resume=resume,
    )
    fields.update(overrides or {})
    try:
        return TrainConfig(**fields)
    except ValidationError as err:
        raise JobError(f"invalid training settings: {describe(err)}") from None
    except InputError as err:
        raise JobError(str(err)) from None


def _validation(viewer, values: dict[str, Any]) -> dict[str, Any]:
    """A held-out layer (never one trained on), or the fraction of each image held out."""
    if values["val_mode"] != "layer":
        return {"val_fraction": values["val_fraction"]}
    val_name = values["val_layer"]
    if not val_name:
        raise JobError("validation: choose the held-out layer")
    if val_name in values["hr_layers"]:
        raise JobError(
            f"validation layer {val_name!r} is also ticked as an HR layer: validation "
            "images must never be trained on"
        )
    return {"val": [_source(viewer, val_name, "validation")]}


def _what_to_learn(viewer, values: dict[str, Any], loaded) -> dict[str, Any]:
    """The LR side of training: a registered LR layer (paired), blind ranges, or a fit or
    typed degradation (with, optionally, the real LR capture it was fitted to)."""
    one_hr = len(values["hr_layers"]) == 1
    if values["lr_layer"]:
        if not one_hr:
            raise JobError("a paired LR layer pairs with exactly one HR layer: tick only one")
        if values["val_mode"] == "layer":
            raise JobError(
                "paired training validates on a held-out band of the pair: choose a fraction"
            )
        return {"lr_images": [_source(viewer, values["lr_layer"], "paired LR")]}
    if values["blind"]:
        blind = {"sigma": values["sigma_range"], "noise_std": values["noise_std_range"]}
        soft, grain = values.get("content_sigma_range"), values.get("content_noise_range")
        if soft and soft[1] > 0:
            blind["content_sigma"] = soft
        if grain and grain[1] > 0:
            blind["content_noise"] = grain
        return {"blind": blind}
    fields: dict[str, Any] = {"degradation": _degradation(values, loaded)}
    if values.get("real_lr_layer"):
        if not one_hr:
            raise JobError("validation on a real LR capture trains on its one HR layer")
        fields["real_lr"] = [_source(viewer, values["real_lr_layer"], "real LR")]
    return fields


def _run_dir(text: str, resume: bool) -> Path:
    """The run folder of the form (a new one by default); one holding a run only to resume."""
    from ...core.errors import OutputExistsError
    from ...core.training.loop import check_run_dir

    run_dir = Path(text).expanduser() if text else None
    if run_dir is None and resume:
        raise JobError("nothing to resume: no run folder chosen")
    run_dir = run_dir or default_run_dir()
    try:
        check_run_dir(run_dir, resume)
    except OutputExistsError:
        raise JobError(
            f"{run_dir} already holds a training run: press Resume or choose another folder"
        ) from None
    except InputError as err:  # a file, nothing to resume, a folder of the user's own files
        raise JobError(str(err).replace("start it again without resume", "press Start")) from None
    return run_dir


def _learning_rate(text: str) -> float | None:
    """The form's learning rate: empty for the preset's, else a number."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise JobError(f"learning rate: {text!r} is not a number") from None


def run_history(run_dir: str | Path, before_step: int) -> tuple[list[dict], list[dict]]:
    """Logged loss records and validation metrics of a run, up to (excluding) ``before_step``.

    Reads ``RUN_DIR/log.jsonl`` as the training loop writes it: one record per logged step
    (``step`` and the mean of each loss term since the previous record) and one per
    validation (``event: "val"``). Unreadable lines are skipped; a missing log gives nothing.
    """
    import json

    losses: list[dict] = []
    vals: list[dict] = []
    try:
        lines = (Path(run_dir) / "log.jsonl").read_text(encoding="utf-8").splitlines()
    except OSError:
        return losses, vals
    for line in lines:
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        step = rec.get("step")
        if not isinstance(step, int) or step >= before_step:
            continue
        if rec.get("event") == "val" and isinstance(rec.get("val"), dict):
            vals.append({**rec["val"], "step": step})
        elif "event" not in rec:
            losses.append(rec)
    return losses, vals
