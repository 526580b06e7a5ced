"""Placing a super-resolved result over its source layer, and carrying its display settings.

napari puts the centre of data pixel ``i`` at ``translate + i * scale`` (before rotation, shear
and affine). A result pixel ``j`` at scale ``s`` covers source pixel ``floor(j / s)``; its
centre sits at source coordinate ``(j + 0.5) / s - 0.5``. So along Y and X the result gets
``scale / s`` and ``translate + L @ (scale * (0.5 / s - 0.5))``, where ``L`` is the source's
rotation-shear matrix (identity for most layers); leading axes (Z, T) keep theirs. The affine
is copied unchanged, since it acts after scale and translate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...core.errors import InputError
from .._layers import level0

if TYPE_CHECKING:  # pragma: no cover
    import napari.layers

#: Display properties copied from the source layer to its result.
CARRIED = (
    "colormap",
    "blending",
    "gamma",
    "opacity",
    "interpolation2d",
    "rotate",
    "shear",
    "units",
    "axis_labels",  # napari >= 0.6: physical units and axis names follow the source
)


def sr_scale_translate(
    scale, translate, s: int, *, n_spatial: int = 2, linear: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Scale and translate of a result layer ``s`` times finer along the last ``n_spatial`` axes.

    Parameters
    ----------
    scale, translate : sequence of float
        The source layer's scale and translate (one value per layer dimension).
    s : int
        Upscaling factor.
    n_spatial : int
        Number of trailing axes that are upscaled (Y and X).
    linear : ndarray, optional
        The source's rotation-shear matrix (``ndim x ndim``); identity if omitted.
    """
    scale = np.asarray(scale, dtype=np.float64)
    translate = np.asarray(translate, dtype=np.float64)
    if s < 1:
        raise InputError(f"scale factor must be >= 1, got {s}")
    offset = np.zeros_like(scale)
    new_scale = scale.copy()
    new_scale[-n_spatial:] = scale[-n_spatial:] / s
    offset[-n_spatial:] = scale[-n_spatial:] * (0.5 / s - 0.5)
    if linear is not None:
        offset = np.asarray(linear, dtype=np.float64) @ offset
    return new_scale, translate + offset


def map_contrast_limits(limits, src_dtype, dst_dtype) -> list[float]:
    """Contrast limits for the result: same intensity units, clipped to an integer dtype's range.

    The network works in the source's intensity units (normalised and mapped back), so the
    limits carry over; only a narrower integer output dtype needs them clipped.
    """
    lo, hi = (float(v) for v in limits)
    dst = np.dtype(dst_dtype)
    if dst.kind in "ui":
        info = np.iinfo(dst)
        lo, hi = max(lo, float(info.min)), min(hi, float(info.max))
    if hi <= lo:
        hi = lo + 1.0
    return [lo, hi]


def result_name(source: str, s: int, model: str | None = None) -> str:
    """``"<source> x<s> SR (<model>)"``: two results of one image tell their models apart."""
    return f"{source} x{s} SR" + (f" ({model})" if model else "")


def model_name(ref: str | None) -> str | None:
    """A model reference as a result's name shows it: a bundled name as it is, a file by its
    run folder (``runs/cells/model.json`` -> ``cells``) or its stem."""
    if not ref:
        return None
    from pathlib import Path

    path = Path(str(ref))
    if path.suffix.lower() not in (".json", ".safetensors", ".zip"):
        return str(ref)
    stem = path.name[: -len(path.suffix)]
    return path.parent.name if stem in ("model", "model_best", "model_last") else stem


def sr_layer_kwargs(
    layer: napari.layers.Image,
    s: int,
    out_dtype,
    *,
    meta: dict[str, Any] | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    """``add_image`` keyword arguments that overlay the result exactly on ``layer``; the
    result is named after ``model`` (a reference, see :func:`model_name`) when given."""
    from napari.utils.transforms import Affine

    linear = Affine(rotate=layer.rotate, shear=layer.shear, ndim=layer.ndim).linear_matrix
    scale, translate = sr_scale_translate(layer.scale, layer.translate, s, linear=linear)
    kwargs: dict[str, Any] = {
        "name": result_name(layer.name, s, model_name(model)),
        "scale": scale,
        "translate": translate,
        "affine": layer.affine.affine_matrix,
        "rgb": layer.rgb,
        "metadata": {"napari_sisr": {"source": layer.name, "scale_factor": s, **(meta or {})}},
    }
    for attr in CARRIED:
        if hasattr(layer, attr):
            kwargs[attr] = getattr(layer, attr)
    if layer.rgb:
        kwargs.pop("colormap", None)
    kwargs["contrast_limits"] = map_contrast_limits(
        layer.contrast_limits, _layer_dtype(layer), out_dtype
    )
    return kwargs


def kept_planes_kwargs(kwargs: dict[str, Any], partial) -> dict[str, Any]:
    """:func:`sr_layer_kwargs` for the planes a cancelled job finished (a
    :class:`~napari_sisr.core.progress.Partial`): named as a part, marked so in its metadata
    (the first planes from 0: the layer's geometry is unchanged)."""
    meta = dict(kwargs.get("metadata") or {})
    ours = dict(meta.get("napari_sisr") or {})
    ours["partial"] = {"planes": partial.planes, "of": partial.of, "axis": partial.axis}
    meta["napari_sisr"] = ours
    name = f"{kwargs['name']} [first {partial.planes} of {partial.of} planes]"
    return {**kwargs, "name": name, "metadata": meta}


def _layer_dtype(layer) -> np.dtype:
    return np.dtype(level0(layer).dtype)


def open_result(path):
    """The OME-Zarr result as a list of lazy pyramid levels (or one lazy array)."""
    from ...core.io.images import open_lazy

    levels = [open_lazy(path, 0)]
    while True:
        try:
            levels.append(open_lazy(path, len(levels)))
        except ValueError:
            break
    return levels if len(levels) > 1 else levels[0]
