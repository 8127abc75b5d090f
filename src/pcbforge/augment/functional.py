"""Pure synthetic-defect functions: (scene, rng, ranges) -> (image, mask, params).

Every defect works on a :class:`Scene`: the component's square view (the anchor crop) plus,
when the crop stage kept it, the larger context patch and where the view sits inside it.
Working in context coordinates is what makes the defects plausible: a shifted part reveals
real board around it, a missing part is filled from the board around it, a lifted part casts
its shadow onto real board. When no context exists, the view is mirrored outwards instead.

Each function draws its concrete values from the given ranges with the ``rng`` passed in
(no global random state), records them in a JSON-able ``params`` dict, and returns
``(image, mask, params)``: ``image`` HxWx3 uint8 (same size as the view), ``mask`` HxW uint8
0/255 marking the changed region. Pixels outside ``mask`` are the anchor's own pixels, so a
model can only learn from what the defect changed.

New defect kind = one function decorated with :func:`register` + one ``DefectType`` value.

Example:
    >>> import numpy as np
    >>> from pcbforge.vocab import DefectType
    >>> view = np.full((64, 64, 3), 60, np.uint8); view[20:44, 16:48] = 200
    >>> scene = Scene(view=view, class_label="resistor")
    >>> img, mask, p = DEFECTS[DefectType.GRAY_PATCH](scene, np.random.default_rng(0))
    >>> img.shape, mask.dtype.name, p["kind"]
    ((64, 64, 3), 'uint8', 'gray_patch')
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from pcbforge.vocab import POLARISED, ComponentClass, DefectType

#: What a defect function returns: image, 0/255 mask of the changed region, JSON-able params.
DefectResult = tuple[np.ndarray, np.ndarray, dict[str, Any]]
DefectFn = Callable[..., DefectResult]

#: DefectType -> function. Filled by :func:`register`.
DEFECTS: dict[DefectType, DefectFn] = {}

#: Classes mounted flat on pads (rectangular pads when removed); the rest are through-hole.
SMD_CLASSES = frozenset({ComponentClass.SMD_CAPACITOR, ComponentClass.SMD_DIODE, ComponentClass.SMD_TRANSISTOR})
#: Classes with three leads (three pads when removed).
THREE_LEAD = frozenset({ComponentClass.TRANSISTOR, ComponentClass.SMD_TRANSISTOR, ComponentClass.CONVERTER})


def register(kind: DefectType) -> Callable[[DefectFn], DefectFn]:
    """Register ``fn`` as the generator of defect ``kind``."""

    def deco(fn: DefectFn) -> DefectFn:
        DEFECTS[kind] = fn
        return fn

    return deco


@dataclass(frozen=True)
class Scene:
    """A component as the defects see it.

    Attributes:
        view: the anchor crop, SxSx3 uint8 (RGB).
        class_label: the component class (a ``ComponentClass`` value).
        context: the larger context patch (HxWx3 uint8) or None.
        context_box: (x0, y0, x1, y1) of the component box inside ``context`` (pixels,
            exclusive end), as the crop stage writes it.
        view_margin: how the crop stage built the view from that box: a square centred on
            the box, side = long side x (1 + view_margin) (``crop.margin`` for boards, 0 for
            web photos).
        origin: ``board`` (a part on a PCB: pads are drawn where a part left them) or
            ``web`` (a product photo: the backdrop is not a board, no pads).
        donor: another component's scene, needed by ``wrong_part``.
        donor_id: lineage of ``donor`` recorded in the params.
    """

    view: np.ndarray
    class_label: str
    context: np.ndarray | None = None
    context_box: tuple[float, float, float, float] | None = None
    view_margin: float = 0.0
    origin: str = "board"
    donor: Scene | None = None
    donor_id: str | None = None

    def view_square(self) -> tuple[float, float, float] | None:
        """(left, top, side) of the view's square in context pixels, or None without context."""
        if self.context_box is None:
            return None
        x0, y0, x1, y1 = (float(v) for v in self.context_box)
        side = max(x1 - x0, y1 - y0, 1.0) * (1.0 + self.view_margin)
        return (x0 + x1) / 2 - side / 2, (y0 + y1) / 2 - side / 2, side

    def part_box(self) -> tuple[float, float, float, float] | None:
        """The component box in view pixels (known when the crop stage recorded it)."""
        sq = self.view_square()
        if sq is None:
            return None
        left, top, side = sq
        k = self.view.shape[0] / side
        x0, y0, x1, y1 = (float(v) for v in self.context_box)  # type: ignore[union-attr]
        return (x0 - left) * k, (y0 - top) * k, (x1 - left) * k, (y1 - top) * k


