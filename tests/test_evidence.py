"""Evidence without ground truth: the consistency map, resolution measures, split halves and
their front ends (Python, ``napari-sisr evidence`` / ``resolution``, ``predict --evidence``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from conftest import tiny_generator as tiny

from napari_sisr import DegradationParams, simulate_lr
from napari_sisr.cli import main
from napari_sisr.core.errors import InputError
from napari_sisr.core.evidence import decorrelation, evidence, frc_resolution, resolution
from napari_sisr.core.evidence.consistency import consistency
from napari_sisr.core.evidence.split import is_counts, split_halves, thinned_halves

TRUTH = DegradationParams(scale=2, sigma=1.5, noise_var=4.0, poisson_a=0.5, offset=10.0)


@pytest.fixture(scope="module")
def pair(actin):
    """A real HR image and a capture simulated from it with a known Poisson-Gaussian noise."""
    hr = actin[:192, :256] / actin.max() * 2000.0
    lr = simulate_lr(hr, TRUTH, rng=np.random.default_rng(1)).astype(np.float64)
    return hr, lr


def _noise():
    return (TRUTH.noise_var, TRUTH.poisson_a)


def test_the_true_image_is_consistent_with_its_capture(pair):
    """The HR image the capture was simulated from, taken back through the same degradation:
    about the 0.27 % of pixels that noise alone puts beyond |z| = 3."""
    hr, lr = pair
    c = consistency(hr, lr, 2, sigma=TRUTH.sigma, noise=(TRUTH.noise_var, TRUTH.poisson_a))
    assert c.flagged_fraction < 0.01, c.flagged_fraction
    assert abs(np.nanstd(c.z) - 1) < 0.15 and abs(c.residual_lag1) < 0.1
    assert c.rsp > 0.99 and c.gain == pytest.approx(TRUTH.gain, rel=0.02)
    assert not c.notes


def test_added_and_removed_structure_is_flagged_where_it_is(pair):
    hr, lr = pair
    sr = hr.copy()
    yy, xx = np.mgrid[: sr.shape[0], : sr.shape[1]]
    spot = 1500.0 * np.exp(-((yy - 100) ** 2 + (xx - 60) ** 2) / (2 * 2.0**2))
    sr += spot  # a bright spot the capture does not have
    sr[20:60, 150:200] = np.median(hr)  # an object deleted
    c = consistency(sr, lr, 2, sigma=TRUTH.sigma, noise=_noise())
    boxes = [r.bbox for r in c.regions]

    def hit(y, x):
        return any(y0 <= y < y1 and x0 <= x < x1 for y0, x0, y1, x1 in boxes)

    assert hit(50, 30), boxes  # the spot, on the LR grid
    assert any(r.kind == "not in the capture" for r in c.regions)
    assert any(r.kind == "missing in the result" for r in c.regions)


def test_a_wrong_psf_width_is_flagged_more_than_the_right_one(pair):
    hr, lr = pair
    right = consistency(hr, lr, 2, sigma=TRUTH.sigma, noise=_noise()).flagged_fraction
    wrong = consistency(hr, lr, 2, sigma=3 * TRUTH.sigma, noise=_noise()).flagged_fraction
    assert wrong > 3 * right, (right, wrong)


def test_tiled_map_equals_the_whole_plane_map(pair):
    hr, lr = pair
    whole = consistency(hr, lr, 2, sigma=TRUTH.sigma, noise=_noise())
    tiled = consistency(hr, lr, 2, sigma=TRUTH.sigma, noise=_noise(), tile=37)
    np.testing.assert_allclose(tiled.z, whole.z, rtol=0, atol=1e-5)
    assert tiled.flagged_fraction == pytest.approx(whole.flagged_fraction)


def test_an_unknown_psf_is_fitted_to_the_pair(pair):
    hr, lr = pair
    c = consistency(hr, lr, 2, noise=_noise())
    assert c.sigma == pytest.approx(TRUTH.sigma, abs=0.3)
    assert "fitted" in c.sigma_source


def test_decorrelation_reads_blur_and_pixel_size(actin):
    from scipy import ndimage

    img = actin[:256, :256]
    sharp, soft = decorrelation(img), decorrelation(ndimage.gaussian_filter(img, 3))
    assert soft.value > 1.3 * sharp.value, (sharp, soft)
    assert decorrelation(img, 50.0).value == pytest.approx(sharp.value * 50.0)
    assert resolution(img, 50.0).unit == "nm" and sharp.unit == "px"


def test_the_bundled_sted_image_is_finer_than_its_confocal_capture():
    from napari_sisr.sample_data import synapse_pair

    lr, hr = synapse_pair()
    assert decorrelation(hr, 15.0).value < decorrelation(lr, 60.0).value


def test_frc_of_an_image_with_itself_and_with_independent_noise():
    rng = np.random.default_rng(0)
    a = rng.random((128, 128))
    same = frc_resolution(a, a)
    assert same.kc == pytest.approx(1.0) and same.at_limit and "or finer" in same.text()
    other = frc_resolution(a, rng.random((128, 128)))
    assert other.kc < 0.2 and not other.at_limit


def test_a_directional_resolution_reads_the_blur_along_its_axis():
    from scipy import ndimage

    rng = np.random.default_rng(0)
    img = np.zeros((256, 256))
    img[tuple(rng.integers(0, 256, size=(2, 3000)))] = 1.0
    blurred = ndimage.gaussian_filter(img, (4.0, 1.0)) + rng.normal(0, 1e-3, img.shape)
    along_y, along_x = (decorrelation(blurred, axis=a).value for a in (0, 1))
    assert along_y > 2.5 * along_x
    assert decorrelation(blurred).value < 1.5 * along_x  # the whole disc: the best direction


def test_photon_counts_given_as_the_noise_are_scored_as_counts():
    """A noise model given as "variance = counts" scores a photon-count capture with the
    Poisson law, as the estimate from the capture does (a Gaussian z at a few counts flags
    every pixel that caught two photons where 0.3 were expected)."""
    rng = np.random.default_rng(3)
    truth = np.full((256, 256), 0.4) + 3.0 * (rng.random((256, 256)) > 0.97)
    lr = rng.poisson(simulate_lr(truth, DegradationParams(scale=2, sigma=1.0))).astype(float)
    found = consistency(truth, lr, 2, sigma=1.0)
    given = consistency(truth, lr, 2, sigma=1.0, noise=(0.0, 1.0))
    assert "photon counts" in found.noise_source and "photon counts" in given.noise_source
    np.testing.assert_allclose(given.z, found.z)
    assert given.flagged_fraction < 0.003


def test_split_halves_are_independent_and_sum_to_the_capture():
    rng = np.random.default_rng(0)
    counts = rng.poisson(5.0, (128, 128)).astype(np.float64)
    assert is_counts(counts) and not is_counts(counts + 100)
    a, b = thinned_halves(counts, rng=1)
    np.testing.assert_array_equal(a + b, 2 * counts)
    assert abs(np.corrcoef((a - a.mean()).ravel(), (b - b.mean()).ravel())[0, 1]) < 0.05
    noisy = 100 + rng.normal(0, 3, (128, 128))
    c, d, how = split_halves(noisy, noise_var=9.0, poisson_a=0.0, rng=2)
    np.testing.assert_allclose(c + d, 2 * noisy, rtol=1e-5)
    assert abs(np.corrcoef(c.ravel(), d.ravel())[0, 1]) < 0.05 and "recorrupted" in how


def test_evidence_with_a_model_measures_split_resolution_and_uncertainty(pair):
    import torch

    from napari_sisr import predict
    from napari_sisr.core.archs import build_generator

    hr, lr = pair
    lr = lr[:64, :64]
    torch.manual_seed(0)
    aware = build_generator("srresnet_da", "fast", 2, 1, n_blocks=1, nf=8, cond_features=8)
    aware = aware.eval()
    steer = {"sigma": 1.5, "noise_std": 0.01}
    sr = np.asarray(predict(lr, aware, degradation=steer, engine="torch", dtype="float32"))
    ev = evidence(sr, lr, 2, model=aware, degradation=steer, pixel_size_nm=100.0, crop=48)
    s = ev.summary()
    for key in ("rse", "rsp", "flagged_fraction", "resolution_lr", "resolution_sr"):
        assert key in s
    assert s["resolution_lr"]["unit"] == "nm" and s["sigma_hr_px"] == pytest.approx(1.5)
    assert ev.resolution_split is not None and ev.uncertainty is not None
    assert ev.uncertainty_map.shape == (96, 96)
    plain = evidence(sr, lr, 2, degradation=steer)
    assert plain.resolution_split is None and "no model given" in plain.notes[0]
    assert plain.resolution_lr.unit == plain.resolution_sr.unit == "LR px"  # no pixel size


def test_result_and_capture_resolutions_share_a_unit_without_a_pixel_size(pair):
    """The result's resolution, measured on its own grid (``scale`` px per capture px), is
    given in capture pixels: the HR image as the "result" reads finer than its capture (on
    its own grid the figure would be about twice as large, and read coarser)."""
    hr, lr = pair
    ev = evidence(hr, lr, 2, degradation=TRUTH)
    assert ev.resolution_lr.unit == ev.resolution_sr.unit == "LR px"
    assert 0 < ev.resolution_sr.value < ev.resolution_lr.value
    assert "LR px" in ev.resolution_sr.text()


def test_the_command_line_front_ends(tmp_path, pair, capsys):
    from napari_sisr.core.modelio import save_model

    hr, lr = pair
    tifffile.imwrite(tmp_path / "lr.tif", lr.astype(np.float32))
    tifffile.imwrite(tmp_path / "hr.tif", hr.astype(np.float32))
    assert main(["resolution", str(tmp_path / "hr.tif"), "--pixel-size-um", "0.05"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["unit"] == "nm" and line["resolution"] > 0
    assert main(["resolution", str(tmp_path / "hr.tif"), "--pixel-size-um", "60"]) == 2
    fit = tmp_path / "fit.json"
    TRUTH.save(fit)
    code = main(["evidence", str(tmp_path / "hr.tif"), str(tmp_path / "lr.tif"),
                 "--degradation", str(fit), "-o", str(tmp_path / "z.tif")])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    line = json.loads(out.out.strip().splitlines()[-1])
    for key in ("rse", "rsp", "flagged_fraction", "resolution_lr", "resolution_sr"):
        assert key in line
    assert line["scale"] == 2 and tifffile.imread(tmp_path / "z.tif").shape == lr.shape
    save_model(tmp_path / "m", tiny(2), {})
    code = main(["predict", str(tmp_path / "lr.tif"), "-o", str(tmp_path / "sr.tif"),
                 "--model", str(tmp_path / "m.json"), "--evidence", "-q"])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    line = json.loads(out.out.strip().splitlines()[-1])
    assert 0 <= line["evidence"]["flagged_fraction"] <= 1
    assert tifffile.imread(tmp_path / "sr.evidence.tif").shape == lr.shape


def test_an_image_without_structure_has_no_resolution():
    """Pure noise (on an offset, as every camera's) and a flat image have no resolution: the
    zero frequency must not be read as a peak (it once gave 98 px and 2 px)."""
    rng = np.random.default_rng(0)
    for image in (rng.poisson(20.0, (128, 128)), rng.normal(100.0, 1.0, (128, 128)),
                  np.full((128, 128), 5.0)):  # fmt: skip
        res = decorrelation(image)
        assert not np.isfinite(res.value) and res.as_dict()["value"] is None
        assert "not measurable" in res.text()


def test_the_json_lines_are_standard_json_when_nothing_is_measurable(tmp_path, capsys):
    def strict(text):
        return json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))

    tifffile.imwrite(tmp_path / "flat.tif", np.full((64, 64), 7, np.uint16))
    assert main(["resolution", str(tmp_path / "flat.tif")]) == 0
    line = strict(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["resolution"] is None and "not measurable" in line["text"]
    # a flat capture, as photon counts (zeros) or not (7): evidence that says so
    tifffile.imwrite(tmp_path / "sr.tif", np.random.default_rng(0).random((128, 128), np.float32))
    tifffile.imwrite(tmp_path / "zeros.tif", np.zeros((64, 64), np.uint16))
    for capture in ("flat.tif", "zeros.tif"):
        assert main(["evidence", str(tmp_path / "sr.tif"), str(tmp_path / capture)]) == 0
        line = strict(capsys.readouterr().out.strip().splitlines()[-1])
        assert line["resolution_lr"]["value"] is None
        assert any("capture is flat" in note for note in line["notes"]), line["notes"]


def test_print_json_writes_what_cannot_be_measured_as_null(capsys):
    from napari_sisr.cli._common import print_json

    print_json({"a": float("inf"), "b": [np.float32("nan"), 1.5], "c": {"d": np.float64(2)}})
    assert json.loads(capsys.readouterr().out) == {"a": None, "b": [None, 1.5], "c": {"d": 2.0}}


@pytest.mark.parametrize("sr_shape, scale, ok", [
    ((256, 256), 4, True), ((259, 257), 4, True),  # a few SR px beyond the capture are cut
    ((256, 256), 3, False), ((256, 256), 5, False), ((260, 256), 4, False), ((1000, 10), 4, False),
])  # fmt: skip
def test_an_sr_image_that_is_not_scale_times_the_capture_is_refused(sr_shape, scale, ok):
    rng = np.random.default_rng(0)
    lr, sr = rng.random((64, 64)) + 1, rng.random(sr_shape) + 1
    if ok:
        assert consistency(sr, lr, scale, sigma=1.0).z.shape == lr.shape
    else:
        with pytest.raises(InputError, match="is the scale right"):
            consistency(sr, lr, scale, sigma=1.0)


def test_resolution_reads_a_file_and_its_pixel_size_and_names_bad_arguments(tmp_path, actin):
    path = tmp_path / "actin.ome.tif"
    tifffile.imwrite(path, actin.astype(np.float32), metadata={"PhysicalSizeX": 0.08,
                     "PhysicalSizeY": 0.08, "PhysicalSizeXUnit": "µm"}, ome=True)  # fmt: skip
    from_file, from_array = resolution(path), resolution(actin, 80.0)
    assert from_file.unit == "nm" and from_file.value == pytest.approx(from_array.value)
    assert resolution(path, 40.0).value == pytest.approx(from_array.value / 2)
    for bad in (-5, 0, float("nan"), "80"):
        with pytest.raises(InputError, match="pixel size"):
            resolution(actin, bad)
    with pytest.raises(InputError, match="image array"):
        decorrelation(None)
    with pytest.raises(InputError, match="SR image and the capture"):
        evidence(None, actin, 2)


def test_a_flat_capture_gets_evidence_that_says_so(tmp_path):
    """A flat capture (a blank field) has no noise to estimate and nothing for two halves to
    agree on: the evidence says so in its notes instead of failing or claiming the pixel limit."""
    from napari_sisr.core.modelio import save_model

    model = save_model(tmp_path / "m", tiny(2), {})
    lr = np.full((64, 64), 7.0, np.float32)
    sr = np.full((128, 128), 7.0, np.float32)
    ev = evidence(sr, lr, 2, model=str(model))
    notes = " ".join(ev.summary()["notes"])
    assert "capture is flat" in notes and "agree on nothing" in notes
    assert ev.resolution_split is None and not np.isfinite(ev.resolution_lr.value)
    assert ev.summary()["noise_source"].startswith("none")


def test_the_noise_is_estimated_beside_a_blank_middle():
    from napari_sisr.core.evidence.tiled import NOISE_CROP, capture_noise

    rng = np.random.default_rng(0)
    side = 3 * NOISE_CROP
    lr = rng.normal(100.0, 5.0, (side, side)).astype(np.float32)
    lr[NOISE_CROP - 8 : 2 * NOISE_CROP + 8, NOISE_CROP - 8 : 2 * NOISE_CROP + 8] = 0.0
    (var, a), source = capture_noise(lr)  # variance var + a * intensity
    assert source == "estimated from the capture" and var + a * 100 == pytest.approx(25, rel=0.2)


def test_predict_keeps_its_result_where_the_capture_gives_no_evidence(tmp_path, capsys):
    from napari_sisr.core.modelio import save_model

    save_model(tmp_path / "m", tiny(2), {})
    rng = np.random.default_rng(0)
    tifffile.imwrite(tmp_path / "small.tif", rng.poisson(50.0, (20, 20)).astype(np.float32))
    code = main(["predict", str(tmp_path / "small.tif"), "-o", str(tmp_path / "sr.tif"),
                 "--model", str(tmp_path / "m.json"), "--evidence", "-q"])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    line = json.loads(out.out.strip().splitlines()[-1])
    assert "too small" in line["evidence"]["error"] and "not measured" in out.err
    assert tifffile.imread(tmp_path / "sr.tif").shape == (40, 40)
    assert not (tmp_path / "sr.evidence.tif").exists()
