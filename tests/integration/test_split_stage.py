"""``pcbforge split`` on the real output of ``pcbforge crop``."""

from __future__ import annotations

import hashlib
import json
import shutil

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
    # relay (val class) next to seen parts: under strict_boards the whole board goes to val.
    "b-val": [Part(C.RELAY, (10, 10, 60, 50)), Part(C.RESISTOR, (80, 20, 120, 40)), Part(C.DIODE, (80, 60, 120, 80))],
    # crystal (test class) with a relay: test wins; neither may reach train.
    "b-test": [Part(C.CRYSTAL_OSCILLATOR, (10, 10, 50, 30)), Part(C.RELAY, (70, 40, 120, 90))],
    # Six different boards (parts elsewhere, other colours: their photos are not near-identical).
    **{
        f"b-seen-{i}": [
            Part(C.RESISTOR, (10 + 22 * i, 10 + 15 * (i % 3), 50 + 22 * i, 30 + 15 * (i % 3)), (40 * i, 200, 40)),
            Part(C.CAPACITOR, (130 - 20 * i, 40, 158 - 20 * i, 90 - 6 * i), (200, 30 * i, 230)),
        ]
        for i in range(6)
    },
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
    params = tiny_params(params.root, {"split": {"val_fraction": 0.25, "test_fraction": 0.25, "strict_boards": True}})
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
    assert "8 board photos in 8 photo groups" in summary  # no two boards were near-identical
    assert set(ok.loc[ok["origin"] == "board", "group_by"]) == {"board"}
    assert set(ok.loc[ok["origin"] == "web", "group_by"]) == {"cluster"}


def test_non_strict_split_keeps_held_out_boards_parts_and_groups_photos(params: Params) -> None:
    """Default rule on real crop output: relay boards' other parts stay with their group; photo groups hold."""
    boards = write_yolo_dir(params.boards_dir(), BOARDS)
    shutil.copy(boards / "images" / "b-val.png", boards / "images" / "b-val-copy.png")  # a second, identical photo
    shutil.copy(boards / "labels" / "b-val.txt", boards / "labels" / "b-val-copy.txt")
    for board in ("b-seen-0", "b-seen-1"):  # two shots of one physical board, named by a pattern
        for suffix in ("png", "txt"):
            kind = "images" if suffix == "png" else "labels"
            (boards / kind / f"{board}.{suffix}").rename(boards / kind / f"shelf7_{board}.{suffix}")
    (params.root / "groups.csv").write_text("board,group\nb-seen-2,lab-A\nb-seen-3,lab-A\n")
    write_accepted(params, [Photo("diode", cluster=f"dup-{i // 2}") for i in range(4)])
    crop.run(params)
    params = tiny_params(
        params.root,
        {
            "split": {
                "val_fraction": 0,
                "test_fraction": 0,
                "groups": {"pattern": r"^(?P<group>shelf\d+)_", "csv": "groups.csv"},
            }
        },
    )
    summary = split.run(params)
    df = _split(params)
    ok = df[df["status"] == "ok"].set_index("id")
    held = ok["class_label"].isin(["relay", "crystal_oscillator"])
    # Fractions 0: every group's home is train, so every seen part is in train, board-mates of held-out parts too.
    assert set(ok.loc[~held, "split"]) == {"train"}
    assert set(ok.loc[ok["class_label"] == "relay", "split"]) == {"val"}
    assert set(ok.loc[ok["class_label"] == "crystal_oscillator", "split"]) == {"test"}
    by_board = ok.groupby("group")["group_by"].first().to_dict()
    assert by_board["b-val"] == "hash" and by_board["shelf7"] == "pattern" and by_board["lab-A"] == "csv"
    assert (ok["group"] == "b-val").sum() == 6  # both photos of b-val: one group
    report = json.loads((params.path(params.split.out) / "split_report.json").read_text())
    assert report["splits"]["train"]["unseen"] == 0 and report["splits"]["train"]["seen"] == int((~held).sum())
    assert report["splits"]["val"] == {"components": 3, "seen": 0, "unseen": 3, "groups": 2}
    assert report["splits"]["test"] == {"components": 1, "seen": 0, "unseen": 1, "groups": 1}
    assert report["groups"]["board_photos"] == 9 and report["groups"]["photo_groups"] == 6
    links = [(x["a"], x["b"], x["phash"], x["dhash"]) for x in report["groups"]["hash_links"]]
    assert links == [("b-val", "b-val-copy", 0, 0)]
    n_seen = int((~held).sum())
    assert f"train {n_seen} (7 groups; {n_seen} seen, 0 unseen), val 3 (2 groups; 0 seen, 3 unseen)" in summary
    assert set(ok.loc[(ok["group"] == "b-val") & ~held, "split"]) == {"train"}  # the relay's board-mates stayed

    # Under strict_boards the same input sends the relay boards' other parts to val with them.
    strict = tiny_params(params.root, {"split": {**params.split.model_dump(mode="json"), "strict_boards": True}})
    split.run(strict)
    strict_df = _split(strict).set_index("id")
    assert set(strict_df.loc[strict_df["group"] == "b-val", "split"]) == {"val"}
    assert set(strict_df.loc[strict_df["group"] == "b-test", "split"]) == {"test"}


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
