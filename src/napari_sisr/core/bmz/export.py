"""bioimage.io model packages: export a napari-sisr model, load one back.

:func:`export_bmz` writes a zip of the bioimage.io model format 0.5 (``rdf.yaml`` and its
files) that deepImageJ, ilastik, Fiji or ``bioimageio.core`` can run:

* weights as ``pytorch_state_dict`` (the architecture is ``napari_sisr.core.bmz:generator``,
  importable from this package, with the model's settings as its keyword arguments) and as
  TorchScript (traced, for consumers without this package) and, when the ``onnx`` package is
  installed, ONNX with free batch and sizes;
* one input tensor ``(batch, channel, y, x)`` of any size (from twice the receptive field),
  preprocessed by ``scale_range`` at the model's percentiles (this package's normalisation);
  the output is ``scale`` times larger along y and x, with a halo of the receptive field (output
  pixels that a tile edge changes), in the same normalised units. bioimage.io's runners pad
  the image "symmetric" by that halo, as this package's tiling does, so
  ``bioimageio.core.predict(model=zip, inputs={"raw": image[None, None]},
  blocksize_parameter=n)`` gives this package's result, normalised, to float round-off
  (without ``blocksize_parameter`` bioimageio.core takes the percentiles of the padded image,
  which shifts them);
* test input and output tensors (a crop of the bundled real image and this network's
  result), a cover (LR | SR), documentation from the model card and the citations of the
  architecture and of the degradation-fitting method.

The zip also carries the model as this package stores it (``model.safetensors`` +
``model.json``): :func:`unpack_bmz` extracts those (never the pickled state dict) so that
``napari-sisr predict --model model.zip`` and the widgets run an exported package exactly as
the original. Other tools' packages load from their ONNX weights
(:mod:`napari_sisr.core.bmz.foreign`).

Export needs ``pip install "napari-sisr[bmz]"`` (``bioimageio.spec``); loading needs nothing
beyond this package.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, output_exists, write_failed
from .package import OWN_FILES, unpack_bmz

__all__ = ["export_bmz", "generator", "unpack_bmz"]  # unpack_bmz: from .package

#: Papers each architecture comes from, cited in the package (text, DOI).
ARCH_CITATIONS = {
    "srresnet": [
        (
            "Ledig et al., Photo-Realistic Single Image Super-Resolution Using a Generative "
            "Adversarial Network, CVPR 2017",
            "10.1109/CVPR.2017.19",
        ),
    ],
    "rrdb": [
        (
            "Wang et al., ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks, "
            "ECCV Workshops 2018",
            "10.1007/978-3-030-11021-5_5",
        ),
    ],
}
#: The method every napari-sisr model follows: HR images degraded by a fitted PSF + noise.
METHOD_CITATION = (
    "Zhang et al., High-throughput, high-resolution deep learning microscopy based on "
    "registration-free generative adversarial network, Biomedical Optics Express 10(3), 2019",
    "10.1364/BOE.10.001044",
)


def generator(
    arch: str, preset: str, scale: int, in_channels: int, arch_kwargs: dict | None = None
):
    """The generator of a napari-sisr model (the ``pytorch_state_dict`` architecture)."""
    from ..archs import build_generator

    return build_generator(arch, preset, int(scale), int(in_channels), **(arch_kwargs or {}))


def _normalise(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """bioimage.io's ``scale_range`` over y and x of each channel (eps 1e-6)."""
    lo = np.percentile(x, low, axis=(-2, -1), keepdims=True)
    hi = np.percentile(x, high, axis=(-2, -1), keepdims=True)
    return ((x - lo) / (hi - lo + 1e-6)).astype(np.float32)


