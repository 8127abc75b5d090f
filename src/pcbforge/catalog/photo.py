"""Catalogue photos: a part sprite placed on a photo background with shadow, lighting and noise.

* :func:`draw_photo` -- a catalogue photo: the part at a random size, angle and position on
  a random background (white studio, grey, gradient, textured), with a drop shadow, a
  lighting gradient, a colour cast and sensor noise.
* :func:`compose` / :func:`background` -- the composition, usable with any RGBA sprite.

Example:
    >>> from pcbforge.rng import make_rng
    >>> from pcbforge.vocab import ComponentClass
    >>> img = draw_photo(ComponentClass.RESISTOR, make_rng(0, "doc"), (128, 128))
    >>> img.size, img.mode
    ((128, 128), 'RGB')
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageFilter

from pcbforge.catalog.paint import Rng, jitter, pick
from pcbforge.catalog.parts import draw_part
from pcbforge.vocab import ComponentClass


BACKGROUNDS = ("studio", "grey", "gradient", "textured")


def _smooth_noise(rng: Rng, w: int, h: int, cells: tuple[int, int], amp: float) -> np.ndarray:
    """Low-frequency value noise: a small random grid upsampled bicubically."""
    small = rng.normal(0, 1, size=(cells[1], cells[0])).astype(np.float32)
    img = Image.fromarray(small, "F").resize((w, h), Image.Resampling.BICUBIC)
    return np.asarray(img, np.float32) * amp


def background(rng: Rng, w: int, h: int, kind: str | None = None) -> np.ndarray:
    """A float32 HxWx3 photo background of ``kind`` (random when None), values 0..255."""
    kind = kind or pick(rng, BACKGROUNDS)
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
            pick(rng, [(235, 235, 240), (200, 215, 235), (60, 60, 70), (230, 220, 200), (180, 200, 190)]), np.float32
        )
        b = np.asarray(
            pick(rng, [(150, 160, 175), (250, 250, 250), (20, 20, 25), (190, 170, 150), (90, 110, 130)]), np.float32
        )
        ang = rng.uniform(0, 2 * math.pi)
        t = (xx / w - 0.5) * math.cos(ang) + (yy / h - 0.5) * math.sin(ang)
        t = np.clip(t + 0.5, 0, 1)[..., None]
        bg = a * (1 - t) + b * t
    else:
        tex = pick(rng, ["mat", "wood", "paper", "fabric"])
        if tex == "mat":
            # Green self-healing cutting mat with a printed grid.
            colr = np.asarray(jitter(rng, (40, 110, 80), 12), np.float32)
            bg = np.broadcast_to(colr, (h, w, 3)).copy() + _smooth_noise(rng, w, h, (6, 6), 5)[..., None]
            step = int(rng.integers(max(8, w // 12), max(9, w // 5)))
            off = int(rng.integers(0, step))
            grid = ((xx.astype(int) + off) % step == 0) | ((yy.astype(int) + off) % step == 0)
            bg[grid] = bg[grid] * 0.5 + np.asarray([200, 220, 200], np.float32) * 0.5
        elif tex == "wood":
            colr = np.asarray(jitter(rng, (170, 120, 75), 20), np.float32)
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
                jitter(rng, pick(rng, [(60, 70, 95), (110, 40, 40), (80, 80, 80), (200, 195, 185)]), 12), np.float32
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

    kind = bg_kind or pick(rng, BACKGROUNDS)
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
