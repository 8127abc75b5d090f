"""Module-level tasks for pool tests (spawned workers import them by name)."""

from __future__ import annotations

import logging

log = logging.getLogger("pcbforge.test.pool")


def warn_and_double(x: int) -> int:
    """Log one warning and one info line from the worker, return ``2 * x``."""
    log.warning("worker warning %d", x)
    log.info("worker info %d", x)
    return 2 * x


def mark_started(folder: str, x: int) -> int:
    """Leave a file named ``x`` in ``folder`` (the task ran), return ``x``."""
    from pathlib import Path

    (Path(folder) / str(x)).touch()
    return x


def power_and_pid(exponent: int, x: int) -> tuple[int, int]:
    """``x ** exponent`` and the id of the process that computed it."""
    import os

    return x**exponent, os.getpid()
