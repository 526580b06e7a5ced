"""``python -m napari_sisr.demo [--out DIR] [--gui]``: the main job, end to end, in minutes.

1. A real widefield image (BPAE actin, CC-BY-4.0) is the HR image; an LR capture is simulated
   from it with KNOWN parameters, and the fit has to recover them (true vs fitted table).
2. A real pair, a TIRF image and a STORM rendering of the same cell (CC-BY-4.0), is fitted the
   way a user would: the pixel ratio (about 7.3) is estimated, the STORM image is resampled to
   exactly 8 times the TIRF grid, and the model is fitted there.
3. A held-out real image (the models never saw it) is degraded inside the bundled models'
   range and super-resolved with ``default-4x`` in tiles, streamed to OME-Zarr; PSNR and SSIM of
   the result and of bicubic upsampling against the real HR image are printed.
4. Figures of both fits (real / simulated LR / residual) and of the super-resolution
   (LR / bicubic / SR / HR, with the scores on it) and the parameter files are saved.

``--gui`` opens napari with the HR and simulated LR images and the three widgets docked.
The images are the package's own real samples (:mod:`napari_sisr.sample_data`), read from the
shared data folder instead when it is there (``$NAPARI_SISR_DATA``, or ``../shared/data``
beside the repository): the demo runs the same from an installed wheel. The figures are drawn
with matplotlib when it is installed, else as plain image montages.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from .core.io.figures import pyplot

#: The known parameters of the simulated capture (step 1).
TRUE = {"scale": 4, "sigma": 2.0, "shift_yx": (1.3, -0.8), "gain": 0.05, "offset": 100.0}
NOISE_FRACTION = 0.02  # noise std as a fraction of the LR range


def find_data_dir() -> Path | None:
    """The shared folder of real images, or ``None`` when it is not on this machine."""
    env = os.environ.get("NAPARI_SISR_DATA")
    repo = Path(__file__).resolve().parents[2]
    for cand in [Path(env)] if env else [repo.parent / "shared" / "data", Path("../shared/data")]:
        if cand.is_dir():
            return cand
    return None


def _say(msg: str) -> None:
    print(msg, flush=True)


def _progress(update) -> None:
    _say(f"    [{update.done}/{update.total}] {update.message}")


def residual_autocorr(residual: np.ndarray, max_lag: int = 6) -> np.ndarray:
    """Normalised autocorrelation of a residual for lags up to ``max_lag`` (1 at lag 0)."""
    r = residual - residual.mean()
    f = np.fft.rfft2(r, (r.shape[0] * 2, r.shape[1] * 2))
    ac = np.fft.irfft2(np.abs(f) ** 2, (r.shape[0] * 2, r.shape[1] * 2))
    ac = np.fft.fftshift(ac / ac[0, 0])
    cy, cx = r.shape[0], r.shape[1]
    return ac[cy - max_lag : cy + max_lag + 1, cx - max_lag : cx + max_lag + 1]


def fit_panels(
    axes, lr: np.ndarray, sim: np.ndarray, params, title: str, lr_label: str = "real LR"
) -> None:
    """Draw the LR capture, simulated LR, residual and its autocorrelation on four axes.

    ``lr_label`` names the first panel: ``"real LR"`` for a microscope's capture, something
    else (``"LR capture (simulated)"``) when the capture was itself simulated."""
    residual = lr - sim
    lo, hi = np.percentile(lr, [0.5, 99.5])
    axes[0].imshow(lr, cmap="gray", vmin=lo, vmax=hi)
    axes[0].set_title(f"{title}\n{lr_label}", fontsize=9)
    axes[1].imshow(sim, cmap="gray", vmin=lo, vmax=hi)
    p = params
    axes[1].set_title(
        f"simulated LR: s={p.scale}, sigma={p.sigma:.2f} HR px\nshift=({p.shift_yx[0]:.2f}, "
        f"{p.shift_yx[1]:.2f}), gain={p.gain:.3g}, offset={p.offset:.3g}",
        fontsize=8,
    )
    lim = 4 * float(np.std(residual))
    axes[2].imshow(residual, cmap="RdBu_r", vmin=-lim, vmax=lim)
    axes[2].set_title(
        f"residual (LR - simulated)\nstd={p.residual_std:.3g}, noise_var={p.noise_var:.3g}",
        fontsize=8,
    )
    ac = residual_autocorr(residual)
    m = ac.shape[0] // 2
    axes[3].imshow(
        ac, cmap="RdBu_r", vmin=-1, vmax=1, extent=(-m - 0.5, m + 0.5, m + 0.5, -m - 0.5)
    )
    axes[3].set_title(
        f"residual autocorrelation\nlag-1 = {p.residual_lag1:.2f} (white noise: 0)", fontsize=8
    )
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])


def _load_hr(data: Path | None) -> tuple[np.ndarray, str]:
    """The BPAE actin image: the shared folder's full field, else the package's sample."""
    name = "BPAE actin (widefield, CC-BY-4.0)"
    if data is not None and (data / "fluorescence_2d" / "BPAE_actin.tif").exists():
        from .core.io.images import read_image

        return read_image(data / "fluorescence_2d" / "BPAE_actin.tif").astype(np.float64), name
    from .sample_data import bpae_actin_hr

    return bpae_actin_hr().astype(np.float64), name


def simulated_capture(hr: np.ndarray):
    """Step 1: simulate an LR capture with known parameters and fit it."""
    from .core.degradation.fit import fit_degradation
    from .core.degradation.params import DegradationParams
    from .core.degradation.simulate import simulate_lr

    true = DegradationParams(**TRUE)
    clean = simulate_lr(hr, true, noise=False)
    true.noise_var = float((NOISE_FRACTION * np.ptp(clean)) ** 2)
    lr = simulate_lr(hr, true, rng=np.random.default_rng(0))
    _say(f"  simulated LR {lr.shape[0]}x{lr.shape[1]} from HR {hr.shape[0]}x{hr.shape[1]}")
    t0 = time.perf_counter()
    fit = fit_degradation(hr, lr, true.scale, progress=_progress)
    _say(f"  fitted in {time.perf_counter() - t0:.1f} s\n")
    _say(f"  {'parameter':<10} {'true':>12} {'fitted':>12} {'error':>10}")
    for name in ("sigma", "noise_var", "gain", "offset"):
        t, f = getattr(true, name), getattr(fit, name)
        _say(f"  {name:<10} {t:12.5g} {f:12.5g} {100 * (f / t - 1):+9.2f}%")
    for k, axis in enumerate("yx"):
        t, f = true.shift_yx[k], fit.shift_yx[k]
        _say(f"  {'shift_' + axis:<10} {t:12.4f} {f:12.4f} {f - t:+9.3f} px")
    return true, fit, lr


def real_pair():
    """Step 2: fit the TIRF (LR) / STORM (HR) pair after resampling to an integer scale (the
    package carries the pair, CC-BY-4.0)."""
    from .core.degradation.noiselevel import estimate_noise
    from .core.degradation.pairs import fit_pair
    from .sample_data import tirf_storm_pair

    lr, hr = (np.asarray(a, dtype=np.float64) for a in tirf_storm_pair())
    _say(f"  TIRF (LR) {lr.shape[0]}x{lr.shape[1]}, STORM (HR) {hr.shape[0]}x{hr.shape[1]}")
    t0 = time.perf_counter()
    pair = fit_pair(hr, lr, 8, ratio="auto", progress=_progress)
    fit, hr8, found = pair.params, pair.hr, pair.params.notes["hr_resampled"]
    _say(
        f"  estimated {found['ratio']:.3f} STORM pixels per TIRF pixel (correlation "
        f"{found['correlation']:.2f}); STORM resampled by {found['zoom']:.4f} to "
        f"{hr8.shape[0]}x{hr8.shape[1]} (scale 8)"
    )
    _say(f"  fitted in {time.perf_counter() - t0:.1f} s")
    unpaired, _ = estimate_noise(lr)
    _say(
        f"  sigma = {fit.sigma:.2f} HR px = {fit.sigma / 8:.2f} TIRF px, shift = "
        f"({fit.shift_yx[0]:.2f}, {fit.shift_yx[1]:.2f}) HR px, gain = {fit.gain:.3f}, "
        f"offset = {fit.offset:.2f}\n  residual std = {fit.residual_std:.2f} (noise of the TIRF "
        f"image alone: {math.sqrt(unpaired):.2f}), residual lag-1 = {fit.residual_lag1:.2f}"
    )
    return hr8, lr, fit


def _montage(path: Path, rows: list[list[np.ndarray]]) -> Path:
    """Panels side by side (rows of equal-height images), each scaled to 8 bit by its own
    0.5 / 99.5 percentiles, as a PNG without labels."""
    import imageio.v3 as iio

    def scaled(img, h, w):
        img = np.asarray(img, dtype=np.float64)
        ky, kx = max(1, h // img.shape[0]), max(1, w // img.shape[1])
        img = np.kron(img, np.ones((ky, kx)))[:h, :w]
        pad = [(0, h - img.shape[0]), (0, w - img.shape[1])]
        lo, hi = np.percentile(img, [0.5, 99.5])
        out = np.clip((img - lo) / max(hi - lo, 1e-12), 0, 1)
        return np.pad(out, pad)

    h = max(p.shape[0] for row in rows for p in row)
    w = max(p.shape[1] for row in rows for p in row)
    gap = np.ones((h, 4))
    lines = [np.hstack([x for p in row for x in (scaled(p, h, w), gap)]) for row in rows]
    width = max(line.shape[1] for line in lines)
    lines = [np.pad(ln, [(0, 4), (0, width - ln.shape[1])], constant_values=1) for ln in lines]
    iio.imwrite(path, (np.vstack(lines) * 255).astype(np.uint8))
    return path


def _figure(out: Path, rows) -> Path:
    from .core.degradation.simulate import simulate_lr

    plt = pyplot()
    path = out / "demo_fit.png"
    if plt is None:  # LR capture | simulated LR | residual, one row per fit
        panels = []
        for hr, lr, params, _title, _label in rows:
            sim = simulate_lr(hr, params, noise=False).astype(np.float64)
            ny, nx = min(sim.shape[0], lr.shape[0]), min(sim.shape[1], lr.shape[1])
            lr_c, sim_c = lr[:ny, :nx], sim[:ny, :nx]
            panels.append([lr_c, sim_c, lr_c - sim_c])
        return _montage(path, panels)
    fig, axes = plt.subplots(len(rows), 4, figsize=(13, 3.6 * len(rows)), squeeze=False)
    for ax_row, (hr, lr, params, title, lr_label) in zip(axes, rows, strict=True):
        sim = simulate_lr(hr, params, noise=False).astype(np.float64)
        ny, nx = min(sim.shape[0], lr.shape[0]), min(sim.shape[1], lr.shape[1])
        fit_panels(ax_row, lr[:ny, :nx], sim[:ny, :nx], params, title, lr_label)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def super_resolve(hr: np.ndarray, name: str, out: Path, model: str = "default-4x"):
    """Step 3: super-resolve a simulated capture of a real image with a bundled model, in tiles.

    The HR image was never used to train the bundled models. Writes the result as OME-Zarr and
    a side-by-side PNG (LR / bicubic / SR / HR, with PSNR and SSIM against HR).
    """
    import torch

    from .core.degradation.params import DegradationParams
    from .core.degradation.simulate import simulate_lr
    from .core.inference.predict import predict
    from .core.metrics import psnr, ssim
    from .core.modelio import load_model

    net = load_model(model)
    s = int(net.scale)
    hr = hr[: hr.shape[0] // s * s, : hr.shape[1] // s * s]
    rng_hr = float(np.percentile(hr, 99.9) - np.percentile(hr, 0.1))
    params = DegradationParams(scale=s, sigma=2.0, noise_var=(0.02 * rng_hr) ** 2)
    lr = simulate_lr(hr, params, rng=np.random.default_rng(1))
    _say(
        f"  LR {lr.shape[0]}x{lr.shape[1]} simulated from {name} (sigma 2.0 HR px, noise 2 % "
        f"of the range: inside the model's training range); model {model}"
    )
    t0 = time.perf_counter()
    zarr_path = out / "demo_sr.ome.zarr"
    sr = predict(
        lr, net, out=zarr_path, overwrite=True, tile=96, dtype="float32", progress=_progress
    )
    sr = np.asarray(sr, dtype=np.float64)
    _say(
        f"  super-resolved in tiles of 96 LR px in {time.perf_counter() - t0:.1f} s -> {zarr_path}"
    )
    t = torch.as_tensor(lr, dtype=torch.float32)[None, None]
    bic = torch.nn.functional.interpolate(t, scale_factor=s, mode="bicubic", align_corners=False)
    bic = bic[0, 0].numpy().astype(np.float64)
    dr = float(hr.max() - hr.min())
    scores = {
        "bicubic": (psnr(bic, hr, dr), ssim(bic, hr, dr)),
        "SR": (psnr(sr, hr, dr), ssim(sr, hr, dr)),
    }
    for k, (p, q) in scores.items():
        _say(f"  {k:<8} PSNR {p:6.2f} dB   SSIM {q:.4f}   (against the real HR image)")
    return lr, bic, sr, hr, scores


def _sr_figure(out: Path, lr, bic, sr, hr, scores, crop: int = 256) -> Path:
    s = hr.shape[0] // lr.shape[0]
    y0, x0 = (hr.shape[0] - crop) // 2 // s * s, (hr.shape[1] - crop) // 2 // s * s
    win = (slice(y0, y0 + crop), slice(x0, x0 + crop))
    lo, hi = np.percentile(hr, [0.5, 99.8])
    panels = [
        (np.kron(lr, np.ones((s, s)))[win], f"LR (x{s} nearest)"),
        (bic[win], "bicubic\nPSNR {:.2f} dB, SSIM {:.3f}".format(*scores["bicubic"])),
        (sr[win], "napari-sisr\nPSNR {:.2f} dB, SSIM {:.3f}".format(*scores["SR"])),
        (hr[win], "HR (real image)"),
    ]
    path = out / "demo_sr.png"
    plt = pyplot()
    if plt is None:  # LR | bicubic | SR | HR, the scores are printed above
        return _montage(path, [[p for p, _ in panels]])
    fig, axes = plt.subplots(1, 4, figsize=(14, 4.6))
    for ax, (img, title) in zip(axes, panels, strict=True):
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def open_viewer(hr: np.ndarray, lr: np.ndarray, scale: int):
    """A napari viewer with the HR and LR images and the three widgets docked as tabs.

    Raises ``RuntimeError`` naming the problem when the widget is not available.
    """
    import napari

    viewer = napari.Viewer(title="napari-sisr demo: fit degradation")
    viewer.add_image(hr, name="HR (real image)")
    offset = (scale - 1) / 2  # LR pixel centres on the HR grid
    viewer.add_image(
        lr, name="LR (simulated capture)", scale=(scale, scale), translate=(offset,) * 2
    )
    docks = []
    for i, widget in enumerate(("Fit degradation", "Super-resolve", "Train")):
        try:  # as tabs of one dock: three stacked widgets do not fit a laptop screen
            dock, _ = viewer.window.add_plugin_dock_widget("napari-sisr", widget, tabify=i > 0)
        except Exception as err:  # the widget missing from the installed plugin
            viewer.close()
            raise RuntimeError(f"the {widget!r} widget is unavailable: {err}") from err
        docks.append(dock)
    from qtpy.QtCore import QTimer

    docks[0].raise_()  # the demo's first step, as its title says
    QTimer.singleShot(0, docks[0].raise_)  # and again once the window is shown
    return viewer


def _gui(hr: np.ndarray, lr: np.ndarray, scale: int) -> int:
    try:
        import napari
    except ImportError:
        print("napari-sisr demo: error: --gui needs napari (pip install 'napari[all]')")
        return 2
    try:
        open_viewer(hr, lr, scale)
    except RuntimeError as err:
        print(f"napari-sisr demo: error: {err}")
        return 2
    _say("  napari is open: the Fit degradation, Super-resolve and Train widgets, as tabs")
    napari.run()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m napari_sisr.demo", description=__doc__)
    ap.add_argument("--out", default="demo_output", help="output folder (default demo_output)")
    ap.add_argument("--gui", action="store_true", help="open napari with the Fit widget")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data = find_data_dir()
    if data is None:
        _say("shared data folder not found: using the package's own samples (a 512 x 512 crop)")
    hr, name = _load_hr(data)
    _say(f"1/4 simulated capture: HR = {name}")
    _say(f"    (a SIMULATION with known parameters: {TRUE}, noise std {NOISE_FRACTION:.0%})")
    true, fit, lr = simulated_capture(hr)
    fit.save(out / "fit_simulated.json")
    rows = [(hr, lr, fit, f"simulated capture of {name.split(' (')[0]}", "LR capture (simulated)")]
    if args.gui:
        return _gui(hr, lr, true.scale)
    _say("\n2/4 real pair: TIRF (LR) vs STORM (HR) of one cell, CC-BY-4.0")
    hr8, tirf, pair_fit = real_pair()
    pair_fit.save(out / "fit_tirf_storm.json")
    rows.append(
        (hr8, tirf, pair_fit, "real pair: TIRF vs STORM (resampled to x8)", "real LR (TIRF)")
    )
    _say("\n3/4 super-resolution with the bundled default model")
    lr_sr, bic, sr, hr_sr, scores = super_resolve(hr, name.split(" (")[0], out)
    _say("\n4/4 figures")
    path = _figure(out, rows)
    sr_path = _sr_figure(out, lr_sr, bic, sr, hr_sr, scores)
    if pyplot() is None:
        _say("  (matplotlib is not installed: the figures are plain montages without labels)")
    _say(f"  saved {path}, {sr_path} and the parameter files in {out}/")
    _say(f"done in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
