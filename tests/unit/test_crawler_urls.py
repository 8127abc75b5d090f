"""URL lists (read, shard) and the atomic content store of the crawler."""

from __future__ import annotations

from pathlib import Path

from pcbforge.crawler.pipelines import store_file
from pcbforge.crawler.spiders.urls import in_shard, read_url_list


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
