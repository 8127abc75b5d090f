"""Loud crawl outcomes: one crawl per resume folder, empty crawls fail, identical crawls are identical."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from pcbforge.config import load_params
from pcbforge.pipelines import crawl
from tests.helpers.params import tiny_params, write_params
from tests.helpers.sites import LoggingSite, make_site

pytestmark = pytest.mark.slow


def _source(url: str, **extra: object) -> dict:
    return {"name": "shop", "start_urls": [url + "/index.html"], "allow_hosts": ["127.0.0.1"], **extra}


def _crawl(sources: list[dict], **extra: object) -> dict:
    return {"crawl": {"sources": sources, "autothrottle": False, "retries": 0, **extra}}


def _closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_second_crawl_on_the_same_resume_folder_stops_at_once(tmp_path: Path) -> None:
    make_site(tmp_path / "site", classes=("resistor", "diode"), per_class=6, per_page=2)
    gate = threading.Event()  # the first crawl's image downloads wait until the second has ended
    with LoggingSite(tmp_path / "site", hold=gate) as site:
        params_path = write_params(tmp_path / "p", _crawl([_source(site.url)], concurrency_per_domain=1))
        jobdir = load_params(params_path).path(load_params(params_path).crawl.jobdir)
        cmd = [sys.executable, "-m", "pcbforge", "crawl", "-p", str(params_path)]
        first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            t0 = time.monotonic()
            while not (jobdir / "running-main").exists():
                assert first.poll() is None, first.communicate()[1][-2000:]
                assert time.monotonic() - t0 < 120, "the first crawl never started its worker"
                time.sleep(0.05)
            second = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            # "At once": it ended while the first crawl, which cannot finish yet, still runs.
            assert first.poll() is None
        finally:
            gate.set()
            out, err = first.communicate(timeout=120)
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, second.stderr
    assert lines[0].startswith("pcbforge: error: another crawl (pid ") and str(jobdir) in lines[0]
    assert first.returncode == 0, err[-2000:]
    assert "crawl: 12 images stored" in out


def test_unreachable_start_url_exits_2_with_the_reason_last(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    params_path = write_params(tmp_path, _crawl([_source(url)]))
    res = subprocess.run([sys.executable, "-m", "pcbforge", "crawl", "-p", str(params_path)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr[-2000:]
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("pcbforge: error: source shop: every start URL failed (")
    assert f"{url}/index.html: connection" in last
    assert "crawl summary" in res.stderr  # the table comes before the error line
    assert (tmp_path / "data" / "raw" / "images.parquet").is_file()  # written, for inspection


def test_loopback_site_without_allow_hosts_fails_naming_the_refusal(tmp_path: Path) -> None:
    make_site(tmp_path / "site", classes=("resistor",), per_class=2)
    with LoggingSite(tmp_path / "site") as site:
        with pytest.raises(crawl.CrawlFailed, match=r"every start URL failed \(.*private_address: private address 127"):
            crawl.run(tiny_params(tmp_path / "p", _crawl([_source(site.url, allow_hosts=[])])))
        assert site.requests == []


def test_nothing_stored_fails_with_the_reasons(tmp_path: Path) -> None:
    make_site(tmp_path / "site", classes=("resistor",), per_class=3, licences=("proprietary",))
    with LoggingSite(tmp_path / "site") as site:
        with pytest.raises(crawl.CrawlFailed, match=r"no image stored: every image was refused or failed \(licence 3\)"):
            crawl.run(tiny_params(tmp_path / "p", _crawl([_source(site.url, licence_allow=["CC0-1.0"])])))


def test_allow_hosts_opens_loopback_only(tmp_path: Path) -> None:
    """``allow_hosts: [127.0.0.1]`` crawls a loopback site; a 10.x and the metadata address
    linked from it stay refused (never requested: both are refused before any connection)."""
    make_site(tmp_path / "site", classes=("resistor",), per_class=2)
    page = tmp_path / "site" / "product" / "resistor-000.html"
    page.write_text(page.read_text().replace(
        "</body>",
        '<img class="product-image" src="http://10.0.0.7/img/lan.jpg">'
        '<img class="product-image" src="http://169.254.169.254/latest/meta.jpg"></body>'))
    with LoggingSite(tmp_path / "site") as site:
        allowed = ["127.0.0.1", "10.0.0.7", "169.254.169.254"]
        crawl.run(tiny_params(tmp_path / "p", _crawl([_source(site.url, allowed_domains=allowed)])))
    df = pd.read_parquet(tmp_path / "p" / "data" / "raw" / "images.parquet").set_index("image_url")
    assert (df["status"] == "ok").sum() == 2
    for url in ("http://10.0.0.7/img/lan.jpg", "http://169.254.169.254/latest/meta.jpg"):
        assert df.loc[url, "status"] == "rejected"
        assert df.loc[url, "error"].startswith(f"private_address: private address {url.split('/')[2]} refused")


def test_same_crawl_twice_writes_byte_identical_manifests(tmp_path: Path) -> None:
    """Including the row of an undecodable image, whose reason held a memory address."""
    products = make_site(tmp_path / "site", classes=("resistor", "diode"), per_class=3)
    (tmp_path / "site" / "img" / products[0].file).write_bytes(b"\x00 not an image at all \x00" * 8)
    with LoggingSite(tmp_path / "site") as site:
        for run in ("a", "b"):
            crawl.run(tiny_params(tmp_path / run, _crawl([_source(site.url)])))
    a, b = (tmp_path / run / "data" / "raw" / "images.parquet" for run in ("a", "b"))
    assert a.read_bytes() == b.read_bytes()
    bad = pd.read_parquet(a).query("status != 'ok'")
    assert len(bad) == 1 and bad["error"].iloc[0].startswith("not_an_image:")
    assert " at 0x" not in bad["error"].iloc[0]


@pytest.mark.parametrize("policy", ["reject", "first"])
def test_one_photo_under_two_categories_is_a_recorded_conflict(tmp_path: Path, policy: str) -> None:
    """The same image URL on a resistor and a diode page, and the same bytes at a resistor
    and a diode URL: ``reject`` rejects both images naming the labels; ``first`` keeps them
    with the label seen at the smallest URL, whichever page was crawled first."""
    products = make_site(tmp_path / "site", classes=("resistor", "diode"), per_class=3,
                         duplicate_of={"diode-001": "resistor-001"})
    files = {p.pid: p.file for p in products}
    page = tmp_path / "site" / "product" / "diode-000.html"
    page.write_text(page.read_text().replace(
        "</body>", f'<img class="product-image" src="../img/{files["resistor-000"]}"></body>'))
    with LoggingSite(tmp_path / "site") as site:
        crawl.run(tiny_params(tmp_path / "p", _crawl([_source(site.url)], label_conflict=policy)))
    df = pd.read_parquet(tmp_path / "p" / "data" / "raw" / "images.parquet")
    df["file"] = df["image_url"].str.rsplit("/", n=1).str[1]
    row = df.set_index("file").loc
    shared, copy_r, copy_d = files["resistor-000"], files["resistor-001"], files["diode-001"]
    if policy == "reject":
        for f in (shared, copy_r, copy_d):
            assert row[f, "status"] == "rejected"
            assert row[f, "error"].startswith("label_conflict: the same image is labelled diode, resistor")
        assert (df["status"] == "ok").sum() == len(products) - 3
    else:
        assert row[shared, "status"] == "ok" and row[shared, "class_label"] == "diode"  # page diode-000 < resistor-000
        assert row[copy_d, "status"] == "ok" and row[copy_d, "class_label"] == "diode"  # URL diode-001 < resistor-001
        assert row[copy_r, "status"] == "rejected" and row[copy_r, "error"].startswith("duplicate:")
        assert (df["status"] == "ok").sum() == len(products) - 1


def test_pages_lost_to_transient_errors_fail_the_crawl_until_a_rerun_gets_them(tmp_path: Path) -> None:
    """A category page answering 503 once: the images behind it have no row yet, so the
    crawl exits non-zero (keeping its state) instead of 0 with rows missing; the re-run crawls it."""
    products = make_site(tmp_path / "site", classes=("resistor", "diode"), per_class=4, per_page=2)
    with LoggingSite(tmp_path / "site", fail={"/category/diode/page-2.html": 1}) as site:
        params = tiny_params(tmp_path / "p", _crawl([_source(site.url)]))
        with pytest.raises(crawl.CrawlFailed, match=r"1 page\(s\) failed with a transient error \(shop 1\)"):
            crawl.run(params)
        assert params.path(params.crawl.jobdir).is_dir()  # kept for the re-run
        summary = crawl.run(params)
    assert summary.startswith(f"{len(products)} images stored, 0 rejected, 0 errors")
    assert not params.path(params.crawl.jobdir).exists()


def test_recrawl_of_an_unchanged_site_downloads_no_image_body(tmp_path: Path) -> None:
    """The second crawl asks "modified since?" for every stored image: all 304, no body,
    no file rewritten, the same manifest. With the output folder deleted (as ``dvc repro``
    does) the cache must not be trusted: every image is downloaded again."""
    products = make_site(tmp_path / "site", classes=("resistor", "diode"), per_class=3,
                         duplicate_of={"resistor-002": "resistor-001"})
    with LoggingSite(tmp_path / "site") as site:
        params = tiny_params(tmp_path / "p", _crawl([_source(site.url)]))
        out = params.path(params.crawl.out)

        def bodies(since: int) -> list[str]:
            return [p for p, code in site.responses[since:] if p.startswith("/img/") and code == 200]

        crawl.run(params)
        first = (out / "images.parquet").read_bytes()
        mtimes = {p: p.stat().st_mtime_ns for p in (out / "files").rglob("*.*")}
        assert len(bodies(0)) == len(products)
        assert params.path(params.crawl.http_cache).is_file()

        mark = len(site.responses)
        summary = crawl.run(params)
        assert bodies(mark) == []
        not_modified = [p for p, code in site.responses[mark:] if p.startswith("/img/") and code == 304]
        assert len(not_modified) == len(products)  # the duplicate's URL too
        assert (out / "images.parquet").read_bytes() == first
        assert {p: p.stat().st_mtime_ns for p in (out / "files").rglob("*.*")} == mtimes
        assert summary.startswith(f"{len(products) - 1} images stored")

        shutil.rmtree(out)
        mark = len(site.responses)
        crawl.run(params)
        assert len(bodies(mark)) == len(products)
        assert (out / "images.parquet").read_bytes() == first


def test_check_prints_what_each_selector_found_and_downloads_nothing(tmp_path: Path) -> None:
    """``pcbforge crawl --check`` on a shop that spells ``span.license`` and marks its part
    numbers with schema.org microdata: the default selectors find them; no image is fetched."""
    make_site(tmp_path / "site", classes=("resistor", "diode"), per_class=4, per_page=2)
    for page in (tmp_path / "site" / "product").glob("*.html"):
        page.write_text(page.read_text().replace('class="licence"', 'class="license"').replace(
            "</body>", '<span itemprop="mpn">RC0603FR-07</span><a class="datasheet" href="/ds/r.pdf">PDF</a></body>'))
    with LoggingSite(tmp_path / "site") as site:
        params_path = write_params(tmp_path / "p", _crawl([_source(site.url)]))
        res = subprocess.run([sys.executable, "-m", "pcbforge", "crawl", "--check", "-p", str(params_path)],
                             capture_output=True, text=True, timeout=120)
        requested = list(site.requests)
    assert res.returncode == 0, res.stderr[-2000:]
    found = {line.split()[0]: line for line in res.stdout.splitlines() if line.startswith("  ") and "/" in line}
    assert "'CC-BY-4.0'" in found["licence"] and "'RC0603FR-07'" in found["mpn"]
    assert f"'{site.url}/ds/r.pdf'" in found["datasheet_url"]
    assert "' ../img/" not in found["image"] and "'../img/" in found["image"]
    never = next(line for line in res.stdout.splitlines() if "never matched:" in line)
    assert " 0/" in found["sku"] and "sku" in never and "mpn" not in never and "licence," not in never
    assert not [p for p in requested if p.startswith("/img/")]
    assert not (tmp_path / "p" / "data").exists()  # nothing written


def test_product_metadata_reaches_the_manifest(tmp_path: Path) -> None:
    products = make_site(tmp_path / "site", classes=("resistor",), per_class=3)
    for page in (tmp_path / "site" / "product").glob("*.html"):
        page.write_text(page.read_text().replace('class="licence"', 'class="license"').replace(
            "</body>", '<span itemprop="mpn">RC0603FR-07</span><span class="sku">SKU-1</span>'
                       '<a class="datasheet" href="../ds/r.pdf">PDF</a></body>'))
    with LoggingSite(tmp_path / "site") as site:
        crawl.run(tiny_params(tmp_path / "p", _crawl([_source(site.url)])))
    df = pd.read_parquet(tmp_path / "p" / "data" / "raw" / "images.parquet")
    assert len(df) == len(products) and (df["status"] == "ok").all()
    assert sorted(df["title"]) == sorted(p.pid for p in products)  # h1.title
    assert set(df["licence"]) == {"CC-BY-4.0"}  # span.license
    assert set(df["mpn"]) == {"RC0603FR-07"} and set(df["sku"]) == {"SKU-1"}
    assert set(df["datasheet_url"]) == {f"{site.url}/ds/r.pdf"}
