"""How pcbforge's log lines look, set up in one place for the CLI and for pool workers.

Pool workers are spawned interpreters (see :mod:`pcbforge.parallel`): without this they would
have no handler, their INFO lines would vanish and their warnings would reach stderr bare.
"""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(name)s %(levelname)s: %(message)s"
DATEFMT = "%H:%M:%S"


def configure(level: int) -> None:
    """Log to stderr at ``level`` in pcbforge's format (a no-op when logging is already set up).

    Example:
        >>> configure(logging.INFO)
    """
    logging.basicConfig(level=level, format=FORMAT, datefmt=DATEFMT)
