"""Which torch device a job runs on: one resolver for training and inference."""

from __future__ import annotations

from .errors import InputError

__all__ = ["available_devices", "pick_device", "thread_count", "torch_device"]


def _mps_available(torch) -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def pick_device(device: str = "auto") -> str:
    """``"auto"`` -> ``"cuda"`` if available, else ``"mps"``, else ``"cpu"``; others unchanged."""
    import torch

    if device != "auto":
        return str(device)
    if torch.cuda.is_available():
        return "cuda"
    if _mps_available(torch):
        return "mps"
    return "cpu"


def available_devices() -> list[str]:
    """The device choices to offer: ``auto``, ``cpu`` and the accelerators torch can use."""
    import torch

    out = ["auto", "cpu"]
    if torch.cuda.is_available():
        out.append("cuda")
    if _mps_available(torch):
        out.append("mps")
    return out


def torch_device(device: str = "auto"):
    """The ``torch.device`` for a device name, refused clearly when it cannot be used here."""
    import torch

    name = pick_device(device)
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {device!r}: use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} requested but CUDA is not available on this machine")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise InputError(
            f"device {device!r} requested but this machine has {torch.cuda.device_count()} GPU(s)"
        )
    if dev.type == "mps" and not _mps_available(torch):
        raise InputError(f"device {device!r} requested but MPS is not available on this machine")
    return dev


class thread_count:  # noqa: N801 - used like a function: ``with thread_count(2): ...``
    """Use ``n`` torch CPU threads in the calling thread for the ``with`` block, then restore.

    torch's intra-op thread count (OpenMP) belongs to the thread that sets it, so a job that
    sets its own count inside its own thread leaves every other job (a training run beside an
    inference in napari, say) as it was. ``None`` changes nothing.
    """

    def __init__(self, n: int | None):
        self.n, self.old = (int(n) if n else None), None

    def __enter__(self):
        if self.n:
            import torch

            self.old = torch.get_num_threads()
            if self.old != self.n:
                torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc) -> None:
        if self.n and self.old and self.old != self.n:
            import torch

            torch.set_num_threads(self.old)
