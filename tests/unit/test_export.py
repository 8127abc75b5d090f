"""Exporters on tiny fixtures: WebDataset tar contents and byte-identical shards, MVTec tree, pair labels."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import webdataset as wds
from PIL import Image

from pcbforge.datasets.export import (
    MvtecExporter,
    PairsExporter,
    Sample,
    WebDatasetExporter,
    credit_rows,
    expected_shards,
    format_credits,
    mask_png,
)
from pcbforge.io import stable_id
from pcbforge.pipelines.export import component_classes, pair_samples, triplet_samples
from pcbforge.train.evaluate import Distances
from pcbforge.vocab import PairLabel
from tests.helpers.anomalib_layout import LayoutError, read_category
from tests.helpers.triplets_fixture import write_pairs, write_triplets

SPLITS = ("train", "train", "val", "test", "test", "test", "test")
#: Splits of the 3 SSDS pairs (their template components' splits).
PAIR_SPLITS = ("train", "val", "test")
KINDS = ("gray_patch", "other_class", "missing")


@pytest.fixture()
def samples(tmp_path: Path) -> list[Sample]:
    """Triplets (gray_patch / other_class / missing negatives over train, val, test), then 3 pairs, one per split."""
    trip, sim = tmp_path / "triplets", tmp_path / "simulate"
    write_triplets(trip, splits=SPLITS, per_anchor=2, kinds=KINDS, rejected=0)
    write_pairs(sim, n=3, splits=PAIR_SPLITS)
    triplets = pd.read_parquet(trip / "triplets.parquet")
    return [
        *triplet_samples(triplets, trip),
        *pair_samples(pd.read_parquet(sim / "pairs.parquet"), sim, component_classes(triplets)),
    ]


def export_all(exporter, samples: list[Sample]) -> tuple[list[str | None], dict[str, int]]:
    notes = [exporter.write(s) for s in samples]
    return notes, exporter.close()


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_webdataset_tar_contents(samples: list[Sample], tmp_path: Path) -> None:
    out = tmp_path / "wds"
    notes, counts = export_all(WebDatasetExporter(out, shard_size=2, mtime=1_700_000_000), samples)
    assert notes == [None] * len(samples)
    n_test = SPLITS.count("test")
    assert counts["triplets-test samples"] == n_test
    assert counts["triplets-test shards"] == expected_shards(n_test, 2) == 2
    assert counts["pairs-train shards"] == counts["pairs-val shards"] == counts["pairs-test shards"] == 1
    shards = sorted(p.name for p in out.glob("*.tar"))
    assert shards == [
        "pairs-test-000000.tar",
        "pairs-train-000000.tar",
        "pairs-val-000000.tar",
        "triplets-test-000000.tar",
        "triplets-test-000001.tar",
        "triplets-train-000000.tar",
        "triplets-val-000000.tar",
    ]
    with tarfile.open(out / "triplets-test-000000.tar") as tar:
        members = tar.getmembers()
    test_triplets = sorted(s.id for s in samples if s.source == "triplets" and s.split == "test")
    first = test_triplets[0]
    first_sample = next(s for s in samples if s.id == first)
    expected = ["anchor.png", "positive.png", "negative.png"]
    expected += ["negative_mask.png"] if first_sample.mask is not None else []
    assert [m.name for m in members[: len(expected) + 1]] == [f"{first}.{e}" for e in [*expected, "json"]]
    fields = {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in members}
    assert fields == {(1_700_000_000, 0, 0, "", "", 0o644)}
    # the library reads them back as whole samples, masks binary, metadata intact
    loaded = list(wds.WebDataset(str(out / "triplets-test-{000000..000001}.tar"), shardshuffle=False).decode("pil"))
    assert [s["__key__"] for s in loaded] == test_triplets
    for s in loaded:
        assert s["json"]["split"] == "test" and s["json"]["id"] == s["__key__"]
        assert s["anchor.png"].size == (32, 32)
        if "negative_mask.png" in s:
            assert set(np.unique(np.asarray(s["negative_mask.png"]))) <= {0, 255}
            assert s["json"]["anomaly"] != "other_class"
    # SSDS pairs are sharded per split like triplets; each sample's JSON says its split.
    split_of = {s.id: s.split for s in samples if s.source == "simulate"}
    for split in PAIR_SPLITS:
        pairs = list(wds.WebDataset(str(out / f"pairs-{split}-000000.tar"), shardshuffle=False).decode())
        assert len(pairs) == 1 and {"template.png", "defected.png", "mask.png", "json"} <= set(pairs[0])
        assert pairs[0]["json"]["split"] == split == split_of[pairs[0]["__key__"]]


def test_webdataset_shards_are_byte_identical_on_rerun(samples: list[Sample], tmp_path: Path) -> None:
    export_all(WebDatasetExporter(tmp_path / "a", shard_size=3, mtime=5), samples)
    export_all(WebDatasetExporter(tmp_path / "b", shard_size=3, mtime=5), samples)
    a, b = digests(tmp_path / "a"), digests(tmp_path / "b")
    assert a == b and any(k.endswith(".tar") for k in a)
    export_all(WebDatasetExporter(tmp_path / "c", shard_size=3, mtime=6), samples)
    assert digests(tmp_path / "c") != a  # the mtime really is in the bytes, so fixing it matters


def test_mvtec_tree_has_one_category_per_class(samples: list[Sample], tmp_path: Path) -> None:
    out = tmp_path / "mvtec"
    notes, counts = export_all(MvtecExporter(out), samples)
    triplets = [s for s in samples if s.source == "triplets"]
    cls_of = {s.id: s.meta["class_label"] for s in samples if s.meta.get("class_label")}
    # Every image sits in <class>/{train,test,ground_truth}/<kind>/, under its own sample's class.
    for png in out.rglob("*.png"):
        cat, part, kind = png.relative_to(out).parts[:3]
        assert part in ("train", "test", "ground_truth") and (part != "train" or kind == "good"), png
        sid = png.stem.removesuffix("_mask")
        assert cls_of.get(sid, cat) == cat, png  # anchors are named by anchor id, of the same class
    assert not list(out.glob("*/test/other_class")) and not list(out.glob("*/ground_truth/good"))
    for cat in {p.name for p in out.iterdir()}:
        train = [s for s in triplets if s.split == "train" and s.meta["class_label"] == cat]
        anchors = {s.meta["anchor_id"] for s in train}
        assert counts.get(f"{cat}/train/good", 0) == len(train) + len(anchors)
        test = [s for s in triplets if s.split == "test" and s.meta["class_label"] == cat]
        assert counts.get(f"{cat}/test/good", 0) == len(test)
    assert sum(v for k, v in counts.items() if k.endswith("/test/good")) == SPLITS.count("test")
    # every anomalous test image has its mask, named as anomalib's MVTec loader expects
    for img in out.glob("*/test/*/*.png"):
        kind = img.parent.name
        mask = img.parents[2] / "ground_truth" / kind / f"{img.stem}_mask.png"
        assert (kind == "good") != mask.is_file(), img
        if mask.is_file():
            with Image.open(mask) as m:
                assert m.mode == "L" and set(np.unique(np.asarray(m))) <= {0, 255}
    assert len(list(out.glob("*/test/simulated_shape/*.png"))) == PAIR_SPLITS.count("test")
    val_notes = [n for s, n in zip(samples, notes, strict=True) if s.split == "val"]
    assert len(val_notes) == SPLITS.count("val") + PAIR_SPLITS.count("val")
    assert all(n and "val split" in n for n in val_notes)


def test_mvtec_takes_only_test_split_ssds_pairs(samples: list[Sample], tmp_path: Path) -> None:
    out = tmp_path / "mvtec"
    notes, counts = export_all(MvtecExporter(out), samples)
    pairs = {s.id: (s, n) for s, n in zip(samples, notes, strict=True) if s.source == "simulate"}
    shown = {p.stem for p in out.glob("*/test/simulated_shape/*.png")}
    assert shown == {pid for pid, (s, _) in pairs.items() if s.split == "test"} and shown
    for pid in shown:  # under the class of the pair's template component
        s = pairs[pid][0]
        assert (out / s.meta["class_label"] / "ground_truth" / "simulated_shape" / f"{pid}_mask.png").is_file()
    train_pair, note = next((s, n) for s, n in pairs.values() if s.split == "train")
    assert note and "train-split SSDS pair" in note
    # Nothing of a train-split pair lands anywhere in the MVTec tree, train/good included.
    assert not [p for p in out.rglob("*.png") if p.stem.startswith(train_pair.id)]
    assert sum(v for k, v in counts.items() if k.endswith("/test/simulated_shape")) == len(shown)


def test_mvtec_leaves_out_a_pair_with_no_class(samples: list[Sample], tmp_path: Path) -> None:
    s = next(s for s in samples if s.source == "simulate" and s.split == "test")
    bare = Sample(s.id, s.source, s.split, s.images, s.mask, s.anomaly, {k: v for k, v in s.meta.items() if k != "class_label"})
    exp = MvtecExporter(tmp_path / "m")
    assert "no category" in (exp.write(bare) or "")
    assert exp.close() == {}


def test_pairs_csv_records_every_samples_split(samples: list[Sample], tmp_path: Path) -> None:
    out = tmp_path / "pairs"
    export_all(PairsExporter(out), samples)
    rows = list(csv.DictReader((out / "pairs.csv").open()))
    split_of = {s.id: s.split for s in samples}
    assert all(r["split"] == split_of[r["source_id"]] for r in rows)
    assert sorted(r["split"] for r in rows if r["source"] == "simulate") == sorted(PAIR_SPLITS)


def test_mvtec_defect_without_mask_is_left_out_with_a_reason(samples: list[Sample], tmp_path: Path) -> None:
    s = next(s for s in samples if s.source == "triplets" and s.split == "test" and s.is_defect)
    s = Sample(s.id, s.source, s.split, s.images, None, s.anomaly, s.meta)
    exp = MvtecExporter(tmp_path / "m")
    note = exp.write(s)
    assert note and "without a mask" in note
    cat = tmp_path / "m" / s.meta["class_label"]
    assert not (cat / "test" / s.anomaly).exists()
    assert (cat / "test" / "good" / f"{s.id}.png").is_file()


def test_pairs_labels(samples: list[Sample], tmp_path: Path) -> None:
    out = tmp_path / "pairs"
    _, counts = export_all(PairsExporter(out), samples)
    rows = list(csv.DictReader((out / "pairs.csv").open()))
    n_trip = sum(s.source == "triplets" for s in samples)
    assert counts == {"rows": 2 * n_trip + 3, "same": n_trip, "different": n_trip + 3, "files": counts["files"]}
    assert [r["pair_id"] for r in rows] == sorted(r["pair_id"] for r in rows)
    for r in rows:
        assert (out / r["left"]).is_file() and (out / r["right"]).is_file()
        if r["pair_id"].endswith("-pos"):
            assert r["label"] == "0" and r["kind"] == "positive" and r["right"].endswith("_positive.png")
        else:
            assert r["label"] == "1"
            assert r["right"].endswith("_negative.png") or r["right"].endswith("_defected.png")
        assert bool(r["right_mask"]) == (r["kind"] not in ("positive", "other_class"))
    # the anchor is the left image of both rows of its triplet, byte for byte the source file, stored once
    by_id = {s.id: s for s in samples}
    for r in rows:
        if r["source"] == "triplets":
            s = by_id[r["source_id"]]
            assert r["left"] == f"images/{s.meta['anchor_id']}_anchor.png"
            assert (out / r["left"]).read_bytes() == s.images["anchor"].read_bytes()
    anchors = {s.meta["anchor_id"] for s in samples if s.source == "triplets"}
    assert len(list((out / "images").glob("*_anchor.png"))) == len(anchors) < n_trip


def test_samples_name_every_source_image_they_show(samples: list[Sample]) -> None:
    triplets = [s for s in samples if s.source == "triplets"]
    for s in triplets:
        anchor, negative = s.sources
        assert anchor["source_url"] == s.meta["source_url"]
        # An other_class negative is another photo; a defect shows the anchor's own.
        assert (negative == anchor) == (s.anomaly != "other_class")
    pairs = [s for s in samples if s.source == "simulate"]
    assert pairs and all(len(s.sources) == 1 and s.sources[0]["source_url"].endswith(".png") for s in pairs)


def test_credit_rows_count_samples_per_source_and_keep_conflicts_apart() -> None:
    a = {"source_url": "http://x/a.jpg", "licence": "CC-BY-4.0", "attribution": "Photo: A, CC BY"}
    b = {"source_url": "http://x/b.jpg", "licence": "CC0-1.0"}
    b_other = {**b, "licence": "CC-BY-SA-4.0"}  # the same file seen under another licence

    def sample(sid: str, *sources: dict) -> Sample:
        return Sample(sid, "triplets", "train", {}, None, "missing", sources=sources)

    rows = credit_rows([sample("t2", b, a), sample("t1", a, a), sample("t3", b_other, b_other)])
    assert [(r["source_url"], r["licence"], r["samples"]) for r in rows] == [
        ("http://x/a.jpg", "CC-BY-4.0", 2),  # counted once for t1 although it shows a twice
        ("http://x/b.jpg", "CC-BY-SA-4.0", 1),
        ("http://x/b.jpg", "CC0-1.0", 1),
    ]
    text = format_credits(rows)
    assert text.splitlines()[0] == "source_url,image_url,licence,licence_url,author,attribution,samples"
    assert text.splitlines()[1] == 'http://x/a.jpg,,CC-BY-4.0,,,"Photo: A, CC BY",2'
    assert list(csv.DictReader(io.StringIO(text)))[2]["attribution"] == ""
    assert format_credits([]) == "source_url,image_url,licence,licence_url,author,attribution,samples\n"


def test_mask_png_binarises(tmp_path: Path) -> None:
    p = tmp_path / "m.png"
    Image.fromarray(np.array([[0, 1], [128, 255]], np.uint8), "L").save(p)
    with Image.open(io.BytesIO(mask_png(p))) as m:
        assert np.asarray(m).tolist() == [[0, 255], [255, 255]]


def test_shard_size_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="shard_size"):
        WebDatasetExporter(tmp_path, 0)


@pytest.mark.parametrize("bad_id", ["a.b", "x" * 81])
def test_webdataset_leaves_out_ids_it_cannot_store_as_keys(samples: list[Sample], bad_id: str, tmp_path: Path) -> None:
    s = samples[0]
    exp = WebDatasetExporter(tmp_path, shard_size=2)
    note = exp.write(Sample(bad_id, s.source, s.split, s.images, s.mask, s.anomaly, s.meta))
    assert note and note.startswith("webdataset:")
    assert exp.close() == {} and not list(tmp_path.glob("*.tar"))


@pytest.fixture()
def pose_only(tmp_path: Path) -> list[Sample]:
    """3 defect-free pose-only SSDS pairs (empty masks), one per split."""
    sim = tmp_path / "pose_only"
    write_pairs(sim, n=3, splits=PAIR_SPLITS, pose_only=True)
    classes = {stable_id("component", i): "resistor" for i in range(3)}
    return list(pair_samples(pd.read_parquet(sim / "pairs.parquet"), sim, classes))


def test_pose_only_pairs_are_exported_as_good_samples(pose_only: list[Sample], tmp_path: Path) -> None:
    for s in pose_only:
        assert s.mask is not None and not np.asarray(Image.open(s.mask)).any()  # the fixture really is pose-only
    by_split = {s.split: s for s in pose_only}
    # MVTec: the defected view is a good image, never an anomaly with an empty mask.
    mvtec = tmp_path / "mvtec"
    notes, counts = export_all(MvtecExporter(mvtec), pose_only)
    cat = mvtec / "resistor"
    assert not (cat / "test" / "simulated_shape").exists() and not (cat / "ground_truth").exists()
    assert (cat / "test" / "good" / f"{by_split['test'].id}.png").read_bytes() == by_split["test"].images[
        "defected"
    ].read_bytes()
    assert counts == {"resistor/test/good": 1}
    note_of = {s.split: n for s, n in zip(pose_only, notes, strict=True)}
    assert note_of["val"] and note_of["train"] and note_of["test"] is None
    # Contrastive pairs: same/conform (label 0), the empty mask kept as the segmentation target.
    pairs = tmp_path / "pairs"
    _, counts = export_all(PairsExporter(pairs), pose_only)
    rows = list(csv.DictReader((pairs / "pairs.csv").open()))
    assert [r["label"] for r in rows] == ["0"] * 3 and {r["kind"] for r in rows} == {"pose_only"}
    assert counts["same"] == 3 and counts["different"] == 0
    # WebDataset: the sample's JSON says it is good.
    wd = tmp_path / "wd"
    export_all(WebDatasetExporter(wd, shard_size=10), pose_only)
    docs = [
        json.loads(m.read())
        for tar in sorted(wd.glob("pairs-*.tar"))
        for m in (tarfile.open(tar).extractfile(i) for i in tarfile.open(tar).getmembers() if i.name.endswith(".json"))
    ]
    assert len(docs) == 3 and {d["anomaly"] for d in docs} == {"none"} and all(d["pose_only"] for d in docs)


def test_defected_pairs_stay_anomalies(samples: list[Sample]) -> None:
    pairs = [s for s in samples if s.source == "simulate"]
    assert pairs and all(s.anomaly == "simulated_shape" and not s.is_good for s in pairs)


def test_pair_labels_are_evaluations_labels() -> None:
    """One convention: evaluation scores anchor-positive as 0 and anchor-negative as 1, as pairs.csv labels them."""
    y, _ = Distances(np.array([0.1]), np.array([0.9]), np.array(["missing"])).pairs()
    assert y.tolist() == [PairLabel.SAME, PairLabel.DIFFERENT] == [0, 1]


def test_webdataset_json_carries_the_lineage_of_every_image(samples: list[Sample], tmp_path: Path) -> None:
    export_all(WebDatasetExporter(tmp_path, shard_size=50), samples)
    by_id = {s.id: s for s in samples}
    docs = [s["json"] for tar in sorted(tmp_path.glob("*.tar")) for s in wds.WebDataset(str(tar), shardshuffle=False).decode()]
    assert len(docs) == len(samples)
    for d in docs:
        s = by_id[d["id"]]
        assert set(d["lineage"]) == set(s.images)  # every image of the sample, the negative included
        if s.source == "triplets":
            neg = d["lineage"]["negative"]
            assert neg == dict(s.sources[-1]) and neg["licence"] and neg["author"]
            assert d["lineage"]["anchor"] == d["lineage"]["positive"] == dict(s.sources[0])
            if s.anomaly == "other_class":  # another photo: its own licence and author
                assert neg["source_url"] != d["lineage"]["anchor"]["source_url"]
        else:
            assert d["lineage"]["template"] == d["lineage"]["defected"] == dict(s.sources[0])


def test_mvtec_export_reads_as_anomalib_categories(tmp_path: Path) -> None:
    """Round trip: every class is an anomalib category with good training images and masked test anomalies."""
    trip = tmp_path / "triplets"
    # Classes cycle per triplet and splits alternate, so every class has train and test triplets.
    write_triplets(trip, splits=("train", "test") * 5, kinds=("gray_patch", "other_class", "missing", "rotation"), rejected=0)
    samples = list(triplet_samples(pd.read_parquet(trip / "triplets.parquet"), trip))
    out = tmp_path / "mvtec"
    notes, _ = export_all(MvtecExporter(out), samples)
    classes = sorted({s.meta["class_label"] for s in samples})
    assert sorted(p.name for p in out.iterdir()) == classes
    for cls in classes:
        rows = read_category(out, cls)
        mine = [s for s in samples if s.meta["class_label"] == cls]
        train = [r for r in rows if r.split == "train"]
        assert train and all(r.label == "good" for r in train)
        bad = [r for r in rows if r.label_index]
        expected = [s for s in mine if s.split == "test" and s.is_defect]
        assert sorted(r.image_path.stem for r in bad) == sorted(s.id for s in expected)
        for r in bad:  # the mask anomalib pairs with the image is that sample's own, same size
            assert r.mask_path is not None and r.mask_path.stem == f"{r.image_path.stem}_mask"
            assert r.label == next(s.anomaly for s in expected if s.id == r.image_path.stem)
            with Image.open(r.image_path) as im, Image.open(r.mask_path) as m:
                assert im.size == m.size
        # Pixels round-trip: a test image is the sample's own negative, byte for byte once decoded.
        for r in bad:
            s = next(s for s in expected if s.id == r.image_path.stem)
            assert np.array_equal(np.asarray(Image.open(r.image_path)), np.asarray(Image.open(s.images["negative"]).convert("RGB")))


def test_the_anomalib_reader_rejects_what_anomalib_rejects(tmp_path: Path) -> None:
    (tmp_path / "c" / "test" / "missing").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(tmp_path / "c" / "test" / "missing" / "a.png")
    with pytest.raises(LayoutError, match="Mismatch"):
        read_category(tmp_path, "c")
