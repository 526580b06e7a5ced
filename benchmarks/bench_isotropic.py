"""Isotropic stacks from the stack itself, measured on the real stacks of ../shared/data.

Sections:

* ``restore`` (the CARE evaluation): each real stack whose z step is finer than its pixel,
  resampled along z to one plane per xy pixel (the isotropic reference), made anisotropic by
  a Gaussian blur along z (``--blur`` planes) and keeping every ``--factor``-th plane, then
  restored by
  ``napari_sisr.isotropic`` (the axial blur fitted on the anisotropic stack itself, the network
  trained on its own xy planes) and compared with the original stack: PSNR / SSIM against
  linear and cubic interpolation along z and against the bundled 2D model of the factor
  applied to the xz and yz slices (then binned back along x / y, the two averaged); and the
  decorrelation along z of the xz slices of each, beside the lateral figure.
* ``acquired``: each stack as acquired, where its z step is at least twice its pixel size:
  the decorrelation resolution along z of its xz slices (sampled like xy: linear
  interpolation before, the restoration after; the frequencies within 30 degrees of the z
  axis) against the resolution along x of the same slices; for a bead stack, also the
  beads' fitted widths (z, y, x) before and after.
* ``scale``: a stack of ``--scale-shape`` voxels restored to OME-Zarr in blocks: wall time
  and peak RSS (bounded memory).

    python benchmarks/bench_isotropic.py [--sections restore,acquired,scale]
        [--results benchmarks/results/isotropic.jsonl] [--iters 1500]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_dir  # noqa: E402

STACKS = {
    "arabidopsis embryo (confocal)": ("stack_3d/arabidopsis_embryo_zyx.tif", 0.35, 0.79),
    "beads": ("stack_3d/beads_zyx.tif", 0.125, 0.0225),
}


def _load(rel):
    import tifffile

    return tifffile.imread(data_dir() / rel).astype(np.float64)


def _interp_z(an, f, order):
    """Interpolation along z to ``f`` times the planes (plane i at fine i * f + f // 2)."""
    from scipy.ndimage import map_coordinates

    z, y, x = an.shape
    zz = (np.arange(z * f) - f // 2) / f
    coords = np.meshgrid(np.clip(zz, 0, z - 1), np.arange(y), np.arange(x), indexing="ij")
    return map_coordinates(an, coords, order=order, mode="nearest")


def _sr2d(an, f):
    """The bundled 2D model on every xz and yz slice, binned back along the lateral axis."""
    from napari_sisr import predict

    model = f"default-{f}x"

    def run(slices):
        outs = []
        for s in slices:
            sr = np.asarray(predict(s.astype(np.float32), model, dtype="float32"), np.float64)
            outs.append(sr.reshape(sr.shape[0], s.shape[1], f).mean(axis=2))
        return np.stack(outs)

    xz = run([an[:, i, :] for i in range(an.shape[1])]).transpose(1, 0, 2)
    yz = run([an[:, :, i] for i in range(an.shape[2])]).transpose(1, 2, 0)
    # the 2D model's output pixel k covers input [k/f, (k+1)/f): plane i sits at fine i*f+(f-1)/2
    return 0.5 * (xz + yz)


def _scores(out, ref):
    from napari_sisr.core.metrics import psnr, ssim

    rng = float(ref.max() - ref.min())
    n = min(out.shape[0], ref.shape[0])
    o, r = out[:n], ref[:n]
    s = float(np.mean([ssim(o[k], r[k], rng) for k in range(0, n, max(1, n // 24))]))
    return [float(psnr(o, r, rng)), s]


def _to_xy_sampling(stack, ratio):
    """A stack whose z step is ``ratio`` xy pixels (below 1), resampled along z (cubic, after a
    Gaussian anti-alias) to one plane per xy pixel: an isotropic reference."""
    from scipy.ndimage import gaussian_filter1d, map_coordinates

    step = 1.0 / ratio  # original planes per xy pixel
    smooth = gaussian_filter1d(stack, 0.5 * step, axis=0)
    zz = np.arange(0, stack.shape[0] - 1, step)
    z, y, x = np.meshgrid(zz, np.arange(stack.shape[1]), np.arange(stack.shape[2]), indexing="ij")
    return map_coordinates(smooth, [z, y, x], order=3, mode="nearest")


def restore(name, rel, z_um, px_um, f, blur, iters):
    from scipy.ndimage import gaussian_filter1d

    from napari_sisr import isotropic

    stack = _load(rel)
    if z_um > px_um:  # no isotropic reference: the restoration has nothing to be scored on
        out = {"stack": name, "skipped": f"the z step ({z_um} um) is coarser than the pixel "
               f"({px_um} um): no isotropic reference to make anisotropic"}  # fmt: skip
        print(name, "restore", out, flush=True)
        return out
    stack = _to_xy_sampling(stack, z_um / px_um)  # the reference: z sampled like xy
    n = stack.shape[0] // f * f
    stack = stack[:n]
    an = gaussian_filter1d(stack, blur, axis=0)[f // 2 :: f]
    t0 = time.perf_counter()
    res = isotropic(an, factor=f, train={"iters": iters})
    secs = time.perf_counter() - t0
    ref = stack  # fine plane j = original plane j (coarse i sits at i * f + f // 2)
    out = {"stack": name, "factor": f, "blur": blur, "fitted_sigma": res.fit.sigma,
           "seconds": secs, "shape": list(an.shape)}  # fmt: skip
    out["scores"] = {
        "linear": _scores(_interp_z(an, f, 1), ref),
        "cubic": _scores(_interp_z(an, f, 3), ref),
        "isotropic": _scores(np.asarray(res.stack, np.float64), ref),
    }
    nm = 1000 * px_um  # the reference is sampled like xy along z too
    iso = np.asarray(res.stack, np.float64)
    out["decorrelation_nm"] = {
        "lateral": _along(ref, 1, nm),
        "axial, reference": _along(ref, 0, nm),
        "axial, linear": _along(_interp_z(an, f, 1), 0, nm),
        "axial, isotropic": _along(iso, 0, nm),
    }
    try:
        out["scores"][f"2D default-{f}x on xz/yz"] = _scores(_sr2d(an, f), ref)
    except Exception as err:  # noqa: BLE001 - e.g. no bundled model of that factor
        out["sr2d_error"] = str(err)
    print(name, "restore", json.dumps(out), flush=True)
    return out


def _along(vol, axis, nm):
    """The median directional decorrelation of central xz slices (axis 0: z, 1: x)."""
    from napari_sisr.core.evidence import decorrelation

    ys = range(vol.shape[1] // 4, 3 * vol.shape[1] // 4, max(1, vol.shape[1] // 16))
    vals = [decorrelation(vol[:, y, :], nm, axis=axis).value for y in ys]
    vals = [v for v in vals if np.isfinite(v)]
    return float(np.median(vals)) if vals else float("nan")


def acquired(name, rel, z_um, px_um, iters):
    from napari_sisr import isotropic

    stack = _load(rel)
    if z_um / px_um < 2:
        out = {"stack": name, "skipped": f"z step {z_um} um is {z_um / px_um:.2f} xy pixels"}
        print(name, "acquired", out, flush=True)
        return out
    res = isotropic(stack, z_step_um=z_um, pixel_um=px_um, train={"iters": iters})
    iso = np.asarray(res.stack, np.float64)
    f = res.fit.factor
    lin = _interp_z(stack, f, 1)
    nm = px_um * 1000

    lateral = _along(iso, 1, nm)
    out = {"stack": name, "factor": f, "fitted_sigma_xy_px": res.fit.sigma,
           "lateral_nm": lateral, "axial_before_nm": _along(lin, 0, nm),
           "axial_after_nm": _along(iso, 0, nm),
           "seconds": res.seconds}  # fmt: skip
    out["after_over_lateral"] = out["axial_after_nm"] / lateral
    out["before_over_lateral"] = out["axial_before_nm"] / lateral
    if "bead" in name:  # sparse beads mislead decorrelation: their fitted widths are the measure
        from napari_sisr import fit_beads

        before = fit_beads(stack, (z_um, px_um, px_um)).sigma_nm()
        after = fit_beads(iso, (z_um / f, px_um, px_um)).sigma_nm()
        out["bead_sigma_before_nm"], out["bead_sigma_after_nm"] = list(before), list(after)
    print(name, "acquired", json.dumps(out), flush=True)
    return out


def scale(shape, iters):
    import resource

    from napari_sisr import isotropic

    rng = np.random.default_rng(0)
    small = _load(STACKS["arabidopsis embryo (confocal)"][0]).astype(np.float32)
    reps = [int(np.ceil(s / t)) for s, t in zip(shape[1:], small.shape[1:], strict=True)]
    stack = np.empty(shape, np.float32)  # built a plane at a time: the input is all it holds
    for k in range(shape[0]):
        plane = np.tile(small[k % small.shape[0]], reps)[: shape[1], : shape[2]]
        stack[k] = plane + rng.standard_normal(plane.shape, dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = isotropic(stack, factor=4, train={"iters": iters}, out=Path(tmp) / "iso.ome.zarr")
        secs = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"shape": list(shape), "voxels_in": int(np.prod(shape)), "seconds": secs,
           "train_iters": iters, "peak_rss_mb": peak, "input_mb": stack.nbytes / 2**20,
           "output_mb": 4 * stack.nbytes / 2**20, "output": str(res.stack.name)}  # fmt: skip
    print("scale", json.dumps(out), flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sections", default="restore,acquired")
    ap.add_argument("--factor", type=int, default=4)
    ap.add_argument("--blur", type=float, default=2.0, help="axial blur (planes) before cutting")
    ap.add_argument("--iters", type=int, default=1500)
    ap.add_argument("--scale-shape", default="64,1024,1024")
    ap.add_argument("--results", help="append the records to this JSON-lines file")
    args = ap.parse_args(argv)
    sections = args.sections.split(",")

    def record(rec):  # one line per measurement as it completes: a crash keeps the others
        if args.results:
            with open(args.results, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(rec, default=float) + "\n")

    for name, (rel, z_um, px_um) in STACKS.items():
        if "restore" in sections:
            record({"restore": restore(name, rel, z_um, px_um, args.factor, args.blur, args.iters)})
        if "acquired" in sections:
            record({"acquired": acquired(name, rel, z_um, px_um, args.iters)})
    if "scale" in sections:
        shape = tuple(int(v) for v in args.scale_shape.split(","))
        record({"scale": scale(shape, args.iters)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
