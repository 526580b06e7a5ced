"""Training patches and the held-out validation set.

:class:`PatchSampler` draws random HR patches (random position, 90-degree rotation, flip) with
an explicit ``numpy.random.Generator``; :class:`Degrader` simulates their LR twins on the
training device with :func:`~napari_sisr.core.degradation.simulate.simulate_lr_torch`, one
parameter set per sample; :class:`ValidationSet` simulates the LR of the validation images ONCE
with a fixed seed and scores a generator against HR and against bicubic upsampling.

Units: HR planes are normalised to roughly [0, 1]. Fitted :class:`DegradationParams` are in the
raw intensity units of the HR images, so they are converted per plane: the same physical noise
is a larger fraction of a dim image's range. The sub-pixel shift of a fitted pair is a property
of that pair (registration), not of the microscope, so it is not simulated.
"""

from __future__ import annotations

import numpy as np

from ..degradation.condition import condition_of
from ..degradation.params import DegradationParams, DegradationRange
from ..errors import InputError
from ..evaluation.baselines import bicubic
from ..metrics import psnr_torch, ssim_torch
from .images import TrainImage

__all__ = ["PatchSampler", "Degrader", "ValidationSet", "normalised_params"]


def normalised_params(p: DegradationParams, low: float, span: float) -> DegradationParams:
    """Express raw-unit parameters in the units of an image normalised as ``(x - low) / span``.

    ``LR_raw = gain * D(K * HR_raw) + offset + n``; normalising the LR by the matching range
    (``gain * low + offset``, ``gain * span``) gives ``D(K * HR_norm) + n / (gain * span)``.
    """
    g = abs(p.gain) * span
    a = p.poisson_a or 0.0
    var = (a * max(p.gain * low, 0.0) + p.noise_var) / g**2
    return DegradationParams(
        scale=p.scale,
        sigma=p.sigma,
        sigma_y=p.sigma_y,
        sigma_x=p.sigma_x,
        noise_var=var,
        poisson_a=a / g if a else None,
    )


def match_inference_normalisation(
    images: list[TrainImage], model, percentiles: tuple[float, float]
) -> list[TrainImage]:
    """Renormalise HR planes so that their simulated LR spans [0, 1] by its percentiles.

    At inference the real LR image is normalised by its own percentiles, and a blurred image
    has lower percentiles than its sharp original (much lower for sparse specimens): an HR
    plane normalised by its own percentiles would teach the network dimmer inputs than it
    will see. Here each plane is mapped so that the noise-free LR the degradation ``model``
    makes of it (its fixed parameters, or the middle of blind ranges) has the percentiles at
    0 and 1, exactly as inference will map a real capture; ``lo`` / ``hi`` follow, so the
    noise converts to these units as before.
    """
    from ..degradation.simulate import simulate_lr

    out = []
    for img in images:
        data = img.data.copy()
        lo, hi = img.lo.copy(), img.hi.copy()
        for p in range(data.shape[0]):
            if isinstance(model, DegradationRange):
                params = model.midpoint()
            else:
                params = normalised_params(model, img.low(p), img.span(p))
            blur = params.updated(noise_var=0.0, poisson_a=None)
            for c in range(data.shape[1]):
                sim = simulate_lr(data[p, c], blur, noise=False)
                q_lo, q_hi = np.percentile(sim, percentiles)
                if not q_hi > q_lo:
                    continue  # a flat plane: keep its own normalisation
                data[p, c] = (data[p, c] - q_lo) / (q_hi - q_lo)
                span = hi[p, c] - lo[p, c]
                lo[p, c], hi[p, c] = lo[p, c] + q_lo * span, lo[p, c] + q_hi * span
        out.append(TrainImage(img.name, data, lo, hi, img.lr, img.note, img.extra))
    return out


