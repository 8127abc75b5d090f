"""Thin transforms over :mod:`pcbforge.augment.functional`: samplers draw, functions apply.

A sampler (``sample_<kind>``, registered in :data:`SAMPLERS`) draws one defect's concrete
values from its ranges with the generator it is given, looking at the scene only where a
value depends on it (a point of the part, the canvas size); the functional applies them.
This is albumentations' split of a transform (``get_params``) from its functional layer,
and it is what lets a recorded ``defect_params`` row be replayed
(:func:`pcbforge.augment.functional.replay`). Samplers draw in a fixed order, the same
order the defects drew in before the split, so a seed gives the same pixels as it did.

* :class:`RandomDefect` picks a defect kind allowed for the scene (``wrong_part`` needs a
  donor), samples it and applies it: a *negative*.
* :class:`PositiveAugment` is the *positive*: the same part as it could look on another
  capture (small brightness/contrast/hue change, slight blur or sensor noise, a shift or
  turn within placement tolerance) built on albumentations, plus a turn the class's facts
  say is invisible (180 degrees for a non-polarised part symmetric under it, 90, 180 or 270
  for one symmetric under a quarter turn; never for a polarised part).
"""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np

from pcbforge.augment.functional import (
    DEFECTS,
    DefectResult,
    apply_defect,
    generator_state,
    refill_board,
    rotation_angles,
)
from pcbforge.augment.scene import Scene, canvas_margin, part_geometry, part_mask
from pcbforge.taxonomy import ClassInfo
from pcbforge.vocab import DefectType


def _albumentations_without_torch() -> Any:
    """Import albumentations; without its PyTorch bridge when this process has not loaded torch.

    ``albumentations/__init__.py`` imports its ``pytorch`` module (``ToTensorV2``) whenever
    torch is installed, and suppresses the ``ImportError`` when it is not. Nothing here uses
    that bridge, and importing torch costs every triplets/simulate pool worker ~470 MB of
    resident memory (646 MB for ``import pcbforge.pipelines.triplets``, 175 MB without).
    So while albumentations is first imported, ``sys.modules["torch"] = None`` makes
    ``import torch`` raise ``ImportError`` (the documented meaning of a ``None`` entry), and the
    entry is removed again: a later ``import torch`` in the same process works as usual.
    A process that has already loaded torch (training, a test session) imports as before.
    One difference for code that imports torch later in such a process: ``A.ToTensorV2`` is
    then not an attribute of the package; ``from albumentations.pytorch import ToTensorV2``
    (albumentations' documented import) works.
    """
    if "albumentations" in sys.modules or "torch" in sys.modules:
        return importlib.import_module("albumentations")
    sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        return importlib.import_module("albumentations")
    finally:
        del sys.modules["torch"]


A = _albumentations_without_torch()

Sampler = Callable[..., dict[str, Any]]

#: DefectType -> sampler drawing that defect's parameters. Filled by :func:`register_sampler`.
SAMPLERS: dict[DefectType, Sampler] = {}


def register_sampler(kind: DefectType) -> Callable[[Sampler], Sampler]:
    """Register ``fn`` as the sampler of defect ``kind``: ``fn(scene, rng, **ranges) -> params``."""

    def deco(fn: Sampler) -> Sampler:
        SAMPLERS[kind] = fn
        return fn

    return deco


