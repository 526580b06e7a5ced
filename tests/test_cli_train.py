"""``napari-sisr train`` end to end on tiny runs, and its one-line errors."""

from __future__ import annotations

import json

import pytest
import tifffile

from napari_sisr import DegradationParams, TrainConfig
from napari_sisr.cli import main
from napari_sisr.core.modelio import load_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def hr_files(tmp_path, actin):
    paths = []
    for i, (y, x) in enumerate([(0, 0), (200, 300), (400, 400)]):
        p = tmp_path / f"hr{i}.tif"
        tifffile.imwrite(p, actin[y : y + 96, x : x + 96].astype("float32"))
        paths.append(str(p))
    return paths


def _args(hr, out, *extra):
    return [
        "train",
        "--hr",
        *hr,
        "--out",
        str(out),
        "--scale",
        "4",
        "--patch",
        "32",
        "--batch",
        "2",
        "--iters",
        "2",
        "--no-gan",
        "--val-every",
        "2",
        "-q",
        *extra,
    ]


def test_cli_train_writes_run_folder(tmp_path, hr_files, capsys):
    deg = DegradationParams(scale=4, sigma=2.0, noise_var=100.0).save(tmp_path / "deg.json")
    out = tmp_path / "run"
    assert main(_args(hr_files, out, "--degradation", str(deg))) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 2 and summary["split"]["val"] == ["hr2.tif"]
    assert {"psnr", "psnr_bicubic", "ssim", "ssim_bicubic"} <= set(summary["val"])
    for name in ("model.safetensors", "model.json", "log.jsonl", "config.json"):
        assert (out / name).is_file()
    assert (out / "checkpoints" / "latest.json").is_file()
    assert load_model(out).meta["degradation"]["sigma"] == 2.0
    # Resume with more steps continues from the checkpoint; the settings and the image files
    # come from the run's config.json.
    assert main(["train", "--out", str(out), "--resume", "--iters", "3", "-q"]) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert resumed["steps"] == 3 and resumed["split"] == summary["split"]
    assert load_model(out).meta["degradation"]["sigma"] == 2.0


