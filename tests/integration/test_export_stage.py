"""Stage ``export`` on fake triplets + the real simulate stage: every format, splits, manifest, determinism, errors."""

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
from tests.helpers.split_fixture import split_of, write_split
from tests.helpers.components_fixture import board_lineage, write_components
from tests.helpers.triplets_fixture import negative_lineage, photo_lineage, write_triplets

SPLITS = ("train", "train", "train", "val", "test", "test", "test")
KINDS = ("gray_patch", "other_class", "missing")  # the negative kinds prepare() cycles through
#: Splits of the two template components (by id): 8 pairs alternate between them, 4 each.
PAIR_SPLITS = ("train", "test")
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
            counts.update({key(photo_lineage(i // 2)), key(negative_lineage(i, KINDS[i % len(KINDS)], per_anchor=2))})
    counts[key(board_lineage(0))] += pairs
    return [{**dict(zip(LINEAGE, k, strict=True)), "samples": str(n)} for k, n in sorted(counts.items())]


def read_credits(out: Path) -> list[dict[str, str]]:
    with (out / "CREDITS.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def prepare(p: Params) -> None:
    """Triplets from the fixture; pairs from the real simulate stage on fake crops, one train and one test."""
    write_triplets(p.path(p.triplets.out), splits=SPLITS, per_anchor=2, kinds=KINDS, rejected=0, bad=1)
    write_components(p.path(p.crop.out), n=2, per_board=2, size=p.base.image_size)
    write_split(p.path(p.split.out), p.path(p.crop.out) / "components.parquet", splits=PAIR_SPLITS)
    simulate.run(p)


def pair_splits(p: Params) -> dict[str, str]:
    """``pair id -> split`` of each ok pair, from its template component's row in split.parquet."""
    truth = split_of(p.path(p.split.out) / "split.parquet")
    pairs = pd.read_parquet(p.path(p.simulate.out) / "pairs.parquet")
    return {r.id: truth[r.parent_id] for r in pairs.itertuples() if r.status == "ok"}


def test_export_writes_every_format(params: Params) -> None:
    prepare(params)
    summary = export.run(params)
    out = params.path(params.export.out)
    assert "7 triplets + 8 pairs" in summary and str(out) in summary
    assert sorted(p.name for p in out.iterdir()) == [
        "CARD.json", "CARD.md", "CREDITS.csv", "card", "export.parquet", "mvtec", "pairs", "webdataset"
    ]

    manifest = pd.read_parquet(out / "export.parquet")
    assert len(manifest) == 7 + 8 and (manifest["status"] == "ok").all()
    sim = manifest[manifest["source"] == "simulate"]
    assert set(sim.loc[sim["split"] == "test", "formats"]) == {"pairs,mvtec,webdataset"}
    assert set(sim.loc[sim["split"] == "train", "formats"]) == {"pairs,webdataset"}
    assert sim.loc[sim["split"] == "train", "notes"].str.contains("train-split SSDS pair").all()
    val = manifest[manifest["split"] == "val"]
    assert (val["formats"] == "pairs,webdataset").all() and val["notes"].str.contains("val split").all()

    rows = list(csv.DictReader((out / "pairs" / "pairs.csv").open()))
    assert len(rows) == 2 * 7 + 8
    assert sum(r["label"] == "0" for r in rows) == 7  # same (anchor/positive); 1 = different, as evaluation

    mvtec = out / "mvtec"
    assert len(list(mvtec.glob("*/test/simulated_shape/*.png"))) == 4
    assert len(list(mvtec.glob("*/ground_truth/simulated_shape/*_mask.png"))) == 4
    assert len(list(mvtec.glob("*/test/good/*.png"))) == SPLITS.count("test")

    index = json.loads((out / "webdataset" / "index.json").read_text())
    assert index["shard_size"] == params.export.shard_size == 16
    assert index["streams"]["pairs-train"]["samples"] == index["streams"]["pairs-test"]["samples"] == 4
    assert "pairs" not in index["streams"] and "pairs-val" not in index["streams"]
    assert index["streams"]["triplets-train"]["samples"] == 3
    with tarfile.open(out / "webdataset" / "pairs-test-000000.tar") as tar:
        names = tar.getnames()
        assert {m.mtime for m in tar.getmembers()} == {params.base.source_date_epoch}
    assert len(names) == 4 * 4 and names == sorted(names, key=lambda n: n.split(".")[0]) and names[0].endswith(
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
    docs = []
    for split in PAIR_SPLITS:
        with tarfile.open(out / "webdataset" / f"pairs-{split}-000000.tar") as tar:
            docs += [json.load(tar.extractfile(m)) for m in tar.getmembers() if m.name.endswith(".json")]
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
    # pairs: train 4/3 + test 4/3; triplets: train 3/3, val, test 3/3
    assert sum(k.endswith(".tar") for k in outs[0]) == 2 + 2 + 1 + 1 + 1


def test_formats_param_selects_layouts(tmp_path: Path) -> None:
    p = tiny_params(tmp_path, {"export": {"formats": ["mvtec"]}})
    prepare(p)
    export.run(p)
    out = p.path(p.export.out)
    assert sorted(x.name for x in out.iterdir()) == ["CARD.json", "CARD.md", "CREDITS.csv", "card", "export.parquet", "mvtec"]
    # Val triplets and train-split pairs land in no format here, so only train/test triplets
    # and the 4 test-split pairs are credited.
    assert read_credits(out) == expected_credits({"train", "test"}, pairs=4)
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
    shown = str((trip / victim["negative_path"]).relative_to(params.root))
    assert row["error"] == f"missing file(s): {shown}"  # project-relative: no checkout path in the row
    rows = list(csv.DictReader((params.path(params.export.out) / "pairs" / "pairs.csv").open()))
    assert victim["id"] not in {r["source_id"] for r in rows}
    # A sample that was not exported credits nothing.
    credited = {r["source_url"]: int(r["samples"]) for r in read_credits(params.path(params.export.out))}
    full = {r["source_url"]: int(r["samples"]) for r in expected_credits()}
    for url in {victim["source_url"], victim["negative_source_url"]}:
        assert credited.get(url, 0) == full[url] - 1, url


def test_missing_pairs_manifest_is_an_input_error(params: Params) -> None:
    write_triplets(params.path(params.triplets.out), splits=SPLITS, per_anchor=2, kinds=KINDS, rejected=0)
    with pytest.raises(InputError, match=r"pairs\.parquet.*pcbforge simulate"):
        export.run(params)


def test_triplets_without_contract_columns_is_an_input_error(params: Params) -> None:
    prepare(params)
    path = params.path(params.triplets.out) / "triplets.parquet"
    pd.read_parquet(path).drop(columns=["negative_kind"]).to_parquet(path)
    with pytest.raises(InputError, match="negative_kind"):
        export.run(params)


def test_mvtec_simulated_shapes_never_come_from_train_split_components(params: Params) -> None:
    prepare(params)
    export.run(params)
    mvtec = params.path(params.export.out) / "mvtec"
    split = pair_splits(params)
    assert sorted(set(split.values())) == ["test", "train"]  # both kinds were on offer
    shown = sorted(p.stem for p in mvtec.glob("*/test/simulated_shape/*.png"))
    assert shown, "no simulated_shape images at all"
    assert {split[pid] for pid in shown} == {"test"}, "a train-split component reached MVTec test/"
    assert shown == sorted(pid for pid, s in split.items() if s == "test")
    # A train-split pair's images land nowhere in the MVTec tree (train/good holds no defect either).
    train_ids = {pid for pid, s in split.items() if s == "train"}
    assert not [p for p in mvtec.rglob("*.png") if p.stem.removesuffix("_mask") in train_ids]


def test_pairs_export_records_each_pairs_split(params: Params) -> None:
    prepare(params)
    export.run(params)
    out = params.path(params.export.out)
    split = pair_splits(params)
    rows = [r for r in csv.DictReader((out / "pairs" / "pairs.csv").open()) if r["source"] == "simulate"]
    assert len(rows) == len(split) == 8
    for r in rows:
        assert r["split"] == split[r["source_id"]], r["pair_id"]
    manifest = pd.read_parquet(out / "export.parquet")
    sim = manifest[manifest["source"] == "simulate"].set_index("id")["split"].to_dict()
    assert sim == split
    index = json.loads((out / "webdataset" / "index.json").read_text())
    for s in PAIR_SPLITS:
        with tarfile.open(out / "webdataset" / index["streams"][f"pairs-{s}"]["shards"][0]) as tar:
            docs = [json.load(tar.extractfile(m)) for m in tar.getmembers() if m.name.endswith(".json")]
        assert docs and all(d["split"] == s == split[d["id"]] for d in docs)


def test_pairs_manifest_without_split_is_an_input_error(params: Params) -> None:
    prepare(params)
    path = params.path(params.simulate.out) / "pairs.parquet"
    pd.read_parquet(path).drop(columns=["split"]).to_parquet(path)
    with pytest.raises(InputError, match=r"pairs\.parquet lacks columns \['split'\].*pcbforge simulate"):
        export.run(params)
    assert not params.path(params.export.out).exists()


def test_ok_pair_with_no_split_is_an_error_row_and_lands_nowhere(params: Params) -> None:
    prepare(params)
    path = params.path(params.simulate.out) / "pairs.parquet"
    df = pd.read_parquet(path)
    victim = df.loc[df["status"] == "ok", "id"].iloc[0]
    df.loc[df["id"] == victim, "split"] = None
    df.to_parquet(path)
    export.run(params)
    out = params.path(params.export.out)
    row = pd.read_parquet(out / "export.parquet").set_index("id").loc[victim]
    assert row["status"] == "error" and "split None" in row["error"] and row["formats"] == ""
    assert victim not in {r["source_id"] for r in csv.DictReader((out / "pairs" / "pairs.csv").open())}
    assert not [p for p in out.rglob("*.png") if victim in p.name]
