"""SSDS shape generator: masks match changed pixels in the defected frame, poses stay in bounds, runs repeat."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcbforge.augment.ssds import (
    MIN_CONTRAST,
    SHAPE_KINDS,
    TEXTURES,
    Pose,
    apply_pose,
    draw_shape,
    make_texture,
    pose_matrix,
    simulate_pair,
)
from pcbforge.rng import make_rng


def board(size: int = 48, seed: int = 0) -> np.ndarray:
    """A textured board-like image, so a wrong warp or a stray pixel shows up."""
    rng = np.random.default_rng(seed)
    img = np.zeros((size, size, 3), np.uint8)
    img[:] = (25, 110, 50)
    img[size // 4 : 3 * size // 4, size // 3 : 2 * size // 3] = (180, 160, 40)
    return np.clip(img.astype(np.int16) + rng.integers(-20, 21, img.shape), 0, 255).astype(np.uint8)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 4))
def test_mask_is_exactly_the_changed_pixels_in_the_defected_frame(i: int, max_shapes: int) -> None:
    template = board()
    t, d, m, p = simulate_pair(template, make_rng(1, "ssds", i), max_shapes=max_shapes)
    background = apply_pose(template, Pose(**p["pose"]))
    changed = (d != background).any(axis=2)
    assert set(np.unique(m)) <= {0, 255}
    assert m.shape == template.shape[:2]
    assert m.any()
    np.testing.assert_array_equal(changed, m == 255)
    # every masked pixel is visibly different, not off by a rounding step
    diff = np.abs(d.astype(int) - background.astype(int)).max(axis=2)
    assert diff[m == 255].min() >= MIN_CONTRAST
    np.testing.assert_array_equal(t, template)
    assert 1 <= len(p["shapes"]) <= max_shapes


def test_mask_is_not_in_the_template_frame_when_pose_is_large() -> None:
    # A large shift must move the defected background, so template pixels no longer line up.
    template = board(64)
    _, d, m, p = simulate_pair(template, make_rng(3, "ssds"), max_shift_px=6, max_rotation_deg=0, jitter_px=0)
    assert abs(p["pose"]["dx"]) > 0 or abs(p["pose"]["dy"]) > 0
    outside = m == 0
    assert not np.array_equal(d[outside], template[outside])
    np.testing.assert_array_equal(d[outside], apply_pose(template, Pose(**p["pose"]))[outside])


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 10_000),
    st.floats(0, 5, allow_nan=False),
    st.floats(0, 10, allow_nan=False),
    st.floats(0, 1, allow_nan=False),
)
def test_pose_within_bounds(i: int, shift: float, rot: float, jitter: float) -> None:
    _, _, _, p = simulate_pair(
        board(16), make_rng(0, "pose", i), max_shift_px=shift, max_rotation_deg=rot, jitter_px=jitter
    )
    mis, jit, pose = p["misalignment"], p["jitter"], p["pose"]
    eps = 1e-5
    assert abs(mis["dx"]) <= shift + eps and abs(mis["dy"]) <= shift + eps
    assert abs(mis["angle"]) <= rot + eps and pose["angle"] == mis["angle"]
    assert abs(jit["dx"]) <= jitter + eps and abs(jit["dy"]) <= jitter + eps
    assert pose["dx"] == pytest.approx(mis["dx"] + jit["dx"], abs=2e-6)
    assert abs(pose["dx"]) <= shift + jitter + eps and abs(pose["dy"]) <= shift + jitter + eps


def test_zero_pose_keeps_background_identical() -> None:
    template = board()
    _, d, m, p = simulate_pair(template, make_rng(0, "z"), max_shift_px=0, max_rotation_deg=0, jitter_px=0)
    assert p["pose"] == {"dx": 0.0, "dy": 0.0, "angle": 0.0}
    np.testing.assert_array_equal(d[m == 0], template[m == 0])


def test_same_generator_same_pair_and_different_keys_differ() -> None:
    template = board()
    a = simulate_pair(template, make_rng(7, "simulate", 3))
    b = simulate_pair(template, make_rng(7, "simulate", 3))
    c = simulate_pair(template, make_rng(7, "simulate", 4))
    for x, y in zip(a[:3], b[:3], strict=True):
        np.testing.assert_array_equal(x, y)
    assert json.dumps(a[3], sort_keys=True) == json.dumps(b[3], sort_keys=True)
    assert not np.array_equal(a[2], c[2])


def test_params_are_json_ready() -> None:
    _, _, _, p = simulate_pair(board(), make_rng(0, "json"), max_shapes=4)
    assert json.loads(json.dumps(p)) == p
    assert {s["kind"] for s in p["shapes"]} <= set(SHAPE_KINDS)
    assert {s["texture"] for s in p["shapes"]} <= set(TEXTURES)


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


def test_pose_matrix_rotates_about_the_centre() -> None:
    m = pose_matrix(Pose(0, 0, 90), (11, 11))
    centre = np.array([5.0, 5.0, 1.0])
    np.testing.assert_allclose(m @ centre, [5.0, 5.0], atol=1e-9)
    # 90 degrees counter-clockwise as displayed: a point to the right of centre goes up
    np.testing.assert_allclose(m @ np.array([8.0, 5.0, 1.0]), [5.0, 2.0], atol=1e-9)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="uint8"):
        simulate_pair(np.zeros((8, 8), np.uint8), make_rng(0))
    with pytest.raises(ValueError, match="max_shapes"):
        simulate_pair(board(8), make_rng(0), max_shapes=0)
    with pytest.raises(ValueError, match="unknown shape"):
        draw_shape("star", (8, 8), make_rng(0))
