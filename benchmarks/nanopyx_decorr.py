"""nanopyx's decorrelation analysis of the real pairs, for bench_evidence.py's comparison.

Runs in an environment with nanopyx installed (it is not a dependency of napari-sisr: it needs
pyopencl and opencv), reading the pairs the way ``bench_real_pairs.load_pair`` does, and
writes each pair's LR and HR figures (nm where the pixel size is known, else LR pixels), and
the same on central crops a few pixels smaller (how stable the figure is):

    python -m venv /tmp/npx && /tmp/npx/bin/pip install nanopyx==2.1.5 tifffile imageio
    /tmp/npx/bin/python benchmarks/nanopyx_decorr.py nanopyx.json
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

PIXEL_NM = {"sted_561": 60.0, "sted_640": 60.0, "sim_high": 60.0, "sim_low": 60.0}
#: Pixels cut from each side of the image for the crop-stability figures (0: the whole image).
CROP_TRIMS = (0, 1, 3, 8, 13)


def crops(img: np.ndarray):
    """The image's central crops, ``CROP_TRIMS`` pixels trimmed from every side."""
    return [img[t : img.shape[0] - t, t : img.shape[1] - t] for t in CROP_TRIMS]


def _read(path: Path) -> np.ndarray:
    import imageio.v3 as iio
    import tifffile

    a = tifffile.imread(path) if path.suffix == ".tif" else iio.imread(path)
    return np.asarray(a, np.float64)


def _bin(a: np.ndarray, k: int) -> np.ndarray:
    h, w = a.shape[0] // k * k, a.shape[1] // k * k
    return a[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3))


def pairs(root: Path):
    sted = root / "confocal_sted_synapses"
    for name, ch in (("sted_561", "chA_561"), ("sted_640", "chB_640")):
        stem = f"bassoon_homer_{ch}"
        yield name, _read(sted / f"{stem}_LR_confocal_60nm.tif"), _read(
            sted / f"{stem}_HR_STED_15nm.tif"), 4  # fmt: skip
    sim = root / "widefield_sim_microtubules"
    for name, light in (("sim_high", ("highlight", "HE", "HER")),
                        ("sim_low", ("lowlight", "LE", "LER"))):  # fmt: skip
        wf = _read(sim / f"WF_{light[0]}_avg15raw_{light[1]}_15.tif")
        yield name, _bin(wf, 2), _read(sim / f"SIM_{light[0]}_{light[2]}_Sample_1.tif"), 2
    caco = root / "confocal_pixel_density_caco2"
    for k in (2, 4):
        yield f"caco2_{k}x", _read(caco / f"div{k}.tif"), _read(caco / "div1.tif"), k
    srrf = root / "widefield_srrf"
    yield "srrf", _bin(_read(srrf / "bpae_widefield.tif"), 2), _read(srrf / "bpae_srrf.tif"), 2


def main(out: str) -> int:
    from nanopyx.core.analysis.decorr import DecorrAnalysis

    root = Path(os.environ.get("NAPARI_SISR_DATA", Path(__file__).resolve().parents[2] /
                               "shared" / "data")) / "pairs"  # fmt: skip
    results = {}
    for name, lr, hr, s in pairs(root):
        px = PIXEL_NM.get(name)
        figures = {}
        for key, img, size in (("lr", lr, px or 1.0), ("hr", hr, (px or 1.0) / s)):
            values = []
            for crop in crops(img):  # the first is the whole image
                d = DecorrAnalysis(pixel_size=size, units="nm" if px else "pixel")
                d.run_analysis(crop.astype(np.float32))
                values.append(float(d.resolution))
            figures[key], figures[f"{key}_crops"] = values[0], values
        results[name] = figures
        print(name, figures, flush=True)
    Path(out).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "nanopyx.json"))
