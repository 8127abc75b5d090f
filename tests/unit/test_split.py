"""Split rules: held-out classes never in train, groups never split, deterministic."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pcbforge.config import SplitParams
from pcbforge.datasets.split import assign, assign_groups, check_split, counts, held_out_cost
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
    out = assign(df, rule(val_fraction=0, test_fraction=0), SEED)
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
@given(components, st.integers(0, 2**31 - 1), st.floats(0, 0.45), st.floats(0, 0.45))
def test_guarantees_hold_for_any_mix(parts: list[tuple[str, int]], seed: int, vf: float, tf: float) -> None:
    df = frame([(f"c{i:03d}", c, f"g{g}") for i, (c, g) in enumerate(parts)])
    r = rule(val_fraction=vf, test_fraction=tf)
    out = assign(df, r, seed)
    assert check_split(out, r) == []
    # Spelled out, the two guarantees check_split enforces:
    train = set(out.loc[out["split"] == "train", "class_label"])
    assert not train & {"relay", "crystal_oscillator"}
    assert not set(out.loc[out["split"] == "val", "class_label"]) & {"crystal_oscillator"}
    assert (out.groupby("group")["split"].nunique() == 1).all()
    assert set(out.loc[out["class_label"] == "crystal_oscillator", "split"]) <= {"test"}
