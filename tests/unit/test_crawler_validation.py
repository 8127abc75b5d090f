"""Unit tests for the crawler's pure parts: image checks, licences, addresses, journal, finalisation."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image
from scrapy.exceptions import DropItem

from pcbforge.crawler.extensions import progress_line
from pcbforge.crawler.items import MANIFEST_COLUMNS, ImageItem, url_id
from pcbforge.crawler.journal import Journal, done_urls, read_rows
from pcbforge.crawler.middlewares import is_private_address, private_target
from pcbforge.crawler.pipelines import content_path, inspect_image, licence_allowed
from pcbforge.crawler.runner import finalize_rows
from pcbforge.crawler.spiders.commons import normalize_licence, strip_html


def _encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_inspect_image_reads_format_and_size(fmt: str) -> None:
    data = _encode(Image.new("RGB", (40, 30), (200, 10, 10)), fmt)
    assert inspect_image(data, max_pixels=10_000) == (fmt, 40, 30)


def test_inspect_image_rejects_each_kind() -> None:
    bomb = _encode(Image.new("1", (3000, 3000)), "PNG")
    with pytest.raises(DropItem, match="^decompression_bomb"):
        inspect_image(bomb, max_pixels=1_000_000)
    jpeg = _encode(Image.effect_noise((64, 64), 50).convert("RGB"), "JPEG")
    with pytest.raises(DropItem, match="^truncated"):
        inspect_image(jpeg[: len(jpeg) // 2], max_pixels=10**6)
    with pytest.raises(DropItem, match="^not_an_image"):
        inspect_image(b"<html>hello</html>", max_pixels=10**6)
    with pytest.raises(DropItem, match="^unsupported_format"):
        inspect_image(_encode(Image.new("RGB", (8, 8)), "PPM"), max_pixels=10**6)


def test_licence_allow_list() -> None:
    assert licence_allowed("anything", [])
    assert licence_allowed(" cc0-1.0 ", ["CC0-1.0"])
    assert not licence_allowed("CC-BY-NC-4.0", ["CC-BY-4.0"])
    assert not licence_allowed(None, ["CC-BY-4.0"])


def test_private_addresses() -> None:
    for ip in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "::1", "0.0.0.0", "::ffff:127.0.0.1"):
        assert is_private_address(ip), ip
    assert not is_private_address("93.184.216.34")
    assert private_target("http://10.0.0.5/x.jpg") == "10.0.0.5"
    assert private_target("http://10.0.0.5/x.jpg", allow_private=True) is None
    # link-local (cloud metadata) stays refused even when a source allows private targets
    assert private_target("http://169.254.169.254/latest", allow_private=True) == "169.254.169.254"
    assert private_target("http://[::1]:8000/a", allow_private=False) == "::1"


def test_content_path_never_uses_the_url() -> None:
    sha = "0f" * 32
    assert content_path(sha, "jpeg") == f"files/0f/{sha}.jpg"
    assert content_path(sha, "webp").endswith(".webp")


def test_journal_roundtrip_ignores_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "journal-main.jsonl"
    j = Journal(path)
    item = ImageItem(source="s", page_url="p", image_url="u1")
    j.append(item.row("rejected", "http_404: u1"))
    j.append({**item.row("error", "timeout"), "image_url": "u2"})
    j.close()
    with open(path, "a") as f:
        f.write('{"image_url": "u3", "sta')  # killed mid-write
    rows = read_rows([path])
    assert [r["image_url"] for r in rows] == ["u1", "u2"]
    assert done_urls(rows) == {"u1"}  # errors are retried on resume
    assert list(rows[0]) == sorted(MANIFEST_COLUMNS)


def _row(url: str, status: str = "ok", sha: str | None = None, error: str | None = None) -> dict:
    item = ImageItem(source="s", page_url="p", image_url=url, sha256=sha, format="png", width=40, height=40)
    return item.row(status, error)


def test_finalize_picks_the_smallest_url_for_duplicate_content() -> None:
    sha = "ab" * 32
    # b was stored first (timing), a was the dropped duplicate: the manifest must not depend on that.
    rows = [_row("http://x/b.png", sha=sha), _row("http://x/a.png", "rejected", sha, "duplicate: same sha256")]
    out = finalize_rows(rows)
    by = {r["image_url"]: r for r in out}
    assert by["http://x/a.png"]["status"] == "ok" and by["http://x/a.png"]["id"] == sha
    assert by["http://x/a.png"]["path"] == f"files/ab/{sha}.png"
    assert by["http://x/b.png"]["status"] == "rejected" and by["http://x/b.png"]["id"] == url_id("http://x/b.png")
    assert by["http://x/b.png"]["error"] == "duplicate: same sha256 as http://x/a.png"
    assert finalize_rows(list(reversed(rows))) == out
    assert [r["id"] for r in out] == sorted(r["id"] for r in out)


def test_finalize_keeps_a_final_answer_over_a_later_error() -> None:
    rows = [_row("http://x/a.png", "rejected", None, "http_404: a"), _row("http://x/a.png", "error", None, "timeout")]
    (only,) = finalize_rows(rows)
    assert only["error"].startswith("http_404")


def test_progress_line() -> None:
    line = progress_line({"pcbforge/pages": 4, "pcbforge/stored": 6, "pcbforge/rejected/too_small": 1,
                          "pcbforge/rejected/http_404": 2}, 3.0)
    assert line == "pages 4, stored 6 (2.0/s), rejected 3 {http_404: 2, too_small: 1}"


def test_commons_licence_and_author() -> None:
    assert normalize_licence("CC BY 4.0") == "CC-BY-4.0"
    assert normalize_licence("CC BY-SA 3.0") == "CC-BY-SA-3.0"
    assert normalize_licence("CC0") == "CC0-1.0"
    assert strip_html('<a href="//x">Jane &amp; Co</a>') == "Jane & Co"
    assert json.dumps(normalize_licence(None)) == "null"
