"""Tooltips of the Super-resolve widget's controls, by control attribute name."""

from __future__ import annotations

TOOLTIPS = {
    "layers": "Image layers to super-resolve (follows the layer selection)",
    "all_layers": "Process every image layer of the viewer, one after another",
    "tile": "Tile edge in input pixels; smaller tiles use less memory",
    "halo": "Overlap read around each tile, in input pixels",
    "halo_auto": "Use the model's receptive field: tiled results then equal an untiled run",
    "device": "auto uses a GPU when one is available",
    "engine": "auto: OpenVINO on a CPU when installed (fastest there), else torch",
    "precision": (
        "auto: bf16 with OpenVINO on CPUs that run it natively, else fp32. bf16 / fp16 only "
        "where the device runs them natively (fp16: GPUs); int8 with OpenVINO (quantised "
        "once per model; costs about 0.06-0.08 dB)"
    ),
    "ensemble": (
        "Run the model on 8 flips and rotations of each tile (4 for a degradation-aware "
        "model) and average: a little more accurate (+0.11 dB on real pairs for models "
        "trained on the pair), about 8 times slower"
    ),
    "output": "OME-Zarr streams the result to disk: for images larger than memory",
    "out_path": (
        "Folder to write (.ome.zarr); with several layers each gets _<layer name> appended. "
        "An interrupted run of the same job is resumed."
    ),
    "overwrite": "Replace a finished output of the same name",
}
