"""Stage ``simulate`` on fake crop + split outputs in the real format: files, manifest, splits, determinism, errors."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pcbforge.config import Params
from pcbforge.datasets.pairs import Template, load_scene, replay
from pcbforge.errors import InputError
from pcbforge.io import stable_id
from pcbforge.pipelines import simulate
from tests.helpers.params import tiny_params, write_params
from tests.helpers.split_fixture import split_of, write_split
from tests.helpers.components_fixture import board_lineage, write_components

LINEAGE = ["source_url", "image_url", "licence", "licence_url", "author", "attribution"]
CONTRACT = [
    "id", "split", "template_path", "defected_path", "mask_path", "mode", "scene", "shapes", "defects", "pose",
    "parent_id", *LINEAGE, "status", "error",
]  # fmt: skip
#: The component-crop tests run board mode under today's small misalignment.
BOARD = {"mode": "board", "preset": "small"}


@pytest.fixture()
def params(tmp_path: Path) -> Params:
    """Tiny params in ``board`` mode (the crop + split inputs these tests fake)."""
    return tiny_params(tmp_path, {"simulate": BOARD})


def prepare(p: Params, n: int, bad: int = 0, **split: object) -> Path:
    """Fake crop output with ``n`` ok components (+ ``bad``) and its split.parquet; return the split manifest."""
    write_components(p.path(p.crop.out), n=n, per_board=2, size=p.base.image_size, bad=bad)
    return write_split(p.path(p.split.out), p.path(p.crop.out) / "components.parquet", **split)  # type: ignore[arg-type]


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def load(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im).copy()


def test_simulate_writes_pairs_in_the_contract_format(params: Params) -> None:
    size = params.base.image_size
    prepare(params, n=3, bad=1)
    summary = simulate.run(params)
    out = params.path(params.simulate.out)
    assert "8/8 pairs from 3 components" in summary and str(out) in summary
    df = pd.read_parquet(out / "pairs.parquet")
    assert list(df.columns) == CONTRACT
    assert len(df) == params.simulate.pairs == 8
    assert (df["status"] == "ok").all() and df["id"].is_monotonic_increasing and df["id"].is_unique
    # pairs spread evenly over the ok components only (the rejected one is never a template)
    comps = pd.read_parquet(params.path(params.crop.out) / "components.parquet")
    ok_ids = set(comps.loc[comps["status"] == "ok", "id"])
    spread = Counter(df["parent_id"])
    assert set(spread) == ok_ids and sorted(spread.values()) == [2, 3, 3]
    for row in df.itertuples():
        t, d, m = (load(out / getattr(row, f"{k}_path")) for k in ("template", "defected", "mask"))
        assert t.shape == d.shape == (size, size, 3) and m.shape == (size, size)
        crop = load(params.path(params.crop.out) / "crops" / f"{row.parent_id}.png")
        np.testing.assert_array_equal(t, crop)
        pose = json.loads(row.pose)
        assert set(pose) == {"dx", "dy", "angle", "scale"} and row.mode == "board"
        ranges = params.simulate.pose_ranges()
        bound = ranges.shift_px + ranges.assembly_px
        assert abs(pose["dx"]) <= bound and abs(pose["dy"]) <= bound
        assert abs(pose["angle"]) <= 2 and pose["scale"] == 1.0
        assert len(json.loads(row.defects)) <= params.simulate.max_defects
        # The row regenerates the pair exactly, from the crop and its context patch.
        comp = comps.set_index("id").loc[row.parent_id]
        scene = load_scene(
            Template(
                parent_id=row.parent_id,
                crop=params.path(params.crop.out) / comp["crop_path"],
                context=params.path(params.crop.out) / comp["context_path"],
                context_box=tuple(comp["context_box"]),
                view_margin=params.crop.margin,
            ),
            size,
        )
        for got, want in zip(replay(row._asdict(), scene), (t, d, m), strict=True):
            np.testing.assert_array_equal(got, want)


def test_pairs_carry_their_template_lineage(params: Params) -> None:
    prepare(params, n=3)
    simulate.run(params)
    df = pd.read_parquet(params.path(params.simulate.out) / "pairs.parquet")
    comps = pd.read_parquet(params.path(params.crop.out) / "components.parquet").set_index("id")
    for row in df.itertuples():
        board = int(comps.loc[row.parent_id, "parent_id"].split("-")[1])
        got = {k: None if pd.isna(getattr(row, k)) else getattr(row, k) for k in LINEAGE}
        assert got == board_lineage(board), row.parent_id
    # Components 0 and 1 sit on board 0 (credited), component 2 on board 1 (no attribution: null).
    assert df["attribution"].notna().any() and df["attribution"].isna().any()
    assert (df["licence_url"].isna() == df["attribution"].isna()).all() and df["image_url"].isna().all()


@pytest.mark.slow
def test_simulate_is_byte_identical_on_rerun_and_across_worker_counts(tmp_path: Path) -> None:
    outs = []
    for name, workers in (("a", 1), ("b", 1), ("c", 2)):
        p = tiny_params(tmp_path / name, {"base": {"workers": workers}, "simulate": {**BOARD, "pairs": 40}})
        prepare(p, n=6, absent=[stable_id("component", 5)])
        simulate.run(p)
        outs.append(digests(p.path(p.simulate.out)))
    assert outs[0] == outs[1] == outs[2]
    assert len(outs[0]) == 3 * 40 + 2  # + contact sheet; the unsplit component has a manifest row, no files


def test_simulate_seed_changes_output(tmp_path: Path) -> None:
    outs = []
    for seed in (1, 2):
        p = tiny_params(tmp_path / str(seed), {"base": {"seed": seed}, "simulate": BOARD})
        prepare(p, n=2)
        simulate.run(p)
        outs.append(digests(p.path(p.simulate.out) / "mask"))
    assert outs[0] != outs[1]


def test_unreadable_crop_is_an_error_row_not_a_crash(params: Params) -> None:
    crop_out = params.path(params.crop.out)
    prepare(params, n=2)
    victim = sorted((crop_out / "crops").glob("*.png"))[0]
    victim.write_bytes(b"not a png")
    simulate.run(params)
    df = pd.read_parquet(params.path(params.simulate.out) / "pairs.parquet")
    bad = df[df["status"] == "error"]
    assert len(bad) == 4 and len(df) == 8
    assert bad["parent_id"].eq(victim.stem).all() and bad["error"].str.contains("cannot read crop").all()
    assert bad["template_path"].isna().all()
    # The reason names the crop as the project sees it: no checkout path in a tracked output.
    shown = str(victim.relative_to(params.root))
    assert bad["error"].str.startswith(f"cannot read crop {shown}: ").all(), bad["error"].iloc[0]
    assert not bad["error"].str.contains(str(params.root), regex=False).any(), bad["error"].iloc[0]
    assert (bad["split"] == split_of(params.path(params.split.out) / "split.parquet")[victim.stem]).all()


def test_no_ok_components_is_an_input_error(params: Params) -> None:
    write_components(params.path(params.crop.out), n=0, bad=2)
    with pytest.raises(InputError, match="no ok components"):
        simulate.run(params)
    assert not params.path(params.simulate.out).exists()


def test_missing_manifest_names_the_stage_to_run(tmp_path: Path) -> None:
    write_params(tmp_path, {"simulate": BOARD})
    res = subprocess.run(
        [sys.executable, "-m", "pcbforge", "simulate"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 2
    assert "components.parquet" in res.stderr and "pcbforge crop" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_rerun_replaces_previous_output(params: Params) -> None:
    prepare(params, n=2)
    out = params.path(params.simulate.out)
    out.mkdir(parents=True)
    (out / "stale.png").write_bytes(b"old")
    simulate.run(params)
    assert not (out / "stale.png").exists()
    assert not (out.parent / f".{out.name}.partial").exists()


def test_every_pair_takes_its_template_components_split(params: Params) -> None:
    split_manifest = prepare(params, n=4, splits=("train", "val", "test"))
    summary = simulate.run(params)
    df = pd.read_parquet(params.path(params.simulate.out) / "pairs.parquet")
    ok = df[df["status"] == "ok"]
    assert len(ok) == len(df) == params.simulate.pairs
    truth = split_of(split_manifest)
    assert set(truth) == set(ok["parent_id"])
    for row in ok.itertuples():
        assert row.split == truth[row.parent_id], row.id
    assert set(ok["split"]) == {"train", "val", "test"}
    counts = Counter(ok["split"])
    assert f"train {counts['train']}, val {counts['val']}, test {counts['test']}" in summary


def test_component_without_an_ok_split_is_a_rejected_row_and_makes_no_pair(params: Params) -> None:
    ids = sorted(stable_id("component", i) for i in range(4))
    absent, held = ids[0], ids[2]
    split_manifest = prepare(params, n=4, splits=("train", "test"), absent=[absent], not_ok=[held])
    summary = simulate.run(params)
    df = pd.read_parquet(params.path(params.simulate.out) / "pairs.parquet")
    ok, rejected = df[df["status"] == "ok"], df[df["status"] == "rejected"]
    # The stage still makes simulate.pairs pairs, all from components that have a split.
    assert len(ok) == params.simulate.pairs and len(df) == len(ok) + 2
    assert set(ok["parent_id"]) == {ids[1], ids[3]} == set(split_of(split_manifest))
    assert set(ok["split"]) == {"train", "test"} and ok["split"].notna().all()
    by_parent = rejected.set_index("parent_id")
    assert set(by_parent.index) == {absent, held}
    assert "not in" in by_parent.loc[absent, "error"] and "split.parquet" in by_parent.loc[absent, "error"]
    assert "pcbforge split" in by_parent.loc[absent, "error"]
    assert "rejected" in by_parent.loc[held, "error"] and "held back" in by_parent.loc[held, "error"]
    assert rejected["split"].isna().all() and rejected["template_path"].isna().all()
    # A rejected row keeps the component's lineage, so a reviewer can trace it.
    assert rejected["source_url"].notna().all()
    assert "2 component(s) with no split rejected" in summary
    made = {p.stem for p in (params.path(params.simulate.out) / "template").glob("*.png")}
    assert made == set(ok["id"])


def test_no_component_with_a_split_is_an_input_error(params: Params) -> None:
    prepare(params, n=2, absent=[stable_id("component", i) for i in range(2)])
    with pytest.raises(InputError, match=r"no ok component .* has an ok split .*pcbforge split"):
        simulate.run(params)
    assert not params.path(params.simulate.out).exists()


def test_missing_split_manifest_names_the_stage_to_run(params: Params) -> None:
    write_components(params.path(params.crop.out), n=2, per_board=2, size=params.base.image_size)
    with pytest.raises(InputError, match=r"split\.parquet.*pcbforge split"):
        simulate.run(params)


def test_shapes_mode_needs_no_inputs_and_writes_the_paper_pairs(tmp_path: Path) -> None:
    p = tiny_params(tmp_path, {"simulate": {"mode": "shapes", "preset": "paper", "pairs": 12, "image_size": 96}})
    summary = simulate.run(p)
    out = p.path(p.simulate.out)
    df = pd.read_parquet(out / "pairs.parquet")
    assert list(df.columns) == CONTRACT and len(df) == 12 and (df["status"] == "ok").all()
    assert "12/12 pairs from random shape scenes" in summary
    assert df["parent_id"].isna().all() and set(df["split"]) <= {"train", "val", "test"}
    for row in df.itertuples():
        t, d, m = (load(out / getattr(row, f"{k}_path")) for k in ("template", "defected", "mask"))
        assert t.shape == d.shape == (96, 96, 3) and m.shape == (96, 96)
        pose = json.loads(row.pose)
        assert 0.8 <= pose["scale"] <= 1.2 and 0 <= pose["angle"] < 180 and abs(pose["dx"]) <= 50
        if json.loads(row.defects) == []:  # pose-only: nothing to find
            assert not m.any()
        for got, want in zip(replay(row._asdict()), (t, d, m), strict=True):
            np.testing.assert_array_equal(got, want)
    with Image.open(out / "contact_sheet.png") as sheet:
        assert sheet.size == (3 * 128, p.simulate.contact_sheet * 128)


def test_shapes_mode_is_byte_identical_for_the_same_seed(tmp_path: Path) -> None:
    outs = []
    for name, workers in (("a", 1), ("b", 2)):
        shapes = {"mode": "shapes", "pairs": 34, "image_size": 64}
        p = tiny_params(tmp_path / name, {"base": {"workers": workers}, "simulate": shapes})
        simulate.run(p)
        outs.append(digests(p.path(p.simulate.out)))
    assert outs[0] == outs[1] and len(outs[0]) == 3 * 34 + 2
