"""The triplets stage on fixture components in the real crop/split format."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pcbforge.config import Params
from pcbforge.datasets.manifest import LINEAGE_COLUMNS
from pcbforge.errors import InputError
from pcbforge.pipelines import triplets as stage
from tests.helpers.components_fixture import CC_BY_URL, write_components
from tests.helpers.params import tiny_params


def _fixture(params: Params, **kw) -> pd.DataFrame:
    return write_components(params.path(params.crop.out), params.path(params.split.out), **kw)


def _lineage(row: pd.Series | dict, prefix: str = "") -> dict[str, str | None]:
    return {k: None if pd.isna(row[f"{prefix}{k}"]) else row[f"{prefix}{k}"] for k in LINEAGE_COLUMNS}


def _digest(root: Path) -> dict[str, str]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.mark.slow
def test_hybrid_triplets_counts_files_and_splits(tmp_path: Path) -> None:
    params = tiny_params(tmp_path, {"triplets": {"per_component": 3, "strategy": "hybrid", "defect_fraction": 0.6}})
    rejected = {
        "id": "bad0",
        "class_label": "resistor",
        "crop_path": "crops/bad0.png",
        "status": "rejected",
        "error": "blank",
    }
    comps = _fixture(params, per_class=2, extra_rows=[rejected])
    summary = stage.run(params)
    out = params.path(params.triplets.out)
    df = pd.read_parquet(out / "triplets.parquet")
    assert "triplets" in summary and str(out) in summary
    ok_comps = comps[comps.status == "ok"]
    # One row per ok component and k; the rejected component yields nothing.
    assert len(df) == len(ok_comps) * 3
    assert "bad0" not in set(df.anchor_id)
    assert (df.status == "ok").all(), df.error.dropna().tolist()
    assert df.id.is_unique and list(df.id) == sorted(df.id)
    split_df = pd.read_parquet(params.path(params.split.out) / "split.parquet")
    split_of = dict(zip(split_df.id, split_df.split))
    for r in df.itertuples():
        assert r.split == split_of[r.anchor_id]
        assert r.negative_id in split_of and split_of[r.negative_id] == r.split  # never crosses splits
        for rel in (r.anchor_path, r.positive_path, r.negative_path):
            assert (out / rel).is_file()
        if r.negative_kind == "other_class":
            assert r.negative_class != r.class_label and pd.isna(r.negative_mask_path)
        else:
            mask = np.asarray(Image.open(out / r.negative_mask_path))
            assert mask.any() and set(np.unique(mask)) <= {0, 255}
            assert json.loads(r.defect_params)["kind"] == r.negative_kind
        assert r.source_url.startswith("http://127.0.0.1/")
    by_id = comps.set_index("id")
    for _, r in df.iterrows():
        assert _lineage(r) == _lineage(by_id.loc[r.anchor_id])
        assert _lineage(r, "negative_") == _lineage(by_id.loc[r.negative_id])
    kinds = set(df.negative_kind)
    assert "other_class" in kinds and len(kinds - {"other_class"}) >= 2
    # Anchor copy is the crop byte for byte.
    first = df.iloc[0]
    src = comps.set_index("id").loc[first.anchor_id, "crop_path"]
    assert (out / first.anchor_path).read_bytes() == (params.path(params.crop.out) / src).read_bytes()


def test_rerun_is_byte_identical(tmp_path: Path) -> None:
    params = tiny_params(tmp_path, {"triplets": {"per_component": 2, "strategy": "hybrid", "defect_fraction": 0.6}})
    _fixture(params, per_class=1)
    stage.run(params)
    out = params.path(params.triplets.out)
    before = _digest(out)
    stage.run(params)
    assert _digest(out) == before


def test_eval_per_component_adds_held_out_triplets_only(tmp_path: Path) -> None:
    """val/test components get eval_per_component triplets; train ones and the first k stay as they were."""
    classes = {"resistor": "train", "diode": "train", "relay": "val", "capacitor": "val"}
    plain = tiny_params(tmp_path / "plain", {"triplets": {"strategy": "other_class", "per_component": 1}})
    more = tiny_params(tmp_path / "more", {"triplets": {"strategy": "other_class", "per_component": 1,
                                                        "eval_per_component": 3}})
    frames = {}
    for name, p in (("plain", plain), ("more", more)):
        _fixture(p, per_class=1, classes=classes)
        stage.run(p)
        frames[name] = pd.read_parquet(p.path(p.triplets.out) / "triplets.parquet").set_index("id")
    a, b = frames["plain"], frames["more"]
    assert b.groupby("anchor_id").size().to_dict() == {i: (1 if s == "train" else 3) for i, s in
                                                       a.set_index("anchor_id")["split"].items()}
    assert set(a.index) < set(b.index)
    assert (b.loc[a.index, "split"] == a["split"]).all() and (b.loc[b.split == "train"].index.isin(a.index)).all()
    for tid, row in a.iterrows():  # the triplets both runs made are the same pixels
        for col in ("positive_path", "negative_path"):
            assert (plain.path(plain.triplets.out) / row[col]).read_bytes() == \
                (more.path(more.triplets.out) / b.loc[tid, col]).read_bytes()


@pytest.mark.slow
def test_worker_count_does_not_change_bytes(tmp_path: Path) -> None:
    a = tiny_params(tmp_path / "a", {"triplets": {"strategy": "defect"}, "base": {"workers": 1}})
    b = tiny_params(tmp_path / "b", {"triplets": {"strategy": "defect"}, "base": {"workers": 2}})
    for p in (a, b):
        _fixture(p, per_class=1, classes={"resistor": "train", "diode": "train", "capacitor": "test"})
        stage.run(p)
    assert _digest(a.path(a.triplets.out)) == _digest(b.path(b.triplets.out))


def test_other_class_rejects_single_class_split(tmp_path: Path) -> None:
    params = tiny_params(tmp_path, {"triplets": {"strategy": "other_class"}})
    _fixture(params, per_class=2, classes={"resistor": "train", "diode": "train", "relay": "val"})
    stage.run(params)
    df = pd.read_parquet(params.path(params.triplets.out) / "triplets.parquet")
    val = df[df.split == "val"]
    assert len(val) == 2 and (val.status == "rejected").all() and val.error.str.contains("no other class").all()
    assert val.positive_path.isna().all() and val.negative_path.isna().all()
    train = df[df.split == "train"]
    assert (train.status == "ok").all() and (train.negative_kind == "other_class").all()


def test_lineage_of_anchor_and_negative(tmp_path: Path) -> None:
    params = tiny_params(tmp_path, {"triplets": {"strategy": "other_class"}})
    comps = _fixture(params, per_class=2, classes={"resistor": "train", "diode": "train", "relay": "val"})
    stage.run(params)
    df = pd.read_parquet(params.path(params.triplets.out) / "triplets.parquet")
    by_id = comps.set_index("id")
    ok = df[df.status == "ok"]
    assert len(ok) == 4 and (ok.negative_id != ok.anchor_id).all()
    for _, r in ok.iterrows():
        anchor, negative = by_id.loc[r.anchor_id], by_id.loc[r.negative_id]
        assert _lineage(r) == _lineage(anchor) and _lineage(r, "negative_") == _lineage(negative)
        assert r.author == "fixture" and r.negative_source_url == negative.source_url != r.source_url
    # Set on a component, it shows up on its triplets; null stays null (never "" or "None").
    credited = ok[ok.attribution.notna()]
    assert len(credited) == 2 and credited.attribution.str.endswith(" by Fixture Lab").all()
    assert (credited.licence_url == CC_BY_URL).all() and (credited.licence == "CC-BY-4.0").all()
    plain = ok[ok.attribution.isna()]
    assert len(plain) == 2 and plain.licence_url.isna().all() and (plain.licence == "CC0-1.0").all()
    assert ok.image_url.isna().all() and ok.negative_image_url.isna().all()
    # A rejected triplet has no negative, so no negative lineage; the anchor's is still there.
    rejected = df[df.status == "rejected"]
    assert len(rejected) == 2 and rejected.source_url.notna().all()
    for col in ("negative_source_url", "negative_licence", "negative_author", "negative_attribution"):
        assert rejected[col].isna().all(), col


def test_missing_split_manifest_is_a_user_error(params: Params) -> None:
    write_components(params.path(params.crop.out), params.path(params.split.out), per_class=1)
    (params.path(params.split.out) / "split.parquet").unlink()
    with pytest.raises(InputError, match="split"):
        stage.run(params)


def test_unreadable_crop_is_an_error_row_not_a_crash(tmp_path: Path) -> None:
    params = tiny_params(tmp_path, {"triplets": {"strategy": "defect", "per_component": 2}})
    # One class per split: the broken crop is never another anchor's donor, so only its own rows fail.
    comps = _fixture(params, per_class=1, classes={"resistor": "train", "diode": "test"})
    broken = comps.iloc[0]
    (params.path(params.crop.out) / broken.crop_path).write_bytes(b"not a png")
    summary = stage.run(params)
    df = pd.read_parquet(params.path(params.triplets.out) / "triplets.parquet")
    bad = df[df.anchor_id == broken.id]
    assert len(bad) == 2 and (bad.status == "error").all() and bad.error.str.contains("unreadable").all()
    assert (df[df.anchor_id != broken.id].status == "ok").all()
    assert "2 error" in summary
    # The reason names the crop as the project sees it: no checkout path in a tracked output.
    shown = str((params.path(params.crop.out) / broken.crop_path).relative_to(params.root))
    assert bad.error.str.startswith(f"anchor unreadable: {shown}: ").all(), bad.error.iloc[0]
    for root in (str(tmp_path), str(params.root)):
        assert not bad.error.str.contains(root, regex=False).any(), bad.error.iloc[0]


def test_components_without_a_valid_split_are_skipped(tmp_path: Path) -> None:
    params = tiny_params(tmp_path, {"triplets": {"strategy": "defect", "per_component": 1}})
    comps = _fixture(params, per_class=2, classes={"resistor": "train", "diode": "train"})
    split_path = params.path(params.split.out) / "split.parquet"
    split = pd.read_parquet(split_path).sort_values("id").reset_index(drop=True)
    absent, bogus = split.id.iloc[0], split.id.iloc[1]
    split.loc[split.id == bogus, "split"] = "holdout"  # not a Split value: never a split of its own
    split[split.id != absent].to_parquet(split_path, index=False)
    stage.run(params)
    df = pd.read_parquet(params.path(params.triplets.out) / "triplets.parquet")
    assert set(df.anchor_id) == set(comps.id) - {absent, bogus}
    assert (df.status == "ok").all() and set(df.split) == {"train"}