def is_polarised(class_label: str) -> bool:
    """True if a 180 degree turn of this class is a real defect (reversed polarity)."""
    try:
        return ComponentClass(class_label) in POLARISED
    except ValueError:
        return True  # unknown class: be safe, never call a 180-degree turn "good"


# ----------------------------------------------------------------------------- geometry helpers


@dataclass
class _Canvas:
    """The view inside a margin of (real or mirrored) surroundings, at view resolution."""

    img: np.ndarray  # float32 HxWx3, 0..255
    ox: int  # view's top-left inside img
    oy: int
    size: int
    real_context: bool

    @property
    def view_slice(self) -> tuple[slice, slice]:
        return slice(self.oy, self.oy + self.size), slice(self.ox, self.ox + self.size)


def _canvas(scene: Scene, margin_frac: float = 0.5) -> _Canvas:
    """Resize the context so the view box maps onto the view exactly; pad by mirroring where short."""
    view = scene.view
    s = view.shape[0]
    m = max(4, int(round(s * margin_frac)))
    sq = scene.view_square()
    if scene.context is not None and sq is not None:
        left, top, side = sq
        k = s / side
        # Affine map context -> canvas with the view's top-left at (m, m); past the context's
        # edge pixels replicate (mirroring would copy the part itself into the margin).
        mat = np.array([[k, 0, m - left * k], [0, k, m - top * k]], np.float64)
        ctx = cv2.warpAffine(
            scene.context, mat, (s + 2 * m, s + 2 * m), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE
        )
        img = ctx.astype(np.float32)
        real = True
    else:
        img = cv2.copyMakeBorder(view, m, m, m, m, cv2.BORDER_REPLICATE).astype(np.float32)
        real = False
    # The anchor's own pixels are the truth inside the view (the context resize differs slightly).
    img[m : m + s, m : m + s] = view.astype(np.float32)
    return _Canvas(img=img, ox=m, oy=m, size=s, real_context=real)


