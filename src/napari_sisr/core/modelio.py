"""Model files: safetensors weights with a JSON config beside them.

``NAME.safetensors`` holds the generator's tensors; ``NAME.json`` holds everything needed to
rebuild and use it (architecture, preset, scale, channels, normalisation, receptive field, the
degradation it was trained for, validation metrics, how it was trained). Pickled files are never
loaded. Both files are written atomically, JSON last, so a crash never leaves a model that
looks complete but is not.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import InputError, InputNotFoundError, InputTypeError

MODEL_FORMAT = "napari-sisr-model"
MODEL_VERSION = 1
BUNDLED_DIR = Path(__file__).resolve().parents[1] / "models"
#: The bundled model used when none is named (``napari-sisr predict`` without ``--model``).
DEFAULT_MODEL = "default-4x"


def _paths(path: str | os.PathLike) -> tuple[Path, Path]:
    path = Path(path)
    if path.is_dir():
        path = path / "model"
    if path.suffix in (".json", ".safetensors"):
        path = path.with_suffix("")
    return path.with_suffix(".safetensors"), path.with_suffix(".json")


def bundled_models() -> dict[str, Path]:
    """Names of the models shipped in the package -> their JSON paths."""
    if not BUNDLED_DIR.exists():
        return {}
    return {p.stem: p for p in sorted(BUNDLED_DIR.glob("*.json"))}


def resolve_model_path(name_or_path: str | os.PathLike) -> tuple[Path, Path]:
    """Weights and JSON paths of a bundled model name, a model folder, or a file path."""
    s = str(name_or_path)
    bundled = bundled_models()
    if s in bundled:
        return _paths(bundled[s])
    weights, meta = _paths(s)
    if not meta.exists() or not weights.exists():
        missing = meta if not meta.exists() else weights
        known = ", ".join(bundled) or "none"
        raise InputNotFoundError(
            f"model {s!r} not found (missing {missing}); bundled models: {known}"
        )
    return weights, meta


def save_model(path: str | os.PathLike, net, meta: dict[str, Any]) -> Path:
    """Save a generator as ``path.safetensors`` + ``path.json`` (atomically).

    ``meta`` is merged over what the network reports about itself (arch, preset, scale,
    channels, arch kwargs, receptive field).
    """
    from safetensors.torch import save_file

    from .io.atomic import atomic_write_text

    weights, meta_path = _paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "arch": getattr(net, "arch", None),
        "preset": getattr(net, "preset", None),
        "scale": getattr(net, "scale", None),
        "in_channels": getattr(net, "in_channels", None),
        "arch_kwargs": getattr(net, "arch_kwargs", {}),
    }
    try:
        info["receptive_field"] = int(net.receptive_field)
    except (AttributeError, NotImplementedError):
        pass
    info.update(meta)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    tmp = weights.with_name(f".{weights.name}.partial")
    save_file(state, str(tmp), metadata={"format": MODEL_FORMAT})
    os.replace(tmp, weights)
    atomic_write_text(meta_path, json.dumps(info, indent=2, default=_json_default) + "\n")
    return meta_path


def _json_default(obj):
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise InputTypeError(f"cannot store {type(obj).__name__} in a model JSON")


def read_model_meta(name_or_path: str | os.PathLike) -> dict[str, Any]:
    """The JSON config of a model, validated for format."""
    _, meta_path = resolve_model_path(name_or_path)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputError(f"model config {meta_path} is corrupt: {err}") from None
    if meta.get("format") != MODEL_FORMAT:
        raise InputError(f"{meta_path} is not a napari-sisr model config")
    for key in ("arch", "scale", "in_channels"):
        if meta.get(key) is None:
            raise InputError(f"model config {meta_path} lacks {key!r}")
    return meta


def load_model(name_or_path: str | os.PathLike, device: str = "cpu"):
    """Load a project model (bundled name, folder, or file path) for inference.

    Returns the generator in eval mode with a ``meta`` dict attribute (the JSON config).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .archs import build_generator

    weights, _ = resolve_model_path(name_or_path)
    meta = read_model_meta(name_or_path)
    net = build_generator(
        meta["arch"],
        preset=meta.get("preset") or "fast",
        scale=int(meta["scale"]),
        in_channels=int(meta["in_channels"]),
        **meta.get("arch_kwargs", {}),
    )
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise InputError(f"model weights {weights} are corrupt or unreadable: {err}") from None
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise InputError(
            f"model weights {weights} do not match {meta['arch']!r}: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}"
        )
    net.meta = meta
    net.eval()
    return net.to(device)
