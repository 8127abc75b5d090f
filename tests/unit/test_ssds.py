"""SSDS simulator: masks land on the defects, shapes move within the assembly bound, poses honour their ranges, pairs replay."""

from __future__ import annotations

import json
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcbforge.augment.scene import Scene
from pcbforge.augment.ssds import (
    COVERED,
    MIN_CONTRAST,
    RENDERER,
    SHAPE_KINDS,
    TEXTURES,
    Pose,
    canvas_matrix,
    draw_shape,
    make_texture,
    pose_matrix,
    render_pair,
    render_shape,
    render_shapes_canvases,
    sample_shapes_scene,
    shape_region,
    simulate_pair,
    simulate_shapes,
    warp_mask,
)
from pcbforge.config import SimulateParams
from pcbforge.datasets.pairs import recipe_columns, replay
from pcbforge.rng import make_rng

#: Solid shapes, big enough that two bilinear warps move the outline by well under 10 % of the area.
SOLID = SimulateParams(
    image_size=128, shape_kinds=["polygon", "ellipse", "blob"], shape_size=(0.08, 0.14), pose_only_fraction=0.0
)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def defect_region_in_template_frame(recipe: dict[str, Any]) -> np.ndarray:
    """Where the defects are, drawn straight from their geometry (not from the mask)."""
    c, off, size = recipe["canvas"], recipe["offset"], recipe["size"]
    full = np.zeros((c, c), bool)
    for d in recipe["defects"]:
        shape = d.get("shape") or recipe["shapes"][d["index"]]
        move = recipe["shapes"][d["index"]]["assembly"] if "index" in d else (0.0, 0.0)
        for s in [shape, recipe["shapes"][d["index"]]] if d["kind"] == "changed" else [shape]:
            full |= shape_region(s, (c, c), tuple(move))
    return full[off : off + size, off : off + size]


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000))
def test_mask_warped_back_with_the_recorded_pose_lands_on_the_defects(i: int) -> None:
    _, _, mask, recipe = simulate_shapes(make_rng(2, "iou", i), SOLID)
    assert recipe["defects"] or len(recipe["shapes"]) == 0, "pose_only_fraction 0 must give defects"
    size = recipe["size"]
    pose = Pose(**recipe["pose"])
    back = warp_mask(mask, pose, inverse=True) > 0
    # Only the part of the template frame the defected view shows can come back.
    seen = warp_mask(np.full((size, size), 255, np.uint8), pose, inverse=True)
    # 2 px inside the view's edge, where the bilinear warp cuts no outline short.
    seen = cv2.erode(seen, np.ones((5, 5), np.uint8)) > 0
    truth = defect_region_in_template_frame(recipe) & seen
    if truth.sum() < 100:  # the pose moved the defects out of view
        return
    assert iou(back & seen, truth) >= 0.9


