"""The pictures of the "How far to trust a result" page, and the figures printed beside them.

The bundled real pair (a confocal capture and the STED image of the same field, Bassoon,
BSD-licensed: ``napari_sisr.sample_data.synapse_pair``) super-resolved three ways: ``aware-4x``
told the PSF fitted on the pair (a good result), the same told a PSF twice too wide (a wrongly
steered model), and ``aware-4x-gan`` told the fit (a GAN result). Each row: the capture, the
result, the z-score map over the result (green: the capture holds signal the result lacks;
magenta: the result holds signal the capture lacks), and the STED image for comparison.

    python docs/scripts/evidence_figure.py [--out docs/images/evidence_examples.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def _rgb_overlay(result: np.ndarray, z: np.ndarray, s: int) -> np.ndarray:
    """The result in grey with the z-score map over it: green for z > 0, magenta for z < 0,
    transparent where |z| < 1, full at |z| = 6."""
    lo, hi = np.percentile(result, [0.5, 99.5])
    grey = np.clip((result - lo) / max(hi - lo, 1e-12), 0, 1)
    zz = np.kron(np.nan_to_num(z), np.ones((s, s)))[: result.shape[0], : result.shape[1]]
    a = np.clip((np.abs(zz) - 1) / 5, 0, 1)
    rgb = np.stack([grey] * 3, axis=-1) * (1 - 0.8 * a[..., None])
    pos, neg = (zz > 0) * a, (zz < 0) * a
    rgb[..., 1] += 0.8 * pos
    rgb[..., 0] += 0.8 * neg
    rgb[..., 2] += 0.8 * neg
    return np.clip(rgb, 0, 1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "docs" / "images" / "evidence_examples.png"))
    args = ap.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from napari_sisr import fit_degradation, predict
    from napari_sisr.core.evidence import evidence
    from napari_sisr.sample_data import synapse_pair

    lr, hr = (np.asarray(a, np.float64) for a in synapse_pair())
    fit = fit_degradation(hr, lr, 4, families=False)
    cases = [
        ("aware-4x told the fitted PSF", "aware-4x", fit),
        ("aware-4x told a PSF twice too wide", "aware-4x", fit.with_sigma(2 * fit.sigma)),
        ("aware-4x-gan told the fitted PSF", "aware-4x-gan", fit),
    ]
    fig, axes = plt.subplots(len(cases), 4, figsize=(13, 3.5 * len(cases)), squeeze=False)
    for row, (title, model, steer) in zip(axes, cases, strict=True):
        sr = np.asarray(predict(lr.astype(np.float32), model, degradation=steer, dtype="float32"))
        ev = evidence(sr, lr, 4, model=model, degradation=steer, pixel_size_nm=60.0)
        c = ev.consistency
        print(f"{title}: {100 * c.flagged_fraction:.2f} % flagged, {len(c.regions)} regions, "
              f"resolution {ev.resolution_lr.text()} -> {ev.resolution_sr.text()}, halves agree "
              f"on {ev.resolution_split.text() if ev.resolution_split else '-'}")  # fmt: skip
        lo, hi = np.percentile(lr, [0.5, 99.5])
        row[0].imshow(lr, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        row[0].set_title("confocal capture (60 nm px)", fontsize=9)
        lo, hi = np.percentile(sr, [0.5, 99.5])
        row[1].imshow(sr, cmap="gray", vmin=lo, vmax=hi)
        row[1].set_title(title, fontsize=9)
        row[2].imshow(_rgb_overlay(sr, c.z, 4))
        row[2].set_title(
            f"evidence: {100 * c.flagged_fraction:.1f} % of the capture's pixels disagree\n"
            f"resolution {ev.resolution_lr.text()} -> {ev.resolution_sr.text()}", fontsize=9
        )  # fmt: skip
        lo, hi = np.percentile(hr, [0.5, 99.5])
        row[3].imshow(hr, cmap="gray", vmin=lo, vmax=hi)
        row[3].set_title("STED image of the field (reference)", fontsize=9)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
