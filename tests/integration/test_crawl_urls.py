"""The ``urls`` spider: a list of image URLs (img2dataset-style), one process or sharded over workers."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from pcbforge.errors import ConfigError
from pcbforge.pipelines import crawl
from tests.helpers.params import tiny_params
from tests.helpers.sites import LoggingSite, make_site


def _params(tmp_path: Path, url_list: Path, start_urls: list[str], workers: int = 1):
    return tiny_params(
        tmp_path,
        {
            "crawl": {
                "workers": workers,
                "sources": [
                    {
                        "name": "list",
                        "spider": "urls",
                        "start_urls": start_urls,
                        "url_list": str(url_list),
                        "allow_private": True,
                        "class_map": {"diode": "smd_diode"},
                        "licence_allow": [],
                    }
                ],
            }
        },
    )


def test_url_list_one_worker_and_sharded_give_the_same_manifest(tmp_path: Path) -> None:
    site_root = tmp_path / "site"
    products = make_site(site_root, classes=("diode", "relay"), per_class=4, duplicate_of={"relay-003": "relay-000"})
    with LoggingSite(site_root) as site:
        listed = [f"{site.url}/img/{p.file}\t{p.slug}" for p in products]
        url_list = tmp_path / "urls.txt"
        url_list.write_text("# image URLs\n" + "\n".join(listed) + "\n\n")
        extra = [f"{site.url}/img/missing.jpg", f"{site.url}/private/secret.html"]
        manifests = []
        for workers in (1, 2):
            params = _params(tmp_path / f"w{workers}", url_list, extra, workers)
            crawl.run(params)
            out = params.path(params.crawl.out)
            df = pd.read_parquet(out / "images.parquet")
            manifests.append(df.drop(columns=["fetched_at"]))
            for row in df[df["status"] == "ok"].itertuples():
                assert hashlib.sha256((out / row.path).read_bytes()).hexdigest() == row.id
            assert len(list((out / "files").rglob("*.*"))) == len(products) - 1
        requested = list(site.requests)

    df = manifests[0]
    assert len(df) == len(products) + 2  # every listed URL is exactly one row
    by_url = df.set_index("image_url")
    for p in products:
        row = by_url.loc[f"{site.url}/img/{p.file}"]
        assert row["class_label"] == ("smd_diode" if p.slug == "diode" else p.slug)
    dup = by_url.loc[f"{site.url}/img/relay-003.{products[-1].file.rsplit('.', 1)[1]}"]
    assert dup["status"] == "rejected" and dup["error"].startswith("duplicate")
    assert by_url.loc[extra[0], "error"].startswith("http_404")
    assert by_url.loc[extra[1], "error"].startswith("robots")
    # no pages: only robots.txt and the listed images, and never the disallowed one
    assert not any(r.startswith(("/product", "/category", "/index", "/private")) for r in requested)
    pd.testing.assert_frame_equal(manifests[0], manifests[1])


def test_a_duplicate_of_a_file_whose_store_failed_is_fetched_again(tmp_path: Path) -> None:
    from pcbforge.crawler.items import ImageItem
    from pcbforge.crawler.journal import Journal

    site_root = tmp_path / "site"
    (product,) = make_site(site_root, classes=("diode",), per_class=1)
    with LoggingSite(site_root) as site:
        copy, gone = f"{site.url}/img/{product.file}", f"{site.url}/img/gone.jpg"
        url_list = tmp_path / "urls.txt"
        url_list.write_text(f"{gone}\n{copy}\n")
        params = _params(tmp_path / "run", url_list, [])
        body = (site_root / "img" / product.file).read_bytes()
        sha = hashlib.sha256(body).hexdigest()
        # An earlier run: `copy` (same bytes as `gone` then) arrived while gone's file was
        # being written and was dropped as its duplicate; then that write failed.
        journal = Journal(params.path(params.crawl.jobdir) / "journal-main.jsonl")
        for url, status, error in ((copy, "rejected", f"duplicate: same sha256 as a stored image ({sha[:12]})"),
                                   (gone, "error", "internal: OSError: No space left on device")):
            journal.append(ImageItem(source="list", page_url=url, image_url=url, sha256=sha, format="jpeg").row(
                status, error))
        journal.close()
        crawl.run(params)
        requested = list(site.requests)

    out = params.path(params.crawl.out)
    by_url = pd.read_parquet(out / "images.parquet").set_index("image_url")
    assert by_url.loc[copy, "status"] == "ok"  # fetched again and stored, not a duplicate of nothing
    assert hashlib.sha256((out / by_url.loc[copy, "path"]).read_bytes()).hexdigest() == sha
    assert by_url.loc[gone, "error"].startswith("http_404")
    assert requested.count(f"/img/{product.file}") == 1


def test_url_list_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="image URLs"):
        tiny_params(tmp_path, {"crawl": {"sources": [{"name": "x", "spider": "urls", "start_urls": ["builtin"]}]}})
    with pytest.raises(ConfigError, match="redis_url"):
        tiny_params(
            tmp_path, {"crawl": {"workers": 2, "sources": [{"name": "x", "start_urls": ["http://example.com/"]}]}}
        )


@pytest.mark.slow
def test_sharded_url_list_killed_then_resumed_equals_uninterrupted(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    from pcbforge.config import load_params
    from pcbforge.crawler.journal import read_rows
    from tests.helpers.params import write_params
    from tests.integration.test_crawl_resume import wait_for_rows

    site_root = tmp_path / "site"
    products = make_site(site_root, classes=("resistor", "diode", "relay"), per_class=8)
    with LoggingSite(site_root, delay=0.1) as site:
        url_list = tmp_path / "urls.txt"
        url_list.write_text("".join(f"{site.url}/img/{p.file}\t{p.slug}\n" for p in products))
        source = {"name": "list", "spider": "urls", "start_urls": [], "url_list": str(url_list), "allow_private": True}
        overrides = {"crawl": {"workers": 2, "sources": [source], "autothrottle": False, "concurrency": 2,
                               "concurrency_per_domain": 2}}
        ref = load_params(write_params(tmp_path / "ref", overrides))
        crawl.run(ref)
        params_path = write_params(tmp_path / "killed", overrides)
        params = load_params(params_path)
        proc = subprocess.Popen([sys.executable, "-m", "pcbforge", "crawl", "-p", str(params_path)],
                                start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        jobdir = params.path(params.crawl.jobdir)
        try:
            wait_for_rows(jobdir / "journal-*.jsonl", 6, proc)
            os.killpg(proc.pid, signal.SIGKILL)  # the stage and both workers
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        done = {r["image_url"] for r in read_rows(jobdir.glob("journal-*.jsonl"))}
        assert 6 <= len(done) < len(products)
        mark = len(site.requests)
        crawl.run(params)
        refetched = {site.url + p for p in site.requests[mark:] if p.startswith("/img/")}

    out, ref_out = params.path(params.crawl.out), ref.path(ref.crawl.out)
    assert (out / "images.parquet").read_bytes() == (ref_out / "images.parquet").read_bytes()
    files = {p.relative_to(out).as_posix() for p in (out / "files").rglob("*") if p.is_file()}
    assert files == {p.relative_to(ref_out).as_posix() for p in (ref_out / "files").rglob("*") if p.is_file()}
    assert len(files) == len(products)  # no temporary file left behind
    assert not done & refetched  # answered before the kill: not downloaded again
