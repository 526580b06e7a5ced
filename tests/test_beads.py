"""The PSF from an image of beads: fits on simulated beads of known width, the real bead
stack, what is set aside, the degradation JSON it writes and ``napari-sisr psf``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import shared_path

from napari_sisr import DegradationParams
from napari_sisr.cli import main
from napari_sisr.core.degradation.beads import _model, fit_beads
from napari_sisr.core.errors import InputError


def _beads(shape, sigma, n, rng, amp=300.0, bg=10.0, apart=True):
    """Beads of known width (pixel-integrated laterally) with Poisson noise."""
    grids = list(np.meshgrid(*[np.arange(k, dtype=float) for k in shape], indexing="ij"))
    img = np.zeros(shape)
    centres: list[np.ndarray] = []
    while len(centres) < n:
        c = np.array([rng.uniform(4 * s, k - 4 * s) for k, s in zip(shape, sigma, strict=True)])
        if apart and any(np.all(np.abs(c - o) < 8 * np.array(sigma)) for o in centres):
            continue
        centres.append(c)
        img += _model(np.array([amp * rng.uniform(0.6, 1.4), 0, *c, *sigma]), grids, len(shape))
    return rng.poisson(img + bg).astype(np.uint16)


@pytest.mark.parametrize("sigma", [(1.3, 1.3), (2.0, 2.6), (3.2, 3.2)])
def test_2d_beads_of_known_width_within_5_percent(sigma):
    fit = fit_beads(_beads((160, 160), sigma, 6, np.random.default_rng(1)), 0.1)
    assert len(fit.beads) >= 4
    np.testing.assert_allclose(fit.sigma_px, sigma, rtol=0.05)
    np.testing.assert_allclose(fit.sigma_nm(), [100 * s for s in sigma], rtol=0.05)


@pytest.mark.parametrize("sigma", [(3.0, 1.5, 1.5), (5.0, 2.2, 1.8)])
def test_3d_beads_of_known_width_within_5_percent(sigma):
    fit = fit_beads(_beads((64, 96, 96), sigma, 5, np.random.default_rng(2)), (0.2, 0.05, 0.05))
    assert len(fit.beads) >= 3 and fit.ndim == 3
    np.testing.assert_allclose(fit.sigma_px, sigma, rtol=0.05)
    params = fit.to_params(4)
    assert params.source == "beads"
    assert params.sigma_yx == pytest.approx((4 * sigma[1], 4 * sigma[2]), rel=0.05)
    # for captures of 100 nm pixels: half the widths in their pixels
    other = fit.to_params(2, pixel_um=0.1)
    assert other.sigma_yx == pytest.approx((sigma[1], sigma[2]), rel=0.05)


def test_saturated_and_crowded_beads_are_set_aside():
    rng = np.random.default_rng(3)
    img = _beads((160, 160), (1.5, 1.5), 5, rng).astype(np.float64)
    grids = list(np.meshgrid(np.arange(160.0), np.arange(160.0), indexing="ij"))
    for centre, amp in (((150.0, 10.0), 1e6), ((150.0, 80.0), 400.0), ((150.0, 87.0), 400.0)):
        img += _model(np.array([amp, 0, *centre, 1.5, 1.5]), grids, 2)  # saturated; a pair
    img = np.clip(img, 0, 65535).astype(np.uint16)
    img[150, 10] = 65535
    fit = fit_beads(img, max_beads=100)
    assert fit.rejected.get("saturated") == 1
    assert fit.rejected.get("with a neighbour within the fitting window") == 2
    np.testing.assert_allclose(fit.sigma_px, (1.5, 1.5), rtol=0.05)


def test_the_bead_size_is_taken_out():
    img = _beads((160, 160), (3.0, 3.0), 6, np.random.default_rng(4))
    plain = fit_beads(img, 0.02)
    sized = fit_beads(img, 0.02, bead_nm=100.0)
    # a 100 nm ball adds (5 px)^2 / 20 = 1.25 px^2 of variance per axis
    np.testing.assert_allclose(
        np.square(plain.sigma_px) - np.square(sized.sigma_px), 1.25, rtol=0.01
    )


@pytest.mark.parametrize(
    "image, match",
    [
        (np.zeros((64, 64), np.uint16) + 5, "no bead"),
        (np.zeros((8, 8)), "too small"),
        (np.zeros((4, 4, 4, 4)), "2D"),
    ],
)
def test_what_is_not_a_bead_image_is_named(image, match):
    with pytest.raises(InputError, match=match):
        fit_beads(image)


def test_a_stack_needs_its_z_step():
    with pytest.raises(InputError, match="z step"):
        fit_beads(np.zeros((16, 64, 64)), (0.05, 0.05))


def test_the_real_bead_stack(tmp_path, capsys):
    """The bead stack of the shared data: every bead agrees with the others within 3 %, the
    axial width is 2 to 4 times the lateral one, and the CLI writes a JSON predict takes."""
    path = shared_path("stack_3d/beads_zyx.tif")
    out, picture = tmp_path / "psf.json", tmp_path / "beads.png"
    code = main(
        [
            "psf",
            str(path),
            "-o",
            str(out),
            "--scale",
            "4",
            "--picture",
            str(picture),
            "--capture-pixel-size-um",
            "0.1",
        ]
    )
    assert code == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["n_beads"] >= 3
    nm = line["sigma_nm"]
    spread = line["spread_nm"]
    assert all(spread[a] < 0.03 * nm[a] for a in "zyx")
    assert 2 < nm["z"] / (0.5 * (nm["y"] + nm["x"])) < 4
    params = DegradationParams.load(out)
    assert params.source == "beads"
    # 100 nm capture pixels at 4x: 25 nm HR pixels
    assert params.sigma_yx == pytest.approx((nm["y"] / 25.0, nm["x"] / 25.0), rel=1e-6)
    assert picture.stat().st_size > 1000
    assert main(["psf", str(path), "-o", str(out)]) == 2  # never over a file unasked
    assert "exists" in capsys.readouterr().err


def test_a_bead_json_steers_with_the_image_noise(actin):
    """A bead measurement gives the PSF only: the noise is read from the image, and the note
    names the beads."""
    from test_degradation_aware import steered_net

    from napari_sisr.core.inference.predict import prepare

    fit = fit_beads(_beads((128, 128), (1.0, 1.0), 6, np.random.default_rng(5)), 0.1)
    params = fit.to_params(2)
    job = prepare(actin[:96, :96].astype(np.float32), steered_net(), degradation=params)
    steered = job.steered
    assert steered.tags == {"sigma": "beads", "noise": "auto"}
    assert "bead measurement" in steered.note and steered.condition[2] > 0
    assert steered.condition[0] == pytest.approx(2 * fit.sigma_px[0])
