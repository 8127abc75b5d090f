"""Module-level tasks for pool tests (spawned workers import them by name)."""

from __future__ import annotations

import logging

log = logging.getLogger("pcbforge.test.pool")


def warn_and_double(x: int) -> int:
    """Log one warning and one info line from the worker, return ``2 * x``."""
    log.warning("worker warning %d", x)
    log.info("worker info %d", x)
    return 2 * x
