"""Stage test for ``pcbforge catalog``: the shop's HTML contract, boards, ground truth, determinism."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from parsel import Selector
from PIL import Image

from pcbforge.config import Params
from pcbforge.errors import ConfigError
from pcbforge.pipelines import catalog
from pcbforge.vocab import ComponentClass
from tests.helpers.params import tiny_params


def _tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _sel(path: Path) -> Selector:
    return Selector(text=path.read_text(encoding="utf-8"))


def test_site_follows_the_html_contract(params: Params) -> None:
    summary = catalog.run(params)
    out = params.path(params.catalog.out)
    assert str(out) in summary
    siteroot = out / "site"
    df = pd.read_parquet(out / "catalog.parquet")
    listed = df[df["kind"].isin(["product", "duplicate", "junk"])]

    index = _sel(siteroot / "index.html")
    hrefs = index.css("a.category::attr(href)").getall()
    assert hrefs == [f"category/{c.value.replace('_', '-')}/page-1.html" for c in ComponentClass]

    seen: dict[str, str] = {}
    for href in hrefs:
        slug = href.split("/")[1]
        page = siteroot / href
        n_pages = 0
        while True:
            n_pages += 1
            sel = _sel(page)
            links = sel.css("a.product::attr(href)").getall()
            assert 0 < len(links) <= params.catalog.per_page
            for link in links:
                seen[(page.parent / link).resolve().stem] = slug
            nxt = sel.css("a.next[rel=next]::attr(href)").get()
            if nxt is None:
                break
            assert nxt == f"page-{n_pages + 1}.html"
            page = page.parent / nxt
        assert n_pages == -(-int((listed["class_label"] == slug.replace("-", "_")).sum()) // params.catalog.per_page)
    # Every public item is listed exactly once, in its class's category.
    assert sorted(seen) == sorted(listed["id"])
    assert all(seen[r.id] == r.class_label.replace("_", "-") for r in listed.itertuples())

    for r in listed.itertuples():
        page = _sel(out / r.page_path)
        assert page.css("h1.title::text").get() == r.title
        srcs = page.css("img.product-image::attr(src)").getall()
        assert len(srcs) == 1 and srcs[0].startswith("../img/")
        img_file = (out / r.page_path).parent / srcs[0]
        assert img_file.resolve() == (out / r.image_path).resolve() and img_file.is_file()
        assert page.css("span.category::attr(data-slug)").get() == r.class_label.replace("_", "-")
        assert page.css("span.licence::text").get() == r.licence
        assert page.css("span.author::text").get() == r.author

    assert (siteroot / "robots.txt").read_text() == "User-agent: *\nDisallow: /private/\nSitemap: /sitemap.xml\n"
    private_link = index.css('a[href^="private/"]::attr(href)').get()
    assert private_link and (siteroot / private_link).is_file()
    private_imgs = _sel(siteroot / private_link).css("img::attr(src)").getall()
    assert private_imgs and all((siteroot / "private" / s).is_file() for s in private_imgs)
    priv = df[df["kind"] == "private"]
    assert (
        len(priv) > 0
        and set(priv["status"]) == {"rejected"}
        and priv["image_path"].str.startswith("site/private/").all()
    )

    locs = re.findall(r"<loc>([^<]+)</loc>", (siteroot / "sitemap.xml").read_text())
    assert sorted(locs) == sorted(f"/product/{i}.html" for i in listed["id"])

    formats = {Image.open(out / p).format for p in listed["image_path"]}
    assert {"JPEG", "PNG", "WEBP"} <= formats
    assert "All-Rights-Reserved" in set(listed["licence"])
    assert set(listed["licence"]) <= {"CC0-1.0", "CC-BY-4.0", "CC-BY-SA-4.0", "All-Rights-Reserved"}


def test_boards_labels_and_ground_truth_agree(params: Params) -> None:
    catalog.run(params)
    out = params.path(params.catalog.out)
    df = pd.read_parquet(out / "catalog.parquet")
    assert list(df["id"]) == sorted(df["id"]) and df["id"].is_unique
    assert {
        "id",
        "kind",
        "class_label",
        "image_path",
        "page_path",
        "licence",
        "author",
        "dup_of",
        "status",
        "error",
    } <= set(df.columns)
    for r in df.itertuples():
        data = (out / r.image_path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == r.sha256
        with Image.open(out / r.image_path) as im:
            assert im.size == (r.width, r.height)

    cfg = params.catalog
    n_products = len(ComponentClass) * cfg.products_per_class
    kinds = df["kind"].value_counts()
    assert kinds["product"] == n_products
    assert kinds["duplicate"] == round(cfg.duplicate_fraction * n_products)
    assert kinds["junk"] == cfg.junk_images and kinds["board"] == cfg.boards
    products = df[df["kind"] == "product"].set_index("id")
    for r in df[df["kind"] == "duplicate"].itertuples():
        assert r.dup_of in products.index and products.loc[r.dup_of, "class_label"] == r.class_label
        assert r.sha256 != products.loc[r.dup_of, "sha256"]
        assert json.loads(r.dup_transform)["phash_distance"] <= 10

    data_yaml = yaml.safe_load((out / "boards" / "data.yaml").read_text())
    assert data_yaml["nc"] == 12 and data_yaml["names"] == ComponentClass.names()
    assert (data_yaml["path"], data_yaml["train"], data_yaml["val"]) == (".", "images", "images")
    boards = df[df["kind"] == "board"]
    labels = sorted((out / "boards" / "labels").glob("*.txt"))
    assert [p.stem for p in labels] == sorted(boards["id"])
    assert sorted(p.stem for p in (out / "boards" / "images").glob("*.png")) == sorted(boards["id"])
    lo, hi = cfg.components_per_board
    for r in boards.itertuples():
        lines = (out / "boards" / "labels" / f"{r.id}.txt").read_text().splitlines()
        assert len(lines) == r.n_objects and lo <= len(lines) <= hi
        for line in lines:
            assert re.fullmatch(r"\d+( \d\.\d{6}){4}", line), line
            cls, cx, cy, w, h = line.split()
            assert 0 <= int(cls) < 12
            cx, cy, w, h = map(float, (cx, cy, w, h))
            assert (
                0 <= cx - w / 2 - 1e-6 and cx + w / 2 <= 1 + 1e-6 and 0 <= cy - h / 2 - 1e-6 and cy + h / 2 <= 1 + 1e-6
            )


@pytest.mark.slow
def test_output_is_byte_identical_and_worker_independent(params: Params, tmp_path: Path) -> None:
    catalog.run(params)
    out = params.path(params.catalog.out)
    first = _tree_hashes(out)
    catalog.run(params)  # re-run over an existing output: replaced whole, same bytes
    assert _tree_hashes(out) == first
    other = tiny_params(tmp_path / "two-workers", {"base": {"workers": 2}})
    catalog.run(other)
    assert _tree_hashes(other.path(other.catalog.out)) == first
    reseeded = tiny_params(tmp_path / "reseeded", {"base": {"seed": params.base.seed + 1}})
    catalog.run(reseeded)
    assert _tree_hashes(reseeded.path(reseeded.catalog.out)) != first


def test_bad_catalog_params_are_config_errors(tmp_path: Path) -> None:
    # Refused when params.yaml is loaded, naming the file and the key, before any stage runs.
    with pytest.raises(ConfigError, match=r"params.yaml: invalid value for 'catalog.components_per_board'"):
        tiny_params(tmp_path, {"catalog": {"components_per_board": [5, 2]}})
    with pytest.raises(ConfigError, match=r"params.yaml: invalid value for 'catalog.photo_size': .*at least 64"):
        tiny_params(tmp_path, {"catalog": {"photo_size": [32, 32]}})


def test_minimal_catalog_without_boards_duplicates_or_junk(tmp_path: Path) -> None:
    p = tiny_params(
        tmp_path,
        {"catalog": {"products_per_class": 1, "per_page": 1, "duplicate_fraction": 0, "junk_images": 0, "boards": 0}},
    )
    catalog.run(p)
    out = p.path(p.catalog.out)
    df = pd.read_parquet(out / "catalog.parquet")
    assert sorted(set(df["kind"])) == ["private", "product"] and (df["kind"] == "product").sum() == 12
    assert list((out / "boards" / "labels").iterdir()) == []
    assert yaml.safe_load((out / "boards" / "data.yaml").read_text())["nc"] == 12
    # One product per class and one per page: a single page per category, with no next link.
    for c in ComponentClass:
        page = _sel(out / "site" / "category" / c.value.replace("_", "-") / "page-1.html")
        assert len(page.css("a.product")) == 1 and page.css("a.next").get() is None
