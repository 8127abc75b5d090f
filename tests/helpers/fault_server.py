"""A fault-injecting HTTP server on 127.0.0.1 for crawler integration tests.

It serves a small catalog (same HTML contract as the built-in site) whose product images
are good files in several formats and every kind of trouble a crawler meets: a
decompression bomb, a 50 MB body (with and without Content-Length), a truncated JPEG,
HTML served as ``image/jpeg``, an HTML page linked as an image, a tiny image, an exact
duplicate, 404s, 500-then-200, a redirect loop, a robots.txt-disallowed section, links to
other domains and private addresses, and URLs with ``../`` and odd characters. Every
request path is logged in :attr:`FaultServer.requests`.

:data:`EXPECTED` maps each image path to the reason kind the crawl must record (``ok``
for stored images).
"""

from __future__ import annotations

import io
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote, urlsplit

from PIL import Image

from tests.helpers.sites import LoopbackServer, photo_bytes

BIG = 50 * 1024 * 1024


def _bomb_png(side: int = 6000) -> bytes:
    buf = io.BytesIO()
    Image.new("1", (side, side), 0).save(buf, format="PNG")
    return buf.getvalue()


def _png(size: tuple[int, int], seed: int = 1) -> bytes:
    return photo_bytes(seed, "png", size)


#: image path (as the server sees it, unquoted) -> expected outcome kind.
EXPECTED: dict[str, str] = {
    "/img/good-1.jpg": "ok",
    "/img/good-2.png": "ok",
    "/img/good-3.webp": "ok",
    "/img/good dots.jpg": "ok",  # linked as ../img/./../img/good%20dots.jpg
    "/img/odd name+(1)&x=ü.png": "ok",
    "/img/flaky.png": "ok",  # 500 first, then 200
    "/img/zz-copy-of-good-1.jpg": "duplicate",
    "/img/bomb.png": "decompression_bomb",
    "/img/huge.jpg": "too_large",
    "/img/huge-stream.jpg": "too_large",
    "/img/truncated.jpg": "truncated",
    "/img/fake.jpg": "not_an_image",
    "/img/page.html": "content_type",
    "/img/tiny.png": "too_small",
    "/img/missing.jpg": "http_404",
    "/img/loop.jpg": "redirect_loop",
    "/private/secret.jpg": "robots",
}

#: Hosts the crawl of this server must list in ``allowed_domains`` besides 127.0.0.1, so
#: that their links reach the private-address check (an offsite link is refused before it).
ALLOWED_PRIVATE_HOSTS = ["169.254.169.254", "100.100.100.200"]

#: Image URLs pointing away from the server (never fetched): URL -> expected kind.
EXTERNAL: dict[str, str] = {
    "http://other.example.com/img/x.jpg": "offsite",
    # Offsite AND link-local: the offsite check comes first (no DNS lookup for offsite links).
    "http://169.254.170.2/v2/credentials.jpg": "offsite",
    "http://169.254.169.254/latest/meta.jpg": "private_address",  # link-local: refused even with allow_private
    "http://100.100.100.200/latest/meta.jpg": "private_address",  # carrier-grade NAT: not globally routable
}


