"""FiftyOne's database and App, shared by ``review`` (photos) and ``annotate`` (board boxes).

Database: by default FiftyOne's bundled ``mongod``, with its files in the section's
``database_dir``; when ``FIFTYONE_DATABASE_URI`` is set (a shared MongoDB for several
annotators), that server. :func:`configure` must run before anything connects to the
database. :func:`launch` serves the App for a dataset, optionally until Ctrl-C/SIGTERM.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pcbforge.errors import InputError

if TYPE_CHECKING:
    import fiftyone as fo

log = logging.getLogger(__name__)


def configure(database_dir: Path) -> None:
    """Point FiftyOne at its database; call before the first connection.

    With ``FIFTYONE_DATABASE_URI`` set, FiftyOne uses that MongoDB and ``database_dir`` is
    unused. Otherwise the bundled ``mongod`` keeps its files in ``database_dir``. The env
    variable matters as much as ``fo.config``: FiftyOne's database service and the App
    server run in subprocesses that read their config from the environment.
    """
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    uri = os.environ.get("FIFTYONE_DATABASE_URI") or None
    if uri is None:
        os.environ["FIFTYONE_DATABASE_DIR"] = str(database_dir)
    import fiftyone as fo

    fo.config.do_not_track = True
    if uri is None:
        fo.config.database_dir = str(database_dir)
    else:
        fo.config.database_uri = uri


def database_name() -> str:
    """Where FiftyOne's datasets live now (for messages): the URI, else the bundled database dir."""
    import fiftyone as fo

    return str(fo.config.database_uri or fo.config.database_dir)


def check_port_free(address: str, port: int, section: str = "review") -> None:
    """Fail fast on a busy port: FiftyOne would wait a minute, or silently reuse another App.

    Raises:
        InputError: something listens on ``address:port`` (names the params keys to change).
    """
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the App server does
        try:
            s.bind((address, port))
        except OSError as exc:
            raise InputError(
                f"cannot serve the App on {address}:{port}: {exc.strerror}; "
                f"stop what runs there or set {section}.port / {section}.address in params.yaml"
            ) from exc


def launch(dataset: fo.Dataset, address: str, port: int, block: bool = True, section: str = "review") -> Any:
    """Serve the App for ``dataset`` on ``address:port``; with ``block``, until Ctrl-C.

    Args:
        dataset: what the App shows.
        address: interface to listen on.
        port: TCP port.
        block: wait until Ctrl-C or SIGTERM, then close the App; without it the App keeps
            serving (tests close it with ``fiftyone.close_app()``).
        section: params section that set ``address``/``port`` (named in a busy-port error).

    Returns:
        The FiftyOne session (already closed when ``block``).
    """
    import fiftyone as fo

    check_port_free(address, port, section)
    session = fo.launch_app(dataset, address=address, port=port, remote=True, auto=False)
    log.info("FiftyOne App serving %r at http://%s:%d (Ctrl-C to stop)", dataset.name, address, port)
    if block:
        # SIGTERM (a container or service manager stopping us) must close the App like Ctrl-C:
        # killed outright, Python skips the cleanup and the App server outlives us.
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            session.wait(-1)
        except KeyboardInterrupt:
            log.info("stopping the App")
        finally:
            signal.signal(signal.SIGTERM, previous)
            session.close()
    return session


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
