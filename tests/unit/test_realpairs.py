"""Real-pair evaluation: pair building, labels and AUC on tiny hand-made sets."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from pcbforge.train.realpairs import PairKind, _distinct_pairs, capture_change, pair_auc, real_pairs, summarise


def test_distinct_pairs_unranks_every_pair_once() -> None:
    ids = [f"c{i}" for i in range(7)]
    got = _distinct_pairs(ids, 100, np.random.default_rng(0))
    assert sorted(got) == sorted(itertools.combinations(ids, 2))
    few = _distinct_pairs(ids, 5, np.random.default_rng(1))
    assert len(set(few)) == 5 and all(a < b for a, b in few)


def _components() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["r1", "r2", "r3", "c1", "c2", "d1"],
            "class_label": ["resistor", "resistor", "resistor", "cap", "cap", "diode"],
            "part_key": ["p1", "p1", None, None, None, None],
        }
    )


def test_labels_are_right_on_a_hand_made_set() -> None:
    t = real_pairs(_components(), seed=3, unseen=["diode"], per_class=50)
    for row in t.itertuples(index=False):
        if row.kind == PairKind.OTHER_CLASS.value:
            assert row.label == 1 and row.class_a != row.class_b
        else:
            assert row.label == 0 and row.class_a == row.class_b
        if row.kind == PairKind.CAPTURE.value:
            assert row.a == row.b and row.capture_seed is not None
        if row.kind == PairKind.SAME_CLASS.value:
            assert row.a != row.b
        assert row.unseen == (row.class_a == "diode")
    same_part = t[t["kind"] == PairKind.SAME_PART.value]
    assert same_part[["a", "b"]].values.tolist() == [["r1", "r2"]]
    assert not ((t["kind"] == "same_class") & (t["class_a"] == "diode")).any()  # one diode: no pair of two


def test_pairs_do_not_depend_on_row_order_and_follow_the_seed() -> None:
    df = _components()
    a = real_pairs(df, seed=3, unseen=[], per_class=4)
    b = real_pairs(df.iloc[::-1], seed=3, unseen=[], per_class=4)
    c = real_pairs(df, seed=4, unseen=[], per_class=4)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_pair_auc_counts_ties_half_and_needs_both_labels() -> None:
    assert pair_auc(np.array([0, 1]), np.array([0.5, 0.5])) == 0.5
    assert pair_auc(np.array([0, 0, 1]), np.array([0.1, 0.2, 0.9])) == 1.0
    assert pair_auc(np.array([0, 0]), np.array([0.1, 0.2])) is None


def test_summary_separates_seen_unseen_and_embedders() -> None:
    t = real_pairs(_components(), seed=0, unseen=["diode", "cap"], per_class=20)
    perfect = np.where(t["label"].to_numpy() == 1, 1.0, 0.0)
    s = summarise(t, {"model": perfect, "backbone": 1.0 - perfect})
    assert s["model"]["unseen"] == 1.0 and s["backbone"]["unseen"] == 0.0
    assert s["model"]["seen"] == 1.0 and s["model"]["seen/same_part"] == 1.0
    assert sum(s["n_per_kind"].values()) == len(t)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_capture_change_is_small_and_seeded(seed: int) -> None:
    img = np.zeros((64, 64, 3), np.uint8)
    img[20:44, 24:40] = 180
    out = capture_change(img, np.random.default_rng(seed))
    again = capture_change(img, np.random.default_rng(seed))
    assert np.array_equal(out, again)
    # The part stays where it was (a shift of at most ~3 px): its centre of mass moves little.
    ys, xs = np.nonzero(out[..., 0] > 90)
    assert abs(ys.mean() - 31.5) < 3.5 and abs(xs.mean() - 31.5) < 3.5


def test_select_real_keeps_held_out_crops_of_the_named_sources() -> None:
    from pcbforge.train.realpairs import select_real

    comps = pd.DataFrame({
        "id": ["a", "b", "c", "d", "e"], "class_label": ["ic"] * 5,
        "origin": ["board", "board", "board", "web", "board"],
        "parent_id": ["real/train/x", "real/y", "builtin/z", "real/w", "real/v"],
        "crop_path": [f"crops/{i}.png" for i in "abcde"], "status": ["ok", "ok", "ok", "ok", "error"],
    })  # fmt: skip
    split = pd.DataFrame({"id": list("abcde"), "split": ["test", "train", "val", "test", "test"], "status": ["ok"] * 5})
    assert select_real(comps, split, ["real"])["id"].tolist() == ["a"]  # b: train, d: web, e: not ok
    assert select_real(comps, split, ["builtin", "real"])["id"].tolist() == ["a", "c"]
    assert select_real(comps, split, [""])["id"].tolist() == ["a", "c"]  # the unnamed source: every board crop
    assert select_real(comps, split, []).empty
