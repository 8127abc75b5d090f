"""The scene toolkit the defects are built from: a component in its surroundings, and how to edit it.

A :class:`Scene` is the component's square view (the anchor crop) plus, when the crop stage
kept it, the larger context patch and where the view sits inside it. :func:`make_canvas`
rebuilds the view inside half a view of real board on each side (edge pixels replicated
where there is no context), so edits see real surroundings: a removed part is filled from
the board around it (:func:`remove_part`), a moved part uncovers real board
(:func:`move_part`), bare pads are drawn where a part left them (:func:`draw_pads`), and
:func:`finish` blends the edited canvas back into the anchor inside a mask only.

Nothing here draws random numbers: every choice (texture offsets, tin colour) arrives as a
value, so a defect built from these functions is a pure function of its recorded parameters.
Used by :mod:`pcbforge.augment.functional` (the defects) and its samplers.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np

from pcbforge.taxonomy import ClassInfo, Mount, Taxonomy

#: Facts of a scene built without any (library use, tests): the default taxonomy's, which
#: gives an unknown name conservative facts (:meth:`~pcbforge.taxonomy.Taxonomy.facts`).
_DEFAULT_TAXONOMY = Taxonomy.default()


@dataclass(frozen=True)
class Scene:
    """A component as the defects see it.

    Attributes:
        view: the anchor crop, SxSx3 uint8 (RGB).
        class_label: the component class (a name of the ``classes`` taxonomy).
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
        info: the class's facts from the project's taxonomy (mount, pads, polarity,
            symmetry); stages pass ``params.taxonomy().facts(class_label)``. None: the
            default taxonomy's facts of ``class_label`` (see :attr:`facts`).
        memo: results of pure functions of this scene's pixels and box (:func:`part_mask`,
            :func:`make_canvas`), computed once and reused by every defect, sampler and
            positive drawn from the same scene (they ask for them 4-5 times per triplet).
            Copies that differ only in ``donor``/``donor_id``/``info`` may share it
            (:meth:`with_donor`); never share it between scenes of different pixels.
    """

    view: np.ndarray
    class_label: str
    context: np.ndarray | None = None
    context_box: tuple[float, float, float, float] | None = None
    view_margin: float = 0.0
    origin: str = "board"
    donor: Scene | None = None
    donor_id: str | None = None
    info: ClassInfo | None = None
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def with_donor(self, donor: Scene, donor_id: str | None) -> Scene:
        """This scene with ``donor`` set, sharing :attr:`memo` (the donor changes no mask or canvas)."""
        return replace(self, donor=donor, donor_id=donor_id, memo=self.memo)

    @property
    def facts(self) -> ClassInfo:
        """The class facts the defects follow: :attr:`info`, else the default taxonomy's for ``class_label``."""
        return self.info if self.info is not None else _DEFAULT_TAXONOMY.facts(self.class_label)

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


# ----------------------------------------------------------------------------- geometry helpers


@dataclass
class Canvas:
    """The view inside a margin of (real or edge-replicated) surroundings, at view resolution."""

    img: np.ndarray  # float32 HxWx3, 0..255
    ox: int  # view's top-left inside img
    oy: int
    size: int
    real_context: bool
    #: Canvas pixels that are real (view or context patch), not edge-replicated: None = all.
    known: np.ndarray | None = None

    @property
    def view_slice(self) -> tuple[slice, slice]:
        return slice(self.oy, self.oy + self.size), slice(self.ox, self.ox + self.size)


def canvas_margin(size: int, margin_frac: float = 0.5) -> int:
    """Pixels of surroundings :func:`make_canvas` puts on each side of a ``size`` px view."""
    return max(4, int(round(size * margin_frac)))


def make_canvas(scene: Scene, margin_frac: float = 0.5) -> Canvas:
    """Resize the context so the view box maps onto the view exactly; replicate edge pixels where short.

    Built once per scene and margin (:attr:`Scene.memo`); each call returns a fresh copy, as
    the defects edit their canvas.
    """
    key = ("canvas", float(margin_frac))
    base = scene.memo.get(key)
    if base is None:
        base = scene.memo[key] = _make_canvas(scene, margin_frac)
    return Canvas(
        img=base.img.copy(),
        ox=base.ox,
        oy=base.oy,
        size=base.size,
        real_context=base.real_context,
        known=None if base.known is None else base.known.copy(),
    )


