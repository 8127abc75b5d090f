"""The crawl stage on the built-in source: a catalog site served on 127.0.0.1 and crawled by Scrapy."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from pcbforge.config import Params
from pcbforge.datasets.schemas import columns
from pcbforge.errors import ConfigError, InputError
from pcbforge.pipelines import crawl
from tests.helpers.params import tiny_params
from tests.helpers.sites import make_site


def _site(params: Params, **kw) -> list:
    return make_site(params.path(params.catalog.out) / "site", **kw)


def test_builtin_site_crawled_deterministically(params: Params) -> None:
    products = _site(params, licences=("CC-BY-4.0", "CC-BY-4.0", "CC-BY-NC-4.0"), duplicate_of={"diode-004": "diode-001"})
    summary = crawl.run(params)
    out = params.path(params.crawl.out)
    first = (out / "images.parquet").read_bytes()
    df = pd.read_parquet(out / "images.parquet")

    assert list(df.columns) == list(columns("crawl"))
    assert list(df["id"]) == sorted(df["id"])
    assert len(df) == len(products)  # every image seen is a row
    assert set(df["image_url"]) == {f"builtin:/img/{p.file}" for p in products}
    by_url = df.set_index("image_url")
    nc = [p for p in products if p.licence == "CC-BY-NC-4.0"]
    for p in products:
        row = by_url.loc[f"builtin:/img/{p.file}"]
        assert row["class_label"] == p.slug.replace("-", "_")
        assert row["page_url"] == f"builtin:/product/{p.pid}.html"
        assert row["licence"] == p.licence and row["author"] == p.author
        assert row["fetched_at"] == "2023-11-14T22:13:20Z"  # base.source_date_epoch
        if p in nc:
            assert row["status"] == "rejected" and row["error"].startswith("licence:")
    ok = df[df["status"] == "ok"]
    assert len(ok) == len(products) - len(nc) - (0 if any(p.pid == "diode-004" for p in nc) else 1)
    for row in ok.itertuples():
        assert hashlib.sha256((out / row.path).read_bytes()).hexdigest() == row.id
        assert row.width == 64 and row.height == 48
    assert {p.stem for p in (out / "files").rglob("*.*")} == set(ok["id"])
    assert "images stored" in summary and str(out) in summary
    assert not params.path(params.crawl.jobdir).exists()  # state removed after a finished crawl

    crawl.run(params)
    assert (out / "images.parquet").read_bytes() == first


def test_class_map_and_sitemap(tmp_path: Path) -> None:
    params = tiny_params(
        tmp_path,
        {
            "crawl": {
                "sources": [
                    {
                        "name": "builtin",
                        "start_urls": ["builtin"],
                        "sitemap": True,
                        "allow_private": True,
                        "class_map": {"diode": "smd_diode"},
                        "licence_allow": [],
                    }
                ]
            }
        },
    )
    products = _site(params, classes=("diode", "relay"), per_class=3, licences=("Proprietary",))
    crawl.run(params)
    df = pd.read_parquet(params.path(params.crawl.out) / "images.parquet")
    assert (df["status"] == "ok").sum() == len(products)  # empty allow-list = allow all
    assert sorted(df["class_label"].unique()) == ["relay", "smd_diode"]


#: The built-in catalog's selectors (DEFAULT_SELECTORS), all rewritten in XPath.
XPATH_SELECTORS = {
    "category": "xpath://a[contains(concat(' ', @class, ' '), ' category ')]/@href",
    "product": "xpath://a[@class='product']/@href",
    "next": "xpath://a[@rel='next']/@href",
    "image": "xpath://img[@class='product-image']/@src",
    "label": "xpath://span[@class='category']/@data-slug",
    "licence": "xpath:normalize-space(//span[@class='licence'])",
    "author": "xpath://span[@class='author']/text()",
}


def test_xpath_selectors(tmp_path: Path) -> None:
    source = {"name": "builtin", "start_urls": ["builtin"], "allow_private": True, "licence_allow": [],
              "selectors": XPATH_SELECTORS}
    params = tiny_params(tmp_path, {"crawl": {"sources": [source]}})
    products = _site(params, classes=("diode", "relay"), per_class=3, per_page=2, licences=("CC0-1.0",))
    crawl.run(params)
    df = pd.read_parquet(params.path(params.crawl.out) / "images.parquet").set_index("image_url")
    assert (df["status"] == "ok").sum() == len(products)  # pagination (next) and products followed
    for p in products:
        row = df.loc[f"builtin:/img/{p.file}"]
        assert (row["class_label"], row["licence"], row["author"]) == (p.slug, "CC0-1.0", p.author)


def test_unexpected_pipeline_error_is_an_error_row(tmp_path: Path) -> None:
    """A failure nobody planned for (here: the store cannot create its directories) loses no image."""
    params = tiny_params(tmp_path)
    products = _site(params, classes=("diode",), per_class=3, licences=("CC-BY-4.0",))
    out = params.path(params.crawl.out)
    out.mkdir(parents=True)
    (out / "files").write_text("a file where the store wants a directory")
    # Nothing stored: the crawl fails, naming why, with every image's row written.
    with pytest.raises(crawl.CrawlFailed, match=rf"no image stored: .*\(internal {len(products)}\)"):
        crawl.run(params)
    df = pd.read_parquet(out / "images.parquet")
    assert len(df) == len(products)
    assert set(df["status"]) == {"error"} and df["path"].isna().all()
    assert all(e.startswith("internal: NotADirectoryError: ") for e in df["error"]), df["error"].tolist()


def test_missing_builtin_site_is_a_clear_error(params: Params) -> None:
    with pytest.raises(InputError, match="pcbforge catalog"):
        crawl.run(params)


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ({"name": "x", "start_urls": ["ftp://example.com/"]}, "not an http"),
        ({"name": "x", "selectors": {"imgs": "img"}}, "unknown keys"),
        ({"name": "x", "selectors": {"image": "xpath://img[@src"}}, "selectors.image.*not a valid selector"),
        ({"name": "x", "selectors": {"image": "img[[src"}}, "selectors.image.*not a valid selector"),
        ({"name": "x", "spider": "commons", "start_urls": ["https://commons.wikimedia.org/w/api.php"]}, "class_map"),
    ],
)
def test_source_mistakes_are_config_errors(tmp_path: Path, source: dict, match: str) -> None:
    # Refused when params load (validators) or, for selectors, before any process starts.
    with pytest.raises(ConfigError, match=match):
        crawl.run(tiny_params(tmp_path, {"crawl": {"sources": [source]}}))
