"""The per-scene memo and the removal cache reuse work without changing any result."""

from __future__ import annotations

import numpy as np

from pcbforge.augment import scene as sc
from pcbforge.augment.functional import apply_defect
from pcbforge.augment.transforms import sample_defect


def _scene() -> sc.Scene:
    rng = np.random.default_rng(3)
    ctx = np.full((96, 96, 3), (30, 90, 40), np.uint8) + rng.integers(0, 12, (96, 96, 3), dtype=np.uint8)
    ctx[38:58, 30:66] = (20, 20, 20)  # a dark chip body on green board
    view = ctx[24:72, 24:72].copy()
    return sc.Scene(view=view, class_label="resistor", context=ctx, context_box=(30, 38, 66, 58), view_margin=0.333)


def test_memo_hands_out_copies() -> None:
    s = _scene()
    m1 = sc.part_mask(s)
    m1[:] = 0
    c1 = sc.make_canvas(s)
    c1.img[:] = -1
    assert sc.part_mask(s).any()
    assert sc.make_canvas(s).img.min() >= 0


def test_cached_results_equal_fresh_ones() -> None:
    s = _scene()
    rng = np.random.default_rng(7)
    params = sample_defect("missing", s, rng)
    first = apply_defect("missing", s, **params)
    # A scene with the same pixels but an empty memo, and an empty removal cache: computed afresh.
    sc._REMOVAL_CACHE.clear()
    fresh = sc.Scene(view=s.view.copy(), class_label=s.class_label, context=s.context.copy(),
                     context_box=s.context_box, view_margin=s.view_margin)
    again = apply_defect("missing", fresh, **params)
    assert first[0].tobytes() == again[0].tobytes() and first[1].tobytes() == again[1].tobytes()
    assert first[1].any()


def test_with_donor_shares_memo() -> None:
    s = _scene()
    sc.part_mask(s)
    d = s.with_donor(_scene(), "other")
    assert d.memo is s.memo and d.donor_id == "other"