def _make_canvas(scene: Scene, margin_frac: float) -> Canvas:
    view = scene.view
    s = view.shape[0]
    m = canvas_margin(s, margin_frac)
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
        ones = np.full(scene.context.shape[:2], 255, np.uint8)
        known = cv2.warpAffine(ones, mat, (s + 2 * m, s + 2 * m), flags=cv2.INTER_NEAREST) > 0
    else:
        img = cv2.copyMakeBorder(view, m, m, m, m, cv2.BORDER_REPLICATE).astype(np.float32)
        real = False
        known = np.zeros(img.shape[:2], bool)
    # The anchor's own pixels are the truth inside the view (the context resize differs slightly).
    img[m : m + s, m : m + s] = view.astype(np.float32)
    known[m : m + s, m : m + s] = True
    return Canvas(img=img, ox=m, oy=m, size=s, real_context=real, known=known)


def part_mask(scene: Scene) -> np.ndarray:
    """Estimate which view pixels belong to the part (uint8 0/255, view-sized).

    On a board with a known labelled box (the crop stage's ``context_box``) the box is the
    prior: :func:`box_part_mask` keeps the box and carves away only board that reaches it
    from outside. Otherwise (web photos, no box), or when that leaves too little of the box
    (part and board the same colour), :func:`colour_part_mask` separates the part from the
    colour on the view's border. Estimated once per scene (:attr:`Scene.memo`); callers get a copy.
    """
    mask = scene.memo.get("part_mask")
    if mask is None:
        mask = scene.memo["part_mask"] = _part_mask(scene)
    return mask.copy()


def _part_mask(scene: Scene) -> np.ndarray:
    pbox = scene.part_box()
    if scene.origin == "board" and pbox is not None:
        carved = box_part_mask(scene)
        bx0, by0, bx1, by1 = pbox
        if int((carved > 0).sum()) >= MIN_BOX_SHARE * max(1.0, (bx1 - bx0) * (by1 - by0)):
            return carved
    return colour_part_mask(scene)


#: Below this share of its labelled box, a carved part mask is taken as degenerate.
MIN_BOX_SHARE = 0.3
#: How far past the labelled box the part may reach (labels are drawn by hand), x the long side.
BOX_GROW = 0.03
#: A pixel is board when its Lab distance to the board colour is under this x the board's spread.
BOARD_TOL = 2.0


