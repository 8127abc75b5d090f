"""Photo groups: which board photos show one physical board, so that they share a split.

Twenty photos of one board are twenty board photos to the crop stage, each its own
``group``. If some land in train and others in test, the model is evaluated on parts it has
seen. The split stage therefore gives every board photo a **photo group** from up to three
sources (``params.split.groups``), which add up:

* ``pattern``: a regex searched in the board name (``parent_id``); its named group ``group``
  is the key, so ``^(?P<group>board\\d+)_`` puts ``board7_top`` and ``board7_left`` together;
* ``csv``: a file with columns ``board`` and ``group``;
* ``hash``: near-identical photos (both perceptual hashes within ``hash_distance``), found
  by the split stage with the dedup decode path and passed here as links.

Photos linked by any source share a group (union-find over the links). A group is named
after its smallest CSV key, else its smallest pattern key, else its smallest board name, so
an ungrouped board keeps its own name as before. Web photos keep their dedup cluster.

Union-find chains (A~B and B~C puts A with C even when A and C differ). For keys that is
what the user asked for; for hashes it can merge different boards, which only ever makes a
group larger (never a leak), and the split stage warns when a hash group grows large.

Example:
    >>> boards = ["b7_top", "b7_left", "b8"]
    >>> g = photo_groups(boards, {"pattern": pattern_keys(boards, r"^(?P<group>b\\d+)_")}, [])
    >>> g["b7_left"], g["b8"]
    (PhotoGroup(group='b7', by='pattern'), PhotoGroup(group='b8', by='board'))
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from pcbforge.errors import InputError

#: Sources of a photo group, in the order their keys name a group; ``board`` = no link, own name.
KEY_SOURCES: tuple[str, ...] = ("csv", "pattern")
#: ``group_by`` of a board photo linked to no other, and of a web photo (its dedup cluster).
BY_BOARD, BY_CLUSTER, BY_HASH = "board", "cluster", "hash"


class PhotoGroup(NamedTuple):
    """A board photo's group and how it was formed (``board``, or sources joined by ``+``)."""

    group: str
    by: str


def pattern_keys(boards: Iterable[str], pattern: str) -> dict[str, str]:
    """``board -> key`` for the boards whose name ``pattern`` matches (``re.search``).

    Args:
        boards: Board names (``parent_id`` of board rows).
        pattern: A regex with a named group ``group`` (checked when params load).

    Returns:
        The key of each matching board; a board that does not match, or whose ``group`` is
        empty, is left out (it keeps its own group).

    Example:
        >>> pattern_keys(["IMG_b3_1", "IMG_b3_2", "other"], r"_(?P<group>b\\d+)_")
        {'IMG_b3_1': 'b3', 'IMG_b3_2': 'b3'}
    """
    rx = re.compile(pattern)
    out = {}
    for board in boards:
        m = rx.search(board)
        if m and m.group("group"):
            out[board] = m.group("group")
    return out


def parse_group_csv(text: str, where: str) -> dict[str, str]:
    """``board -> group`` from a CSV with a header naming ``board`` and ``group`` (other columns ignored).

    Raises:
        InputError: a missing column, an empty cell, or a board given two different groups,
            naming ``where`` and the line.

    Example:
        >>> parse_group_csv("board,group\\nb1,A\\nb2,A\\n", "groups.csv")
        {'b1': 'A', 'b2': 'A'}
    """
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("board", "group") if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(f"{where}:1: no column {', '.join(missing)} (the header must name board and group)")
    out: dict[str, str] = {}
    for row in reader:
        line = reader.line_num
        board, group = (row.get("board") or "").strip(), (row.get("group") or "").strip()
        if not board or not group:
            raise InputError(f"{where}:{line}: empty board or group")
        if out.get(board, group) != group:
            raise InputError(f"{where}:{line}: board {board!r} is in group {out[board]!r} already, not {group!r}")
        out[board] = group
    return out


