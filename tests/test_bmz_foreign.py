"""Other tools' bioimage.io packages: ONNX networks loaded from their description, tiled
seam-free, through every engine; what cannot run here is refused by name."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import tifffile
import torch
from conftest import tiny_generator

from napari_sisr import predict
from napari_sisr.core.errors import InputError
from napari_sisr.core.modelio import load_model, read_model_meta

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

PERCENTILES = (1.0, 99.8)


class Layout(torch.nn.Module):
    """Runs ``net`` on a ``(b, c, y, x)`` view of a tensor laid out as ``order``, after an
    optional fixed ``gain * x + offset`` (the package's preprocessing, undone here)."""

    def __init__(self, net, order="bcyx", affine=None):
        super().__init__()
        self.net, self.order, self.affine = net, order, affine

    def forward(self, x):
        if self.order == "byxc":
            x = x.permute(0, 3, 1, 2)
        elif self.order == "byx":
            x = x[:, None]
        if self.affine is not None:
            g, o = self.affine
            x = (x - o) / g  # the graph gets the preprocessed input; the net wants it raw
        y = self.net(x)
        if self.order == "byx":
            return y[:, 0]
        return y.permute(0, 2, 3, 1) if self.order == "byxc" else y


def _axes_05(order: str, s: int, halo: int, step: int, out: bool) -> list[dict]:
    axes = []
    for a in order:
        if a == "b":
            axes.append({"type": "batch"})
        elif a == "c":
            axes.append({"type": "channel", "channel_names": ["c0"]})
        elif out:
            axes.append({"type": "space", "id": a, "size": {"tensor_id": "raw", "axis_id": a},
                         "scale": 1 / s, "halo": halo})  # fmt: skip
        else:
            axes.append({"type": "space", "id": a, "size": {"min": 16, "step": step}})
    return axes


def make_package(
    folder, net, *, fmt="0.5", order="bcyx", step=1, pre=None, weights="onnx", halo=None
):
    """A bioimage.io zip of ``net`` (a scale-``s`` one-channel network) as another tool
    would write it: ONNX weights with dynamic sizes, rdf.yaml in format 0.5 or 0.4."""
    import yaml

    s = int(net.scale)
    halo = int(net.receptive_field) * s if halo is None else halo
    affine = None
    if pre is None:
        pre = [{"id": "scale_range", "kwargs": {"axes": ["y", "x"],
                "min_percentile": PERCENTILES[0], "max_percentile": PERCENTILES[1]}}]  # fmt: skip
    for op in pre:
        if op.get("id") == "scale_linear":
            affine = (op["kwargs"]["gain"], op["kwargs"]["offset"])
    graph = Layout(net, order, affine).eval()
    shape = {"byxc": (1, 24, 24, 1), "byx": (1, 24, 24)}.get(order, (1, 1, 24, 24))
    dyn = {i: f"d{i}" for i, a in enumerate(order) if a in "byx"}
    onnx_path = folder / "weights.onnx"
    torch.onnx.export(graph, (torch.zeros(shape),), str(onnx_path), input_names=["input0"],
                      output_names=["output0"], dynamic_axes={"input0": dyn, "output0": dyn},
                      opset_version=17, dynamo=False)  # fmt: skip
    if fmt == "0.5":
        inputs = {"id": "raw", "axes": _axes_05(order, s, halo, step, False),
                  "preprocessing": pre}  # fmt: skip
        outputs = {"id": "sr", "axes": _axes_05(order, s, halo, step, True)}
    else:
        n = len(order)
        inputs = {"name": "raw", "axes": order, "data_type": "float32",
                  "shape": {"min": [1 if a in "bc" else 16 for a in order],
                            "step": [0 if a in "bc" else step for a in order]},
                  "preprocessing": [{"name": op["id"], "kwargs": {**op.get("kwargs", {}),
                                     "mode": "per_sample"}} for op in pre]}  # fmt: skip
        outputs = {"name": "sr", "axes": order, "data_type": "float32",
                   "shape": {"reference_tensor": "raw", "offset": [0] * n,
                             "scale": [1 if a in "bc" else s for a in order]},
                   "halo": [0 if a in "bc" else halo for a in order]}  # fmt: skip
    rdf = {"format_version": "0.5.4" if fmt == "0.5" else "0.4.10", "type": "model",
           "name": "other tool's SR net", "license": "MIT", "inputs": [inputs],
           "outputs": [outputs], "weights": {weights: {"source": "weights.onnx"}}}  # fmt: skip
    out = folder / f"pkg-{fmt}-{order}-{step}.zip"
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("rdf.yaml", yaml.safe_dump(rdf))
        z.write(onnx_path, "weights.onnx")
    return out


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_SISR_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def image(nuclei):
    return np.asarray(nuclei, np.float32)[:120, :136]


def _reference(net, image, **kw):
    """The same network run by this package directly (same normalisation, untiled)."""
    low, high = PERCENTILES
    norm = {"mode": "percentile", "low": low, "high": high}
    return predict(image, net, engine="torch", precision="fp32", tile=4096, dtype="float32",
                   normalization=norm, **kw).compute()  # fmt: skip


def _close(a, b, image_range):
    assert a.shape == b.shape
    assert np.max(np.abs(a - b)) <= 1e-5 * image_range, np.max(np.abs(a - b)) / image_range


def test_a_foreign_onnx_package_tiles_seam_free_in_every_engine(tmp_path, cache, image):
    from napari_sisr.core.inference.engines import installed_engines

    net = tiny_generator(scale=2)
    pkg = make_package(tmp_path, net)
    model = load_model(pkg)
    assert (model.scale, model.in_channels) == (2, 1)
    assert model.receptive_field == net.receptive_field  # the halo, in input pixels
    assert model.meta["normalization"] == {"mode": "percentile", "low": 1.0, "high": 99.8}
    assert model.onnx_graph is not None  # bcyx, any size: the engines run it as it is
    ref = _reference(net, image)
    rng = float(np.ptp(ref))
    for engine in ["torch", *[e for e in installed_engines() if e != "torch"]]:
        tiled = predict(image, str(pkg), tile=40, engine=engine, precision="fp32",
                        dtype="float32").compute()  # fmt: skip
        _close(tiled, ref, rng)
    meta = read_model_meta(pkg)  # what the Super-resolve widget shows
    assert meta["scale"] == 2 and meta["in_channels"] == 1 and "bioimage.io" in meta["arch"]


@pytest.mark.parametrize("order", ["byxc", "byx"])
def test_adapted_layouts_sizes_and_preprocessing(tmp_path, cache, image, order):
    """byxc or byx axes, sizes in steps of 16 and a fixed scale_linear before the network: run
    around the graph (torch engine), still equal to the network itself, tiled, except within
    its receptive field of the bottom and right image borders, where a tile is padded to a
    size the network accepts (as any tool running it must)."""
    net = tiny_generator(scale=2)
    pre = [{"id": "scale_range", "kwargs": {"axes": ["y", "x"], "min_percentile": 1.0,
                                            "max_percentile": 99.8}},
           {"id": "scale_linear", "kwargs": {"gain": 2.0, "offset": -0.5}}]  # fmt: skip
    pkg = make_package(tmp_path, net, order=order, step=16, pre=pre)
    model = load_model(pkg)
    assert model.onnx_graph is None and model.meta["affine"] == (2.0, -0.5)
    ref = _reference(net, image)
    band = int(net.receptive_field) * 2
    for engine in ("torch", "auto"):
        out = predict(image, str(pkg), tile=40, engine=engine, precision="fp32",
                      dtype="float32").compute()  # fmt: skip
        assert out.shape == ref.shape
        _close(out[:-band, :-band], ref[:-band, :-band], float(np.ptp(ref)))
        assert np.max(np.abs(out - ref)) > 0  # the padded border band: differs, as expected
    with pytest.raises(InputError, match="engine='torch'"):
        predict(image, str(pkg), engine="onnxruntime").compute()


def test_format_04_packages_load_like_05(tmp_path, cache, image):
    net = tiny_generator(scale=2)
    new = predict(image, str(make_package(tmp_path, net, fmt="0.5")), tile=48, dtype="float32")
    old = predict(image, str(make_package(tmp_path, net, fmt="0.4")), tile=48, dtype="float32")
    np.testing.assert_allclose(old.compute(), new.compute(), rtol=0, atol=1e-6)


def test_the_command_line_runs_a_foreign_package(tmp_path, cache, image):
    from napari_sisr.cli import main

    pkg = make_package(tmp_path, tiny_generator(scale=2))
    tifffile.imwrite(tmp_path / "in.tif", image)
    assert main(["predict", str(tmp_path / "in.tif"), "-o", str(tmp_path / "out.tif"),
                 "--model", str(pkg), "--tile", "48", "-q"]) == 0  # fmt: skip
    out = tifffile.imread(tmp_path / "out.tif")
    assert out.shape == (240, 272)
    ref = _reference(tiny_generator(scale=2), image)
    assert np.corrcoef(out.ravel(), ref.ravel())[0, 1] > 0.999


@pytest.mark.parametrize(
    "change, message",
    [
        ({"weights": "pytorch_state_dict"}, "only ONNX weights"),
        ({"pre": [{"id": "zero_mean_unit_variance", "kwargs": {"axes": ["y", "x"]}}]},
         "computed per tile"),
        ({"pre": [{"id": "binarize", "kwargs": {"threshold": 0.5}}]}, "'binarize'"),
    ],
)  # fmt: skip
def test_what_cannot_run_here_is_refused_by_name(tmp_path, cache, change, message):
    pkg = make_package(tmp_path, tiny_generator(scale=2), **change)
    with pytest.raises(InputError, match=message):
        load_model(pkg)


def test_unsupported_descriptions_are_named(tmp_path, cache):
    import yaml

    pkg = make_package(tmp_path, tiny_generator(scale=2))

    def edited(edit, name):
        with zipfile.ZipFile(pkg) as z:
            rdf = yaml.safe_load(z.read("rdf.yaml"))
            onnx = z.read("weights.onnx")
        edit(rdf)
        out = tmp_path / name
        with zipfile.ZipFile(out, "w") as z:
            z.writestr("rdf.yaml", yaml.safe_dump(json.loads(json.dumps(rdf))))
            z.writestr("weights.onnx", onnx)
        return out

    def three_d(rdf):
        for t in (*rdf["inputs"], *rdf["outputs"]):
            t["axes"].append({**t["axes"][-1], "id": "z"})

    def scale_3(rdf):
        for a in rdf["outputs"][0]["axes"][2:]:
            a["scale"] = 1 / 3 if a["id"] == "y" else 1 / 2

    def wrong_digest(rdf):
        rdf["weights"]["onnx"]["sha256"] = "0" * 64

    for edit, message in (
        (three_d, "2D networks"),
        (scale_3, "single integer scale"),
        (wrong_digest, "sha256"),
    ):
        with pytest.raises(InputError, match=message):
            load_model(edited(edit, f"{edit.__name__}.zip"))
