"""Evidence without ground truth, measured on the real pairs: is the consistency map calibrated,
sensitive, and does it catch real failures; do the resolution measures read what they should?

Sections (``--sections``, all by default):

* ``calibration``: each pair's real HR image passed as if it were the SR output, degraded by
  the pair's own fit (PSF, shift; the capture's noise): the fraction of LR pixels flagged,
  with the fit residual's whiteness (lag-1 autocorrelation) beside it. Noise alone flags
  0.27 %; the goal is at most 2 % wherever the residual is white.
* ``sensitivity``: structures added to a real SR output (the bundled aware model of the pair's
  scale told the pair's fit) or removed from it, at contrasts of 2, 3, 5 and 10 noise
  standard deviations at the LR scale (the structure's peak after the degradation): Gaussian
  spots, short lines, and an object of the output deleted. Detection: a flagged region
  overlapping the structure's LR footprint. False alarms: pixels flagged beyond the
  footprints and beyond what the unmodified output already had.
* ``failures``: the aware model told a PSF width half or twice the fit's, or the PSF of the
  other modality (widefield for a confocal capture and the reverse), against told the fit:
  the flagged fractions and their ratios.
* ``resolution``: decorrelation analysis of each HR image and its LR capture (nm), beside
  nanopyx's figures when ``--nanopyx FILE`` gives them (``benchmarks/nanopyx_decorr.py`` run
  in an environment with nanopyx installed writes that file); and how stable each figure
  is: its spread over central crops 2 to 26 px smaller, ours and nanopyx's.
* ``split``: the resolution two independent halves of the capture agree on (FRC of the
  results) for every method that needs no training (bicubic, bicubic + Richardson-Lucy,
  the bundled blind model, the aware model told the fit), next to the HR image's
  decorrelation resolution.
* ``cost`` (``--cost-side N``, default 4096): ``predict`` of an N x N capture alone, and with
  the evidence, for ``default-4x`` and ``aware-4x``.

    python benchmarks/bench_evidence.py [--pairs sted_561,sim_high] [--sections calibration]
        [--results benchmarks/results/evidence.jsonl] [--nanopyx nanopyx.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_real_pairs import SETS, load_pair  # noqa: E402
from nanopyx_decorr import crops  # noqa: E402  (the same crops as nanopyx's figures)

PAIRS = ("sted_561", "sted_640", "sim_high", "sim_low", "caco2_2x", "caco2_4x", "srrf", "storm")
#: Pixel size (nm) of each pair's LR capture, where the data says it.
LR_PIXEL_NM = {"sted_561": 60.0, "sted_640": 60.0, "sim_high": 60.0, "sim_low": 60.0}
#: The capture's modality, for the "other modality" failure.
MODALITY = {"sted_561": "confocal", "sted_640": "confocal", "sim_high": "widefield",
            "sim_low": "widefield", "caco2_2x": "confocal", "caco2_4x": "confocal",
            "srrf": "widefield", "storm": "widefield"}  # fmt: skip
CONTRASTS = (2, 3, 5, 10)
TRIALS = 24


def _fit(lr, hr, s):
    from napari_sisr import fit_degradation

    return fit_degradation(hr, lr, s, families=False)


def _aware(s: int) -> str:
    return f"aware-{s}x"


def _sr(lr, model, steer=None):
    from napari_sisr import predict

    return np.asarray(predict(lr.astype(np.float32), model, degradation=steer, dtype="float32"),
                      np.float64)  # fmt: skip


def calibration(name, lr, hr, s, fit):
    from napari_sisr.core.evidence.consistency import consistency

    c = consistency(hr, lr, s, sigma=fit.sigma_yx, shift_yx=fit.shift_yx)
    white = abs(fit.residual_lag1 or 0.0) <= 0.2
    return {"flagged": c.flagged_fraction, "fit_residual_lag1": fit.residual_lag1,
            "white": white, "noise": c.noise_source,
            "ok": (c.flagged_fraction <= 0.02) if white else None}  # fmt: skip


def _footprint(s, sigma, shape, center, kind, rng):
    """A unit structure on the HR grid (spot or line) and its LR footprint."""
    from napari_sisr.core.evidence.forward import degrade

    hy, hx = shape
    yy, xx = np.mgrid[:hy, :hx]
    cy, cx = center
    if kind == "spot":
        unit = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 1.0**2))
    else:
        angle = rng.uniform(0, np.pi)
        d = np.abs((yy - cy) * np.cos(angle) - (xx - cx) * np.sin(angle))
        along = np.abs((yy - cy) * np.sin(angle) + (xx - cx) * np.cos(angle))
        unit = np.exp(-(d**2) / (2 * 0.7**2)) * (along <= 5 * s)
    low = degrade(unit, s, sigma)
    return unit, low, low > 0.2 * low.max()


def _peak(k: float, noise, background: float) -> float:
    """The added LR peak (capture units) that stands ``k`` noise std above ``background``,
    the std taken at the new level: at a few photon counts the noise grows with the signal
    (zero counts have no noise of their own, and "k std" of nothing would add nothing)."""
    n0, n1 = float(noise[0]), float(noise[1] or 0.0)
    n0 += n1 * max(background, 0.0)
    return 0.5 * (k * k * n1 + math.sqrt((k * k * n1) ** 2 + 4 * k * k * n0))


def sensitivity(name, lr, hr, s, fit, rng):
    """Detection rates per contrast and kind, and the false-alarm fraction."""
    from scipy import ndimage

    from napari_sisr.core.evidence.consistency import consistency
    from napari_sisr.core.evidence.forward import degrade
    from napari_sisr.core.evidence.tiled import capture_noise

    sr = _sr(lr, _aware(s), fit)
    base = consistency(sr, lr, s, sigma=fit.sigma_yx)
    noise, _ = capture_noise(lr)
    base_flag = np.abs(np.nan_to_num(base.z)) > 3
    out = {"baseline_flagged": base.flagged_fraction}
    false = []
    margin = 8 * s
    expected = base.gain * degrade(sr, s, fit.sigma_yx) + base.offset  # capture units
    for kind in ("spot", "line", "deleted"):
        for k in CONTRASTS:
            hits = tried = 0
            for _ in range(TRIALS):
                c = (int(rng.integers(margin, sr.shape[0] - margin)),
                     int(rng.integers(margin, sr.shape[1] - margin)))  # fmt: skip
                if kind == "deleted":
                    mod, foot = _deleted(sr, s, fit, k, noise, base.gain, rng)
                    if mod is None:
                        continue
                else:
                    unit, low, foot = _footprint(s, fit.sigma_yx, sr.shape, c, kind, rng)
                    ly, lx = np.unravel_index(np.argmax(low), low.shape)
                    peak = _peak(k, noise, float(expected[ly, lx]))
                    mod = sr + peak / (base.gain * low.max()) * unit
                cz = consistency(mod, lr, s, sigma=fit.sigma_yx)
                flag = np.abs(np.nan_to_num(cz.z)) > 3
                near = ndimage.binary_dilation(foot, iterations=1)
                hits += bool((flag & near).any())
                tried += 1
                outside = flag & ~ndimage.binary_dilation(foot, iterations=3) & ~base_flag
                false.append(outside.mean())
            # None: the output holds no object of that contrast to delete
            out[f"{kind}@{k}"] = hits / tried if tried else None
    out["false_alarm"] = float(np.mean(false)) if false else 0.0
    return out


def _deleted(sr, s, fit, k, noise, gain, rng):
    """The output with one of its objects of LR contrast about ``k`` noise std replaced by the
    local background, and that object's LR footprint (``None`` when none has that contrast)."""
    from scipy import ndimage

    from napari_sisr.core.evidence.forward import degrade

    low = degrade(sr, s, fit.sigma_yx)  # SR units; the capture's are gain times these
    bg = ndimage.median_filter(low, size=9)
    std = np.sqrt(noise[0] + noise[1] * np.clip(gain * low, 0, None))
    contrast = gain * (low - bg) / np.maximum(std, 1e-12)
    cand = np.argwhere((contrast > 0.8 * k) & (contrast < 1.25 * k))
    cand = cand[(cand[:, 0] > 2) & (cand[:, 1] > 2)]
    cand = cand[(cand[:, 0] < low.shape[0] - 3) & (cand[:, 1] < low.shape[1] - 3)]
    if len(cand) == 0:
        return None, None
    y, x = cand[rng.integers(len(cand))]
    foot = np.zeros(low.shape, bool)
    foot[y - 1 : y + 2, x - 1 : x + 2] = True
    mod = sr.copy()
    box = (slice((y - 1) * s, (y + 2) * s), slice((x - 1) * s, (x + 2) * s))
    mod[box] = bg[y, x]
    return mod, foot


