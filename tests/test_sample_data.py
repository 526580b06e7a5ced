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


def test_synapse_sample_carries_physical_units_and_overlays():
    (hr, hr_kw, _), (lr, lr_kw, _) = sample_data.napari_synapse_pair()
    assert hr.shape == (508, 508) and lr.shape == (127, 127) and hr.dtype == np.uint16
    assert hr_kw["units"] == lr_kw["units"] == ("µm", "µm")
    assert hr_kw["scale"] == (0.015, 0.015) and lr_kw["scale"] == (0.06, 0.06)
    # LR pixel i is the mean of HR pixels 4i .. 4i+3: centres coincide in world coordinates
    centre_lr = lr_kw["translate"][0] + 0.06 * 10
    centre_hr = 0.015 * (4 * 10 + 1.5)
    assert np.isclose(centre_lr, centre_hr)
    assert "BSD" in lr_kw["metadata"]["attribution"]
    assert (sample_data.HERE / "LICENSE-synapses.txt").exists()


def test_synapse_sample_files_carry_their_pixel_size():
    from napari_sisr.core.inference.input import canonical_input

    inp = canonical_input(sample_data.HERE / "synapse_confocal_lr.tif")
    assert abs(inp.pixel_size["x"] - 0.06) < 1e-9
    assert inp.units.get("x") == "micrometer"


def test_synapse_sample_in_a_real_viewer(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-sisr", "synapse_confocal_sted_pair")
    assert len(viewer.layers) == 2
    for layer in viewer.layers:
        assert str(layer.units[0]) in ("micrometer", "µm")