def _test_input(channels: int, side: int) -> np.ndarray:
    """A crop of the bundled real image (BPAE actin, CC-BY-4.0), ``(1, C, side, side)``."""
    from ...sample_data import bpae_actin_hr

    img = np.asarray(bpae_actin_hr(), np.float32)
    if min(img.shape) < side:
        img = np.pad(img, [(0, max(0, side - n)) for n in img.shape], mode="reflect")
    y0, x0 = (img.shape[0] - side) // 2, (img.shape[1] - side) // 2
    crop = img[y0 : y0 + side, x0 : x0 + side]
    return np.repeat(crop[None, None], channels, axis=1)


def _cover(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    """LR (nearest-upsampled) beside SR, 8-bit, 2:1 as bioimage.io covers should be."""
    import imageio.v3 as iio

    s = y.shape[-1] // x.shape[-1]
    lr = np.kron(x[0, 0], np.ones((s, s)))
    sr = y[0, 0]
    both = np.concatenate([lr, sr], axis=1)
    lo, hi = np.percentile(both, [0.5, 99.5])
    iio.imwrite(path, (np.clip((both - lo) / max(hi - lo, 1e-12), 0, 1) * 255).astype(np.uint8))


def _documentation(meta: dict[str, Any], name: str) -> str:
    card = meta.get("card") or {}
    val = meta.get("validation") or {}
    lines = [
        f"# {name}",
        "",
        f"A {meta['scale']}x super-resolution network ({meta['arch']}, preset "
        f"{meta.get('preset', 'fast')}) for microscopy, exported from napari-sisr.",
        "",
        "## Input and output",
        "",
        f"- input: {meta['in_channels']} channel(s), any size from "
        f"{_min_side(meta['receptive_field'])} px, scaled to "
        f"the {_percentiles(meta)['low']} / {_percentiles(meta)['high']} percentiles "
        '(`scale_range`), padded "symmetric" by the halo of '
        f"{meta.get('receptive_field')} px;",
        f"- output: {meta['scale']}x larger, in the same normalised units. Tiles must overlap "
        "by the halo for seam-free results.",
        "",
        "`bioimageio.core.predict(model=..., inputs={'raw': image[None, None]}, "
        "blocksize_parameter=n)` reproduces napari-sisr's result (normalised) to float "
        "round-off; without `blocksize_parameter` the percentiles are taken of the padded "
        "image, which shifts them slightly.",
        "",
    ]
    if card.get("modalities"):
        lines += [f"Trained on {', '.join(card['modalities'])} images.", ""]
    if meta.get("degradation"):
        lines += [
            "## Degradation it was trained for",
            "",
            "```json",
            json.dumps(meta["degradation"], indent=2),
            "```",
            "",
        ]
    if "psnr" in val:
        lines += [
            "## Validation",
            "",
            f"PSNR {val['psnr']:.2f} dB (bicubic {val.get('psnr_bicubic', float('nan')):.2f} dB),"
            f" SSIM {val.get('ssim', float('nan')):.4f} on held-out images.",
            "",
        ]
    lines += [
        "## Limits",
        "",
        "A network trained on one kind of image can invent structure on another: compare its "
        "result with bicubic upsampling (and with a Richardson-Lucy deconvolution) before "
        "trusting it, ideally on a real LR/HR pair of your own microscope "
        "(`napari-sisr evaluate`).",
    ]
    return "\n".join(lines) + "\n"


def _rdf(meta: dict, name: str, test_side: int, files: dict[str, str]) -> dict[str, Any]:
    import torch
    from bioimageio.spec.model.v0_5 import ModelDescr

    from ..inference.engines import OPSET

    s, c, rf = int(meta["scale"]), int(meta["in_channels"]), int(meta["receptive_field"])
    norm = _percentiles(meta)
    channels = [f"c{i}" for i in range(c)]
    head = [{"type": "batch"}, {"type": "channel", "channel_names": channels}]  # both tensors
    space_in = [{"type": "space", "id": a, "size": {"min": _min_side(rf), "step": 1}} for a in "yx"]
    space_out = [
        {
            "type": "space",
            "id": a,
            "size": {"tensor_id": "raw", "axis_id": a},
            "scale": 1 / s,
            "halo": rf * s,
        }
        for a in "yx"
    ]
    arch_kw = {
        "arch": meta["arch"],
        "preset": meta.get("preset") or "fast",
        "scale": s,
        "in_channels": c,
        "arch_kwargs": meta.get("arch_kwargs") or {},
    }
    cites = [*ARCH_CITATIONS.get(meta["arch"], []), METHOD_CITATION]
    version = torch.__version__.split("+")[0]
    return {
        "format_version": ModelDescr.implemented_format_version,
        "type": "model",
        "name": name,
        "description": f"{s}x super-resolution for fluorescence microscopy (napari-sisr, "
        f"{meta['arch']})",
        "authors": [{"name": "napari-sisr developers"}],
        "cite": [{"text": t, "doi": d} for t, d in cites],
        "license": "BSD-3-Clause",
        "tags": [
            "super-resolution",
            "microscopy",
            "fluorescence",
            "2d",
            "pytorch",
            "napari-sisr",
        ],
        "documentation": {"source": files["doc"]},
        "covers": [{"source": files["cover"]}],
        "attachments": [{"source": f} for f in OWN_FILES],
        "inputs": [
            {
                "id": "raw",
                "axes": [*head, *space_in],
                "test_tensor": {"source": files["test_input"]},
                "preprocessing": [
                    {
                        "id": "scale_range",
                        "kwargs": {
                            "axes": ["y", "x"],
                            "min_percentile": norm["low"],
                            "max_percentile": norm["high"],
                        },
                    },
                ],
            }
        ],
        "outputs": [
            {
                "id": "sr",
                "axes": [*head, *space_out],
                "test_tensor": {"source": files["test_output"]},
            }
        ],
        "weights": {
            "pytorch_state_dict": {
                "source": files["state_dict"],
                "architecture": {
                    "callable": "generator",
                    "import_from": "napari_sisr.core.bmz",
                    "kwargs": arch_kw,
                },
                "pytorch_version": version,
            },
            "torchscript": {
                "source": files["torchscript"],
                "pytorch_version": version,
                "parent": "pytorch_state_dict",
            },
            **(
                {
                    "onnx": {
                        "source": files["onnx"],
                        "opset_version": OPSET,
                        "parent": "pytorch_state_dict",
                    }
                }
                if "onnx" in files
                else {}
            ),
        },
        "config": {"napari_sisr": {"test_side": test_side}},
    }


def export_bmz(
    model, out: str | os.PathLike, *, name: str | None = None, overwrite: bool = False
) -> Path:
    """Export a napari-sisr model (bundled name, path or run folder) as a bioimage.io zip.

    Returns the path written (``out``, with ``.zip`` added when missing). The package is
    validated by ``bioimageio.spec`` before it is written; nothing is left at ``out`` when
    that fails. An existing ``out`` is replaced only with ``overwrite=True``.
    """
    import importlib.util

    if (
        importlib.util.find_spec("bioimageio") is None
        or importlib.util.find_spec("bioimageio.spec") is None
    ):
        raise InputError(
            "exporting to bioimage.io needs bioimageio.spec: pip install 'napari-sisr[bmz]'"
        )
    from ..modelio import load_model, resolve_model_path

    net = load_model(model)
    meta = dict(net.meta)
    if net.receptive_field is None:
        raise InputError("this model does not state its receptive field: cannot set its halo")
    meta["receptive_field"] = int(net.receptive_field)
    if name is None:  # a bundled name, else the file's stem (its run folder for model.json)
        given = Path(str(model))
        stem = given.name if given.is_dir() else given.stem
        stem = given.parent.name if stem == "model" and given.parent.name else stem
        name = f"napari-sisr {stem if os.sep in str(model) or given.exists() else model}"
    out = Path(out)
    if out.suffix != ".zip":
        out = out.with_name(out.name + ".zip")
    if out.exists() and not overwrite:
        raise output_exists(out)
    weights, json_path = resolve_model_path(model)
    c = int(meta["in_channels"])
    side = 128
    try:
        with tempfile.TemporaryDirectory() as tmp:
            _build(Path(tmp), net, meta, name, c, side, weights, json_path, out)
    except OSError as err:
        raise write_failed(out, err) from err
    return out


def _build(root: Path, net, meta, name, c, side, weights, json_path, out: Path) -> None:
    """Write the package's files into ``root``, validate them, zip them into ``out``."""
    import torch
    from bioimageio.spec import (
        InvalidDescr,
        ValidationContext,
        build_description,
        save_bioimageio_package,
    )

    files = {
        "doc": "README.md",
        "cover": "cover.png",
        "test_input": "test_input.npy",
        "test_output": "test_output.npy",
        "state_dict": "weights.pt",
        "torchscript": "weights_torchscript.pt",
    }
    shutil.copyfile(weights, root / "model.safetensors")
    shutil.copyfile(json_path, root / "model.json")
    x = _test_input(c, side)
    x_norm = _normalise(x, **_percentiles(meta))
    with torch.no_grad():  # bioimage.io's model test runs the test input without padding
        y = net(torch.from_numpy(x_norm)).numpy()
    np.save(root / files["test_input"], x)
    np.save(root / files["test_output"], y.astype(np.float32))
    _cover(root / files["cover"], x_norm, y)
    (root / files["doc"]).write_text(_documentation(meta, name), encoding="utf-8")
    torch.save(net.state_dict(), root / files["state_dict"])
    with torch.no_grad():
        traced = torch.jit.trace(net, torch.rand(1, c, side, side), strict=False)
    traced.save(str(root / files["torchscript"]))
    if _export_onnx(net, c, side, root / "weights.onnx"):
        files["onnx"] = "weights.onnx"
    rdf = _rdf(meta, name, side, files)
    context = ValidationContext(root=root, perform_io_checks=True)
    with context:
        descr = build_description(rdf)
    if isinstance(descr, InvalidDescr):
        problems = " ".join(str(descr.get_reason()).split())[:800]
        raise InputError(f"the bioimage.io description did not validate: {problems}")
    from ..io.guard import staged

    with staged(out) as tmp_zip:
        save_bioimageio_package(descr, output_path=tmp_zip)


def _export_onnx(net, c: int, side: int, path: Path) -> bool:
    """The network as ONNX with free batch and sizes (when the ``onnx`` package is there):
    the weights that other tools' runtimes, and napari-sisr's loader of foreign packages, run
    without PyTorch."""
    import importlib.util
    import warnings

    import torch

    from ..inference.engines import OPSET

    if importlib.util.find_spec("onnx") is None:
        return False
    dynamic = {0: "batch", 2: "y", 3: "x"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (torch.rand(1, c, side, side),),
            str(path),
            input_names=["raw"],
            output_names=["sr"],
            dynamic_axes={"raw": dynamic, "sr": dynamic},
            opset_version=OPSET,
            dynamo=False,
        )
    return True


def _min_side(rf: int) -> int:
    """Smallest input side a package declares: the network takes any size (the image is
    padded by the halo), but bioimage.io asks an output of more than its two halos."""
    return 2 * int(rf) + 2


def _percentiles(meta: dict) -> dict[str, float]:
    """The model's percentile normalisation (the inference default when it names none)."""
    from ..inference.intensity import DEFAULT_NORMALIZATION

    norm = meta.get("normalization") or DEFAULT_NORMALIZATION
    if norm.get("mode", "percentile") != "percentile":
        raise InputError(
            f"a model with normalization {norm.get('mode')!r} has no bioimage.io equivalent "
            "here: only percentile-normalised models are exported"
        )
    return {"low": float(norm["low"]), "high": float(norm["high"])}
