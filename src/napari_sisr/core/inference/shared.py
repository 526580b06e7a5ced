"""Compiled graphs and sessions shared by the jobs of a process."""

from __future__ import annotations

import threading
from collections import OrderedDict

__all__ = ["SHARED_GRAPHS", "shared"]

_SHARED: OrderedDict = OrderedDict()
_SHARED_LOCK = threading.Lock()
#: Compiled graphs kept for later jobs of the process (a batch of images, widget clicks).
SHARED_GRAPHS = 8


def shared(key: tuple, make):
    """A compiled graph or session shared by the jobs of this process (least recently used
    dropped): compiling costs as much as running a small image."""
    with _SHARED_LOCK:
        if key in _SHARED:
            _SHARED.move_to_end(key)
            return _SHARED[key]
    made = make()
    with _SHARED_LOCK:
        _SHARED[key] = made
        while len(_SHARED) > SHARED_GRAPHS:
            _SHARED.popitem(last=False)
    return made
