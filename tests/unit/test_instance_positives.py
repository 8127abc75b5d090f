"""Triplet positives from another instance of the anchor's class (``triplets.instance_positive_fraction``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from pcbforge.config import TripletsParams
from pcbforge.datasets.triplets import Component, build_anchor, pools_by_split

#: Flat crops whose grey level says which component a positive was made from.
LEVELS = {"r0": 20, "r1": 120, "r2": 230, "c0": 70, "t0": 160}
CLASS = {"r0": "resistor", "r1": "resistor", "r2": "resistor", "c0": "capacitor", "t0": "resistor"}
SPLIT = {"r0": "train", "r1": "train", "r2": "train", "c0": "train", "t0": "test"}


def _components(tmp: Path) -> list[Component]:
    out = []
    for cid, level in LEVELS.items():
        path = tmp / "crops" / f"{cid}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((32, 32, 3), level, np.uint8)).save(path)
        out.append(Component(id=cid, class_label=CLASS[cid], split=SPLIT[cid], crop_path=path))
    return out


def _rows(tmp: Path, anchor_id: str, fraction: float, n: int = 16) -> pd.DataFrame:
    comps = _components(tmp)
    pools = pools_by_split(comps)
    anchor = next(c for c in comps if c.id == anchor_id)
    # no artifact-matched positives: they replace a positive with the anchor's own pixels
    settings = TripletsParams(per_component=n, strategy="other_class", instance_positive_fraction=fraction,
                              matched_positive_fraction=0.0)
    rows, _ = build_anchor(anchor, pools[anchor.split], settings, tmp / "out", seed=7, root=tmp)
    return pd.DataFrame(rows)


def _mean(tmp: Path, rel: str) -> float:
    return float(np.asarray(Image.open(tmp / "out" / rel)).mean())


def test_every_positive_is_another_instance_of_the_class_in_the_split(tmp_path: Path) -> None:
    df = _rows(tmp_path, "r0", 1.0)
    assert (df["status"] == "ok").all(), df["error"].tolist()
    for r in df.itertuples():
        p = json.loads(r.positive_params)
        other = p["instance_id"]
        # same class, same split, never the anchor itself (t0 is a resistor of another split)
        assert other in {"r1", "r2"}, other
        # its pixels are the instance's (grey level nearer to it than to the anchor's 20)
        got = _mean(tmp_path, r.positive_path)
        assert abs(got - LEVELS[other]) < abs(got - LEVELS["r0"]), (got, other)
    assert {json.loads(p)["instance_id"] for p in df["positive_params"]} == {"r1", "r2"}


def test_fraction_zero_keeps_positives_of_the_anchor_and_half_mixes(tmp_path: Path) -> None:
    none = _rows(tmp_path / "a", "r0", 0.0)
    assert not any("instance_id" in json.loads(p) for p in none["positive_params"])
    assert all(abs(_mean(tmp_path / "a", rel) - LEVELS["r0"]) < 40 for rel in none["positive_path"])
    half = _rows(tmp_path / "b", "r0", 0.5, n=24)
    kinds = ["instance_id" in json.loads(p) for p in half["positive_params"]]
    assert any(kinds) and not all(kinds)


def test_an_anchor_alone_in_its_class_keeps_its_own_positive(tmp_path: Path) -> None:
    df = _rows(tmp_path, "c0", 1.0, n=4)
    assert (df["status"] == "ok").all()
    assert not any("instance_id" in json.loads(p) for p in df["positive_params"])


def test_instance_negatives_put_the_defect_on_the_positives_part(tmp_path: Path) -> None:
    comps = _components(tmp_path)
    pools = pools_by_split(comps)
    anchor = next(c for c in comps if c.id == "r0")
    got = {}
    for on in (False, True):
        settings = TripletsParams(per_component=8, strategy="defect", defects=["gray_patch"],
                                  instance_positive_fraction=1.0, matched_positive_fraction=0.0,
                                  instance_negatives=on)
        rows, _ = build_anchor(anchor, pools["train"], settings, tmp_path / f"out{on}", seed=7, root=tmp_path)
        df = pd.DataFrame(rows)
        assert (df["status"] == "ok").all(), df["error"].tolist()
        got[on] = df
    inst = [json.loads(p)["instance_id"] for p in got[True]["positive_params"]]
    assert got[True]["negative_id"].tolist() == inst  # the part the positive shows
    assert set(got[False]["negative_id"]) == {"r0"}  # the anchor, as before
    for r, other in zip(got[True].itertuples(), inst):
        # a gray patch covers part of the crop: the rest keeps the instance's grey level
        neg = np.asarray(Image.open(tmp_path / "outTrue" / r.negative_path))
        assert abs(float(np.median(neg)) - LEVELS[other]) < abs(float(np.median(neg)) - LEVELS["r0"])
