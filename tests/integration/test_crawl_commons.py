"""The ``commons`` spider against a local fake MediaWiki API (JSON) on 127.0.0.1.

Like Wikimedia's, the fake's robots.txt disallows ``/w/``: the API must still be queried
(it is the programmatic interface), image downloads must still obey robots.txt.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from pcbforge.pipelines import crawl
from tests.helpers.params import tiny_params
from tests.helpers.sites import photo_bytes

pytestmark = pytest.mark.slow

#: file -> (LicenseShortName, Artist, Attribution, LicenseUrl); None = not in extmetadata.
FILES = {
    "R1.jpg": ("CC BY 4.0", '<a href="//commons.wikimedia.org/wiki/User:Jane">Jane Doe</a>',
               'Photo: <a href="//commons.wikimedia.org/wiki/User:Jane">Jane Doe</a>, CC BY 4.0',
               "https://creativecommons.org/licenses/by/4.0"),
    "R2.png": ("CC BY-NC 4.0", "Someone", None, "https://creativecommons.org/licenses/by-nc/4.0"),
    "R3.webp": ("CC0", "Bob &amp; Co", None, None),
    "hidden/R4.jpg": ("CC0", "Ann", None, None),  # under a path robots.txt disallows
}
ROBOTS = b"User-agent: *\nDisallow: /w/\nDisallow: /images/hidden/\n"


def _page(base: str, name: str) -> dict:
    licence, artist, attribution, licence_url = FILES[name]
    meta = {"LicenseShortName": {"value": licence}, "Artist": {"value": artist}}
    if attribution is not None:
        meta["Attribution"] = {"value": attribution}
    if licence_url is not None:
        meta["LicenseUrl"] = {"value": licence_url}
    return {
        "title": f"File:{name}",
        "imageinfo": [
            {"url": f"{base}/images/{name}", "descriptionurl": f"{base}/wiki/File:{name}", "extmetadata": meta}
        ],
    }


class FakeCommons:
    def __init__(self) -> None:
        self.queries: list[dict] = []
        self.paths: list[str] = []
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                srv.paths.append(parts.path)
                if parts.path == "/w/api.php":
                    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
                    srv.queries.append(q)
                    if "gcmcontinue" not in q:
                        body = {"continue": {"gcmcontinue": "file|R3", "continue": "gcmcontinue||"},
                                "query": {"pages": {"1": _page(srv.url, "R1.jpg"), "2": _page(srv.url, "R2.png")}}}
                    else:
                        pages = {"3": _page(srv.url, "R3.webp"), "4": _page(srv.url, "hidden/R4.jpg")}
                        body = {"query": {"pages": pages}}
                    data, ctype = json.dumps(body).encode(), "application/json"
                elif parts.path.startswith("/images/"):
                    name = parts.path.rsplit("/", 1)[1]
                    ext = name.rsplit(".", 1)[1]
                    data, ctype = photo_bytes(len(name) + ord(name[1]), ext), f"image/{ {'jpg': 'jpeg'}.get(ext, ext)}"
                elif parts.path == "/robots.txt":
                    data, ctype = ROBOTS, "text/plain"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_commons_keeps_author_licence_and_attribution(tmp_path: Path) -> None:
    api = FakeCommons()
    try:
        params = tiny_params(
            tmp_path,
            {
                "crawl": {
                    "sources": [
                        {
                            "name": "commons",
                            "spider": "commons",
                            "start_urls": [api.url + "/w/api.php"],
                            "allow_private": True,
                            "class_map": {"Category:Resistors": "resistor"},
                            "licence_allow": ["CC0-1.0", "CC-BY-4.0", "CC-BY-SA-4.0"],
                        }
                    ]
                }
            },
        )
        crawl.run(params)
    finally:
        api.server.shutdown()
    df = pd.read_parquet(params.path(params.crawl.out) / "images.parquet").set_index("image_url")
    # robots.txt disallows /w/, yet the API (the sanctioned interface) was queried, continuation too
    assert len(api.queries) == 2 and api.queries[0]["gcmtitle"] == "Category:Resistors"
    assert "/robots.txt" in api.paths and "/images/hidden/R4.jpg" not in api.paths
    r1, r2, r3, r4 = (df.loc[f"{api.url}/images/{n}"] for n in FILES)
    assert (r1["status"], r1["licence"], r1["author"]) == ("ok", "CC-BY-4.0", "Jane Doe")
    assert r1["attribution"] == "Photo: Jane Doe, CC BY 4.0"
    assert r1["licence_url"] == "https://creativecommons.org/licenses/by/4.0"
    assert r1["page_url"] == f"{api.url}/wiki/File:R1.jpg" and r1["class_label"] == "resistor"
    assert r2["status"] == "rejected" and r2["error"].startswith("licence:") and r2["licence"] == "CC-BY-NC-4.0"
    assert r2["licence_url"] == "https://creativecommons.org/licenses/by-nc/4.0" and pd.isna(r2["attribution"])
    assert (r3["status"], r3["licence"], r3["author"], r3["format"]) == ("ok", "CC0-1.0", "Bob & Co", "webp")
    assert pd.isna(r3["attribution"]) and pd.isna(r3["licence_url"])
    assert r4["status"] == "rejected" and r4["error"].startswith("robots")  # images still obey robots.txt
