"""The evidence of a whole prediction: every plane of a result against its capture.

:func:`evidence_of_result` takes what :func:`~napari_sisr.core.inference.predict.predict` was
given and what it returned (numpy, dask or an OME-Zarr read back lazily), computes the
consistency map of every plane and channel (tiled, so results of any size) and, on the
middle plane, the model-based measures (:func:`~.run.evidence`); the z-score maps go to a
TIFF or into an OME-Zarr store beside the result.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import InputError


def _pixel_nm(inp) -> float | None:
    from ..io.units import to_micrometres

    size, unit = inp.pixel_size.get("x"), inp.units.get("x")
    um = to_micrometres(size, unit) if size is not None and unit else None
    return um * 1000.0 if um else None


def evidence_of_result(image, result, model, scale: int, config=None, *, z_out=None) -> dict:
    """Summaries of the evidence of ``result`` (the SR of ``image`` by ``model``).

    Parameters
    ----------
    image : what predict took (path, array, layer)
    result : array-like
        predict's result, in the layout of ``image``.
    model : model name, path or nn.Module
    scale : int
    config : PredictConfig, optional
        The settings predict ran with (its degradation steers the evidence too).
    z_out : array-like, optional
        Where the z-score maps go, shape of the capture in the internal layout
        ``(lead..., Y, X, C)`` (a zarr array, or numpy); kept in memory when omitted.

    Returns
    -------
    dict
        ``planes`` (how many were measured), ``flagged_fraction``, ``rse``, ``rsp`` (means over
        the planes), ``worst_plane``, and the full evidence of the middle plane
        (``middle``: :meth:`~.run.Evidence.summary`); ``z`` holds the maps when ``z_out``
        was not given.
    """
    from ..inference.input import canonical_input
    from .consistency import consistency
    from .run import evidence

    inp = canonical_input(image, **_layout_options(config))
    lr = inp.data  # (lead..., Y, X, C)
    sr = inp.layout.to_internal(result)
    if tuple(sr.shape[-3:-1]) != (lr.shape[-3] * scale, lr.shape[-2] * scale):
        raise InputError(f"the result {tuple(sr.shape)} is not x{scale} of {tuple(lr.shape)}")
    degradation = config.degradation if config is not None else None
    lead = list(np.ndindex(*lr.shape[:-3])) or [()]
    middle = lead[len(lead) // 2]
    px = _pixel_nm(inp)
    z_all = z_out if z_out is not None else np.full(lr.shape, np.nan, np.float32)
    per_plane, middle_summary = [], None
    for idx in lead:
        for c in range(lr.shape[-1]):
            lr_plane, sr_plane = lr[idx + (Ellipsis, c)], sr[idx + (Ellipsis, c)]
            if idx == middle and c == 0:
                ev = evidence(
                    sr_plane,
                    lr_plane,
                    scale,
                    model=model,
                    degradation=degradation,
                    config=config,
                    pixel_size_nm=px,
                )
                cons, middle_summary = ev.consistency, ev.summary()
            else:
                sigma = middle_summary["sigma_hr_px"] if middle_summary else None
                cons = consistency(sr_plane, lr_plane, scale, sigma=sigma)
            z_all[idx + (Ellipsis, c)] = cons.z.astype(np.float32)
            per_plane.append((idx, c, cons))
    flagged = [p[2].flagged_fraction for p in per_plane]
    worst = per_plane[int(np.argmax(flagged))]
    out = {
        "planes": len(per_plane),
        "flagged_fraction": float(np.mean(flagged)),
        "rse": float(np.mean([p[2].rse for p in per_plane])),
        "rsp": float(np.mean([p[2].rsp for p in per_plane])),
        "worst_plane": {
            "index": list(worst[0]),
            "channel": worst[1],
            "flagged_fraction": worst[2].flagged_fraction,
        },
        "middle": middle_summary,
    }
    if z_out is None:
        out["z"] = z_all
    return out


def _layout_options(config) -> dict:
    if config is None:
        return {}
    keys = ("rgb", "channel_axis", "axes", "level", "pixel_size")
    return {k: getattr(config, k) for k in keys if getattr(config, k, None) is not None}


def write_evidence(out: str | Path, z: np.ndarray, inp_layout=None) -> Path:
    """The z-score maps beside a TIFF result (``<out>.evidence.tif``, float32)."""
    from ..io.images import write_image

    out = Path(out)
    stem = out.name[: -len("".join(out.suffixes))] if out.suffixes else out.name
    path = out.with_name(f"{stem}.evidence.tif")
    z = np.asarray(z, np.float32)
    if inp_layout is not None:
        z = inp_layout.to_user(z)
    write_image(path, z)
    return path


def zarr_evidence_array(store: str | Path, shape, chunks=None):
    """An ``evidence/z`` float32 array inside an OME-Zarr result, for the z-score maps (LR
    grid, internal layout ``(lead..., Y, X, C)``), replacing an earlier one."""
    import zarr

    group = zarr.open_group(str(store), mode="a")
    if "evidence" in group:
        del group["evidence"]
    ev = group.create_group("evidence")
    ev.attrs["napari_sisr"] = {
        "what": "z-scores of the result against the capture (LR grid; |z| > 3: unsupported)",
        "layout": "(lead..., Y, X, C)",
    }
    chunks = chunks or tuple([1] * (len(shape) - 3)) + (
        min(512, shape[-3]),
        min(512, shape[-2]),
        1,
    )
    return ev.create_array(
        "z", shape=tuple(shape), chunks=chunks, dtype="float32", fill_value=math.nan
    )
