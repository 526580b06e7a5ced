"""Apply the axial network to every xz and yz slice of a stack and average the two.

The stack is processed in blocks of ``block`` y rows (with a halo of the network's reach):
the xz slices of the block, and the yz slices of the block's rows, each cut into tiles of
``tile`` coarse rows (z) by ``tile`` columns with the same halo, so a block's memory is
bounded whatever the stack's size, and a tiled result equals the untiled one to round-off
(every tile sees all the input its kept pixels depend on). Each finished block is written to
the output: an array, or an OME-Zarr store (resumable, as for predict) whose z scale is the z
step divided by the factor. Progress counts blocks; a stop leaves no store marked complete.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..progress import Progress, StopLike, as_stop, check_stop

__all__ = ["apply_isotropic", "iter_apply_isotropic", "restore_slices"]


#: Output pixels one forward pass makes at most (slices x tile): the network's activations
#: are ``nf`` times that in float32, so a pass holds about 100 MB whatever the stack.
PASS_PIXELS = 1 << 19


def restore_slices(net, slices: np.ndarray, tile: int = 64) -> np.ndarray:
    """``(N, H, W)`` normalised axial slices -> ``(N, H * factor, W)``, tile by tile, a few
    slices at a time (``PASS_PIXELS``)."""
    import torch

    f, h_in = net.factor, net.halo
    dev = next(net.parameters()).device  # where the network was trained or loaded
    n, h, w = slices.shape
    out = np.empty((n, h * f, w), np.float32)
    for r0 in range(0, h, tile):
        r1 = min(r0 + tile, h)
        a0, a1 = max(r0 - h_in, 0), min(r1 + h_in, h)
        for c0 in range(0, w, tile * 4):
            c1 = min(c0 + tile * 4, w)
            b0, b1 = max(c0 - h_in, 0), min(c1 + h_in, w)
            step = max(1, PASS_PIXELS // ((a1 - a0) * f * (b1 - b0)))
            for s0 in range(0, n, step):
                x = np.ascontiguousarray(slices[s0 : s0 + step, None, a0:a1, b0:b1])
                with torch.no_grad():
                    y = net(torch.from_numpy(x).to(dev)).cpu().numpy()[:, 0]
                out[s0 : s0 + step, r0 * f : r1 * f, c0:c1] = y[
                    :, (r0 - a0) * f : (r1 - a0) * f, c0 - b0 : c1 - b0
                ]
    return out


def _block(net, norm: np.ndarray, y0: int, y1: int, tile: int) -> np.ndarray:
    """The isotropic rows ``y0:y1``: the mean of the xz and the yz restorations."""
    h = net.halo
    xz = restore_slices(net, np.ascontiguousarray(norm[:, y0:y1, :].transpose(1, 0, 2)), tile)
    a0, a1 = max(y0 - h, 0), min(y1 + h, norm.shape[1])
    yz = restore_slices(net, np.ascontiguousarray(norm[:, a0:a1, :].transpose(2, 0, 1)), tile)
    xz = xz.transpose(1, 0, 2)  # (Z', Yb, X)
    yz = yz.transpose(1, 2, 0)[:, y0 - a0 : y1 - a0, :]
    return 0.5 * (xz + yz)


def iter_apply_isotropic(
    stack,
    model,
    *,
    out=None,
    voxel_um: tuple[float, float, float] | None = None,
    block: int = 64,
    tile: int = 64,
    overwrite: bool = False,
    stop: StopLike = None,
) -> Generator[Progress, None, np.ndarray | Path]:
    """Make ``stack`` (Z, Y, X) isotropic with ``model`` (an :class:`~.net.AxialSR` with its
    normalisation, as :func:`~.net.load_axial` returns it, or a model JSON path).

    Returns the stack (float32, Z x factor planes) or, with ``out``, the OME-Zarr path.
    """
    from .net import load_axial

    stop_fn = as_stop(stop)
    net, meta = load_axial(model) if isinstance(model, str | Path) else model
    a = stack if hasattr(stack, "shape") else np.asarray(stack)
    if len(a.shape) != 3:
        raise InputError(f"a z-stack is (Z, Y, X), got shape {tuple(a.shape)}")
    lo, hi = float(meta["lo"]), float(meta["hi"])
    f = net.factor
    shape = (a.shape[0] * f, a.shape[1], a.shape[2])
    writer = result = None
    done: set[int] = set()
    starts = list(range(0, a.shape[1], block))
    if out is not None:
        writer, done = _writer(out, shape, voxel_um, f, block, meta, overwrite, len(starts))
    else:
        result = np.empty(shape, np.float32)
    h = net.halo
    for k, y0 in enumerate(starts):
        check_stop(stop_fn)
        yield Progress(k, len(starts), f"rows {y0} of {a.shape[1]}")
        if k in done:
            continue
        y1 = min(y0 + block, a.shape[1])
        a0, a1 = max(y0 - h, 0), min(y1 + h, a.shape[1])
        sub = (np.asarray(a[:, a0:a1, :], np.float32) - lo) / (hi - lo)
        rows = _block(net, sub, y0 - a0, y1 - a0, tile) * (hi - lo) + lo
        if writer is not None:
            region = (slice(0, shape[0]), slice(y0, y1), slice(0, shape[2]))
            writer.write(region, rows.astype(np.float32))
            done.add(k)
            writer.mark(done, len(starts))
        else:
            result[:, y0:y1] = rows
    yield Progress(len(starts), len(starts), "done")
    if writer is not None:
        writer.mark(done, len(starts), complete=True)
        return Path(out)
    return result


def _writer(out, shape, voxel_um, f, block, meta, overwrite, total):
    from ..io.omezarr import OmeZarrWriter

    z, y, x = voxel_um if voxel_um else (float(f), 1.0, 1.0)
    units = {a: "micrometer" for a in "zyx"} if voxel_um else {}
    dz = z / f
    # fine plane j sits at coarse z (j - f // 2) / f
    trans = [-(f // 2) * dz, 0.0, 0.0]
    w = OmeZarrWriter(
        out,
        shape,
        np.float32,
        "zyx",
        (shape[0], block, shape[2]),
        [dz, y, x],
        trans,
        units,
        name="isotropic",
    )
    job = {
        "isotropic": {
            "factor": f,
            "sigma": meta.get("sigma"),
            "shape": list(shape),
            "lo": meta["lo"],
            "hi": meta["hi"],
        }
    }
    done = w.open(job, total, overwrite=overwrite)
    return w, done


def apply_isotropic(stack, model, *, progress=None, **options):
    """:func:`iter_apply_isotropic` run to the end."""
    from ..progress import run_to_end

    return run_to_end(iter_apply_isotropic(stack, model, **options), progress)
