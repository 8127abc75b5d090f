"""Serve a static directory on 127.0.0.1 (the built-in catalog site) from a background thread.

The crawl stage serves ``catalog.out/site`` here and points the real crawler at it, so
the default pipeline harvests images over HTTP with no internet.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

log = logging.getLogger(__name__)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        log.debug("builtin site: " + format, *args)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether ``port`` can be bound on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def serve_directory(root: str | Path, port: int = 0, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``root`` over HTTP until the block ends; yield the base URL (``http://127.0.0.1:<port>``).

    Args:
        root: directory to serve.
        port: port to bind; 0 picks a free one.
        host: loopback address to bind.

    Example:
        >>> with serve_directory("data/catalog/site") as base:  # doctest: +SKIP
        ...     print(base + "/index.html")
    """
    handler = functools.partial(_QuietHandler, directory=str(root))
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="builtin-site", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
