"""Thin transform classes over :mod:`pcbforge.augment.functional`.

A transform holds its configuration (which defects, which ranges), draws the random choices
with the generator it is given, and calls a pure function; it holds no random state itself.

* :class:`RandomDefect` picks a defect kind allowed for the scene (``wrong_part`` needs a
  donor) and applies it: a *negative*.
* :class:`PositiveAugment` is the *positive*: the same part as it could look on another
  capture (small brightness/contrast/hue change, slight blur or sensor noise, a shift or
  turn within placement tolerance) built on albumentations, plus a 180 degree turn only for
  non-polarised classes, where that turn is not a defect.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import albumentations as A
import cv2
import numpy as np

from pcbforge.augment.functional import DEFECTS, DefectResult, Scene, apply_defect, is_polarised
from pcbforge.vocab import DefectType


class RandomDefect:
    """Apply one defect drawn uniformly from ``kinds`` (those the scene supports).

    Args:
        kinds: defect kinds to draw from (order does not matter: they are sorted).
        ranges: optional per-kind keyword ranges passed to the functional, e.g.
            ``{"shift": {"frac": (0.2, 0.4)}}``.

    Example:
        >>> import numpy as np
        >>> from pcbforge.augment.functional import Scene
        >>> view = np.full((48, 48, 3), 50, np.uint8); view[14:34, 10:38] = 210
        >>> img, mask, p = RandomDefect(["gray_patch"])(Scene(view, "diode"), np.random.default_rng(1))
        >>> p["kind"]
        'gray_patch'
    """

    def __init__(self, kinds: Sequence[DefectType | str], ranges: dict[str, dict[str, Any]] | None = None) -> None:
        self.kinds = sorted({DefectType(k) for k in kinds}, key=lambda k: k.value)
        unknown = [k.value for k in self.kinds if k not in DEFECTS]
        if unknown:
            raise ValueError(f"no defect generator for {unknown}; known: {sorted(k.value for k in DEFECTS)}")
        self.ranges = {DefectType(k): dict(v) for k, v in (ranges or {}).items()}

    def available(self, scene: Scene) -> list[DefectType]:
        """Kinds that can be applied to ``scene`` (``wrong_part`` only with a donor)."""
        return [k for k in self.kinds if k is not DefectType.WRONG_PART or scene.donor is not None]

    def __call__(self, scene: Scene, rng: np.random.Generator, kind: DefectType | str | None = None) -> DefectResult:
        """Apply ``kind`` (or one drawn from :meth:`available`) to ``scene``.

        Raises:
            ValueError: no kind applies (e.g. only ``wrong_part`` and no donor).
        """
        if kind is None:
            choices = self.available(scene)
            if not choices:
                raise ValueError(f"none of {[k.value for k in self.kinds]} applies to this component (no donor)")
            kind = choices[int(rng.integers(len(choices)))]
        k = DefectType(kind)
        return apply_defect(k, scene, rng, **self.ranges.get(k, {}))


class PositiveAugment:
    """Photometric + within-tolerance geometric augmentation: the same part, still good.

    Args:
        brightness: max relative brightness change.
        contrast: max relative contrast change.
        hue: max hue shift (OpenCV hue units, 0..180 scale).
        shift: max translation as a fraction of the side (placement tolerance).
        rotate: max rotation in degrees (placement tolerance).
        p_flip180: probability of a 180 degree turn, applied only to non-polarised classes.
    """

    def __init__(
        self,
        brightness: float = 0.12,
        contrast: float = 0.12,
        hue: float = 4.0,
        shift: float = 0.03,
        rotate: float = 4.0,
        p_flip180: float = 0.5,
    ) -> None:
        self.p_flip180 = p_flip180
        self.settings = {
            "brightness": brightness,
            "contrast": contrast,
            "hue": hue,
            "shift": shift,
            "rotate": rotate,
        }
        self.compose = A.Compose(
            [
                A.Affine(
                    translate_percent=(-shift, shift),
                    rotate=(-rotate, rotate),
                    scale=(0.97, 1.03),
                    border_mode=cv2.BORDER_REFLECT_101,
                    p=0.9,
                ),
                A.RandomBrightnessContrast(brightness_limit=brightness, contrast_limit=contrast, p=0.9),
                A.HueSaturationValue(hue_shift_limit=hue, sat_shift_limit=10, val_shift_limit=0, p=0.6),
                A.OneOf(
                    [
                        A.GaussianBlur(blur_limit=(3, 3), sigma_limit=(0.3, 0.9)),
                        A.GaussNoise(std_range=(0.01, 0.03)),
                        A.ImageCompression(quality_range=(75, 95)),
                    ],
                    p=0.6,
                ),
            ],
            seed=0,
            save_applied_params=True,
        )

    def __call__(
        self, image: np.ndarray, class_label: str, rng: np.random.Generator
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Return the augmented image and a JSON-able record of what was applied."""
        flip = (not is_polarised(class_label)) and bool(rng.random() < self.p_flip180)
        img = np.ascontiguousarray(np.rot90(image, 2)) if flip else image
        # albumentations keeps its own generators; reseed them from our stream for each call
        # so the result depends only on this item's rng (not on call order or worker).
        self.compose.set_random_seed(int(rng.integers(0, 2**31 - 1)))
        out = self.compose(image=img)
        applied = sorted(out.get("applied_transforms", []) and [t[0] for t in out["applied_transforms"]])
        return out["image"], {"rot180": flip, "applied": applied, **self.settings}
