"""Unit tests for the crawler's pure parts: image checks, licences, addresses, journal, finalisation."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image
from scrapy.exceptions import DropItem
from scrapy.signalmanager import SignalManager

from pcbforge.crawler.extensions import progress_line
from pcbforge.crawler.items import ImageItem, url_id
from pcbforge.datasets.schemas import columns
from pcbforge.crawler.journal import Journal, done_urls, read_rows
from pcbforge.crawler.middlewares import is_private_address, parse_allow_hosts, private_target
from pcbforge.crawler.pipelines import DedupPipeline, content_path, inspect_image, licence_allowed
from pcbforge.crawler.settings import DOWNLOADER_MIDDLEWARES
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


def test_max_pixels_above_pillows_own_limit_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pillow warns above Image.MAX_IMAGE_PIXELS (89.5 M by default) and refuses above twice
    # that. A 1000-pixel stand-in for that default keeps the images tiny: 40x30 is in the
    # warning band, 64x48 beyond the refusal; both are within the configured max_pixels.
    for size in ((40, 30), (64, 48)):
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)
        data = _encode(Image.new("RGB", size, (9, 9, 9)), "PNG")
        assert inspect_image(data, max_pixels=10_000) == ("PNG", *size)
        assert Image.MAX_IMAGE_PIXELS == 10_000  # raised to the crawl's limit, never lowered
    with pytest.raises(DropItem, match="^decompression_bomb: 64x48"):
        inspect_image(data, max_pixels=3_000)  # our own check still decides
    assert Image.MAX_IMAGE_PIXELS == 10_000


def test_licence_allow_list() -> None:
    assert licence_allowed("anything", [])
    assert licence_allowed(" cc0-1.0 ", ["CC0-1.0"])
    assert not licence_allowed("CC-BY-NC-4.0", ["CC-BY-4.0"])
    assert not licence_allowed(None, ["CC-BY-4.0"])


def test_private_addresses() -> None:
    for ip in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "::1", "0.0.0.0", "::ffff:127.0.0.1"):
        assert is_private_address(ip), ip
    assert not is_private_address("93.184.216.34")


@pytest.mark.parametrize(
    "ip",
    [
        "100.100.100.200",  # carrier-grade NAT 100.64.0.0/10 (a cloud metadata endpoint lives here)
        "100.64.0.1",
        "198.18.0.1",  # benchmarking 198.18.0.0/15
        "192.0.2.10",  # documentation
        "192.0.0.170",  # IETF protocol assignments
        "240.0.0.1",  # reserved
        "255.255.255.255",
        "224.0.1.1",  # multicast, though "global"
        "ff0e::1",
        "fe80::1",
        "fd12:3456::1",
        "2001:db8::1",
        "::ffff:169.254.169.254",  # IPv4-mapped
        "::ffff:100.100.100.200",
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    ],
)
def test_every_non_global_address_is_refused(ip: str) -> None:
    assert is_private_address(ip)


@pytest.mark.parametrize("ip", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_global_addresses_pass(ip: str) -> None:
    assert not is_private_address(ip)


def test_allow_private_lets_only_loopback_and_private_networks_through() -> None:
    for url in ("http://127.0.0.1/", "http://10.0.0.5/", "http://172.16.1.1/", "http://192.168.1.1/",
                "http://[::1]/", "http://[fd00::5]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:10.0.0.5]/"):
        assert private_target(url, allow_private=True) is None, url
    for url in ("http://169.254.169.254/", "http://[::ffff:169.254.169.254]/", "http://[fe80::1]/",
                "http://100.100.100.200/", "http://198.18.0.1/", "http://0.0.0.0/", "http://224.0.0.1/"):
        assert private_target(url, allow_private=True) is not None, url


def test_allow_hosts_opens_exactly_what_it_lists() -> None:
    only_loopback = parse_allow_hosts(["127.0.0.1"])
    assert private_target("http://127.0.0.1:8000/x.jpg", allow_hosts=only_loopback) is None
    assert private_target("http://[::ffff:127.0.0.1]/x.jpg", allow_hosts=only_loopback) is None
    for url, ip in (("http://10.0.0.7/x.jpg", "10.0.0.7"), ("http://169.254.169.254/latest", "169.254.169.254"),
                    ("http://127.0.0.2/x.jpg", "127.0.0.2"), ("http://192.168.1.1/", "192.168.1.1")):
        assert private_target(url, allow_hosts=only_loopback) == ip, url
    lan = parse_allow_hosts(["10.9.0.0/16", "localhost"])
    assert private_target("http://10.9.3.4/", allow_hosts=lan) is None
    assert private_target("http://10.10.0.1/", allow_hosts=lan) == "10.10.0.1"
    assert private_target("http://LOCALHOST./x", allow_hosts=lan) is None  # by name, case and root dot aside


def test_allow_hosts_entries_are_validated() -> None:
    from pcbforge.config import SourceParams

    assert SourceParams(name="s", allow_hosts=["127.0.0.1", "10.0.0.0/8", "shop.lan", "::1"]).allow_hosts
    with pytest.raises(ValueError, match="neither a host name nor an address"):
        SourceParams(name="s", allow_hosts=["http://127.0.0.1/"])


def test_offsite_is_checked_before_the_private_address_lookup() -> None:
    # Scrapy runs process_request in ascending order; robots.txt (100) issues its own request,
    # which passes both checks again.
    mw = DOWNLOADER_MIDDLEWARES
    offsite = mw["pcbforge.crawler.middlewares.StrictOffsiteMiddleware"]
    private = mw["pcbforge.crawler.middlewares.PrivateAddressMiddleware"]
    assert offsite < private < 100


def test_private_target_names_the_refused_address() -> None:
    assert private_target("http://10.0.0.5/x.jpg") == "10.0.0.5"
    assert private_target("http://10.0.0.5/x.jpg", allow_private=True) is None
    # link-local (cloud metadata) stays refused even when a source allows private targets
    assert private_target("http://169.254.169.254/latest", allow_private=True) == "169.254.169.254"
    assert private_target("http://[::1]:8000/a", allow_private=False) == "::1"


def test_a_copy_of_an_image_that_failed_to_store_is_not_a_duplicate() -> None:
    from types import SimpleNamespace

    from scrapy import signals
    from scrapy.settings import Settings
    from scrapy.signalmanager import SignalManager
    from twisted.python.failure import Failure

    crawler = SimpleNamespace(signals=SignalManager(), settings=Settings({"PCBFORGE_PRIOR_JOURNALS": []}))
    dedup = DedupPipeline(crawler)
    dedup.open_spider()
    first = dedup.process_item(ImageItem(source="s", page_url="p", image_url="http://x/a.png", body=b"same"))
    # StorePipeline then failed on it (e.g. disk full): Scrapy sends item_error, nothing was stored.
    crawler.signals.send_catch_log(signals.item_error, item=first, response=None, spider=None,
                                   failure=Failure(OSError("disk full")))
    copy = dedup.process_item(ImageItem(source="s", page_url="p", image_url="http://x/b.png", body=b"same"))
    assert copy.sha256 == first.sha256  # passed on to be stored, not dropped as a duplicate
    with pytest.raises(DropItem, match="^duplicate"):
        dedup.process_item(ImageItem(source="s", page_url="p", image_url="http://x/c.png", body=b"same"))


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
    assert list(rows[0]) == sorted(columns("crawl"))


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


def test_a_duplicate_of_a_file_whose_store_failed_is_retried(tmp_path: Path) -> None:
    import hashlib

    from scrapy.settings import Settings

    body = b"same bytes"
    sha = hashlib.sha256(body).hexdigest()
    a, b = "http://x/a.png", "http://x/b.png"
    # B arrived while A's file was being written (DedupPipeline had claimed the sha256 for A),
    # then A's write failed: nothing was stored under that sha256.
    rows = [_row(b, "rejected", sha, f"duplicate: same sha256 as a stored image ({sha[:12]})"),
            _row(a, "error", sha, "internal: OSError: disk full")]
    by = {r["image_url"]: r for r in finalize_rows(rows)}
    assert by[b]["status"] == "error" and by[b]["error"] == f"internal: store of {sha} failed"
    assert by[b]["path"] is None and by[b]["id"] == url_id(b)
    assert by[a]["status"] == "error"
    assert done_urls(rows) == set()  # the next run fetches both again

    # The next run: B's bytes are no duplicate of a stored file, so B is stored this time.
    journal = tmp_path / "journal-main.jsonl"
    j = Journal(journal)
    for row in rows:
        j.append(row)
    j.close()
    crawler = SimpleNamespace(signals=SignalManager(), settings=Settings({"PCBFORGE_PRIOR_JOURNALS": [str(journal)]}))
    dedup = DedupPipeline(crawler)
    dedup.open_spider()
    assert dedup.process_item(ImageItem(source="s", page_url="p", image_url=b, body=body)).sha256 == sha
    rows.append({**_row(b, "ok", sha), "path": content_path(sha, "png")})
    by = {r["image_url"]: r for r in finalize_rows(rows)}
    assert by[b]["status"] == "ok" and by[b]["path"] == content_path(sha, "png")
    assert done_urls(rows) == {b}


def test_a_duplicate_of_a_stored_file_is_a_final_answer() -> None:
    sha = "cd" * 32
    rows = [_row("http://x/a.png", sha=sha), _row("http://x/b.png", "rejected", sha, "duplicate: same sha256")]
    assert done_urls(rows) == {"http://x/a.png", "http://x/b.png"}
    assert sorted(r["status"] for r in finalize_rows(rows)) == ["ok", "rejected"]


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


def test_a_label_conflict_follows_the_policy_whatever_the_crawl_order() -> None:
    sha = "cd" * 32
    row = {**_row("http://x/a.png", sha=sha), "class_label": "resistor", "page_url": "http://x/p/resistor.html"}
    # The same URL also seen on a diode page (a sighting: it was requested once).
    seen = [{"image_url": "http://x/a.png", "page_url": "http://x/p/diode.html", "class_label": "diode"}]
    (rejected,) = finalize_rows([row], seen, "reject")
    assert rejected["status"] == "rejected" and rejected["path"] is None
    assert rejected["error"].startswith("label_conflict: the same image is labelled diode, resistor")
    (kept,) = finalize_rows([row], seen, "first")
    assert kept["status"] == "ok" and kept["class_label"] == "diode" and kept["page_url"] == "http://x/p/diode.html"
    # Had the diode page been crawled first, the row would say diode and the sighting resistor: same result.
    swapped = {**row, "class_label": "diode", "page_url": "http://x/p/diode.html"}
    seen2 = [{"image_url": "http://x/a.png", "page_url": "http://x/p/resistor.html", "class_label": "resistor"}]
    assert finalize_rows([swapped], seen2, "first") == [kept]
    # No conflict: the same label on two pages changes nothing.
    same = [{"image_url": "http://x/a.png", "page_url": "http://x/p/r2.html", "class_label": "resistor"}]
    assert finalize_rows([row], same, "reject")[0]["status"] == "ok"
