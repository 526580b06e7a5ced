"""Training checkpoints: safetensors + JSON, written atomically, never pickled.

A checkpoint is a folder ``checkpoints/step_00001000/`` holding ``state.safetensors`` (every
tensor: networks, EMA, optimiser moments, the torch RNG state) and ``state.json`` (step, the
optimisers' structure, the numpy RNG state, the config, the best metrics). It is written into a
hidden temporary folder, synced, then renamed into place, and only then does
``checkpoints/latest.json`` (itself replaced atomically) point at it. A crash or a full disk at
any moment leaves the previous checkpoint and pointer untouched.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..io.atomic import atomic_write_text, current_umask

CHECKPOINT_FORMAT = "napari-sisr-checkpoint"
LATEST = "latest.json"
STATE_TENSORS = "state.safetensors"
STATE_JSON = "state.json"


class CheckpointError(OSError):
    """Writing or reading a checkpoint failed (the previous checkpoint, if any, is intact)."""


def flatten_optimizer(state: dict, prefix: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Split ``optimizer.state_dict()`` into tensors (for safetensors) and JSON structure."""
    tensors: dict[str, torch.Tensor] = {}
    structure: dict[str, Any] = {"param_groups": state["param_groups"], "state": {}}
    for idx, entry in state["state"].items():
        slots: dict[str, Any] = {}
        for key, value in entry.items():
            if torch.is_tensor(value):
                name = f"{prefix}/{idx}/{key}"
                tensors[name] = value.detach().cpu().contiguous()
                slots[key] = {"tensor": name}
            else:
                slots[key] = {"value": value}
        structure["state"][str(idx)] = slots
    return tensors, structure


def unflatten_optimizer(tensors: dict[str, torch.Tensor], structure: dict) -> dict:
    """Inverse of :func:`flatten_optimizer`."""
    state = {}
    for idx, slots in structure["state"].items():
        state[int(idx)] = {
            key: tensors[slot["tensor"]] if "tensor" in slot else slot["value"]
            for key, slot in slots.items()
        }
    groups = [dict(g) for g in structure["param_groups"]]
    for g in groups:
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
    return {"state": state, "param_groups": groups}


def prefixed(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with keys ``prefix/key`` and tensors made contiguous CPU copies."""
    return {f"{prefix}/{k}": v.detach().cpu().contiguous().clone() for k, v in state.items()}


def unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    head = prefix + "/"
    return {k[len(head) :]: v for k, v in tensors.items() if k.startswith(head)}


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _write_files(folder: Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    save_file(tensors, str(folder / STATE_TENSORS), metadata={"format": CHECKPOINT_FORMAT})
    with open(folder / STATE_TENSORS, "rb+") as fh:
        os.fsync(fh.fileno())
    (folder / STATE_JSON).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    with open(folder / STATE_JSON, "rb+") as fh:
        os.fsync(fh.fileno())


def save_checkpoint(
    root: str | os.PathLike, step: int, tensors: dict[str, torch.Tensor], meta: dict, keep: int = 2
) -> Path:
    """Write a checkpoint atomically and point ``latest.json`` at it.

    Parameters
    ----------
    root : path
        The ``checkpoints`` folder.
    step : int
        Training step (names the folder).
    tensors, meta : dict
        Everything to store; ``meta`` must be JSON-serialisable.
    keep : int
        Number of most recent checkpoints kept; older ones are deleted after the pointer moves.

    Raises
    ------
    CheckpointError
        If writing fails (e.g. a full disk); nothing that existed before is changed.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    name = f"step_{int(step):08d}"
    final = root / name
    meta = {"format": CHECKPOINT_FORMAT, "step": int(step), **meta}
    if not final.exists():
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}."))
        os.chmod(tmp, 0o777 & ~current_umask())  # as mkdir would make it, not 0700
        try:
            _write_files(tmp, tensors, meta)
            os.replace(tmp, final)
            _fsync_dir(root)
        except (OSError, SafetensorError) as err:  # a full disk reaches us as either
            shutil.rmtree(tmp, ignore_errors=True)
            if not isinstance(err, OSError):
                err = OSError(errno.ENOSPC if "space" in str(err).lower() else errno.EIO, str(err))
            previous = latest_checkpoint(root)
            kept = (
                f"the previous checkpoint ({previous.name}) is intact"
                if previous
                else ("no earlier checkpoint exists")
            )
            raise CheckpointError(
                err.errno,
                f"could not write the checkpoint of step {step} ({err.strerror or err}); {kept}",
            ) from err
    try:
        atomic_write_text(root / LATEST, json.dumps({"step": int(step), "path": name}) + "\n")
    except OSError as err:
        raise CheckpointError(
            err.errno, f"could not update {root / LATEST} ({err.strerror or err})"
        ) from err
    _prune(root, keep, protect=name)
    return final


def _read_json(path: Path):
    from ..io.guard import load_json

    return load_json(path, "checkpoint file")


def _complete(folder: Path) -> bool:
    try:
        meta = _read_json(folder / STATE_JSON)
    except (OSError, ValueError):  # InputError is a ValueError
        return False
    ok = isinstance(meta, dict) and meta.get("format") == CHECKPOINT_FORMAT
    return ok and (folder / STATE_TENSORS).is_file()


def _prune(root: Path, keep: int, protect: str) -> None:
    for stale in root.glob(".step_*"):  # temporary folders left by a crash
        shutil.rmtree(stale, ignore_errors=True)
    folders = sorted(p for p in root.glob("step_*") if p.is_dir())
    for old in folders[:-keep]:
        if old.name != protect:
            shutil.rmtree(old, ignore_errors=True)


def latest_checkpoint(root: str | os.PathLike) -> Path | None:
    """The folder of the newest complete checkpoint under ``root`` (None if there is none).

    Follows ``latest.json``; if it is missing or points at something incomplete, falls back to
    the newest complete ``step_*`` folder.
    """
    return next(iter(complete_checkpoints(root)), None)


def complete_checkpoints(root: str | os.PathLike) -> list[Path]:
    """Complete checkpoint folders under ``root``, newest first (the one ``latest.json``
    names leads when it is complete)."""
    root = Path(root)
    out = []
    try:
        pointer = _read_json(root / LATEST)
        folder = root / str(pointer["path"])
        if folder.parent == root and _complete(folder):
            out.append(folder)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    for folder in sorted(root.glob("step_*"), reverse=True):
        if folder not in out and _complete(folder):
            out.append(folder)
    return out


def load_checkpoint(folder: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a checkpoint folder: ``(tensors, meta)``; :class:`CheckpointError` naming the
    folder when it is unreadable (cut short, corrupt)."""
    from safetensors import SafetensorError

    folder = Path(folder)
    try:
        meta = _read_json(folder / STATE_JSON)
        tensors = load_file(str(folder / STATE_TENSORS), device="cpu")
    except (OSError, ValueError, SafetensorError) as err:
        raise CheckpointError(f"checkpoint {folder} is unreadable: {err}") from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{folder} is not a napari-sisr checkpoint")
    return tensors, meta