def read_group_csv(path: Path, where: str) -> dict[str, str]:
    """:func:`parse_group_csv` of a file (``where``: its name as errors show it)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{where}: split.groups.csv not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{where}: unreadable split.groups.csv ({exc.__class__.__name__})") from None
    return parse_group_csv(text, where)


class _UnionFind:
    def __init__(self, items: Iterable[str]) -> None:
        self.parent = {i: i for i in items}

    def find(self, x: str) -> str:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:  # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:  # the smaller name becomes the root, so the result does not depend on link order
            lo, hi = sorted((ra, rb))
            self.parent[hi] = lo


def photo_groups(
    boards: Sequence[str],
    keys: Mapping[str, Mapping[str, str]],
    links: Iterable[tuple[str, str]],
) -> dict[str, PhotoGroup]:
    """The photo group of every board.

    Args:
        boards: Board names.
        keys: ``source -> board -> key`` (sources of :data:`KEY_SOURCES`): boards sharing a
            key of one source share a group.
        links: Pairs of near-identical boards (source ``hash``); boards not in ``boards`` are ignored.

    Returns:
        ``board -> PhotoGroup``, sorted by board. The group is the smallest key of the first
        source in :data:`KEY_SOURCES` that any member has, else the smallest member name;
        ``by`` lists the sources that linked or named it (``board`` for a lone photo).

    Example:
        >>> photo_groups(["a", "b", "c"], {}, [("c", "b")])["c"]
        PhotoGroup(group='b', by='hash')
    """
    names = sorted(set(boards))
    uf = _UnionFind(names)
    for source in KEY_SOURCES:
        first: dict[str, str] = {}
        for board, key in sorted(keys.get(source, {}).items()):
            if board in uf.parent:
                uf.union(first.setdefault(key, board), board)
    hashed: set[str] = set()
    for a, b in links:
        if a in uf.parent and b in uf.parent and a != b:
            uf.union(a, b)
            hashed.update((a, b))
    members: dict[str, list[str]] = {}
    for board in names:
        members.setdefault(uf.find(board), []).append(board)
    out: dict[str, PhotoGroup] = {}
    for group_members in members.values():
        by = [s for s in KEY_SOURCES if any(m in keys.get(s, {}) for m in group_members)]
        if any(m in hashed for m in group_members):
            by.append(BY_HASH)
        named = next(
            (min(keys[s][m] for m in group_members if m in keys[s]) for s in KEY_SOURCES if s in by), min(group_members)
        )
        shown = PhotoGroup(named, "+".join(by) or BY_BOARD)
        for m in group_members:
            out[m] = shown
    return dict(sorted(out.items()))


def apply_groups(components: pd.DataFrame, board_groups: Mapping[str, PhotoGroup]) -> pd.DataFrame:
    """A copy of ``components`` with ``group`` set to each board photo's photo group and a ``group_by`` column.

    Board rows (``origin == "board"``) are looked up by ``parent_id``; a board missing from
    ``board_groups`` keeps its group (``by`` = ``board``). Web rows keep their dedup cluster
    (``cluster``); other rows get a null ``group_by``.

    Example:
        >>> df = pd.DataFrame({"origin": ["board", "web"], "parent_id": ["b1", "w"], "group": ["b1", "c9"]})
        >>> apply_groups(df, {"b1": PhotoGroup("B", "csv")})[["group", "group_by"]].values.tolist()
        [['B', 'csv'], ['c9', 'cluster']]
    """
    df = components.copy()
    group_by: list[str | None] = []
    groups: list[object] = []
    for origin, parent, group in zip(df["origin"], df["parent_id"], df["group"], strict=True):
        if origin == "board":
            found = board_groups.get(str(parent)) if parent is not None else None
            groups.append(found.group if found else group)
            group_by.append(found.by if found else BY_BOARD)
        else:
            groups.append(group)
            group_by.append(BY_CLUSTER if origin == "web" else None)
    df["group"] = groups
    df["group_by"] = group_by
    return df
