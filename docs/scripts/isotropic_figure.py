"""Draw docs/images/isotropic_xz.png: an xz slice of a real confocal stack cut to every 4th
plane, restored by napari_sisr.isotropic, next to linear interpolation and the reference
(the method of benchmarks/bench_isotropic.py's ``restore`` section).

    python docs/scripts/isotropic_figure.py [--iters 1500]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))


def main(argv=None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from bench_isotropic import STACKS, _interp_z, _load, _to_xy_sampling
    from scipy.ndimage import gaussian_filter1d

    from napari_sisr import isotropic

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=1500)
    args = ap.parse_args(argv)
    name = "arabidopsis embryo (confocal)"
    rel, z_um, px_um = STACKS[name]
    ref = _to_xy_sampling(_load(rel), z_um / px_um)
    f = 4
    ref = ref[: ref.shape[0] // f * f]
    cut = gaussian_filter1d(ref, 2.0, axis=0)[f // 2 :: f]
    iso = np.asarray(isotropic(cut, factor=f, train={"iters": args.iters}).stack)
    lin = _interp_z(cut, f, 1)
    y = ref.shape[1] // 2
    panels = [(np.repeat(cut[:, y, :], f, axis=0), f"kept planes (every {f}th), as acquired"),
              (lin[:, y, :], "linear interpolation along z"),
              (iso[:, y, :], "napari-sisr isotropic"),
              (ref[:, y, :], "reference (all planes)")]  # fmt: skip
    lo, hi = np.percentile(ref, [0.5, 99.8])
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.6))
    for ax, (img, title) in zip(axes, panels, strict=True):
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("x")
        ax.set_ylabel("z")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"xz slice of {name}: 0.79 um pixels, z resampled to the same; cut to 1 plane "
                 f"in {f} after an axial blur of 2 planes", fontsize=9)  # fmt: skip
    fig.tight_layout()
    out = ROOT / "docs" / "images" / "isotropic_xz.png"
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
