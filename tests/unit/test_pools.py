"""Candidate pools of the triplets stage: compact columns that give back the components put in."""

from __future__ import annotations

import pickle
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from pcbforge.datasets.triplets import ClassPool, Component, pools_by_split


def _comp(i: int, cls: str = "resistor", split: str = "train", board: int | None = 0) -> Component:
    return Component(
        id=f"c{i:05d}", class_label=cls, split=split, crop_path=Path(f"/p/crops/c{i:05d}.png"),
        context_path=None if board is None else Path(f"/p/boards/b{board}.png"),
        context_box=None if board is None else (0.1 * i, 2.5, 3.25 + i, 7.0),
        view_margin=0.25 * (i % 3), origin="web" if board is None else "board",
        source_url=f"http://127.0.0.1/p/{i}" if board is None else None,
        licence="CC-BY-4.0", author="someone",
    )


def test_pool_gives_back_every_component_sorted_by_id() -> None:
    comps = [_comp(i, board=None if i % 2 else i % 4) for i in (7, 3, 11, 0, 5)]
    pool = ClassPool(comps)
    assert len(pool) == 5
    assert list(pool) == sorted(comps, key=lambda c: c.id)
    assert pool[-1] == max(comps, key=lambda c: c.id)
    with pytest.raises(IndexError):
        pool[5]


def test_without_leaves_out_exactly_that_component() -> None:
    comps = [_comp(i) for i in range(6)]
    pool = ClassPool(comps)
    for c in comps:
        rest = pool.without(c.id)
        assert list(rest) == [d for d in comps if d.id != c.id]
        assert len(rest) == 5
    assert list(pool.without("not-there")) == comps
    assert list(ClassPool([comps[0]]).without(comps[0].id)) == []
    assert pool.without(comps[0].id)[-1] == comps[-1]
    with pytest.raises(ValueError, match="more than once"):
        ClassPool([comps[0], comps[1], comps[0]])


def test_pools_by_split_groups_by_split_then_class() -> None:
    comps = [_comp(0, "relay", "val"), _comp(1, "resistor", "train"), _comp(2, "relay", "train"),
             _comp(3, "relay", "train")]
    pools = pools_by_split(comps)
    assert sorted(pools) == ["train", "val"]
    assert sorted(pools["train"]) == ["relay", "resistor"]
    assert [c.id for c in pools["train"]["relay"]] == ["c00002", "c00003"]
    assert [c.id for c in pools["val"]["relay"]] == ["c00000"]


def _held(blob: bytes) -> int:
    """Bytes the objects unpickled from ``blob`` hold (what a pool worker keeps)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = pickle.loads(blob)  # noqa: F841 (alive while measured)
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_a_worker_holds_a_fraction_of_the_components_as_objects() -> None:
    comps = [_comp(i, board=i // 20) for i in range(2000)]
    blob = pickle.dumps(ClassPool(comps))
    assert _held(blob) < 0.35 * _held(pickle.dumps(comps))
    assert list(pickle.loads(blob)) == comps


def test_the_augment_module_does_not_load_torch_but_torch_still_imports_after() -> None:
    code = (
        "import sys; import pcbforge.augment.transforms as t; assert 'torch' not in sys.modules, 'torch loaded'; "
        "assert t.A.__name__ == 'albumentations'; import torch; print(torch.zeros(2).sum().item())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0.0"


def test_pools_from_the_anchors_share_their_tables_and_still_leave_one_out() -> None:
    comps = [_comp(i, cls=("relay", "resistor")[i % 2], split=("train", "val")[i % 3 == 0]) for i in range(30)]
    anchors = ClassPool(reversed(comps))  # any iterable, read once
    assert list(anchors) == comps and anchors[3:6] == comps[3:6]
    from_objects, from_anchors = pools_by_split(comps), pools_by_split(anchors)
    assert list(from_objects) == list(from_anchors) == ["train", "val"]
    for split, pools in from_anchors.items():
        assert list(pools) == list(from_objects[split])
        for cls, pool in pools.items():
            assert list(pool) == list(from_objects[split][cls])
            assert pool._tables is anchors._tables
            for c in pool:
                assert list(pool.without(c.id)) == [d for d in pool if d.id != c.id]
    with pytest.raises(ValueError, match="increasing rows"):
        anchors.take(np.array([3, 1]))


def test_take_refuses_rows_that_would_break_the_order() -> None:
    pool = ClassPool(_comp(i) for i in range(5))
    with pytest.raises(IndexError):
        pool.take(np.array([-1, 0]))
    with pytest.raises(ValueError, match="integer rows"):
        pool.take(np.array([True, False, True, False, True]))
    assert [c.id for c in pool.take(np.array([1, 3]))] == ["c00001", "c00003"]
