"""``napari-sisr export-bmz MODEL -o OUT.zip``: a model as a bioimage.io package."""

from __future__ import annotations

from ._common import print_json


def add(sub) -> None:
    p = sub.add_parser(
        "export-bmz",
        help="export a model as a bioimage.io model package (zip)",
        description="Write a bioimage.io model package (format 0.5: pytorch_state_dict and "
        "TorchScript weights, test tensors, cover, documentation from the model card) that "
        "deepImageJ, ilastik, Fiji and bioimageio.core run, and that napari-sisr loads back "
        "(--model OUT.zip). Needs pip install 'napari-sisr[bmz]'.",
    )
    p.add_argument("model", help="bundled model name, model .json / .safetensors or run folder")
    p.add_argument("-o", "--output", required=True, help="the package to write (.zip)")
    p.add_argument("--name", help="the package's display name (default: from the model)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing package")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..core.bmz import export_bmz

    path = export_bmz(args.model, args.output, name=args.name, overwrite=args.overwrite)
    print_json({"model": args.model, "output": str(path)})
    return 0
