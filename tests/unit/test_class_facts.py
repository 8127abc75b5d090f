"""Defects and positives follow the class facts of the taxonomy, not a hard-coded list of classes.

Pads by ``mount`` and ``pads`` (SMD: rectangular lands, never a drill hole; THT: round pads
with one), turns by ``polarised`` and ``symmetry`` (a polarised part is never turned 180
degrees as a positive; a part symmetric under a quarter turn may be turned 90 degrees).
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from pcbforge.augment.functional import replay, rotation_angles
from pcbforge.augment.scene import Canvas, Scene, draw_pads, pad_layout
from pcbforge.augment.transforms import PositiveAugment, make_defect
from pcbforge.taxonomy import ClassInfo, Mount, Symmetry, Taxonomy
from pcbforge.vocab import DefectType

BOARD = (30, 110, 60)
S, M = 64, 16  # view side, canvas margin


def _part_mask(w: int = 40, h: int = 18) -> np.ndarray:
    fg = np.zeros((S, S), np.uint8)
    fg[S // 2 - h // 2 : S // 2 + h // 2, S // 2 - w // 2 : S // 2 + w // 2] = 255
    return fg


def _canvas() -> Canvas:
    img = np.empty((S + 2 * M, S + 2 * M, 3), np.float32)
    img[:] = BOARD
    return Canvas(img=img, ox=M, oy=M, size=S, real_context=False)


def _dark(img: np.ndarray) -> np.ndarray:
    """Drill-hole pixels: near black (the board's green channel is 110, tin ~190)."""
    return img.max(axis=-1) < 70


def _info(mount: Mount, pads: int, polarised: bool = False, symmetry: Symmetry = Symmetry.HALF) -> ClassInfo:
    return ClassInfo("part", mount, polarised, symmetry, pads)


@pytest.mark.parametrize("pads", [1, 2, 3, 4, 5, 8, 14])
def test_smd_lands_never_have_a_drill_hole(pads: int) -> None:
    canvas = _canvas()
    centres = draw_pads(canvas, _part_mask(), _info(Mount.SMD, pads), tin_shift=-18.0)
    assert len(centres) == pads
    lands = canvas.img.max(axis=2) > 150  # tin drawn
    assert lands.sum() > 0
    assert not _dark(canvas.img).any()  # no hole anywhere, inside a land or not
    # Each land is filled: tin at every pad centre.
    for x, y in centres:
        assert lands[int(round(y)) + M, int(round(x)) + M]


@pytest.mark.parametrize("pads", [1, 2, 3, 4, 8])
def test_tht_pads_each_have_a_drill_hole(pads: int) -> None:
    canvas = _canvas()
    centres = draw_pads(canvas, _part_mask(), _info(Mount.THT, pads))
    assert len(centres) == pads
    dark = _dark(canvas.img)
    n_holes, _ = cv2.connectedComponents(dark.astype(np.uint8))
    assert n_holes - 1 == pads
    for x, y in centres:
        assert dark[int(round(y)) + M, int(round(x)) + M]


def test_no_pads_drawn_for_a_class_with_zero_pads() -> None:
    canvas = _canvas()
    before = canvas.img.copy()
    assert draw_pads(canvas, _part_mask(), _info(Mount.THT, 0)) == []
    assert np.array_equal(canvas.img, before)


def test_many_pads_sit_in_two_rows_along_the_long_sides() -> None:
    lay = pad_layout(_part_mask(w=44, h=20), _info(Mount.SMD, 8))
    xs = np.array([p[0] for p in lay.points])
    ys = np.array([p[1] for p in lay.points])
    # A horizontal part: one row above its axis, one below, four each, spread along x.
    assert (ys < S / 2).sum() == 4 and (ys > S / 2).sum() == 4
    assert len(set(np.round(xs, 3))) == 4 and xs.max() - xs.min() > 20
    # Inside the footprint (what a removed part's fill replaces).
    assert (ys > S / 2 - 10).all() and (ys < S / 2 + 10).all()


def _scene(info: ClassInfo | None, label: str = "part") -> Scene:
    view = np.empty((S, S, 3), np.uint8)
    view[:] = BOARD
    view += np.random.default_rng(0).integers(0, 6, size=view.shape, dtype=np.uint8)
    cv2.rectangle(view, (14, 24), (50, 40), (25, 25, 25), -1)
    cv2.rectangle(view, (44, 24), (50, 40), (220, 220, 220), -1)  # polarity band
    return Scene(view=view, class_label=label, info=info)


def test_missing_part_of_an_smd_class_leaves_lands_and_replays() -> None:
    scene = _scene(_info(Mount.SMD, 2, polarised=True))
    img, mask, params = make_defect(DefectType.MISSING, scene, np.random.default_rng(3))
    assert params["pads"] and len(params["pad_centres"]) == 2
    assert not _dark(img[mask > 0]).any()  # body gone, and no drill hole in its place
    tht = make_defect(DefectType.MISSING, _scene(_info(Mount.THT, 2)), np.random.default_rng(3))
    assert _dark(tht[0][tht[1] > 0]).any()  # the same part as THT: its pads have holes
    again, _, again_params = replay(scene, json.dumps(params))
    assert np.array_equal(again, img) and again_params == params


def test_unknown_class_gets_conservative_facts_and_no_pads() -> None:
    scene = _scene(None, label="mystery_part")
    assert scene.facts == ClassInfo.conservative("mystery_part")
    img, mask, params = make_defect(DefectType.MISSING, scene, np.random.default_rng(3))
    assert params["pads"] is False and params["pad_centres"] == []
    # A turn of it is always a defect, 180 included.
    assert rotation_angles(scene.facts) == ((25.0, 180.0), True)


def _band_on_the_right(img: np.ndarray) -> bool:
    g = img.astype(np.float32).mean(axis=2)
    return float(g[:, S // 2 :].mean()) > float(g[:, : S // 2].mean())


def test_polarised_class_never_gets_a_180_turn_as_a_positive() -> None:
    led = ClassInfo("led", Mount.SMD, True, Symmetry.HALF, 2)
    aug = PositiveAugment(p_flip180=1.0)  # would always turn a part where turning is allowed
    view = _scene(led).view
    for i in range(60):
        img, rec = aug(view, led, np.random.default_rng(i))
        assert rec["rot180"] is False and "quarter_turns" not in rec
        assert _band_on_the_right(img), i  # the polarity band stayed where it was
    assert PositiveAugment.invisible_turns(led) == []


def test_half_symmetric_non_polarised_class_turns_180_only() -> None:
    res = ClassInfo("resistor", Mount.THT, False, Symmetry.HALF, 2)
    recs = [PositiveAugment(p_flip180=0.5)(_scene(res).view, res, np.random.default_rng(i))[1] for i in range(40)]
    assert {r["rot180"] for r in recs} == {True, False}
    assert not any("quarter_turns" in r for r in recs)
    assert rotation_angles(res) == ((25.0, 155.0), False)


def test_quarter_symmetric_non_polarised_class_may_turn_90_degrees() -> None:
    pad_array = ClassInfo("pad_array", Mount.SMD, False, Symmetry.QUARTER, 4)
    aug = PositiveAugment(p_flip180=0.75)
    view = _scene(pad_array).view
    seen = {}
    for i in range(80):
        img, rec = aug(view, pad_array, np.random.default_rng(i))
        assert rec["rot180"] is (rec["quarter_turns"] == 2)
        seen.setdefault(rec["quarter_turns"], img)
    assert set(seen) == {0, 1, 2, 3}
    # One quarter turn counter-clockwise takes the band from the right edge to the top.
    g = seen[1].astype(np.float32).mean(axis=2)
    assert float(g[: S // 2].mean()) > float(g[S // 2 :].mean())
    # As a defect, only turns between the quarter turns count.
    (lo, hi), allow_180 = rotation_angles(pad_array)
    assert (lo, hi, allow_180) == (25.0, 65.0, False)
    angles = [make_defect(DefectType.ROTATION, _scene(pad_array), np.random.default_rng(i))[2]["angle"] for i in range(8)]
    assert all(25 <= abs(a) <= 65 for a in angles), angles


def test_polarised_class_rotation_defect_may_be_the_180_turn() -> None:
    led = ClassInfo("led", Mount.SMD, True, Symmetry.HALF, 2)
    angles = [make_defect(DefectType.ROTATION, _scene(led), np.random.default_rng(i))[2]["angle"] for i in range(12)]
    assert any(abs(a) == 180 for a in angles)


def test_default_taxonomy_keeps_todays_rules() -> None:
    # The rules the defects always used: these classes are polarised, these have 3 pads, these are SMD.
    tax = Taxonomy.default()
    polarised = {c.name for c in tax if PositiveAugment.invisible_turns(c) == []}
    assert polarised == {"capacitor", "diode", "smd_diode", "transistor", "smd_transistor", "converter", "relay"}
    assert {c.name for c in tax if c.pads == 3} == {"transistor", "smd_transistor", "converter"}
    assert {c.name for c in tax if c.mount is Mount.SMD} == {"smd_capacitor", "smd_diode", "smd_transistor"}
