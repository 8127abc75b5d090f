"""Transforms: the positive augmentation is photometric and respects polarity; RandomDefect picks allowed kinds."""

from __future__ import annotations

import numpy as np
import pytest

from pcbforge.augment.scene import Scene
from pcbforge.augment.transforms import PositiveAugment, RandomDefect
from pcbforge.taxonomy import Taxonomy
from pcbforge.vocab import ComponentClass

TAX = Taxonomy.default()


def _view() -> np.ndarray:
    img = np.full((48, 48, 3), (30, 110, 60), np.uint8)
    img[16:32, 10:38] = (25, 25, 25)
    img[16:32, 32:36] = (220, 220, 220)  # polarity band on the right
    return img


@pytest.mark.parametrize("cls", [c.value for c in ComponentClass])
def test_positive_turns_180_only_non_polarised(cls: str) -> None:
    aug = PositiveAugment(p_flip180=0.5)
    flips = [aug(_view(), TAX[cls], np.random.default_rng(i))[1]["rot180"] for i in range(16)]
    if TAX[cls].polarised:
        assert not any(flips)
    else:
        assert any(flips) and not all(flips)


def test_positive_stays_close_to_the_anchor_and_is_deterministic() -> None:
    aug = PositiveAugment(p_flip180=0.0)
    view = _view()
    a, pa = aug(view, TAX["diode"], np.random.default_rng(5))
    b, pb = PositiveAugment(p_flip180=0.0)(view, TAX["diode"], np.random.default_rng(5))
    assert np.array_equal(a, b) and pa == pb
    assert a.shape == view.shape and a.dtype == np.uint8
    # Small change: the band stays on the right half (no flip), mean colour stays near.
    gray = a.mean(axis=2)
    assert gray[:, 24:].max() > gray[:, :24].max()
    assert abs(float(a.mean()) - float(view.mean())) < 25


def test_random_defect_skips_wrong_part_without_donor() -> None:
    rd = RandomDefect(["wrong_part", "gray_patch"])
    scene = Scene(view=_view(), class_label="diode")
    assert [k.value for k in rd.available(scene)] == ["gray_patch"]
    kinds = {rd(scene, np.random.default_rng(i))[2]["kind"] for i in range(5)}
    assert kinds == {"gray_patch"}
    with pytest.raises(ValueError, match="no donor"):
        RandomDefect(["wrong_part"])(scene, np.random.default_rng(0))


def test_random_defect_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError):
        RandomDefect(["melted"])
