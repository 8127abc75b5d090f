"""Seeded random generators: no global random state anywhere in pcbforge.

A stage derives one independent stream per item from ``base.seed`` and the item's
stable key, so results do not depend on processing order or worker count.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np


def make_rng(seed: int, *keys: object) -> np.random.Generator:
    """A generator for ``seed`` and a tuple of stable keys (strings, ints).

    Example:
        >>> a = make_rng(7, "crop", "board-1").integers(1 << 30)
        >>> b = make_rng(7, "crop", "board-1").integers(1 << 30)
        >>> bool(a == b)
        True
    """
    digest = hashlib.sha256("\x1f".join(str(k) for k in keys).encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFF, *words]))


def workers(configured: int) -> int:
    """Resolve ``base.workers`` (0 = all cores) to a positive process count."""
    if configured > 0:
        return configured
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
