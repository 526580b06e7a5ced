"""Sample data: real files shipped in the package, with attribution, loadable headless."""

import numpy as np

from napari_sisr import sample_data
from napari_sisr.core.degradation.fit import fit_degradation
from napari_sisr.core.degradation.params import DegradationParams


def test_samples_load_and_are_attributed():
    assert (sample_data.HERE / "ATTRIBUTION.md").exists()
    layers = sample_data.napari_bpae_pair() + sample_data.napari_tirf_storm()
    assert len(layers) == 4
    for data, meta, kind in layers:
        assert kind == "image" and data.ndim == 2 and data.size > 0
        assert "attribution" in meta["metadata"]


def test_simulated_sample_is_what_its_metadata_says():
    hr = sample_data.bpae_actin_hr()
    lr = sample_data.bpae_actin_lr()
    assert hr.shape == (512, 512) and lr.shape == (128, 128)
    fit = fit_degradation(hr, lr, 4)
    true = DegradationParams(**sample_data.SAMPLE_DEGRADATION)
    assert abs(fit.sigma / true.sigma - 1) < 0.05
    assert abs(np.sqrt(fit.noise_var) / np.sqrt(true.noise_var) - 1) < 0.05
