"""A class added only in params flows through crop, split and triplets with its own facts.

``led`` (SMD, polarised, 2 pads, aliases) is not one of the built-in classes: its boards
name it ``LED 0805``, the taxonomy maps that through an alias, and its defects and positives
follow its facts. Next to it, a through-hole ``resistor`` (non-polarised, symmetric under a
half turn) on the same boards shows the other side of each rule, so every check could fail.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pcbforge.augment.functional import replay
from pcbforge.config import Params
from pcbforge.datasets.triplets import load_scene
from pcbforge.pipelines import crop, split, triplets
from tests.helpers.params import tiny_params
from tests.helpers.yolo_boards import Part, write_yolo_dir

LED = {"mount": "smd", "polarised": True, "symmetry": 180, "pads": 2, "aliases": ["led_0805", "light_emitting_diode"]}
NAMES = ["resistor", "LED 0805"]  # as a foreign data.yaml spells them


def _boards(root: Path) -> Path:
    led, res = "LED 0805", "resistor"
    boards = {
        f"board-{i}": [
            Part(led, (20 + 8 * i, 20, 56 + 8 * i, 38), (235, 235, 205)),  # type: ignore[arg-type]
            Part(led, (110, 30 + 6 * i, 146, 48 + 6 * i), (240, 225, 190)),  # type: ignore[arg-type]
            Part(res, (40, 90, 96, 112), (215, 175, 120)),  # type: ignore[arg-type]
        ]
        for i in range(3)
    }
    return write_yolo_dir(root, boards, names=NAMES, size=(200, 150))  # type: ignore[arg-type]


def _dark(px: np.ndarray) -> np.ndarray:
    """Drill-hole pixels: near black (board green is >= 110 in one channel, tin ~170-210)."""
    return px.max(axis=-1) < 70


@pytest.fixture
def project(tmp_path: Path) -> Params:
    boards = _boards(tmp_path / "boards")
    return tiny_params(
        tmp_path,
        {
            "classes": {"taxonomy": {"led": LED}},
            "crop": {"boards": str(boards), "include_web": False},
            "triplets": {"per_component": 4, "strategy": "defect", "defects": ["missing"]},
        },
    )


def test_led_added_in_params_flows_through_crop_split_and_triplets(project: Params) -> None:
    params = project
    assert params.taxonomy()["led"].mount.value == "smd"
    crop.run(params)
    comps = pd.read_parquet(params.path(params.crop.out) / "components.parquet")
    ok = comps[comps["status"] == "ok"]
    assert sorted(ok["class_label"].value_counts().items()) == [("led", 6), ("resistor", 3)]
    for rel in ok["crop_path"]:
        assert (params.path(params.crop.out) / rel).is_file()

    split.run(params)
    sp = pd.read_parquet(params.path(params.split.out) / "split.parquet")
    assert set(sp.loc[sp["class_label"] == "led", "id"]) == set(ok.loc[ok["class_label"] == "led", "id"])

    triplets.run(params)
    out = params.path(params.triplets.out)
    df = pd.read_parquet(out / "triplets.parquet")
    assert (df["status"] == "ok").all(), df["error"].dropna().tolist()
    assert (df["negative_kind"] == "missing").all()
    by_class = {c: g for c, g in df.groupby("class_label")}
    assert len(by_class["led"]) == 24 and len(by_class["resistor"]) == 12

    # Missing LEDs leave two rectangular tinned lands and no drill hole.
    for r in by_class["led"].itertuples():
        p = json.loads(r.defect_params)
        assert p["pads"] is True and len(p["pad_centres"]) == 2, p
        neg = np.asarray(Image.open(out / r.negative_path).convert("RGB"))
        mask = np.asarray(Image.open(out / r.negative_mask_path)) > 0
        assert not _dark(neg[mask]).any(), r.id
        for x, y in p["pad_centres"]:
            assert neg[int(round(y)), int(round(x))].min() > 140, (r.id, x, y)  # tin, not board
    # A row replays from its recorded params on a scene with the project's facts.
    comps_by_id = {c.id: c for c in triplets.load_components(params)}
    for r in by_class["led"].head(4).itertuples():
        scene = load_scene(comps_by_id[r.anchor_id], params.taxonomy().facts("led"))
        neg = np.asarray(Image.open(out / r.negative_path).convert("RGB"))
        assert np.array_equal(replay(scene, r.defect_params)[0], neg), r.id
    # The same defect on the through-hole resistor drills its pads: the check above can fail.
    holes = [
        _dark(np.asarray(Image.open(out / r.negative_path).convert("RGB"))[np.asarray(Image.open(out / r.negative_mask_path)) > 0]).any()
        for r in by_class["resistor"].itertuples()
    ]
    assert all(holes)

    # No positive of the polarised LED is a 180-degree turn; the resistor's may be.
    led_pos = [json.loads(s) for s in by_class["led"]["positive_params"]]
    res_pos = [json.loads(s) for s in by_class["resistor"]["positive_params"]]
    # Artifact-matched positives (triplets.matched_positive_fraction) are not turned at all: no rot180 key.
    assert not any(p.get("rot180", False) for p in led_pos)
    assert any(p.get("rot180", False) for p in res_pos) and not all(p.get("rot180", False) for p in res_pos)
