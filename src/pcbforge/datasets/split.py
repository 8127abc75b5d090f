"""Assign every component to train / val / test for one-shot evaluation.

Two guarantees, both checked by :func:`check_split`:

1. **Unseen classes.** Every component of a ``val_classes`` or ``test_classes`` class is
   outside train: the model is evaluated on parts it has never seen.
2. **Groups are never split.** The seen-class components of a group (a photo group of board
   photos, see :mod:`pcbforge.datasets.groups`, or one web dup cluster) land in one split, so
   near-identical views of a part never straddle train and evaluation. With
   ``strict_boards`` the whole group, held-out parts included, lands in one split.

Every group with a seen-class component gets a *home* split: the groups are ranked by a
seeded per-group key (``make_rng(seed, "split", group)``) and the first
``round(test_fraction * n)`` go to ``test``, the next ``round(val_fraction * n)`` to ``val``,
the rest to ``train``. Then:

* ``strict_boards: false`` (default): a part of a **test class** goes to ``test``, a part of
  a **val class** to ``val``, and every other part to its group's home. Holding a class out
  costs only its own parts.
* ``strict_boards: true``: a group holding any test class goes wholly to ``test``, else one
  holding any val class wholly to ``val``; only the other groups are ranked. The seen-class
  parts of those boards leave train with them, and a val-class part sharing a group with a
  test-class part lands in ``test``.

What non-strict costs: a board photo with a held-out part may also give train crops. The
crop views are tight (``crop.margin``), but a train part's context patch, which defects and
shifts draw on, can show a held-out neighbour. Never as a labelled class, only as board
surroundings, as on a real line where the board holds known parts too (docs/annotate.md).

The per-group key depends only on the seed and the group id, so the order and worker
count of the input never matter, and adding a new board moves no other group's rank.

Stages downstream (triplets, simulate) read each component's split with :func:`join_splits`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from typing import Any

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


def _rank(groups: Iterable[str], cfg: SplitParams, seed: int) -> dict[str, Split]:
    """The home split of each group: seeded rank, then the fractions (see the module docstring)."""
    ranked = sorted(set(groups), key=lambda g: (group_key(seed, g), g))
    n_test = _round_half_up(cfg.test_fraction * len(ranked))
    n_val = _round_half_up(cfg.val_fraction * len(ranked))
    return {
        g: Split.TEST if i < n_test else Split.VAL if i < n_test + n_val else Split.TRAIN for i, g in enumerate(ranked)
    }


def assign_groups(classes_by_group: Mapping[str, Iterable[str]], cfg: SplitParams, seed: int) -> dict[str, Split]:
    """The split of each whole group, from the classes it contains (the ``strict_boards`` rule).

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
    out.update(_rank(seen_only, cfg, seed))
    return dict(sorted(out.items()))


def assign_parts(labels: Iterable[str], groups: Iterable[str], cfg: SplitParams, seed: int) -> list[Split]:
    """The split of each component (the default, non-strict rule): held-out classes by class, the rest by group.

    Args:
        labels: class label of each component.
        groups: group id of each component (same order).
        cfg: ``params.split``.
        seed: ``base.seed``.

    Returns:
        One :class:`~pcbforge.vocab.Split` per component, in input order.

    Example:
        >>> cfg = SplitParams(val_classes=["relay"], test_classes=[], val_fraction=0, test_fraction=0)
        >>> [s.value for s in assign_parts(["relay", "diode", "diode"], ["b1", "b1", "b2"], cfg, seed=0)]
        ['val', 'train', 'train']
    """
    val_classes, test_classes = held_out(cfg)
    pairs = list(zip(labels, groups, strict=True))
    home = _rank((g for c, g in pairs if c not in val_classes | test_classes), cfg, seed)
    return [Split.TEST if c in test_classes else Split.VAL if c in val_classes else home[g] for c, g in pairs]