def failures(name, lr, hr, s, fit):
    from napari_sisr.core.degradation.optics import PSF_FACTORS
    from napari_sisr.core.evidence.consistency import consistency

    model = _aware(s)
    out = {}
    right = consistency(_sr(lr, model, fit), lr, s, sigma=fit.sigma_yx).flagged_fraction
    out["right"] = right
    other = "widefield" if MODALITY[name] == "confocal" else "confocal"
    f_mod = PSF_FACTORS[other] / PSF_FACTORS[MODALITY[name]]
    for label, f in (("half", 0.5), ("double", 2.0), ("other modality", f_mod)):
        told = fit.with_sigma(fit.sigma * f)
        wrong = consistency(_sr(lr, model, told), lr, s, sigma=told.sigma_yx).flagged_fraction
        out[label] = wrong
        out[f"{label} ratio"] = wrong / max(right, 1e-4)
    return out


def resolution(name, lr, hr, s, nanopyx):
    from napari_sisr.core.evidence import decorrelation

    px = LR_PIXEL_NM.get(name)
    # each image and its central crops a few pixels smaller (the first crop is the image):
    # the figure, and how stable it is (largest / smallest), as nanopyx's are measured
    figures = {
        key: [decorrelation(c, size).value for c in crops(img)]
        for key, img, size in (("lr", lr, px), ("hr", hr, px / s if px else None))
    }
    r_lr, r_hr = figures["lr"][0], figures["hr"][0]
    out = {"lr": r_lr, "hr": r_hr, "unit": "nm" if px else "px",
           "hr_finer": r_hr / (1 if px else s) < r_lr}  # fmt: skip
    if not px:  # in LR pixels: the HR figure divided by the scale
        out["hr"] = r_hr / s
    for key, values in figures.items():
        out[f"spread_{key}"] = max(values) / min(values)
    if nanopyx and name in nanopyx:
        npx = nanopyx[name]
        out["nanopyx_lr"], out["nanopyx_hr"] = npx["lr"], npx["hr"]
        out["ratio_lr"], out["ratio_hr"] = out["lr"] / npx["lr"], out["hr"] / npx["hr"]
        for key in ("lr", "hr"):
            if f"{key}_crops" in npx:
                out[f"nanopyx_spread_{key}"] = max(npx[f"{key}_crops"]) / min(npx[f"{key}_crops"])
    return out


