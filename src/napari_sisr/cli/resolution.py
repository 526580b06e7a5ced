"""``napari-sisr resolution IMAGE``: the resolution of one image, without a reference."""

from __future__ import annotations

from ._common import print_json


def add(sub) -> None:
    p = sub.add_parser(
        "resolution",
        help="the resolution of an image by decorrelation analysis (no reference needed)",
        description=(
            "Decorrelation analysis (Descloux et al., Nat. Methods 2019): the highest spatial "
            "frequency that still carries signal above the noise, as a resolution in nm when "
            "the pixel size is known (from --pixel-size-um or the file's metadata), else in "
            "pixels. One JSON line to stdout."
        ),
    )
    p.add_argument("image", help="an image file (its central plane of a stack is measured)")
    p.add_argument("--pixel-size-um", type=float, metavar="UM", help="pixel size, micrometres")
    p.add_argument("--channel", type=int, help="use this channel instead of the luminance")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..core.evidence import resolution
    from ..core.evidence.reading import read_plane
    from ._evidence import pixel_size_nm

    plane, found = read_plane(args.image, args.channel)
    px = pixel_size_nm(args.pixel_size_um, found)
    res = resolution(plane, px)
    print_json(
        {
            "resolution": res.value,
            "unit": res.unit,
            "kc": res.kc,
            "amplitude": res.amplitude,
            "pixel_size_nm": px,
            "text": res.text(),
        }
    )
    return 0
