"""Real, redistributable sample images for napari's File > Open Sample menu.

See ``ATTRIBUTION.md`` beside this module for sources and licences.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

#: Parameters of the simulated LR sample (a 4x widefield-like degradation).
SAMPLE_DEGRADATION = {
    "scale": 4,
    "sigma": 2.0,
    "noise_var": 60.0**2,
    "gain": 1.0,
    "offset": 100.0,
    "shift_yx": (0.0, 0.0),
}


def bpae_actin_hr() -> np.ndarray:
    """The 512 x 512 real widefield BPAE actin crop (uint16)."""
    import tifffile

    return tifffile.imread(HERE / "bpae_actin_hr.tif")


def bpae_actin_lr() -> np.ndarray:
    """A 4x LR capture simulated from :func:`bpae_actin_hr` (seeded; see SAMPLE_DEGRADATION)."""
    from ..core.degradation.params import DegradationParams
    from ..core.degradation.simulate import simulate_lr

    params = DegradationParams(**SAMPLE_DEGRADATION)
    return simulate_lr(bpae_actin_hr(), params, rng=np.random.default_rng(0))


def tirf_storm_pair() -> tuple[np.ndarray, np.ndarray]:
    """The real TIRF (LR) and STORM (HR) images of the same cell, as 8-bit arrays."""
    import imageio.v3 as iio

    return iio.imread(HERE / "cell2_tirf_lr.jpg"), iio.imread(HERE / "cell2_storm_hr.jpg")


#: Pixel sizes (micrometres) of the real confocal / STED synapse pair.
SYNAPSE_PIXEL_UM = {"lr": 0.060, "hr": 0.015}


def synapse_pair() -> tuple[np.ndarray, np.ndarray]:
    """The real confocal (LR, 60 nm pixels) and STED (HR, 15 nm pixels) images of the same
    synapses (Bassoon, 561 nm channel), uint16: exactly 4x apart, registered to ~1 LR px."""
    import tifffile

    return (
        tifffile.imread(HERE / "synapse_confocal_lr.tif"),
        tifffile.imread(HERE / "synapse_sted_hr.tif"),
    )


def _attribution(what: str) -> str:
    return f"{what}. Sources and licences: napari_sisr/sample_data/ATTRIBUTION.md"


def napari_bpae_pair():
    """npe2 sample: the real HR crop and its simulated 4x LR capture, overlaid."""
    hr = bpae_actin_hr()
    s = SAMPLE_DEGRADATION["scale"]
    lr = bpae_actin_lr()
    offset = 0.5 * (s - 1)  # LR pixel i covers HR pixels s*i .. s*i+s-1: centre at s*i + (s-1)/2
    return [
        (
            hr,
            {
                "name": "BPAE actin (HR)",
                "colormap": "gray",
                "metadata": {"attribution": _attribution("Real widefield image, CC-BY-4.0")},
            },
            "image",
        ),
        (
            lr,
            {
                "name": "BPAE actin (simulated 4x LR)",
                "scale": (s, s),
                "translate": (offset, offset),
                "colormap": "gray",
                "metadata": {
                    "degradation": SAMPLE_DEGRADATION,
                    "attribution": _attribution("Simulated from the real HR crop"),
                },
            },
            "image",
        ),
    ]


def napari_tirf_storm():
    """npe2 sample: the real TIRF / STORM pair (not registered; about 7.3x apart)."""
    lr, hr = tirf_storm_pair()
    fy, fx = hr.shape[0] / lr.shape[0], hr.shape[1] / lr.shape[1]
    return [
        (
            hr,
            {
                "name": "COS-7 tubulin STORM (HR)",
                "colormap": "magma",
                "metadata": {"attribution": _attribution("Real STORM reconstruction, CC-BY-4.0")},
            },
            "image",
        ),
        (
            lr,
            {
                "name": "COS-7 tubulin TIRF (LR)",
                "colormap": "magma",
                "scale": (fy, fx),
                "translate": (0.5 * (fy - 1), 0.5 * (fx - 1)),
                "metadata": {"attribution": _attribution("Real TIRF image, CC-BY-4.0")},
            },
            "image",
        ),
    ]


def napari_synapse_pair():
    """npe2 sample: the real confocal / STED pair in micrometres (physical units in napari)."""
    lr, hr = synapse_pair()
    p_lr, p_hr = SYNAPSE_PIXEL_UM["lr"], SYNAPSE_PIXEL_UM["hr"]
    # LR pixel i covers HR pixels 4i .. 4i+3: its centre lies 1.5 HR px past HR pixel 4i.
    offset = 0.5 * (p_lr - p_hr)
    physical = {"units": ("µm", "µm"), "axis_labels": ("y", "x")}
    credit = "Real {} image, BSD licence (Bouchard et al. 2023, see LICENSE-synapses.txt)"
    return [
        (
            hr,
            {
                "name": "Synapses STED (HR, 15 nm)",
                "colormap": "magma",
                "scale": (p_hr, p_hr),
                **physical,
                "metadata": {"attribution": _attribution(credit.format("STED"))},
            },
            "image",
        ),
        (
            lr,
            {
                "name": "Synapses confocal (LR, 60 nm)",
                "colormap": "magma",
                "scale": (p_lr, p_lr),
                "translate": (offset, offset),
                **physical,
                "metadata": {"attribution": _attribution(credit.format("confocal"))},
            },
            "image",
        ),
    ]
