"""Photo groups: photos of one physical board (by name pattern, CSV or near-identical pixels) share a split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageEnhance

from pcbforge.clean.hashing import hash_file
from pcbforge.config import SplitParams
from pcbforge.datasets.groups import PhotoGroup, apply_groups, parse_group_csv, pattern_keys, photo_groups
from pcbforge.datasets.split import assign, check_split
from pcbforge.errors import InputError
from pcbforge.pipelines.split import BOARD_HASHES, board_images, near_identical

#: Every group to train unless held out: a straddling group would then show up as two splits
#: only if the grouping failed. The fractions are high so that groups really spread.
RULE = SplitParams(val_classes=["relay"], test_classes=[], val_fraction=0.3, test_fraction=0.3)


def components(boards: dict[str, list[str]]) -> pd.DataFrame:
    """Board rows as crop writes them: each board photo its own group, named after the board."""
    base = {"origin": "board", "status": "ok", "error": None}
    rows = [
        {"id": f"{b}:{n}", "class_label": c, "group": b, "parent_id": b, **base}
        for b, labels in boards.items()
        for n, c in enumerate(labels)
    ]
    return pd.DataFrame(rows)


def splits_of(df: pd.DataFrame, boards: list[str]) -> set[str]:
    return set(df.loc[df["id"].str.split(":").str[0].isin(boards), "split"])


def test_pattern_keys_need_a_match_and_a_non_empty_group() -> None:
    keys = pattern_keys(["b7_top", "b7_left", "b8", "x_", "b70_top"], r"^(?P<group>b\d+)_|^x_(?P<none>)")
    assert keys == {"b7_top": "b7", "b7_left": "b7", "b70_top": "b70"}


def test_group_csv_is_checked_line_by_line() -> None:
    assert parse_group_csv("id,board,group\n1,b1,A\n2,b2,A\n3,b1,A\n", "g.csv") == {"b1": "A", "b2": "A"}
    with pytest.raises(InputError, match=r"^g\.csv:1: no column group"):
        parse_group_csv("board,grp\nb1,A\n", "g.csv")
    with pytest.raises(InputError, match=r"^g\.csv:3: board 'b1' is in group 'A' already, not 'B'"):
        parse_group_csv("board,group\nb1,A\nb1,B\n", "g.csv")
    with pytest.raises(InputError, match=r"^g\.csv:2: empty"):
        parse_group_csv("board,group\nb1,\n", "g.csv")


def test_sources_add_up_and_name_the_group() -> None:
    boards = ["a1", "a2", "b1", "c1", "c2", "lone"]
    keys = {"pattern": {"a1": "a", "a2": "a"}, "csv": {"b1": "B", "c1": "C"}}
    links = [("c2", "c1"), ("a2", "b1"), ("elsewhere", "lone")]  # a link to an unknown board is ignored
    g = photo_groups(boards, keys, links)
    # a1-a2 by pattern, a2-b1 by hash, b1 has a CSV key: CSV names the group.
    assert {g[b] for b in ("a1", "a2", "b1")} == {PhotoGroup("B", "csv+pattern+hash")}
    assert g["c1"] == g["c2"] == PhotoGroup("C", "csv+hash")
    assert g["lone"] == PhotoGroup("lone", "board")


def test_groups_do_not_depend_on_input_order() -> None:
    boards = [f"p{i}" for i in range(8)]
    links = [("p1", "p5"), ("p5", "p3"), ("p7", "p6")]
    keys = {"pattern": {"p0": "k", "p2": "k"}}
    a = photo_groups(boards, keys, links)
    b = photo_groups(boards[::-1], keys, [(y, x) for x, y in links[::-1]])
    assert a == b
    assert a["p3"] == PhotoGroup("p1", "hash") and a["p2"] == PhotoGroup("k", "pattern")


def _never_straddle(df: pd.DataFrame, together: list[list[str]]) -> None:
    out = assign(df, RULE, seed=3)
    assert check_split(out, RULE) == []
    for boards in together:
        assert len(splits_of(out, boards)) == 1, boards


def test_photos_sharing_a_pattern_key_never_land_in_two_splits() -> None:
    boards = {f"board{b}_shot{s}": ["diode", "resistor"] for b in range(6) for s in range(4)}
    df = components(boards)
    # Without groups, 24 lone photos spread over all splits: the test can fail.
    assert len(splits_of(assign(df, RULE, seed=3), [f"board0_shot{s}" for s in range(4)] + ["board1_shot0"])) > 1
    keys = {"pattern": pattern_keys(boards, r"^(?P<group>board\d+)_")}
    grouped = apply_groups(df, photo_groups(list(boards), keys, []))
    _never_straddle(grouped, [[f"board{b}_shot{s}" for s in range(4)] for b in range(6)])
    assert set(grouped["group_by"]) == {"pattern"} and grouped["group"].nunique() == 6


def test_photos_sharing_a_csv_group_never_land_in_two_splits() -> None:
    boards = {f"IMG_{n:04d}": ["diode", "capacitor"] for n in range(20)}
    text = "board,group\n" + "".join(f"IMG_{n:04d},{'ABCD'[n % 4]}\n" for n in range(20))
    grouped = apply_groups(components(boards), photo_groups(list(boards), {"csv": parse_group_csv(text, "g.csv")}, []))
    _never_straddle(grouped, [[f"IMG_{n:04d}" for n in range(k, 20, 4)] for k in range(4)])
    assert sorted(grouped["group"].unique()) == ["A", "B", "C", "D"]


def _board(rng: np.random.Generator) -> Image.Image:
    """A busy board-like picture: random blocks on green, so distinct boards hash far apart."""
    arr = np.zeros((120, 160, 3), np.uint8)
    arr[:] = (20, 110, 40)
    for _ in range(14):
        x, y = int(rng.integers(0, 140)), int(rng.integers(0, 100))
        arr[y : y + int(rng.integers(8, 30)), x : x + int(rng.integers(8, 40))] = rng.integers(0, 255, 3)
    return Image.fromarray(arr)


def test_near_identical_board_photos_share_a_group_and_a_split(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    originals = {f"b{i}": _board(rng) for i in range(8)}
    files: dict[str, Path] = {}
    for name, im in originals.items():
        im.save(tmp_path / f"{name}.png")
        files[name] = tmp_path / f"{name}.png"
    # Second shots of b0 and b1: brighter, re-encoded as JPEG, or half the size.
    ImageEnhance.Brightness(originals["b0"]).enhance(1.1).save(tmp_path / "b0_again.jpg", quality=85)
    originals["b1"].resize((80, 60)).save(tmp_path / "b1_small.png")
    files |= {"b0_again": tmp_path / "b0_again.jpg", "b1_small": tmp_path / "b1_small.png"}
    hashes = {b: hash_file(p, BOARD_HASHES) for b, p in files.items()}

    links = near_identical(hashes, distance=8)
    assert {(x["a"], x["b"]) for x in links} == {("b0", "b0_again"), ("b1", "b1_small")}
    assert all(x["phash"] <= 8 and x["dhash"] <= 8 for x in links)
    assert near_identical(hashes, distance=0) == [x for x in links if x["phash"] == x["dhash"] == 0]

    boards = {b: ["diode", "resistor", "relay"] for b in files}
    groups = photo_groups(list(files), {}, [(x["a"], x["b"]) for x in links])
    assert groups["b0_again"] == PhotoGroup("b0", "hash") and groups["b5"] == PhotoGroup("b5", "board")
    df = apply_groups(components(boards), groups)
    _never_straddle(df[df["class_label"] != "relay"], [["b0", "b0_again"], ["b1", "b1_small"]])
    # With a held-out part on every board, the seen parts of a photo group still share a split.
    out = assign(df, RULE, seed=3)
    seen = out[out["class_label"] != "relay"]
    assert len(splits_of(seen, ["b0", "b0_again"])) == 1 and len(splits_of(seen, ["b1", "b1_small"])) == 1
    assert set(out.loc[out["class_label"] == "relay", "split"]) == {"val"}


def test_board_images_come_from_source_url_paths(tmp_path: Path) -> None:
    (tmp_path / "boards").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "boards" / "a.png")
    df = pd.DataFrame(
        {
            "origin": ["board", "board", "board", "web", "board"],
            "parent_id": ["a", "a", "u", "w", "gone"],
            "source_url": ["boards/a.png", "boards/a.png", "https://example.org/u", "boards/a.png", "boards/gone.png"],
            "status": ["ok", "error", "ok", "ok", "ok"],
        }
    )
    found, lost = board_images(df, tmp_path)
    assert found == {"a": tmp_path / "boards" / "a.png"}
    assert lost == ["gone", "u"]


def test_web_rows_keep_their_cluster() -> None:
    df = pd.DataFrame(
        {"origin": ["web", "board", "board"], "parent_id": ["w1", "b1", "b2"], "group": ["dup-3", "b1", "b2"]}
    )
    out = apply_groups(df, {"b1": PhotoGroup("G", "pattern")})
    assert out["group"].tolist() == ["dup-3", "G", "b2"]
    assert out["group_by"].tolist() == ["cluster", "pattern", "board"]
