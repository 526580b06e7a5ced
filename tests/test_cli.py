"""``napari-sisr simulate`` and ``napari-sisr fit`` driven as subprocesses on real images."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from conftest import FIXTURES, shared_path

import napari_sisr
from napari_sisr import DegradationParams

SRC = Path(napari_sisr.__file__).resolve().parents[1]
#: The packaged real BPAE actin sample (512 x 512 uint16), the ``actin`` fixture's file.
ACTIN = SRC / "napari_sisr" / "sample_data" / "bpae_actin_hr.tif"
KEYS = {"scale", "sigma", "noise_var", "shift_yx", "gain", "offset", "residual_std"}
#: Rec. 709 luminance weights: the noise variance of the luminance is sum(w^2) times a channel's.
LUMA_VAR = float(np.sum(np.square([0.2126, 0.7152, 0.0722])))


def cli(*args, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-m", "napari_sisr.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    if check:
        assert out.returncode == 0, out.stderr
    return out


def last_json(out: subprocess.CompletedProcess) -> dict:
    """The last stdout line must be one JSON object (the contract scripts rely on)."""
    lines = out.stdout.strip().splitlines()
    assert lines, f"no output; stderr: {out.stderr}"
    data = json.loads(lines[-1])
    assert isinstance(data, dict)
    return data


def simulate(hr, lr, *, scale, sigma, shift, gain, offset, noise_var, seed, extra=()):
    return cli(
        "simulate", hr, "-o", lr, "--scale", scale, "--sigma", sigma, "--shift", *shift,
        "--gain", gain, "--offset", offset, "--noise-var", noise_var, "--seed", seed, *extra,
    )  # fmt: skip


def assert_near(fit: dict, truth: dict, noise_var: float, noise_tol: float = 0.05) -> None:
    """The accuracy the fit promises: sigma 5 %, shift 0.25 HR px, gain 2 %, noise as given."""
    assert KEYS <= fit.keys()
    assert fit["scale"] == truth["scale"]
    assert abs(fit["sigma"] / truth["sigma"] - 1) < 0.05, fit["sigma"]
    assert np.max(np.abs(np.subtract(fit["shift_yx"], truth["shift"]))) < 0.25, fit["shift_yx"]
    assert abs(fit["gain"] / truth["gain"] - 1) < 0.02, fit["gain"]
    assert abs(fit["noise_var"] / noise_var - 1) < noise_tol, (fit["noise_var"], noise_var)
    assert fit["residual_std"] == pytest.approx(np.sqrt(fit["noise_var"]), rel=1e-6)


TRUTH = {"scale": 4, "sigma": 2.2, "shift": (1.3, -0.7), "gain": 0.5, "offset": 100.0}


def test_console_script_is_installed():
    script = Path(sys.executable).parent / ("napari-sisr" + (".exe" if os.name == "nt" else ""))
    assert script.exists(), f"console script missing: {script}"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    out = subprocess.run([script, "--version"], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and out.stdout.strip() == f"napari-sisr {napari_sisr.__version__}"


def test_simulate_is_reproducible_then_fit_recovers_and_saves(tmp_path):
    hr = ACTIN
    t = dict(TRUTH, noise_var=150.0**2)
    outs = []
    for name, seed in [("a.tif", 3), ("b.tif", 3), ("c.tif", 4)]:
        last_json(simulate(hr, tmp_path / name, seed=seed, **t))
        outs.append(tifffile.imread(tmp_path / name))
    assert outs[0].shape == (512 // 4, 512 // 4) and outs[0].dtype == np.float32
    np.testing.assert_array_equal(outs[0], outs[1])
    assert not np.array_equal(outs[0], outs[2])
    # Refuses to overwrite without --overwrite, and leaves the first output intact.
    refused = cli("simulate", hr, "-o", tmp_path / "a.tif", "--seed", 9, check=False)
    assert refused.returncode == 2 and "--overwrite" in refused.stderr
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "a.tif"), outs[0])

    out = cli("fit", hr, tmp_path / "a.tif", "--scale", 4, "-o", tmp_path / "params.json")
    fit = last_json(out)
    assert_near(fit, t, t["noise_var"])
    loaded = DegradationParams.load(tmp_path / "params.json")
    assert loaded.source == "fit"
    # the noise from the LR image itself: the capture's noise, recorded as such
    own = last_json(cli("fit", hr, tmp_path / "a.tif", "--scale", 4, "-q", "--noise", "image",
                        "-o", tmp_path / "own.json"))  # fmt: skip
    assert abs((own["noise_var"] / fit["noise_var"]) ** 0.5 - 1) < 0.25
    assert DegradationParams.load(tmp_path / "own.json").notes["noise_from"] == "image"
    assert {**loaded.summary(), "quality": loaded.notes["quality"]} == fit
    assert fit["quality"]["verdict"] == "ok"


def test_ome_tiff_in_and_out(tmp_path):
    actin = tifffile.imread(ACTIN)
    hr = tmp_path / "hr.ome.tif"
    tifffile.imwrite(hr, actin, ome=True, metadata={"axes": "YX"})
    assert tifffile.TiffFile(hr).is_ome
    t = dict(TRUTH, scale=2, sigma=1.6, noise_var=80.0**2)
    simulate(hr, tmp_path / "lr.ome.tif", seed=1, **t)
    assert tifffile.TiffFile(tmp_path / "lr.ome.tif").is_ome
    assert_near(last_json(cli("fit", hr, tmp_path / "lr.ome.tif", "--scale", 2)), t, t["noise_var"])


def test_png_8bit(tmp_path):
    # A real 8-bit PNG as HR, the LR written as 8-bit PNG: rounding adds 1/12 to the variance.
    hr = shared_path("fluorescence_2d/nuclei_dapi_confocal.png")
    t = dict(TRUTH, offset=10.0, gain=0.8, noise_var=9.0)  # LR stays below 255: no clipping
    simulate(hr, tmp_path / "lr.png", seed=2, extra=("--dtype", "input"), **t)
    fit = last_json(cli("fit", hr, tmp_path / "lr.png", "--scale", 4, "-q"))
    assert_near(fit, t, t["noise_var"] + 1 / 12)


def test_jpeg_8bit_rgb_on_luminance(tmp_path):
    # A real RGB JPEG as HR and an RGB JPEG (quality 95) as LR, fitted on the luminance. JPEG's
    # error is neither white nor independent of the image: chroma subsampling and the DCT
    # quantisation remove part of the noise and add compression error, so the fitted noise of a
    # JPEG is only near the true one (measured within about 10 %); the geometry is unaffected.
    hr = shared_path("histology/he_tcia.jpg")
    t = dict(TRUTH, scale=2, sigma=1.8, gain=0.8, offset=20.0, noise_var=16.0)
    simulate(hr, tmp_path / "lr.jpg", seed=1, extra=("--dtype", "input"), **t)
    fit = last_json(cli("fit", hr, tmp_path / "lr.jpg", "--scale", 2, "-q"))
    assert_near(fit, t, (t["noise_var"] + 1 / 12) * LUMA_VAR, noise_tol=0.25)


def test_rgb_luminance_and_channel(tmp_path):
    hr = shared_path("fluorescence_2d/hela_cells_rgb16.tif")
    t = dict(TRUTH, scale=2, sigma=1.8, noise_var=400.0)
    simulate(hr, tmp_path / "lr.tif", seed=5, **t)
    assert tifffile.imread(tmp_path / "lr.tif").shape == (256, 336, 3)
    lum = last_json(cli("fit", hr, tmp_path / "lr.tif", "--scale", 2, "-q"))
    assert_near(lum, t, t["noise_var"] * LUMA_VAR)
    red = last_json(cli("fit", hr, tmp_path / "lr.tif", "--scale", 2, "-q", "--channel", 0))
    assert_near(red, t, t["noise_var"])


# ------------------------------------------------------------------------------ bad input
def _bad_inputs(tmp_path: Path) -> dict[str, tuple[list, str]]:
    hr = FIXTURES / "nuclei_dsb2018.tif"
    lr = np.asarray(tifffile.imread(hr), dtype=np.float32)[::4, ::4].copy()
    rgb = tmp_path / "rgb.tif"  # three real channels: nuclei, actin, nuclei
    nuc = tifffile.imread(hr)
    tifffile.imwrite(rgb, np.stack([nuc, tifffile.imread(ACTIN), nuc], axis=-1), photometric="rgb")
    two = tmp_path / "two_channels.tif"
    tifffile.imwrite(two, np.stack([lr[:128, :128]] * 2))
    const = tmp_path / "constant.tif"
    tifffile.imwrite(const, np.full((128, 128), 7.0, np.float32))
    nan = tmp_path / "nan.tif"
    lr[5, 9] = np.nan
    tifffile.imwrite(nan, lr)
    return {
        "missing": (["fit", hr, tmp_path / "nope.tif", "--scale", 4], "not found"),
        "not_smaller": (["fit", hr, hr, "--scale", 4], "not smaller"),
        "channels": (["fit", rgb, two, "--scale", 4], "mismatched channels"),
        "channel_index": (["fit", hr, const, "--scale", 4, "--channel", 2], "mismatched channels"),
        "constant": (["fit", hr, const, "--scale", 4], "constant"),
        "nan": (["fit", hr, nan, "--scale", 4], "NaN"),
        "bad_param": (["simulate", hr, "-o", tmp_path / "x.tif", "--gain", 0], "gain"),
        "png_float": (["simulate", hr, "-o", tmp_path / "x.png"], "--dtype input"),
    }


@pytest.mark.parametrize(
    "case",
    ["missing", "not_smaller", "channels", "channel_index", "constant", "nan", "bad_param",
     "png_float"],
)  # fmt: skip
def test_bad_input_exits_2_with_one_line(tmp_path, case):
    args, needle = _bad_inputs(tmp_path)[case]
    out = cli(*args, check=False)
    assert out.returncode == 2, (out.returncode, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert needle in lines[0] and lines[0].startswith(f"napari-sisr {args[0]}: error:")
    assert out.stdout == ""
    assert not (tmp_path / "x.tif").exists() and not (tmp_path / "x.png").exists()


def test_a_failed_fit_is_refused_unless_forced(tmp_path, actin):
    hr = tmp_path / "hr.tif"
    tifffile.imwrite(hr, actin.astype(np.float32))
    simulate(hr, tmp_path / "lr.tif", scale=4, sigma=2.0, shift=(0, 0), gain=1, offset=0,
             noise_var=100.0, seed=0)  # fmt: skip
    wrong = cli("fit", hr, tmp_path / "lr.tif", "--scale", 2, "-q", "-o", tmp_path / "p.json",
                check=False)  # fmt: skip
    assert wrong.returncode == 2 and "failed its checks" in wrong.stderr
    assert "--force" in wrong.stderr and not (tmp_path / "p.json").exists()
    forced = cli("fit", hr, tmp_path / "lr.tif", "--scale", 2, "-q", "-o", tmp_path / "p.json",
                 "--force")  # fmt: skip
    assert last_json(forced)["quality"]["verdict"] == "failed"
    assert DegradationParams.load(tmp_path / "p.json").notes["quality"]["verdict"] == "failed"


def test_a_flag_is_not_taken_for_a_longer_one_it_begins(capsys):
    """`fit --hr X` was once taken as `--hr-ratio X`: a flag a command lacks, even one that
    begins a longer one, is named as unknown."""
    from napari_sisr.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["fit", "--ani", "hr.tif", "lr.tif", "--scale", "4"])
    assert exit_.value.code == 2
    assert "unrecognized arguments: --ani" in capsys.readouterr().err


def test_every_pair_command_takes_hr_and_lr_by_name(capsys):
    """fit takes HR first, evaluate and tune the LR capture first (as the model reads it);
    --hr / --lr name them in any order on all three, and swapped images are named as such."""
    from napari_sisr.cli import main
    from napari_sisr.sample_data import HERE

    lr, hr = str(HERE / "synapse_confocal_lr.tif"), str(HERE / "synapse_sted_hr.tif")
    runs = [
        ["fit", hr, lr],
        ["fit", "--lr", lr, "--hr", hr],
        ["fit", "--lr", lr, hr],
    ]
    sigmas = []
    for run in runs:
        assert main([*run, "--scale", "4", "-q"]) == 0, run
        sigmas.append(json.loads(capsys.readouterr().out.splitlines()[-1])["sigma"])
    assert sigmas[0] == sigmas[1] == sigmas[2]
    scores = []
    for run in (
        ["aware-4x", lr, hr],
        ["aware-4x", "--hr", hr, lr],
        ["aware-4x", "--lr", lr, "--hr", hr],
    ):
        assert main(["evaluate", *run, "--scale", "4"]) == 0, run
        scores.append(json.loads(capsys.readouterr().out.splitlines()[-1])["scores"]["bicubic"])
    assert scores[0] == scores[1] == scores[2]
    assert main(["evaluate", "aware-4x", hr, lr, "--scale", "4"]) == 2
    assert "are the two swapped?" in capsys.readouterr().err
    assert main(["fit", "--hr", hr, hr, lr, "--scale", "4"]) == 2
    assert "is not given again by position" in capsys.readouterr().err
    assert main(["tune", "aware-4x", "--hr", hr]) == 2
    assert "give the real LR capture" in capsys.readouterr().err


def test_the_model_follows_what_the_user_gave(tmp_path, capsys):
    """Without --model, a PSF from any source picks the aware model, nothing the blind one,
    and the choice is said."""
    from napari_sisr.cli import main

    img = tmp_path / "lr.tif"
    tifffile.imwrite(img, (np.random.default_rng(0).random((48, 48)) * 1000).astype(np.uint16))
    assert main(["predict", str(img), "-o", str(tmp_path / "a.tif"), "-q"]) == 0
    assert "model default-4x: the blind model, as no PSF was given" in capsys.readouterr().err
    assert main(["predict", str(img), "-o", str(tmp_path / "b.tif"), "-q", "--sigma", "3"]) == 0
    err = capsys.readouterr().err
    assert "model aware-4x" in err and "the PSF width given" in err
    assert "PSF sigma 3.00 HR px (typed in)" in err