def assign(components: pd.DataFrame, cfg: SplitParams, seed: int) -> pd.DataFrame:
    """Add a ``split`` column to the ``ok`` rows of a components manifest.

    Rows that are not ``ok`` keep their status and reason, with ``split`` null, so they
    stay visible downstream without being used.

    Args:
        components: columns ``id``, ``class_label``, ``group``, ``status``, ``error``
            (``origin`` and ``group_by`` are carried when present).
        cfg: ``params.split`` (``strict_boards`` picks the rule).
        seed: ``base.seed``.

    Returns:
        A frame with :data:`COLUMNS`, sorted by ``id``.
    """
    df = components.copy()
    for optional in ("origin", "group_by"):
        if optional not in df.columns:
            df[optional] = None
    ok = df["status"] == "ok"
    # A component without a group is its own group: it cannot straddle splits anyway.
    df["group"] = df["group"].where(df["group"].notna() & (df["group"] != ""), df["id"])
    labels = [str(c) for c in df.loc[ok, "class_label"]]
    group_ids = [str(g) for g in df.loc[ok, "group"]]
    df["split"] = None
    if cfg.strict_boards:
        classes_by_group: dict[str, list[str]] = {}
        for group, label in zip(group_ids, labels, strict=True):
            classes_by_group.setdefault(group, []).append(label)
        whole = assign_groups(classes_by_group, cfg, seed)
        df.loc[ok, "split"] = [whole[g].value for g in group_ids]
    else:
        df.loc[ok, "split"] = [s.value for s in assign_parts(labels, group_ids, cfg, seed)]
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
    # Non-strict, a held-out part may leave its group; the group's seen-class parts may not part.
    kept = ok if cfg.strict_boards else ok[~ok["class_label"].isin(val_classes | test_classes)]
    spread = kept.groupby("group")["split"].nunique()
    split_groups = sorted(spread[spread > 1].index.astype(str))
    if split_groups:
        problems.append(f"groups split across splits: {split_groups[:5]}")
    if ok["split"].isna().any():
        problems.append("ok rows without a split")
    return problems


def held_out_cost(df: pd.DataFrame, cfg: SplitParams) -> tuple[int, int]:
    """``(components, groups)``: seen-class parts on groups that hold a held-out class, and those groups.

    Under ``strict_boards`` these parts left train with their group; otherwise they stayed
    where their group went (and their context patches may show a held-out neighbour).
    """
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


def report(df: pd.DataFrame, cfg: SplitParams) -> dict[str, Any]:
    """Per split: components, of seen and of unseen (held-out) classes, and groups; plus the rule.

    Example:
        >>> cfg = SplitParams(val_classes=["relay"], test_classes=[], val_fraction=0, test_fraction=0)
        >>> df = pd.DataFrame({"id": ["a", "b"], "class_label": ["relay", "diode"], "group": ["b1", "b1"],
        ...                    "split": ["val", "train"], "status": ["ok", "ok"]})
        >>> report(df, cfg)["splits"]["val"]
        {'components': 1, 'seen': 0, 'unseen': 1, 'groups': 1}
    """
    ok = df[df["status"] == "ok"]
    unseen = ok["class_label"].isin(frozenset.union(*held_out(cfg)))
    splits = {}
    for s in Split:
        here = ok["split"] == s.value
        splits[s.value] = {
            "components": int(here.sum()),
            "seen": int((here & ~unseen).sum()),
            "unseen": int((here & unseen).sum()),
            "groups": int(ok.loc[here, "group"].nunique()),
        }
    cost, cost_groups = held_out_cost(df, cfg)
    return {
        "strict_boards": cfg.strict_boards,
        "val_classes": sorted(cfg.val_classes),
        "test_classes": sorted(cfg.test_classes),
        "splits": splits,
        "not_ok": int(len(df) - len(ok)),
        "seen_on_held_out_groups": {"components": cost, "groups": cost_groups},
    }


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
    # (status, split, error) by id: three cells a row, not a dict of every column each.
    errors = split["error"] if "error" in split.columns else [None] * len(split)
    by_id = {str(i): (st, sp, er) for i, st, sp, er in zip(split["id"], split["status"], split["split"], errors)}
    values: list[str] = []
    reasons: list[str | None] = []  # None: the component has a split
    for cid in components["id"].astype(str):
        row = by_id.get(cid)
        value = cell_value(row[1]) if row is not None else None
        if row is None:
            reasons.append(f"component is not in {where} (stale split: re-run `pcbforge split`)")
        elif row[0] != Status.OK.value:
            why = cell_value(row[2]) or "no reason given"
            reasons.append(f"split status {row[0]!r} in {where} ({why})")
        elif value not in SPLITS:
            reasons.append(f"split {value!r} in {where} is not one of {sorted(SPLITS)}")
        else:
            reasons.append(None)
            values.append(value)
    joined = components.iloc[[i for i, r in enumerate(reasons) if r is None]]
    joined = joined.assign(split=values)
    unmatched = components.iloc[[i for i, r in enumerate(reasons) if r is not None]]
    unmatched = unmatched.assign(reason=[r for r in reasons if r is not None])
    return joined.reset_index(drop=True), unmatched.reset_index(drop=True)
