"""URL lists (read, shard) and the atomic content store of the crawler."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

import pcbforge.io
from pcbforge.crawler.pipelines import store_file
from pcbforge.crawler.spiders.urls import in_shard, read_url_list
from pcbforge.pipelines.crawl import default_allowed_domains


def test_url_list_file_and_shards_partition_it(tmp_path: Path) -> None:
    path = tmp_path / "urls.txt"
    urls = [f"http://shop.example/img/{i}.jpg" for i in range(200)]
    path.write_text("# list\n\n" + "\n".join(f"{u}\tresistor" if i % 2 else u for i, u in enumerate(urls)) + "\n")
    pairs = read_url_list(path)
    assert [u for u, _ in pairs] == urls
    assert pairs[1] == (urls[1], "resistor") and pairs[0] == (urls[0], None)
    shares = [[u for u in urls if in_shard(u, i, 3)] for i in range(3)]
    assert sorted(sum(shares, [])) == sorted(urls)  # every URL in exactly one share
    assert all(30 < len(s) < 110 for s in shares)  # and the shares are not degenerate


def test_store_file_is_atomic_and_idempotent(tmp_path: Path) -> None:
    target = tmp_path / "files" / "ab" / ("ab" * 32 + ".png")
    made: set[Path] = set()
    assert store_file(target, b"first", made) is True
    assert store_file(target, b"second", made) is False  # content-addressed: never rewritten
    assert target.read_bytes() == b"first"
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary left
    assert made == {target.parent}


def test_store_file_same_sha_from_two_threads_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two sources of one worker store the same bytes in two store threads at the same moment."""
    target = tmp_path / "files" / "cd" / ("cd" * 32 + ".png")
    barrier = threading.Barrier(2, timeout=10)
    real_replace = os.replace

    def replace_together(src: object, dst: object) -> None:
        barrier.wait()  # both writers have their temporary file before either renames it
        real_replace(src, dst)

    # store_file renames through pcbforge.io.atomic_path, the one atomic writer.
    monkeypatch.setattr(pcbforge.io.os, "replace", replace_together)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            store_file(target, b"same bytes")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert errors == []
    assert target.read_bytes() == b"same bytes"
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_commons_default_domains_include_the_image_host() -> None:
    api = ["https://commons.wikimedia.org/w/api.php"]
    assert default_allowed_domains("commons", api) == ["commons.wikimedia.org", "upload.wikimedia.org"]
    assert default_allowed_domains("catalog", ["http://shop.example/a", "http://cdn.example/b"]) == [
        "cdn.example",
        "shop.example",
    ]
