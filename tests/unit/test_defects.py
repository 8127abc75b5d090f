"""Synthetic defects: each changes the part inside its mask and nothing outside it, and replays."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from pcbforge.augment.functional import DEFECTS, register, replay, rotation_angles
from pcbforge.augment.scene import Scene, part_mask
from pcbforge.augment.transforms import SAMPLERS, make_defect, register_sampler, sample_defect
from pcbforge.taxonomy import Taxonomy
from pcbforge.vocab import ComponentClass, DefectType

S = 64
KINDS = [k for k in DefectType if k in DEFECTS]


def _board(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.float32)
    img[:] = (30, 110, 60)
    img += rng.normal(0, 3, size=(h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _scene(cls: str = "diode", with_context: bool = True, donor: bool = True) -> Scene:
    """A part (dark body + light band + two pads) on a board; context twice the box."""
    ctx = _board(96, 96)
    cv2.rectangle(ctx, (34, 40), (62, 56), (25, 25, 25), -1)
    cv2.rectangle(ctx, (56, 40), (60, 56), (220, 220, 220), -1)
    for x in (28, 68):
        cv2.circle(ctx, (x, 48), 4, (200, 198, 190), -1)
    box = (24.0, 36.0, 72.0, 60.0)  # the part's box inside the context
    side = 48 * 1.1
    left, top = 48 - side / 2, 48 - side / 2
    k = S / side
    mat = np.float32([[k, 0, -left * k], [0, k, -top * k]])
    view = cv2.warpAffine(ctx, mat, (S, S), flags=cv2.INTER_AREA)
    d = None
    if donor:
        dv = _board(S, S, 1)
        cv2.ellipse(dv, (32, 32), (14, 10), 0, 0, 360, (40, 70, 160), -1)
        d = Scene(view=dv, class_label="capacitor")
    return Scene(
        view=view,
        class_label=cls,
        context=ctx if with_context else None,
        context_box=box if with_context else None,
        view_margin=0.1,
        donor=d,
        donor_id="donor-1" if donor else None,
    )


def test_registry_covers_every_defect_kind_but_none_and_simulated() -> None:
    assert set(DEFECTS) == set(DefectType) - {DefectType.NONE, DefectType.SIMULATED_SHAPE}
    assert set(SAMPLERS) == set(DEFECTS)


def test_part_mask_finds_the_part_not_the_board() -> None:
    scene = _scene()
    m = part_mask(scene) > 0
    assert m[32, 32]  # body centre
    assert not m[4, 4] and not m[60, 60]  # board corners
    assert 0.1 < m.mean() < 0.6


@pytest.mark.parametrize("with_context", [True, False])
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.value)
def test_defect_changes_inside_mask_only(kind: DefectType, with_context: bool) -> None:
    scene = _scene(with_context=with_context)
    img, mask, params = make_defect(kind, scene, np.random.default_rng(3))
    assert img.shape == scene.view.shape and img.dtype == np.uint8
    assert mask.shape == scene.view.shape[:2] and mask.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 255}
    inside = mask > 0
    assert inside.sum() >= 0.02 * S * S, "mask must cover a visible region"
    diff = np.abs(img.astype(int) - scene.view.astype(int)).max(axis=2)
    assert diff[~inside].max() == 0, "pixels outside the mask must be the anchor's own"
    assert diff[inside].mean() > 8, "the defect must visibly change its region"
    assert params["kind"] == kind.value
    json.dumps(params)  # JSON-able


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.value)
def test_defect_is_deterministic_for_a_given_rng(kind: DefectType) -> None:
    scene = _scene()
    a = make_defect(kind, scene, np.random.default_rng(11))
    b = make_defect(kind, scene, np.random.default_rng(11))
    c = make_defect(kind, scene, np.random.default_rng(12))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
    assert not np.array_equal(a[0], c[0])  # another stream, another defect


@pytest.mark.parametrize("cls", [c.value for c in ComponentClass])
def test_rotation_180_only_for_polarised_classes(cls: str) -> None:
    scene = _scene(cls=cls, donor=False)
    angles = [make_defect(DefectType.ROTATION, scene, np.random.default_rng(i))[2]["angle"] for i in range(12)]
    (lo, hi), allow_180 = rotation_angles(Taxonomy.default()[cls])
    polarised = Taxonomy.default()[cls].polarised
    assert allow_180 is polarised
    if polarised:
        assert any(abs(a) == 180 for a in angles)  # reversed polarity is drawn
    else:
        assert all(25 <= abs(a) <= 155 for a in angles), angles


def test_wrong_part_records_donor_and_needs_one() -> None:
    img, mask, params = make_defect(DefectType.WRONG_PART, _scene(), np.random.default_rng(0))
    assert params["donor_id"] == "donor-1" and params["donor_class"] == "capacitor"
    with pytest.raises(ValueError, match="donor"):
        make_defect(DefectType.WRONG_PART, _scene(donor=False), np.random.default_rng(0))


def test_missing_draws_pads_on_a_board() -> None:
    img, mask, params = make_defect(DefectType.MISSING, _scene("resistor"), np.random.default_rng(0))
    assert params["pads"] and len(params["pad_centres"]) == 2
    # The dark body is gone: no near-black pixels left inside the mask except drill holes.
    body = img[28:36, 22:36]
    assert body.mean() > 50


def test_new_kind_is_one_function_plus_registration() -> None:
    kind = DefectType.SIMULATED_SHAPE

    def invert(scene: Scene, *, rows: int) -> tuple[np.ndarray, np.ndarray, dict]:
        mask = np.zeros(scene.view.shape[:2], np.uint8)
        mask[:rows] = 255
        img = scene.view.copy()
        img[:rows] = 255 - img[:rows]
        return img, mask, {"kind": kind.value, "rows": rows}

    def sample_invert(scene: Scene, rng: np.random.Generator) -> dict:
        return {"rows": int(rng.integers(4, 12))}

    try:
        register(kind)(invert)
        register_sampler(kind)(sample_invert)
        img, mask, params = make_defect(kind, _scene(), np.random.default_rng(0))
        assert params["kind"] == kind.value and mask[: params["rows"]].all()
        assert np.array_equal(replay(_scene(), params)[0], img)
    finally:
        DEFECTS.pop(kind, None)
        SAMPLERS.pop(kind, None)


def test_no_pads_on_a_product_photo() -> None:
    s = _scene("resistor")
    web = Scene(view=s.view, class_label="resistor", context=s.context, context_box=s.context_box, origin="web")
    for kind in (DefectType.MISSING, DefectType.SHIFT, DefectType.ROTATION):
        assert make_defect(kind, web, np.random.default_rng(0))[2]["pads"] is False
    assert make_defect(DefectType.MISSING, s, np.random.default_rng(0))[2]["pads"] is True


def test_gray_patch_edge_is_blended_not_pasted() -> None:
    scene = _scene()
    img, mask, _ = make_defect(DefectType.GRAY_PATCH, scene, np.random.default_rng(2))
    inner = cv2.erode(mask, np.ones((3, 3), np.uint8))
    rim = (mask > 0) & (inner == 0)
    full = (cv2.erode(mask, np.ones((7, 7), np.uint8)) > 0)
    # On the rim the result lies between anchor and patch: less changed than deep inside.
    diff = np.abs(img.astype(float) - scene.view.astype(float)).mean(axis=2)
    assert rim.any() and full.any()
    assert diff[rim].mean() < diff[full].mean()


@pytest.mark.parametrize("with_context", [True, False])
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.value)
def test_recorded_params_replay_to_the_same_pixels(kind: DefectType, with_context: bool) -> None:
    scene = _scene(with_context=with_context)
    for seed in range(3):
        img, mask, params = make_defect(kind, scene, np.random.default_rng(seed))
        row = json.dumps(params, sort_keys=True)  # as triplets.parquet stores it
        again, again_mask, again_params = replay(scene, row)
        assert np.array_equal(again, img) and np.array_equal(again_mask, mask)
        assert json.dumps(again_params, sort_keys=True) == row  # replaying records the same row


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.value)
def test_sampler_draws_apply_applies(kind: DefectType) -> None:
    """The sampled values alone decide the pixels: another draw of them gives another defect."""
    scene = _scene()
    a = sample_defect(kind, scene, np.random.default_rng(5))
    b = sample_defect(kind, scene, np.random.default_rng(5))
    assert a == b and "kind" not in a
    img = DEFECTS[kind](scene, **a)[0]
    other = DEFECTS[kind](scene, **sample_defect(kind, scene, np.random.default_rng(6)))[0]
    assert not np.array_equal(img, other)


def test_replay_refuses_an_unknown_kind() -> None:
    with pytest.raises(ValueError):
        replay(_scene(), {"kind": "solder_splash"})


def test_gray_patch_colour_stands_out_from_the_part() -> None:
    from pcbforge.augment.transforms import MIN_CONTRAST, _lab

    # A grey part: the old grey patch (grey 80-190) was often its own colour.
    ctx = _board(96, 96)
    cv2.rectangle(ctx, (28, 38), (68, 58), (150, 150, 146), -1)
    scene = Scene(
        view=cv2.resize(ctx[21:75, 21:75], (S, S)),
        class_label="ic",
        context=ctx,
        context_box=(28.0, 38.0, 69.0, 59.0),
        view_margin=0.1,
    )
    part = _lab(scene.view[part_mask(scene) > 0].mean(axis=0))[0]
    for seed in range(12):
        p = sample_defect(DefectType.GRAY_PATCH, scene, np.random.default_rng(seed))
        assert np.linalg.norm(_lab(p["color"])[0] - part) >= MIN_CONTRAST


def test_lifted_changes_much_of_the_part_and_uncovers_a_pad() -> None:
    scene = _scene()
    part = part_mask(scene) > 0
    for seed in range(3):
        img, mask, p = make_defect(DefectType.LIFTED, scene, np.random.default_rng(seed))
        diff = np.abs(img.astype(int) - scene.view.astype(int)).max(axis=2)
        # The old lift moved a small part by a few pixels; a tilt of 25-60 degrees shows.
        assert (diff[part] > 30).mean() > 0.2
        assert p["pads"] is True