def split(name, lr, hr, s, fit):
    from napari_sisr.core.evaluation.scoring import (
        bicubic_upsample,
        choose_rl_iterations,
        richardson_lucy,
        rl_psf,
    )
    from napari_sisr.core.evidence import decorrelation, frc_resolution
    from napari_sisr.core.evidence.run import central_crop
    from napari_sisr.core.evidence.split import split_halves

    px = LR_PIXEL_NM.get(name)
    px_hr = px / s if px else 1.0 / s
    box = central_crop(lr.shape, 256)
    crop = lr[box[0] : box[2], box[1] : box[3]]
    a, b, how = split_halves(crop, rng=0)
    n_rl = choose_rl_iterations(lr, hr, s, fit.sigma)
    methods = {
        "bicubic": lambda x: bicubic_upsample(x, s),
        "bicubic + RL": lambda x: richardson_lucy(
            bicubic_upsample(x, s), rl_psf(fit.sigma, s), n_rl
        ),  # fmt: skip
        f"default-{s}x": lambda x: _sr(x, f"default-{s}x"),
        f"aware-{s}x told the fit": lambda x: _sr(x, _aware(s), fit),
    }
    out = {"hr_decorrelation": decorrelation(hr, px_hr).value, "split": how, "at_limit": []}
    for label, fn in methods.items():
        r = frc_resolution(fn(np.asarray(a, float)), fn(np.asarray(b, float)), px_hr)
        out[label] = r.value
        if r.at_limit:  # the halves agree up to the pixel limit: a bound, not a value
            out["at_limit"].append(label)
    return out