def test_every_defect_kind_is_drawn_and_most_masks_are_in_view() -> None:
    kinds = {"added": 0, "removed": 0, "changed": 0}
    masked = 0
    for i in range(30):
        _, _, mask, recipe = simulate_shapes(make_rng(3, "kinds", i), SOLID)
        for d in recipe["defects"]:
            kinds[d["kind"]] += 1
        masked += bool(mask.any())
    assert all(kinds.values()), kinds
    # The paper's ±50 px shift can carry a defect out of view, but not most of them.
    assert masked >= 20


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.floats(0, 6, allow_nan=False))
def test_every_shape_moves_by_at_most_the_assembly_bound(i: int, bound: float) -> None:
    # Flat shapes on a flat background: a pixel's change is proportional to how much the
    # shape covers it, so the change's centroid is the drawn shape's centroid.
    sp = SimulateParams(image_size=96, assembly_px=bound, textures=["flat"], backgrounds=["flat"])
    recipe = sample_shapes_scene(make_rng(4, "assembly", i), sp)
    template, clean, _, _ = render_shapes_canvases(recipe)
    bg = np.array(recipe["background"]["color"])
    c = recipe["canvas"]
    for s in recipe["shapes"]:
        assert abs(s["assembly"][0]) <= bound and abs(s["assembly"][1]) <= bound
        if render_shape(s)[2].sum() < 10:  # a sliver of a polygon (random vertices in a line): no centroid to speak of
            continue
        # Measured on the drawn canvases, around this shape only (shapes stay 2 * bound + 2 px apart).
        near = shape_region(s, (c, c), (0.0, 0.0)) | shape_region(s, (c, c), tuple(s["assembly"]))
        near = cv2.dilate(near.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        moved = _centroid(np.abs(clean.astype(int) - bg).max(axis=2) * near) - _centroid(
            np.abs(template.astype(int) - bg).max(axis=2) * near
        )
        assert np.hypot(*moved) <= bound * np.sqrt(2) + 0.2
        # To a fifth of a pixel (an aliased outline was off by up to a pixel on small shapes).
        np.testing.assert_allclose(moved, s["assembly"], atol=0.2)


def _centroid(weights: np.ndarray) -> np.ndarray:
    ys, xs = np.mgrid[0 : weights.shape[0], 0 : weights.shape[1]]
    w = weights.sum()
    return np.array([(xs * weights).sum() / w, (ys * weights).sum() / w])


def test_a_moved_shape_is_the_same_picture_moved() -> None:
    """A sub-pixel shift moves the outline and the fill together: shifting the picture back undoes it.

    Gradient fills, which bilinear resampling moves exactly (to a level); a fill anchored at a
    whole pixel slides against its outline by up to half a pixel: 2-7 levels on most pixels.
    A few pixels may differ more where the fill crosses the background's colour and the
    contrast rule (:func:`paste`) turns them, so the check is on three quarters of the pixels.
    """
    sp = SimulateParams(image_size=96, assembly_px=3.0, backgrounds=["flat"], textures=["gradient"])
    checked = 0
    for i in range(40):
        recipe = sample_shapes_scene(make_rng(9, "moved", i), sp)
        template, clean, _, _ = render_shapes_canvases(recipe)
        c = recipe["canvas"]
        for s in recipe["shapes"]:
            dx, dy = s["assembly"]
            back = cv2.warpAffine(clean, np.array([[1.0, 0, -dx], [0, 1.0, -dy]]), (c, c), flags=cv2.INTER_LINEAR)
            inside = cv2.erode(shape_region(s, (c, c)).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
            if inside.sum() < 20:
                continue
            err = np.abs(back[inside].astype(int) - template[inside].astype(int)).max(axis=1)
            assert np.percentile(err, 75) <= 1, (i, s["kind"], float(np.percentile(err, 75)))
            checked += 1
    assert checked >= 10


@pytest.mark.parametrize("scale", [(0.5, 0.55), (1.6, 1.7)])
def test_scale_outside_the_paper_range_is_honoured(scale: tuple[float, float]) -> None:
    sp = SOLID.model_copy(update={"scale": scale, "shift_px": 5.0})
    ratios = []
    for i in range(6):
        _, defected, mask, recipe = simulate_shapes(make_rng(5, "scale", i), sp)
        s = recipe["pose"]["scale"]
        assert scale[0] <= s <= scale[1]
        _, _, _, region = render_shapes_canvases(recipe)
        # Areas scale by s²: the mask in the defected view against the defects on the canvas.
        visible = cv_visible(recipe)
        if (region & visible).sum() > 100:
            ratios.append((mask > 0).sum() / (region & visible).sum() / s**2)
    assert ratios and all(0.85 <= r <= 1.15 for r in ratios), ratios


def cv_visible(recipe: dict[str, Any]) -> np.ndarray:
    """Canvas pixels the defected view shows."""
    size, c = recipe["size"], recipe["canvas"]
    mat = canvas_matrix(Pose(**recipe["pose"]), size, recipe["offset"])
    ones = np.full((size, size), 255, np.uint8)
    back = cv2.warpAffine(ones, mat, (c, c), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    return back >= 128


def test_pose_only_pairs_have_empty_masks_and_only_the_pose_changes() -> None:
    sp = SimulateParams(image_size=96, pose_only_fraction=1.0, assembly_px=0.0)
    for i in range(5):
        template, defected, mask, recipe = simulate_shapes(make_rng(6, "pose-only", i), sp)
        assert recipe["defects"] == [] and not mask.any()
        # With no assembly error, the defected view is the template's canvas under the pose.
        canvas, clean, _, _ = render_shapes_canvases(recipe)
        np.testing.assert_array_equal(canvas, clean)


def test_defect_region_is_what_changed_on_the_canvas() -> None:
    """Only pixels a defect shape touches change; every masked pixel changed visibly."""
    for i in range(20):
        recipe = sample_shapes_scene(make_rng(7, "exact", i), SimulateParams(image_size=96))
        _, clean, defected, region = render_shapes_canvases(recipe)
        c = recipe["canvas"]
        touched = np.zeros((c, c), bool)  # any coverage at all by a removed, changed or added shape
        for d in recipe["defects"]:
            olds = [recipe["shapes"][d["index"]]] if "index" in d else []
            move = tuple(olds[0]["assembly"]) if olds else (0.0, 0.0)
            for s in olds + ([d["shape"]] if "shape" in d else []):
                x0, y0, cov = render_shape(s, move)
                touched[y0 : y0 + cov.shape[0], x0 : x0 + cov.shape[1]] |= cov > 0
        diff = np.abs(clean.astype(int) - defected.astype(int)).max(axis=2)
        assert not (diff > 0)[~touched].any(), f"pair {i}: pixels changed where no defect is"
        if recipe["defects"]:
            assert region.any()


@pytest.mark.parametrize("kinds", [["changed"], ["added", "removed", "changed"]])
def test_every_pixel_a_defect_covers_changed_visibly(kinds: list[str]) -> None:
    """Pixels a defect covers by half or more changed by at least that share of MIN_CONTRAST, so the mask keeps them.

    A changed shape is drawn on bare background but must stand out from the old shape: the
    blend itself is checked (before, 8 of 200 such pairs had a pixel the new shape covered by
    0.8 within 6 levels of the old one). Only where a new shape's faint rim lies over the old
    shape may the mask lose a pixel (``visibly_changed``): under 2 % here.
    """
    sp = SimulateParams(image_size=64, defects=kinds, pose_only_fraction=0.0)
    drawn = kept = 0
    for i in range(150):
        recipe = sample_shapes_scene(make_rng(7, "contrast", i), sp)
        _, clean, defected, region = render_shapes_canvases(recipe)
        c = recipe["canvas"]
        diff = np.abs(clean.astype(int) - defected.astype(int)).max(axis=2)
        for d in recipe["defects"]:
            old = recipe["shapes"][d["index"]] if "index" in d else None
            move = tuple(old["assembly"]) if old else (0.0, 0.0)
            new = shape_region(d["shape"], (c, c), move) if "shape" in d else np.zeros((c, c), bool)
            assert diff[new].min(initial=255) >= int(COVERED * MIN_CONTRAST), f"pair {i}: {d['kind']}"
            candidates = new | (shape_region(old, (c, c), move) if old else False)
            drawn += int(candidates.sum())
            kept += int((candidates & region).sum())
    assert kept >= 0.98 * drawn, (kept, drawn)


@pytest.mark.parametrize("preset", ["paper", "small"])
def test_the_pose_never_looks_past_the_canvas(preset: str) -> None:
    sp = SimulateParams(image_size=64, preset=preset, scale=(0.5, 1.2) if preset == "paper" else None)
    for i in range(20):
        recipe = sample_shapes_scene(make_rng(8, "border", i), sp)
        c, size = recipe["canvas"], recipe["size"]
        mat = canvas_matrix(Pose(**recipe["pose"]), size, recipe["offset"])
        seen = cv2.warpAffine(np.full((c, c), 255, np.uint8), mat, (size, size), flags=cv2.INTER_LINEAR)
        assert seen.min() == 255, recipe["pose"]


def test_presets_and_overrides_set_the_pose_ranges() -> None:
    paper = SimulateParams().pose_ranges()
    assert (paper.shift_px, paper.rotation_deg, paper.scale) == (50.0, (0.0, 180.0), (0.8, 1.2))
    small = SimulateParams(preset="small", scale=(0.9, 1.1)).pose_ranges()
    assert (small.shift_px, small.rotation_deg, small.scale) == (2.0, (-2.0, 2.0), (0.9, 1.1))
    for i in range(30):
        p = sample_shapes_scene(make_rng(9, "ranges", i), SimulateParams(image_size=48))["pose"]
        assert abs(p["dx"]) <= 50 and abs(p["dy"]) <= 50 and 0 <= p["angle"] < 180 and 0.8 <= p["scale"] <= 1.2


@pytest.mark.parametrize("mode", ["shapes", "board"])
def test_a_pair_replays_byte_for_byte_from_its_manifest_columns(mode: str) -> None:
    rng = make_rng(10, "replay")
    if mode == "shapes":
        made = simulate_shapes(rng, SimulateParams(image_size=64))
        scene = None
    else:
        scene = board_scene()
        made = simulate_pair(scene, rng, SimulateParams(mode="board", preset="paper", pose_only_fraction=0))
    row = json.loads(json.dumps(recipe_columns(made[3])))
    for a, b in zip(replay(row, scene), made[:3], strict=True):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


def board_scene(size: int = 48) -> Scene:
    """A view cut from the middle of a larger, textured context patch."""
    rng = np.random.default_rng(0)
    context = rng.integers(0, 256, (3 * size, 3 * size, 3)).astype(np.uint8)
    context = np.asarray(np.clip(context // 4 + 60, 0, 255), np.uint8)
    view = context[size : 2 * size, size : 2 * size].copy()
    return Scene(view=view, class_label="", context=context, context_box=(size, size, 2 * size, 2 * size))


def test_board_pairs_show_real_context_where_the_pose_uncovers_it() -> None:
    scene = board_scene()
    size = scene.view.shape[0]
    sp = SimulateParams(mode="board", preset="small", shift_px=10.0, pose_only_fraction=1.0)
    for i in range(5):
        template, defected, mask, recipe = simulate_pair(scene, make_rng(11, "board", i), sp)
        np.testing.assert_array_equal(template, scene.view)
        assert not mask.any()
        # The defected view is the context itself under the pose: nothing mirrored or invented.
        mat = canvas_matrix(Pose(**recipe["pose"]), size, size)
        truth = cv2.warpAffine(scene.context, mat, (size, size), flags=cv2.INTER_LINEAR)
        assert np.abs(truth.astype(int) - defected.astype(int)).max() <= 1


def test_board_default_is_the_small_preset_and_masks_the_added_shapes() -> None:
    view = board_scene().view
    t, d, m, p = simulate_pair(view, make_rng(12, "default"))
    np.testing.assert_array_equal(t, view)
    assert p["mode"] == "board" and abs(p["pose"]["angle"]) <= 2 and p["pose"]["scale"] == 1.0
    assert all(d_["kind"] == "added" for d_ in p["defects"])


def test_params_are_json_ready() -> None:
    _, _, _, p = simulate_shapes(make_rng(0, "json"), SimulateParams(image_size=64))
    assert json.loads(json.dumps(p)) == p
    assert {s["kind"] for s in p["shapes"]} <= set(SHAPE_KINDS)
    assert {s["fill"]["texture"] for s in p["shapes"]} <= set(TEXTURES)


@pytest.mark.parametrize("kind", SHAPE_KINDS)
def test_every_shape_kind_draws_pixels_inside_the_image(kind: str) -> None:
    for i in range(5):
        mask, desc = draw_shape(kind, (40, 30), make_rng(0, kind, i))
        assert mask.shape == (40, 30) and mask.dtype == bool
        assert mask.sum() > 0, desc
        assert mask.sum() < mask.size // 2, "a defect should not cover the whole part"
        assert desc["kind"] == kind


@pytest.mark.parametrize("kind", TEXTURES)
def test_textures(kind: str) -> None:
    tex, desc = make_texture(kind, (20, 24), make_rng(0, kind))
    assert tex.shape == (20, 24, 3) and tex.dtype == np.uint8
    assert desc["texture"] == kind
    if kind == "flat":
        assert len(np.unique(tex.reshape(-1, 3), axis=0)) == 1
    else:
        assert len(np.unique(tex.reshape(-1, 3), axis=0)) > 1


def test_pose_matrix_rotates_and_scales_about_the_centre() -> None:
    m = pose_matrix(Pose(0, 0, 90), (11, 11))
    centre = np.array([5.0, 5.0, 1.0])
    np.testing.assert_allclose(m @ centre, [5.0, 5.0], atol=1e-9)
    # 90 degrees counter-clockwise as displayed: a point to the right of centre goes up
    np.testing.assert_allclose(m @ np.array([8.0, 5.0, 1.0]), [5.0, 2.0], atol=1e-9)
    m = pose_matrix(Pose(1, 0, 0, 2.0), (11, 11))
    np.testing.assert_allclose(m @ np.array([8.0, 5.0, 1.0]), [12.0, 5.0], atol=1e-9)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="uint8"):
        simulate_pair(np.zeros((8, 8), np.uint8), make_rng(0))
    with pytest.raises(ValueError, match="unknown shape"):
        draw_shape("star", (8, 8), make_rng(0))
    with pytest.raises(ValueError, match="scene"):
        render_pair({"mode": "board", "renderer": RENDERER, "size": 8, "offset": 4})
    # A row drawn before anti-aliasing (no renderer key) cannot replay its pixels: it says so.
    recipe = sample_shapes_scene(make_rng(0, "old"), SimulateParams(image_size=32))
    del recipe["renderer"]
    with pytest.raises(ValueError, match="renderer 1 .* re-run `pcbforge simulate`"):
        render_pair(recipe)
