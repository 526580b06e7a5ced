"""VGG19 feature (perceptual) loss from user-supplied weights.

The network is written here; its parameter names follow torchvision's ``vgg19`` (``features.N.
weight``), so a standard VGG19 state dict saved as ``.safetensors`` (or as a ``.pth`` file,
read with ``torch.load(weights_only=True)``) loads directly. No weights ship with the package
and none are downloaded: without a file the feature loss is simply off.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError, InputNotFoundError

__all__ = ["VGG19_LAYERS", "VGGFeatureLoss", "build_feature_loss", "load_vgg19_state"]

log = logging.getLogger(__name__)

# torchvision's vgg19 "features" configuration: channels, "M" = 2x2 max pool.
_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M"]
_CFG += [512, 512, 512, 512, "M"]


def _layer_table() -> tuple[dict[str, int], dict[int, tuple[int, int]]]:
    names: dict[str, int] = {}
    convs: dict[int, tuple[int, int]] = {}
    idx, block, sub, cin = 0, 1, 1, 3
    for v in _CFG:
        if v == "M":
            names[f"pool{block}"] = idx
            idx, block, sub = idx + 1, block + 1, 1
            continue
        names[f"conv{block}_{sub}"] = idx
        names[f"relu{block}_{sub}"] = idx + 1
        convs[idx] = (cin, int(v))
        idx, sub, cin = idx + 2, sub + 1, int(v)
    return names, convs


#: layer name ("conv5_4", "relu5_4", "pool4", ...) -> index in ``features``.
VGG19_LAYERS, _CONVS = _layer_table()
_KEY = re.compile(r"(?:^|\.)(?:features\.)?(\d+)\.(weight|bias)$")
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def load_vgg19_state(path: str | os.PathLike, upto: int) -> dict[str, torch.Tensor]:
    """Read VGG19 conv tensors ``features.0 .. features.upto`` from a file, checking shapes.

    Parameters
    ----------
    path : path-like
        ``.safetensors`` file, or ``.pth`` / ``.pt`` state dict (loaded with
        ``weights_only=True``).
    upto : int
        Last ``features`` index needed.

    Returns
    -------
    dict
        ``features.N.weight`` / ``features.N.bias`` -> tensor.
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"VGG19 weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        raw = load_file(str(path), device="cpu")
    elif path.suffix in (".pth", ".pt"):
        raw = torch.load(str(path), map_location="cpu", weights_only=True)
        raw = raw.get("state_dict", raw) if isinstance(raw, dict) else raw
        if not isinstance(raw, dict):
            raise InputError(f"{path} does not hold a state dict")
    else:
        raise InputError(f"VGG19 weights must be a .safetensors or .pth file, got {path.name}")
    found: dict[str, torch.Tensor] = {}
    for key, value in raw.items():
        m = _KEY.search(key)
        if m and key.split(".")[0] != "classifier":
            found[f"features.{m.group(1)}.{m.group(2)}"] = value
    state = {}
    for idx, (cin, cout) in _CONVS.items():
        if idx > upto:
            break
        for kind, shape in (("weight", (cout, cin, 3, 3)), ("bias", (cout,))):
            key = f"features.{idx}.{kind}"
            if key not in found:
                raise InputError(
                    f"{path} lacks {key}: expected a torchvision-style VGG19 state dict "
                    f"(keys 'features.N.weight')"
                )
            if tuple(found[key].shape) != shape:
                raise InputError(
                    f"{path}: {key} has shape {tuple(found[key].shape)}, VGG19 needs {shape} "
                    f"(is this VGG19 without batch norm?)"
                )
            state[key] = found[key].float()
    return state


class VGGFeatureLoss(nn.Module):
    """Distance between VGG19 features of SR and HR images.

    Parameters
    ----------
    weights_path : path-like
        VGG19 weights (see :func:`load_vgg19_state`); required.
    layer : str or dict
        Layer name (``"conv5_4"`` is before the ReLU, as in ESRGAN; ``"relu5_4"`` after it,
        as in SRGAN), or a dict ``{layer: weight}`` to sum several layers (Real-ESRGAN uses
        ``conv1_2 .. conv5_4`` with weights 0.1, 0.1, 1, 1, 1).
    criterion : {"l1", "mse"}
        Distance between feature maps.
    feature_scale : float
        Features are multiplied by this before the distance (SRGAN rescales by 1/12.75).

    Notes
    -----
    Inputs are ``(N, C, H, W)`` images in [0, 1]. Three channels are taken as RGB; any other
    channel count is fed channel by channel as grayscale (repeated to RGB). ImageNet
    mean / std normalisation is applied. The network is frozen and stays in eval mode.
    """

    def __init__(
        self,
        weights_path: str | os.PathLike | None,
        layer: str | dict[str, float] = "conv5_4",
        criterion: str = "l1",
        feature_scale: float = 1.0,
    ):
        super().__init__()
        if weights_path is None:
            raise InputError(
                "VGG feature loss needs VGG19 weights: give the path of a .safetensors (or .pth)"
                " torchvision-style VGG19 state dict"
            )
        layers = {layer: 1.0} if isinstance(layer, str) else dict(layer)
        unknown = [name for name in layers if name not in VGG19_LAYERS]
        if unknown:
            raise InputError(f"unknown VGG19 layer(s) {unknown}; e.g. 'conv5_4', 'relu2_2'")
        if criterion not in ("l1", "mse"):
            raise InputError(f"criterion must be 'l1' or 'mse', got {criterion!r}")
        self.layers = {VGG19_LAYERS[n]: float(w) for n, w in layers.items()}
        self.criterion = criterion
        self.feature_scale = float(feature_scale)
        upto = max(self.layers)
        mods: list[nn.Module] = []
        for idx in range(upto + 1):
            if idx in _CONVS:
                mods.append(nn.Conv2d(*_CONVS[idx], 3, padding=1))
            elif idx - 1 in _CONVS:
                mods.append(nn.ReLU())
            else:
                mods.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*mods)
        self.features.load_state_dict(
            {
                k.removeprefix("features."): v
                for k, v in load_vgg19_state(weights_path, upto).items()
            }
        )
        self.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1))

    def train(self, mode: bool = True) -> VGGFeatureLoss:
        """Stay in eval mode whatever the caller asks (a frozen feature extractor)."""
        return super().train(False)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != 3:
            x = x.reshape(-1, 1, *x.shape[-2:]).expand(-1, 3, -1, -1)
        return (x - self.mean) / self.std

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        if sr.shape != hr.shape:
            raise InputError(f"SR shape {tuple(sr.shape)} differs from HR {tuple(hr.shape)}")
        feats = self._prepare(torch.cat([sr, hr.detach()], 0))
        dist = F.l1_loss if self.criterion == "l1" else F.mse_loss
        total = sr.new_zeros(())
        for idx, module in enumerate(self.features):
            feats = module(feats)
            if idx in self.layers:
                f = feats * self.feature_scale
                bs = f.shape[0] // 2
                total = total + self.layers[idx] * dist(f[:bs], f[bs:].detach())
        return total


def build_feature_loss(weights_path: str | os.PathLike | None, **kwargs) -> VGGFeatureLoss | None:
    """A :class:`VGGFeatureLoss`, or None when no weights are given.

    No weights is the normal case (none can be downloaded; the user gives a file): the term is
    then off, noted at INFO level only, not as a warning on every run.
    """
    if weights_path is None:
        log.info("VGG feature loss off: no VGG19 weights given (vgg_weights)")
        return None
    return VGGFeatureLoss(weights_path, **kwargs)
