"""Assign every component to train / val / test for one-shot evaluation.

Two guarantees, both checked by :func:`check_split`:

1. **Unseen classes.** Every component of a ``val_classes`` or ``test_classes`` class is
   outside train: the model is evaluated on parts it has never seen.
2. **Groups are never split.** A group (one board photo, or one web dup cluster) lands
   wholly in one split, so near-identical views never straddle train and evaluation.

A board holds several classes, so the two rules meet at group level. The rule:

* a group containing any **test class** goes wholly to ``test``;
* otherwise a group containing any **val class** goes wholly to ``val``;
* the remaining groups (seen classes only) are ranked by a seeded per-group key
  (``make_rng(seed, "split", group)``) and the first ``round(test_fraction * n)`` go to
  ``test``, the next ``round(val_fraction * n)`` to ``val``, the rest to ``train``.

What this costs: the seen-class parts on a board with a held-out part leave train with
it (fewer training samples), and a val-class part sharing a board with a test-class part
lands in ``test`` instead of ``val``. Neither breaks "held-out classes never in train",
which is the point of one-shot evaluation. Test classes are never in train or val.

The per-group key depends only on the seed and the group id, so the order and worker
count of the input never matter, and adding a new board moves no other group's rank.

Stages downstream (triplets, simulate) read each component's split with :func:`join_splits`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping

import pandas as pd

from pcbforge.config import SplitParams
from pcbforge.datasets.manifest import cell_value
from pcbforge.datasets.schemas import columns
from pcbforge.rng import make_rng
from pcbforge.vocab import SPLITS, Split, Status

#: split.parquet columns, in order (declared in :mod:`pcbforge.datasets.schemas`).
COLUMNS = columns("split")


def held_out(cfg: SplitParams) -> tuple[frozenset[str], frozenset[str]]:
    """``(val_classes, test_classes)`` of ``params.split`` as the class labels manifests hold."""
    return frozenset(cfg.val_classes), frozenset(cfg.test_classes)


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def group_key(seed: int, group: str) -> float:
    """The seeded rank of a group among the seen-class groups (uniform in [0, 1))."""
    return float(make_rng(seed, "split", group).random())


def assign_groups(classes_by_group: Mapping[str, Iterable[str]], cfg: SplitParams, seed: int) -> dict[str, Split]:
    """The split of each group, from the classes it contains.

    Args:
        classes_by_group: group id -> class labels of its components.
        cfg: ``params.split``: held-out classes and fractions.
        seed: ``base.seed``.

    Returns:
        group id -> :class:`~pcbforge.vocab.Split`.

    Example:
        >>> cfg = SplitParams(val_classes=["relay"], test_classes=[], val_fraction=0, test_fraction=0)
        >>> assign_groups({"b1": ["relay", "diode"], "b2": ["diode"]}, cfg, seed=0)
        {'b1': <Split.VAL: 'val'>, 'b2': <Split.TRAIN: 'train'>}
    """
    val_classes, test_classes = held_out(cfg)
    out: dict[str, Split] = {}
    seen_only: list[str] = []
    for group in sorted(classes_by_group):
        labels = set(classes_by_group[group])
        if labels & test_classes:
            out[group] = Split.TEST
        elif labels & val_classes:
            out[group] = Split.VAL
        else:
            seen_only.append(group)
    ranked = sorted(seen_only, key=lambda g: (group_key(seed, g), g))
    n_test = _round_half_up(cfg.test_fraction * len(ranked))
    n_val = _round_half_up(cfg.val_fraction * len(ranked))
    for i, group in enumerate(ranked):
        out[group] = Split.TEST if i < n_test else Split.VAL if i < n_test + n_val else Split.TRAIN
    return dict(sorted(out.items()))


def assign(components: pd.DataFrame, cfg: SplitParams, seed: int) -> pd.DataFrame:
    """Add a ``split`` column to the ``ok`` rows of a components manifest.

    Rows that are not ``ok`` keep their status and reason, with ``split`` null, so they
    stay visible downstream without being used.

    Args:
        components: columns ``id``, ``class_label``, ``group``, ``status``, ``error``
            (``origin`` is carried when present).
        cfg: ``params.split``.
        seed: ``base.seed``.

    Returns:
        A frame with :data:`COLUMNS`, sorted by ``id``.
    """
    df = components.copy()
    if "origin" not in df.columns:
        df["origin"] = None
    ok = df["status"] == "ok"
    # A component without a group is its own group: it cannot straddle splits anyway.
    df["group"] = df["group"].where(df["group"].notna() & (df["group"] != ""), df["id"])
    classes_by_group: dict[str, list[str]] = {}
    for group, label in zip(df.loc[ok, "group"], df.loc[ok, "class_label"], strict=True):
        classes_by_group.setdefault(str(group), []).append(str(label))
    groups = assign_groups(classes_by_group, cfg, seed)
    df["split"] = None
    df.loc[ok, "split"] = [groups[str(g)].value for g in df.loc[ok, "group"]]
    return df.loc[:, list(COLUMNS)].sort_values("id", kind="mergesort").reset_index(drop=True)


def check_split(df: pd.DataFrame, cfg: SplitParams) -> list[str]:
    """Violations of the two guarantees in an assigned frame (empty when all hold)."""
    ok = df[df["status"] == "ok"]
    problems = []
    val_classes, test_classes = held_out(cfg)
    leaked = sorted(set(ok.loc[ok["split"] == Split.TRAIN.value, "class_label"]) & (val_classes | test_classes))
    if leaked:
        problems.append(f"held-out classes in train: {leaked}")
    in_val = sorted(set(ok.loc[ok["split"] == Split.VAL.value, "class_label"]) & test_classes)
    if in_val:
        problems.append(f"test classes in val: {in_val}")
    spread = ok.groupby("group")["split"].nunique()
    split_groups = sorted(spread[spread > 1].index.astype(str))
    if split_groups:
        problems.append(f"groups split across splits: {split_groups[:5]}")
    if ok["split"].isna().any():
        problems.append("ok rows without a split")
    return problems


def held_out_cost(df: pd.DataFrame, cfg: SplitParams) -> tuple[int, int]:
    """``(components, groups)``: seen-class parts kept out of train because their group holds a held-out class."""
    ok = df[df["status"] == "ok"]
    val_classes, test_classes = held_out(cfg)
    classes = val_classes | test_classes
    forced = set(ok.loc[ok["class_label"].isin(classes), "group"])
    seen_there = ok[ok["group"].isin(forced) & ~ok["class_label"].isin(classes)]
    return len(seen_there), int(seen_there["group"].nunique())


def counts(df: pd.DataFrame) -> dict[str, int]:
    """Number of ok components per split, in train/val/test order."""
    ok = df[df["status"] == "ok"]
    return {s.value: int((ok["split"] == s.value).sum()) for s in Split}


def join_splits(
    components: pd.DataFrame, split: pd.DataFrame, where: str | os.PathLike[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Give each component its split from ``split.parquet``; the caller decides about the rest.

    A component has a split when ``split`` holds an ``ok`` row for its id whose ``split`` is
    one of :data:`~pcbforge.vocab.SPLITS`.

    Args:
        components: Component rows (column ``id``), e.g. the ok rows of components.parquet.
        split: ``split.parquet`` rows: ``id``, ``split``, ``status`` and, when present, ``error``.
        where: The split manifest's path as the reasons should name it (relative to the
            project, so the reasons do not depend on where it is checked out).

    Returns:
        ``(joined, unmatched)``: the components that have a split, with a ``split`` column,
        and the others, with a ``reason`` column saying why not; both in input order.

    Example:
        >>> comps = pd.DataFrame({"id": ["a", "b", "c"]})
        >>> split = pd.DataFrame({"id": ["a", "b"], "split": ["val", None], "status": ["ok", "rejected"]})
        >>> joined, unmatched = join_splits(comps, split, "data/split/split.parquet")
        >>> joined.to_dict("records")
        [{'id': 'a', 'split': 'val'}]
        >>> unmatched["reason"].tolist()[1]
        'component is not in data/split/split.parquet (stale split: re-run `pcbforge split`)'
    """
    by_id = {str(r["id"]): r for r in split.to_dict("records")}
    values: list[str] = []
    reasons: list[str | None] = []  # None: the component has a split
    for cid in components["id"].astype(str):
        row = by_id.get(cid)
        value = cell_value(row.get("split")) if row is not None else None
        if row is None:
            reasons.append(f"component is not in {where} (stale split: re-run `pcbforge split`)")
        elif row.get("status") != Status.OK.value:
            why = cell_value(row.get("error")) or "no reason given"
            reasons.append(f"split status {row.get('status')!r} in {where} ({why})")
        elif value not in SPLITS:
            reasons.append(f"split {value!r} in {where} is not one of {sorted(SPLITS)}")
        else:
            reasons.append(None)
            values.append(value)
    joined = components.iloc[[i for i, r in enumerate(reasons) if r is None]].copy()
    joined["split"] = values
    unmatched = components.iloc[[i for i, r in enumerate(reasons) if r is not None]].copy()
    unmatched["reason"] = [r for r in reasons if r is not None]
    return joined.reset_index(drop=True), unmatched.reset_index(drop=True)
