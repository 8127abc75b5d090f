"""The mask-coverage benchmark (benchmarks/bench_masks.py) measures what it says on hand-made scenes."""

from __future__ import annotations

import numpy as np

from benchmarks.bench_masks import box_in_view, draws_drill, facts_of, shares
from pcbforge.augment.scene import Scene
from pcbforge.taxonomy import ClassInfo, Taxonomy


def test_shares_counts_mask_inside_and_outside_the_box() -> None:
    mask = np.zeros((20, 20), np.uint8)
    mask[5:10, 5:15] = 255  # 50 px inside a 10x10 box at (5, 5)
    mask[0:2, 0:5] = 255  # 10 px outside it
    inside, outside = shares(mask, (5, 5, 15, 15))
    assert inside == 0.5
    assert outside == 0.1


def test_box_in_view_maps_the_labelled_box_into_the_view() -> None:
    # A 40x20 box in a 100x100 context; margin 0: the view is the 40 px square around it.
    ctx = np.zeros((100, 100, 3), np.uint8)
    scene = Scene(view=np.zeros((40, 40, 3), np.uint8), class_label="x", context=ctx, context_box=(30, 40, 70, 60))
    assert box_in_view(scene) == (0, 10, 40, 30)


def test_pads_with_drill_holes_follow_the_taxonomy_facts() -> None:
    tax = Taxonomy.default()
    assert not draws_drill(facts_of(tax, "smd_capacitor"))
    assert not draws_drill(facts_of(tax, "Chip Capacitor"))  # an alias of smd_capacitor
    assert draws_drill(facts_of(tax, "resistor"))
    # A foreign name the taxonomy does not map gets no pads at all, so no drill holes.
    assert facts_of(tax, "chip-resistor") == ClassInfo.conservative("chip-resistor")
    assert not draws_drill(facts_of(tax, "chip-resistor"))