def _uniform(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    lo, hi = lo_hi
    return float(rng.uniform(lo, hi)) if hi > lo else float(lo)


def texture_offsets(rng: np.random.Generator, scene: Scene, tries: int = 12) -> list[list[int]]:
    """Candidate ``(dy, dx)`` offsets :func:`~pcbforge.augment.scene.remove_part` takes board texture from.

    Each lies within half the canvas (the view plus :func:`~pcbforge.augment.scene.canvas_margin`
    on each side); the remover keeps the one overlapping the hole least.
    """
    side = scene.view.shape[0] + 2 * canvas_margin(scene.view.shape[0])
    return [[int(v) for v in rng.integers(-side // 2, side // 2 + 1, size=2)] for _ in range(tries)]


def _tin_shift(rng: np.random.Generator) -> float:
    # Drawn even when no pads are drawn (the apply decides that from the image): it is the
    # last draw of every kind that may draw pads, so nothing after it moves.
    return float(rng.uniform(-18, 12))


#: What lands on a part in a plant (RGB, before jitter): red SMT glue, amber flux residue,
#: grey solder paste or dust, white residue, dark dirt or burn.
CONTAMINANTS: tuple[tuple[float, float, float], ...] = (
    (196.0, 48.0, 40.0),
    (196.0, 150.0, 62.0),
    (150.0, 150.0, 146.0),
    (228.0, 226.0, 214.0),
    (52.0, 44.0, 38.0),
)
#: Least Lab distance between a contaminant and the part under it: a blob of the part's own
#: colour teaches nothing (the old grey patch often was the grey of an IC's body).
MIN_CONTRAST = 35.0


def _lab(rgb: np.ndarray) -> np.ndarray:
    px = np.clip(np.rint(np.asarray(rgb, np.float64)), 0, 255).astype(np.uint8).reshape(1, -1, 3)
    return cv2.cvtColor(px, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float64)


@register_sampler(DefectType.GRAY_PATCH)
def sample_gray_patch(
    scene: Scene,
    rng: np.random.Generator,
    *,
    size_frac: tuple[float, float] = (0.22, 0.45),
    opacity: tuple[float, float] = (0.8, 0.97),
    sheen: tuple[float, float] = (0.08, 0.3),
    grain: tuple[float, float] = (0.8, 1.5),
) -> dict[str, Any]:
    """Centre on a random pixel of the part; long axis ``size_frac`` of the part's length (at least
    0.12 of the view), aspect 0.55-1.0, any angle, 3 rim harmonics of amplitude up to 0.12; a
    contaminant colour (:data:`CONTAMINANTS`, drawn, jittered +-14 per channel; the next one in
    the list while it is within :data:`MIN_CONTRAST` of the part's mean colour), ``opacity``,
    ``sheen``, grain ``grain`` x the crop's noise."""
    s = scene.view.shape[0]
    fg = part_mask(scene)
    ys, xs = np.nonzero(fg)
    i = int(rng.integers(len(ys)))
    _, (length, _), _ = part_geometry(fg)
    w = max(_uniform(rng, size_frac) * length, 0.12 * s)
    h = w * _uniform(rng, (0.55, 1.0))
    angle = _uniform(rng, (0.0, 180.0))
    lobes = [[_uniform(rng, (0.0, 0.12)), _uniform(rng, (0.0, 2 * math.pi))] for _ in range(3)]
    first = int(rng.integers(len(CONTAMINANTS)))
    jitter = rng.uniform(-14, 14, size=3)
    part_lab = _lab(scene.view[fg > 0].mean(axis=0))[0]
    for j in range(len(CONTAMINANTS)):
        color = np.clip(np.asarray(CONTAMINANTS[(first + j) % len(CONTAMINANTS)]) + jitter, 0, 255)
        if float(np.linalg.norm(_lab(color)[0] - part_lab)) >= MIN_CONTRAST:
            break
    params: dict[str, Any] = {
        "center": [int(xs[i]), int(ys[i])],
        "size": [w, h],
        "angle": angle,
        "color": [float(v) for v in color],
        "opacity": _uniform(rng, opacity),
        "lobes": lobes,
        "sheen": _uniform(rng, sheen),
        "grain": _uniform(rng, grain),
    }
    # The grain field is drawn where the stream stands now: record that point, then move
    # the stream past the field as if it had been drawn here (a normal field of any scale
    # takes the same numbers from the stream as a standard one).
    params["grain_state"] = generator_state(rng)
    rng.standard_normal(size=(s, s))
    return params


@register_sampler(DefectType.ROTATION)
def sample_rotation(
    scene: Scene, rng: np.random.Generator, *, min_deg: float = 25.0, p_180: float = 0.35
) -> dict[str, Any]:
    """180 degrees with probability ``p_180`` for classes where that turn is a defect (polarised,
    or with no symmetry); else an angle at least ``min_deg`` from every turn the class's facts
    (``scene.facts``) make invisible, random sign (see :func:`~pcbforge.augment.functional.rotation_angles`)."""
    (lo, hi), allow_180 = rotation_angles(scene.facts, min_deg)
    if allow_180 and rng.random() < p_180:
        angle = 180.0
    else:
        angle = _uniform(rng, (lo, hi)) * (1 if rng.random() < 0.5 else -1)
    return {"angle": angle, "texture_offsets": texture_offsets(rng, scene), "tin_shift": _tin_shift(rng)}


@register_sampler(DefectType.SHIFT)
def sample_shift(
    scene: Scene, rng: np.random.Generator, *, frac: tuple[float, float] = (0.12, 0.3)
) -> dict[str, Any]:
    """Distance ``frac`` of the view side, direction uniform."""
    dist = _uniform(rng, frac) * scene.view.shape[0]
    theta = _uniform(rng, (0.0, 2 * math.pi))
    return {
        "dx": dist * math.cos(theta),
        "dy": dist * math.sin(theta),
        "texture_offsets": texture_offsets(rng, scene),
        "tin_shift": _tin_shift(rng),
    }


@register_sampler(DefectType.MISSING)
def sample_missing(scene: Scene, rng: np.random.Generator, *, pads: bool | None = None) -> dict[str, Any]:
    """Only the fill's texture offsets and the tin; ``pads`` (None: decided from the image) passes through."""
    return {"texture_offsets": texture_offsets(rng, scene), "tin_shift": _tin_shift(rng), "pads": pads}


@register_sampler(DefectType.WRONG_PART)
def sample_wrong_part(
    scene: Scene, rng: np.random.Generator, *, light_match: tuple[float, float] = (0.5, 0.9)
) -> dict[str, Any]:
    """Turned +0 or 180 degrees (even odds), brightness moved ``light_match`` of the way to the anchor's.

    Raises:
        ValueError: the scene has no donor.
    """
    if scene.donor is None:
        raise ValueError("wrong_part needs scene.donor (a crop of another class)")
    offsets = texture_offsets(rng, scene)
    flip = bool(rng.random() < 0.5)
    return {"texture_offsets": offsets, "flip": flip, "light_match": _uniform(rng, light_match)}


@register_sampler(DefectType.LIFTED)
def sample_lifted(
    scene: Scene,
    rng: np.random.Generator,
    *,
    tilt: tuple[float, float] = (25.0, 60.0),
    shadow: tuple[float, float] = (0.35, 0.6),
    face_gain: tuple[float, float] = (0.8, 1.25),
) -> dict[str, Any]:
    """Tilt ``tilt`` degrees at either end (even odds), shadow darkness ``shadow``, top face x ``face_gain``."""
    amount = _uniform(rng, tilt)
    side = 1 if rng.random() < 0.5 else -1
    strength = _uniform(rng, shadow)
    gain = _uniform(rng, face_gain)
    return {
        "tilt": amount,
        "side": side,
        "shadow": strength,
        "face_gain": gain,
        "texture_offsets": texture_offsets(rng, scene),
        "tin_shift": _tin_shift(rng),
    }


def sample_refill_board(
    scene: Scene, rng: np.random.Generator, *, size_frac: tuple[float, float] = (0.25, 0.5)
) -> dict[str, Any]:
    """Where :func:`~pcbforge.augment.functional.refill_board` re-fills board: an ellipse whose long
    axis is ``size_frac`` of the view (aspect 0.5-1, any angle), centred on a board pixel of the
    view as far from the part as its half short axis where there is one (else the farthest)."""
    s = scene.view.shape[0]
    w = _uniform(rng, size_frac) * s
    h = w * _uniform(rng, (0.5, 1.0))
    angle = _uniform(rng, (0.0, 180.0))
    free = (part_mask(scene) == 0).astype(np.uint8)
    dist = cv2.distanceTransform(free, cv2.DIST_L2, 5)
    ys, xs = np.nonzero(dist >= h / 2)
    if not len(ys):
        ys, xs = np.nonzero(dist >= dist.max())
    i = int(rng.integers(len(ys)))
    return {
        "center": [float(xs[i]), float(ys[i])],
        "size": [w, h],
        "angle": angle,
        "texture_offsets": texture_offsets(rng, scene),
    }


def artifact_matched_positive(scene: Scene, rng: np.random.Generator) -> DefectResult:
    """A positive made by the negatives' machinery: :func:`sample_refill_board` then ``refill_board``."""
    return refill_board(scene, **sample_refill_board(scene, rng))


def sample_defect(kind: DefectType | str, scene: Scene, rng: np.random.Generator, **ranges: Any) -> dict[str, Any]:
    """Draw the parameters of defect ``kind`` for ``scene`` (keyword ``ranges`` override the sampler's defaults).

    Raises:
        KeyError: no sampler registered for ``kind``.
    """
    k = DefectType(kind)
    if k not in SAMPLERS:
        raise KeyError(f"no defect sampler registered for {k.value!r}; known: {sorted(d.value for d in SAMPLERS)}")
    return SAMPLERS[k](scene, rng, **ranges)


def make_defect(kind: DefectType | str, scene: Scene, rng: np.random.Generator, **ranges: Any) -> DefectResult:
    """Draw defect ``kind``'s parameters with ``rng`` and apply them: :func:`sample_defect` then ``apply_defect``."""
    return apply_defect(kind, scene, **sample_defect(kind, scene, rng, **ranges))


class RandomDefect:
    """Apply one defect drawn uniformly from ``kinds`` (those the scene supports).

    Args:
        kinds: defect kinds to draw from (order does not matter: they are sorted).
        ranges: optional per-kind keyword ranges passed to the sampler, e.g.
            ``{"shift": {"frac": (0.2, 0.4)}}``.

    Example:
        >>> import numpy as np
        >>> from pcbforge.augment.scene import Scene
        >>> view = np.full((48, 48, 3), 50, np.uint8); view[14:34, 10:38] = 210
        >>> img, mask, p = RandomDefect(["gray_patch"])(Scene(view, "diode"), np.random.default_rng(1))
        >>> p["kind"]
        'gray_patch'
    """

    def __init__(self, kinds: Sequence[DefectType | str], ranges: dict[str, dict[str, Any]] | None = None) -> None:
        self.kinds = sorted({DefectType(k) for k in kinds}, key=lambda k: k.value)
        unknown = [k.value for k in self.kinds if k not in DEFECTS or k not in SAMPLERS]
        if unknown:
            known = sorted(k.value for k in DEFECTS if k in SAMPLERS)
            raise ValueError(f"no defect function and sampler for {unknown}; known: {known}")
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
        return make_defect(k, scene, rng, **self.ranges.get(k, {}))


class PositiveAugment:
    """Photometric + within-tolerance geometric augmentation: the same part, still good.

    Args:
        brightness: max relative brightness change.
        contrast: max relative contrast change.
        hue: max hue shift (OpenCV hue units, 0..180 scale).
        shift: max translation as a fraction of the side (placement tolerance).
        rotate: max rotation in degrees (placement tolerance).
        p_flip180: probability of a turn the class's facts make invisible (see
            :meth:`invisible_turns`): 180 degrees for a non-polarised part symmetric under a
            half turn, one of 90/180/270 for one symmetric under a quarter turn; never for a
            polarised part or one with no symmetry.
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

    @staticmethod
    def invisible_turns(info: ClassInfo) -> list[int]:
        """Quarter turns (1, 2, 3 = 90, 180, 270 degrees) that leave a part of this class looking good.

        Example:
            >>> from pcbforge.taxonomy import ClassInfo, Symmetry
            >>> PositiveAugment.invisible_turns(ClassInfo("resistor", polarised=False, symmetry=Symmetry.HALF))
            [2]
            >>> PositiveAugment.invisible_turns(ClassInfo("led", polarised=True, symmetry=Symmetry.HALF))
            []
        """
        return [k for k in (1, 2, 3) if not info.turn_is_visible(90.0 * k)]

    def __call__(self, image: np.ndarray, info: ClassInfo, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        """Return the augmented image and a JSON-able record of what was applied.

        The record's ``rot180`` says whether the part was turned by 180 degrees; a class
        symmetric under a quarter turn also records ``quarter_turns`` (0-3, counter-clockwise).
        """
        turns = self.invisible_turns(info)
        # Draws: a coin only when some turn is invisible, then which one only when there is
        # a choice, so a class with the one half turn draws what it always drew.
        k = 0
        if turns and bool(rng.random() < self.p_flip180):
            k = turns[int(rng.integers(len(turns)))] if len(turns) > 1 else turns[0]
        img = np.ascontiguousarray(np.rot90(image, k)) if k else image
        # albumentations keeps its own generators; reseed them from our stream for each call
        # so the result depends only on this item's rng (not on call order or worker).
        self.compose.set_random_seed(int(rng.integers(0, 2**31 - 1)))
        out = self.compose(image=img)
        applied = sorted(out.get("applied_transforms", []) and [t[0] for t in out["applied_transforms"]])
        record: dict[str, Any] = {"rot180": k == 2, "applied": applied, **self.settings}
        if len(turns) > 1:
            record["quarter_turns"] = k
        return out["image"], record