def cost(side: int):
    from napari_sisr import predict
    from napari_sisr.core.evidence.job import evidence_of_result
    from napari_sisr.sample_data import bpae_actin_hr

    tile = np.asarray(bpae_actin_hr(), np.float32)
    lr = np.tile(tile, (math.ceil(side / tile.shape[0]), math.ceil(side / tile.shape[1])))
    lr = np.ascontiguousarray(lr[:side, :side])
    out = {}
    for model in ("default-4x", "aware-4x"):
        t0 = time.perf_counter()
        sr = np.asarray(predict(lr, model, dtype="float32"))
        t_pred = time.perf_counter() - t0
        t0 = time.perf_counter()
        evidence_of_result(lr, sr, model, 4)
        t_ev = time.perf_counter() - t0
        out[model] = {"predict_s": t_pred, "evidence_s": t_ev, "added": t_ev / t_pred}
        print(f"cost {model}: predict {t_pred:.0f} s, evidence {t_ev:.0f} s "
              f"(+{100 * t_ev / t_pred:.0f} %)", flush=True)  # fmt: skip
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", default=",".join(PAIRS), help="comma-separated, or none")
    ap.add_argument("--sections", default="calibration,sensitivity,failures,resolution,split")
    ap.add_argument("--results", help="append the records to this JSON-lines file")
    ap.add_argument("--nanopyx", help="nanopyx's decorrelation figures (JSON)")
    ap.add_argument("--cost-side", type=int, default=4096)
    args = ap.parse_args(argv)
    sections = args.sections.split(",")
    nanopyx = json.loads(Path(args.nanopyx).read_text()) if args.nanopyx else None

    def record(rec):
        if args.results:  # one line per pair as it completes: a crash keeps what was measured
            with open(args.results, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(rec, default=float) + "\n")

    from napari_sisr.core.modelio import bundled_models

    for name in [p for p in args.pairs.split(",") if p and p != "none"]:
        lr, hr, s = load_pair(name)
        fit = _fit(lr, hr, s)
        rng = np.random.default_rng(0)
        rec = {"pair": name, "set": SETS[name], "scale": s, "fit_sigma": fit.sigma}
        runs = {
            "calibration": (calibration, (name, lr, hr, s, fit)),
            "sensitivity": (sensitivity, (name, lr, hr, s, fit, rng)),
            "failures": (failures, (name, lr, hr, s, fit)),
            "resolution": (resolution, (name, lr, hr, s, nanopyx)),
            "split": (split, (name, lr, hr, s, fit)),
        }
        needs_model = {"sensitivity", "failures", "split"}
        for sec, (fn, fn_args) in runs.items():
            if sec not in sections:
                continue
            if sec in needs_model and _aware(s) not in bundled_models():
                rec[sec] = {"skipped": f"no bundled model at {s}x"}
                print(f"{name} {sec}: skipped (no bundled model at {s}x)", flush=True)
            else:
                t0 = time.perf_counter()
                rec[sec] = fn(*fn_args)
                print(f"{name} {sec} ({time.perf_counter() - t0:.0f} s): {rec[sec]}", flush=True)
        record(rec)
    if "cost" in sections:
        record({"cost": cost(args.cost_side), "side": args.cost_side})
    return 0


if __name__ == "__main__":
    sys.exit(main())
