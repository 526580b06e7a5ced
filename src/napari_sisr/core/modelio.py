"""Model files: safetensors weights with a JSON config beside them.

``NAME.safetensors`` holds the generator's tensors; ``NAME.json`` holds everything needed to
rebuild and use it (architecture, preset, scale, channels, normalisation, receptive field, the
degradation it was trained for, validation metrics, how it was trained). Pickled files are never
loaded. Both files are written atomically, JSON last, so a crash never leaves a model that
looks complete but is not.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

from .errors import InputError, InputNotFoundError, InputTypeError
from .limits import MAX_SCALE

MODEL_FORMAT = "napari-sisr-model"
MODEL_VERSION = 1
BUNDLED_DIR = Path(__file__).resolve().parents[1] / "models"
#: The bundled model used when none is named (``napari-sisr predict`` without ``--model``).
DEFAULT_MODEL = "default-4x"


def _paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """Weights and JSON of a model path: the name keeps its dots (``exp.v2`` ->
    ``exp.v2.safetensors``); only a ``.json`` or ``.safetensors`` ending is the file's."""
    path = Path(path)
    if path.is_dir():
        path = path / "model"
    stem = path.name
    for suffix in (".json", ".safetensors"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return path.with_name(stem + ".safetensors"), path.with_name(stem + ".json")


def bundled_models() -> dict[str, Path]:
    """Names of the models shipped in the package -> their JSON paths."""
    if not BUNDLED_DIR.exists():
        return {}
    return {p.stem: p for p in sorted(BUNDLED_DIR.glob("*.json"))}


#: Files of other tools' models, which hold pickled Python (code that runs when loaded).
PICKLED_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin", ".tar")


def resolve_model_path(name_or_path: str | os.PathLike) -> tuple[Path, Path]:
    """Weights and JSON paths of a bundled model name, a model folder, or a file path (for
    another tool's bioimage.io zip, the zip itself twice)."""
    s = str(name_or_path)
    if Path(s).suffix.lower() in PICKLED_SUFFIXES:
        raise InputError(
            f"{Path(s).name}: pickled model files are never loaded (they can run code); a "
            "napari-sisr model is a .safetensors file with a .json beside it"
        )
    bundled = bundled_models()
    if s in bundled:
        return _paths(bundled[s])
    if s.lower().endswith(".zip"):  # a bioimage.io package
        from .bmz.foreign import is_foreign_bmz
        from .bmz.package import unpack_bmz

        if is_foreign_bmz(s):  # another tool's: the zip is the model (load_model reads it)
            return Path(s), Path(s)
        if Path(s).is_file():  # napari-sisr's: our own files inside
            return _paths(unpack_bmz(s))
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
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    from .io.atomic import atomic_write_text
    from .io.guard import staged

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
    with staged(weights) as tmp:
        try:
            save_file(state, str(tmp), metadata={"format": MODEL_FORMAT})
        except SafetensorError as err:  # a full disk reaches us as this
            raise OSError(
                errno.ENOSPC if "space" in str(err).lower() else errno.EIO,
                " ".join(str(err).split()),
            ) from None
        info["weights_sha256"] = file_digest(tmp)
    atomic_write_text(meta_path, json.dumps(info, indent=2, default=_json_default) + "\n")
    return meta_path


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (ties a model's JSON to its weights)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _json_default(obj):
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise InputTypeError(f"cannot store {type(obj).__name__} in a model JSON")


def read_model_meta(name_or_path: str | os.PathLike) -> dict[str, Any]:
    """The JSON config of a model, validated (every error names the file and the key)."""
    from .bmz.foreign import is_foreign_bmz

    if is_foreign_bmz(name_or_path):  # another tool's package: its description, translated
        return dict(load_model(name_or_path).meta)
    from .io.guard import load_json

    _, meta_path = resolve_model_path(name_or_path)
    meta = load_json(meta_path, "model config")
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
        raise InputError(f"{meta_path} is not a napari-sisr model config")
    check_model_meta(meta, meta_path)
    return meta


def check_model_meta(meta: dict[str, Any], where: os.PathLike | str) -> None:
    """Types and ranges of the keys a model config must get right."""
    import math

    def bad(key: str, want: str) -> InputError:
        return InputError(f"model config {where}: {key!r} must be {want}, got {meta.get(key)!r}")

    for key in ("arch", "scale", "in_channels"):
        if meta.get(key) is None:
            raise InputError(f"model config {where} lacks {key!r}")
    if not isinstance(meta["arch"], str):
        raise bad("arch", "an architecture name")
    for key, top in (("scale", MAX_SCALE), ("in_channels", 16)):
        v = meta[key]
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= top:
            raise bad(key, f"an integer from 1 to {top}")
    if not isinstance(meta.get("arch_kwargs", {}), dict):
        raise bad("arch_kwargs", "an object of settings")
    for key in ("card", "steering", "degradation", "validation", "training", "training_data"):
        want = list if key == "training_data" else dict
        if meta.get(key) is not None and not isinstance(meta[key], want):
            raise bad(key, "a list" if want is list else "an object")
    if not isinstance(meta.get("preset") or "fast", str):
        raise bad("preset", "a preset name")
    rf = meta.get("receptive_field")
    if rf is not None and (isinstance(rf, bool) or not isinstance(rf, int) or not 0 <= rf <= 4096):
        raise bad("receptive_field", "an integer from 0 to 4096")
    norm = meta.get("normalization")
    if norm is not None:
        if not isinstance(norm, dict) or norm.get("mode", "percentile") not in (
            "percentile",
            "none",
        ):
            raise bad("normalization", "{'mode': 'percentile' | 'none', ...}")
        if norm.get("mode", "percentile") == "percentile":
            lo, hi = norm.get("low", 0.1), norm.get("high", 99.9)
            numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lo, hi))
            if not (numbers and math.isfinite(lo) and math.isfinite(hi) and 0 <= lo < hi <= 100):
                raise bad("normalization", "percentiles with 0 <= low < high <= 100")


