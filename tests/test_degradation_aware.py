"""Degradation-aware generator: the condition steers it, exactly under tiling and in every
engine; training tells it each patch's degradation; inference is told the image's."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from napari_sisr import DegradationParams, TrainConfig, predict, simulate_lr, train
from napari_sisr.core.archs import build_generator
from napari_sisr.core.errors import InputError
from napari_sisr.core.inference.engines import installed_engines
from napari_sisr.core.inference.steering import Optics, Steering, resolve_steering

EXPORTED = [e for e in ("openvino", "onnxruntime") if e in installed_engines()]


# every test gets a cache folder of its own (conftest.private_cache)
pytestmark = pytest.mark.usefixtures("private_cache")


def steered_net(scale: int = 2):
    """A small degradation-aware net whose modulation is not zero (so the condition acts)."""
    torch.manual_seed(0)
    net = build_generator("srresnet_da", "fast", scale, 1, n_blocks=2, nf=8, cond_features=8)
    with torch.no_grad():
        net.modulation.weight.normal_(0, 0.3)
        net.modulation.bias.normal_(0, 0.1)
    return net.eval()


@pytest.fixture(scope="module")
def image():
    from scipy import ndimage

    rng = np.random.default_rng(0)
    return (ndimage.gaussian_filter(rng.random((72, 90)), 2) * 1000).astype(np.float32)


def test_condition_changes_the_output_and_forward_uses_the_stored_one():
    net = steered_net()
    x = torch.rand(2, 1, 20, 20)
    a = torch.tensor([[1.0, 1.0, 0.01, 0.0]] * 2)
    b = torch.tensor([[3.0, 2.0, 0.08, 0.001]] * 2)
    with torch.no_grad():
        ya, yb = net(x, a), net(x, b)
        assert (ya - yb).abs().max() > 1e-3
        steered = net.with_condition([3.0, 2.0, 0.08, 0.001])
        assert torch.allclose(steered(x), yb, atol=1e-6)
        assert float(net.condition.abs().sum()) == 0.0  # the original is left as it was
        mixed = net(x, torch.stack([a[0], b[0]]))  # one condition per sample
        assert torch.allclose(mixed[0], ya[0], atol=1e-6)
        assert torch.allclose(mixed[1], yb[1], atol=1e-6)
    with pytest.raises(InputError, match="non-negative"):
        net.set_condition([1.0, -1.0, 0.0, 0.0])
    with pytest.raises(InputError, match="shape"):
        net(x, torch.zeros(2, 3))


def test_starts_as_the_plain_srresnet_it_grows_from():
    torch.manual_seed(1)
    plain = build_generator("srresnet", "fast", 2, 1, n_blocks=2, nf=8, skip="bicubic").eval()
    net = build_generator("srresnet_da", "fast", 2, 1, n_blocks=2, nf=8, skip="bicubic").eval()
    missing, unexpected = net.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all(k.startswith(("cond", "modulation")) for k in missing)
    x = torch.rand(1, 1, 24, 24)
    with torch.no_grad():
        assert torch.allclose(net(x, torch.tensor([[2.0, 2.0, 0.05, 0.0]])), plain(x), atol=1e-6)
    assert net.receptive_field == plain.receptive_field


@pytest.mark.parametrize("engine", ["torch", *EXPORTED])
def test_steered_prediction_is_tiled_exactly_in_every_engine(engine, image):
    net = steered_net()
    steer = {"sigma": 2.5, "noise_std": 0.03}
    whole = np.asarray(predict(image, net, engine="torch", tile=512, degradation=steer))
    fp32 = dict(engine=engine, precision="fp32", tile=24)
    tiled = np.asarray(predict(image, net, **fp32, degradation=steer))
    assert np.abs(tiled - whole).max() <= 1e-5 * np.ptp(whole)
    other = np.asarray(predict(image, net, **fp32, degradation={"sigma": 0.5}))
    assert np.abs(other - whole).max() > 1e-3 * np.ptp(whole)  # the condition reached it


@pytest.mark.parametrize("engine", EXPORTED)
def test_one_exported_graph_serves_every_degradation(engine, image, private_cache):
    net = steered_net()
    outs = []
    for sigma in (0.5, 1.5, 2.5):
        steer = {"sigma": sigma, "noise_std": 0.02}
        ref = np.asarray(predict(image, net, engine="torch", tile=24, degradation=steer))
        out = np.asarray(
            predict(image, net, engine=engine, precision="fp32", tile=24, degradation=steer)
        )
        assert np.abs(out - ref).max() <= 1e-5 * np.ptp(ref), sigma
        outs.append(out)
    assert np.abs(outs[0] - outs[2]).max() > 1e-3 * np.ptp(outs[0])
    # one graph per tile shape (the core tile and the edge tiles), not one per degradation
    graphs = sorted(p.name for p in private_cache.glob("*.onnx"))
    shapes = {name.split("-")[1] for name in graphs}
    assert len(graphs) == len(shapes), graphs


@pytest.mark.skipif(
    "openvino" not in EXPORTED or not __import__("importlib").util.find_spec("nncf"),
    reason="int8 needs OpenVINO and nncf",
)
def test_int8_runs_a_steered_model(image):
    net = steered_net()
    steer = {"sigma": 2.0, "noise_std": 0.02}
    ref = np.asarray(predict(image, net, engine="torch", tile=48, degradation=steer))
    q = np.asarray(
        predict(image, net, engine="openvino", precision="int8", tile=48, degradation=steer)
    )
    assert np.corrcoef(ref.ravel(), q.ravel())[0, 1] > 0.99


def test_fit_steers_in_its_raw_units_and_rescales_its_psf(image):
    net = steered_net()
    lo, hi = np.zeros(1) + 100.0, np.zeros(1) + 600.0
    from napari_sisr.core.inference.input import canonical_input

    inp = canonical_input(image)
    fit = DegradationParams(scale=4, sigma=3.0, noise_var=25.0, poisson_a=5.0)
    got = resolve_steering(Steering.coerce(fit), net, {}, inp, (lo, hi))
    # x4 fit, x2 model: 3 HR px at x4 = 1.5 HR px at x2; noise 5 / span 500; Poisson 5 / 500
    assert got.condition == pytest.approx((1.5, 1.5, 0.01, 0.01))
    assert "rescaled to x2" in got.note
    typed = resolve_steering(Steering(fit=fit, sigma=0.7), net, {}, inp, (lo, hi))
    assert typed.condition[:2] == (0.7, 0.7) and "typed in" in typed.note


def test_noise_is_estimated_from_the_image_in_normalised_units():
    from napari_sisr.core.inference.input import canonical_input

    rng = np.random.default_rng(3)
    hr = np.kron(rng.random((40, 40)), np.ones((8, 8))) * 800 + 100
    p = DegradationParams(scale=2, sigma=1.0, noise_var=(0.03 * 800) ** 2)
    lr = simulate_lr(hr, p, rng=rng)
    net = steered_net()
    got = []
    for k in (1.0, 10.0):  # the same image in other intensity units: the same condition
        img = lr * k
        lo, hi = np.percentile(img, [1, 99.8])
        inp = canonical_input(img)
        got.append(resolve_steering(None, net, {}, inp, (np.array([lo]), np.array([hi]))))
    assert got[0].condition[2] == pytest.approx(got[1].condition[2], rel=1e-6)
    span = float(np.diff(np.percentile(lr, [1, 99.8]))[0])
    assert got[0].condition[2] == pytest.approx(0.03 * 800 / span, rel=0.2)
    assert "estimated from the image" in got[0].note and "model card" in got[0].note


def test_optics_from_the_flag_or_the_file(tmp_path, image):
    import tifffile

    from napari_sisr.core.degradation.optics import sigma_from_optics

    assert Optics.parse("NA=1.4, wavelength=520,pixel=65").pixel_nm == 65
    with pytest.raises(InputError, match="expected NA.*got 'colour=green'"):
        Optics.parse("NA=1.4,colour=green")
    with pytest.raises(InputError, match="NA"):
        Optics.parse("NA=3,wavelength=520")
    net = steered_net()
    from napari_sisr.core.inference.input import canonical_input

    bare = canonical_input(image)
    with pytest.raises(InputError, match="pixel size"):
        resolve_steering(Steering(optics=Optics(na=1.2, wavelength_nm=520)), net, {}, bare, None)
    path = tmp_path / "calibrated.ome.tif"
    ome = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">'
        '<Instrument ID="Instrument:0"><Objective ID="Objective:0:0" LensNA="1.2"/></Instrument>'
        '<Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="float" '
        f'SizeX="{image.shape[1]}" SizeY="{image.shape[0]}" SizeC="1" SizeZ="1" SizeT="1" '
        'PhysicalSizeX="0.1" PhysicalSizeY="0.1">'
        '<Channel ID="Channel:0:0" SamplesPerPixel="1" EmissionWavelength="520"/>'
        '<TiffData IFD="0" PlaneCount="1"/></Pixels></Image></OME>'
    )
    tifffile.imwrite(path, image, description=ome, metadata=None)
    inp = canonical_input(str(path))
    assert inp.optics == {"na": 1.2, "wavelength_nm": 520.0}
    got = resolve_steering(None, net, {}, inp, None)
    want = sigma_from_optics(520, 1.2, 0.1, 2)
    assert got.condition[0] == pytest.approx(want)
    assert "metadata: NA 1.2, emission 520 nm, pixel 100 nm" in got.note
    flag = resolve_steering(Steering(optics=Optics(na=1.2, wavelength_nm=520)), net, {}, inp, None)
    assert flag.condition[0] == pytest.approx(want)


def test_outside_the_trained_range_warns_naming_it(image):
    net = steered_net()
    meta = {"degradation": {"mode": "blind", "sigma": [0.0, 3.0], "noise_std": [0.0, 0.1]}}
    from napari_sisr.core.inference.input import canonical_input

    inp = canonical_input(image)
    ok = resolve_steering(Steering(sigma=2.0, noise_std=0.05), net, meta, inp, None)
    assert ok.warnings == []
    far = resolve_steering(Steering(sigma=5.0, noise_std=0.3), net, meta, inp, None)
    assert len(far.warnings) == 2
    assert "0 to 3 HR px" in far.warnings[0] and "0 to 10 % of the range" in far.warnings[1]


def test_a_noise_typed_as_a_percentage_is_named_so():
    with pytest.raises(InputError, match=r"noise_std: 5 is more .* 5 % would be 0.05"):
        Steering.coerce({"noise_std": 5})
    assert Steering.coerce({"noise_std": 0.05}).noise_std == 0.05
    assert Steering.coerce({"noise_std": 1}).noise_std == 1  # the whole range: allowed
    with pytest.raises(InputError, match="less than or equal to 1"):
        Steering.coerce({"noise_std": 500})


def test_plain_model_refuses_a_degradation(image):
    torch.manual_seed(0)
    plain = build_generator("srresnet", "fast", 2, 1, n_blocks=1, nf=8).eval()
    with pytest.raises(InputError, match="not degradation-aware"):
        predict(image, plain, degradation={"sigma": 1.0})
    with pytest.raises(ValueError, match="degradation must be"):
        predict(image, plain, degradation=3)


def test_training_tells_each_patch_its_degradation(tmp_path, one_torch_thread):
    from napari_sisr.core.training.session import Trainer

    rng = np.random.default_rng(0)
    from scipy import ndimage

    hr = ndimage.gaussian_filter(rng.random((160, 160)), 2).astype(np.float32)
    blind = {"sigma": [0.0, 3.0], "noise_std": [0.0, 0.1], "poisson_a": [0.0, 0.001]}
    common = dict(hr=[hr], scale=2, arch="srresnet_da", preset="fast", patch=32, batch=4)
    config = TrainConfig(**common, iters=4, out=tmp_path / "run", blind=blind, val_every=2)
    trainer = Trainer(config)
    hr_b, lr_b, cond = trainer._batch()
    assert cond.shape == (4, 4) and len({tuple(r) for r in cond.tolist()}) == 4
    assert float(cond[:, 0].min()) >= 0 and float(cond[:, 0].max()) <= 3
    # the validation condition (the middle of the ranges) is what forward(x) uses once exported
    assert trainer.net_g.condition.tolist() == pytest.approx([1.5, 1.5, 0.05, 0.0005])
    result = train(config)
    from napari_sisr.core.modelio import load_model

    model = load_model(result.model)
    assert model.arch == "srresnet_da"
    assert model.condition.tolist() == pytest.approx([1.5, 1.5, 0.05, 0.0005])
    resumed = TrainConfig(**common, iters=6, out=tmp_path / "run", blind=blind, resume=True)
    assert train(resumed).steps == 6
    with pytest.raises(ValueError, match="degradation-aware"):
        TrainConfig(**common, iters=2, out=tmp_path / "p", lr_images=[hr[::2, ::2]])


def test_init_from_an_aware_model_exports_this_runs_condition(tmp_path, one_torch_thread):
    from scipy import ndimage

    from napari_sisr.core.training.session import Trainer

    hr = ndimage.gaussian_filter(np.random.default_rng(0).random((128, 128)), 2)
    config = TrainConfig(
        hr=[hr.astype(np.float32)], init="aware-2x", iters=1, patch=32, batch=2,
        out=tmp_path / "ft", blind={"sigma": [0.0, 1.0], "noise_std": [0.0, 0.02]},
    )  # fmt: skip
    assert config.arch == "srresnet_da"
    trainer = Trainer(config)  # the middle of this run's ranges, not aware-2x's own
    assert trainer.net_g.condition.tolist() == pytest.approx([0.5, 0.5, 0.01, 0.0])


def test_grows_from_a_bundled_plain_model(tmp_path, one_torch_thread):
    rng = np.random.default_rng(0)
    from scipy import ndimage

    hr = ndimage.gaussian_filter(rng.random((128, 128)), 2).astype(np.float32)
    config = TrainConfig(
        hr=[hr], scale=2, arch="srresnet_da", init="default-2x", iters=1, patch=32, batch=2,
        out=tmp_path / "ft", blind={"sigma": [0.0, 3.0], "noise_std": [0.0, 0.1]},
    )  # fmt: skip
    assert config.arch == "srresnet_da" and config.arch_overrides["n_blocks"] == 4
    from napari_sisr.core.modelio import load_model
    from napari_sisr.core.training.session import Trainer

    trainer = Trainer(config)
    plain = load_model("default-2x")
    x = torch.rand(1, 1, 20, 20)
    with torch.no_grad():
        assert torch.allclose(trainer.net_g.eval()(x), plain(x), atol=1e-6)


def test_cli_flags_steer_and_print_the_choice(tmp_path, image):
    import tifffile

    from napari_sisr.core.modelio import save_model

    net = steered_net()
    model = save_model(tmp_path / "da", net, {"normalization": {"mode": "percentile"}})
    tifffile.imwrite(tmp_path / "lr.tif", image)
    DegradationParams(scale=2, sigma=1.2, noise_var=9.0, source="fit").save(tmp_path / "fit.json")
    outs, notes = {}, {}
    for name, extra in {
        "auto": [],
        "fit": ["--degradation", str(tmp_path / "fit.json")],
        "typed": ["--sigma", "2.5", "--noise-std", "0.03"],
        "optics": ["--optics", "NA=1.2,wavelength=520,pixel=100"],
    }.items():
        out = tmp_path / f"{name}.tif"
        cmd = [sys.executable, "-m", "napari_sisr", "predict", str(tmp_path / "lr.tif")]
        cmd += ["-o", str(out), "-q", "--model", str(model), *extra]
        run = subprocess.run(cmd, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        assert "degradation: PSF sigma" in run.stderr
        notes[name] = run.stderr
        outs[name] = tifffile.imread(out)
        assert json.loads(run.stdout.splitlines()[-1])["output"] == str(out)
    assert "(the fit)" in notes["fit"] and "(typed in)" in notes["typed"]
    assert "(the optics given)" in notes["optics"] and "estimated" in notes["auto"]
    typed = np.asarray(predict(image, net, degradation={"sigma": 2.5, "noise_std": 0.03}))
    assert np.allclose(outs["typed"], typed, atol=1e-4 * np.ptp(typed))
    assert np.abs(outs["typed"] - outs["optics"]).max() > 0
    bad = subprocess.run(
        [sys.executable, "-m", "napari_sisr", "predict", str(tmp_path / "lr.tif"), "-o",
         str(tmp_path / "x.tif"), "--model", "default-4x", "--sigma", "1"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode != 0 and "not degradation-aware" in bad.stderr


def test_evaluate_tells_an_aware_model_the_fit_of_the_pair():
    from scipy import ndimage

    from napari_sisr import evaluate, fit_degradation
    from napari_sisr.core.evaluation.scoring import prepare_pair

    rng = np.random.default_rng(5)
    hr = ndimage.gaussian_filter(rng.random((128, 128)), 1.5) * 1000
    lr = simulate_lr(hr, DegradationParams(scale=2, sigma=1.5, noise_var=4.0), rng=rng)
    net = steered_net()
    scored = evaluate(lr, hr, 2, model=net, label="aware")
    assert scored.extra["steered_by"] == "the fit of this pair"
    lr_p, hr_p = prepare_pair(lr, hr, 2)
    fit = fit_degradation(hr_p, lr_p, 2)
    told = evaluate(lr, hr, 2, sr=np.asarray(predict(lr_p.astype(np.float32), net,
                    degradation=fit, dtype="float32")), label="aware")  # fmt: skip
    assert scored.scores["aware"].psnr == pytest.approx(told.scores["aware"].psnr, abs=1e-6)
