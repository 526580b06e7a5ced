"""The whole chain on real captures: fit on one half of a real pair, train, score on the other.

Every real pair of ``pairs/`` (see ``SOURCES.md``) is cut into two halves along its columns.
On the training half the degradation is fitted (``fit_degradation``) and the models are
trained; the test half is super-resolved from its *real* LR capture and scored against its
*real* HR capture with :func:`napari_sisr.evaluate`'s protocol (registered by the bicubic
upsampling's shift, each output with its own gain and offset, a border of 4 x scale left out).
Then the halves swap roles; the tables give the mean of the two.

Methods, side by side:

* ``nearest``, ``bicubic``;
* ``bicubic + RL``: Richardson-Lucy with the PSF fitted on the training half, its iteration
  count chosen there too;
* ``bundled``: the bundled model of the pair's scale, zero-shot;
* ``aware``: the degradation-aware model of the pair's scale (``--aware-model``, default the
  bundled ``aware-<s>x``), zero-shot, told the degradation fitted on the training half
  (``predict(lr, model, degradation=FIT)``): no training at all;
* ``aware-tuned``: the same model told the PSF width and noise that serve it best on the
  training half (:func:`napari_sisr.tune_steering`, ``napari-sisr tune``: a search around the
  fit, scored against the training half's HR; no training);
* ``aware-auto``: the same model with automatic steering (no fit: noise estimated from the
  image, the PSF width as the model card says: read from the image for ``aware-2x``);
  ``aware-card``: the same with the PSF width fixed at the card's default (what automatic
  steering did before a card read it from the image);
* ``aware-optics``: the same model steered by the optics alone (NA, emission wavelength,
  modality and the LR pixel size; :data:`OPTICS`: the pairs whose pixel size the files state,
  with the optics assumed as named there, not documented by the data);
* ``adapted``: the same model adapted to the test half's LR capture alone (``napari-sisr
  adapt LR --degradation FIT.json``, the fit of the training half: "calibrated once"), with
  the defaults (kept as it is where the capture lies inside its trained range and splits are
  estimated); ``adapted-always``: adapted in every case (``--always``); their wall time is
  reported;
* ``naive``: trained on the training half's HR with bicubic downsampling as the degradation
  (what most papers do), in paired mode;
* ``chain-init``: trained on the training half's HR degraded by the fitted model (the point
  of the plugin), content losses only, the default share of the patches (``real_fraction``,
  three quarters; half before 0.75 became the default) taking their LR from the training
  half's real capture, started from the bundled model of the scale (at 8x the 4x model, its
  extra upsampling stage added): what ``napari-sisr train --hr HR --degradation FIT.json
  --iters N`` does by default when the fit names its pair;
* ``chain``: the same from random weights (``--init none``); ``chain-sim``: on simulations of
  the fitted model only (``--no-real-lr``); ``chain+gan``: ``chain`` with the preset's
  adversarial phase; ``chain-init+gan``: ``chain-init`` with it (what ``napari-sisr train
  ... --gan`` does by default);
* ``paired``: trained on the training half's real LR/HR (the HR registered by the fit);
  ``paired-init``: the same started from the bundled model of the scale, as ``chain-init``;
* ``finetune``: ``chain-init`` with a third of the steps (none at 8x); ``paired-finetune``:
  ``paired-init`` with a third of the steps (none at 8x).

Every training is ``napari-sisr train`` with the defaults otherwise (the Python equivalent);
its CPU time (all threads) and wall time are reported. Every trained output's standard
deviation on background-only regions of the HR image is reported relative to bicubic's (above
1: structure invented in empty background); so is it where the LR capture is empty too, with
the output's departure from the HR image there (a reconstruction such as SRRF holds dim
texture in its background: reproducing it is not inventing), and so is its fine detail beyond
the LR's Nyquist frequency. ``--keep DIR`` keeps the trained models
(``DIR/<pair>-<half>-<method>/``); ``--models DIR`` scores models kept so by an earlier run
instead of training them; ``--train KEY=VALUE`` trains with a setting other than the default
(recorded with the results).

    python benchmarks/bench_real_pairs.py [--iters 1500] [--pairs sted_561,caco2_4x]
        [--methods chain,naive] [--threads N] [--results results.jsonl] [--table-only]
        [--figures docs/images] [--keep runs/real_models] [--rerun] [--train patch=256]
        [--versus other_results.jsonl ...] [--models runs/real_models]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    background_departure_ratio,
    background_std_ratio,
    data_dir,
    detail_ratio,
    sharpness_ratio,
)

#: name -> (set label, loader). The sets group the pairs of one kind of capture.
SETS = {
    "sted_561": "confocal -> STED (Bassoon, 561), 4x",
    "sted_640": "confocal -> STED (Homer, 640), 4x",
    "sim_high": "widefield -> SIM, microtubules, 2x",
    "sim_low": "widefield -> SIM, microtubules, 2x",
    "caco2_2x": "confocal pixel density (Caco-2), 2x",
    "caco2_4x": "confocal pixel density (Caco-2), 4x",
    "caco2_8x": "confocal pixel density (Caco-2), 8x",
    "srrf": "widefield -> SRRF, 2x",
    "storm": "TIRF -> STORM, 8x (resampled from 7.3x)",
}
TRAINED = ("naive", "chain-sim", "chain", "chain+gan", "paired", "paired-init", "finetune",
           "paired-finetune", "chain-init", "chain-init+gan")  # fmt: skip
#: Methods that train for a third of the benchmark's steps, from the bundled model of the scale.
THIRD = ("finetune", "paired-finetune")
GAN_METHODS = {"chain+gan": "chain", "chain-init+gan": "chain-init"}  # -> its content model
#: Besides itself, what a method is compared with (in the tables, on the halves both ran; with
#: ``--versus``, in the other results): the paired mode from the bundled start against the
#: paired mode from random weights and against the default chain; fine-tuning (a third of the
#: steps) against the default chain, and the paired mode so against its full run.
VERSUS_ALSO = {
    "paired-init": ("paired", "chain-init"),
    "finetune": ("chain-init",),
    "paired-finetune": ("paired-init",),
}
#: With ``--versus`` only: a zero-shot method against the default chain trained on the pair.
VERSUS_TRAINED = {"aware": ("chain-init",), "aware-tuned": ("chain-init",)}
#: Routes refined against the capture (napari_sisr.core.inference.refine) -> the route refined.
REFINED = {"aware-refined": "aware", "adapted-refined": "adapted"}
METHODS = ("nearest", "bicubic", "bicubic + RL", "bundled", "aware", "aware-tuned", "aware-auto",
           "aware-card", "aware-optics", "adapted", "adapted-always", *REFINED,
           *TRAINED)  # fmt: skip
#: Optics of the pairs whose LR pixel size the files state: NA, emission (nm), modality. The
#: data does not document them; these are the usual values of such instruments (an oil
#: objective of NA 1.4; the dyes' emission peaks), named as assumptions wherever reported.
OPTICS = {
    "sted_561": {"na": 1.4, "wavelength_nm": 600.0, "pixel_nm": 60.0, "modality": "confocal"},
    "sted_640": {"na": 1.4, "wavelength_nm": 660.0, "pixel_nm": 60.0, "modality": "confocal"},
    "sim_high": {"na": 1.49, "wavelength_nm": 520.0, "pixel_nm": 60.0, "modality": "widefield"},
    "sim_low": {"na": 1.49, "wavelength_nm": 520.0, "pixel_nm": 60.0, "modality": "widefield"},
}
#: The degradation-aware model of a scale (``{s}``: the scale), a bundled name or a path.
AWARE_MODEL = "aware-{s}x"


def _bin(a: np.ndarray, k: int) -> np.ndarray:
    a = np.asarray(a, np.float64)
    h, w = a.shape[0] // k * k, a.shape[1] // k * k
    return a[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3))


def load_pair(name: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(LR, HR, scale) of a named pair, as float64 planes."""
    from napari_sisr.core.io.images import read_image

    root = data_dir() / "pairs"
    if name.startswith("sted_"):
        ch = {"sted_561": "chA_561", "sted_640": "chB_640"}[name]
        stem = f"confocal_sted_synapses/bassoon_homer_{ch}"
        lr = read_image(root / f"{stem}_LR_confocal_60nm.tif")
        return lr.astype(float), read_image(root / f"{stem}_HR_STED_15nm.tif").astype(float), 4
    if name.startswith("sim_"):
        light = {"sim_high": ("highlight", "HE", "HER"), "sim_low": ("lowlight", "LE", "LER")}[name]
        folder = root / "widefield_sim_microtubules"
        wf = read_image(folder / f"WF_{light[0]}_avg15raw_{light[1]}_15.tif")
        sim = read_image(folder / f"SIM_{light[0]}_{light[2]}_Sample_1.tif")
        return _bin(wf, 2), sim.astype(float), 2  # the widefield is stored on the SIM grid
    if name.startswith("caco2_"):
        k = int(name[6])
        folder = root / "confocal_pixel_density_caco2"
        return (
            read_image(folder / f"div{k}.tif").astype(float),
            read_image(folder / "div1.tif").astype(float),
            k,
        )
    if name == "srrf":  # GPL-3.0 data: benchmarked here, never copied into the package
        folder = root / "widefield_srrf"
        wf = read_image(folder / "bpae_widefield.tif")
        return _bin(wf, 2), read_image(folder / "bpae_srrf.tif").astype(float), 2
    if name == "storm":
        from napari_sisr import estimate_ratio, resample_hr

        folder = root / "tirf_storm"
        lr = read_image(folder / "cell2_tirf_lr.jpg").astype(float)
        hr = read_image(folder / "cell2_storm_hr.jpg").astype(float)
        ratio, _ = estimate_ratio(hr, lr)
        hr8 = resample_hr(hr, ratio, 8)
        # the resampled field can end a pixel short of 8 x the LR: keep the LR it covers
        return lr[: hr8.shape[0] // 8, : hr8.shape[1] // 8], hr8, 8
    raise SystemExit(f"unknown pair {name!r}; known: {', '.join(SETS)}")


def halves(lr, hr, s):
    """The two column halves of a pair, LR and HR cut at the same place."""
    h = lr.shape[1] // 2
    return [(lr[:, :h], hr[:, : h * s]), (lr[:, h:], hr[:, h * s :])]


def bicubic_down(hr: np.ndarray, s: int) -> np.ndarray:
    """Antialiased bicubic downsampling: the "naive" degradation of most SR papers."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(hr))[None, None]
    size = (hr.shape[0] // s, hr.shape[1] // s)
    return F.interpolate(t, size=size, mode="bicubic", antialias=True)[0, 0].numpy()


def budget(method: str, iters: int) -> int:
    """The steps a method trains for: those of :data:`THIRD` a third of the benchmark's,
    others all."""
    return max(1, iters // 3) if method in THIRD else iters


def _train(name, hr_a, lr_a, s, fit, method, iters, threads, work: Path, options=None):
    """Train one model on the training half; returns (model JSON, (CPU s, wall s), steps run:
    fewer than ``iters`` when early stopping ended the run).
    ``options``: further ``TrainConfig`` settings, the same for every method."""
    from scipy import ndimage

    from napari_sisr import TrainConfig, train

    # from random weights unless the method says otherwise (chain-init: the default start)
    common = dict(
        iters=iters, out=work / f"{name}-{method}", overwrite=True, threads=threads, init=None
    ) | dict(options or {})
    hr32 = hr_a.astype(np.float32)
    if method in ("chain", "chain-sim", "finetune", *GAN_METHODS, *GAN_METHODS.values()):
        kw = dict(hr=[hr32], degradation=fit, adversarial=method in GAN_METHODS)
        if method != "chain-sim":  # the fit's own pair, as the command line links it
            kw["real_lr"] = [lr_a.astype(np.float32)]
        if method == "finetune":
            kw.update(init=f"default-{s}x", iters=budget(method, iters))
        elif method.startswith("chain-init"):  # the default start: the bundled model of the scale
            kw.update(init="auto", scale=s)
        config = TrainConfig(**{**common, **kw})
    elif method == "naive":
        lr_naive = bicubic_down(hr_a, s).astype(np.float32)
        config = TrainConfig(
            **common, hr=[hr32[: lr_naive.shape[0] * s, : lr_naive.shape[1] * s]],
            lr_images=[lr_naive], scale=s, adversarial=False,
        )  # fmt: skip
    elif method in ("paired", "paired-init", "paired-finetune"):
        # the real LR, the HR moved onto its grid by the fit; all but paired: the bundled start
        if method != "paired":
            from napari_sisr.core.training.start import bundled_start

            common.update(init=bundled_start(s), iters=budget(method, iters))
        moved = ndimage.shift(hr_a, fit.shift_yx, order=3, mode="reflect")
        my, mx = min(lr_a.shape[0], moved.shape[0] // s), min(lr_a.shape[1], moved.shape[1] // s)
        config = TrainConfig(
            **common, hr=[moved[: my * s, : mx * s].astype(np.float32)],
            lr_images=[lr_a[:my, :mx].astype(np.float32)], scale=s, adversarial=False,
        )  # fmt: skip
    else:
        raise ValueError(method)
    c0, t0 = time.process_time(), time.perf_counter()
    result = train(config)
    return str(result.model), (time.process_time() - c0, time.perf_counter() - t0), result.steps


#: Panels of the figures beside LR and bicubic: the methods against the baselines and, when
#: the GAN phase ran, the chain with and without it (saved as ``real_<pair>_gan.png``).
FIGURE_PANELS = ("bicubic + RL", "chain", "chain-init", "paired")
GAN_PANELS = ("chain", "chain+gan", "chain-init", "chain-init+gan")


def save_figure(
    name: str, outputs: dict, hr: np.ndarray, s: int, folder: Path, gan: bool = False
) -> Path:
    """A row of crops of one test half: LR | bicubic | RL | chain | HR (``gan``: LR |
    bicubic | each content model and its GAN-refined twin that ran | HR), registered and
    intensity-matched as scored, on the HR image's busiest window."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import ndimage

    from napari_sisr.core.evaluation.scoring import _fit_gain, _normalise, register_shift

    target = _normalise(hr)
    shift = register_shift(target, outputs["bicubic"], 4 * s)
    side = min(160, min(hr.shape) - 8 * s)
    energy = ndimage.uniform_filter(ndimage.gaussian_gradient_magnitude(target, 2), side)
    b = 4 * s + side // 2
    inner = energy[b:-b, b:-b] if min(energy.shape) > 2 * b else energy
    cy, cx = np.unravel_index(int(np.argmax(inner)), inner.shape)
    y0, x0 = cy + b - side // 2, cx + b - side // 2
    win = (slice(y0, y0 + side), slice(x0, x0 + side))
    panels = [("LR (nearest)", outputs["nearest"]), ("bicubic", outputs["bicubic"])]
    panels += [(m, outputs[m]) for m in (GAN_PANELS if gan else FIGURE_PANELS) if m in outputs]
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(2.6 * (len(panels) + 1), 2.9))
    lo, hi = np.percentile(target[win], [0.5, 99.5])
    for ax, (title, img) in zip(axes, panels, strict=False):
        moved = ndimage.shift(img, shift, order=3, mode="nearest")
        g, o = _fit_gain(moved, target)
        ax.imshow((g * moved + o)[win], cmap="magma", vmin=lo, vmax=hi)
        ax.set_title(title, fontsize=9)
    axes[-1].imshow(target[win], cmap="magma", vmin=lo, vmax=hi)
    axes[-1].set_title("real HR", fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    fig.suptitle(f"{SETS[name]}: test half, {side} x {side} HR px", fontsize=10)
    fig.tight_layout()
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"real_{name}{'_gan' if gan else ''}.png"
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def _aware_model(template: str, s: int) -> str | None:
    """The degradation-aware model for scale ``s`` (None when there is none)."""
    from napari_sisr.core.modelio import bundled_models

    name = template.format(s=s)
    return name if name in bundled_models() or Path(name).exists() else None


@dataclass
class _Adapted:
    path: str
    adapted: bool


def _adapted(lr, fit, s: int, start: str, out: Path, always: bool = False) -> _Adapted:
    """The aware model adapted to the test half's capture alone (napari_sisr.adapt)."""
    from napari_sisr import adapt

    run = adapt(images=[lr], degradation=fit, scale=s, model=start, out=out, always=always,
                overwrite=True)  # fmt: skip
    return _Adapted(str(run.model), run.best_step > 0)


def aware_result(lr, model: str, steer) -> np.ndarray:
    """A degradation-aware model's result on ``lr``, steered by ``steer`` (a fit, or what
    predict's ``degradation`` takes)."""
    from napari_sisr import predict

    return np.asarray(predict(lr.astype(np.float32), model, dtype="float32",
                              degradation=steer), float)  # fmt: skip


def run_pair(
    name, methods, iters, threads, work: Path, figures: Path | None = None, aware=AWARE_MODEL,
    fit_noise: str = "residual", train_options: dict | None = None, kept: Path | None = None,
):  # fmt: skip
    from napari_sisr import fit_degradation, predict, tune_steering
    from napari_sisr.core.degradation.blur_estimate import estimate_sigma
    from napari_sisr.core.errors import InputError
    from napari_sisr.core.evaluation.scoring import (
        bicubic_upsample,
        choose_rl_iterations,
        nearest_upsample,
        prepare_pair,
        richardson_lucy,
        rl_psf,
        score_outputs,
    )
    from napari_sisr.core.inference.refine import choose_refinement, refine_plane
    from napari_sisr.core.modelio import bundled_models, load_model
    from napari_sisr.core.training.start import bundled_start

    lr, hr, s = load_pair(name)
    lr, hr = prepare_pair(lr, hr, s)
    parts = halves(lr, hr, s)
    records = []
    for k in (0, 1):
        (lr_a, hr_a), (lr_b, hr_b) = parts[k], parts[1 - k]
        fit = fit_degradation(hr_a, lr_a, s, noise=fit_noise)
        n_rl = choose_rl_iterations(lr_a, hr_a, s, fit.sigma)
        bic = bicubic_upsample(lr_b, s)
        outputs = {
            "nearest": nearest_upsample(lr_b, s),
            "bicubic": bic,
            "bicubic + RL": richardson_lucy(bic, rl_psf(fit.sigma, s), n_rl),
        }
        seconds, steps, sigma_read, tuned, refine_n, adapted = {}, {}, None, {}, {}, {}
        lr_in = lr_b.astype(np.float32)
        bundled = f"default-{s}x"
        for m in methods:
            if m == "bundled" and bundled in bundled_models():
                outputs[m] = np.asarray(predict(lr_in, bundled, dtype="float32"), float)
            elif m == "aware" and _aware_model(aware, s):
                outputs[m] = aware_result(lr_b, _aware_model(aware, s), fit)
            elif m == "aware-tuned" and _aware_model(aware, s):
                model = _aware_model(aware, s)
                tuned[m] = tune_steering(model, lr_a, hr_a, s, degradation=fit).params
                outputs[m] = aware_result(lr_b, model, tuned[m])
            elif m in ("aware-auto", "aware-card") and _aware_model(aware, s):
                net = load_model(_aware_model(aware, s))
                card = {"sigma": float(net.meta["steering"]["sigma"])}
                deg = "auto" if m == "aware-auto" else card
                try:
                    sr = predict(lr_in, net, dtype="float32", degradation=deg)
                except InputError as err:  # e.g. too clipped an image to estimate its noise
                    print(f"{name} half {k}: {m} not scored: {err}", file=sys.stderr)
                    continue
                outputs[m] = np.asarray(sr, float)
                if m == "aware-auto" and net.meta["steering"].get("sigma_from_image"):
                    sigma_read = estimate_sigma(lr_in, s)
            elif m == "aware-optics" and _aware_model(aware, s) and name in OPTICS:
                outputs[m] = aware_result(lr_b, _aware_model(aware, s), {"optics": OPTICS[name]})
            elif m in ("adapted", "adapted-always") and _aware_model(aware, s):
                t0 = time.perf_counter()
                model = _adapted(lr_in, fit, s, _aware_model(aware, s), work / f"{name}-{k}-{m}",
                                 always=m == "adapted-always")  # fmt: skip
                seconds[m] = {"wall": time.perf_counter() - t0, "adapted": model.adapted}
                adapted[m] = model.path
                outputs[m] = aware_result(lr_b, model.path, fit)
            elif m in REFINED and _aware_model(aware, s):
                # the base route's model (adapted here unless this run adapted already), its
                # iterations chosen on the calibration half; only the refined output is
                # scored under this name
                base, model = REFINED[m], _aware_model(aware, s)
                if base == "adapted":
                    model = adapted.get(base) or _adapted(
                        lr_in, fit, s, model, work / f"{name}-{k}-{m}").path  # fmt: skip
                base_b = outputs[base] if base in outputs else aware_result(lr_b, model, fit)
                refine_n[m], _ = choose_refinement(aware_result(lr_a, model, fit), lr_a, hr_a, s,
                                                   fit.sigma)  # fmt: skip
                outputs[m] = refine_plane(base_b, lr_b, s, fit.sigma, refine_n[m])
            elif (
                m in TRAINED and kept and (old := kept / f"{name}-{k}-{m}" / "model.json").exists()
            ):
                outputs[m] = np.asarray(predict(lr_in, str(old), dtype="float32"), float)
            elif m in TRAINED and not (
                (m in THIRD and bundled not in bundled_models())
                or (m.startswith(("chain-init", "paired-init")) and bundled_start(s) is None)
            ):
                model, seconds[m], steps[m] = _train(
                    f"{name}-{k}", hr_a, lr_a, s, fit, m, iters, threads, work, train_options
                )
                outputs[m] = np.asarray(predict(lr_in, model, dtype="float32"), float)
        scored = score_outputs(outputs, hr_b, s)
        if figures is not None and k == 0:  # a run of the GAN alone keeps the main figure
            save_figure(name, outputs, hr_b, s, figures, gan=any(m in outputs for m in GAN_METHODS))
        rec = {
            "pair": name,
            "half": k,
            "scale": s,
            "iters": iters,
            "fit": {
                "sigma": fit.sigma,
                "lag1": fit.residual_lag1,
                "noise_std": fit.noise_std,
                "noise_from": fit.notes["noise_from"],
            },  # fmt: skip
            "rl_iterations": n_rl,
            **({"refine_iterations": refine_n} if refine_n else {}),
            "scores": {m: [v.psnr, v.ssim] for m, v in scored.scores.items()},
            "train_s": seconds,
            "train_steps": steps,
        }
        if train_options:  # settings other than the defaults: kept in their own results file
            rec["train_options"] = train_options
        if sigma_read is not None:  # the PSF width automatic steering read from the test half
            rec["sigma_read"] = sigma_read
        for m, p in tuned.items():  # what the tuning on the training half chose
            rec.setdefault("tuned", {})[m] = {"sigma": p.sigma, "noise_std": p.noise_std}
        # fine detail beyond the LR's Nyquist frequency that agrees with the HR image, and
        # all power there (true detail, noise and invented texture alike), HR = 1
        rec["detail"] = {
            m: [detail_ratio(o, hr_b, s), sharpness_ratio(o, hr_b, s)]
            for m, o in outputs.items()
            if m != "nearest"
        }
        rec["background_std"] = {
            m: background_std_ratio(outputs[m], bic, hr_b, s)
            for m in ("bicubic + RL", *TRAINED)
            if m in outputs
        }
        # the same where the LR capture is empty too, and the output's departure from the HR
        # image there (what the HR image itself holds there is not invented); "HR": the HR
        # image's own std there relative to bicubic's (well above 1: no empty background)
        rec["background_both"] = {"HR": [background_std_ratio(hr_b, bic, hr_b, s, both=True)]}
        rec["background_both"].update(
            {
                m: [
                    background_std_ratio(outputs[m], bic, hr_b, s, both=True),
                    background_departure_ratio(outputs[m], bic, hr_b, s),
                ]
                for m in rec["background_std"]
            }
        )
        records.append(rec)
        print(
            f"{name} half {k}: sigma {fit.sigma:.2f}, RL {n_rl} it., "
            + ", ".join(f"{m} {v.psnr:.2f}" for m, v in scored.scores.items()),
            file=sys.stderr,
            flush=True,
        )
    return records


def tables(records: list[dict]) -> str:
    """Per pair set: mean PSNR / SSIM of each method over its pairs and halves; then gains."""
    from collections import defaultdict

    by_set = defaultdict(list)
    for r in records:
        by_set[SETS[r["pair"]]].append(r)
    methods = [m for m in METHODS if any(m in r["scores"] for r in records)]
    head = "| pair set | " + " | ".join(methods) + " |"
    lines = [head, "|---" * (len(methods) + 1) + "|"]
    gains = defaultdict(list)
    for label, recs in by_set.items():
        cells = []
        for m in methods:
            v = [r["scores"][m] for r in recs if m in r["scores"]]
            cells.append(
                f"{np.mean([x[0] for x in v]):.2f} / {np.mean([x[1] for x in v]):.3f}" if v else "-"
            )
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for r in records:
        b = r["scores"]["bicubic"]
        for m, v in r["scores"].items():
            gains[m].append((v[0] - b[0], v[1] - b[1]))
    lines += [
        "",
        "| method | mean PSNR gain over bicubic (dB) | mean SSIM gain | runs |",
        "|---|---:|---:|---:|",
    ]
    for m in methods:
        g = np.array(gains[m])
        lines.append(f"| {m} | {g[:, 0].mean():+.2f} | {g[:, 1].mean():+.3f} | {len(g)} |")
    rl = {id(r): r["scores"]["bicubic + RL"][0] for r in records}
    for m in (
        "chain",
        "chain-sim",
        "paired",
        "paired-init",
        "finetune",
        "paired-finetune",
        "chain-init",
        *GAN_METHODS,
    ):
        v = [r["scores"][m][0] - rl[id(r)] for r in records if m in r["scores"]]
        if v:
            worst = min(
                (np.mean([r["scores"][m][0] - rl[id(r)] for r in recs if m in r["scores"]]), lab)
                for lab, recs in by_set.items()
                if any(m in r["scores"] for r in recs)
            )
            lines.append(
                f"\n{m} over bicubic + RL: {np.mean(v):+.2f} dB on average; worst pair set "
                f"{worst[1]} ({worst[0]:+.2f} dB)"
            )
    versus = (
        *GAN_METHODS.items(),
        ("chain-init", "chain"),
        *((m, ref) for m, refs in VERSUS_ALSO.items() for ref in refs),
        ("aware-auto", "aware-card"),
    )
    for m, ref in versus:
        both = [r["scores"] for r in records if m in r["scores"] and ref in r["scores"]]
        if both:  # like for like: the same test halves
            d = np.array([[b[m][0] - b[ref][0], b[m][1] - b[ref][1]] for b in both])
            lines.append(
                f"\n{m} against {ref} on the same {len(both)} halves: {d[:, 0].mean():+.2f} dB "
                f"PSNR ({d[:, 0].min():+.2f} to {d[:, 0].max():+.2f}), {d[:, 1].mean():+.3f} SSIM"
            )
    secs = defaultdict(list)
    for r in records:
        for m, t in r.get("train_s", {}).items():
            secs[m].append(t)
    if secs:  # (CPU s, wall s) per run; older results hold the wall time alone
        pairs = {m: np.array([t if isinstance(t, (list, tuple)) else [np.nan, t] for t in v])
                 for m, v in secs.items()}  # fmt: skip
        lines.append("\ntraining per run, CPU time (all threads) / wall time: " + ", ".join(
            f"{m} {np.nanmean(t[:, 0]) / 60:.1f} / {np.mean(t[:, 1]) / 60:.1f} min"
            for m, t in pairs.items()))  # fmt: skip
    ran = defaultdict(list)
    for r in records:  # results from before early stopping ran every step of the budget
        for m, n in r.get("train_steps", {}).items():
            ran[m].append((n, budget(m, r["iters"])))
    if ran:
        lines.append("\nsteps run (early stopping), mean of the budget (fewest): " + ", ".join(
            f"{m} {np.mean([a / b for a, b in v]):.0%} ({min(a for a, _ in v)}, {len(v)} runs)"
            for m, v in ran.items()))  # fmt: skip
    detail = defaultdict(list)
    for r in records:
        for m, v in r.get("detail", {}).items():
            detail[m].append(v)
    if detail:
        lines.append(
            "\nfine detail beyond the LR's Nyquist frequency, HR = 1 (agreeing with the HR "
            "image / all power there): "
            + ", ".join(
                f"{m} {np.mean([v[0] for v in vs]):.3f} / {np.mean([v[1] for v in vs]):.2f} "
                f"({len(vs)})"
                for m, vs in detail.items()
            )
        )
    bg = defaultdict(list)
    for r in records:
        for m, v in r.get("background_std", {}).items():
            bg[m].append(v)
    if bg:  # mean, and the largest of any half: above 1 is structure bicubic does not have
        lines.append(
            "\nbackground std relative to bicubic, mean (largest, halves): "
            + ", ".join(
                f"{m} {np.mean(v):.2f} ({max(v):.2f}, {len(v)})"
                for m, v in sorted(bg.items(), key=lambda kv: METHODS.index(kv[0]))
            )
        )
    both = defaultdict(list)
    for r in records:
        for m, v in r.get("background_both", {}).items():
            both[m].append(v)
    if both:
        order = sorted(both.items(), key=lambda kv: METHODS.index(kv[0]) if kv[0] != "HR" else -1)
        lines.append(
            "\nwhere the LR capture is empty too, std relative to bicubic's, mean (largest, "
            "halves): "
            + ", ".join(
                f"{'HR image' if m == 'HR' else m} {np.mean([x[0] for x in v]):.2f} "
                f"({max(x[0] for x in v):.2f}, {len(v)})"
                for m, v in order
            )
            + "; the output's departure from the HR image there relative to bicubic's: "
            + ", ".join(
                f"{m} {np.mean([x[1] for x in v]):.2f} ({max(x[1] for x in v):.2f})"
                for m, v in order
                if m != "HR"
            )
        )
    for m, ref in GAN_METHODS.items():  # what the GAN phase adds to its own content model's
        v = [b[m] / b[ref] for r in records if m in (b := r.get("background_std", {})) and ref in b]
        if v:
            lines.append(
                f"\n{m} background std relative to {ref}'s on the same {len(v)} halves: "
                f"{np.mean(v):.2f} ({min(v):.2f} to {max(v):.2f})"
            )
        d = np.array(
            [[b[m], b[ref]] for r in records if m in (b := r.get("detail", {})) and ref in b]
        )
        if len(d):  # (halves, [gan, content], [agreeing, all power])
            lines.append(
                f"\n{m} against {ref}, fine detail on the same {len(d)} halves (HR = 1): "
                f"agreeing with the HR image {d[:, 0, 0].mean():.3f} against "
                f"{d[:, 1, 0].mean():.3f}, all power there {d[:, 0, 1].mean():.2f} against "
                f"{d[:, 1, 1].mean():.2f}"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    from napari_sisr.core.degradation.fit import NOISE_SOURCES

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=1500, help="training steps (default 1500)")
    ap.add_argument("--pairs", default=",".join(SETS), help="comma-separated pair names")
    ap.add_argument("--methods", default=",".join(METHODS[3:]), help="methods beyond the baselines")
    ap.add_argument("--threads", type=int, help="CPU threads of each training")
    ap.add_argument("--results", type=Path, help="JSON lines file: append results, reuse done ones")
    ap.add_argument("--table-only", action="store_true", help="print the tables of --results")
    ap.add_argument(
        "--rerun",
        action="store_true",
        help="run the methods even where --results has them (the new results replace them), "
        "e.g. the chain beside chain+gan for a like-for-like figure and detail measure",
    )
    ap.add_argument("--figures", type=Path, help="save a figure of crops per pair here")
    ap.add_argument("--keep", type=Path, help="keep the trained models in this folder")
    ap.add_argument(
        "--models",
        type=Path,
        help="score the models an earlier --keep kept in this folder instead of training them "
        "(with the measures of this version; no training time is recorded), e.g. to measure "
        "a content model beside a GAN run",
    )
    ap.add_argument(
        "--fit-noise",
        choices=NOISE_SOURCES,
        default="residual",
        help="the fit's noise: its residual's (default) or the LR image's own (fit_degradation's "
        "noise=); keep each choice's results in their own --results file",
    )
    ap.add_argument(
        "--train",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        type=train_option,
        help="a TrainConfig setting other than its default for every trained method (e.g. "
        "--train patch=256 --train batch=2); keep such runs in their own --results file",
    )
    ap.add_argument(
        "--versus",
        type=Path,
        nargs="+",
        metavar="RESULTS",
        help="compare each trained method of --results with the same method in these results "
        "files (e.g. a run with another --train setting), half by half",
    )
    ap.add_argument(
        "--aware-model",
        default=AWARE_MODEL,
        help="degradation-aware model per scale, {s} for the scale (default aware-{s}x)",
    )
    args = ap.parse_args(argv)
    records = read_results(args.results) if args.results and args.results.exists() else []
    if not args.table_only:
        methods = [m for m in args.methods.split(",") if m]
        with tempfile.TemporaryDirectory(prefix="bench_real_pairs_") as tmp:
            work = args.keep or Path(tmp)
            for name in args.pairs.split(","):
                have = merge(r for r in records if (r["pair"], r["iters"]) == (name, args.iters))
                done = set.intersection(*(set(r["scores"]) for r in have)) if have else set()
                todo = [m for m in methods if args.rerun or m not in done]
                if have and not todo:
                    continue
                new = run_pair(
                    name, todo, args.iters, args.threads, work, args.figures,
                    args.aware_model, args.fit_noise, dict(args.train), args.models,
                )  # fmt: skip
                records += new
                if args.results:
                    with args.results.open("a") as fh:
                        fh.writelines(json.dumps(r) + "\n" for r in new)
    print(tables(merge(records)))
    if args.versus:
        other = merge(read_results(*args.versus))
        print("\n" + versus(merge(records), other, " + ".join(f.name for f in args.versus)))
    return 0


def read_results(*paths: Path) -> list[dict]:
    """The records of one or more JSON-lines results files, in order."""
    return [json.loads(line) for p in paths for line in p.read_text().splitlines() if line]


def versus(records: list[dict], other: list[dict], label: str) -> str:
    """Each trained method of ``records`` against the same method in ``other`` (and those
    :data:`VERSUS_ALSO` names, and a GAN method's content model; a zero-shot method of
    :data:`VERSUS_TRAINED` against the model trained on the pair) on the test halves both
    scored: mean PSNR / SSIM difference, its range, the halves it is higher, and each side's
    mean gain over bicubic."""
    theirs = {(r["pair"], r["half"], r["iters"]): r["scores"] for r in other}
    lines = []
    for m in (*TRAINED, *VERSUS_TRAINED):
        content = (GAN_METHODS[m],) if m in GAN_METHODS else ()
        for ref in (m, *VERSUS_ALSO.get(m, ()), *VERSUS_TRAINED.get(m, ()), *content):
            both = [
                (r["scores"], t)
                for r in records
                if m in r["scores"]
                and ref in (t := theirs.get((r["pair"], r["half"], r["iters"]), {}))
            ]
            if not both:
                continue
            d = np.array([[a[m][0] - b[ref][0], a[m][1] - b[ref][1]] for a, b in both])
            gain = [np.mean([a[m][0] - a["bicubic"][0] for a, _ in both]),
                    np.mean([b[ref][0] - b["bicubic"][0] for _, b in both])]  # fmt: skip
            lines.append(
                f"{m} against {ref} of {label} on the same {len(d)} halves: "
                f"{d[:, 0].mean():+.3f} dB PSNR ({d[:, 0].min():+.2f} to {d[:, 0].max():+.2f}, "
                f"higher on {int((d[:, 0] > 0).sum())}), {d[:, 1].mean():+.4f} SSIM; mean gain "
                f"over bicubic {gain[0]:+.3f} dB against {gain[1]:+.3f}"
            )
    return "\n".join(lines) or f"no trained method of these results is in {label}"


#: TrainConfig settings every training of the benchmark sets itself (not ``--train``'s).
OWN_SETTINGS = ("iters", "threads", "out", "overwrite")


def train_option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` of ``--train``: the value read as JSON where it is (numbers, true,
    null), else kept as text."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    if key in OWN_SETTINGS:
        raise argparse.ArgumentTypeError(
            f"--train {key}: the benchmark sets {', '.join(OWN_SETTINGS)} itself "
            "(use --iters, --threads, --keep)"
        )
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def merge(records) -> list[dict]:
    """One record per pair, half and step count: runs of other methods on the same halves
    (appended to one results file) joined, their scores and training times united."""
    out: dict[tuple, dict] = {}
    for r in records:
        key = (r["pair"], r["half"], r["iters"])
        if key not in out:
            out[key] = json.loads(json.dumps(r))
            continue
        into = out[key]
        into["scores"].update(r["scores"])
        into["train_s"] = {**into.get("train_s", {}), **r.get("train_s", {})}
        into["train_steps"] = {**into.get("train_steps", {}), **r.get("train_steps", {})}
        for part in ("background_std", "background_both", "detail", "refine_iterations"):
            if part in r:
                into[part] = {**into.get(part, {}), **r[part]}
    return list(out.values())


if __name__ == "__main__":
    sys.exit(main())