def part_mask(scene: Scene) -> np.ndarray:
    """Estimate which view pixels belong to the part (uint8 0/255, view-sized).

    The board/background colour is taken from the view's border (and the context ring when
    present); pixels far from it in Lab space are the part. Falls back to a central ellipse
    when the estimate is degenerate (part colour equals board colour).
    """
    view = scene.view
    s = view.shape[0]
    lab = cv2.cvtColor(view, cv2.COLOR_RGB2LAB).astype(np.float32)
    b = max(2, s // 16)
    border = np.concatenate([lab[:b], lab[-b:], lab[:, :b].transpose(1, 0, 2), lab[:, -b:].transpose(1, 0, 2)], axis=0)
    border = border.reshape(-1, 3)
    ref = np.median(border, axis=0)
    spread = np.median(np.abs(border - ref), axis=0).mean() + 2.0
    dist = np.sqrt(((lab - ref) ** 2).sum(axis=2)) / spread
    d8 = np.clip(dist * 16, 0, 255).astype(np.uint8)
    thr, fg = cv2.threshold(cv2.GaussianBlur(d8, (5, 5), 0), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if thr < 48:  # border and centre indistinguishable: Otsu would split noise
        fg = np.zeros_like(fg)
    # Silkscreen (thin white outlines and designators) is printed on the board, not part of
    # the component: drop thin white strokes, keep thick white bodies (relays, crystals).
    chroma = np.hypot(lab[..., 1] - 128, lab[..., 2] - 128)
    white = ((lab[..., 0] > 170) & (chroma < 24)).astype(np.uint8) * 255
    if ref[0] < 170 and white.any():
        kw = max(3, (s // 14) | 1)
        thick = cv2.morphologyEx(white, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kw, kw)))
        nw, wl = cv2.connectedComponents(white)
        # A white stroke with no thick part anywhere is silkscreen; white touching a thick
        # white area (the gaps between letters on a white relay) belongs to that body.
        has_thick = np.zeros(nw, bool)
        has_thick[np.unique(wl[thick > 0])] = True
        fg[(wl > 0) & ~has_thick[wl]] = 0
    # Opening scaled to the view removes thin board features (traces, silkscreen lines).
    ko = max(3, (s // 40) | 1)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (ko, ko)))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, k, iterations=2)
    pbox = scene.part_box()
    if pbox is not None:
        # The labelled box bounds the part: ignore neighbours and board features outside it.
        bx0, by0, bx1, by1 = pbox
        pad = 0.08 * max(bx1 - bx0, by1 - by0)
        allow = np.zeros_like(fg)
        ay0, ay1 = max(0, int(by0 - pad)), int(math.ceil(by1 + pad))
        ax0, ax1 = max(0, int(bx0 - pad)), int(math.ceil(bx1 + pad))
        allow[ay0:ay1, ax0:ax1] = 255
        fg = cv2.bitwise_and(fg, allow)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg)
    keep = np.zeros_like(fg)
    min_area = 0.01 * s * s
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        # Keep blobs reaching the central third: the part, not a neighbour cut by the crop.
        if area >= min_area and x < 2 * s / 3 and x + w > s / 3 and y < 2 * s / 3 and y + h > s / 3:
            keep[labels == i] = 255
    # Fill holes (markings, reflections inside the body), but not board enclosed by the
    # part's outline (e.g. between a body and its leads): that must stay board.
    cnts, _ = cv2.findContours(keep, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(keep)
    cv2.drawContours(filled, cnts, -1, 255, thickness=cv2.FILLED)
    holes = cv2.bitwise_and(filled, cv2.bitwise_not(keep))
    nh, hl, hs, _ = cv2.connectedComponentsWithStats(holes)
    for i in range(1, nh):
        sel = hl == i
        # On a product photo a white part on a white backdrop is all "board-like": fill.
        if scene.origin == "board" and hs[i, cv2.CC_STAT_AREA] > 0.02 * s * s and float(d8[sel].mean()) < thr:
            filled[sel] = 0
    area = int((filled > 0).sum())
    if area:
        # An open outline (a white part on a white backdrop shows only its edges): take
        # its convex hull rather than a ring, or removing it would leave the body behind.
        hull = cv2.convexHull(cv2.findNonZero(filled))
        hull_area = cv2.contourArea(hull)
        if hull_area > 0 and area / hull_area < 0.5:
            cv2.fillConvexPoly(filled, hull, 255)
            area = int((filled > 0).sum())
    if area < 0.04 * s * s:
        filled = np.zeros_like(keep)
        if pbox is not None:
            bx0, by0, bx1, by1 = pbox
            centre = (int(round((bx0 + bx1) / 2)), int(round((by0 + by1) / 2)))
            axes = (max(2, int((bx1 - bx0) * 0.45)), max(2, int((by1 - by0) * 0.45)))
        else:
            centre, axes = (s // 2, s // 2), (int(s * 0.34), int(s * 0.26))
        cv2.ellipse(filled, centre, axes, 0, 0, 360, 255, -1)
    return filled


def image_noise(img: np.ndarray) -> float:
    """Robust sensor/texture noise level of ``img`` (grey levels): MAD of its fine residual."""
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    resid = g - cv2.GaussianBlur(g, (0, 0), 1.0)
    return float(1.4826 * np.median(np.abs(resid - np.median(resid))))


def _feather(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Soft alpha (float32 0..1) that is 0 outside ``mask`` and ramps up just inside its edge."""
    m = (mask > 0).astype(np.float32)
    if sigma <= 0:
        return m
    a = cv2.GaussianBlur(m, (0, 0), sigma)
    # ~0.5 on the mask's edge, 1 a pixel or two inside, 0 outside: no seam, nothing leaks out.
    return np.minimum(m, np.clip(a * 1.6 - 0.3, 0.0, 1.0))


def _finish(scene: Scene, canvas: _Canvas, region: np.ndarray, sigma: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Blend the edited canvas into the anchor inside ``region`` (canvas-sized), return image + mask."""
    ys, xs = canvas.view_slice
    reg = region[ys, xs]
    mask = np.where(reg > 0, 255, 0).astype(np.uint8)
    alpha = _feather(mask, sigma)[..., None]
    out = scene.view.astype(np.float32) * (1 - alpha) + canvas.img[ys, xs] * alpha
    return np.clip(np.rint(out), 0, 255).astype(np.uint8), mask


def _embed(mask_view: np.ndarray, canvas: _Canvas) -> np.ndarray:
    """Place a view-sized mask into a zero canvas-sized mask."""
    full = np.zeros(canvas.img.shape[:2], np.uint8)
    ys, xs = canvas.view_slice
    full[ys, xs] = mask_view
    return full


def _hole_pad(size: int) -> int:
    """Pixels a removed part's footprint grows by, so its anti-aliased rim goes too."""
    return max(2, size // 40)


def _dilate(mask: np.ndarray, px: int) -> np.ndarray:
    if px <= 0:
        return mask
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate(mask, k)


def fill_from_surroundings(
    img: np.ndarray, hole: np.ndarray, sigmas: tuple[float, ...] = (2, 4, 8, 16, 32)
) -> np.ndarray:
    """Smooth colour field over ``hole`` interpolated from the pixels around it.

    Normalised convolution at growing scales: each hole pixel takes the Gaussian-weighted
    mean of the valid pixels at the smallest scale that reaches enough of them. Unlike
    ``cv2.inpaint`` (Telea), it leaves no streaks or X-shaped seams across large holes.
    """
    valid = (hole == 0).astype(np.float32)
    weighted = img * valid[..., None]
    out = img.copy()
    todo = hole > 0
    h, w = hole.shape
    for sigma in sigmas:
        if not todo.any():
            break
        # Wide blurs on a downscaled copy: same field, a fraction of the cost.
        f = max(1, int(sigma // 4))
        if f > 1:
            small = (max(1, w // f), max(1, h // f))
            den = cv2.resize(
                cv2.GaussianBlur(cv2.resize(valid, small, interpolation=cv2.INTER_AREA), (0, 0), sigma / f),
                (w, h),
                interpolation=cv2.INTER_LINEAR,
            )
            num = cv2.resize(
                cv2.GaussianBlur(cv2.resize(weighted, small, interpolation=cv2.INTER_AREA), (0, 0), sigma / f),
                (w, h),
                interpolation=cv2.INTER_LINEAR,
            )
        else:
            den = cv2.GaussianBlur(valid, (0, 0), sigma)
            num = cv2.GaussianBlur(weighted, (0, 0), sigma)
        ok = todo & (den > 0.15)
        out[ok] = num[ok] / den[ok][:, None]
        todo &= ~ok
    if todo.any():  # hole wider than the largest scale: the mean board colour
        out[todo] = img[valid > 0].mean(axis=0) if valid.any() else 128.0
    return out


def remove_part(canvas: _Canvas, hole: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fill ``hole`` (canvas-sized 0/255) with board: interpolated colour + board texture.

    A smooth fill alone is a smear that a network spots at once; the fine texture (solder
    mask grain, noise) is copied from an intact part of the surroundings.
    """
    hm = (hole > 0)[..., None].astype(np.float32)
    lowfreq = fill_from_surroundings(canvas.img, hole)
    resid = canvas.img - cv2.GaussianBlur(canvas.img, (0, 0), 2.0)
    h, w = hole.shape
    ys, xs = np.nonzero(hole)
    best, best_bad = (0, 0), None
    if len(ys):
        for _ in range(12):
            dy, dx = (int(v) for v in rng.integers(-h // 2, h // 2 + 1, size=2))
            sy, sx = np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)
            bad = int((hole[sy, sx] > 0).sum())
            if best_bad is None or bad < best_bad:
                best, best_bad = (dy, dx), bad
        dy, dx = best
        shifted = np.roll(resid, (-dy, -dx), axis=(0, 1))
        # Texture taken from the part or its edge would ghost the part back in: damp it.
        src_hole = np.roll(_dilate(hole, 4), (-dy, -dx), axis=(0, 1)) > 0
        shifted[src_hole] *= 0.2
    else:
        shifted = np.zeros_like(resid)
    out = lowfreq + shifted * hm
    return out


def _part_geometry(mask: np.ndarray) -> tuple[tuple[float, float], tuple[float, float], float]:
    """(centre, (length, width), angle_deg) of the part's min-area rectangle, length >= width."""
    cnts, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    pts = np.concatenate(cnts) if cnts else np.array([[[0, 0]]], np.int32)
    (cx, cy), (w, h), ang = cv2.minAreaRect(pts)
    if w < h:
        w, h, ang = h, w, ang + 90.0
    return (float(cx), float(cy)), (float(w), float(h)), float(ang)


def _paste(canvas: _Canvas, src: np.ndarray, alpha: np.ndarray) -> None:
    """Alpha-composite ``src`` (canvas-sized float) onto the canvas in place."""
    a = alpha[..., None]
    canvas.img = canvas.img * (1 - a) + src * a


def _uniform(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    lo, hi = lo_hi
    return float(rng.uniform(lo, hi)) if hi > lo else float(lo)


def _r(x: float, nd: int = 3) -> float:
    return round(float(x), nd)


# ----------------------------------------------------------------------------- defects


@register(DefectType.GRAY_PATCH)
def gray_patch(
    scene: Scene,
    rng: np.random.Generator,
    *,
    size_frac: tuple[float, float] = (0.18, 0.45),
    gray: tuple[float, float] = (80.0, 190.0),
    grain: tuple[float, float] = (0.8, 1.5),
) -> DefectResult:
    """An occluding grey patch (foreign matter, glue, label) over the part.

    The patch is a rotated rectangle centred on a random point of the part, with slightly
    rounded corners, fine grain, and the local light falloff of the crop applied to it so it
    is not a flat synthetic block.
    """
    s = scene.view.shape[0]
    fg = part_mask(scene)
    ys, xs = np.nonzero(fg)
    i = int(rng.integers(len(ys)))
    cy, cx = int(ys[i]), int(xs[i])
    w = _uniform(rng, size_frac) * s
    h = w * _uniform(rng, (0.5, 1.6))
    angle = _uniform(rng, (-30.0, 30.0))
    g = _uniform(rng, gray)
    tint = rng.uniform(-6, 6, size=3)
    # Grain at the photo's own noise level (a clean synthetic block is what gives it away).
    tstd = float(np.clip(_uniform(rng, grain) * image_noise(scene.view), 1.0, 10.0))
    region = np.zeros((s, s), np.uint8)
    box = cv2.boxPoints(((cx, cy), (w, h), angle)).astype(np.int32)
    cv2.fillConvexPoly(region, box, 255)
    region = cv2.morphologyEx(region, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    if not region.any():
        cv2.circle(region, (cx, cy), max(3, s // 10), 255, -1)
    # Light: follow the crop's large-scale luminance so the patch sits in the same light.
    lum = cv2.cvtColor(scene.view, cv2.COLOR_RGB2GRAY).astype(np.float32)
    light = cv2.GaussianBlur(lum, (0, 0), s / 6)
    light = light / max(float(light.mean()), 1.0)
    grain = cv2.GaussianBlur(rng.normal(0, tstd, size=(s, s)).astype(np.float32), (0, 0), 0.8)
    patch = (g + tint[None, None, :] + grain[..., None]) * (0.75 + 0.25 * light[..., None])
    canvas = _Canvas(img=patch.astype(np.float32), ox=0, oy=0, size=s, real_context=scene.context is not None)
    img, mask = _finish(scene, canvas, region, sigma=0.8)
    params = {
        "kind": DefectType.GRAY_PATCH.value,
        "center": [cx, cy],
        "size": [_r(w, 1), _r(h, 1)],
        "angle": _r(angle, 1),
        "gray": _r(g, 1),
        "grain_std": _r(tstd, 2),
    }
    return img, mask, params


def rotation_angles(class_label: str, min_deg: float = 25.0) -> tuple[tuple[float, float], bool]:
    """Range of |angle| that is a defect for ``class_label`` and whether exactly 180 is one.

    A non-polarised part (resistor, ceramic capacitor) looks the same turned by 180 degrees,
    so angles near 180 are *not* defects for it (they are positives); for polarised parts the
    180 degree turn is the classic reversed-polarity defect.
    """
    if is_polarised(class_label):
        return (min_deg, 180.0), True
    return (min_deg, 180.0 - min_deg), False


def _move_part(
    scene: Scene,
    rng: np.random.Generator,
    warp: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    shadow: tuple[float, tuple[float, float], float] | None = None,
    pads: bool = True,
) -> tuple[np.ndarray, np.ndarray, _Canvas, bool]:
    """Remove the part, then paste it back transformed by ``warp``.

    With ``pads`` (and a board rather than a bright product backdrop around the part), the
    bare pads are drawn where the part stood, so the part is visibly *off its pads*.

    Returns:
        image, mask, canvas, whether pads were drawn.
    """
    canvas = _canvas(scene)
    fg_view = part_mask(scene)
    fg = _embed(fg_view, canvas)
    original = canvas.img.copy()
    hole = _dilate(fg, _hole_pad(canvas.size))
    canvas.img = remove_part(canvas, hole, rng)
    drew = bool(pads) and scene.origin == "board" and not _bright_backdrop(canvas, hole)
    if drew:
        _draw_pads(canvas, fg_view, scene.class_label, rng)
    # The part layer: original pixels with a soft alpha from its mask.
    moved, moved_mask = warp(original, fg)
    if shadow is not None:
        strength, (sdx, sdy), blur = shadow
        sh = cv2.GaussianBlur((moved_mask > 127).astype(np.float32), (0, 0), blur)
        sh = np.roll(sh, (int(round(sdy)), int(round(sdx))), axis=(0, 1))
        canvas.img = canvas.img * (1 - strength * sh[..., None])
    alpha = cv2.GaussianBlur((moved_mask > 127).astype(np.float32), (0, 0), 0.7)
    _paste(canvas, moved, alpha)
    region = _dilate(((hole > 0) | (moved_mask > 20)).astype(np.uint8) * 255, 2)
    if shadow is not None:
        region = np.maximum(region, ((sh > 0.08) * 255).astype(np.uint8))
    img, mask = _finish(scene, canvas, region, sigma=1.0)
    return img, mask, canvas, drew


def _bright_backdrop(canvas: _Canvas, hole: np.ndarray) -> bool:
    """True when the part sits on a bright product-photo backdrop (no board, so no pads)."""
    ring = canvas.img[hole == 0]
    return bool(len(ring)) and float(ring.mean()) > 200


@register(DefectType.ROTATION)
def rotation(
    scene: Scene,
    rng: np.random.Generator,
    *,
    min_deg: float = 25.0,
    p_180: float = 0.35,
) -> DefectResult:
    """The part turned by a clearly wrong angle about its centre, on its own board.

    180 degrees is drawn (with probability ``p_180``) only for polarised classes; for others
    the angle stays at least ``min_deg`` away from both 0 and 180.
    """
    (lo, hi), allow_180 = rotation_angles(scene.class_label, min_deg)
    if allow_180 and rng.random() < p_180:
        angle = 180.0
    else:
        angle = _uniform(rng, (lo, hi)) * (1 if rng.random() < 0.5 else -1)
    fg = part_mask(scene)
    (cx, cy), _, _ = _part_geometry(fg)
    m = max(4, int(round(scene.view.shape[0] * 0.5)))

    def warp(img: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mat = cv2.getRotationMatrix2D((cx + m, cy + m), angle, 1.0)
        size = (img.shape[1], img.shape[0])
        return (
            cv2.warpAffine(img, mat, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101),
            cv2.warpAffine(mask, mat, size, flags=cv2.INTER_LINEAR),
        )

    img, mask, _, drew = _move_part(scene, rng, warp)
    return img, mask, {
        "kind": DefectType.ROTATION.value,
        "angle": _r(angle, 2),
        "center": [_r(cx, 1), _r(cy, 1)],
        "pads": drew,
    }


@register(DefectType.SHIFT)
def shift(
    scene: Scene,
    rng: np.random.Generator,
    *,
    frac: tuple[float, float] = (0.12, 0.3),
) -> DefectResult:
    """The part displaced off its pads by ``frac`` of the view size in a random direction.

    The vacated footprint is filled with board from the surroundings; with a context
    patch, whatever the moved part uncovers or covers is real board, then the result is
    cropped back to the view.
    """
    s = scene.view.shape[0]
    dist = _uniform(rng, frac) * s
    theta = _uniform(rng, (0.0, 2 * math.pi))
    dx, dy = dist * math.cos(theta), dist * math.sin(theta)

    def warp(img: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mat = np.array([[1, 0, dx], [0, 1, dy]], np.float64)
        size = (img.shape[1], img.shape[0])
        return (
            cv2.warpAffine(img, mat, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101),
            cv2.warpAffine(mask, mat, size, flags=cv2.INTER_LINEAR),
        )

    img, mask, canvas, drew = _move_part(scene, rng, warp)
    return img, mask, {
        "kind": DefectType.SHIFT.value,
        "pads": drew,
        "dx": _r(dx, 2),
        "dy": _r(dy, 2),
        "distance_frac": _r(dist / s),
        "real_context": canvas.real_context,
    }


def _draw_pads(
    canvas: _Canvas, fg: np.ndarray, class_label: str, rng: np.random.Generator
) -> list[list[float]]:
    """Draw the bare pads a removed part leaves: tinned lands (with drill holes for THT)."""
    (cx, cy), (length, width), ang = _part_geometry(fg)
    try:
        cls = ComponentClass(class_label)
    except ValueError:
        cls = None
    n = 3 if cls in THREE_LEAD else 2
    smd = cls in SMD_CLASSES
    rad = math.radians(ang)
    ux, uy = math.cos(rad), math.sin(rad)
    half = max(length * 0.5 - (width * 0.25 if smd else length * 0.12), 3.0)
    pad_r = max(2.0, min(width * (0.3 if smd else 0.22), length * 0.14))
    tin = np.array([196.0, 194.0, 186.0]) + rng.uniform(-18, 12)
    layer = canvas.img.copy()
    pad_mask = np.zeros(canvas.img.shape[:2], np.uint8)
    centres = []
    for j in range(n):
        t = -1.0 + 2.0 * j / (n - 1)
        px, py = cx + canvas.ox + t * half * ux, cy + canvas.oy + t * half * uy
        centres.append([_r(px - canvas.ox, 1), _r(py - canvas.oy, 1)])
        if smd:
            box = cv2.boxPoints(((px, py), (pad_r * 1.6, pad_r * 2.2), ang)).astype(np.int32)
            cv2.fillConvexPoly(pad_mask, box, 255)
        else:
            cv2.circle(pad_mask, (int(round(px)), int(round(py))), int(round(pad_r)), 255, -1, cv2.LINE_AA)
    # Tin: bright, with a soft highlight towards the top-left (typical ring light).
    yy, xx = np.mgrid[0 : pad_mask.shape[0], 0 : pad_mask.shape[1]].astype(np.float32)
    shade = 1.0 + 0.08 * np.sin((xx + yy) / max(pad_r, 1.0))
    pad_col = tin[None, None, :] * shade[..., None]
    a = cv2.GaussianBlur(pad_mask.astype(np.float32) / 255.0, (0, 0), 0.6)[..., None]
    layer = layer * (1 - a) + pad_col * a
    if not smd:
        hole_mask = np.zeros_like(pad_mask)
        for px, py in centres:
            cv2.circle(
                hole_mask,
                (int(round(px + canvas.ox)), int(round(py + canvas.oy))),
                max(1, int(round(pad_r * 0.42))),
                255,
                -1,
                cv2.LINE_AA,
            )
        ha = cv2.GaussianBlur(hole_mask.astype(np.float32) / 255.0, (0, 0), 0.6)[..., None]
        layer = layer * (1 - ha) + np.array([28.0, 26.0, 24.0]) * ha
    canvas.img = layer
    return centres


@register(DefectType.MISSING)
def missing(
    scene: Scene,
    rng: np.random.Generator,
    *,
    pads: bool | None = None,
) -> DefectResult:
    """The part is absent: its footprint is filled with the surrounding board.

    Colour comes from ``cv2.inpaint`` smoothed, fine texture from an intact patch of the
    surroundings. On boards (``pads`` None: origin ``board`` and the surroundings are not
    a bright backdrop) the bare pads are drawn where the leads were: round tinned lands with drill
    holes for through-hole classes, rectangular lands for SMD classes.
    """
    canvas = _canvas(scene)
    fg_view = part_mask(scene)
    fg = _embed(fg_view, canvas)
    hole = _dilate(fg, _hole_pad(canvas.size))
    canvas.img = remove_part(canvas, hole, rng)
    draw = (scene.origin == "board" and not _bright_backdrop(canvas, hole)) if pads is None else pads
    centres = _draw_pads(canvas, fg_view, scene.class_label, rng) if draw else []
    img, mask = _finish(scene, canvas, hole, sigma=1.2)
    return img, mask, {
        "kind": DefectType.MISSING.value,
        "pads": bool(draw),
        "pad_centres": centres,
        "real_context": canvas.real_context,
    }


@register(DefectType.WRONG_PART)
def wrong_part(
    scene: Scene,
    rng: np.random.Generator,
    *,
    light_match: tuple[float, float] = (0.5, 0.9),
) -> DefectResult:
    """Another class's component placed where the part was, at the part's scale.

    The donor part is cut out of its own crop with its estimated mask, scaled so its
    min-area rectangle matches the anchor part's length, turned to the anchor's orientation,
    its brightness pulled towards the anchor's lighting (``light_match`` of the way), and
    pasted with a soft edge and a faint contact shadow over the board left by removing the
    anchor part.
    """
    if scene.donor is None:
        raise ValueError("wrong_part needs scene.donor (a crop of another class)")
    s = scene.view.shape[0]
    canvas = _canvas(scene)
    fg_view = part_mask(scene)
    fg = _embed(fg_view, canvas)
    hole = _dilate(fg, _hole_pad(canvas.size))
    canvas.img = remove_part(canvas, hole, rng)

    donor = scene.donor
    dview = cv2.resize(donor.view, (s, s), interpolation=cv2.INTER_AREA) if donor.view.shape[0] != s else donor.view
    dscene = Scene(
        view=dview,
        class_label=donor.class_label,
        context_box=donor.context_box,
        view_margin=donor.view_margin,
        origin=donor.origin,
    )
    dmask = part_mask(dscene)
    (acx, acy), (alen, _), aang = _part_geometry(fg_view)
    (dcx, dcy), (dlen, _), dang = _part_geometry(dmask)
    scale = float(np.clip(alen / max(dlen, 1.0), 0.5, 2.0))
    turn = aang - dang + (180.0 if rng.random() < 0.5 else 0.0)
    mat = cv2.getRotationMatrix2D((dcx, dcy), -turn, scale)
    mat[0, 2] += acx + canvas.ox - dcx
    mat[1, 2] += acy + canvas.oy - dcy
    size = (canvas.img.shape[1], canvas.img.shape[0])
    layer = cv2.warpAffine(dview, mat, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101).astype(
        np.float32
    )
    lmask = cv2.warpAffine(dmask, mat, size, flags=cv2.INTER_LINEAR)
    # Lighting: move the donor's mean luminance towards the anchor part's.
    k = _uniform(rng, light_match)
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
    _paste(canvas, layer, alpha)
    region = _dilate(((hole > 0) | (lmask > 20) | (sh > 0.08)).astype(np.uint8) * 255, 1)
    img, mask = _finish(scene, canvas, region, sigma=1.0)
    return img, mask, {
        "kind": DefectType.WRONG_PART.value,
        "donor_id": scene.donor_id,
        "donor_class": donor.class_label,
        "scale": _r(scale),
        "turn": _r(turn, 1),
        "light_gain": _r(gain),
    }


@register(DefectType.LIFTED)
def lifted(
    scene: Scene,
    rng: np.random.Generator,
    *,
    lift: tuple[float, float] = (0.12, 0.3),
    shadow: tuple[float, float] = (0.3, 0.55),
) -> DefectResult:
    """One end of the part raised off the board (tombstoning / a lifted lead).

    A perspective warp grows and pushes out the raised end (``lift`` as a fraction of the
    part's length: nearer the camera, so larger), the raised end catches more light, and a
    soft shadow falls on the board under it (``shadow`` darkness).
    """
    fg = part_mask(scene)
    (cx, cy), (length, width), ang = _part_geometry(fg)
    m = max(4, int(round(scene.view.shape[0] * 0.5)))
    amount = _uniform(rng, lift)
    side = 1 if rng.random() < 0.5 else -1
    strength = _uniform(rng, shadow)
    rad = math.radians(ang)
    ux, uy = math.cos(rad) * side, math.sin(rad) * side  # towards the raised end
    vx, vy = -uy, ux
    L, W = length / 2 + 2, width / 2 + 2
    c = np.array([cx + m, cy + m])
    u, v = np.array([ux, uy]), np.array([vx, vy])
    src = np.float32([c - L * u - W * v, c - L * u + W * v, c + L * u + W * v, c + L * u - W * v])
    grow = 1.0 + amount
    push = amount * L * 0.6
    # Raised end: wider (closer to the lens) and pushed outwards and a little "up" in the image.
    dst = np.float32(
        [
            src[0],
            src[1],
            c + (L + push) * u + W * grow * v - amount * L * 0.3 * np.array([0, 1]),
            c + (L + push) * u - W * grow * v - amount * L * 0.3 * np.array([0, 1]),
        ]
    )
    persp = cv2.getPerspectiveTransform(src, dst)
    brighten = 1.0 + 0.25 * amount

    def warp(img: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        size = (img.shape[1], img.shape[0])
        out = cv2.warpPerspective(img, persp, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        mk = cv2.warpPerspective(mask, persp, size, flags=cv2.INTER_LINEAR)
        # Light gradient along the part: the raised end faces the light more.
        yy, xx = np.mgrid[0 : size[1], 0 : size[0]].astype(np.float32)
        t = ((xx - c[0]) * u[0] + (yy - c[1]) * u[1]) / max(L, 1.0)
        gain = 1.0 + (brighten - 1.0) * np.clip(t, 0, 1.5)
        return out * gain[..., None], mk

    shadow_dx, shadow_dy = u * (amount * L * 0.8) + np.array([1.5, 2.5])
    # Pads stay hidden under a lifted part: only one end rises, the footprint barely moves.
    img, mask, _, _ = _move_part(
        scene, rng, warp, shadow=(strength, (shadow_dx, shadow_dy), 2.0 + 6 * amount), pads=False
    )
    return img, mask, {
        "kind": DefectType.LIFTED.value,
        "lift": _r(amount),
        "side": side,
        "shadow": _r(strength),
        "axis_deg": _r(ang, 1),
    }


def apply_defect(kind: DefectType | str, scene: Scene, rng: np.random.Generator, **ranges: Any) -> DefectResult:
    """Run the registered generator of ``kind`` on ``scene``.

    Raises:
        KeyError: no generator registered for ``kind``.
    """
    k = DefectType(kind)
    if k not in DEFECTS:
        raise KeyError(f"no defect generator registered for {k.value!r}; known: {sorted(d.value for d in DEFECTS)}")
    return DEFECTS[k](scene, rng, **ranges)
