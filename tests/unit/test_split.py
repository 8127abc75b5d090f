"""Split rules: held-out classes never in train, groups never split, deterministic."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pcbforge.config import SplitParams
from pcbforge.datasets.split import assign, assign_groups, check_split, counts, held_out_cost, report
from pcbforge.vocab import ComponentClass, Split

CLASSES = ComponentClass.names()


SEED = 7


def rule(**kw: object) -> SplitParams:
    base = {
        "val_classes": ["relay"],
        "test_classes": ["crystal_oscillator"],
        "val_fraction": 0.2,
        "test_fraction": 0.2,
    }
    return SplitParams.model_validate({**base, **kw})


def frame(rows: list[tuple[str, str, str]], status: str = "ok") -> pd.DataFrame:
    return pd.DataFrame(
        [{"id": i, "class_label": c, "group": g, "origin": "board", "status": status, "error": None} for i, c, g in rows]
    )


def test_board_with_held_out_classes_goes_wholly_to_their_split() -> None:
    groups = {
        "b-test": ["resistor", "crystal_oscillator", "relay"],  # test wins over val
        "b-val": ["relay", "diode"],
        "b-seen": ["diode"],
    }
    out = assign_groups(groups, rule(val_fraction=0, test_fraction=0), SEED)
    assert out == {"b-seen": Split.TRAIN, "b-test": Split.TEST, "b-val": Split.VAL}


def test_fractions_count_groups_and_round_half_up() -> None:
    groups = {f"g{i:02d}": ["diode"] for i in range(10)}
    out = assign_groups(groups, rule(val_fraction=0.25, test_fraction=0.15), SEED)
    values = list(out.values())
    assert values.count(Split.TEST) == 2 and values.count(Split.VAL) == 3 and values.count(Split.TRAIN) == 5


def test_assignment_is_seeded_and_order_independent() -> None:
    groups = {f"g{i:02d}": ["diode"] for i in range(40)}
    reversed_groups = dict(reversed(list(groups.items())))
    a = assign_groups(groups, rule(), SEED)
    assert a == assign_groups(reversed_groups, rule(), SEED)
    assert a != assign_groups(groups, rule(), 8)


def test_adding_a_group_does_not_reshuffle_the_others_much() -> None:
    # Ranks come from a per-group key: a new group shifts at most the boundary groups.
    groups = {f"g{i:03d}": ["diode"] for i in range(100)}
    a = assign_groups(groups, rule(), SEED)
    b = assign_groups({**groups, "new": ["diode"]}, rule(), SEED)
    moved = [g for g in groups if a[g] != b[g]]
    assert len(moved) <= 3


def test_assign_keeps_bad_rows_without_split() -> None:
    df = pd.concat(
        [frame([("a", "diode", "b1"), ("b", "relay", "b1")]), frame([("c", "diode", "b2")], status="error")]
    )
    out = assign(df, rule(val_fraction=0, test_fraction=0, strict_boards=True), SEED)
    assert out["id"].tolist() == ["a", "b", "c"]
    assert out["split"].tolist() == ["val", "val", None]
    assert out.loc[2, "status"] == "error"
    assert counts(out) == {"train": 0, "val": 2, "test": 0}
    assert held_out_cost(out, rule()) == (1, 1)  # the diode left train with its relay's board


def test_missing_group_is_its_own_group() -> None:
    df = frame([("a", "diode", ""), ("b", "diode", "")])
    df.loc[1, "group"] = None
    out = assign(df, rule(val_fraction=0, test_fraction=0), SEED)
    assert out["group"].tolist() == ["a", "b"]


def test_bad_rules_are_validation_errors() -> None:
    with pytest.raises(ValidationError, match="share"):
        rule(val_classes=["relay"], test_classes=["relay"])
    with pytest.raises(ValidationError, match="leaves no"):
        rule(val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ValidationError, match="no named group `group`"):
        rule(groups={"pattern": r"board\d+"})
    with pytest.raises(ValidationError, match="not a regular expression"):
        rule(groups={"pattern": "(?P<group>"})


def test_check_split_detects_leaks() -> None:
    df = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "class_label": ["relay", "diode", "diode"],
            "group": ["g1", "g2", "g2"],
            "split": ["train", "train", "val"],
            "status": ["ok"] * 3,
            "error": [None] * 3,
        }
    )
    problems = check_split(df, rule())
    assert any("held-out classes in train" in p for p in problems)
    assert any("groups split" in p for p in problems)


components = st.lists(
    st.tuples(st.sampled_from(CLASSES), st.integers(0, 15)),  # (class, group number)
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(components, st.integers(0, 2**31 - 1), st.floats(0, 0.45), st.floats(0, 0.45), st.booleans())
def test_guarantees_hold_for_any_mix(parts: list[tuple[str, int]], seed: int, vf: float, tf: float, strict: bool) -> None:
    df = frame([(f"c{i:03d}", c, f"g{g}") for i, (c, g) in enumerate(parts)])
    r = rule(val_fraction=vf, test_fraction=tf, strict_boards=strict)
    out = assign(df, r, seed)
    assert check_split(out, r) == []
    # Spelled out, the two guarantees check_split enforces:
    train = set(out.loc[out["split"] == "train", "class_label"])
    assert not train & {"relay", "crystal_oscillator"}
    assert not set(out.loc[out["split"] == "val", "class_label"]) & {"crystal_oscillator"}
    seen = out if strict else out[~out["class_label"].isin(["relay", "crystal_oscillator"])]
    assert (seen.groupby("group")["split"].nunique() == 1).all()
    assert set(out.loc[out["class_label"] == "crystal_oscillator", "split"]) <= {"test"}
    if not strict:  # held-out parts go by class, never by board
        assert set(out.loc[out["class_label"] == "relay", "split"]) <= {"val"}


# --- held-out classes: strict and non-strict boards ----------------------------------------

BOARD = [("r1", "relay", "b1"), ("d1", "diode", "b1"), ("c1", "capacitor", "b1"), ("d2", "diode", "b2")]


def test_non_strict_keeps_the_other_parts_of_a_held_out_board_in_train() -> None:
    out = assign(frame(BOARD), rule(val_fraction=0, test_fraction=0), SEED).set_index("id")["split"]
    assert out["r1"] == "val"  # the held-out part leaves train ...
    assert out[["d1", "c1", "d2"]].tolist() == ["train"] * 3  # ... its board-mates stay
    strict = assign(frame(BOARD), rule(val_fraction=0, test_fraction=0, strict_boards=True), SEED)
    assert strict.set_index("id")["split"][["r1", "d1", "c1", "d2"]].tolist() == ["val", "val", "val", "train"]


def test_non_strict_board_mates_go_where_their_group_goes() -> None:
    # The held-out part changes nothing else: with it or without it, every other part has the
    # same split (its group's seeded home), whatever the fractions.
    boards = [(f"x{i}", "diode", f"g{i % 9}") for i in range(27)]
    boards += [(f"r{i}", "relay", f"g{i}") for i in range(4)]
    boards += [(f"q{i}", "crystal_oscillator", f"g{i + 4}") for i in range(3)]
    r = rule(val_fraction=0.3, test_fraction=0.3)
    with_held = assign(frame(boards), r, SEED).set_index("id")["split"]
    without = assign(frame([b for b in boards if b[1] == "diode"]), r, SEED).set_index("id")["split"]
    assert with_held[without.index].equals(without)
    assert set(with_held[[f"r{i}" for i in range(4)]]) == {"val"}
    assert set(with_held[[f"q{i}" for i in range(3)]]) == {"test"}
    assert set(without) == {"train", "val", "test"}  # the fractions did place groups outside train


def test_check_split_allows_a_held_out_part_to_leave_its_group_only_when_not_strict() -> None:
    out = assign(frame(BOARD), rule(val_fraction=0, test_fraction=0), SEED)
    assert check_split(out, rule()) == []
    assert any("groups split" in p for p in check_split(out, rule(strict_boards=True)))
    seen_apart = out.copy()
    seen_apart.loc[seen_apart["id"] == "c1", "split"] = "test"  # a seen part leaving its board-mate
    assert any("groups split" in p for p in check_split(seen_apart, rule()))


def test_report_counts_seen_and_unseen_per_split() -> None:
    rows = [
        ("a", "diode", "g1"), ("b", "relay", "g1"), ("c", "crystal_oscillator", "g1"), ("d", "resistor", "g1"),
        ("e", "relay", "g2"), ("f", "diode", "g3"),
    ]  # fmt: skip
    df = pd.concat([frame(rows), frame([("z", "diode", "g4")], status="error")])
    r = rule(val_fraction=0, test_fraction=0)
    rep = report(assign(df, r, SEED), r)
    assert rep["splits"] == {
        "train": {"components": 3, "seen": 3, "unseen": 0, "groups": 2},
        "val": {"components": 2, "seen": 0, "unseen": 2, "groups": 2},
        "test": {"components": 1, "seen": 0, "unseen": 1, "groups": 1},
    }
    assert rep["not_ok"] == 1 and rep["strict_boards"] is False
    assert rep["seen_on_held_out_groups"] == {"components": 2, "groups": 1}
    strict = rule(val_fraction=0, test_fraction=0, strict_boards=True)
    rep = report(assign(df, strict, SEED), strict)
    assert rep["splits"]["test"] == {"components": 4, "seen": 2, "unseen": 2, "groups": 1}
    assert rep["splits"]["val"] == {"components": 1, "seen": 0, "unseen": 1, "groups": 1}
    assert rep["splits"]["train"] == {"components": 1, "seen": 1, "unseen": 0, "groups": 1}
