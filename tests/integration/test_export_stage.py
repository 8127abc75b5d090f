"""Stage ``export`` on fake triplets + the real simulate stage: every format, manifest, determinism, errors."""

from __future__ import annotations

import csv
import hashlib
import json
import tarfile
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from pcbforge.config import Params
from pcbforge.errors import InputError
from pcbforge.pipelines import export, simulate
from tests.helpers.params import tiny_params
from tests.helpers.triplets_fixture import (
    board_lineage,
    negative_lineage,
    photo_lineage,
    write_components,
    write_triplets,
)

SPLITS = ("train", "train", "train", "val", "test", "test", "test")
KINDS = ("gray_patch", "other_class", "missing")  # write_triplets' default cycle
LINEAGE = ("source_url", "image_url", "licence", "licence_url", "author", "attribution")
CREDITS_HEADER = "source_url,image_url,licence,licence_url,author,attribution,samples"


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def expected_credits(splits_exported: set[str] | None = None, pairs: int = 8) -> list[dict[str, str]]:
    """CREDITS.csv rows for :func:`prepare`'s inputs, from the fixture's own lineage, as CSV text cells.

    Triplet ``i`` uses its anchor's photo and its negative's (the same photo for a defect);
    every SSDS pair's template comes from board 0. ``splits_exported``: triplet splits that
    land in some format (all by default).
    """
    counts: Counter[tuple[str, ...]] = Counter()

    def key(lineage: dict[str, str | None]) -> tuple[str, ...]:
        return tuple(lineage[k] or "" for k in LINEAGE)

    for i, split in enumerate(SPLITS):
        if splits_exported is None or split in splits_exported:
            counts.update({key(photo_lineage(i // 2)), key(negative_lineage(i, KINDS[i % len(KINDS)]))})
    counts[key(board_lineage(0))] += pairs
    return [{**dict(zip(LINEAGE, k, strict=True)), "samples": str(n)} for k, n in sorted(counts.items())]


def read_credits(out: Path) -> list[dict[str, str]]:
    with (out / "CREDITS.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def prepare(p: Params) -> None:
    """Triplets from the fixture; pairs from the real simulate stage on fake crops."""
    write_triplets(p.path(p.triplets.out), splits=SPLITS, bad=1)
    write_components(p.path(p.crop.out), n=2, size=p.base.image_size)
    simulate.run(p)


def test_export_writes_every_format(params: Params) -> None:
    prepare(params)
    summary = export.run(params)
    out = params.path(params.export.out)
    assert "7 triplets + 8 pairs" in summary and str(out) in summary
    assert sorted(p.name for p in out.iterdir()) == ["CREDITS.csv", "export.parquet", "mvtec", "pairs", "webdataset"]

    manifest = pd.read_parquet(out / "export.parquet")
    assert len(manifest) == 7 + 8 and (manifest["status"] == "ok").all()
    assert set(manifest.loc[manifest["source"] == "simulate", "formats"]) == {"pairs,mvtec,webdataset"}
    val = manifest[manifest["split"] == "val"]
    assert (val["formats"] == "pairs,webdataset").all() and val["notes"].str.contains("val split").all()

    rows = list(csv.DictReader((out / "pairs" / "pairs.csv").open()))
    assert len(rows) == 2 * 7 + 8
    assert sum(r["label"] == "1" for r in rows) == 7

    mvtec = out / "mvtec"
    assert len(list((mvtec / "test" / "simulated_shape").glob("*.png"))) == 8
    assert len(list((mvtec / "ground_truth" / "simulated_shape").glob("*_mask.png"))) == 8
    assert len(list((mvtec / "test" / "good").glob("*.png"))) == SPLITS.count("test")

    index = json.loads((out / "webdataset" / "index.json").read_text())
    assert index["shard_size"] == params.export.shard_size == 16
    assert index["streams"]["pairs"]["samples"] == 8
    assert index["streams"]["triplets-train"]["samples"] == 3
    with tarfile.open(out / "webdataset" / "pairs-000000.tar") as tar:
        names = tar.getnames()
        assert {m.mtime for m in tar.getmembers()} == {params.base.source_date_epoch}
    assert len(names) == 8 * 4 and names == sorted(names, key=lambda n: n.split(".")[0]) and names[0].endswith(
        ".template.png"
    )


def test_credits_list_every_source_image_with_its_terms(params: Params) -> None:
    prepare(params)
    summary = export.run(params)
    out = params.path(params.export.out)
    text = (out / "CREDITS.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == CREDITS_HEADER and text.endswith("\n") and "\r" not in text
    rows = read_credits(out)
    assert rows == expected_credits()
    assert "7 source image(s) in CREDITS.csv" in summary
    by_url = {r["source_url"]: r for r in rows}
    # Set on the crawl row, the credit line and licence URL reach the credits (comma and all)...
    photo0 = by_url["http://127.0.0.1/img/0.jpg"]
    assert photo0["attribution"] == "Photo: author-0, CC BY 4.0" and photo0["licence_url"].startswith("https://")
    assert photo0["samples"] == "2"  # triplets 0 and 1 share anchor 0
    # ... null stays empty, never "None" or "nan" ...
    photo1 = by_url["http://127.0.0.1/img/1.jpg"]
    assert photo1["attribution"] == "" and photo1["licence_url"] == "" and photo1["licence"] == "CC0-1.0"
    assert "None" not in text and "nan" not in text
    # ... the other_class negatives' photos are credited too, and the SSDS templates' board.
    assert {"http://127.0.0.1/img/51.jpg", "http://127.0.0.1/img/54.jpg"} <= set(by_url)
    board = by_url["http://127.0.0.1/board-0.png"]
    assert board["samples"] == "8" and board["image_url"] == "" and board["attribution"] == "Board 0 by Fixture Lab"
    # The WebDataset metadata carries the same lineage.
    with tarfile.open(out / "webdataset" / "pairs-000000.tar") as tar:
        docs = [json.load(tar.extractfile(m)) for m in tar.getmembers() if m.name.endswith(".json")]
    assert len(docs) == 8 and all({k: d[k] for k in LINEAGE} == board_lineage(0) for d in docs)
    with tarfile.open(out / "webdataset" / "triplets-train-000000.tar") as tar:
        docs = [json.load(tar.extractfile(m)) for m in tar.getmembers() if m.name.endswith(".json")]
    assert sorted(d["attribution"] or "" for d in docs) == ["", "Photo: author-0, CC BY 4.0", "Photo: author-0, CC BY 4.0"]


def test_export_is_byte_identical_on_rerun(tmp_path: Path) -> None:
    outs = []
    for name in ("a", "b"):
        p = tiny_params(tmp_path / name, {"export": {"shard_size": 3}})
        prepare(p)
        export.run(p)
        outs.append(digests(p.path(p.export.out)))
    assert outs[0] == outs[1]
    assert sum(k.endswith(".tar") for k in outs[0]) == 3 + 1 + 1 + 1  # pairs 8/3, train 3/3, val, test 3/3


def test_formats_param_selects_layouts(tmp_path: Path) -> None:
    p = tiny_params(tmp_path, {"export": {"formats": ["mvtec"]}})
    prepare(p)
    export.run(p)
    out = p.path(p.export.out)
    assert sorted(x.name for x in out.iterdir()) == ["CREDITS.csv", "export.parquet", "mvtec"]
    # Val triplets land in no format here, so only train/test triplets (and all pairs) are credited.
    assert read_credits(out) == expected_credits({"train", "test"})
    assert read_credits(out) != expected_credits()


def test_missing_image_is_an_error_row(params: Params) -> None:
    prepare(params)
    trip = params.path(params.triplets.out)
    df = pd.read_parquet(trip / "triplets.parquet")
    victim = df[df["status"] == "ok"].iloc[0]
    (trip / victim["negative_path"]).unlink()
    export.run(params)
    manifest = pd.read_parquet(params.path(params.export.out) / "export.parquet")
    row = manifest.set_index("id").loc[victim["id"]]
    assert row["status"] == "error" and victim["negative_path"] in row["error"] and row["formats"] == ""
    rows = list(csv.DictReader((params.path(params.export.out) / "pairs" / "pairs.csv").open()))
    assert victim["id"] not in {r["source_id"] for r in rows}
    # A sample that was not exported credits nothing.
    credited = {r["source_url"]: int(r["samples"]) for r in read_credits(params.path(params.export.out))}
    full = {r["source_url"]: int(r["samples"]) for r in expected_credits()}
    for url in {victim["source_url"], victim["negative_source_url"]}:
        assert credited.get(url, 0) == full[url] - 1, url


def test_missing_pairs_manifest_is_an_input_error(params: Params) -> None:
    write_triplets(params.path(params.triplets.out))
    with pytest.raises(InputError, match=r"pairs\.parquet.*pcbforge simulate"):
        export.run(params)


def test_triplets_without_contract_columns_is_an_input_error(params: Params) -> None:
    prepare(params)
    path = params.path(params.triplets.out) / "triplets.parquet"
    pd.read_parquet(path).drop(columns=["negative_kind"]).to_parquet(path)
    with pytest.raises(InputError, match="negative_kind"):
        export.run(params)
