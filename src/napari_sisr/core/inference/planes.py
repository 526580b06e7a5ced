"""Which planes of a super-resolution job are finished.

A job over a time-lapse or a stack computes blocks of every plane (the leading, non-spatial
axes); progress in tiles says how far it is, but a user waiting on 48 frames asks how many
frames are done, and a cancelled job can keep the planes it finished. :class:`PlaneTally`
counts the blocks still missing per plane as they finish, in constant time per block.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

__all__ = ["PlaneTally", "in_waves"]

#: Blocks per worker thread in one wave of :func:`in_waves`.
WAVE_BLOCKS_PER_WORKER = 8


def in_waves(keys: Sequence, leads: Sequence, size: int) -> list[list]:
    """``keys`` (in plane order, ``leads`` their planes) cut into waves of whole planes, each
    of at least ``size`` blocks (the last may be smaller).

    Computed one wave after the other, a stack's planes finish in order (dask orders the
    tasks of one call as it likes: a time-lapse came back as frames 1, 2, 0, 4, 3), so a
    cancelled job holds its first planes, and progress in planes moves steadily. A wave of
    several blocks per worker keeps every worker busy but at its last few tasks.
    """
    waves: list[list] = []
    current: list = []
    for i, key in enumerate(keys):
        if current and len(current) >= size and leads[i] != leads[i - 1]:
            waves.append(current)
            current = []
        current.append(key)
    if current:
        waves.append(current)
    return waves


class PlaneTally:
    """Finished planes of a job whose blocks are ``order`` (``(lead_index, block)`` pairs).

    ``complete`` counts the planes (index tuples along all leading axes) with every block
    done; :meth:`prefix` the indices along the *first* leading axis, from 0, whose planes are
    all complete (the frames of a ``t z y x`` movie that can be kept as they are).
    """

    def __init__(self, order: Sequence) -> None:
        self._lead = [tuple(lead) for lead, _ in order]
        self._left = Counter(self._lead)
        self.planes = len(self._left)
        self.complete = 0
        self._first = Counter(lead[0] for lead in self._left if lead)  # planes left per index
        self._extent = len(self._first)
        self._prefix = 0

    @property
    def extent(self) -> int:
        """Indices along the first leading axis (0 for a single plane)."""
        return self._extent

    def add(self, indices: Iterable[int]) -> None:
        """Count the blocks ``indices`` (positions in ``order``) as finished."""
        for i in indices:
            lead = self._lead[i]
            self._left[lead] -= 1
            if self._left[lead] == 0:
                self.complete += 1
                if lead:
                    self._first[lead[0]] -= 1

    def prefix(self) -> int:
        """How many indices along the first leading axis, from 0, are complete."""
        while self._prefix < self._extent and self._first[self._prefix] == 0:
            self._prefix += 1
        return self._prefix

    def says(self) -> str:
        """``" (12 of 48 planes done)"`` where there is more than one plane, else ``""``."""
        if self.planes < 2:
            return ""
        return f" ({self.complete} of {self.planes} planes done)"
