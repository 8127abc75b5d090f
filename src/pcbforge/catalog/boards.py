"""Synthetic populated PCBs with exact YOLO labels, for the crop stage and its tests.

A board is drawn bottom-up the way one is made: solder mask with copper traces and vias
under it, pads, silkscreen outlines and reference designators, then the parts (top views
from :mod:`pcbforge.catalog.topview`) with their shadows, then lighting and sensor noise.
Parts never overlap, and each label is the exact bounding box of the part's opaque pixels.

Example:
    >>> from pcbforge.rng import make_rng
    >>> img, parts = draw_board(make_rng(0, "doc"), (320, 240), (3, 4))
    >>> img.size, 3 <= len(parts) <= 4
    ((320, 240), True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from pcbforge.annotate.yolo import format_row, from_pixels
from pcbforge.catalog.paint import font
from pcbforge.catalog.topview import draw_top_view, top_size
from pcbforge.vocab import ComponentClass

Rng = np.random.Generator

#: Reference-designator prefix printed next to each part (IEEE 315 letters).
REF_PREFIX: dict[ComponentClass, str] = {
    ComponentClass.CAPACITOR: "C",
    ComponentClass.CERAMIC_CAPACITOR: "C",
    ComponentClass.CONVERTER: "U",
    ComponentClass.DIODE: "D",
    ComponentClass.HEAT_SINK: "HS",
    ComponentClass.CRYSTAL_OSCILLATOR: "Y",
    ComponentClass.RELAY: "K",
    ComponentClass.RESISTOR: "R",
    ComponentClass.SMD_CAPACITOR: "C",
    ComponentClass.SMD_DIODE: "D",
    ComponentClass.SMD_TRANSISTOR: "Q",
    ComponentClass.TRANSISTOR: "Q",
}

_MASKS = [(22, 92, 44), (18, 110, 50), (30, 120, 60), (12, 75, 38), (40, 100, 45)]
_OTHER_MASKS = [(20, 50, 130), (25, 25, 30), (120, 20, 25)]
_SMD = {ComponentClass.SMD_CAPACITOR, ComponentClass.SMD_DIODE, ComponentClass.SMD_TRANSISTOR}


@dataclass(frozen=True)
class Placement:
    """One part on a board: its class, pixel box ``(x0, y0, x1, y1)`` (x1/y1 exclusive) and designator."""

    cls: ComponentClass
    box: tuple[int, int, int, int]
    ref: str


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int], gap: int) -> bool:
    return not (a[2] + gap <= b[0] or b[2] + gap <= a[0] or a[3] + gap <= b[1] or b[3] + gap <= a[1])


#: Alpha below this is dropped from a rotated sprite, so no invisible fringe widens its box.
MIN_ALPHA = 16


def part_sprite(cls: ComponentClass, rng: Rng, ppm: float) -> Image.Image:
    """A top view of ``cls`` at ``ppm`` pixels/mm, randomly rotated, cropped to its opaque pixels.

    The sprite's canvas is the part's exact bounding box: its alpha is non-zero on all four
    edges and zero-or-opaque-enough (>= :data:`MIN_ALPHA`) everywhere.
    """
    sprite = draw_top_view(cls, rng, top_size(cls, rng, ppm))
    angle = 90.0 * int(rng.integers(4))
    if rng.random() < 0.4:
        angle += float(rng.uniform(-6, 6))
    if angle:
        sprite = sprite.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    # Resampling leaves a faint fringe (and a little ringing) around the part: not part of it.
    sprite.putalpha(sprite.getchannel("A").point(lambda a: 0 if a < MIN_ALPHA else a))
    bbox = sprite.getchannel("A").getbbox()
    return sprite.crop(bbox) if bbox else sprite


def _traces(rng: Rng, draw: ImageDraw.ImageDraw, w: int, h: int, ppm: float) -> list[tuple[float, float]]:
    """Random 45/90-degree copper traces; returns their end points (where vias go)."""
    ends = []
    n = int(w * h / 9000) + int(rng.integers(0, 8))
    dirs = [
        (1, 0),
        (0, 1),
        (-1, 0),
        (0, -1),
        (0.7071, 0.7071),
        (-0.7071, 0.7071),
        (0.7071, -0.7071),
        (-0.7071, -0.7071),
    ]
    for _ in range(n):
        x, y = float(rng.uniform(0, w)), float(rng.uniform(0, h))
        pts = [(x, y)]
        width = max(1, int(round(ppm * float(rng.choice([0.25, 0.3, 0.5, 0.8])))))
        d = int(rng.integers(4))
        for _ in range(int(rng.integers(2, 6))):
            d = (d + int(rng.choice([0, 4, 5]))) % 8 if d < 4 else int(rng.integers(4))
            length = float(rng.uniform(0.05, 0.3)) * max(w, h)
            x, y = x + dirs[d][0] * length, y + dirs[d][1] * length
            pts.append((x, y))
        draw.line(pts, fill=255, width=width, joint="curve")
        ends.append(pts[-1])
    return ends


def _free_spot(
    rng: Rng,
    taken: list[tuple[int, int, int, int]],
    size: tuple[int, int],
    w: int,
    h: int,
    margin: int,
    gap: int,
    tries: int = 40,
) -> tuple[int, int, int, int] | None:
    """A random box of ``size`` clear of ``taken`` (with ``gap``), or None when none is found."""
    bw, bh = size
    if bw > w - 2 * margin or bh > h - 2 * margin:
        return None
    for _ in range(tries):
        x = int(rng.integers(margin, w - margin - bw + 1))
        y = int(rng.integers(margin, h - margin - bh + 1))
        box = (x, y, x + bw, y + bh)
        if not any(_overlaps(box, t, gap) for t in taken):
            return box
    return None


def _footprints(
    rng: Rng,
    d: ImageDraw.ImageDraw,
    taken: list[tuple[int, int, int, int]],
    w: int,
    h: int,
    ppm: float,
    margin: int,
    gap: int,
    pad_rgb: tuple[int, int, int],
    silk: tuple[int, int, int],
    font_px: int,
) -> None:
    """Unpopulated footprints (IC pad rows, pin headers, test points): board detail that is not a part."""
    for k in range(int(rng.integers(2, 6))):
        kind = ("soic", "header", "testpoint")[int(rng.integers(3))]
        if kind == "soic":
            n = int(rng.integers(3, 9))
            pitch, pw, pl = 1.27 * ppm, 0.6 * ppm, 1.6 * ppm
            size = (int(n * pitch + pw), int(3.9 * ppm + 2 * pl))
        elif kind == "header":
            n = int(rng.integers(2, 9))
            pitch = 2.54 * ppm
            size = (int(n * pitch), int(pitch))
        else:
            size = (int(2.2 * ppm) + 2, int(2.2 * ppm) + font_px + 2)
        box = _free_spot(rng, taken, size, w, h, margin, gap)
        if box is None:
            continue
        taken.append(box)
        x0, y0, x1, y1 = box
        if kind == "soic":
            for i in range(n):
                px = x0 + i * pitch
                d.rectangle((px, y0, px + pw, y0 + pl), fill=pad_rgb)
                d.rectangle((px, y1 - pl, px + pw, y1), fill=pad_rgb)
            d.rectangle((x0, y0 + pl + 2, x1, y1 - pl - 2), outline=silk, width=1)
            d.ellipse((x0 + 2, y1 - pl - 6, x0 + 5, y1 - pl - 3), fill=silk)
        elif kind == "header":
            r = pitch * 0.33
            d.rectangle((x0, y0, x1 - 1, y1 - 1), outline=silk, width=1)
            for i in range(n):
                cx, cy = x0 + (i + 0.5) * pitch, (y0 + y1) / 2
                shape = d.rectangle if i == 0 else d.ellipse
                shape((cx - r, cy - r, cx + r, cy + r), fill=pad_rgb)
                d.ellipse((cx - r * 0.45, cy - r * 0.45, cx + r * 0.45, cy + r * 0.45), fill=(20, 20, 20))
        else:
            r = 1.1 * ppm
            d.ellipse((x0, y0, x0 + 2 * r, y0 + 2 * r), fill=pad_rgb)
            d.text((x0, y0 + 2 * r + 1), f"TP{k + 1}", font=font(max(6, font_px - 2)), fill=silk)


def draw_board(
    rng: Rng, size: tuple[int, int], n_parts: tuple[int, int], classes: Sequence[ComponentClass] = tuple(ComponentClass)
) -> tuple[Image.Image, list[Placement]]:
    """Draw one populated board.

    Args:
        rng: the board's random stream.
        size: image ``(width, height)``; the board fills the frame.
        n_parts: inclusive ``(min, max)`` number of parts; fewer are placed only when the
            board is too crowded to fit them without overlap.
        classes: classes to draw parts from (uniformly).

    Returns:
        The RGB board image and its placements, in drawing order.
    """
    w, h = size
    ppm = min(w, h) / 60.0  # the frame shows a 60 mm-high slice of board
    margin = max(3, int(min(w, h) * 0.03))
    gap = max(3, int(ppm * 0.8))
    n_target = int(rng.integers(n_parts[0], n_parts[1] + 1))
    wanted = [ComponentClass(classes[int(i)]) for i in rng.integers(0, len(classes), size=n_target)]
    sprites = [(c, part_sprite(c, rng, ppm)) for c in wanted]
    placed: list[tuple[ComponentClass, Image.Image, tuple[int, int, int, int]]] = []
    # Largest first: they are the hard ones to fit; small parts fill the gaps.
    for cls, spr in sorted(sprites, key=lambda cs: -cs[1].width * cs[1].height):
        sw, sh = spr.size
        if sw > w - 2 * margin or sh > h - 2 * margin:
            continue
        for _ in range(60):
            x = int(rng.integers(margin, w - margin - sw + 1))
            y = int(rng.integers(margin, h - margin - sh + 1))
            box = (x, y, x + sw, y + sh)
            if not any(_overlaps(box, p[2], gap) for p in placed):
                placed.append((cls, spr, box))
                break

    mask_rgb = (
        _MASKS[int(rng.integers(len(_MASKS)))]
        if rng.random() < 0.85
        else _OTHER_MASKS[int(rng.integers(len(_OTHER_MASKS)))]
    )
    base = np.asarray(mask_rgb, np.float32) * rng.uniform(0.9, 1.1, size=3).astype(np.float32)
    small = rng.normal(0, 1, size=(5, 7)).astype(np.float32)
    mottle = np.asarray(Image.fromarray(small, "F").resize((w, h), Image.Resampling.BICUBIC), np.float32) * 4
    board = np.broadcast_to(base, (h, w, 3)) + mottle[..., None]

    copper = Image.new("L", (w, h), 0)
    cd = ImageDraw.Draw(copper)
    ends = _traces(rng, cd, w, h, ppm)
    if rng.random() < 0.5:
        # A hatched ground pour in one corner region.
        gx, gy = int(rng.uniform(0, w * 0.6)), int(rng.uniform(0, h * 0.6))
        cd.rectangle((gx, gy, gx + int(w * 0.35), gy + int(h * 0.3)), fill=170)
    cu = copper.filter(ImageFilter.GaussianBlur(0.6))
    cu_a = np.asarray(cu, np.float32)[..., None] / 255.0
    board = board * (1 - 0.35 * cu_a) + (board * 1.45 + np.asarray([18, 22, 0], np.float32)) * 0.35 * cu_a

    img = Image.fromarray(np.clip(board, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    pad_rgb = (205, 205, 210) if rng.random() < 0.6 else (218, 178, 90)
    silk = (240, 240, 235) if sum(mask_rgb) < 500 else (20, 20, 20)
    via_r = max(1.5, ppm * 0.35)
    for ex, ey in ends:
        if 0 <= ex < w and 0 <= ey < h:
            d.ellipse((ex - via_r, ey - via_r, ex + via_r, ey + via_r), fill=pad_rgb)
            d.ellipse((ex - via_r * 0.45, ey - via_r * 0.45, ex + via_r * 0.45, ey + via_r * 0.45), fill=(25, 25, 25))
    # Mounting holes in the corners, and a board name on the silkscreen.
    hr = max(4, int(ppm * 1.6))
    for cx, cy in ((hr + 2, hr + 2), (w - hr - 3, hr + 2), (hr + 2, h - hr - 3), (w - hr - 3, h - hr - 3)):
        d.ellipse((cx - hr, cy - hr, cx + hr, cy + hr), fill=pad_rgb)
        d.ellipse((cx - hr * 0.6, cy - hr * 0.6, cx + hr * 0.6, cy + hr * 0.6), fill=(15, 15, 15))
    font_px = max(7, int(ppm * 1.3))
    name = f"PCB-{int(rng.integers(100, 999))} REV {chr(65 + int(rng.integers(0, 5)))}"
    taken = [p[2] for p in placed]
    nb = d.textbbox((0, 0), name, font=font(font_px))
    spot = _free_spot(rng, taken, (nb[2] - nb[0], nb[3] - nb[1] + 2), w, h, margin, gap)
    if spot is not None:
        d.text((spot[0] - nb[0], spot[1] - nb[1]), name, font=font(font_px), fill=silk)
        taken.append(spot)
    _footprints(rng, d, taken, w, h, ppm, margin, gap, pad_rgb, silk, font_px)

    counters: dict[str, int] = {}
    placements: list[Placement] = []
    for cls, _, box in placed:
        x0, y0, x1, y1 = box
        prefix = REF_PREFIX[cls]
        counters[prefix] = counters.get(prefix, 0) + int(rng.integers(1, 4))
        ref = f"{prefix}{counters[prefix]}"
        # Pads where the part's ends sit, then the silkscreen outline and designator.
        horiz = (x1 - x0) >= (y1 - y0)
        pr = max(2.0, min(min(x1 - x0, y1 - y0) * (0.45 if cls in _SMD else 0.35), ppm * 0.8))
        inset = pr * 0.6  # big parts hide their pads; leads and SMD ends sit on them
        ends2 = (
            [(x0 + inset, (y0 + y1) / 2), (x1 - inset, (y0 + y1) / 2)]
            if horiz
            else [((x0 + x1) / 2, y0 + inset), ((x0 + x1) / 2, y1 - inset)]
        )
        for px, py in ends2:
            if cls in _SMD:
                d.rectangle((px - pr * 0.8, py - pr, px + pr * 0.8, py + pr), fill=pad_rgb)
            else:
                d.ellipse((px - pr, py - pr, px + pr, py + pr), fill=pad_rgb)
                d.ellipse((px - pr * 0.4, py - pr * 0.4, px + pr * 0.4, py + pr * 0.4), fill=(40, 40, 40))
        o = max(1, gap // 2)
        d.rectangle((x0 - o, y0 - o, x1 - 1 + o, y1 - 1 + o), outline=silk, width=1)
        ty = y0 - o - font_px - 1 if y0 - o - font_px - 1 > 0 else y1 + o + 1
        d.text((x0, ty), ref, font=font(font_px), fill=silk)
        placements.append(Placement(cls, box, ref))

    # Shadows of all parts first (so no shadow falls on another part), then the parts.
    shadow = Image.new("L", (w, h), 0)
    off = max(1, int(ppm * 0.4))
    for _, spr, (x0, y0, _, _) in placed:
        shadow.paste(spr.getchannel("A"), (x0 + off, y0 + off), spr.getchannel("A"))
    shadow = shadow.filter(ImageFilter.GaussianBlur(max(1.0, ppm * 0.4)))
    arr = np.asarray(img, np.float32) * (1 - 0.45 * np.asarray(shadow, np.float32)[..., None] / 255.0)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB").convert("RGBA")
    for _, spr, (x0, y0, _, _) in placed:
        img.alpha_composite(spr, (x0, y0))

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, 2 * math.pi)
    light = 1 + rng.uniform(0.04, 0.15) * ((xx / w - 0.5) * math.cos(ang) + (yy / h - 0.5) * math.sin(ang))
    out = np.asarray(img.convert("RGB"), np.float32) * light[..., None]
    # Sensor grain at half resolution: per-pixel noise would make the PNG several times slower to write.
    grain = rng.normal(0, rng.uniform(1.0, 2.0), size=((h + 1) // 2, (w + 1) // 2)).astype(np.float32)
    out += np.asarray(Image.fromarray(grain, "F").resize((w, h), Image.Resampling.BILINEAR), np.float32)[..., None]
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "RGB"), placements


def yolo_lines(placements: Sequence[Placement], size: tuple[int, int]) -> list[str]:
    """YOLO rows ``cls cx cy w h`` (normalised to the image, 6 decimals) for ``placements``.

    The conversion and formatting are :mod:`pcbforge.annotate.yolo`'s, the one codec the crop
    stage reads these labels back with.

    Example:
        >>> yolo_lines([Placement(ComponentClass.RESISTOR, (10, 20, 50, 30), "R1")], (100, 100))
        ['7 0.300000 0.250000 0.400000 0.100000']
    """
    w, h = size
    index = {c: i for i, c in enumerate(ComponentClass)}
    return [format_row(from_pixels(index[p.cls], *p.box, w, h)) for p in placements]


def data_yaml(licence: str | None = None, author: str | None = None) -> str:
    """The Ultralytics-style ``data.yaml`` for a boards folder (images and labels side by side).

    ``licence`` and ``author``, when given, are extra keys (YOLO tools ignore them) that the
    crop stage copies into its manifest as the boards' lineage.
    """
    names = "".join(f"  - {n}\n" for n in ComponentClass.names())
    extra = "".join(f"{k}: {v}\n" for k, v in (("licence", licence), ("author", author)) if v)
    return f"path: .\ntrain: images\nval: images\nnc: {len(ComponentClass)}\nnames:\n{names}{extra}"
