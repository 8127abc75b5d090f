"""The crawl stage against a hostile server on 127.0.0.1 (tests/helpers/fault_server.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pandas as pd
import pytest

from pcbforge.pipelines import crawl
from tests.helpers.fault_server import ALLOWED_PRIVATE_HOSTS, EXPECTED, EXTERNAL, FaultServer
from tests.helpers.params import tiny_params

pytestmark = pytest.mark.slow


def _params(root: Path, url: str, allow_private: bool = True, allow_hosts: tuple[str, ...] = ()):
    return tiny_params(
        root,
        {
            "crawl": {
                "sources": [
                    {
                        "name": "faulty",
                        "spider": "catalog",
                        "start_urls": [url + "/index.html"],
                        "allow_private": allow_private,
                        "allow_hosts": list(allow_hosts),
                        "allowed_domains": ["127.0.0.1", *ALLOWED_PRIVATE_HOSTS],
                        "licence_allow": ["CC-BY-4.0"],
                    }
                ],
                "max_bytes": 5_000_000,
                "max_pixels": 10_000_000,
                "retries": 2,
                "retry_backoff": 0.05,
                "max_redirects": 3,
                "autothrottle": False,
            }
        },
    )


def _files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("allow", ["allow_private", "allow_hosts"])
def test_hostile_server(tmp_path: Path, allow: str) -> None:
    """Both ways of opening loopback give the same outcome: the metadata endpoints stay refused."""
    with FaultServer() as server:
        if allow == "allow_private":
            params = _params(tmp_path, server.url)
        else:
            params = _params(tmp_path, server.url, allow_private=False, allow_hosts=("127.0.0.1",))
        before = _files_under(tmp_path)
        summary = crawl.run(params)
        requested = list(server.requests)

    out = tmp_path / "data" / "raw"
    df = pd.read_parquet(out / "images.parquet")
    assert "images stored" in summary

    # Every image seen is one row; the outcome kind is the first word of the reason.
    df["path_key"] = [
        unquote(urlsplit(u).path) if u.startswith(server.url) else u for u in df["image_url"]
    ]
    assert df["id"].is_unique and df["image_url"].is_unique
    outcome = {
        k: ("ok" if s == "ok" else str(e).split(":", 1)[0]) for k, s, e in zip(df["path_key"], df["status"], df["error"])
    }
    assert outcome == {**EXPECTED, **EXTERNAL}

    # Good images are stored exactly once, content-addressed, bytes unchanged.
    ok = df[df["status"] == "ok"]
    assert len(ok) == sum(v == "ok" for v in EXPECTED.values())
    for row in ok.itertuples():
        data = (out / row.path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row.sha256 == row.id
        assert row.path == f"files/{row.sha256[:2]}/{row.sha256}.{ {'jpeg': 'jpg'}.get(row.format, row.format)}"
        assert row.class_label == "resistor" and row.licence == "CC-BY-4.0" and row.author == "Fault Tester"
    assert sorted(ok["format"].unique()) == ["jpeg", "png", "webp"]
    stored = _files_under(out / "files")
    assert len(stored) == len(ok)

    # Nothing written outside the output directory (the crawl state is removed at the end)
    # but the HTTP cache of the stored images' validators (crawl.http_cache).
    created = _files_under(tmp_path) - before
    cache = params.path(params.crawl.http_cache).relative_to(tmp_path).as_posix()
    assert created and all(f.startswith("data/raw/") or f == cache for f in created), sorted(created)

    # Nothing disallowed or off-site fetched; the flaky image was retried; robots.txt was read.
    assert not [p for p in requested if p.startswith("/private/")]
    assert "/robots.txt" in requested
    assert requested.count("/img/flaky.png") == 2
    # The duplicate is a reject naming the stored copy.
    dup = df[df["path_key"] == "/img/zz-copy-of-good-1.jpg"].iloc[0]
    assert dup["status"] == "rejected" and dup["error"].endswith(server.url + "/img/good-1.jpg")


def test_private_addresses_refused_unless_allowed(tmp_path: Path) -> None:
    with FaultServer() as server:
        # Nothing crawled is a failed crawl, whose reason names the refusal.
        with pytest.raises(crawl.CrawlFailed, match="every start URL failed .*private_address"):
            crawl.run(_params(tmp_path, server.url, allow_private=False))
        requested = list(server.requests)
    assert requested == []  # not even robots.txt
    df = pd.read_parquet(tmp_path / "data" / "raw" / "images.parquet")
    assert len(df) == 0
