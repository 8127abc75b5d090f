"""Procedural drawings of the 12 component classes: shop "product photos" and board top views.

Everything here is a pure function of its arguments: randomness comes only from the
``np.random.Generator`` passed in, so one seeded stream per photo gives the same pixels on
every run and in any worker. Shapes are drawn large with PIL and shaded with numpy
(cylinders get a bright specular band, boxes a soft gradient), then scaled down, which
gives free anti-aliasing.

Two views per class:

* :func:`draw_photo` -- a catalogue photo: the part at a random size, angle and position on
  a random background (white studio, grey, gradient, textured), with a drop shadow, a
  lighting gradient, a colour cast and sensor noise.
* :func:`draw_top_view` -- the part seen from straight above at a physical size
  (pixels per millimetre), as an RGBA sprite for :mod:`pcbforge.catalog.boards`.

Example:
    >>> from pcbforge.rng import make_rng
    >>> from pcbforge.vocab import ComponentClass
    >>> img = draw_photo(ComponentClass.RESISTOR, make_rng(0, "doc"), (128, 128))
    >>> img.size, img.mode
    ((128, 128), 'RGB')
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from pcbforge.vocab import ComponentClass

RGB = tuple[int, int, int]
Rng = np.random.Generator

#: Junk kinds planted on product pages for the quality stage to find.
JUNK_KINDS = ("blank", "tiny", "blurry", "aspect")

# Resistor colour code (digits 0-9), plus gold/silver tolerance bands.
_BAND = [
    (20, 20, 20),
    (120, 70, 30),
    (200, 30, 30),
    (240, 120, 20),
    (240, 210, 30),
    (40, 150, 60),
    (40, 70, 200),
    (140, 60, 170),
    (128, 128, 128),
    (245, 245, 245),
]
_GOLD = (200, 160, 60)
_SILVER = (190, 190, 195)
_LEAD = (196, 198, 204)


# ----------------------------------------------------------------------------- helpers


@functools.lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's bundled default font (no files on disk, identical on every install of one version).
    return ImageFont.load_default(size=max(6, int(size)))


def _pick(rng: Rng, items: list[Any] | tuple[Any, ...]) -> Any:
    return items[int(rng.integers(len(items)))]


def _jitter(rng: Rng, rgb: RGB, amount: int = 14) -> RGB:
    d = rng.integers(-amount, amount + 1, size=3)
    return tuple(int(np.clip(c + x, 0, 255)) for c, x in zip(rgb, d, strict=True))  # type: ignore[return-value]


def _canvas(w: int, h: int) -> Image.Image:
    return Image.new("RGBA", (int(w), int(h)), (0, 0, 0, 0))


def _cylinder_fill(w: int, h: int, rgb: RGB, axis: str = "x", spec: float = 0.35, t0: float = -0.35) -> Image.Image:
    """A colour field shaded like a cylinder whose axis is perpendicular to ``axis``."""
    n = w if axis == "x" else h
    t = np.linspace(-1.0, 1.0, max(n, 2))
    prof = 0.42 + 0.58 * np.sqrt(np.clip(1 - t**2, 0, 1)) ** 0.6
    hi = spec * np.exp(-(((t - t0) / 0.16) ** 2))
    col = np.asarray(rgb, np.float32)[None, :] * prof[:, None] + 255.0 * hi[:, None]
    col = np.clip(col, 0, 255).astype(np.uint8)
    arr = np.broadcast_to(col[None, :, :], (h, w, 3)) if axis == "x" else np.broadcast_to(col[:, None, :], (h, w, 3))
    return Image.fromarray(np.ascontiguousarray(arr), "RGB")


def _flat_fill(w: int, h: int, rgb: RGB, grad: float = 0.18, angle: float = 0.6) -> Image.Image:
    """A colour field with a soft linear light gradient (flat plastic, printed surfaces)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (xx / max(w, 1) * math.cos(angle) + yy / max(h, 1) * math.sin(angle)) / (
        abs(math.cos(angle)) + abs(math.sin(angle))
    )
    f = (1 + grad / 2) - grad * t
    arr = np.clip(np.asarray(rgb, np.float32)[None, None, :] * f[..., None], 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def _metal_fill(w: int, h: int, rgb: RGB, rng: Rng, axis: str = "x") -> Image.Image:
    """Brushed metal: cylinder shading plus fine streaks along the brushing direction."""
    base = np.asarray(_cylinder_fill(w, h, rgb, axis, spec=0.45, t0=float(rng.uniform(-0.5, 0.2))), np.float32)
    streak = rng.normal(0, 6, size=(h, 1) if axis == "x" else (1, w)).astype(np.float32)
    return Image.fromarray(np.clip(base + streak[..., None], 0, 255).astype(np.uint8), "RGB")


def _paint(
    canvas: Image.Image,
    fill: Image.Image | RGB,
    draw_mask: Callable[[ImageDraw.ImageDraw], None],
    origin: tuple[int, int] = (0, 0),
) -> None:
    """Fill the shape drawn by ``draw_mask`` (on an L mask the size of ``canvas``) with ``fill``.

    ``fill`` is a colour or an RGB image whose top-left corner sits at ``origin``. Only the
    shape's bounding box is composited, which keeps many small strokes cheap.
    """
    mask = Image.new("L", canvas.size, 0)
    draw_mask(ImageDraw.Draw(mask))
    bbox = mask.getbbox()
    if bbox is None:
        return
    x0, y0, x1, y1 = bbox
    if isinstance(fill, tuple):
        patch = Image.new("RGBA", (x1 - x0, y1 - y0), (*fill, 255))
    else:
        patch = Image.new("RGBA", (x1 - x0, y1 - y0), (0, 0, 0, 255))
        patch.paste(fill.convert("RGBA"), (origin[0] - x0, origin[1] - y0))
    canvas.paste(patch, (x0, y0), mask.crop(bbox))


def _paint_box(
    canvas: Image.Image,
    box: tuple[float, float, float, float],
    fill_fn: Callable[[int, int], Image.Image],
    shape: Callable[[ImageDraw.ImageDraw, tuple[float, float, float, float]], None],
) -> None:
    """Fill ``shape`` within ``box`` with a fill generated for the box's size (gradients follow the part)."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    w, h = max(1, x1 - x0), max(1, y1 - y0)
    _paint(canvas, fill_fn(w, h), lambda d: shape(d, (x0, y0, x1, y1)), origin=(x0, y0))


def _text(
    canvas: Image.Image,
    xy: tuple[float, float],
    text: str,
    size: float,
    rgb: RGB,
    anchor: str = "mm",
    angle: float = 0.0,
) -> None:
    """Print ``text`` centred at ``xy`` (optionally rotated), like a marking on the part."""
    font = _font(int(size))
    if not angle:
        ImageDraw.Draw(canvas).text(xy, text, font=font, fill=(*rgb, 255), anchor=anchor)
        return
    bbox = font.getbbox(text)
    tw, th = bbox[2] - bbox[0] + 4, bbox[3] - bbox[1] + 4
    layer = Image.new("RGBA", (tw, th), (0, 0, 0, 0))
    ImageDraw.Draw(layer).text((tw / 2, th / 2), text, font=font, fill=(*rgb, 255), anchor="mm")
    layer = layer.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    canvas.alpha_composite(layer, (int(xy[0] - layer.width / 2), int(xy[1] - layer.height / 2)))


def _lead(d: ImageDraw.ImageDraw, pts: list[tuple[float, float]], width: float) -> None:
    d.line(pts, fill=255, width=max(1, int(width)), joint="curve")


def _leads(canvas: Image.Image, lines: list[list[tuple[float, float]]], width: float, rgb: RGB = _LEAD) -> None:
    """Tinned wire leads, with a darker edge so they read as round wire."""
    _paint(canvas, _jitter_dark(rgb, 0.55), lambda d: [_lead(d, p, width * 1.35) for p in lines])
    _paint(canvas, rgb, lambda d: [_lead(d, p, width) for p in lines])


def _jitter_dark(rgb: RGB, f: float) -> RGB:
    return tuple(int(c * f) for c in rgb)  # type: ignore[return-value]


def _part_number(rng: Rng, prefix: str, digits: int = 4) -> str:
    return prefix + "".join(str(int(x)) for x in rng.integers(0, 10, size=digits))


# ----------------------------------------------------------------------------- photo views
# Each returns an RGBA sprite (transparent background) drawn large; draw_photo scales it down.


def _photo_capacitor(rng: Rng) -> Image.Image:
    sleeve = _jitter(
        rng,
        _pick(
            rng,
            [
                (25, 25, 30),
                (20, 40, 110),
                (90, 50, 20),
                (30, 80, 40),
                (80, 30, 90),
                (150, 20, 25),
                (195, 160, 70),
                (175, 180, 190),
            ],
        ),
    )
    light_sleeve = sum(sleeve) > 400
    stripe = _jitter(
        rng, (35, 35, 40) if light_sleeve else _pick(rng, [(200, 200, 205), (230, 200, 90), (170, 190, 230)]), 10
    )
    w = int(rng.uniform(150, 230))
    h = int(w * rng.uniform(1.2, 2.1))
    lead_len = int(rng.uniform(90, 200))
    cap = _canvas(w + 20, h + lead_len + 40)
    x0, y0, x1, y1 = 10, 20, 10 + w, 20 + h
    ry = w * 0.16
    lx = (x0 + w * 0.3, x0 + w * 0.7)
    _leads(cap, [[(lx[0], y1 - 5), (lx[0], y1 + lead_len)], [(lx[1], y1 - 5), (lx[1], y1 + lead_len * 0.8)]], w * 0.05)
    body = (x0, y0 + ry / 2, x1, y1)
    _paint_box(
        cap,
        body,
        lambda bw, bh: _cylinder_fill(bw, bh, sleeve),
        lambda d, b: d.rounded_rectangle(b, radius=w * 0.08, fill=255),
    )
    # Polarity stripe with minus signs, on the light side of the can.
    sx0, sx1 = x0 + w * 0.62, x0 + w * 0.82
    _paint_box(
        cap,
        (sx0, y0 + ry, sx1, y1 - 4),
        lambda bw, bh: _flat_fill(bw, bh, stripe, 0.25, math.pi / 2),
        lambda d, b: d.rectangle(b, fill=255),
    )
    for k in range(3):
        yy = y0 + ry + (h - ry) * (0.25 + 0.25 * k)
        _paint(
            cap,
            sleeve,
            lambda d, yy=yy: d.rectangle(
                (sx0 + (sx1 - sx0) * 0.3, yy - w * 0.012, sx1 - (sx1 - sx0) * 0.3, yy + w * 0.012), fill=255
            ),
        )
    # Aluminium top with the scored vent.
    top = (x0 + 2, y0, x1 - 2, y0 + ry * 1.6)
    _paint_box(cap, top, lambda bw, bh: _metal_fill(bw, bh, (185, 188, 195), rng), lambda d, b: d.ellipse(b, fill=255))
    cx, cy = (x0 + x1) / 2, y0 + ry * 0.8
    vent = _pick(rng, ["k", "+", "y"])
    arms = {"k": [(-0.3, 0), (0.3, 0)], "+": [(-0.3, 0), (0.3, 0), (0, -0.25), (0, 0.25)], "y": [(0, 0), (0, 0.3)]}[
        vent
    ]
    _paint(
        cap,
        (120, 122, 128),
        lambda d: [
            d.line((cx, cy, cx + ax * w, cy + ay * ry * 2.5), fill=255, width=max(2, int(w * 0.015))) for ax, ay in arms
        ],
    )
    uf = _pick(rng, ["10", "22", "47", "100", "220", "330", "470", "1000", "2200"])
    v = _pick(rng, ["6.3V", "10V", "16V", "25V", "35V", "50V", "63V"])
    ink = _pick(rng, [(235, 235, 235), (230, 210, 120)]) if sum(sleeve) < 400 else (20, 20, 20)
    tx = x0 + w * 0.35
    _text(cap, (tx, (y0 + y1) / 2 + ry / 2), f"{uf}µF {v}", w * 0.14, ink, angle=90)
    _text(
        cap,
        (tx + w * 0.16, (y0 + y1) / 2 + ry / 2),
        _pick(rng, ["105°C", "85°C", "LOW ESR", "RVT"]),
        w * 0.09,
        ink,
        angle=90,
    )
    return cap


def _photo_ceramic_capacitor(rng: Rng) -> Image.Image:
    col = _jitter(rng, _pick(rng, [(220, 130, 40), (230, 170, 50), (60, 110, 190), (170, 90, 40), (215, 190, 80)]), 18)
    d = int(rng.uniform(140, 220))
    lead = int(rng.uniform(120, 220))
    cap = _canvas(d + 40, d + lead + 40)
    x0, y0 = 20, 20
    spread = d * rng.uniform(0.25, 0.4)
    cx = x0 + d / 2
    kink = rng.random() < 0.5
    legs = []
    for s in (-1, 1):
        top = (cx + s * spread * 0.45, y0 + d * 0.75)
        if kink:
            legs.append(
                [
                    top,
                    (cx + s * spread * 0.5, y0 + d * 1.05),
                    (cx + s * spread * 0.8, y0 + d * 1.15),
                    (cx + s * spread, y0 + d + lead),
                ]
            )
        else:
            legs.append([top, (cx + s * spread, y0 + d * 1.1), (cx + s * spread, y0 + d + lead)])
    _leads(cap, legs, d * 0.035)
    squash = rng.uniform(0.82, 1.0)
    box = (x0, y0 + d * (1 - squash) / 2, x0 + d, y0 + d * (1 + squash) / 2 + d * 0.05)
    # Dipped epoxy: a slightly drippy bottom (drawn as a second ellipse) and a dome highlight.
    _paint_box(cap, box, lambda bw, bh: _radial_fill(bw, bh, col), lambda dr, b: dr.ellipse(b, fill=255))
    _paint_box(
        cap,
        (cx - d * 0.14, box[3] - d * 0.2, cx + d * 0.14, box[3] + d * 0.07),
        lambda bw, bh: _flat_fill(bw, bh, _jitter_dark(col, 0.85), 0.3, math.pi / 2),
        lambda dr, b: dr.ellipse(b, fill=255),
    )
    code = _pick(rng, ["104", "103", "102", "223", "473", "101", "22", "33", "471", "105"])
    ink = (25, 25, 25) if sum(col) > 330 else (235, 235, 235)
    _text(cap, (cx, y0 + d * 0.45), code, d * 0.26, ink)
    if rng.random() < 0.6:
        _text(cap, (cx, y0 + d * 0.68), _pick(rng, ["50V", "1KV", "Z5U", "X7R", "K"]), d * 0.13, ink)
    return cap


def _radial_fill(w: int, h: int, rgb: RGB) -> Image.Image:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt(((xx / max(w, 1) - 0.38) / 0.7) ** 2 + ((yy / max(h, 1) - 0.35) / 0.7) ** 2)
    f = np.clip(1.25 - 0.75 * r, 0.45, 1.3)
    spec = 90 * np.exp(-((r / 0.12) ** 2))
    arr = np.asarray(rgb, np.float32)[None, None, :] * f[..., None] + spec[..., None]
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def _box_photo(
    rng: Rng, front: RGB, w: int, h: int, depth: int
) -> tuple[Image.Image, tuple[float, float, float, float]]:
    """A box seen slightly from above: lit top face and a front face; returns the front rectangle."""
    pins = int(depth * 0.9) + 60
    img = _canvas(w + depth + 20, h + depth + pins + 20)
    x0, y0 = 10, 10 + depth
    top = [(x0, y0), (x0 + depth, y0 - depth), (x0 + depth + w, y0 - depth), (x0 + w, y0)]
    side = [(x0 + w, y0), (x0 + w + depth, y0 - depth), (x0 + w + depth, y0 - depth + h), (x0 + w, y0 + h)]
    lighter = tuple(min(255, int(c * 1.35 + 18)) for c in front)
    darker = _jitter_dark(front, 0.62)
    _paint(img, _flat_fill(img.width, img.height, lighter, 0.15), lambda d: d.polygon(top, fill=255))  # type: ignore[arg-type]
    _paint(img, _flat_fill(img.width, img.height, darker, 0.2), lambda d: d.polygon(side, fill=255))
    fr = (x0, y0, x0 + w, y0 + h)
    _paint_box(
        img,
        fr,
        lambda bw, bh: _flat_fill(bw, bh, front, 0.22, float(rng.uniform(0.2, 1.2))),
        lambda d, b: d.rectangle(b, fill=255),
    )
    return img, fr


def _photo_converter(rng: Rng) -> Image.Image:
    body = _jitter(
        rng, _pick(rng, [(22, 22, 26), (25, 45, 110), (30, 30, 60), (15, 80, 140), (20, 90, 50), (225, 225, 220)]), 10
    )
    w = int(rng.uniform(260, 380))
    h = int(w * rng.uniform(0.35, 0.6))
    depth = int(w * rng.uniform(0.12, 0.22))
    img, (x0, y0, x1, y1) = _box_photo(rng, body, w, h, depth)
    n = int(rng.integers(3, 9))
    pitch = w / (n + 1)
    _leads(
        img,
        [[(x0 + pitch * (i + 1), y1 - 2), (x0 + pitch * (i + 1), y1 + depth * 0.9 + 50)] for i in range(n)],
        w * 0.018,
    )
    brand = _pick(rng, ["RECOM", "TRACO", "MEAN WELL", "MURATA", "XP POWER", "CUI", "AIMTEC"])
    model = _pick(rng, ["R-78E", "TSR 1-24", "NME", "OKI-78SR", "TMR 2", "K7805", "SPM"]) + _part_number(rng, "-", 2)
    vin = _pick(rng, ["IN 9-36V", "IN 4.5-18V", "IN 12V", "IN 24V"])
    vout = _pick(rng, ["OUT 5V 1A", "OUT 3.3V 0.5A", "OUT 12V 250mA", "OUT ±15V"])
    ink = _pick(rng, [(240, 240, 240), (245, 220, 120)]) if sum(body) < 450 else (25, 25, 30)
    cx = (x0 + x1) / 2
    _text(img, (cx, y0 + h * 0.22), brand, h * 0.17, ink)
    _text(img, (cx, y0 + h * 0.47), model, h * 0.2, ink)
    _text(img, (cx, y0 + h * 0.72), f"{vin}  {vout}", h * 0.1, ink)
    _text(img, (x0 + w * 0.07, y1 - h * 0.12), "•", h * 0.2, ink)
    return img


def _photo_diode(rng: Rng) -> Image.Image:
    glass = rng.random() < 0.3
    body = (200, 110, 60) if glass else _jitter(rng, (28, 28, 30), 6)
    band = (30, 30, 30) if glass else _jitter(rng, _pick(rng, [(200, 200, 205), (215, 215, 220), (170, 170, 175)]), 8)
    bl = int(rng.uniform(170, 260))
    bd = int(bl * rng.uniform(0.32, 0.5))
    lead = int(bl * rng.uniform(0.3, 0.7))
    img = _canvas(bl + 2 * lead + 20, bd + 40)
    cy = img.height / 2
    x0 = lead + 10
    _leads(img, [[(10, cy), (x0 + 4, cy)], [(x0 + bl - 4, cy), (x0 + bl + lead, cy)]], bd * 0.13)
    box = (x0, cy - bd / 2, x0 + bl, cy + bd / 2)
    _paint_box(
        img,
        box,
        lambda bw, bh: _cylinder_fill(bw, bh, body, "y", 0.4 if glass else 0.25),
        lambda d, b: d.rounded_rectangle(b, radius=bd * 0.35, fill=255),
    )
    bx = x0 + bl * rng.uniform(0.08, 0.16)
    _paint_box(
        img,
        (bx, box[1], bx + bl * 0.14, box[3]),
        lambda bw, bh: _cylinder_fill(bw, bh, band, "y", 0.3),
        lambda d, b: d.rectangle(b, fill=255),
    )
    if not glass:
        _text(
            img,
            (x0 + bl * 0.62, cy),
            _pick(rng, ["1N4007", "1N4148", "1N5819", "UF4007", "1N5408", "BYV27"]),
            bd * 0.42,
            (200, 200, 205),
        )
    return img


def _photo_heat_sink(rng: Rng) -> Image.Image:
    black = rng.random() < 0.35
    metal = _jitter(rng, (45, 45, 50) if black else (200, 203, 210), 8)
    fins = int(rng.integers(5, 11))
    w = int(rng.uniform(280, 380))
    h = int(w * rng.uniform(0.7, 1.1))
    depth = int(w * rng.uniform(0.15, 0.25))
    img = _canvas(w + depth + 30, h + depth + 30)
    x0, y0 = 10, depth + 10
    base_h = h * rng.uniform(0.12, 0.2)
    # Base plate at the bottom, fins rising from it, each fin a thin lit slab with a shaded side.
    _paint_box(
        img,
        (x0, y0 + h - base_h, x0 + w, y0 + h),
        lambda bw, bh: _metal_fill(bw, bh, _jitter_dark(metal, 0.85), rng, "y"),
        lambda d, b: d.rectangle(b, fill=255),
    )
    _paint(
        img,
        _jitter_dark(metal, 0.6),
        lambda d: d.polygon(
            [
                (x0 + w, y0 + h - base_h),
                (x0 + w + depth, y0 + h - base_h - depth),
                (x0 + w + depth, y0 + h - depth),
                (x0 + w, y0 + h),
            ],
            fill=255,
        ),
    )
    fin_w = w / fins * rng.uniform(0.3, 0.5)
    pitch = (w - fin_w) / max(fins - 1, 1)
    for i in range(fins):
        fx = x0 + i * pitch
        _paint(
            img,
            _jitter_dark(metal, 0.7),
            lambda d, fx=fx: d.polygon(
                [
                    (fx + fin_w, y0),
                    (fx + fin_w + depth, y0 - depth),
                    (fx + fin_w + depth, y0 + h - base_h - depth),
                    (fx + fin_w, y0 + h - base_h),
                ],
                fill=255,
            ),
        )
        _paint(
            img,
            tuple(min(255, int(c * 1.15)) for c in metal),
            lambda d, fx=fx: d.polygon(
                [(fx, y0), (fx + depth, y0 - depth), (fx + depth + fin_w, y0 - depth), (fx + fin_w, y0)], fill=255
            ),
        )  # type: ignore[arg-type]
        _paint_box(
            img,
            (fx, y0, fx + fin_w, y0 + h - base_h),
            lambda bw, bh: _metal_fill(bw, bh, metal, rng, "y"),
            lambda d, b: d.rectangle(b, fill=255),
        )
    if rng.random() < 0.5:
        hole_y = y0 + h - base_h / 2
        _paint(
            img,
            (25, 25, 28),
            lambda d: d.ellipse(
                (
                    x0 + w / 2 - base_h * 0.25,
                    hole_y - base_h * 0.25,
                    x0 + w / 2 + base_h * 0.25,
                    hole_y + base_h * 0.25,
                ),
                fill=255,
            ),
        )
    return img


def _photo_crystal_oscillator(rng: Rng) -> Image.Image:
    metal = _jitter(rng, (195, 198, 205), 10)
    if rng.random() < 0.7:
        # HC-49: a flat oval can standing on a base, two leads.
        w = int(rng.uniform(220, 320))
        h = int(w * rng.uniform(0.38, 0.5))
        lead = int(rng.uniform(100, 180))
        img = _canvas(w + 20, h + lead + 40)
        x0, y0 = 10, 10
        _leads(
            img,
            [
                [(x0 + w * 0.3, y0 + h), (x0 + w * 0.3, y0 + h + lead)],
                [(x0 + w * 0.7, y0 + h), (x0 + w * 0.7, y0 + h + lead)],
            ],
            w * 0.025,
        )
        _paint_box(
            img,
            (x0, y0, x0 + w, y0 + h),
            lambda bw, bh: _metal_fill(bw, bh, metal, rng, "y"),
            lambda d, b: d.rounded_rectangle(b, radius=h / 2, fill=255),
        )
        _paint_box(
            img,
            (x0 - 3, y0 + h * 0.86, x0 + w + 3, y0 + h + 6),
            lambda bw, bh: _metal_fill(bw, bh, _jitter_dark(metal, 0.8), rng, "y"),
            lambda d, b: d.rounded_rectangle(b, radius=6, fill=255),
        )
        freq = _pick(rng, ["4.000", "8.000", "11.0592", "12.000", "16.000", "20.000", "25.000", "32.768"])
        _text(
            img, (x0 + w / 2, y0 + h * 0.38), f"{freq}MHz" if freq != "32.768" else "32.768kHz", h * 0.24, (40, 40, 45)
        )
        _text(
            img,
            (x0 + w / 2, y0 + h * 0.66),
            _pick(rng, ["KDS", "NDK", "TXC", "ECS", "ABRACON"]) + _part_number(rng, " ", 3),
            h * 0.15,
            (60, 60, 65),
        )
        return img
    # Full-size DIP oscillator can: rounded square, 4 pins, a sharp "dot" corner.
    w = int(rng.uniform(220, 300))
    h = int(w * rng.uniform(0.55, 0.75))
    img, (x0, y0, x1, y1) = _box_photo(rng, metal, w, h, int(w * 0.08))
    _leads(img, [[(x0 + w * f, y1), (x0 + w * f, y1 + 70)] for f in (0.12, 0.88)], w * 0.025)
    _text(img, ((x0 + x1) / 2, y0 + h * 0.35), _pick(rng, ["OSC", "XO", "SG-531P"]), h * 0.2, (40, 40, 45))
    _text(
        img,
        ((x0 + x1) / 2, y0 + h * 0.65),
        _pick(rng, ["10.000", "24.000", "40.000", "50.000"]) + "MHz",
        h * 0.17,
        (40, 40, 45),
    )
    return img


def _photo_relay(rng: Rng) -> Image.Image:
    body = _jitter(rng, _pick(rng, [(30, 70, 170), (25, 25, 30), (235, 235, 230), (220, 190, 40), (40, 90, 200)]), 10)
    w = int(rng.uniform(240, 320))
    h = int(w * rng.uniform(0.75, 1.0))
    img, (x0, y0, x1, y1) = _box_photo(rng, body, w, h, int(w * rng.uniform(0.25, 0.4)))
    _leads(img, [[(x0 + w * f, y1), (x0 + w * f, y1 + 50)] for f in (0.15, 0.4, 0.6, 0.85)], w * 0.025)
    ink = (20, 20, 20) if sum(body) > 450 else (240, 240, 240)
    brand = _pick(rng, ["SONGLE", "OMRON", "HKE", "FINDER", "TE", "SRD"])
    cx = (x0 + x1) / 2
    _text(img, (cx, y0 + h * 0.16), brand, h * 0.13, ink)
    _text(
        img,
        (cx, y0 + h * 0.34),
        _pick(rng, ["SRD-05VDC-SL-C", "G5LE-1 12VDC", "HRS1H-S 5V", "JQC-3FF 12V"]),
        h * 0.085,
        ink,
    )
    _text(img, (cx, y0 + h * 0.52), _pick(rng, ["10A 250VAC", "10A 125VAC", "5A 250VAC"]), h * 0.085, ink)
    _text(img, (cx, y0 + h * 0.66), _pick(rng, ["10A 30VDC", "10A 28VDC", "5A 30VDC"]), h * 0.085, ink)
    # Coil/contact schematic symbol, as printed on real relays.
    sx, sy = cx - w * 0.15, y0 + h * 0.8
    _paint(img, ink, lambda d: d.rectangle((sx, sy, sx + w * 0.08, sy + h * 0.1), outline=255, width=3))
    _paint(img, ink, lambda d: d.line((sx + w * 0.15, sy + h * 0.1, sx + w * 0.28, sy), fill=255, width=3))
    return img


def _photo_resistor(rng: Rng) -> Image.Image:
    metal_film = rng.random() < 0.45
    body = _jitter(rng, (70, 130, 200) if metal_film else (215, 190, 140), 14)
    bl = int(rng.uniform(200, 300))
    bd = int(bl * rng.uniform(0.28, 0.36))
    lead = int(bl * rng.uniform(0.3, 0.65))
    img = _canvas(bl + 2 * lead + 20, int(bd * 1.2) + 40)
    cy = img.height / 2
    x0 = lead + 10
    _leads(img, [[(10, cy), (x0 + 5, cy)], [(x0 + bl - 5, cy), (x0 + bl + lead, cy)]], bd * 0.11)
    # Dog-bone body: two end caps and a slimmer middle.
    cap_w = bl * 0.24

    def bone(d: ImageDraw.ImageDraw, b: tuple[float, float, float, float]) -> None:
        d.rounded_rectangle((b[0], b[1], b[0] + cap_w, b[3]), radius=bd * 0.4, fill=255)
        d.rounded_rectangle((b[2] - cap_w, b[1], b[2], b[3]), radius=bd * 0.4, fill=255)
        d.rectangle((b[0] + cap_w * 0.5, b[1] + bd * 0.1, b[2] - cap_w * 0.5, b[3] - bd * 0.1), fill=255)

    _paint_box(
        img, (x0, cy - bd / 2, x0 + bl, cy + bd / 2), lambda bw, bh: _cylinder_fill(bw, bh, body, "y", 0.3), bone
    )
    n_digits = 3 if metal_film else 2
    digits = [int(rng.integers(1, 10))] + [int(rng.integers(0, 10)) for _ in range(n_digits - 1)]
    bands = [_BAND[d] for d in digits] + [_BAND[int(rng.integers(0, 6))], _GOLD if not metal_film else _BAND[1]]
    pos = np.linspace(0.14, 0.66, len(bands) - 1).tolist() + [0.84]
    for p, colr in zip(pos, bands, strict=True):
        bx = x0 + bl * p
        _paint_box(
            img,
            (bx, cy - bd / 2 + 1, bx + bl * 0.055, cy + bd / 2 - 1),
            lambda bw, bh, colr=colr: _cylinder_fill(bw, bh, colr, "y", 0.25),
            lambda d, b: d.rectangle(b, fill=255),
        )
    return img


def _smd_body(
    img: Image.Image,
    x0: float,
    y0: float,
    w: float,
    h: float,
    depth: float,
    body: RGB,
    top_light: tuple[float, float],
    grad: float,
) -> None:
    """Paint a moulded SMD body seen from above and the front-right: lit top, shaded side, front.

    ``top_light`` is ``(gain, offset)`` applied to ``body`` for the top face; ``grad`` is the
    front face's light gradient.
    """
    gain, add = top_light
    top = [(x0, y0), (x0 + depth, y0 - depth), (x0 + depth + w, y0 - depth), (x0 + w, y0)]
    _paint(img, tuple(min(255, int(c * gain + add)) for c in body), lambda d: d.polygon(top, fill=255))  # type: ignore[arg-type]
    side = [(x0 + w, y0), (x0 + w + depth, y0 - depth), (x0 + w + depth, y0 + h - depth), (x0 + w, y0 + h)]
    _paint(img, _jitter_dark(body, 0.6), lambda d: d.polygon(side, fill=255))
    _paint_box(
        img,
        (x0, y0, x0 + w, y0 + h),
        lambda bw, bh: _flat_fill(bw, bh, body, grad),
        lambda d, b: d.rectangle(b, fill=255),
    )


def _smd_chip(
    rng: Rng, body: RGB, w: int, h: int, end: RGB | None, depth_f: float
) -> tuple[Image.Image, tuple[float, float, float, float]]:
    depth = int(h * depth_f)
    img = _canvas(w + depth + 20, h + depth + 20)
    x0, y0 = 10, 10 + depth
    _smd_body(img, x0, y0, w, h, depth, body, top_light=(1.3, 15), grad=0.25)
    if end is not None:
        ew = w * rng.uniform(0.16, 0.24)
        for ex in (x0, x0 + w - ew):
            _paint_box(
                img,
                (ex, y0, ex + ew, y0 + h),
                lambda bw, bh: _metal_fill(bw, bh, end, rng, "x"),
                lambda d, b: d.rectangle(b, fill=255),
            )
            _paint(
                img,
                tuple(min(255, c + 30) for c in end),
                lambda d, ex=ex: d.polygon(
                    [(ex, y0), (ex + depth, y0 - depth), (ex + depth + ew, y0 - depth), (ex + ew, y0)], fill=255
                ),
            )  # type: ignore[arg-type]
        _paint(
            img,
            _jitter_dark(end, 0.7),
            lambda d: d.polygon(
                [(x0 + w, y0), (x0 + w + depth, y0 - depth), (x0 + w + depth, y0 + h - depth), (x0 + w, y0 + h)],
                fill=255,
            ),
        )
    return img, (x0, y0, x0 + w, y0 + h)


def _photo_smd_capacitor(rng: Rng) -> Image.Image:
    tantalum = rng.random() < 0.3
    if tantalum:
        body = _jitter(rng, _pick(rng, [(220, 170, 40), (40, 40, 40)]), 10)
        w = int(rng.uniform(300, 380))
        img, (x0, y0, x1, y1) = _smd_chip(rng, body, w, int(w * rng.uniform(0.5, 0.62)), None, 0.5)
        ink = (30, 30, 30) if sum(body) > 300 else (230, 230, 230)
        # Tantalum: polarity band (the anode) and a value code.
        _paint(
            img,
            _jitter_dark(body, 0.55) if sum(body) > 300 else (150, 150, 150),
            lambda d: d.rectangle((x0 + 4, y0 + 4, x0 + (x1 - x0) * 0.16, y1 - 4), fill=255),
        )
        _text(
            img,
            ((x0 + x1) / 2 + 15, (y0 + y1) / 2),
            _pick(rng, ["107", "226", "475", "106"]) + _pick(rng, ["A", "C", "E"]),
            (y1 - y0) * 0.38,
            ink,
        )
        for ex in (x0 - 20, x1 - 6):
            _paint(
                img, (200, 200, 205), lambda d, ex=ex: d.rectangle((ex, y1 - (y1 - y0) * 0.35, ex + 26, y1), fill=255)
            )
        return img
    body = _jitter(rng, _pick(rng, [(190, 150, 100), (165, 120, 80), (140, 100, 70), (205, 175, 120)]), 12)
    w = int(rng.uniform(300, 400))
    img, _ = _smd_chip(rng, body, w, int(w * rng.uniform(0.45, 0.6)), _jitter(rng, (200, 202, 208), 8), 0.55)
    return img


def _photo_smd_diode(rng: Rng) -> Image.Image:
    body = _jitter(rng, (32, 32, 36), 6)
    w = int(rng.uniform(300, 380))
    h = int(w * rng.uniform(0.5, 0.62))
    img, (x0, y0, x1, y1) = _smd_chip(rng, body, w, h, None, 0.35)
    # Bent metal tabs under each end, and the cathode band.
    tab = _jitter(rng, (205, 205, 210), 6)
    for ex in (x0 - w * 0.09, x1 - w * 0.03):
        _paint_box(
            img,
            (ex, y0 + h * 0.3, ex + w * 0.12, y1),
            lambda bw, bh: _metal_fill(bw, bh, tab, rng, "y"),
            lambda d, b: d.rectangle(b, fill=255),
        )
    band = _pick(rng, [(210, 210, 215), (180, 180, 185), (230, 230, 230)])
    _paint(img, band, lambda d: d.rectangle((x0 + w * 0.08, y0 + 3, x0 + w * 0.18, y1 - 3), fill=255))
    _text(
        img,
        ((x0 + x1) / 2 + w * 0.08, (y0 + y1) / 2),
        _pick(rng, ["SS14", "M7", "S1J", "B340", "US1M", "SS34"]),
        h * 0.3,
        (205, 205, 210),
    )
    return img


def _photo_smd_transistor(rng: Rng) -> Image.Image:
    body = _jitter(rng, (30, 30, 34), 6)
    w = int(rng.uniform(280, 340))
    h = int(w * rng.uniform(0.45, 0.55))
    depth = int(h * 0.5)
    leg = int(h * 0.45)
    img = _canvas(w + depth + 20, h + depth + 2 * leg + 20)
    x0, y0 = 10, 10 + depth + leg
    tab = _jitter(rng, (200, 200, 206), 6)
    lw = w * 0.14
    # SOT-23: two gull-wing legs on one long side, one on the other.
    for fx, up in ((0.2, False), (0.8, False), (0.5, True)):
        lx = x0 + w * fx - lw / 2
        ly = (y0 - leg - depth * 0.5, y0) if up else (y0 + h, y0 + h + leg)
        _paint_box(
            img,
            (lx, ly[0], lx + lw, ly[1]),
            lambda bw, bh: _metal_fill(bw, bh, tab, rng, "x"),
            lambda d, b: d.rectangle(b, fill=255),
        )
    _smd_body(img, x0, y0, w, h, depth, body, top_light=(1.6, 20), grad=0.3)
    _text(
        img,
        (x0 + w / 2, y0 + h / 2),
        _pick(rng, ["1AM", "J3Y", "2A", "1P", "M6", "A1", "702", "Y1"]),
        h * 0.42,
        (200, 200, 205),
    )
    return img


def _photo_transistor(rng: Rng) -> Image.Image:
    body = _jitter(rng, (28, 28, 32), 6)
    w = int(rng.uniform(170, 230))
    h = int(w * rng.uniform(1.0, 1.25))
    lead = int(rng.uniform(140, 240))
    dep = w * 0.35
    img = _canvas(w + 30, int(h + dep + lead + 40))
    x0, y0 = 15, 15 + dep / 2
    bent = rng.random() < 0.4
    legs = []
    for fx in (0.22, 0.5, 0.78):
        lx = x0 + w * fx
        if bent and fx != 0.5:
            s = -1 if fx < 0.5 else 1
            legs.append(
                [
                    (lx, y0 + h),
                    (lx, y0 + h + lead * 0.2),
                    (lx + s * w * 0.15, y0 + h + lead * 0.35),
                    (lx + s * w * 0.15, y0 + h + lead),
                ]
            )
        else:
            legs.append([(lx, y0 + h), (lx, y0 + h + lead)])
    _leads(img, legs, w * 0.05)
    # TO-92: the flat front face seen head-on, the rounded back showing as a lit top "D".
    _paint_box(
        img,
        (x0, y0 - dep / 2, x0 + w, y0 + dep / 2),
        lambda bw, bh: _flat_fill(bw, bh, tuple(min(255, int(c * 1.8 + 25)) for c in body), 0.3, -1.2),  # type: ignore[arg-type]
        lambda d, b: d.pieslice((b[0], b[1], b[2], b[3] + (b[3] - b[1])), 180, 360, fill=255),
    )
    _paint_box(
        img,
        (x0, y0, x0 + w, y0 + h),
        lambda bw, bh: _flat_fill(bw, bh, body, 0.25),
        lambda d, b: d.rounded_rectangle(b, radius=w * 0.06, fill=255),
    )
    part = _pick(rng, ["2N2222", "BC547", "BC557", "2N3904", "2N3906", "S8050", "PN2222", "BC337"])
    ink = (200, 200, 205)
    _text(img, (x0 + w / 2, y0 + h * 0.3), part[:2], w * 0.2, ink)
    _text(img, (x0 + w / 2, y0 + h * 0.52), part[2:], w * 0.2, ink)
    _text(img, (x0 + w / 2, y0 + h * 0.76), _part_number(rng, "", 3), w * 0.13, ink)
    return img


_PHOTO: dict[ComponentClass, Callable[[Rng], Image.Image]] = {
    ComponentClass.CAPACITOR: _photo_capacitor,
    ComponentClass.CERAMIC_CAPACITOR: _photo_ceramic_capacitor,
    ComponentClass.CONVERTER: _photo_converter,
    ComponentClass.DIODE: _photo_diode,
    ComponentClass.HEAT_SINK: _photo_heat_sink,
    ComponentClass.CRYSTAL_OSCILLATOR: _photo_crystal_oscillator,
    ComponentClass.RELAY: _photo_relay,
    ComponentClass.RESISTOR: _photo_resistor,
    ComponentClass.SMD_CAPACITOR: _photo_smd_capacitor,
    ComponentClass.SMD_DIODE: _photo_smd_diode,
    ComponentClass.SMD_TRANSISTOR: _photo_smd_transistor,
    ComponentClass.TRANSISTOR: _photo_transistor,
}


# ----------------------------------------------------------------------------- photo composition

BACKGROUNDS = ("studio", "grey", "gradient", "textured")


def _smooth_noise(rng: Rng, w: int, h: int, cells: tuple[int, int], amp: float) -> np.ndarray:
    """Low-frequency value noise: a small random grid upsampled bicubically."""
    small = rng.normal(0, 1, size=(cells[1], cells[0])).astype(np.float32)
    img = Image.fromarray(small, "F").resize((w, h), Image.Resampling.BICUBIC)
    return np.asarray(img, np.float32) * amp


def background(rng: Rng, w: int, h: int, kind: str | None = None) -> np.ndarray:
    """A float32 HxWx3 photo background of ``kind`` (random when None), values 0..255."""
    kind = kind or _pick(rng, BACKGROUNDS)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "studio":
        # Paper sweep: near white, a little darker toward the top edge.
        base = float(rng.uniform(238, 252))
        f = base - rng.uniform(4, 18) * (1 - yy / h) ** 2
        bg = np.repeat(f[..., None], 3, axis=2)
    elif kind == "grey":
        base = float(rng.uniform(120, 205))
        bg = np.full((h, w, 3), base, np.float32) + _smooth_noise(rng, w, h, (3, 3), 6)[..., None]
    elif kind == "gradient":
        a = np.asarray(
            _pick(rng, [(235, 235, 240), (200, 215, 235), (60, 60, 70), (230, 220, 200), (180, 200, 190)]), np.float32
        )
        b = np.asarray(
            _pick(rng, [(150, 160, 175), (250, 250, 250), (20, 20, 25), (190, 170, 150), (90, 110, 130)]), np.float32
        )
        ang = rng.uniform(0, 2 * math.pi)
        t = (xx / w - 0.5) * math.cos(ang) + (yy / h - 0.5) * math.sin(ang)
        t = np.clip(t + 0.5, 0, 1)[..., None]
        bg = a * (1 - t) + b * t
    else:
        tex = _pick(rng, ["mat", "wood", "paper", "fabric"])
        if tex == "mat":
            # Green self-healing cutting mat with a printed grid.
            colr = np.asarray(_jitter(rng, (40, 110, 80), 12), np.float32)
            bg = np.broadcast_to(colr, (h, w, 3)).copy() + _smooth_noise(rng, w, h, (6, 6), 5)[..., None]
            step = int(rng.integers(max(8, w // 12), max(9, w // 5)))
            off = int(rng.integers(0, step))
            grid = ((xx.astype(int) + off) % step == 0) | ((yy.astype(int) + off) % step == 0)
            bg[grid] = bg[grid] * 0.5 + np.asarray([200, 220, 200], np.float32) * 0.5
        elif tex == "wood":
            colr = np.asarray(_jitter(rng, (170, 120, 75), 20), np.float32)
            ang = rng.uniform(-0.3, 0.3)
            u = yy * math.cos(ang) + xx * math.sin(ang)
            warp = _smooth_noise(rng, w, h, (4, 4), 6)
            grain = np.sin((u + warp) * rng.uniform(0.15, 0.35)) * 0.5 + 0.5
            grain = grain**3
            bg = colr * (0.82 + 0.25 * grain[..., None]) + _smooth_noise(rng, w, h, (5, 5), 8)[..., None]
        elif tex == "paper":
            base = float(rng.uniform(215, 240))
            bg = np.full((h, w, 3), base, np.float32) * np.asarray([1.0, 0.98, 0.94], np.float32)
            bg += _smooth_noise(rng, w, h, (8, 8), 5)[..., None] + rng.normal(0, 3, size=(h, w, 1)).astype(np.float32)
        else:
            colr = np.asarray(
                _jitter(rng, _pick(rng, [(60, 70, 95), (110, 40, 40), (80, 80, 80), (200, 195, 185)]), 12), np.float32
            )
            weave = (np.sin(xx * 1.3) * np.sin(yy * 1.3)) * 8
            bg = colr + weave[..., None] + _smooth_noise(rng, w, h, (5, 5), 6)[..., None]
    if kind == "textured" and rng.random() < 0.6:
        # Shallow depth of field: the surface behind the part is slightly out of focus.
        blurred = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8), "RGB").filter(
            ImageFilter.GaussianBlur(float(rng.uniform(0.6, 2.0)))
        )
        return np.asarray(blurred, np.float32).copy()
    return np.clip(bg, 0, 255).astype(np.float32)


def _lighting(rng: Rng, w: int, h: int) -> np.ndarray:
    """Multiplicative light falloff: a linear gradient from a random direction plus vignetting."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, 2 * math.pi)
    t = (xx / w - 0.5) * math.cos(ang) + (yy / h - 0.5) * math.sin(ang)
    strength = rng.uniform(0.05, 0.28)
    vig = 1 - rng.uniform(0.0, 0.25) * (((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2) * 2)
    return (1 + strength * t) * vig


def compose(
    rng: Rng,
    sprite: Image.Image,
    size: tuple[int, int],
    bg_kind: str | None = None,
    scale: tuple[float, float] = (0.45, 0.88),
    max_angle: float = 40.0,
) -> Image.Image:
    """Place an RGBA ``sprite`` on a photo background with shadow, lighting and noise.

    Args:
        rng: the photo's random stream.
        sprite: the part on a transparent background (any size; it is scaled to fit).
        size: output ``(width, height)``.
        bg_kind: one of :data:`BACKGROUNDS`, or None for a random one.
        scale: range of the part's longest side as a fraction of the shorter image side.
        max_angle: the part is rotated by up to this many degrees either way.

    Returns:
        An RGB image of ``size``.
    """
    w, h = size
    angle = float(rng.uniform(-max_angle, max_angle))
    if rng.random() < 0.15:
        angle += 90.0
    target = rng.uniform(*scale) * min(w, h)
    # Shrink before rotating (rotating the big drawing is the slow part); keep 1.5x for the final resize.
    k0 = min(1.0, 1.5 * target / max(sprite.size))
    spr = sprite.resize((max(1, int(sprite.width * k0)), max(1, int(sprite.height * k0))), Image.Resampling.BOX)
    spr = spr.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    bbox = spr.getchannel("A").getbbox()
    if bbox:
        spr = spr.crop(bbox)
    k = target / max(spr.size)
    sw, sh = max(1, int(round(spr.width * k))), max(1, int(round(spr.height * k)))
    if sw > w * 0.96 or sh > h * 0.96:
        k2 = min(w * 0.96 / sw, h * 0.96 / sh)
        sw, sh = max(1, int(sw * k2)), max(1, int(sh * k2))
    spr = spr.resize((sw, sh), Image.Resampling.LANCZOS)
    jx, jy = (w - sw) / 2, (h - sh) / 2
    px = int(round(jx + rng.uniform(-1, 1) * min(jx, w * 0.16)))
    py = int(round(jy + rng.uniform(-1, 1) * min(jy, h * 0.16)))

    kind = bg_kind or _pick(rng, BACKGROUNDS)
    bg = background(rng, w, h, kind)
    if kind in ("studio", "gradient") and rng.random() < 0.35:
        # Glossy acrylic sweep: a faint mirror image fading out below the part.
        refl = spr.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
        fade = np.linspace(rng.uniform(0.15, 0.3), 0.0, refl.height, dtype=np.float32)[:, None]
        ra = np.asarray(refl, np.float32)
        ra_alpha = ra[..., 3] / 255.0 * fade
        y0 = py + sh
        y1 = min(h, y0 + refl.height)
        x0, x1 = max(0, px), min(w, px + sw)
        if y1 > y0 and x1 > x0:
            src = ra[: y1 - y0, x0 - px : x1 - px]
            al = ra_alpha[: y1 - y0, x0 - px : x1 - px, None]
            bg[y0:y1, x0:x1] = bg[y0:y1, x0:x1] * (1 - al) + src[..., :3] * al
    # Drop shadow: the blurred silhouette, offset away from the light.
    alpha = Image.new("L", (w, h), 0)
    alpha.paste(spr.getchannel("A"), (px, py))
    off = rng.uniform(0.01, 0.05) * min(w, h)
    sang = rng.uniform(0, 2 * math.pi)
    shadow = alpha.transform((w, h), Image.Transform.AFFINE, (1, 0, -off * math.cos(sang), 0, 1, -off * math.sin(sang)))
    shadow = shadow.filter(ImageFilter.GaussianBlur(max(1.0, rng.uniform(0.01, 0.035) * min(w, h))))
    sh_arr = np.asarray(shadow, np.float32)[..., None] / 255.0
    bg *= 1 - rng.uniform(0.25, 0.55) * sh_arr

    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    layer.paste(spr, (px, py))
    la = np.asarray(layer, np.float32)
    a = la[..., 3:4] / 255.0
    img = bg * (1 - a) + la[..., :3] * a
    img *= _lighting(rng, w, h)[..., None]
    img *= rng.uniform(0.95, 1.05, size=3).astype(np.float32)[None, None, :]  # white balance
    img += rng.normal(0, rng.uniform(1.2, 3.0), size=img.shape).astype(np.float32)
    return Image.fromarray(np.clip(img + 0.5, 0, 255).astype(np.uint8), "RGB")


def draw_part(cls: ComponentClass, rng: Rng) -> Image.Image:
    """The part of class ``cls`` as a large RGBA sprite on a transparent background (photo view)."""
    return _PHOTO[ComponentClass(cls)](rng)


def draw_photo(
    cls: ComponentClass, rng: Rng, size: tuple[int, int] = (256, 256), bg_kind: str | None = None
) -> Image.Image:
    """A catalogue photo of one part of class ``cls``.

    Args:
        cls: the component class.
        rng: the photo's own random stream (e.g. ``make_rng(seed, "catalog", "photo", pid)``).
        size: output ``(width, height)``.
        bg_kind: force one of :data:`BACKGROUNDS` (random when None).

    Returns:
        An RGB PIL image of ``size``.
    """
    return compose(rng, draw_part(cls, rng), size, bg_kind)


# ----------------------------------------------------------------------------- duplicates and junk


def make_duplicate(image: Image.Image, rng: Rng, max_phash: int = 10) -> tuple[bytes, dict[str, Any]]:
    """Re-publish ``image`` the way a second shop would: cropped, resized, brightened, re-encoded.

    The changes are mild on purpose: when a draw moves the 64-bit perceptual hash more than
    ``max_phash`` bits (the dedup stage's default threshold), it is redone at half the
    strength, so every planted duplicate is findable by design.

    Returns:
        JPEG bytes and the transform parameters (for the ground-truth manifest).
    """
    import imagehash  # only duplicates need it; keeps importing the drawing module light

    w, h = image.size
    ref = imagehash.phash(image)
    for strength in (1.0, 0.5, 0.25, 0.0):
        c = rng.uniform(0.005, 0.03, size=4) * strength
        box = (int(w * c[0]), int(h * c[1]), int(round(w * (1 - c[2]))), int(round(h * (1 - c[3]))))
        img = image.crop(box)
        scale = float(rng.choice([rng.uniform(0.6, 0.9), rng.uniform(1.1, 1.3)]))
        img = img.resize((max(48, int(img.width * scale)), max(48, int(img.height * scale))), Image.Resampling.BILINEAR)
        shift = float(rng.uniform(-12, 12)) * strength
        arr = np.clip(np.asarray(img, np.float32) + shift, 0, 255).astype(np.uint8)
        quality = int(rng.integers(40, 70))
        buf = io.BytesIO()
        Image.fromarray(arr, "RGB").save(buf, format="JPEG", quality=quality)
        data = buf.getvalue()
        distance = int(imagehash.phash(Image.open(io.BytesIO(data)).convert("RGB")) - ref)
        if distance <= max_phash:
            break
    params = {
        "scale": round(scale, 4),
        "brightness": round(shift, 2),
        "quality": quality,
        "crop": [int(v) for v in box],
        "phash_distance": distance,
    }
    return data, params


def make_junk(kind: str, rng: Rng, size: tuple[int, int], cls: ComponentClass) -> Image.Image:
    """An image a quality filter must flag, listed on an ordinary product page.

    Args:
        kind: ``blank`` (uniform colour), ``tiny`` (under 48 px a side, over 32), ``blurry``
            (a product photo under a heavy blur) or ``aspect`` (a thin strip, ratio over 5).
        rng: the item's random stream.
        size: the normal photo size.
        cls: the class the page claims (used to draw the blurry and strip variants).
    """
    w, h = size
    if kind == "blank":
        colr = np.asarray(_pick(rng, [(255, 255, 255), (240, 240, 240), (200, 200, 200), (30, 30, 30)]), np.float32)
        arr = np.broadcast_to(colr, (h, w, 3)) + rng.normal(0, 1.0, size=(h, w, 3))
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    if kind == "tiny":
        side = int(rng.integers(34, 46))
        return draw_photo(cls, rng, (w, h)).resize((side, side), Image.Resampling.LANCZOS)
    if kind == "blurry":
        return draw_photo(cls, rng, (w, h)).filter(ImageFilter.GaussianBlur(max(w, h) / 28))
    if kind == "aspect":
        strip_h = max(12, h // int(rng.integers(6, 10)))
        photo = draw_photo(cls, rng, (w, h))
        y = int(rng.integers(0, h - strip_h))
        return photo.crop((0, y, w, y + strip_h)).resize((int(w * 1.5), strip_h), Image.Resampling.LANCZOS)
    raise ValueError(f"unknown junk kind {kind!r}; expected one of {JUNK_KINDS}")


# ----------------------------------------------------------------------------- top views (boards)

#: Physical footprint (length, width) in millimetres of each class seen from above, min and max.
TOP_MM: dict[ComponentClass, tuple[tuple[float, float], tuple[float, float]]] = {
    ComponentClass.CAPACITOR: ((5.0, 5.0), (10.0, 10.0)),
    ComponentClass.CERAMIC_CAPACITOR: ((5.0, 2.5), (7.5, 3.5)),
    ComponentClass.CONVERTER: ((11.5, 6.0), (20.0, 10.0)),
    ComponentClass.DIODE: ((9.0, 2.2), (13.0, 3.5)),
    ComponentClass.HEAT_SINK: ((10.0, 10.0), (20.0, 16.0)),
    ComponentClass.CRYSTAL_OSCILLATOR: ((10.0, 4.0), (12.0, 5.0)),
    ComponentClass.RELAY: ((15.0, 10.0), (19.0, 15.5)),
    ComponentClass.RESISTOR: ((9.0, 2.3), (13.0, 3.2)),
    ComponentClass.SMD_CAPACITOR: ((2.0, 1.25), (3.2, 1.6)),
    ComponentClass.SMD_DIODE: ((4.0, 1.8), (5.2, 2.6)),
    ComponentClass.SMD_TRANSISTOR: ((2.9, 2.4), (3.0, 2.6)),
    ComponentClass.TRANSISTOR: ((4.8, 3.6), (5.2, 4.2)),
}

#: Smallest side, in pixels, of a drawn top view (tiny SMD parts stay visible and labelable).
MIN_TOP_PX = 9


def top_size(cls: ComponentClass, rng: Rng, px_per_mm: float) -> tuple[int, int]:
    """Pixel size (length, width) of a top view of ``cls`` at ``px_per_mm``, never under :data:`MIN_TOP_PX`."""
    (l0, w0), (l1, w1) = TOP_MM[ComponentClass(cls)]
    t = rng.random()
    length = max(MIN_TOP_PX * (l0 / w0), (l0 + (l1 - l0) * t) * px_per_mm)
    width = max(MIN_TOP_PX, (w0 + (w1 - w0) * t) * px_per_mm)
    return max(MIN_TOP_PX, int(round(length))), int(round(width))


def _top_axial(
    rng: Rng,
    img: Image.Image,
    body: RGB,
    band_fn: Callable[[Image.Image, tuple[float, float, float, float]], None],
    body_frac: float,
) -> None:
    w, h = img.size
    bl = w * body_frac
    x0 = (w - bl) / 2
    _leads(img, [[(0, h / 2), (x0 + 2, h / 2)], [(x0 + bl - 2, h / 2), (w, h / 2)]], h * 0.22)
    _paint_box(
        img,
        (x0, 0, x0 + bl, h),
        lambda bw, bh: _cylinder_fill(bw, bh, body, "y", 0.3),
        lambda d, b: d.rounded_rectangle(b, radius=h * 0.4, fill=255),
    )
    band_fn(img, (x0, 0, x0 + bl, h))


def draw_top_view(cls: ComponentClass, rng: Rng, size: tuple[int, int]) -> Image.Image:
    """The part seen from straight above, filling an RGBA canvas of ``size`` = (length, width).

    Drawn at 4x and reduced, so edges are anti-aliased; the opaque pixels touch all four
    edges, which makes the canvas the part's exact bounding box.
    """
    cls = ComponentClass(cls)
    ss = 4
    W, H = size[0] * ss, size[1] * ss
    img = _canvas(W, H)
    if cls is ComponentClass.CAPACITOR:
        sleeve = _jitter(rng, _pick(rng, [(25, 25, 30), (20, 40, 110), (90, 50, 20), (30, 80, 40)]))
        _paint_box(img, (0, 0, W, H), lambda bw, bh: _radial_fill(bw, bh, sleeve), lambda d, b: d.ellipse(b, fill=255))
        _paint(img, _jitter(rng, (190, 190, 200), 8), lambda d: d.pieslice((0, 0, W, H), 300, 60, fill=255))
        m = W * 0.12
        _paint_box(
            img,
            (m, m, W - m, H - m),
            lambda bw, bh: _metal_fill(bw, bh, (190, 192, 198), rng),
            lambda d, b: d.ellipse(b, fill=255),
        )
        _paint(
            img,
            (110, 112, 118),
            lambda d: [
                d.line((W * 0.3, H / 2, W * 0.7, H / 2), fill=255, width=max(2, W // 30)),
                d.line((W / 2, H * 0.3, W / 2, H * 0.7), fill=255, width=max(2, W // 30)),
            ],
        )
    elif cls is ComponentClass.CERAMIC_CAPACITOR:
        col = _jitter(rng, _pick(rng, [(220, 130, 40), (60, 110, 190), (215, 190, 80)]), 15)
        _leads(img, [[(W * 0.1, H / 2), (W * 0.3, H / 2)], [(W * 0.7, H / 2), (W * 0.9, H / 2)]], H * 0.15)
        _paint_box(
            img,
            (W * 0.02, H * 0.05, W * 0.98, H * 0.95),
            lambda bw, bh: _cylinder_fill(bw, bh, col, "y", 0.3),
            lambda d, b: d.ellipse(b, fill=255),
        )
        # Leads must reach the canvas edge so the box stays exact at both ends.
        _paint(
            img,
            _LEAD,
            lambda d: [
                d.rectangle((0, H * 0.42, W * 0.04, H * 0.58), fill=255),
                d.rectangle((W * 0.96, H * 0.42, W, H * 0.58), fill=255),
            ],
        )
    elif cls is ComponentClass.CONVERTER or cls is ComponentClass.RELAY:
        body = _jitter(
            rng,
            (25, 25, 30)
            if cls is ComponentClass.CONVERTER
            else _pick(rng, [(30, 70, 170), (25, 25, 30), (235, 235, 230)]),
            8,
        )
        _paint_box(
            img,
            (0, 0, W, H),
            lambda bw, bh: _flat_fill(bw, bh, body, 0.2),
            lambda d, b: d.rounded_rectangle(b, radius=min(W, H) * 0.05, fill=255),
        )
        ink = (20, 20, 20) if sum(body) > 450 else (235, 235, 235)
        label = (
            _pick(rng, ["R-78E5.0", "TSR1-2450", "K7805"])
            if cls is ComponentClass.CONVERTER
            else _pick(rng, ["SRD-05VDC", "G5LE-1", "JQC-3FF"])
        )
        _text(img, (W / 2, H * 0.4), label, H * 0.22, ink)
        second = ["5V 1A", "3.3V 0.5A", "12V"] if cls is ComponentClass.CONVERTER else ["10A 250VAC", "12VDC", "5VDC"]
        _text(img, (W / 2, H * 0.68), _pick(rng, second), H * 0.16, ink)
    elif cls is ComponentClass.DIODE:
        body = _jitter(rng, (28, 28, 30), 6)

        def band(im: Image.Image, b: tuple[float, float, float, float]) -> None:
            _paint(
                im,
                (200, 200, 205),
                lambda d: d.rectangle((b[0] + (b[2] - b[0]) * 0.1, b[1], b[0] + (b[2] - b[0]) * 0.25, b[3]), fill=255),
            )

        _top_axial(rng, img, body, band, 0.45)
    elif cls is ComponentClass.RESISTOR:
        body = _jitter(rng, _pick(rng, [(215, 190, 140), (70, 130, 200)]), 12)
        colours = [
            _BAND[int(rng.integers(1, 10))],
            _BAND[int(rng.integers(0, 10))],
            _BAND[int(rng.integers(0, 6))],
            _GOLD,
        ]

        def bands(im: Image.Image, b: tuple[float, float, float, float]) -> None:
            bw = b[2] - b[0]
            for p, colr in zip((0.18, 0.34, 0.5, 0.76), colours, strict=True):
                _paint(
                    im,
                    colr,
                    lambda d, p=p: d.rectangle((b[0] + bw * p, b[1] + 1, b[0] + bw * (p + 0.08), b[3] - 1), fill=255),
                )

        _top_axial(rng, img, body, bands, 0.55)
    elif cls is ComponentClass.HEAT_SINK:
        metal = _jitter(rng, _pick(rng, [(200, 203, 210), (45, 45, 50)]), 8)
        _paint_box(
            img,
            (0, 0, W, H),
            lambda bw, bh: _metal_fill(bw, bh, _jitter_dark(metal, 0.7), rng, "y"),
            lambda d, b: d.rectangle(b, fill=255),
        )
        fins = int(rng.integers(5, 10))
        fw = W / fins * 0.45
        for i in range(fins):
            fx = i * (W - fw) / max(fins - 1, 1)
            _paint_box(
                img,
                (fx, 0, fx + fw, H),
                lambda bw, bh: _cylinder_fill(bw, bh, metal, "x", 0.4),
                lambda d, b: d.rectangle(b, fill=255),
            )
    elif cls is ComponentClass.CRYSTAL_OSCILLATOR:
        _paint_box(
            img,
            (0, 0, W, H),
            lambda bw, bh: _metal_fill(bw, bh, (195, 198, 205), rng, "y"),
            lambda d, b: d.rounded_rectangle(b, radius=H / 2, fill=255),
        )
        _text(img, (W / 2, H / 2), _pick(rng, ["16.000", "8.000", "12.000", "25.000"]), H * 0.42, (50, 50, 55))
    elif cls is ComponentClass.SMD_CAPACITOR:
        body = _jitter(rng, _pick(rng, [(190, 150, 100), (165, 120, 80), (140, 100, 70)]), 10)
        _paint(img, body, lambda d: d.rectangle((0, 0, W, H), fill=255))
        ew = W * 0.22
        for ex in (0, W - ew):
            _paint_box(
                img,
                (ex, 0, ex + ew, H),
                lambda bw, bh: _metal_fill(bw, bh, (205, 205, 210), rng, "x"),
                lambda d, b: d.rectangle(b, fill=255),
            )
    elif cls is ComponentClass.SMD_DIODE:
        _paint(
            img,
            (205, 205, 210),
            lambda d: [
                d.rectangle((0, H * 0.2, W * 0.15, H * 0.8), fill=255),
                d.rectangle((W * 0.85, H * 0.2, W, H * 0.8), fill=255),
            ],
        )
        _paint_box(
            img,
            (W * 0.1, 0, W * 0.9, H),
            lambda bw, bh: _flat_fill(bw, bh, (32, 32, 36), 0.2),
            lambda d, b: d.rectangle(b, fill=255),
        )
        _paint(img, (200, 200, 205), lambda d: d.rectangle((W * 0.18, H * 0.08, W * 0.28, H * 0.92), fill=255))
    elif cls is ComponentClass.SMD_TRANSISTOR:
        leg = H * 0.22
        for fx, y in ((0.2, H - leg), (0.8, H - leg), (0.5, 0)):
            _paint(
                img,
                (205, 205, 210),
                lambda d, fx=fx, y=y: d.rectangle((W * fx - W * 0.08, y, W * fx + W * 0.08, y + leg), fill=255),
            )
        _paint_box(
            img,
            (0, leg, W, H - leg),
            lambda bw, bh: _flat_fill(bw, bh, (32, 32, 36), 0.25),
            lambda d, b: d.rectangle(b, fill=255),
        )
    elif cls is ComponentClass.TRANSISTOR:
        # TO-92 from above: a "D" (flat face + half round back).
        _paint_box(
            img,
            (0, 0, W, H),
            lambda bw, bh: _radial_fill(bw, bh, (34, 34, 38)),
            lambda d, b: [
                d.pieslice((b[0], b[1] - (b[3] - b[1]), b[2], b[3]), 0, 180, fill=255),
                d.rectangle((b[0], b[1], b[2], b[1] + (b[3] - b[1]) * 0.12), fill=255),
            ],
        )
    return img.resize(size, Image.Resampling.LANCZOS)
