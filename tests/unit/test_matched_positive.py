"""Artifact-matched positives: the negatives' fill machinery on bare board, never on the part."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pcbforge.augment.functional import REFILL_GUARD, refill_board
from pcbforge.augment.scene import Scene, dilate, hole_pad, part_mask
from pcbforge.augment.transforms import artifact_matched_positive, sample_refill_board


def _scene(with_context: bool = True) -> Scene:
    """A light part on a textured green board, with (or without) its context patch."""
    rng = np.random.default_rng(7)
    ctx = np.zeros((128, 128, 3), np.uint8)
    ctx[...] = (40, 110, 60)
    ctx = np.clip(ctx + rng.normal(0, 6, ctx.shape), 0, 255).astype(np.uint8)
    ctx[52:76, 44:84] = (205, 200, 190)  # the part: box (44, 52, 84, 76)
    if not with_context:
        view = ctx[32:96, 32:96].copy()
        return Scene(view=view, class_label="resistor")
    # View as the crop stage makes it: square centred on the box, side = 40 * 1.1 = 44.
    view = np.ascontiguousarray(ctx[42:86, 42:86])
    return Scene(view=view, class_label="resistor", context=ctx, context_box=(44, 52, 84, 76), view_margin=0.1)


@pytest.mark.parametrize("with_context", [True, False])
@pytest.mark.parametrize("seed", range(6))
def test_changes_pixels_only_inside_its_mask_and_its_mask_does_not_touch_the_part(
    with_context: bool, seed: int
) -> None:
    scene = _scene(with_context)
    img, mask, params = artifact_matched_positive(scene, np.random.default_rng(seed))
    assert img.shape == scene.view.shape and mask.shape == scene.view.shape[:2]
    changed = (img != scene.view).any(axis=2)
    assert not (changed & (mask == 0)).any(), "a pixel outside the mask changed"
    part = part_mask(scene) > 0
    assert part.any()
    assert not (mask.astype(bool) & part).any(), "the refill touches the part"
    # Nor the part's removal rim (what a 'missing' would fill), with the guard around it.
    rim = dilate(part.astype(np.uint8) * 255, hole_pad(scene.view.shape[0]) + REFILL_GUARD) > 0
    assert not (mask.astype(bool) & rim).any()
    assert params["kind"] == "refill_board"
    json.dumps(params)  # recorded in positive_params


def test_it_does_change_the_board_and_replays() -> None:
    scene = _scene()
    rng = np.random.default_rng(3)
    p = sample_refill_board(scene, rng)
    img, mask, _ = refill_board(scene, **p)
    assert mask.any() and (img != scene.view).any()
    again, mask2, _ = refill_board(scene, **p)
    assert (again == img).all() and (mask2 == mask).all()


def test_a_part_filling_the_view_gets_an_empty_mask_and_an_unchanged_image() -> None:
    view = np.full((40, 40, 3), 200, np.uint8)
    view[:2] = view[-2:] = 60
    view[:, :2] = view[:, -2:] = 60
    scene = Scene(view=view, class_label="resistor")
    img, mask, _ = refill_board(scene, center=[20, 20], size=[30, 20], angle=0.0, texture_offsets=[[0, 10]])
    assert not (mask.astype(bool) & (part_mask(scene) > 0)).any()
    assert not ((img != view).any(axis=2) & (mask == 0)).any()