class FaultServer(LoopbackServer):
    """The server; use as a context manager. ``url`` is its origin."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()
        good1 = photo_bytes(1, "jpg")
        jpeg = photo_bytes(7, "jpg", (200, 150))
        self.files: dict[str, tuple[str, bytes]] = {
            "/img/good-1.jpg": ("image/jpeg", good1),
            "/img/zz-copy-of-good-1.jpg": ("image/jpeg", good1),
            "/img/good-2.png": ("image/png", photo_bytes(2, "png")),
            "/img/good-3.webp": ("image/webp", photo_bytes(3, "webp")),
            "/img/good dots.jpg": ("image/jpeg", photo_bytes(4, "jpg")),
            "/img/odd name+(1)&x=ü.png": ("image/png", photo_bytes(5, "png")),
            "/img/flaky.png": ("image/png", photo_bytes(6, "png")),
            "/img/bomb.png": ("image/png", _bomb_png()),
            "/img/truncated.jpg": ("image/jpeg", jpeg[: len(jpeg) // 2]),
            "/img/fake.jpg": ("image/jpeg", b"<html><body>not an image</body></html>"),
            "/img/page.html": ("text/html", b"<html><body>a page</body></html>"),
            "/img/tiny.png": ("image/png", _png((8, 8))),
            "/private/secret.jpg": ("image/jpeg", photo_bytes(8, "jpg")),
        }
        self._serve(self._handler())

    def pages(self) -> dict[str, str]:
        """HTML pages by path."""
        products = {
            "good-1": "../img/good-1.jpg",
            "good-2": "../img/good-2.png",
            "good-3": "../img/good-3.webp",
            "dots": "../img/./../img/good%20dots.jpg",
            "odd": "../img/odd%20name+(1)&x=%C3%BC.png",
            "flaky": "/img/flaky.png",
            "copy": "../img/zz-copy-of-good-1.jpg",
            "bomb": "../img/bomb.png",
            "huge": "../img/huge.jpg",
            "stream": "../img/huge-stream.jpg",
            "truncated": "../img/truncated.jpg",
            "fake": "../img/fake.jpg",
            "page": "../img/page.html",
            "tiny": "../img/tiny.png",
            "missing": "../img/missing.jpg",
            "loop": "../img/loop.jpg",
            "secret": "../private/secret.jpg",
            "other": "http://other.example.com/img/x.jpg",
            "metadata": "http://169.254.169.254/latest/meta.jpg",
            "cgnat": "http://100.100.100.200/latest/meta.jpg",
            "credentials": "http://169.254.170.2/v2/credentials.jpg",
        }
        pages: dict[str, str] = {}
        links = "".join(f'<a class="product" href="../../product/{p}.html">{p}</a>' for p in products)
        pages["/index.html"] = (
            '<html><body><a class="category" href="category/resistor/page-1.html">r</a>'
            '<a class="category" href="http://other.example.com/category/x/page-1.html">elsewhere</a>'
            '<a class="category" href="http://10.1.2.3/category/y/page-1.html">lan</a>'
            '<a class="category" href="/private/index.html">staff</a>'
            '<a class="category" href="../../../../etc/passwd">escape</a></body></html>'
        )
        pages["/category/resistor/page-1.html"] = (
            f'<html><body>{links}<a class="next" rel="next" href="page-2.html">next</a></body></html>'
        )
        pages["/category/resistor/page-2.html"] = (
            '<html><body><a class="product" href="../../product/missing-page.html">gone</a></body></html>'
        )
        for pid, src in products.items():
            pages[f"/product/{pid}.html"] = (
                f'<html><body><h1 class="title">{pid}</h1><img class="product-image" src="{src}">'
                '<span class="category" data-slug="resistor">resistor</span>'
                '<span class="licence">CC-BY-4.0</span><span class="author">Fault Tester</span></body></html>'
            )
        pages["/private/index.html"] = (
            '<html><body><a class="product" href="/private/p.html">p</a></body></html>'
        )
        return pages

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        srv = self
        pages = self.pages()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *a: object) -> None:
                pass

            def _send(self, code: int, ctype: str, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                path = unquote(urlsplit(self.path).path)
                with srv._lock:
                    srv.requests.append(path)
                    srv.hits[path] = srv.hits.get(path, 0) + 1
                    n = srv.hits[path]
                if path == "/robots.txt":
                    return self._send(200, "text/plain", b"User-agent: *\nDisallow: /private/\n")
                if path in pages:
                    return self._send(200, "text/html; charset=utf-8", pages[path].encode())
                if path == "/img/flaky.png" and n == 1:
                    return self._send(500, "text/plain", b"try again")
                if path == "/img/loop.jpg":
                    return self._send(302, "text/plain", b"", {"Location": "/img/loop-b.jpg"})
                if path == "/img/loop-b.jpg":
                    return self._send(302, "text/plain", b"", {"Location": "/img/loop.jpg"})
                if path in ("/img/huge.jpg", "/img/huge-stream.jpg"):
                    return self._stream_big(with_length=path == "/img/huge.jpg")
                if path in srv.files:
                    ctype, body = srv.files[path]
                    return self._send(200, ctype, body)
                return self._send(404, "text/html", b"<html>not found</html>")

            def _stream_big(self, with_length: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                if with_length:
                    self.send_header("Content-Length", str(BIG))
                self.end_headers()
                chunk = b"\xff\xd8" + b"\0" * (1 << 20)
                try:
                    for _ in range(BIG // len(chunk)):
                        self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler


class ScriptedServer(LoopbackServer):
    """Serve fixed files on 127.0.0.1 with scripted status codes, a slow handler and an
    in-flight counter (politeness and retry tests); use as a context manager.

    Args:
        files: path -> (content type, body); other paths are 404.
        script: path -> status codes of its first hits, the last one repeating
            (``[503, 503, 200]``: two failures then the file; ``[500]``: always 500).
        delay: seconds every request (robots.txt included) sleeps before it is answered.

    ``hits`` maps each path to the ``time.monotonic()`` of every request to it, in arrival
    order. ``max_in_flight`` is the most requests that were inside the sleep at once;
    a request leaves the count before its response is written, so the count never runs
    ahead of what the client really has outstanding.
    """

    def __init__(self, files: dict[str, tuple[str, bytes]], script: dict[str, list[int]] | None = None,
                 delay: float = 0.0) -> None:
        import time

        self.files = dict(files)
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.hits: dict[str, list[float]] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        lock = threading.Lock()
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *a: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                path = unquote(urlsplit(self.path).path)
                with lock:
                    srv.hits.setdefault(path, []).append(time.monotonic())
                    n = len(srv.hits[path])
                    srv.in_flight += 1
                    srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
                try:
                    if delay:
                        time.sleep(delay)
                finally:
                    with lock:
                        srv.in_flight -= 1
                codes = srv.script.get(path)
                code = codes[min(n, len(codes)) - 1] if codes else 200
                if path == "/robots.txt":
                    ctype, body = "text/plain", b"User-agent: *\nDisallow: /private/\n"
                elif code != 200:
                    ctype, body = "text/plain", f"scripted {code}".encode()
                elif path in srv.files:
                    ctype, body = srv.files[path]
                else:
                    code, ctype, body = 404, "text/html", b"<html>not found</html>"
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._serve(Handler)

    def gaps(self, path: str) -> list[float]:
        """Seconds between consecutive requests to ``path``."""
        t = self.hits.get(path, [])
        return [b - a for a, b in zip(t, t[1:])]

