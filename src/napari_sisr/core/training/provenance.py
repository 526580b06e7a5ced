"""What a model was trained on: which planes of which captures, and which part of each.

Every training image's planes get a digest of their pixels (as read, before normalisation), and
the run records the region of each source that patches were drawn from and the region held out
for validation. The model file keeps this (``training_data``), so a later score can tell when
the pair it is given is (a part of) the training data, and score the held-out part apart:
a score on trained pixels says how well the model remembers, not how well it generalises.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

Region = tuple[tuple[int, int], tuple[int, int]]  # ((y0, y1), (x0, x1)) in HR px


def digest(plane) -> str:
    """A short digest of an array's pixels, dtype and shape (the same pixels, the same digest)."""
    a = np.ascontiguousarray(np.asarray(plane))
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()[:20]


def plane_digests(planes: np.ndarray) -> list[str]:
    """Digests of every 2D plane of a ``(..., Y, X)`` array, in C order."""
    flat = np.asarray(planes).reshape((-1,) + tuple(planes.shape[-2:]))
    return [digest(p) for p in flat]


def source_record(img, role: str, use: str, region: Region | None = None) -> dict:
    """One source of a run: ``role`` (``"HR"``, ``"LR"``, ``"real LR"``), ``use``
    (``"trained"`` or ``"held out"``), its plane digests and the region used (HR px)."""
    extra = img.extra or {}
    shape = extra.get("shape_yx") or list(img.shape_yx)
    if region is None:
        region = extra.get("region") or ((0, int(shape[0])), (0, int(shape[1])))
    out = {
        "name": img.name,
        "role": role,
        "use": use,
        "shape_yx": [int(v) for v in shape],
        "region_yx": [[int(a), int(b)] for a, b in region],
        "digests": list(extra.get("digests") or []),
    }
    if extra.get("lr_digests"):
        out["lr_digests"] = list(extra["lr_digests"])
    return out


def run_provenance(train, val, *, real_lr_trained: bool, paired: bool) -> list[dict]:
    """The records of a run's training and validation images (see :func:`source_record`).

    A real LR capture attached for validation only (``real_lr_trained`` false) is not
    training data; in paired mode, or with a fraction of real captures in training, it is.
    """
    out = []
    for use, images in (("trained", train), ("held out", val)):
        for img in images:
            rec = source_record(img, "HR", use)
            if "lr_digests" in rec and use == "trained" and not (paired or real_lr_trained):
                rec["lr_use"] = "validation only"
            out.append(rec)
    return out


@dataclass(frozen=True)
class Overlap:
    """A scored pair that is (part of) a model's training data."""

    name: str
    trained: Region  # HR px of the pair's HR image that patches were drawn from
    held_out: Region | None  # the part of it held out from training, when there is one
    matched: str  # "HR image" or "LR capture"

    def sentence(self) -> str:
        (a, b), (c, d) = self.trained
        text = (
            f"this pair is the model's training data ({self.matched} {self.name}: HR rows "
            f"{a}-{b}, columns {c}-{d} were trained on)"
        )
        if self.held_out is None:
            return text + "; no part of it was held out: score a field the model never saw"
        (a, b), (c, d) = self.held_out
        return text + f"; rows {a}-{b}, columns {c}-{d} were held out and are scored apart"


def find_overlap(records, lr, hr) -> Overlap | None:
    """Whether the pair ``(lr, hr)`` (raw planes, as given) is in the training records of a
    model (``meta["training_data"]``): its HR image, or its LR capture where the run trained
    on real captures, has the digest of a trained plane."""
    if not records:
        return None
    hr_d, lr_d = digest(hr), digest(lr)
    trained = [r for r in records if r.get("use") == "trained"]
    held = [r for r in records if r.get("use") == "held out"]
    for rec in trained:
        lr_trained = rec.get("lr_use") != "validation only"
        if hr_d in rec.get("digests", ()):
            matched = "HR image"
        elif lr_trained and lr_d in rec.get("lr_digests", ()):
            matched = "LR capture"
        else:
            continue
        same = [r for r in held if set(r.get("digests", ())) & set(rec.get("digests", ()))]
        held_out = _region(same[0]) if same else None
        return Overlap(rec["name"], _region(rec), held_out, matched)
    return None


def _region(rec: dict) -> Region:
    (a, b), (c, d) = rec["region_yx"]
    return (int(a), int(b)), (int(c), int(d))
