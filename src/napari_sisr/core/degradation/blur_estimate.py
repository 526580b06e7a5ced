"""The PSF width of an LR image read from its pixels by a small learned estimator.

Automatic steering of a degradation-aware model needs the PSF width when neither a fit, the
optics nor the image's metadata give it. :class:`SigmaNet` reads it from an LR plane: six
3 x 3 convolutions of 32 features (two dilated) give, per pixel, an estimate and a weight (a
softmax over the plane, so flat background counts for little); the estimate is their
weighted mean, in LR pixels, so one network serves every scale.

It is trained (``scripts/train_sigma_estimator.py``) on simulations of the bundled models'
training images over the degradation-aware models' ranges (sigma 0-1.5 LR px, noise 0-10 %,
Poisson, soft specimens on half of the patches), at x2 and x4 mixed. A soft specimen and a
wide PSF look alike, so the estimate follows the specimen's own softness too:
``benchmarks/bench_sigma_estimate.py`` measures it on held-out images, and a model card
uses it (``"steering": {"sigma_from_image": true}``) only where it beats the card's fixed
default there.

The weights are bundled as safetensors with a JSON card beside them.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import InputError

__all__ = [
    "ESTIMATOR",
    "TRAINED_FOR",
    "SigmaNet",
    "estimate_sigma",
    "load_sigma_net",
    "sample_batch",
]

#: The bundled estimator: ``sigma.safetensors`` and ``sigma.json``.
ESTIMATOR = Path(__file__).resolve().parents[2] / "models" / "estimators" / "sigma"
#: The largest plane side the estimate reads (a central crop beyond it).
MAX_SIDE = 512
#: What :func:`sample_batch` draws from (uniformly): the aware models' ranges, sigma in LR px,
#: noise std as a fraction of the range; half of the HR patches are softened (HR px).
TRAINED_FOR = {
    "sigma_lr_px": (0.0, 1.5),
    "noise_std": (0.0, 0.1),
    "poisson_a": (0.0, 0.001),
    "content_sigma_hr_px": (0.0, 3.0),
}


class SigmaNet(nn.Module):
    """The estimator network: PSF sigma (LR px) of each plane of ``x`` (N, 1, Y, X) in
    normalised units."""

    def __init__(self, nf: int = 32):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(1, nf, 3, padding=1), nn.ReLU()]
        for d in (1, 2, 1, 2, 1):
            layers += [nn.Conv2d(nf, nf, 3, padding=d, dilation=d), nn.ReLU()]
        layers.append(nn.Conv2d(nf, 2, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        o = self.body(4 * (x - x.mean(dim=(2, 3), keepdim=True)))
        w = torch.softmax(o[:, 0].flatten(1), 1)
        return (nn.functional.softplus(o[:, 1].flatten(1)) * w).sum(1)


def sample_batch(planes, n: int, scale: int, rng, generator, lr_patch: int = 48):
    """``n`` LR patches simulated from random crops of ``planes`` (2D arrays normalised to
    about [0, 1]) and their PSF sigma in LR px, drawn as the aware models' training draws
    them: sigma 0-1.5 LR px, noise std 0-10 %, Poisson gain 0-0.001, and half of the HR
    patches softened by 0-3 HR px."""
    from .params import DegradationParams
    from .simulate import simulate_lr_torch, soften

    hp = lr_patch * scale
    usable = [p for p in planes if min(p.shape) > hp]
    if not usable:
        raise InputError(f"no training plane is larger than {hp} px")
    hr = []
    for _ in range(n):
        p = usable[rng.integers(len(usable))]
        y, x = rng.integers(0, p.shape[0] - hp), rng.integers(0, p.shape[1] - hp)
        hr.append(np.rot90(p[y : y + hp, x : x + hp], rng.integers(4)).astype(np.float32))
    r = TRAINED_FOR
    soft = rng.uniform(*r["content_sigma_hr_px"], n) * (rng.random(n) < 0.5)
    t = soften(torch.from_numpy(np.stack(hr))[:, None], list(soft))
    sig = rng.uniform(*(scale * np.asarray(r["sigma_lr_px"])), n)
    noise, gain = rng.uniform(*r["noise_std"], n), rng.uniform(*r["poisson_a"], n)
    params = [
        DegradationParams(scale=scale, sigma=float(a), noise_var=float(b) ** 2, poisson_a=float(c))
        for a, b, c in zip(sig, noise, gain, strict=True)
    ]
    target = torch.tensor(sig / scale, dtype=torch.float32)
    return simulate_lr_torch(t, params, generator), target


@lru_cache(maxsize=2)
def load_sigma_net(path: str | None = None):
    """The estimator at ``path`` (a ``.safetensors`` with its ``.json``; default the
    bundled one), in eval mode."""
    from safetensors.torch import load_file

    base = Path(path).with_suffix("") if path else ESTIMATOR
    card = base.with_suffix(".json")
    if not card.exists():
        raise InputError(f"sigma estimator not found: {card}")
    meta = json.loads(card.read_text())
    net = SigmaNet(int(meta.get("features", 32)))
    net.load_state_dict(load_file(str(base.with_suffix(".safetensors"))))
    return net.eval()


def estimate_sigma(plane: np.ndarray, scale: int, path: str | None = None) -> float:
    """PSF sigma (HR px at ``scale``) of a 2D LR plane, read by the learned estimator
    (``path``: another one's weights) from a central crop of at most 512 px, normalised by
    its 0.1 / 99.9 percentiles. A soft specimen reads as a wider PSF: prefer a fit or the
    optics where you have them."""
    a = np.asarray(plane, dtype=np.float64)
    if a.ndim != 2 or min(a.shape) < 16:
        raise InputError(f"the PSF width is read from a 2D plane of 16 px or more, got {a.shape}")
    h, w = a.shape
    y0, x0 = max(0, (h - MAX_SIDE) // 2), max(0, (w - MAX_SIDE) // 2)
    a = a[y0 : y0 + MAX_SIDE, x0 : x0 + MAX_SIDE]
    if not np.isfinite(a).all():
        raise InputError("the image holds NaN or infinite values: its PSF width cannot be read")
    lo, hi = np.percentile(a, [0.1, 99.9])
    if not hi > lo:
        raise InputError("the image is flat: its PSF width cannot be read from it")
    x = torch.from_numpy(((a - lo) / (hi - lo)).astype(np.float32))[None, None]
    with torch.no_grad():
        return float(load_sigma_net(path)(x)) * int(scale)
