"""``napari-sisr models``: list the bundled models with their cards."""

from __future__ import annotations

import json

from ..core.modelio import DEFAULT_MODEL


def add(sub) -> None:
    p = sub.add_parser("models", help="list the bundled models and their model cards")
    p.add_argument("name", nargs="?", help="show one model's full card (JSON)")
    p.set_defaults(run=run)


def _card_line(name: str, meta: dict) -> str:
    val = (meta.get("benchmark") or {}).get("held_out") or {}
    gain = val.get("mean_psnr_gain_db")
    extra = ""
    if gain is not None:
        told = ", told the truth" if val.get("told") else ""
        extra = f", gain over bicubic on simulated held-out captures {gain:+.2f} dB{told}"
    default = " (default)" if name == DEFAULT_MODEL else ""
    return (
        f"{name}{default}: {meta.get('arch')}/{meta.get('preset')}, x{meta.get('scale')}, "
        f"{meta.get('in_channels')} channel(s), receptive field {meta.get('receptive_field')} "
        f"LR px{extra}"
    )


def run(args) -> int:
    from ..core.errors import InputError
    from ..core.modelio import bundled_models, read_model_meta

    models = bundled_models()
    if args.name:
        if args.name not in models:
            raise InputError(f"no bundled model {args.name!r}; bundled: {', '.join(models)}")
        print(json.dumps(read_model_meta(args.name), indent=2))
        return 0
    if not models:
        print("no bundled models")
        return 0
    for name in models:
        print(_card_line(name, read_model_meta(name)))
    print(
        "\nThe gains are on real images the models were not trained on, degraded by a known PSF "
        "and noise (degradation-aware models told them). On a real capture, score a model "
        "against bicubic and Richardson-Lucy with: napari-sisr evaluate MODEL LR HR --scale S"
    )
    return 0
