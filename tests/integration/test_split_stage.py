"""``pcbforge split`` on the real output of ``pcbforge crop``."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from pcbforge.config import Params
from pcbforge.errors import InputError
from pcbforge.pipelines import crop, split
from pcbforge.vocab import ComponentClass as C
from tests.helpers.accepted_fixture import Photo, write_accepted
from tests.helpers.params import tiny_params
from tests.helpers.yolo_boards import Part, write_yolo_dir

BOARDS = {
    # relay (val class) next to seen parts: the whole board must go to val.
    "b-val": [Part(C.RELAY, (10, 10, 60, 50)), Part(C.RESISTOR, (80, 20, 120, 40)), Part(C.DIODE, (80, 60, 120, 80))],
    # crystal (test class) with a relay: test wins; neither may reach train.
    "b-test": [Part(C.CRYSTAL_OSCILLATOR, (10, 10, 50, 30)), Part(C.RELAY, (70, 40, 120, 90))],
    **{f"b-seen-{i}": [Part(C.RESISTOR, (10, 10, 50, 30)), Part(C.CAPACITOR, (70, 40, 100, 90))] for i in range(6)},
}


def _crop(params: Params) -> None:
    write_yolo_dir(params.boards_dir(), BOARDS)
    photos = [Photo("diode", cluster=f"dup-{i // 2}") for i in range(12)]  # 6 clusters of 2
    photos += [Photo("relay"), Photo("crystal_oscillator"), Photo("capacitor", corrupt=True)]
    write_accepted(params, photos)
    crop.run(params)


def _split(params: Params) -> pd.DataFrame:
    return pd.read_parquet(params.path(params.split.out) / "split.parquet")


def test_split_guarantees_on_crop_output(params: Params) -> None:
    params = tiny_params(params.root, {"split": {"val_fraction": 0.25, "test_fraction": 0.25}})
    _crop(params)
    summary = split.run(params)
    df = _split(params)
    components = pd.read_parquet(params.path(params.crop.out) / "components.parquet")
    assert df["id"].tolist() == sorted(components["id"])  # every component has a row
    assert {"id", "class_label", "group", "split", "status", "error"} <= set(df.columns)
    ok = df[df["status"] == "ok"]
    assert ok["split"].isin(["train", "val", "test"]).all()
    assert df.loc[df["status"] != "ok", "split"].isna().all() and (df["status"] == "error").sum() == 1

    # Unseen classes: never in train; the test class never in val either.
    assert not set(ok.loc[ok["split"] == "train", "class_label"]) & {"relay", "crystal_oscillator"}
    assert set(ok.loc[ok["class_label"] == "crystal_oscillator", "split"]) == {"test"}
    assert set(ok.loc[ok["class_label"] == "relay", "split"]) == {"val", "test"}
    # Boards and dup clusters never split.
    assert (ok.groupby("group")["split"].nunique() == 1).all()
    assert set(ok.loc[ok["group"] == "b-val", "split"]) == {"val"}
    assert set(ok.loc[ok["group"] == "b-test", "split"]) == {"test"}
    # 12 seen-only groups (6 boards + 6 clusters) at 25 % / 25 %: 3 to test, 3 to val, 6 stay in train.
    seen = ok[~ok["group"].isin(["b-val", "b-test"]) & ~ok["class_label"].isin(["relay", "crystal_oscillator"])]
    per_split = seen.groupby("split")["group"].nunique().to_dict()
    assert per_split == {"test": 3, "train": 6, "val": 3}

    n = ok["split"].value_counts()
    assert summary.startswith(f"{len(ok)} components: train {n['train']} (")
    assert f"val {n['val']} (" in summary and f"test {n['test']} (" in summary


def test_split_is_deterministic_and_seeded(params: Params) -> None:
    _crop(params)
    split.run(params)
    path = params.path(params.split.out) / "split.parquet"
    first = hashlib.sha256(path.read_bytes()).hexdigest()
    split.run(params)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == first
    other = tiny_params(params.root, {"base": {"seed": 1}, "split": {"val_fraction": 0.3, "test_fraction": 0.3}})
    split.run(other)
    again = tiny_params(params.root, {"base": {"seed": 2}, "split": {"val_fraction": 0.3, "test_fraction": 0.3}})
    a = _split(other)
    split.run(again)
    assert not a["split"].equals(_split(again)["split"])


def test_split_needs_components(params: Params) -> None:
    with pytest.raises(InputError, match=r"components.parquet.*pcbforge crop"):
        split.run(params)