def test_resume_keeps_the_settings_a_run_switched_off(tmp_path, hr_files, capsys):
    """A run made in Python with weight averaging and gradient clipping off (None), from
    random weights, resumes from the command line with those, not with the defaults."""
    from napari_sisr import train

    out = tmp_path / "run"
    deg = DegradationParams(scale=4, sigma=2.0, noise_var=100.0)
    train(TrainConfig(hr=list(hr_files), out=out, degradation=deg, patch=32, batch=2, iters=1,
                      val_every=1, ema=None, grad_clip=None, init=None, threads=1))  # fmt: skip
    assert main(["train", "--out", str(out), "--resume", "--iters", "2", "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 2
    saved = json.loads((out / "config.json").read_text())
    assert saved["ema"] is None and saved["grad_clip"] is None and saved["init"] is None


def test_cli_blind_and_progress_lines(tmp_path, hr_files, capsys):
    args = _args(
        hr_files, tmp_path / "run", "--blind-sigma", "1", "2", "--blind-noise", "0", "0.02"
    )
    args.remove("-q")
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "val PSNR" in captured.err and "bicubic" in captured.err
    assert f"next: napari-sisr predict IMAGE -o OUT --model {tmp_path / 'run'}" in captured.err
    assert load_model(tmp_path / "run").meta["degradation"]["mode"] == "blind"


def test_cli_blind_noise_sampling_and_soft_content(tmp_path, hr_files, capsys):
    extra = ["--blind-noise", "0.01", "0.05", "--blind-noise-sampling", "log"]
    extra += ["--blind-content-sigma", "0", "1", "--blind-content-noise", "0", "0.02"]
    assert main(_args(hr_files, tmp_path / "run", *extra)) == 0
    deg = load_model(tmp_path / "run").meta["degradation"]
    assert deg["noise_sampling"] == "log" and deg["content_sigma"] == [0.0, 1.0]
    assert deg["content_noise"] == [0.0, 0.02]
    capsys.readouterr()
    bad = ["--blind-noise", "0", "0.05", "--blind-noise-sampling", "log"]
    assert main(_args(hr_files, tmp_path / "bad", *bad)) == 2
    err = capsys.readouterr().err
    assert "minimum above 0" in err and len(err.strip().splitlines()) == 1


def test_cli_errors_are_one_line(tmp_path, hr_files, capsys):
    deg2 = DegradationParams(scale=2).save(tmp_path / "deg2.json")
    assert main(_args(hr_files, tmp_path / "a", "--degradation", str(deg2))) == 2
    err = capsys.readouterr().err
    assert "scale 2 but training is at scale 4" in err and len(err.strip().splitlines()) == 1
    assert main(_args(hr_files, tmp_path / "b", "--patch", "128")) == 2
    assert "smaller than the 128-pixel patch" in capsys.readouterr().err
    assert main(_args(hr_files, tmp_path / "c", "--resume")) == 2
    assert "nothing to resume" in capsys.readouterr().err
    assert main(_args(hr_files, tmp_path / "d", "--arch", "nope")) == 2
    assert "unknown architecture" in capsys.readouterr().err


def test_cli_arch_option_reaches_the_model(tmp_path, hr_files, capsys):
    out = tmp_path / "run"
    args = _args(hr_files, out, "--arch-option", "skip=bicubic", "--arch-option", "n_blocks=2")
    assert main(args) == 0
    kwargs = load_model(out).meta["arch_kwargs"]
    assert kwargs["skip"] == "bicubic" and kwargs["n_blocks"] == 2
    capsys.readouterr()
    assert main(_args(hr_files, tmp_path / "e", "--arch-option", "n_blocks")) == 2
    assert "expects KEY=VALUE" in capsys.readouterr().err
    assert main(_args(hr_files, tmp_path / "f", "--arch-option", "n_block=2")) == 2
    err = capsys.readouterr().err
    assert "no setting 'n_block'" in err and "n_blocks" in err


def test_cli_loss_option_sets_the_weights(tmp_path, hr_files, capsys):
    out = tmp_path / "run"
    assert main(_args(hr_files, out, "--loss", "pixel_mse=1", "--loss", "pixel_l1=0")) == 0
    weights = json.loads((out / "config.json").read_text())["loss_weights"]
    assert weights["pixel_mse"] == 1 and weights["pixel_l1"] == 0
    capsys.readouterr()
    assert main(_args(hr_files, tmp_path / "e", "--loss", "pixel_mse")) == 2
    assert "--loss expects KEY=VALUE" in capsys.readouterr().err
    assert main(_args(hr_files, tmp_path / "f", "--loss", "pixel_l2=1")) == 2
    err = capsys.readouterr().err
    assert "unknown loss key" in err and "pixel_mse" in err
    assert main(_args(hr_files, tmp_path / "g", "--loss", "pixel_l1=0")) == 2
    assert "no loss term is active" in capsys.readouterr().err


def test_flags_left_out_keep_the_core_defaults(tmp_path, hr_files):
    from napari_sisr.cli import build_parser
    from napari_sisr.cli.predict import predict_config
    from napari_sisr.cli.train import build_config
    from napari_sisr.core.inference.config import PredictConfig

    args = build_parser().parse_args(["train", "--hr", *map(str, hr_files), "--out", "x"])
    cfg = build_config(args)
    core = TrainConfig(hr=list(hr_files), out="x")  # what Python gets with no settings
    keys = ("iters", "patch", "batch", "val_every", "patience", "device", "adversarial", "seed")
    for key in (*keys, "learning_rate"):
        assert getattr(cfg, key) == getattr(core, key), key
    assert cfg.scale == 4 and cfg.degradation_model().sigma == (1.0, 2.4)
    args = build_parser().parse_args(["predict", "in.tif", "-o", "out.tif"])
    assert predict_config(args) == PredictConfig()
    from napari_sisr.core.inference.route import default_route

    assert args.model is None and default_route(None)[0] == "default-4x"  # nothing given


def test_a_model_worse_than_bicubic_is_flagged(tmp_path, hr_files, capsys):
    deg = DegradationParams(scale=4, sigma=2.0, noise_var=100.0).save(tmp_path / "deg.json")
    # 2 steps from random weights: untrained
    args = _args(hr_files, tmp_path / "run", "--degradation", str(deg), "--init", "none")
    assert main(args) == 0  # saved and exit 0: only a warning by default
    out = capsys.readouterr()
    summary = json.loads(out.out)
    assert summary["val"]["psnr"] < summary["val"]["psnr_bicubic"]
    assert summary["worse_than_bicubic"] and "worse than bicubic" in out.err
    meta = load_model(tmp_path / "run").meta
    assert "worse than bicubic" in meta["validation"]["warning"]  # and in the model card
    strict = _args(
        hr_files, tmp_path / "run2", "--degradation", str(deg), "--init", "none", "--require-better"
    )
    assert main(strict) == 3
    assert (tmp_path / "run2" / "model.json").exists()  # saved all the same


def test_a_fit_of_a_pair_trains_on_its_real_capture_too(tmp_path, actin, capsys):
    """``train --hr HR --degradation FIT.json``: when the fit was made on that very HR file,
    its real LR capture is mixed into training (REAL_FRACTION of the patches) unless
    --no-real-lr; the help states that default."""
    import numpy as np

    from napari_sisr import simulate_lr
    from napari_sisr.cli import build_parser
    from napari_sisr.cli.train import build_config
    from napari_sisr.core.training.config import REAL_FRACTION

    hr = actin[:256, :320].astype(np.float32)
    truth = DegradationParams(scale=4, sigma=1.8, shift_yx=(1.0, 0.0), noise_var=4.0)
    tifffile.imwrite(tmp_path / "hr.tif", hr)
    tifffile.imwrite(tmp_path / "lr.tif", simulate_lr(hr, truth, rng=np.random.default_rng(0)))
    fit = tmp_path / "fit.json"
    assert main(["fit", str(tmp_path / "hr.tif"), str(tmp_path / "lr.tif"), "--scale", "4",
                 "-o", str(fit), "-q"]) == 0  # fmt: skip
    pair = DegradationParams.load(fit).notes["pair"]
    here = tmp_path.resolve()
    assert pair == {"hr": str(here / "hr.tif"), "lr": str(here / "lr.tif")}
    capsys.readouterr()

    def config(*extra):
        base = ["train", "--degradation", str(fit), "--out", str(tmp_path / "run"), *extra]
        return build_config(build_parser().parse_args(base))

    linked = config("--hr", str(tmp_path / "hr.tif"))
    assert [str(p) for p in linked.real_lr] == [str(here / "lr.tif")]
    assert linked.real_fraction == REAL_FRACTION
    assert "real capture the fit was made on" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert f"(default {REAL_FRACTION};" in " ".join(capsys.readouterr().out.split())
    assert config("--hr", str(tmp_path / "hr.tif"), "--no-real-lr").real_lr is None
    assert config("--hr", str(tmp_path / "hr.tif"), "--real-fraction", "0").real_fraction == 0
    tifffile.imwrite(tmp_path / "other.tif", hr)  # same pixels, another file: no link
    assert config("--hr", str(tmp_path / "other.tif")).real_lr is None
    (tmp_path / "lr.tif").unlink()  # a capture that has gone: simulations only
    assert config("--hr", str(tmp_path / "hr.tif")).real_lr is None
    with pytest.raises(Exception, match="--no-real-lr goes with --degradation"):
        build_config(
            build_parser().parse_args(["train", "--hr", "x.tif", "--out", "o", "--no-real-lr"])
        )


def test_a_run_saved_with_lr_resumes_with_its_learning_rate(tmp_path, hr_files):
    """A run folder whose config.json says "lr" (saved before the setting was renamed
    learning_rate) gives its learning rate to a resume, not the preset's."""
    from napari_sisr.cli.train import _saved_fields

    out = tmp_path / "run"
    out.mkdir()
    saved = {"scale": 4, "lr": 3e-4, "lr_d": 2e-5, "iters": 7}
    (out / "config.json").write_text(json.dumps({**saved, "sources": {}}))
    fields = _saved_fields(str(out), TrainConfig)
    assert fields["learning_rate"] == 3e-4 and fields["learning_rate_d"] == 2e-5
    assert "lr" not in fields and fields["iters"] == 7
    cfg = TrainConfig(hr=list(hr_files), out=tmp_path / "again", **fields)
    assert cfg.learning_rate == 3e-4