def box_part_mask(scene: Scene) -> np.ndarray:
    """The part as its labelled box says, minus the board that reaches into the box from outside.

    Colour splits measured on real SMD boards (``benchmarks/bench_masks.py``, docs/defects.md)
    left out terminations, leads and dark bodies: whichever part colour came close to the board's
    or the tin's. The box is the annotator's statement of where the part is, so it is the prior:
    the board colour (median Lab of a ring around the box, spread = mean distance of the ring's
    nearer half) is flooded in from outside the box (grown by :data:`BOX_GROW`) through
    board-coloured pixels only (4-connected, after a 2 px blur); what the flood does not reach
    is the part: the board between an IC's leads or at a round part's corners goes, a dark body
    or a bright termination stays, and so does the blurred rim of a part photographed out of
    focus (it belongs to the part: left behind it would ghost the part). Blobs not reaching the
    box's central half are dropped, holes filled, the edge smoothed.
    """
    s = scene.view.shape[0]
    canvas = make_canvas(scene)
    h, w = canvas.img.shape[:2]
    img = np.clip(np.rint(canvas.img), 0, 255).astype(np.uint8)
    lab = cv2.cvtColor(cv2.GaussianBlur(img, (0, 0), 2.0), cv2.COLOR_RGB2LAB).astype(np.float32)
    bx0, by0, bx1, by1 = scene.part_box()  # type: ignore[misc]
    long_side = max(bx1 - bx0, by1 - by0, 1.0)

    def rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        m = np.zeros((h, w), bool)
        ya, yb = (int(min(h, max(0, round(v + canvas.oy)))) for v in (y0, y1))
        xa, xb = (int(min(w, max(0, round(v + canvas.ox)))) for v in (x0, x1))
        m[ya:yb, xa:xb] = True
        return m

    g = BOX_GROW * long_side + 1
    allow = rect(bx0 - g, by0 - g, bx1 + g, by1 + g)
    e = g + 0.25 * long_side
    ring = rect(bx0 - e, by0 - e, bx1 + e, by1 + e) & ~allow
    px = lab[ring] if ring.any() else lab[~allow]
    ref = np.median(px, axis=0)
    d_ring = np.sqrt(((px - ref) ** 2).sum(axis=1))
    # The ring holds neighbours and tin too: the board's spread is that of its nearer half.
    spread = float(d_ring[d_ring <= np.median(d_ring)].mean()) if len(d_ring) else 0.0
    board_like = np.sqrt(((lab - ref) ** 2).sum(axis=2)) < max(8.0, BOARD_TOL * spread)
    region = (board_like | ~allow).astype(np.uint8)
    _, lbl = cv2.connectedComponents(region, connectivity=4)
    outside = np.unique(lbl[~allow])
    board = np.isin(lbl, outside[outside > 0])
    part = (allow & ~board).astype(np.uint8) * 255
    ko = max(3, (s // 40) | 1)
    part = cv2.morphologyEx(part, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (ko, ko)))
    n, lbl, stats, _ = cv2.connectedComponentsWithStats(part)
    core = rect((3 * bx0 + bx1) / 4, (3 * by0 + by1) / 4, (bx0 + 3 * bx1) / 4, (by0 + 3 * by1) / 4)
    keep = np.zeros_like(part)
    for i in range(1, n):
        sel = lbl == i
        # The part, or a large piece of it (an IC's lead row), not a speck of the board.
        if (sel & core).any() or stats[i, cv2.CC_STAT_AREA] >= 0.05 * long_side * long_side:
            keep[sel] = 255
    cnts, _ = cv2.findContours(keep, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(keep)
    cv2.drawContours(filled, cnts, -1, 255, thickness=cv2.FILLED)
    smooth = cv2.GaussianBlur(filled.astype(np.float32), (0, 0), 1.5)
    out = np.where(smooth > 127, 255, 0).astype(np.uint8)
    return np.ascontiguousarray(out[canvas.oy : canvas.oy + s, canvas.ox : canvas.ox + s])


def colour_part_mask(scene: Scene) -> np.ndarray:
    """The part as the colours far from the view's border (uint8 0/255, view-sized).

    The board/background colour is taken from the view's border; pixels far from it in Lab
    space are the part (Otsu threshold). Falls back to a central ellipse when the estimate is
    degenerate (part colour equals board colour). Used where no labelled box is known (web
    photos) or :func:`box_part_mask` finds nothing.
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


def feather(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Soft alpha (float32 0..1) that is 0 outside ``mask`` and ramps up just inside its edge."""
    m = (mask > 0).astype(np.float32)
    if sigma <= 0:
        return m
    a = cv2.GaussianBlur(m, (0, 0), sigma)
    # ~0.5 on the mask's edge, 1 a pixel or two inside, 0 outside: no seam, nothing leaks out.
    return np.minimum(m, np.clip(a * 1.6 - 0.3, 0.0, 1.0))


def finish(scene: Scene, canvas: Canvas, region: np.ndarray, sigma: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Blend the edited canvas into the anchor inside ``region`` (canvas-sized), return image + mask."""
    ys, xs = canvas.view_slice
    reg = region[ys, xs]
    mask = np.where(reg > 0, 255, 0).astype(np.uint8)
    alpha = feather(mask, sigma)[..., None]
    out = scene.view.astype(np.float32) * (1 - alpha) + canvas.img[ys, xs] * alpha
    return np.clip(np.rint(out), 0, 255).astype(np.uint8), mask


def embed(mask_view: np.ndarray, canvas: Canvas) -> np.ndarray:
    """Place a view-sized mask into a zero canvas-sized mask."""
    full = np.zeros(canvas.img.shape[:2], np.uint8)
    ys, xs = canvas.view_slice
    full[ys, xs] = mask_view
    return full


def hole_pad(size: int) -> int:
    """Pixels a removed part's footprint grows by, so its anti-aliased rim goes too."""
    return max(2, size // 40)


def dilate(mask: np.ndarray, px: int) -> np.ndarray:
    if px <= 0:
        return mask
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate(mask, k)


def fill_from_surroundings(
    img: np.ndarray,
    hole: np.ndarray,
    sigmas: tuple[float, ...] = (2, 4, 8, 16, 32),
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """Smooth colour field over ``hole`` interpolated from the pixels around it.

    Normalised convolution at growing scales: each hole pixel takes the Gaussian-weighted
    mean of the valid pixels at the smallest scale that reaches enough of them. Unlike
    ``cv2.inpaint`` (Telea), it leaves no streaks or X-shaped seams across large holes.
    ``valid`` (bool, default: everything outside the hole) says which pixels may lend their
    colour: edge-replicated canvas margins are straight streaks, so they lend none.
    """
    ok_px = hole == 0 if valid is None else (hole == 0) & valid
    if not ok_px.any():
        ok_px = hole == 0
    valid_f = ok_px.astype(np.float32)
    weighted = img * valid_f[..., None]
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
                cv2.GaussianBlur(cv2.resize(valid_f, small, interpolation=cv2.INTER_AREA), (0, 0), sigma / f),
                (w, h),
                interpolation=cv2.INTER_LINEAR,
            )
            num = cv2.resize(
                cv2.GaussianBlur(cv2.resize(weighted, small, interpolation=cv2.INTER_AREA), (0, 0), sigma / f),
                (w, h),
                interpolation=cv2.INTER_LINEAR,
            )
        else:
            den = cv2.GaussianBlur(valid_f, (0, 0), sigma)
            num = cv2.GaussianBlur(weighted, (0, 0), sigma)
        ok = todo & (den > 0.15)
        out[ok] = num[ok] / den[ok][:, None]
        todo &= ~ok
    if todo.any():  # hole wider than the largest scale: the mean board colour
        out[todo] = img[ok_px].mean(axis=0) if ok_px.any() else 128.0
    return out


#: Board texture copied into a fill is clipped to this many times the board's own noise level:
#: a neighbour's lead or edge caught by the texture source must not be pasted in as a ghost.
TEXTURE_CLIP = 3.0


def remove_part(canvas: Canvas, hole: np.ndarray, offsets: Sequence[Sequence[int]]) -> np.ndarray:
    """Fill ``hole`` (canvas-sized 0/255) with board: interpolated colour + board texture.

    A smooth fill alone is a smear that a network spots at once; the fine texture (solder
    mask grain, noise) is copied from an intact part of the surroundings: of the candidate
    ``offsets`` ``(dy, dx)`` (drawn by :func:`pcbforge.augment.transforms.texture_offsets`),
    the first one whose source overlaps the (grown) hole or the canvas's edge-replicated
    margin (``canvas.known``) least. Replicated margins are excluded from both colour and
    texture: copied into a fill they were the straight streaks seen on real boards, whose
    context patch is narrow across an elongated part. The texture is clipped to
    :data:`TEXTURE_CLIP` x its robust noise level so no edge comes along with it.
    """
    known = canvas.known if canvas.known is not None else np.ones(hole.shape, bool)
    lowfreq, resid, grown, lim = _removal_fields(canvas.img, hole, known)
    if grown is None:
        return lowfreq.copy()
    # Texture lands inside the hole only (outside it the sum below adds 0): work on the
    # hole's bounding box, with the wrap-around source rows/columns np.roll would give.
    in_hole = hole > 0
    ys, xs = np.nonzero(in_hole)
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    h, w = hole.shape
    box_hole = in_hole[y0:y1, x0:x1]
    bad_src = grown | ~known
    rows, cols = np.arange(y0, y1), np.arange(x0, x1)
    best, best_bad = (0, 0), None
    for dy, dx in ((int(a), int(b)) for a, b in offsets):
        # Hole pixels whose source, (dy, dx) away with wrap-around, is bad.
        bad = int(np.count_nonzero(bad_src[np.ix_((rows + dy) % h, (cols + dx) % w)] & box_hole))
        if best_bad is None or bad < best_bad:
            best, best_bad = (dy, dx), bad
    dy, dx = best
    src = np.ix_((rows + dy) % h, (cols + dx) % w)
    shifted = resid[src]  # a copy (fancy indexing)
    # Texture taken from the part, its edge or a replicated margin would ghost or streak: damp it.
    shifted[bad_src[src]] *= 0.2
    if lim is not None:
        shifted = np.clip(shifted, -lim, lim)
    out = lowfreq.copy()
    out[y0:y1, x0:x1] = lowfreq[y0:y1, x0:x1] + shifted * box_hole[..., None].astype(np.float32)
    return out


#: Recent :func:`_removal_fields` results by content digest: a scene's footprint is removed
#: once per triplet (missing, shift, rotation, lifted, wrong_part), always the same hole in
#: the same canvas, and the colour field is the most expensive part of a defect.
_REMOVAL_CACHE: OrderedDict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]] = OrderedDict()
_REMOVAL_CACHE_SIZE = 8


def _digest(*arrays: np.ndarray) -> bytes:
    h = hashlib.blake2b(digest_size=20)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.data)
    return h.digest()


def _removal_fields(
    img: np.ndarray, hole: np.ndarray, known: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """What :func:`remove_part` needs that does not depend on the texture offsets.

    (colour field, fine residual, grown hole or None for an empty hole, texture clip limit or
    None), a pure function of the three arrays, kept for the last few inputs by content (the
    caller must not edit the returned arrays in place).
    """
    key = _digest(img, hole, known)
    hit = _REMOVAL_CACHE.get(key)
    if hit is not None:
        _REMOVAL_CACHE.move_to_end(key)
        return hit
    lowfreq = fill_from_surroundings(img, hole, valid=known)
    resid = img - cv2.GaussianBlur(img, (0, 0), 2.0)
    grown = lim = None
    if hole.any():
        grown = dilate(hole, 4) > 0
        sample = resid[known & ~grown]
        if len(sample):
            noise = 1.4826 * np.median(np.abs(sample - np.median(sample, axis=0)), axis=0)
            lim = np.maximum(TEXTURE_CLIP * noise, 1.0).astype(np.float32)
    for a in (lowfreq, resid, grown, lim):
        if a is not None:
            a.flags.writeable = False
    _REMOVAL_CACHE[key] = (lowfreq, resid, grown, lim)
    while len(_REMOVAL_CACHE) > _REMOVAL_CACHE_SIZE:
        _REMOVAL_CACHE.popitem(last=False)
    return lowfreq, resid, grown, lim


def part_geometry(mask: np.ndarray) -> tuple[tuple[float, float], tuple[float, float], float]:
    """(centre, (length, width), angle_deg) of the part's min-area rectangle, length >= width."""
    cnts, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    pts = np.concatenate(cnts) if cnts else np.array([[[0, 0]]], np.int32)
    (cx, cy), (w, h), ang = cv2.minAreaRect(pts)
    if w < h:
        w, h, ang = h, w, ang + 90.0
    return (float(cx), float(cy)), (float(w), float(h)), float(ang)


def paste(canvas: Canvas, src: np.ndarray, alpha: np.ndarray) -> None:
    """Alpha-composite ``src`` (canvas-sized float) onto the canvas in place."""
    a = alpha[..., None]
    canvas.img = canvas.img * (1 - a) + src * a


def move_part(
    scene: Scene,
    warp: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    offsets: Sequence[Sequence[int]],
    tin_shift: float = 0.0,
    shadow: tuple[float, tuple[float, float], float] | None = None,
    pads: bool = True,
    shadow_warp: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, Canvas, bool]:
    """Remove the part, then paste it back transformed by ``warp``.

    With ``pads`` (and a board rather than a bright product backdrop around the part), the
    bare pads of its class (``scene.facts``: mount and pad count) are drawn where the part
    stood, so the part is visibly *off its pads*.
    ``offsets`` go to :func:`remove_part`, ``tin_shift`` to :func:`draw_pads`.
    ``shadow`` = (darkness, (dx, dy) offset, blur) casts the moved part's shape on the board;
    ``shadow_warp`` (the part's canvas mask -> the shape its shadow has) replaces that shape,
    e.g. a shadow that grows towards a raised end.

    Returns:
        image, mask, canvas, whether pads were drawn.
    """
    canvas = make_canvas(scene)
    fg_view = part_mask(scene)
    fg = embed(fg_view, canvas)
    original = canvas.img.copy()
    hole = dilate(fg, hole_pad(canvas.size))
    canvas.img = remove_part(canvas, hole, offsets)
    drew = bool(pads) and scene.origin == "board" and not bright_backdrop(canvas, hole)
    if drew:
        # A class with no known footprint (pads: 0) draws none: "drew" says what happened.
        drew = bool(draw_pads(canvas, fg_view, scene.facts, tin_shift))
    # The part layer: original pixels with a soft alpha from its mask.
    moved, moved_mask = warp(original, fg)
    if shadow is not None:
        strength, (sdx, sdy), blur = shadow
        caster = moved_mask if shadow_warp is None else shadow_warp(fg)
        sh = cv2.GaussianBlur((caster > 127).astype(np.float32), (0, 0), blur)
        sh = np.roll(sh, (int(round(sdy)), int(round(sdx))), axis=(0, 1))
        canvas.img = canvas.img * (1 - strength * sh[..., None])
    alpha = cv2.GaussianBlur((moved_mask > 127).astype(np.float32), (0, 0), 0.7)
    paste(canvas, moved, alpha)
    region = dilate(((hole > 0) | (moved_mask > 20)).astype(np.uint8) * 255, 2)
    if shadow is not None:
        region = np.maximum(region, ((sh > 0.08) * 255).astype(np.uint8))
    img, mask = finish(scene, canvas, region, sigma=1.0)
    return img, mask, canvas, drew


def bright_backdrop(canvas: Canvas, hole: np.ndarray) -> bool:
    """True when the part sits on a bright product-photo backdrop (no board, so no pads)."""
    ring = canvas.img[hole == 0]
    return bool(len(ring)) and float(ring.mean()) > 200


@dataclass(frozen=True)
class PadLayout:
    """Where a removed part's pads go (:func:`pad_layout`), in canvas pixels."""

    points: list[tuple[float, float]]  #: pad centres
    size: tuple[float, float]  #: an SMD land's sides along and across the part's long axis
    radius: float  #: a THT pad's radius (for SMD lands it sets the tin's shading ripple)
    angle: float  #: the long axis, degrees


def pad_layout(fg: np.ndarray, info: ClassInfo, origin: tuple[int, int] = (0, 0)) -> PadLayout:
    """Where the pads of a removed part go, from its mask and its class's ``mount`` and ``pads``.

    One pad sits on the part's centre; two or three sit in a row along the long axis of the
    part's min-area rectangle, near its ends (a chip, an axial part, a TO-92 or SOT-23 in
    line); four or more sit in two rows along the long sides (an IC: SOIC lands, DIP pads),
    the first row taking the odd one. Pads stay inside the part's footprint, which is what
    a removed part's fill replaces.

    Args:
        fg: the part's mask (view-sized, 0/255).
        info: the class facts (``pads`` 0: no pads).
        origin: the view's top-left in the canvas the points are for.
    """
    (cx, cy), (length, width), ang = part_geometry(fg)
    n = int(info.pads)
    smd = info.mount is Mount.SMD
    offsets: list[tuple[float, float]]  # (along, across) the long axis
    if n <= 0:
        return PadLayout([], (0.0, 0.0), 0.0, ang)
    if n <= 3:
        half = max(length * 0.5 - (width * 0.25 if smd else length * 0.12), 3.0)
        pad_r = max(2.0, min(width * (0.3 if smd else 0.22), length * 0.14))
        offsets = [(0.0, 0.0)] if n == 1 else [((-1.0 + 2.0 * j / (n - 1)) * half, 0.0) for j in range(n)]
        size = (pad_r * 1.6, pad_r * 2.2)
    else:
        rows = ((n + 1) // 2, n // 2)
        pitch = length / rows[0]
        if smd:
            size = (max(2.0, pitch * 0.55), max(3.0, width * 0.26))
            pad_r = max(2.0, size[0] / 2)
            across = max(0.0, width * 0.5 - size[1] * 0.5 - 1.0)
        else:
            pad_r = max(1.5, min(pitch * 0.3, width * 0.18))
            size = (2 * pad_r, 2 * pad_r)
            across = max(0.0, width * 0.5 - pad_r * 1.2)
        offsets = [((j - (m - 1) / 2) * pitch, side * across) for side, m in ((-1.0, rows[0]), (1.0, rows[1])) for j in range(m)]
    rad = math.radians(ang)
    ux, uy = math.cos(rad), math.sin(rad)
    ox, oy = origin
    # Summed in this order (centre, origin, along, across): the pixels of the 2- and 3-pad
    # rows stay those the pads always had.
    points = [(cx + ox + a * ux - b * uy, cy + oy + a * uy + b * ux) for a, b in offsets]
    return PadLayout(points, size, pad_r, ang)


def draw_pads(canvas: Canvas, fg: np.ndarray, info: ClassInfo, tin_shift: float = 0.0) -> list[list[float]]:
    """Draw the bare pads a removed part leaves, as its class's facts say (:func:`pad_layout`).

    SMD (``info.mount``): flat rectangular tinned lands, never a drill hole. THT: round tinned
    pads, each with a dark drill hole. ``info.pads`` 0 draws nothing (the footprint is unknown).
    ``tin_shift`` moves the tin's grey level (samplers draw it in -18..12: tin varies).

    Returns:
        The pad centres in view pixels (0.1 px), empty when none were drawn.
    """
    lay = pad_layout(fg, info, (canvas.ox, canvas.oy))
    if not lay.points:
        return []
    smd = info.mount is Mount.SMD
    pad_r = lay.radius
    tin = np.array([196.0, 194.0, 186.0]) + tin_shift
    pad_mask = np.zeros(canvas.img.shape[:2], np.uint8)
    centres = []
    for px, py in lay.points:
        centres.append([_r(px - canvas.ox, 1), _r(py - canvas.oy, 1)])
        if smd:
            box = cv2.boxPoints(((px, py), lay.size, lay.angle)).astype(np.int32)
            cv2.fillConvexPoly(pad_mask, box, 255)
        else:
            cv2.circle(pad_mask, (int(round(px)), int(round(py))), int(round(pad_r)), 255, -1, cv2.LINE_AA)
    hole_mask = None
    if not smd:
        # Through-hole only: a dark drill hole in each pad (an SMD land has none).
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
    # The blends below leave every pixel farther than the blur's reach from a pad exactly as it
    # was (alpha 0), so they run on the pads' bounding box only, grown past that reach (the
    # 0.6 px blur's kernel is 7 px wide). The blend made the canvas float64; it still does.
    layer = canvas.img.astype(np.float64)
    ys, xs = np.nonzero(pad_mask if hole_mask is None else pad_mask | hole_mask)
    if len(ys):
        grow = 8
        h, w = pad_mask.shape
        y0, y1 = max(0, int(ys.min()) - grow), min(h, int(ys.max()) + 1 + grow)
        x0, x1 = max(0, int(xs.min()) - grow), min(w, int(xs.max()) + 1 + grow)
        box_sl = (slice(y0, y1), slice(x0, x1))
        # Tin: bright, with a soft highlight towards the top-left (typical ring light).
        yy = np.arange(y0, y1, dtype=np.float32)[:, None]
        xx = np.arange(x0, x1, dtype=np.float32)[None, :]
        shade = 1.0 + 0.08 * np.sin((xx + yy) / max(pad_r, 1.0))
        pad_col = tin[None, None, :] * shade[..., None]
        # Blurred whole, then cut: OpenCV's blur of a cut-out differs in the last bits.
        a = cv2.GaussianBlur(pad_mask.astype(np.float32) / 255.0, (0, 0), 0.6)[box_sl][..., None]
        sub = canvas.img[box_sl] * (1 - a) + pad_col * a
        if hole_mask is not None:
            ha = cv2.GaussianBlur(hole_mask.astype(np.float32) / 255.0, (0, 0), 0.6)[box_sl][..., None]
            sub = sub * (1 - ha) + np.array([28.0, 26.0, 24.0]) * ha
        layer[box_sl] = sub
    canvas.img = layer
    return centres


def _r(x: float, nd: int = 3) -> float:
    return round(float(x), nd)
