"""``napari-sisr evidence SR LR``: where a capture supports a super-resolved image."""

from __future__ import annotations

import sys
from pathlib import Path

from ._common import print_json


def add(sub) -> None:
    p = sub.add_parser(
        "evidence",
        help="how far to trust a super-resolved image: consistency with its capture, resolution",
        description=(
            "Take the SR image back through the microscope's degradation (the PSF the model was "
            "steered or trained with: --model, --degradation, or a width fitted to the pair), "
            "compare with the capture in units of its noise (a z-score per LR pixel), and "
            "measure the resolution of both by decorrelation analysis. With --model, also the "
            "resolution two independent halves of the capture agree on and, for a "
            "degradation-aware model, the uncertainty from its steering. One JSON line to "
            "stdout, the findings in words on stderr."
        ),
    )
    p.add_argument("sr", help="the super-resolved image")
    p.add_argument("lr", help="the capture it was made from")
    p.add_argument("--model", help="the model that made it (bundled name or .json)")
    p.add_argument(
        "--degradation", metavar="FIT.json", help="the degradation it was steered or trained with"
    )
    p.add_argument("--scale", type=int, help="SR pixels per capture pixel (default: the sizes)")
    p.add_argument("--pixel-size-um", type=float, metavar="UM", help="capture pixel size, um")
    p.add_argument("--channel", type=int, help="use this channel instead of the luminance")
    p.add_argument("-o", "--output", metavar="MAP.tif", help="write the z-score map (LR grid)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    p.add_argument("--no-split", action="store_true", help="skip the split-input resolution")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..core.errors import OutputExistsError
    from ..core.evidence import evidence
    from ..core.evidence.reading import read_plane
    from ..core.io.guard import check_not_input
    from ._evidence import pixel_size_nm, scale_of

    if args.output:
        check_not_input(args.output, [args.sr, args.lr, args.degradation])
        if Path(args.output).exists() and not args.overwrite:
            raise OutputExistsError(f"{args.output} exists; pass --overwrite to replace it")
    sr, _ = read_plane(args.sr, args.channel)
    lr, found = read_plane(args.lr, args.channel)
    scale = args.scale or scale_of(sr.shape, lr.shape)
    ev = evidence(
        sr,
        lr,
        scale,
        model=args.model,
        degradation=args.degradation,
        pixel_size_nm=pixel_size_nm(args.pixel_size_um, found),
        split=not args.no_split,
    )
    print(ev.table(), file=sys.stderr)
    if args.output:
        from ..core.io.images import write_image

        write_image(args.output, ev.consistency.z.astype("float32"))
    print_json({**ev.summary(), "scale": scale})
    return 0
