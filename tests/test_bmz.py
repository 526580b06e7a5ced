"""bioimage.io packages: exported models pass bioimageio.core's model test and load back."""

from __future__ import annotations

import importlib.util
import json
import zipfile

import numpy as np
import pytest
import torch

from napari_sisr import predict
from napari_sisr.core.archs import build_generator
from napari_sisr.core.errors import InputError
from napari_sisr.core.modelio import save_model

pytest.importorskip("bioimageio.spec")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_SISR_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    from napari_sisr import export_bmz

    return export_bmz("default-2x", tmp_path_factory.mktemp("bmz") / "default-2x")


def test_bundled_model_package_passes_the_bioimageio_model_test(package):
    core = pytest.importorskip("bioimageio.core")
    assert package.name == "default-2x.zip"
    summary = core.test_model(package)
    failed = [(d.name, [e.msg for e in d.errors]) for d in summary.details if d.status != "passed"]
    assert summary.status == "passed", failed
    names = {d.name for d in summary.details}
    assert any("torchscript" in n for n in names) and any("pytorch_state_dict" in n for n in names)
    if importlib.util.find_spec("onnx") is not None:  # exported when onnx is installed
        assert any("onnx" in n for n in names)


@pytest.mark.parametrize("shape", [(512, 512), (301, 257)])
def test_bioimageio_core_runs_any_size_as_napari_sisr_does(package, actin, shape):
    """Whole images of any size run through bioimageio.core (the package once declared sizes
    in steps of 8 from 94 px, refusing 512 x 512), and its result is ours in normalised units,
    to 1e-4 of the range, with bioimageio.core's blocks of two sizes and ours tiled or not."""
    core = pytest.importorskip("bioimageio.core")
    import logging

    image = actin[: shape[0], : shape[1]].astype(np.float32)
    lo, hi = np.percentile(image, [1.0, 99.8])  # default-2x's normalisation
    opts = dict(engine="torch", precision="fp32", dtype="float32")
    ours = {
        tile: (np.asarray(predict(image, "default-2x", tile=tile, **opts)) - lo) / (hi - lo)
        for tile in (96, 4096)
    }
    logging.getLogger("bioimageio").setLevel(logging.ERROR)
    for blocks in (60, 200):
        out = core.predict(model=package, inputs={"raw": image[None, None]},
                           blocksize_parameter=blocks)  # fmt: skip
        got = out.members["sr"].data.values[0, 0]
        for tile, want in ours.items():
            err = np.abs(got - want).max() / np.ptp(want)
            assert err <= 1e-4, (blocks, tile, err)


def test_package_content_and_card(package):
    import yaml

    with zipfile.ZipFile(package) as z:
        rdf = yaml.safe_load(z.read("rdf.yaml"))
        assert {"model.safetensors", "model.json", "cover.png", "README.md"} <= set(z.namelist())
        assert "default-2x" in z.read("README.md").decode()
    assert rdf["type"] == "model" and rdf["format_version"].startswith("0.5")
    (inp,), (out,) = rdf["inputs"], rdf["outputs"]
    assert "scale_range" in [step["id"] for step in inp["preprocessing"]]
    meta = json.loads(zipfile.ZipFile(package).read("model.json"))
    space = [a for a in out["axes"] if a["type"] == "space"]
    assert [a["halo"] for a in space] == [meta["receptive_field"] * 2] * 2
    assert all(abs(a["scale"] - 0.5) < 1e-12 for a in space)
    assert any("10.1364/BOE.10.001044" == c.get("doi") for c in rdf["cite"])


def test_predict_runs_the_package_exactly_as_the_original(package, actin):
    img = actin[:80, :96].astype(np.float32)
    ref = np.asarray(predict(img, "default-2x", engine="torch", precision="fp32", tile=48))
    out = np.asarray(predict(img, str(package), engine="torch", precision="fp32", tile=48))
    np.testing.assert_array_equal(out, ref)


def test_its_onnx_weights_alone_run_as_a_foreign_package(package, actin, tmp_path):
    """Strip our own files from the package: what another tool gets (the ONNX weights and the
    description) gives our output to 1e-5 of the range, tiled, through the foreign loader."""
    pytest.importorskip("onnxruntime")
    from napari_sisr.core.modelio import load_model

    foreign = tmp_path / "as_others_see_it.zip"
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(foreign, "w") as dst:
        assert "weights.onnx" in src.namelist()
        for name in src.namelist():
            if name not in ("model.safetensors", "model.json"):
                dst.writestr(name, src.read(name))
    net = load_model(foreign)
    rf = load_model("default-2x").receptive_field
    assert net.receptive_field == rf and net.scale == 2
    img = actin[:80, :96].astype(np.float32)
    ref = np.asarray(predict(img, "default-2x", engine="torch", precision="fp32", tile=48))
    out = np.asarray(predict(img, str(foreign), precision="fp32", tile=48))
    # the package asks for sizes in steps of 8: tiles at the bottom and right image borders
    # are padded to one, which changes what lies within the receptive field of those borders
    band = 2 * rf
    inner = (slice(0, -band), slice(0, -band))
    assert out.shape == ref.shape
    assert np.abs(out[inner] - ref[inner]).max() <= 1e-5 * np.ptp(ref)


def test_cli_exports_and_refuses_to_overwrite(tmp_path, capsys):
    from napari_sisr.cli import main

    torch.manual_seed(0)
    save_model(tmp_path / "tiny", build_generator("rrdb", "fast", 2, 1, n_blocks=1, nf=8), {})
    out = tmp_path / "tiny.zip"
    assert main(["export-bmz", str(tmp_path / "tiny"), "-o", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["output"] == str(out)
    assert main(["export-bmz", str(tmp_path / "tiny"), "-o", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_foreign_or_broken_zips_are_refused(tmp_path):
    foreign = tmp_path / "other.zip"
    with zipfile.ZipFile(foreign, "w") as z:
        z.writestr("rdf.yaml", "type: model\nweights:\n  pytorch_state_dict: {source: w.pt}\n")
        z.writestr("w.pt", b"pickled")
    with pytest.raises(InputError, match="only ONNX weights of other tools' packages load"):
        predict(np.zeros((32, 32), np.float32), str(foreign))
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="broken.zip cannot be read"):
        predict(np.zeros((32, 32), np.float32), str(broken))