def _read_pair(name_or_path, weights: Path, tries: int = 20) -> tuple[dict[str, Any], bytes]:
    """A model's JSON and the bytes of the very weights it was written with.

    A model rewritten while it is read (a training run exporting its best model) replaces the
    weights, then the JSON: a reader that catches the new weights with the old JSON reads
    both again until they agree, and refuses a pair that never does.
    """
    import hashlib
    import time

    from .io.guard import memory_budget, read_bytes

    for attempt in range(tries):
        meta = read_model_meta(name_or_path)
        try:
            data = read_bytes(weights, "model weights", memory_budget())
        except OSError as err:
            raise InputError(f"model weights {weights} are unreadable: {err}") from None
        want = meta.get("weights_sha256")
        if want is None or hashlib.sha256(data).hexdigest() == want:
            return meta, data
        time.sleep(0.05 * (attempt + 1))
    raise InputError(
        f"model weights {weights} are not the ones its JSON was written with (changed by hand, "
        "or replaced without their JSON)"
    )


def check_weights(state: dict, where) -> None:
    """Refuse weights that are not floating point or not finite: a network built from them
    gives NaN, inf or a constant image, whatever the input."""
    for name, tensor in state.items():
        if not tensor.is_floating_point():
            raise InputError(
                f"model weights {where}: {name} is stored as {tensor.dtype}, not as floating "
                "point: these are not weights of a napari-sisr model"
            )
        if not bool(tensor.isfinite().all()):
            raise InputError(f"model weights {where}: {name} holds NaN or infinite values")


def load_model(name_or_path: str | os.PathLike, device: str = "cpu"):
    """Load a project model (bundled name, folder, or file path) for inference.

    Returns the generator in eval mode with a ``meta`` dict attribute (the JSON config).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    from .archs import build_generator
    from .bmz.foreign import is_foreign_bmz, load_foreign_bmz

    if is_foreign_bmz(name_or_path):  # another tool's bioimage.io package: its ONNX network
        return load_foreign_bmz(name_or_path).to(device)
    weights, _ = resolve_model_path(name_or_path)
    meta, data = _read_pair(name_or_path, weights)
    net = build_generator(
        meta["arch"],
        preset=meta.get("preset") or "fast",
        scale=int(meta["scale"]),
        in_channels=int(meta["in_channels"]),
        **meta.get("arch_kwargs", {}),
    )
    try:
        state = load(data)
    except (SafetensorError, OSError, ValueError) as err:
        raise InputError(f"model weights {weights} are corrupt or unreadable: {err}") from None
    check_weights(state, weights)
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as err:  # tensors of the wrong shapes
        first = str(err).split("\n\t")[1] if "\n\t" in str(err) else str(err)
        raise InputError(
            f"model weights {weights} do not fit the network its JSON describes: {first}"
        ) from None
    if missing or unexpected:
        raise InputError(
            f"model weights {weights} do not match {meta['arch']!r}: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}"
        )
    net.meta = meta
    net.eval()
    return net.to(device)
