"""Fit the degradation model to the two real pairs and save figures for the docs.

* ``pairs/tirf_storm``: a TIRF image (LR, 477 x 418) and a STORM rendering (HR, 3485 x 3060)
  of one cell, about 7.3 STORM pixels per TIRF pixel and not registered. The ratio is estimated
  by registration (:func:`napari_sisr.estimate_ratio`), the STORM image is resampled to exactly
  8 times the TIRF grid (:func:`napari_sisr.resample_hr`), and the model is fitted at scale 8.
* ``pairs/widefield_srrf``: a widefield frame and its SRRF reconstruction on the same 256 x 256
  grid. Binning the widefield frame 2 x 2 makes it an LR capture of the SRRF grid at scale 2:
  ``bin2(widefield) = bin2(K * SRRF)`` is exactly the model with ``s = 2``, so the fitted sigma
  is the blur that separates the widefield image from the SRRF one, in SRRF pixels. (GPL-3.0
  data: used here only; the figure is our output.)

Each pair is also fitted tile by tile (3 x 3 resp. 2 x 2 LR tiles) to show how much the
parameters vary across the field, and the LR noise is estimated from the LR image alone for
comparison with the fit residual.

    python benchmarks/fit_real_pairs.py [--out docs/images]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from napari_sisr import estimate_noise, estimate_ratio, fit_degradation, resample_hr, simulate_lr
from napari_sisr.core.io.images import read_image
from napari_sisr.demo import find_data_dir, fit_panels


def tiles(hr: np.ndarray, lr: np.ndarray, scale: int, n: int) -> list[dict]:
    """Fit each of ``n x n`` LR tiles against the whole HR image."""
    out = []
    ty, tx = lr.shape[0] // n, lr.shape[1] // n
    for i in range(n):
        for j in range(n):
            tile = lr[i * ty : (i + 1) * ty, j * tx : (j + 1) * tx]
            p = fit_degradation(hr, tile, scale)
            out.append(
                {
                    "tile": (i, j),
                    "sigma": p.sigma,
                    # shift of the tile relative to its nominal place on the full LR grid
                    "shift": (p.shift_yx[0] + scale * i * ty, p.shift_yx[1] + scale * j * tx),
                    "gain": p.gain,
                    "residual_std": p.residual_std,
                    "lag1": p.residual_lag1,
                }
            )
    return out


def report(name: str, hr, lr, scale: int, n_tiles: int, out: Path, title: str, extra=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = time.perf_counter()
    fit = fit_degradation(hr, lr, scale)
    seconds = time.perf_counter() - t0
    fit_aniso = fit_degradation(hr, lr, scale, anisotropic=True)
    fit_pg = fit_degradation(hr, lr, scale, poisson=True)
    sim = simulate_lr(hr, fit, noise=False).astype(np.float64)
    ny, nx = min(sim.shape[0], lr.shape[0]), min(sim.shape[1], lr.shape[1])
    lr_c, sim_c = lr[:ny, :nx], sim[:ny, :nx]
    region = fit.notes["fitted_region_lr_px"]
    inner = (slice(*region[0]), slice(*region[1]))
    explained = 1 - np.var(lr_c[inner] - sim_c[inner]) / np.var(lr_c[inner])
    noise_lr, _ = estimate_noise(lr)
    print(f"\n== {name}: HR {hr.shape[0]}x{hr.shape[1]}, LR {lr.shape[0]}x{lr.shape[1]}, s={scale}")
    for k, v in (extra or {}).items():
        print(f"  {k}: {v}")
    print(
        f"  sigma {fit.sigma:.3f} HR px ({fit.sigma / scale:.3f} LR px); anisotropic "
        f"sigma_y {fit_aniso.sigma_y:.3f}, sigma_x {fit_aniso.sigma_x:.3f}\n"
        f"  shift ({fit.shift_yx[0]:.2f}, {fit.shift_yx[1]:.2f}) HR px, gain {fit.gain:.4g}, "
        f"offset {fit.offset:.4g}\n"
        f"  residual std {fit.residual_std:.4g} (noise_var {fit.noise_var:.4g}); "
        f"Poisson-Gaussian a {fit_pg.poisson_a:.4g}, b {fit_pg.noise_var:.4g}\n"
        f"  variance explained {100 * explained:.1f} %, residual lag-1 autocorrelation "
        f"{fit.residual_lag1:.3f} (white: 0)\n"
        f"  noise std from the LR image alone {np.sqrt(noise_lr):.4g} "
        f"(residual / noise = {fit.residual_std / np.sqrt(noise_lr):.1f})\n"
        f"  fit time {seconds:.1f} s"
    )
    rows = tiles(hr, lr, scale, n_tiles)
    print(f"  per tile ({n_tiles}x{n_tiles}): tile, sigma, shift, gain, residual std, lag-1")
    for r in rows:
        print(
            f"    {r['tile']}  {r['sigma']:7.3f}  ({r['shift'][0]:6.2f}, {r['shift'][1]:6.2f})"
            f"  {r['gain']:.4g}  {r['residual_std']:.4g}  {r['lag1']:.2f}"
        )
    sig = np.array([r["sigma"] for r in rows])
    print(f"  tile sigma range {sig.min():.3f} .. {sig.max():.3f} HR px")
    fig, axes = plt.subplots(1, 4, figsize=(14, 4.2))
    fit_panels(axes, lr_c, sim_c, fit, title)
    fig.tight_layout()
    path = out / f"fit_{name}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    print(f"  figure: {path}")
    return fit


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="docs/images", help="folder for the figures")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = find_data_dir()
    if data is None:
        sys.exit("shared data folder not found: set NAPARI_SISR_DATA")

    folder = data / "pairs" / "tirf_storm"
    lr = read_image(folder / "cell2_tirf_lr.jpg").astype(np.float64)
    hr = read_image(folder / "cell2_storm_hr.jpg").astype(np.float64)
    t0 = time.perf_counter()
    ratio, corr = estimate_ratio(hr, lr)
    t_ratio = time.perf_counter() - t0
    hr8 = resample_hr(hr, ratio, 8)
    report(
        "tirf_storm",
        hr8,
        lr,
        8,
        3,
        out,
        "TIRF (LR) vs STORM (HR, resampled to x8)",
        {
            "pixel ratio (registration)": f"{ratio:.4f} (correlation {corr:.3f}, {t_ratio:.1f} s)",
            "ratio from the image sizes": f"{hr.shape[0] / lr.shape[0]:.4f} (y), "
            f"{hr.shape[1] / lr.shape[1]:.4f} (x)",
            "STORM resampled": f"by {8 / ratio:.4f} to {hr8.shape[0]}x{hr8.shape[1]}",
        },
    )

    folder = data / "pairs" / "widefield_srrf"
    wf = read_image(folder / "bpae_widefield.tif").astype(np.float64)
    srrf = read_image(folder / "bpae_srrf.tif").astype(np.float64)
    wf2 = wf.reshape(wf.shape[0] // 2, 2, wf.shape[1] // 2, 2).mean(axis=(1, 3))
    report(
        "widefield_srrf",
        srrf,
        wf2,
        2,
        2,
        out,
        "widefield (2x2 binned, LR) vs SRRF (HR)",
        {"LR": "widefield frame binned 2x2 (same grid as SRRF before binning)"},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
