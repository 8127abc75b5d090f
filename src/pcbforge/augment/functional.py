"""The six synthetic defects as pure functions of a scene and concrete parameters.

As in albumentations, drawing and applying are split: a sampler in
:mod:`pcbforge.augment.transforms` draws a defect's values from ranges with the generator
it is given (``sample_<kind>``), and the function here applies exactly those values, with
no random state of its own. Each returns ``(image, mask, params)``: ``image`` HxWx3 uint8
(same size as the view), ``mask`` HxW uint8 0/255 marking the changed region, and
``params`` (JSON-able) holding every value it was given plus a few it derived (``pads``,
``grain_std``, ...). Pixels outside ``mask`` are the anchor's own, so a model can only
learn from what the defect changed.

``params`` is what ``triplets.parquet:defect_params`` records, and :func:`replay` applies
such a row again: on the same anchor it reproduces the negative's pixels exactly.

The scene toolkit the defects are built from (:class:`~pcbforge.augment.scene.Scene`,
part masks, inpainting, pads, blending) lives in :mod:`pcbforge.augment.scene`.

New defect kind = one function here decorated with :func:`register`, one sampler
registered in :mod:`pcbforge.augment.transforms`, and one ``DefectType`` value.

Example:
    >>> import numpy as np
    >>> from pcbforge.vocab import DefectType
    >>> view = np.full((64, 64, 3), 60, np.uint8); view[20:44, 16:48] = 200
    >>> scene = Scene(view=view, class_label="resistor")
    >>> img, mask, p = DEFECTS[DefectType.SHIFT](scene, dx=12.0, dy=-5.0, texture_offsets=[[0, 40]])
    >>> img.shape, mask.dtype.name, p["kind"]
    ((64, 64, 3), 'uint8', 'shift')
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from pcbforge.augment.scene import (
    Canvas,
    Scene,
    bright_backdrop,
    canvas_margin,
    dilate,
    draw_pads,
    embed,
    finish,
    hole_pad,
    image_noise,
    make_canvas,
    move_part,
    paste,
    part_geometry,
    part_mask,
    remove_part,
)
from pcbforge.taxonomy import ClassInfo
from pcbforge.vocab import DefectType

#: What a defect function returns: image, 0/255 mask of the changed region, JSON-able params.
DefectResult = tuple[np.ndarray, np.ndarray, dict[str, Any]]
DefectFn = Callable[..., DefectResult]

#: DefectType -> function applying it. Filled by :func:`register`.
DEFECTS: dict[DefectType, DefectFn] = {}


def register(kind: DefectType) -> Callable[[DefectFn], DefectFn]:
    """Register ``fn`` as the function applying defect ``kind``."""

    def deco(fn: DefectFn) -> DefectFn:
        DEFECTS[kind] = fn
        return fn

    return deco


def generator_state(rng: np.random.Generator) -> dict[str, Any]:
    """``rng``'s bit-generator state as JSON-able values (128-bit words as hex text).

    A defect that needs a whole noise field records where the field's numbers start
    instead of the field itself; :func:`generator_from_state` resumes there.
    """
    st = rng.bit_generator.state
    if st["bit_generator"] != "PCG64":
        raise ValueError(f"only PCG64 states are recorded, got {st['bit_generator']}")
    return {
        "bit_generator": "PCG64",
        "state": hex(st["state"]["state"]),
        "inc": hex(st["state"]["inc"]),
        "has_uint32": int(st["has_uint32"]),
        "uinteger": int(st["uinteger"]),
    }


def generator_from_state(state: Mapping[str, Any]) -> np.random.Generator:
    """A new generator positioned at a state recorded by :func:`generator_state`."""
    bg = np.random.PCG64()
    bg.state = {
        "bit_generator": "PCG64",
        "state": {"state": int(state["state"], 16), "inc": int(state["inc"], 16)},
        "has_uint32": int(state["has_uint32"]),
        "uinteger": int(state["uinteger"]),
    }
    return np.random.Generator(bg)


def _offsets(offsets: Sequence[Sequence[int]]) -> list[list[int]]:
    return [[int(a), int(b)] for a, b in offsets]


def _r(x: float, nd: int = 3) -> float:
    return round(float(x), nd)


# ----------------------------------------------------------------------------- defects


@register(DefectType.GRAY_PATCH)
def gray_patch(
    scene: Scene,
    *,
    center: Sequence[int],
    size: Sequence[float],
    angle: float,
    color: Sequence[float],
    opacity: float,
    lobes: Sequence[Sequence[float]],
    sheen: float,
    grain: float,
    grain_state: dict[str, Any],
) -> DefectResult:
    """Contamination on the part: a blob of glue, flux residue, paste or dirt (the kind keeps its old name).

    The blob is an ellipse (``size`` = its axes' lengths in view pixels, turned by ``angle``
    degrees) centred on ``center``, a point of the part, whose rim wobbles by the ``lobes``
    (``[amplitude, phase]`` of the 2nd, 3rd, ... harmonic of its radius): no straight edge or
    corner, as a drop or a smear has none. Its colour ``color`` (RGB) covers what is under it
    ``opacity`` of the way (residue is translucent: the part's edges show through faintly); it
    is a dome, lit from the top-left (a highlight ``sheen`` and a darker rim); it has grain at
    ``grain`` x the crop's own noise level (drawn from ``grain_state``, see
    :func:`generator_state`) and follows the crop's large-scale light. The first version, a flat
    grey rectangle of grey level 80-190, was often the part's own grey: per-defect AUC 0.70 on
    the demo.
    """
    s = scene.view.shape[0]
    cx, cy = (int(v) for v in center)
    w, h = (float(v) for v in size)
    col = np.asarray(color, np.float64)
    tstd = float(np.clip(float(grain) * image_noise(scene.view), 1.0, 10.0))
    # Rim: r(phi) = 1 + sum_k a_k cos(k phi + p_k), k = 2, 3, ...
    phi = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    radius = np.ones_like(phi)
    for k, (amp, phase) in enumerate(lobes, start=2):
        radius += float(amp) * np.cos(k * phi + float(phase))
    rot = math.radians(float(angle))
    px = radius * (w / 2) * np.cos(phi)
    py = radius * (h / 2) * np.sin(phi)
    pts = np.stack([cx + px * math.cos(rot) - py * math.sin(rot), cy + px * math.sin(rot) + py * math.cos(rot)], 1)
    region = np.zeros((s, s), np.uint8)
    cv2.fillPoly(region, [np.round(pts).astype(np.int32)], 255, cv2.LINE_8)
    if not region.any():
        cv2.circle(region, (cx, cy), max(3, s // 10), 255, -1)
    # Dome: normalised distance from the centre (1 on the rim) from the region's distance map.
    dist = cv2.distanceTransform(region, cv2.DIST_L2, 5)
    rho = 1.0 - np.clip(dist / max(float(dist.max()), 1.0), 0.0, 1.0)
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    hx, hy = cx - 0.25 * w / 2, cy - 0.25 * h / 2  # highlight towards the light (top-left)
    spot = np.exp(-(((xx - hx) ** 2 + (yy - hy) ** 2) / (2 * (0.22 * max(min(w, h), 2.0)) ** 2)))
    shade = (1.0 - 0.22 * rho**2) * (1.0 + float(sheen) * spot)
    lum = cv2.cvtColor(scene.view, cv2.COLOR_RGB2GRAY).astype(np.float32)
    light = cv2.GaussianBlur(lum, (0, 0), s / 6)
    light = light / max(float(light.mean()), 1.0)
    noise = generator_from_state(grain_state).normal(0, tstd, size=(s, s))
    texture = cv2.GaussianBlur(noise.astype(np.float32), (0, 0), 0.8)
    blob = (col[None, None, :] * shade[..., None] + texture[..., None]) * (0.8 + 0.2 * light[..., None])
    a = float(opacity)
    patch = blob * a + scene.view.astype(np.float32) * (1 - a)
    canvas = Canvas(img=patch.astype(np.float32), ox=0, oy=0, size=s, real_context=scene.context is not None)
    img, mask = finish(scene, canvas, region, sigma=0.8)
    params = {
        "kind": DefectType.GRAY_PATCH.value,
        "center": [cx, cy],
        "size": [w, h],
        "angle": float(angle),
        "color": [float(v) for v in col],
        "opacity": a,
        "lobes": [[float(x), float(y)] for x, y in lobes],
        "sheen": float(sheen),
        "grain": float(grain),
        "grain_state": dict(grain_state),
        "grain_std": _r(tstd, 2),
    }
    return img, mask, params


def rotation_angles(info: ClassInfo, min_deg: float = 25.0) -> tuple[tuple[float, float], bool]:
    """Range of |angle| that is a defect for a class and whether exactly 180 is one.

    From the class's facts (a name outside the taxonomy has conservative ones, so its turn
    is never called "good"): a polarised part, or one with no rotational symmetry, is a
    defect at every turn, the 180 degree reversed-polarity turn most of all: (min_deg, 180),
    True. A non-polarised part that looks the same turned by 180 degrees (resistor, ceramic
    capacitor) is not defective near 180 (such turns are positives): (min_deg, 180 - min_deg).
    One that looks the same turned by 90 degrees is defective only between the quarter turns:
    (min_deg, 90 - min_deg) (any other angle looks like one of these).
    """
    if info.turn_is_visible(180.0):
        return (min_deg, 180.0), True
    if info.turn_is_visible(90.0):
        return (min_deg, 180.0 - min_deg), False
    lo = min(min_deg, 45.0)  # past 45 degrees the nearest quarter turn is closer than min_deg
    return (lo, 90.0 - lo), False


@register(DefectType.ROTATION)
def rotation(
    scene: Scene,
    *,
    angle: float,
    texture_offsets: Sequence[Sequence[int]],
    tin_shift: float = 0.0,
) -> DefectResult:
    """The part turned by ``angle`` degrees about its centre, on its own board.

    The part is removed first (``texture_offsets``: see :func:`~pcbforge.augment.scene.remove_part`),
    bare pads drawn (tin grey moved by ``tin_shift``), and the turned part pasted back.
    Which angles are defects for a class is the sampler's business (:func:`rotation_angles`
    of ``scene.facts``).
    """
    fg = part_mask(scene)
    (cx, cy), _, _ = part_geometry(fg)
    m = canvas_margin(scene.view.shape[0])

    def warp(img: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mat = cv2.getRotationMatrix2D((cx + m, cy + m), angle, 1.0)
        size = (img.shape[1], img.shape[0])
        return (
            cv2.warpAffine(img, mat, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101),
            cv2.warpAffine(mask, mat, size, flags=cv2.INTER_LINEAR),
        )

    img, mask, _, drew = move_part(scene, warp, texture_offsets, tin_shift)
    return img, mask, {
        "kind": DefectType.ROTATION.value,
        "angle": float(angle),
        "texture_offsets": _offsets(texture_offsets),
        "tin_shift": float(tin_shift),
        "center": [_r(cx, 1), _r(cy, 1)],
        "pads": drew,
    }


@register(DefectType.SHIFT)
def shift(
    scene: Scene,
    *,
    dx: float,
    dy: float,
    texture_offsets: Sequence[Sequence[int]],
    tin_shift: float = 0.0,
) -> DefectResult:
    """The part displaced off its pads by ``(dx, dy)`` view pixels.

    The vacated footprint is filled with board from the surroundings (``texture_offsets``)
    and bare pads drawn (``tin_shift``); with a context patch, whatever the moved part
    uncovers or covers is real board, then the result is cropped back to the view.
    """
    s = scene.view.shape[0]
    dx, dy = float(dx), float(dy)
    dist = math.hypot(dx, dy)

    def warp(img: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mat = np.array([[1, 0, dx], [0, 1, dy]], np.float64)
        size = (img.shape[1], img.shape[0])
        return (
            cv2.warpAffine(img, mat, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101),
            cv2.warpAffine(mask, mat, size, flags=cv2.INTER_LINEAR),
        )

    img, mask, canvas, drew = move_part(scene, warp, texture_offsets, tin_shift)
    return img, mask, {
        "kind": DefectType.SHIFT.value,
        "pads": drew,
        "dx": dx,
        "dy": dy,
        "texture_offsets": _offsets(texture_offsets),
        "tin_shift": float(tin_shift),
        "distance_frac": _r(dist / s),
        "real_context": canvas.real_context,
    }


@register(DefectType.MISSING)
def missing(
    scene: Scene,
    *,
    texture_offsets: Sequence[Sequence[int]],
    tin_shift: float = 0.0,
    pads: bool | None = None,
) -> DefectResult:
    """The part is absent: its footprint is filled with the surrounding board.

    Colour comes from ``cv2.inpaint`` smoothed, fine texture from an intact patch of the
    surroundings. On boards (``pads`` None: origin ``board`` and the surroundings are not
    a bright backdrop) the bare pads of the class (``scene.facts``) are drawn where the leads
    were: round tinned pads with drill holes for through-hole classes, rectangular lands
    without holes for SMD classes, as many as the class's ``pads`` (none for 0).
    """
    canvas = make_canvas(scene)
    fg_view = part_mask(scene)
    fg = embed(fg_view, canvas)
    hole = dilate(fg, hole_pad(canvas.size))
    canvas.img = remove_part(canvas, hole, texture_offsets)
    draw = (scene.origin == "board" and not bright_backdrop(canvas, hole)) if pads is None else pads
    centres = draw_pads(canvas, fg_view, scene.facts, tin_shift) if draw else []
    img, mask = finish(scene, canvas, hole, sigma=1.2)
    return img, mask, {
        "kind": DefectType.MISSING.value,
        "texture_offsets": _offsets(texture_offsets),
        "tin_shift": float(tin_shift),
        # What was drawn: a class with ``pads: 0`` draws none even where pads could go.
        "pads": bool(centres),
        "pad_centres": centres,
        "real_context": canvas.real_context,
    }


@register(DefectType.WRONG_PART)
def wrong_part(
    scene: Scene,
    *,
    texture_offsets: Sequence[Sequence[int]],
    flip: bool,
    light_match: float,
) -> DefectResult:
    """Another class's component (``scene.donor``) placed where the part was, at the part's scale.

    The donor part is cut out of its own crop with its estimated mask, scaled so its
    min-area rectangle matches the anchor part's length, turned to the anchor's orientation
    (plus 180 degrees with ``flip``), its brightness pulled towards the anchor's lighting
    (``light_match`` of the way), and pasted with a soft edge and a faint contact shadow over
    the board left by removing the anchor part (``texture_offsets``).
    """
    if scene.donor is None:
        raise ValueError("wrong_part needs scene.donor (a crop of another class)")
    s = scene.view.shape[0]
    canvas = make_canvas(scene)
    fg_view = part_mask(scene)
    fg = embed(fg_view, canvas)
    hole = dilate(fg, hole_pad(canvas.size))
    canvas.img = remove_part(canvas, hole, texture_offsets)

    donor = scene.donor
    dview = cv2.resize(donor.view, (s, s), interpolation=cv2.INTER_AREA) if donor.view.shape[0] != s else donor.view
    dscene = Scene(
        view=dview,
        class_label=donor.class_label,
        context_box=donor.context_box,
        view_margin=donor.view_margin,
        origin=donor.origin,
    )
    # The box-prior mask keeps a part's blurred rim, and with it a little of the donor's board:
    # pasted on another board that rim is a sticker's edge, so the donor is cut inside it.
    dmask = cv2.erode(part_mask(dscene), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    if not dmask.any():
        dmask = part_mask(dscene)
    (acx, acy), (alen, _), aang = part_geometry(fg_view)
    (dcx, dcy), (dlen, _), dang = part_geometry(dmask)
    scale = float(np.clip(alen / max(dlen, 1.0), 0.5, 2.0))
    turn = aang - dang + (180.0 if flip else 0.0)
    mat = cv2.getRotationMatrix2D((dcx, dcy), -turn, scale)
    mat[0, 2] += acx + canvas.ox - dcx
    mat[1, 2] += acy + canvas.oy - dcy
    size = (canvas.img.shape[1], canvas.img.shape[0])
    layer = cv2.warpAffine(dview, mat, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101).astype(
        np.float32
    )
    lmask = cv2.warpAffine(dmask, mat, size, flags=cv2.INTER_LINEAR)
    # Lighting: move the donor's mean luminance towards the anchor part's.
    k = float(light_match)
    a_lum = float(cv2.cvtColor(scene.view, cv2.COLOR_RGB2GRAY)[fg_view > 0].mean())
    sel = lmask > 127
    if sel.any():
        d_lum = float(layer[sel].mean())
        gain = 1.0 + k * (a_lum / max(d_lum, 1.0) - 1.0)
        layer = layer * float(np.clip(gain, 0.6, 1.6))
    else:
        gain = 1.0
    sh = cv2.GaussianBlur((lmask > 127).astype(np.float32), (0, 0), 2.5)
    sh = np.roll(sh, (2, 2), axis=(0, 1))
    canvas.img = canvas.img * (1 - 0.3 * sh[..., None])
    alpha = cv2.GaussianBlur((lmask > 127).astype(np.float32), (0, 0), 0.7)
    paste(canvas, layer, alpha)
    region = dilate(((hole > 0) | (lmask > 20) | (sh > 0.08)).astype(np.uint8) * 255, 1)
    img, mask = finish(scene, canvas, region, sigma=1.0)
    return img, mask, {
        "kind": DefectType.WRONG_PART.value,
        "texture_offsets": _offsets(texture_offsets),
        "flip": bool(flip),
        "light_match": k,
        "donor_id": scene.donor_id,
        "donor_class": donor.class_label,
        "scale": _r(scale),
        "turn": _r(turn, 1),
        "light_gain": _r(gain),
    }


@register(DefectType.LIFTED)
def lifted(
    scene: Scene,
    *,
    tilt: float,
    side: int,
    shadow: float,
    face_gain: float,
    texture_offsets: Sequence[Sequence[int]],
    tin_shift: float = 0.0,
) -> DefectResult:
    """One end of the part raised off its pad (tombstoning, a lifted lead), seen from above.

    The part turns by ``tilt`` degrees about its other end (``side`` 1 or -1 picks the raised
    end along the long axis): from above its top face shortens to cos(tilt) of its length,
    so the raised end pulls back and **uncovers its pad** (the part is removed first, bare pads
    drawn, ``tin_shift``); the raised end's **end face** (the termination, ~half the part's
    width thick) turns up into view as a band of the end's own colour; the tilted top face
    catches the light differently (``face_gain`` x, ramping up towards the raised end); and the
    raised end casts a **shadow** that grows with its height (``shadow`` darkness), a dark gap
    between the part and the board. The first version (the end grown and pushed out by a
    perspective warp, pads hidden) barely changed a small chip part: the demo's per-defect AUC
    was 0.57.
    """
    fg = part_mask(scene)
    (cx, cy), (length, width), ang = part_geometry(fg)
    m = canvas_margin(scene.view.shape[0])
    theta = math.radians(float(tilt))
    side = 1 if int(side) > 0 else -1
    strength, gain = float(shadow), float(face_gain)
    rad = math.radians(ang)
    u = np.array([math.cos(rad), math.sin(rad)]) * side  # towards the raised end
    v = np.array([-u[1], u[0]])
    half_l, half_w = length / 2 + 2, width / 2 + 2
    c = np.array([cx + m, cy + m])
    pivot = c - half_l * u
    full = 2 * half_l
    thick = 0.5 * width  # a chip part is about half as thick as it is wide
    band = thick * math.sin(theta)
    top = max(full * math.cos(theta) - band, 0.2 * full)
    wide = 1.0 + 0.12 * math.sin(theta)  # the raised end is nearer the lens
    src = np.float32([pivot - half_w * v, pivot + half_w * v, c + half_l * u + half_w * v, c + half_l * u - half_w * v])

    def quad(length_px: float, grow: float, lift: np.ndarray | None = None) -> np.ndarray:
        end = pivot + length_px * u + (lift if lift is not None else 0.0)
        return np.float32([src[0], src[1], end + half_w * grow * v, end - half_w * grow * v])

    persp = cv2.getPerspectiveTransform(src, quad(top, wide))
    # The end face: the part's last eighth (its termination), stretched over the band.
    tail = np.float32([c + 0.75 * half_l * u - half_w * v, c + 0.75 * half_l * u + half_w * v, src[2], src[3]])
    end_dst = np.float32(
        [
            pivot + top * u - half_w * wide * v,
            pivot + top * u + half_w * wide * v,
            pivot + (top + band) * u + half_w * wide * v,
            pivot + (top + band) * u - half_w * wide * v,
        ]
    )
    end_persp = cv2.getPerspectiveTransform(tail, end_dst)
    # Light from the top-left: the shadow of the raised end falls down-right, longer the higher it is.
    height = full * math.sin(theta)
    drop = np.array([0.45, 0.75]) * height * 0.6
    shadow_persp = cv2.getPerspectiveTransform(src, quad(full * math.cos(theta), wide, drop))

    def warp(img: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        size = (img.shape[1], img.shape[0])
        out = cv2.warpPerspective(img, persp, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        mk = cv2.warpPerspective(mask, persp, size, flags=cv2.INTER_LINEAR)
        yy, xx = np.mgrid[0 : size[1], 0 : size[0]].astype(np.float32)
        t = np.clip(((xx - pivot[0]) * u[0] + (yy - pivot[1]) * u[1]) / max(top, 1.0), 0, 1)
        out = out * (1.0 + (gain - 1.0) * t)[..., None]
        face = cv2.warpPerspective(img, end_persp, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        fmask = cv2.warpPerspective(mask, end_persp, size, flags=cv2.INTER_LINEAR)
        # The end face is lit edge-on: a little brighter than the termination's top.
        fa = (fmask > 127).astype(np.float32)[..., None]
        out = out * (1 - fa) + np.clip(face * 1.12, 0, 255) * fa
        return out, np.maximum(mk, fmask)

    def shadow_shape(mask: np.ndarray) -> np.ndarray:
        size = (mask.shape[1], mask.shape[0])
        return cv2.warpPerspective(mask, shadow_persp, size, flags=cv2.INTER_LINEAR)

    img, mask, _, drew = move_part(
        scene,
        warp,
        texture_offsets,
        tin_shift,
        shadow=(strength, (1.0, 1.5), 2.0 + 0.08 * height),
        shadow_warp=shadow_shape,
    )
    return img, mask, {
        "kind": DefectType.LIFTED.value,
        "tilt": float(tilt),
        "side": side,
        "shadow": strength,
        "face_gain": gain,
        "texture_offsets": _offsets(texture_offsets),
        "tin_shift": float(tin_shift),
        "axis_deg": _r(ang, 1),
        "pads": drew,
    }


#: Pixels kept between an artifact-matched refill and the part (beyond the removal rim).
REFILL_GUARD = 2


def refill_board(
    scene: Scene,
    *,
    center: Sequence[float],
    size: Sequence[float],
    angle: float,
    texture_offsets: Sequence[Sequence[int]],
) -> DefectResult:
    """Not a defect: a patch of bare board beside the part re-filled by the removal machinery.

    An "artifact-matched" positive: the ellipse ``size`` (axes in view pixels) turned by
    ``angle`` at ``center``, minus the part's removal area grown by :data:`REFILL_GUARD` px,
    is filled exactly as a removed part's footprint is (:func:`~pcbforge.augment.scene.remove_part`
    with ``texture_offsets``) and blended with the same feather. It changes nothing a plant
    would reject, so a model cannot call a pair "defective" because of fill artifacts alone.
    The mask never touches the part; it may be empty when the part fills the view.
    """
    s = scene.view.shape[0]
    canvas = make_canvas(scene)
    fg = part_mask(scene)
    guard = dilate(fg, hole_pad(s) + REFILL_GUARD)
    region = np.zeros((s, s), np.uint8)
    cx, cy = (float(v) for v in center)
    w, h = (float(v) for v in size)
    cv2.ellipse(region, ((cx, cy), (w, h), float(angle)), 255, -1)
    # The feather of finish() reaches ~1 px inside the region only; keep one more pixel free.
    region[dilate(guard, 1) > 0] = 0
    hole = embed(region, canvas)
    if region.any():
        canvas.img = remove_part(canvas, hole, texture_offsets)
    img, mask = finish(scene, canvas, hole, sigma=1.2)
    return img, mask, {
        "kind": "refill_board",
        "center": [float(cx), float(cy)],
        "size": [w, h],
        "angle": float(angle),
        "texture_offsets": _offsets(texture_offsets),
        "area_frac": _r(float((mask > 0).mean())),
    }


def apply_defect(kind: DefectType | str, scene: Scene, **params: Any) -> DefectResult:
    """Apply the registered defect ``kind`` to ``scene`` with concrete ``params``.

    Raises:
        KeyError: no defect registered for ``kind``.
    """
    k = DefectType(kind)
    if k not in DEFECTS:
        raise KeyError(f"no defect registered for {k.value!r}; known: {sorted(d.value for d in DEFECTS)}")
    return DEFECTS[k](scene, **params)


def replay(scene: Scene, params: Mapping[str, Any] | str) -> DefectResult:
    """Re-apply a recorded defect: ``params`` is a ``defect_params`` row (dict or its JSON text).

    Only the keys the defect function takes are passed (the rest, such as ``pads`` or
    ``grain_std``, describe what was done); ``wrong_part`` needs ``scene.donor`` set to the
    component named by the row's ``donor_id``. On the same anchor this gives the negative's
    pixels exactly.

    Example:
        >>> import json
        >>> import numpy as np
        >>> from pcbforge.augment.transforms import make_defect
        >>> view = np.full((48, 48, 3), 50, np.uint8); view[14:34, 10:38] = 210
        >>> scene = Scene(view=view, class_label="diode")
        >>> img, _, p = make_defect("shift", scene, np.random.default_rng(0))
        >>> bool((replay(scene, json.dumps(p))[0] == img).all())
        True
    """
    row = json.loads(params) if isinstance(params, str) else dict(params)
    kind = DefectType(row["kind"])
    if kind not in DEFECTS:
        raise KeyError(f"no defect registered for {kind.value!r}; known: {sorted(d.value for d in DEFECTS)}")
    fn = DEFECTS[kind]
    accepted = {n for n, p in inspect.signature(fn).parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    return fn(scene, **{k: v for k, v in row.items() if k in accepted})
