"""What a Gaussian PSF misses on each real pair: held-out residuals of the PSF families.

For every pair of ``bench_real_pairs.py`` (the whole field, not halves), the degradation is
fitted (Gaussian PSF, shift, gain, offset), then every family of
:mod:`napari_sisr.core.degradation.families` explains the pair again, fitted on half of the
LR pixels (a checkerboard of 16 x 16 blocks) and scored on the other half. Printed: the
fit's residual lag-1 autocorrelation and verdict, each family's held-out residual std
relative to the Gaussian PSF's, the family the fit names (it compares them only when the
residual is far from white, lag-1 above 0.5, and names one that leaves at most 80 % of the
Gaussian's residual variance), and the fit's time (the comparison included where it runs).
Where the fit compared the families, its own figures are printed; elsewhere they are
computed here, on the whole field.

    python benchmarks/bench_psf_families.py [--pairs sted_561,sim_high,...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_real_pairs import SETS, load_pair  # noqa: E402

from napari_sisr import fit_degradation  # noqa: E402
from napari_sisr.core.degradation.families import (  # noqa: E402
    AIRY,
    BACKGROUND,
    BETTER_RATIO,
    FREE,
    GAUSSIAN,
    FamilyScores,
    compare_psf_families,
)
from napari_sisr.core.degradation.quality import LAG1_DOUBTFUL  # noqa: E402

COLUMNS = (AIRY, GAUSSIAN + BACKGROUND, FREE, FREE + BACKGROUND)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default=",".join(SETS), help="comma-separated pair names")
    args = parser.parse_args(argv)
    head = ["pair", "lag-1", *(f"{c} / Gaussian" for c in COLUMNS), "named by the fit", "fit s"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name in args.pairs.split(","):
        lr, hr, s = load_pair(name)
        t0 = time.perf_counter()
        fit = fit_degradation(hr, lr, s)
        seconds = time.perf_counter() - t0
        compared = fit.notes.get("psf_families_residual_std")
        if compared:  # what the fit compared, and named from
            fam = FamilyScores(compared)
            said = fam.better or "-"
        else:
            fam = compare_psf_families(hr, lr, s, fit.sigma, *fit.shift_yx, lambda: None)
            said = "(not compared)" if fit.residual_lag1 > LAG1_DOUBTFUL else "-"
        ref = fam.residual_std[GAUSSIAN]
        ratios = [f"{fam.residual_std[c] / ref:.2f}" for c in COLUMNS]
        row = [name, f"{fit.residual_lag1:.2f}", *ratios, said, f"{seconds:.1f}"]
        print("| " + " | ".join(row) + " |", flush=True)
    limit = f"{BETTER_RATIO:g} x the Gaussian PSF's (std ratio <= {BETTER_RATIO**0.5:.2f})"
    print(f"\nnamed when lag-1 > {LAG1_DOUBTFUL} and the held-out residual variance <= {limit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
