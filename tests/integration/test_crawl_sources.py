"""Several ``crawl.sources`` in one crawl: a ``catalog`` site and a ``urls`` list on two loopback servers.

The sources differ in spider, class mapping and licence allow-list, and both servers serve
one byte-identical image: the manifest keeps each source's rows with its own labels, the
shared image is stored once, and each allow-list applies to its own source only.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from pcbforge.pipelines import crawl
from tests.helpers.fault_server import ScriptedServer
from tests.helpers.params import tiny_params
from tests.helpers.sites import LoggingSite, make_site, photo_bytes

pytestmark = pytest.mark.slow

#: The ``urls`` source's list: file served by the second server -> its label in the list.
LISTED = {"b-00.png": "cap", "b-01.png": "cap", "b-02.png": "led", "copy.jpg": "cap"}


def test_two_sources_in_one_crawl(tmp_path: Path) -> None:
    shop_root = tmp_path / "shop"
    # Licences alternate: resistor-000 (CC-BY), resistor-001 (NC), ... diode-002 (NC).
    products = make_site(shop_root, classes=("resistor", "diode"), per_class=3, per_page=2,
                         licences=("CC-BY-4.0", "CC-BY-NC-4.0"))
    shared = next(p for p in products if p.pid == "resistor-000")  # CC-BY: downloaded by the shop source too
    shared_bytes = (shop_root / "img" / shared.file).read_bytes()
    files = {f"/img/{name}": ("image/png", photo_bytes(500 + i, "png")) for i, name in enumerate(LISTED)}
    files["/img/copy.jpg"] = ("image/jpeg", shared_bytes)

    with LoggingSite(shop_root) as shop, ScriptedServer(files) as lst:
        url_list = tmp_path / "urls.txt"
        url_list.write_text("".join(f"{lst.url}/img/{name}\t{label}\n" for name, label in LISTED.items()))
        sources = [
            {"name": "shop", "spider": "catalog", "start_urls": [shop.url + "/index.html"], "allow_private": True,
             "class_map": {"diode": "smd_diode"}, "licence_allow": ["CC-BY-4.0"]},
            # No licence information in a URL list: the shop's allow-list would reject every row here.
            {"name": "list", "spider": "urls", "start_urls": [], "url_list": str(url_list), "allow_private": True,
             "class_map": {"cap": "ceramic_capacitor"}, "licence_allow": []},
        ]
        # The shared image is a resistor in the shop and a capacitor in the list: a label
        # conflict, which ``first`` resolves to the stored URL's own label (reject would drop it).
        params = tiny_params(tmp_path / "project", {"crawl": {"sources": sources, "label_conflict": "first"}})
        crawl.run(params)
        shop_requests = list(shop.requests)

    out = params.path(params.crawl.out)
    df = pd.read_parquet(out / "images.parquet").set_index("image_url")
    assert len(df) == len(products) + len(LISTED)  # every image of both sources is one row

    # The shop source: its labels (class_map), its allow-list; nothing refused was downloaded.
    for p in products:
        row = df.loc[f"{shop.url}/img/{p.file}"]
        assert row["source"] == "shop"
        assert row["class_label"] == {"diode": "smd_diode"}.get(p.slug, p.slug)
        assert row["licence"] == p.licence
        if p.licence == "CC-BY-NC-4.0":
            assert row["status"] == "rejected" and row["error"].startswith("licence:"), row["error"]
            assert f"/img/{p.file}" not in shop_requests
        elif p != shared:
            assert row["status"] == "ok", row["error"]

    # The list source: its own class_map, and the shop's allow-list does not reach it.
    for name, label in LISTED.items():
        row = df.loc[f"{lst.url}/img/{name}"]
        assert row["source"] == "list"
        assert row["class_label"] == {"cap": "ceramic_capacitor"}.get(label, label)
        assert pd.isna(row["licence"])
        assert not str(row["error"]).startswith("licence")
        if name != "copy.jpg":
            assert row["status"] == "ok", row["error"]

    # The image both servers serve: stored once (content-addressed), the other URL a duplicate reject.
    pair = sorted([f"{shop.url}/img/{shared.file}", f"{lst.url}/img/copy.jpg"])
    sha = hashlib.sha256(shared_bytes).hexdigest()
    kept, dup = df.loc[pair[0]], df.loc[pair[1]]
    assert kept["status"] == "ok" and kept["sha256"] == sha
    assert dup["status"] == "rejected" and dup["error"] == f"duplicate: same sha256 as {pair[0]}"
    assert dup["source"] == ("shop" if pair[1].startswith(shop.url) else "list")

    ok = df[df["status"] == "ok"]
    assert len(ok) == 3 + len(LISTED) - 1  # shop CC-BY + list, the shared image once
    stored = sorted(p.relative_to(out).as_posix() for p in (out / "files").rglob("*") if p.is_file())
    assert stored == sorted(ok["path"])
    assert sum(sha in s for s in stored) == 1
