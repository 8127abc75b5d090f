"""Write small static catalog sites in the built-in catalog's HTML contract (tests only).

Contract (same as ``pcbforge.catalog``'s generated site):
``/index.html`` links ``<a class="category" href="category/<slug>/page-1.html">``; category
pages link ``<a class="product" href="../../product/<pid>.html">`` and paginate with
``<a class="next" rel="next" href="page-<n+1>.html">``; a product page has ``h1.title``,
``img.product-image`` (``src="../img/<file>"``), ``span.category[data-slug]``,
``span.licence`` and ``span.author``; ``robots.txt`` disallows ``/private/``;
``sitemap.xml`` lists the product pages.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

import numpy as np
from PIL import Image

FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}


@dataclass(frozen=True)
class Product:
    pid: str
    slug: str
    file: str
    licence: str
    author: str


def photo_bytes(seed: int, ext: str, size: tuple[int, int] = (64, 48)) -> bytes:
    """A small deterministic noise photo in the format of ``ext``."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    kwargs = {"quality": 90} if ext in ("jpg", "webp") else {}
    Image.fromarray(arr).save(buf, format=FORMATS[ext], **kwargs)
    return buf.getvalue()


def make_site(
    root: Path,
    classes: tuple[str, ...] = ("resistor", "ceramic_capacitor", "diode"),
    per_class: int = 5,
    per_page: int = 2,
    licences: tuple[str, ...] = ("CC-BY-4.0",),
    duplicate_of: dict[str, str] | None = None,
) -> list[Product]:
    """Write a site into ``root``; return its products (one image each, formats rotating jpg/png/webp).

    ``licences`` are assigned round-robin; ``duplicate_of`` maps a pid to another pid whose
    image bytes it reuses under its own file name (an exact duplicate at another URL).
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "img").mkdir(exist_ok=True)
    (root / "product").mkdir(exist_ok=True)
    (root / "private").mkdir(exist_ok=True)
    exts = list(FORMATS)
    products: list[Product] = []
    n = 0
    index = ["<html><body><h1>Shop</h1>"]
    for cls in classes:
        slug = cls.replace("_", "-")
        index.append(f'<a class="category" href="category/{slug}/page-1.html">{cls}</a>')
        items = []
        for i in range(per_class):
            ext = exts[n % len(exts)]
            p = Product(f"{slug}-{i:03d}", slug, f"{slug}-{i:03d}.{ext}", licences[n % len(licences)], f"Author {n}")
            (root / "img" / p.file).write_bytes(photo_bytes(n, ext))
            products.append(p)
            items.append(p)
            n += 1
        pages = [items[i : i + per_page] for i in range(0, len(items), per_page)]
        cat_dir = root / "category" / slug
        cat_dir.mkdir(parents=True, exist_ok=True)
        for k, chunk in enumerate(pages, 1):
            html = [f"<html><body><h1>{cls} page {k}</h1>"]
            html += [f'<a class="product" href="../../product/{p.pid}.html">{p.pid}</a>' for p in chunk]
            if k < len(pages):
                html.append(f'<a class="next" rel="next" href="page-{k + 1}.html">next</a>')
            (cat_dir / f"page-{k}.html").write_text("\n".join(html) + "</body></html>")
    for p in products:
        (root / "product" / f"{p.pid}.html").write_text(
            f'<html><body><h1 class="title">{p.pid}</h1>'
            f'<img class="product-image" src="../img/{p.file}">'
            f'<span class="category" data-slug="{p.slug}">{p.slug}</span>'
            f'<span class="licence">{p.licence}</span><span class="author">{p.author}</span>'
            f'<a href="../private/secret.html">staff</a></body></html>'
        )
    for pid, src in (duplicate_of or {}).items():
        target = next(p for p in products if p.pid == pid)
        source = next(p for p in products if p.pid == src)
        (root / "img" / target.file).write_bytes((root / "img" / source.file).read_bytes())
    (root / "private" / "secret.html").write_text("<html>private</html>")
    (root / "index.html").write_text("\n".join(index) + "</body></html>")
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    locs = "".join(f"<url><loc>/product/{p.pid}.html</loc></url>" for p in products)
    (root / "sitemap.xml").write_text(
        f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{locs}</urlset>'
    )
    return products


class LoopbackServer:
    """A threaded HTTP server on a free 127.0.0.1 port, serving while used as a context manager."""

    def _serve(self, handler: Callable[..., BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class LoggingSite(LoopbackServer):
    """Serve a directory on 127.0.0.1 and record every request path (thread-safe).

    ``requests`` lists the paths in arrival order; ``log`` the same as ``(time.time(), path)``.
    """

    def __init__(
        self, root: Path, delay: float = 0.0, fail: dict[str, int] | None = None, hold: threading.Event | None = None
    ) -> None:
        self.requests: list[str] = []
        self.log: list[tuple[float, str]] = []
        #: ``(path, status)`` of every response sent (200 = a body served, 304 = not modified).
        self.responses: list[tuple[str, int]] = []
        #: ``hold``: while not set, every /img/ request waits (a crawl that cannot finish yet).
        #: path -> how many more requests of it answer 503 (a transient failure)
        self.fail = dict(fail or {})
        lock = threading.Lock()
        site = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                with lock:
                    site.requests.append(self.path)
                    site.log.append((time.time(), self.path))
                    failing = site.fail.get(self.path, 0) > 0
                    if failing:
                        site.fail[self.path] -= 1
                if failing:
                    self.send_error(503)
                    return
                if hold is not None and self.path.startswith("/img/"):
                    hold.wait(timeout=300)  # image requests wait until the test opens the gate
                if delay and self.path.startswith("/img/"):
                    time.sleep(delay)
                super().do_GET()

            def log_request(self, code: object = "-", size: object = "-") -> None:
                with lock:
                    site.responses.append((self.path, int(getattr(code, "value", code))))

            def log_message(self, *a: object) -> None:
                pass

        self._serve(partial(Handler, directory=str(root)))
