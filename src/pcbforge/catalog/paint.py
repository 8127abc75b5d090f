"""Drawing primitives shared by every catalog drawing: colour picks, shaded fills, masked paint, text.

Parts are drawn large with PIL and shaded with numpy (cylinders get a bright specular band,
boxes a soft gradient), then scaled down by their caller, which gives free anti-aliasing.
Everything is a pure function of its arguments; randomness comes only from the
``np.random.Generator`` passed in.

Used by :mod:`pcbforge.catalog.parts` (product photos), :mod:`pcbforge.catalog.topview`
(board top views) and :mod:`pcbforge.catalog.boards` (silkscreen text).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

RGB = tuple[int, int, int]
Rng = np.random.Generator

# Resistor colour code (digits 0-9), plus gold/silver tolerance bands.
BAND = [
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
GOLD = (200, 160, 60)
SILVER = (190, 190, 195)
LEAD = (196, 198, 204)


@functools.lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's default font at ``size`` px (at least 6)."""
    # Pillow's bundled default font (no files on disk, identical on every install of one version).
    return ImageFont.load_default(size=max(6, int(size)))


def pick(rng: Rng, items: list[Any] | tuple[Any, ...]) -> Any:
    """One of ``items``, uniformly."""
    return items[int(rng.integers(len(items)))]


def jitter(rng: Rng, rgb: RGB, amount: int = 14) -> RGB:
    """``rgb`` with each channel moved by up to ``amount`` either way (part-to-part variation)."""
    d = rng.integers(-amount, amount + 1, size=3)
    return tuple(int(np.clip(c + x, 0, 255)) for c, x in zip(rgb, d, strict=True))  # type: ignore[return-value]


def new_canvas(w: int, h: int) -> Image.Image:
    """A transparent RGBA canvas of ``w`` x ``h``."""
    return Image.new("RGBA", (int(w), int(h)), (0, 0, 0, 0))


def cylinder_fill(w: int, h: int, rgb: RGB, axis: str = "x", spec: float = 0.35, t0: float = -0.35) -> Image.Image:
    """A colour field shaded like a cylinder whose axis is perpendicular to ``axis``."""
    n = w if axis == "x" else h
    t = np.linspace(-1.0, 1.0, max(n, 2))
    prof = 0.42 + 0.58 * np.sqrt(np.clip(1 - t**2, 0, 1)) ** 0.6
    hi = spec * np.exp(-(((t - t0) / 0.16) ** 2))
    col = np.asarray(rgb, np.float32)[None, :] * prof[:, None] + 255.0 * hi[:, None]
    col = np.clip(col, 0, 255).astype(np.uint8)
    arr = np.broadcast_to(col[None, :, :], (h, w, 3)) if axis == "x" else np.broadcast_to(col[:, None, :], (h, w, 3))
    return Image.fromarray(np.ascontiguousarray(arr), "RGB")


def flat_fill(w: int, h: int, rgb: RGB, grad: float = 0.18, angle: float = 0.6) -> Image.Image:
    """A colour field with a soft linear light gradient (flat plastic, printed surfaces)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (xx / max(w, 1) * math.cos(angle) + yy / max(h, 1) * math.sin(angle)) / (
        abs(math.cos(angle)) + abs(math.sin(angle))
    )
    f = (1 + grad / 2) - grad * t
    arr = np.clip(np.asarray(rgb, np.float32)[None, None, :] * f[..., None], 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def metal_fill(w: int, h: int, rgb: RGB, rng: Rng, axis: str = "x") -> Image.Image:
    """Brushed metal: cylinder shading plus fine streaks along the brushing direction."""
    base = np.asarray(cylinder_fill(w, h, rgb, axis, spec=0.45, t0=float(rng.uniform(-0.5, 0.2))), np.float32)
    streak = rng.normal(0, 6, size=(h, 1) if axis == "x" else (1, w)).astype(np.float32)
    return Image.fromarray(np.clip(base + streak[..., None], 0, 255).astype(np.uint8), "RGB")


def paint(
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


def paint_box(
    canvas: Image.Image,
    box: tuple[float, float, float, float],
    fill_fn: Callable[[int, int], Image.Image],
    shape: Callable[[ImageDraw.ImageDraw, tuple[float, float, float, float]], None],
) -> None:
    """Fill ``shape`` within ``box`` with a fill generated for the box's size (gradients follow the part)."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    w, h = max(1, x1 - x0), max(1, y1 - y0)
    paint(canvas, fill_fn(w, h), lambda d: shape(d, (x0, y0, x1, y1)), origin=(x0, y0))


def text(
    canvas: Image.Image,
    xy: tuple[float, float],
    text: str,
    size: float,
    rgb: RGB,
    anchor: str = "mm",
    angle: float = 0.0,
) -> None:
    """Print ``text`` centred at ``xy`` (optionally rotated), like a marking on the part."""
    face = font(int(size))
    if not angle:
        ImageDraw.Draw(canvas).text(xy, text, font=face, fill=(*rgb, 255), anchor=anchor)
        return
    bbox = face.getbbox(text)
    tw, th = bbox[2] - bbox[0] + 4, bbox[3] - bbox[1] + 4
    layer = Image.new("RGBA", (tw, th), (0, 0, 0, 0))
    ImageDraw.Draw(layer).text((tw / 2, th / 2), text, font=face, fill=(*rgb, 255), anchor="mm")
    layer = layer.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    canvas.alpha_composite(layer, (int(xy[0] - layer.width / 2), int(xy[1] - layer.height / 2)))


def _lead(d: ImageDraw.ImageDraw, pts: list[tuple[float, float]], width: float) -> None:
    d.line(pts, fill=255, width=max(1, int(width)), joint="curve")


def leads(canvas: Image.Image, lines: list[list[tuple[float, float]]], width: float, rgb: RGB = LEAD) -> None:
    """Tinned wire leads, with a darker edge so they read as round wire."""
    paint(canvas, darken(rgb, 0.55), lambda d: [_lead(d, p, width * 1.35) for p in lines])
    paint(canvas, rgb, lambda d: [_lead(d, p, width) for p in lines])


def darken(rgb: RGB, f: float) -> RGB:
    """``rgb`` scaled by ``f`` (a shaded face of the same material)."""
    return tuple(int(c * f) for c in rgb)  # type: ignore[return-value]


def part_number(rng: Rng, prefix: str, digits: int = 4) -> str:
    """``prefix`` plus ``digits`` random digits, as printed on a part."""
    return prefix + "".join(str(int(x)) for x in rng.integers(0, 10, size=digits))


def radial_fill(w: int, h: int, rgb: RGB) -> Image.Image:
    """A colour field shaded like a dome lit from the top left (dipped epoxy, can tops)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt(((xx / max(w, 1) - 0.38) / 0.7) ** 2 + ((yy / max(h, 1) - 0.35) / 0.7) ** 2)
    f = np.clip(1.25 - 0.75 * r, 0.45, 1.3)
    spec = 90 * np.exp(-((r / 0.12) ** 2))
    arr = np.asarray(rgb, np.float32)[None, None, :] * f[..., None] + spec[..., None]
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
