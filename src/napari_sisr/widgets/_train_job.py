"""Turn the Train widget's form values and the viewer's layers into a validated training job.

Nothing here touches Qt: it reads layer data and builds a
:class:`~napari_sisr.core.train_config.TrainConfig`. Every problem the user can fix is raised
as :class:`JobError` with a message naming the field or layer.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import napari

    from ..core.train_config import TrainConfig

#: Where runs go when the user leaves the run folder empty.
RUNS_ROOT = Path.home() / ".napari-sisr" / "runs"


class JobError(ValueError):
    """A problem with the user's input, worded for a notification."""


@dataclass
class Job:
    """A validated configuration and the extra arguments for ``iter_train``."""

    config: TrainConfig
    kwargs: dict[str, Any] = field(default_factory=dict)


def default_run_dir(root: Path = RUNS_ROOT) -> Path:
    """A fresh, time-stamped run folder under ``root``."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path, i = root / stamp, 1
    while path.exists():
        path, i = root / f"{stamp}-{i}", i + 1
    return path


def layer_plane(viewer: napari.viewer.Viewer, name: str) -> np.ndarray:
    """The 2D plane of an image layer currently shown (grey; RGB is averaged)."""
    try:
        layer = viewer.layers[name]
    except KeyError:
        raise JobError(f"layer {name!r} no longer exists") from None
    data = layer.data[0] if layer.multiscale else layer.data
    if layer.rgb:
        data = np.asarray(data, dtype=np.float32).mean(axis=-1)
    if data.ndim > 2:  # the plane on screen for stacks and time-lapses
        lead = tuple(int(i) for i in viewer.dims.current_step[: data.ndim - 2])
        data = data[lead]
    arr = np.asarray(data)
    if arr.ndim != 2:
        raise JobError(f"layer {name!r} is not a 2D image (shape {arr.shape})")
    return arr


def _degradation(values: dict[str, Any], loaded) -> dict[str, Any]:
    """Degradation settings: the loaded fit (with edits typed over it) or typed values."""
    typed = {
        "scale": values["scale"],
        "sigma": values["sigma"],
        "noise_var": float(values["noise_std"]) ** 2,
        "gain": values["gain"],
    }
    if loaded is not None:
        base = loaded.model_dump()
        if loaded.sigma_y is not None and abs(loaded.sigma - values["sigma"]) > 1e-9:
            base["sigma_y"] = base["sigma_x"] = None  # the user typed an isotropic width
        if abs(loaded.noise_std - values["noise_std"]) < 1e-9:
            typed["noise_var"] = loaded.noise_var  # keep full precision
        return {**base, **typed}
    return {**typed, "source": "manual"}
