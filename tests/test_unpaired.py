"""Unpaired fallback: noise from the LR image alone, PSF width from the optics."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import tifffile
from test_cli import cli, last_json

from napari_sisr import DegradationParams, estimate_noise, sigma_from_optics, simulate_lr
from napari_sisr.core.degradation.unpaired import unpaired_params


def _blurred(hr: np.ndarray, scale: int = 2, sigma: float = 2.0) -> np.ndarray:
    return simulate_lr(hr, DegradationParams(scale=scale, sigma=sigma), noise=False)


@pytest.mark.parametrize("frac", [0.01, 0.02, 0.05])
@pytest.mark.parametrize("seed", [0, 1])
def test_gaussian_noise_on_real_image(actin, frac, seed):
    clean = _blurred(actin[:512, :512]).astype(np.float64)
    std = frac * np.ptp(clean)
    noisy = clean + std * np.random.default_rng(seed).standard_normal(clean.shape)
    var, a = estimate_noise(noisy)
    assert a is None
    assert abs(var / std**2 - 1) < 0.10


def test_noise_on_second_real_image(nuclei):
    clean = _blurred(nuclei.astype(np.float64), sigma=1.5).astype(np.float64)
    std = 0.02 * np.ptp(clean)
    noisy = clean + std * np.random.default_rng(3).standard_normal(clean.shape)
    assert abs(estimate_noise(noisy)[0] / std**2 - 1) < 0.10


def test_noise_free_image_reads_as_much_less_noisy(actin):
    # The estimate must follow the noise, not the image structure: without added noise the
    # estimate is far below the smallest level tested above.
    clean = _blurred(actin[:512, :512]).astype(np.float64)
    assert estimate_noise(clean)[0] < 0.2 * (0.01 * np.ptp(clean)) ** 2


def test_poisson_gaussian_roughly(actin):
    hr = actin[:512, :512]
    gain = 1000.0 / np.ptp(_blurred(hr))
    true = DegradationParams(scale=2, sigma=2.0, gain=gain, noise_var=25.0, poisson_a=2.0)
    lr = simulate_lr(hr, true, rng=np.random.default_rng(1))
    b, a = estimate_noise(lr, poisson=True)
    assert abs(a / 2.0 - 1) < 0.10
    assert 10.0 < b < 40.0  # b is the small term next to a * signal (up to 2000): rough


def test_estimate_noise_rejects_bad_input():
    with pytest.raises(ValueError, match="2D"):
        estimate_noise(np.zeros((3, 40, 40)))
    with pytest.raises(ValueError, match="constant"):
        estimate_noise(np.ones((64, 64)))
    bad = np.random.default_rng(0).random((64, 64))
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        estimate_noise(bad)
    with pytest.raises(ValueError, match="too small"):
        estimate_noise(np.random.default_rng(0).random((20, 64)))


# ------------------------------------------------------------------------------ optics
def test_sigma_from_optics_matches_the_airy_width():
    # 520 nm emission, NA 1.4, 0.1 um LR pixels, x4: HR pixels of 25 nm. The Airy disc's FWHM
    # is about 0.51 lambda / NA; a Gaussian of the same FWHM has sigma = FWHM / 2.355.
    sigma = sigma_from_optics(520, 1.4, 0.1, 4)
    airy_sigma_hr_px = 0.51 * 0.520 / 1.4 / (2 * math.sqrt(2 * math.log(2))) / (0.1 / 4)
    assert sigma == pytest.approx(airy_sigma_hr_px, rel=0.05)
    assert 2.9 < sigma < 3.3
    # sigma in HR pixels scales with the scale and the wavelength, inversely with NA and pixel.
    assert sigma_from_optics(520, 1.4, 0.1, 2) == pytest.approx(sigma / 2)
    assert sigma_from_optics(1040, 1.4, 0.1, 4) == pytest.approx(2 * sigma)
    assert sigma_from_optics(520, 0.7, 0.1, 4) == pytest.approx(2 * sigma)
    assert sigma_from_optics(520, 1.4, 0.2, 4) == pytest.approx(sigma / 2)
    assert sigma_from_optics(520, 1.4, 0.1, 4, modality="confocal") < sigma


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"wavelength_nm": -520}, "wavelength_nm"),
        ({"na": 0.0}, "na"),
        ({"na": 2.0}, "outside what a light microscope has"),
        ({"lr_pixel_um": float("nan")}, "lr_pixel_um"),
        ({"modality": "lightsheet"}, "modality"),
    ],
)
def test_sigma_from_optics_errors(kwargs, match):
    args = {"wavelength_nm": 520, "na": 1.4, "lr_pixel_um": 0.1, "scale": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        sigma_from_optics(**args)


def test_unpaired_params(actin):
    clean = _blurred(actin[:512, :512]).astype(np.float64)
    noisy = clean + 50.0 * np.random.default_rng(2).standard_normal(clean.shape)
    p = unpaired_params(noisy, 4, wavelength_nm=520, na=1.4, lr_pixel_um=0.1)
    assert p.source == "unpaired" and p.scale == 4 and p.gain == 1.0 and p.offset == 0.0
    assert p.sigma == pytest.approx(sigma_from_optics(520, 1.4, 0.1, 4))
    assert abs(p.noise_var / 2500.0 - 1) < 0.10
    assert unpaired_params(noisy, 4, sigma=2.5).sigma == 2.5
    with pytest.raises(ValueError, match="give sigma"):
        unpaired_params(noisy, 4, na=1.4)


# --------------------------------------------------------------------------------- CLI
def test_cli_noise_from_optics_and_sigma(tmp_path, actin):
    clean = _blurred(actin[:512, :512]).astype(np.float32)
    lr = tmp_path / "lr.tif"
    tifffile.imwrite(lr, clean + 40.0 * np.random.default_rng(4).standard_normal(clean.shape))
    out = cli(
        "noise", lr, "--scale", 4, "--wavelength-nm", 520, "--na", 1.4, "--pixel-size-um", 0.1,
        "-o", tmp_path / "p.json",
    )  # fmt: skip
    got = last_json(out)
    assert {"scale", "sigma", "noise_var", "shift_yx", "gain", "offset", "residual_std"} <= set(got)
    assert got["sigma"] == pytest.approx(sigma_from_optics(520, 1.4, 0.1, 4))
    assert abs(got["noise_var"] / 1600.0 - 1) < 0.10
    assert DegradationParams.load(tmp_path / "p.json").summary() == got
    # the optics in one flag, as predict takes them (pixel in nm there)
    one = last_json(cli("noise", lr, "--scale", 4, "--optics", "NA=1.4,wavelength=520,pixel=100"))
    assert one["sigma"] == pytest.approx(got["sigma"]) and one["noise_var"] == got["noise_var"]
    # the units in the names, and the older spellings still read
    named = "NA=1.4,wavelength_nm=520,pixel_nm=100"
    assert last_json(cli("noise", lr, "--scale", 4, "--optics", named))["sigma"] == one["sigma"]
    old = cli("noise", lr, "--scale", 4, "--wavelength", 520, "--na", 1.4, "--pixel-size", 0.1)
    assert last_json(old)["sigma"] == pytest.approx(got["sigma"])
    confocal = last_json(
        cli("noise", lr, "--scale", 4, "--optics", "NA=1.4,wavelength=520,pixel=100",
            "--modality", "confocal")
    )  # fmt: skip
    assert confocal["sigma"] == pytest.approx(
        sigma_from_optics(520, 1.4, 0.1, 4, modality="confocal")
    )
    direct = last_json(cli("noise", lr, "--scale", 2, "--sigma", 1.7))
    assert direct["sigma"] == 1.7 and direct["scale"] == 2
    assert json.loads(json.dumps(direct))["source"] == "unpaired"


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--na", 1.4], "missing --wavelength-nm, --pixel-size-um"),
        (["--sigma", 2, "--na", 1.4], "not both"),
        (
            ["--wavelength", 520, "--na", 3.0, "--pixel-size", 0.1],
            "outside what a light microscope has",
        ),
        (["--optics", "NA=1.4,wavelength=520"], "pixel size is needed"),
        (["--optics", "NA=1.4,wavelength=520,pixel=100", "--sigma", 2], "--optics or --sigma"),
        (["--optics", "NA=1.4,wavelength=520,pixel=100", "--na", 1.2], "--optics or --na"),
    ],
)
def test_cli_noise_errors(tmp_path, nuclei, extra, needle):
    lr = tmp_path / "lr.tif"
    tifffile.imwrite(lr, nuclei)
    out = cli("noise", lr, "--scale", 4, *extra, check=False)
    assert out.returncode == 2 and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], out.stderr