class PatchSampler:
    """Random augmented patches from a list of images.

    Images are chosen with probability proportional to their number of patch positions; each
    patch gets a random position (translation), a random 90-degree rotation and a random flip.
    In paired mode the matching LR patch is cut from the real LR image.
    """

    def __init__(self, images: list[TrainImage], patch: int, scale: int, augment: bool = True):
        self.images, self.patch, self.scale, self.augment = images, patch, scale, augment
        lp = patch // scale
        counts = []
        for img in images:
            ny, nx = img.lr.shape[-2:] if img.lr is not None else img.shape_yx
            p = lp if img.lr is not None else patch
            counts.append(img.data.shape[0] * max(ny - p + 1, 0) * max(nx - p + 1, 0))
        total = float(sum(counts))
        if total <= 0:
            raise InputError(f"no training image holds a {patch}-pixel patch")
        self.weights = np.asarray(counts, dtype=np.float64) / total

    def draw(self, n: int, rng: np.random.Generator):
        """Draw ``n`` patches: ``(hr (n, C, p, p), lr or None, [(image index, plane)])``."""
        s, p = self.scale, self.patch
        which = rng.choice(len(self.images), size=n, p=self.weights)
        hrs, lrs, origin = [], [], []
        for i in which:
            img = self.images[int(i)]
            plane = int(rng.integers(img.data.shape[0]))
            if img.lr is not None:
                ly, lx = img.lr.shape[-2:]
                y = int(rng.integers(ly - p // s + 1))
                x = int(rng.integers(lx - p // s + 1))
                hr = img.data[plane, :, y * s : y * s + p, x * s : x * s + p]
                lr = img.lr[plane, :, y : y + p // s, x : x + p // s]
            else:
                ny, nx = img.shape_yx
                y, x = int(rng.integers(ny - p + 1)), int(rng.integers(nx - p + 1))
                hr, lr = img.data[plane, :, y : y + p, x : x + p], None
            if self.augment:
                k, flip = int(rng.integers(4)), bool(rng.integers(2))
                hr = _augment(hr, k, flip)
                lr = None if lr is None else _augment(lr, k, flip)
            hrs.append(np.ascontiguousarray(hr))
            lrs.append(None if lr is None else np.ascontiguousarray(lr))
            origin.append((int(i), plane))
        lr_batch = None if lrs[0] is None else np.stack(lrs)
        return np.stack(hrs), lr_batch, origin


def _augment(a: np.ndarray, k: int, flip: bool) -> np.ndarray:
    a = np.rot90(a, k, axes=(-2, -1))
    return a[..., ::-1] if flip else a


class Degrader:
    """Per-sample LR simulation from fixed (raw-unit) parameters or blind ranges."""

    def __init__(self, model: DegradationParams | DegradationRange):
        self.model = model
        self._cache: dict[tuple[float, float], DegradationParams] = {}

    def params_for(self, image: TrainImage, plane: int, rng: np.random.Generator):
        """Parameters (normalised units) for one patch of ``image``."""
        if isinstance(self.model, DegradationRange):
            return self.model.sample(rng)
        key = (image.low(plane), image.span(plane))
        if key not in self._cache:
            self._cache[key] = normalised_params(self.model, *key)
        return self._cache[key]

    def fixed_for(self, image: TrainImage, plane: int) -> DegradationParams:
        """Deterministic parameters for validation (blind: the middle of the ranges)."""
        if isinstance(self.model, DegradationRange):
            return self.model.midpoint()
        return normalised_params(self.model, image.low(plane), image.span(plane))

    def __call__(self, hr, params, generator):
        from ..degradation.simulate import simulate_lr_torch

        return simulate_lr_torch(hr, params, generator)


class ValidationSet:
    """Held-out images with their LR simulated once (fixed seed), scored against bicubic.

    Each validation image contributes up to ``max_planes`` evenly spaced planes, centre-cropped
    to ``max_size`` HR pixels (and to a multiple of the scale). Where an image carries a *real*
    LR capture (paired mode, or real LR captures given for validation), that capture is used
    and scored as against a real pair (:mod:`napari_sisr.core.evaluation.scoring`): the
    model's output and bicubic each get their own least-squares gain and offset, and a border of
    ``4 * scale`` HR pixels is left out, since a real capture has its own intensity units.
    """

    def __init__(
        self,
        images: list[TrainImage],
        scale: int,
        degrader: Degrader | None,
        seed: int,
        device,
        max_size: int = 512,
        max_planes: int = 4,
    ):
        import torch

        self.scale = scale
        self.items: list[dict] = []
        gen = torch.Generator(device=device).manual_seed(int(seed))
        for img in images:
            planes = np.unique(
                np.linspace(0, img.data.shape[0] - 1, max_planes).round().astype(int)
            )
            for plane in planes:
                hr, lr = _crop_pair(img, int(plane), scale, max_size)
                hr_t = torch.from_numpy(hr)[None].to(device)
                params = None if degrader is None else degrader.fixed_for(img, int(plane))
                if lr is None:
                    lr_t = degrader(hr_t, [params], gen)
                else:
                    lr_t = torch.from_numpy(lr)[None].to(device)
                item = {"name": f"{img.name}[{int(plane)}]", "hr": hr_t, "lr": lr_t}
                # the condition a degradation-aware generator is told (None in paired mode)
                item["cond"] = None if params is None else torch.tensor([condition_of(params)])
                if item["cond"] is not None:
                    item["cond"] = item["cond"].to(device)
                item["real"] = lr is not None
                item["psnr_bicubic"], item["ssim_bicubic"] = self._score(bicubic(lr_t, scale), item)
                self.items.append(item)
        if not self.items:
            raise InputError("the validation set is empty")

    def evaluate(self, net) -> dict[str, float]:
        """Mean PSNR / SSIM (data range 1, normalised units) of ``net`` and of bicubic."""
        import torch

        was_training = net.training
        net.eval()
        ps, ss = [], []
        with torch.no_grad():
            for item in self.items:
                p, q = self._score(_forward(net, item["lr"], item["cond"]), item)
                ps.append(p)
                ss.append(q)
        net.train(was_training)
        return {
            "psnr": float(np.mean(ps)),
            "ssim": float(np.mean(ss)),
            "psnr_bicubic": float(np.mean([i["psnr_bicubic"] for i in self.items])),
            "ssim_bicubic": float(np.mean([i["ssim_bicubic"] for i in self.items])),
            "n_images": len(self.items),
        }

    def _score(self, sr, item) -> tuple[float, float]:
        """PSNR and SSIM of ``sr`` against the item's HR (real captures: gain-matched)."""
        hr = item["hr"]
        if item["real"]:
            b = 4 * self.scale
            if min(hr.shape[-2:]) > 2 * b + 11:
                sr, hr = sr[..., b:-b, b:-b], hr[..., b:-b, b:-b]
            x = sr - sr.mean()
            den = float((x * x).sum())
            g = float((x * (hr - hr.mean())).sum()) / den if den > 0 else 1.0
            sr = g * x + hr.mean()
        return float(psnr_torch(sr, hr)[0]), float(ssim_torch(sr, hr)[0])

    def preview(self, net, size: int = 48) -> np.ndarray:
        """SR of a central ``size`` LR-pixel crop of the first validation image (numpy)."""
        import torch

        lr = self.items[0]["lr"]
        y0 = max(0, (lr.shape[-2] - size) // 2)
        x0 = max(0, (lr.shape[-1] - size) // 2)
        crop = lr[..., y0 : y0 + size, x0 : x0 + size]
        cond = self.items[0]["cond"]
        was_training = net.training
        net.eval()
        with torch.no_grad():
            sr = _forward(net, crop, cond)[0].float().cpu().numpy()
        net.train(was_training)
        return sr[0] if sr.shape[0] == 1 else sr


def _forward(net, lr, cond=None):
    """``net(lr)``; a degradation-aware generator is also told the item's condition."""
    if cond is not None and getattr(net, "conditioned", False):
        return net(lr, cond)
    out = net(lr)
    return out[-1] if isinstance(out, list | tuple) else out


def _crop_pair(img: TrainImage, plane: int, scale: int, max_size: int):
    ny, nx = img.shape_yx
    hy = min(ny, max_size) // scale * scale
    hx = min(nx, max_size) // scale * scale
    y0 = (ny - hy) // 2 // scale * scale
    x0 = (nx - hx) // 2 // scale * scale
    hr = np.ascontiguousarray(img.data[plane, :, y0 : y0 + hy, x0 : x0 + hx])
    if img.lr is None:
        return hr, None
    ly, lx = y0 // scale, x0 // scale
    lr = np.ascontiguousarray(img.lr[plane, :, ly : ly + hy // scale, lx : lx + hx // scale])
    return hr, lr
