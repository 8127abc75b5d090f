"""Product-photo drawings of the 12 component classes: one large RGBA sprite per part.

Each ``_photo_<class>`` draws a catalogue-style view of one part (body, leads, markings) on a
transparent background, at a random size and variant drawn from the generator passed in;
:func:`draw_part` picks the one for a class. :mod:`pcbforge.catalog.photo` places the sprite
on a background.

Example:
    >>> from pcbforge.rng import make_rng
    >>> from pcbforge.vocab import ComponentClass
    >>> draw_part(ComponentClass.DIODE, make_rng(0, "doc")).mode
    'RGBA'
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from pcbforge.catalog.paint import (
    BAND,
    GOLD,
    RGB,
    Rng,
    cylinder_fill,
    darken,
    flat_fill,
    jitter,
    leads,
    metal_fill,
    new_canvas,
    paint,
    paint_box,
    part_number,
    pick,
    radial_fill,
    text,
)
from pcbforge.vocab import ComponentClass


# Each returns an RGBA sprite (transparent background) drawn large; draw_photo scales it down.


def _photo_capacitor(rng: Rng) -> Image.Image:
    sleeve = jitter(
        rng,
        pick(
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
    stripe = jitter(
        rng, (35, 35, 40) if light_sleeve else pick(rng, [(200, 200, 205), (230, 200, 90), (170, 190, 230)]), 10
    )
    w = int(rng.uniform(150, 230))
    h = int(w * rng.uniform(1.2, 2.1))
    lead_len = int(rng.uniform(90, 200))
    cap = new_canvas(w + 20, h + lead_len + 40)
    x0, y0, x1, y1 = 10, 20, 10 + w, 20 + h
    ry = w * 0.16
    lx = (x0 + w * 0.3, x0 + w * 0.7)
    leads(cap, [[(lx[0], y1 - 5), (lx[0], y1 + lead_len)], [(lx[1], y1 - 5), (lx[1], y1 + lead_len * 0.8)]], w * 0.05)
    body = (x0, y0 + ry / 2, x1, y1)
    paint_box(
        cap,
        body,
        lambda bw, bh: cylinder_fill(bw, bh, sleeve),
        lambda d, b: d.rounded_rectangle(b, radius=w * 0.08, fill=255),
    )
    # Polarity stripe with minus signs, on the light side of the can.
    sx0, sx1 = x0 + w * 0.62, x0 + w * 0.82
    paint_box(
        cap,
        (sx0, y0 + ry, sx1, y1 - 4),
        lambda bw, bh: flat_fill(bw, bh, stripe, 0.25, math.pi / 2),
        lambda d, b: d.rectangle(b, fill=255),
    )
    for k in range(3):
        yy = y0 + ry + (h - ry) * (0.25 + 0.25 * k)
        paint(
            cap,
            sleeve,
            lambda d, yy=yy: d.rectangle(
                (sx0 + (sx1 - sx0) * 0.3, yy - w * 0.012, sx1 - (sx1 - sx0) * 0.3, yy + w * 0.012), fill=255
            ),
        )
    # Aluminium top with the scored vent.
    top = (x0 + 2, y0, x1 - 2, y0 + ry * 1.6)
    paint_box(cap, top, lambda bw, bh: metal_fill(bw, bh, (185, 188, 195), rng), lambda d, b: d.ellipse(b, fill=255))
    cx, cy = (x0 + x1) / 2, y0 + ry * 0.8
    vent = pick(rng, ["k", "+", "y"])
    arms = {"k": [(-0.3, 0), (0.3, 0)], "+": [(-0.3, 0), (0.3, 0), (0, -0.25), (0, 0.25)], "y": [(0, 0), (0, 0.3)]}[
        vent
    ]
    paint(
        cap,
        (120, 122, 128),
        lambda d: [
            d.line((cx, cy, cx + ax * w, cy + ay * ry * 2.5), fill=255, width=max(2, int(w * 0.015))) for ax, ay in arms
        ],
    )
    uf = pick(rng, ["10", "22", "47", "100", "220", "330", "470", "1000", "2200"])
    v = pick(rng, ["6.3V", "10V", "16V", "25V", "35V", "50V", "63V"])
    ink = pick(rng, [(235, 235, 235), (230, 210, 120)]) if sum(sleeve) < 400 else (20, 20, 20)
    tx = x0 + w * 0.35
    text(cap, (tx, (y0 + y1) / 2 + ry / 2), f"{uf}µF {v}", w * 0.14, ink, angle=90)
    text(
        cap,
        (tx + w * 0.16, (y0 + y1) / 2 + ry / 2),
        pick(rng, ["105°C", "85°C", "LOW ESR", "RVT"]),
        w * 0.09,
        ink,
        angle=90,
    )
    return cap


def _photo_ceramic_capacitor(rng: Rng) -> Image.Image:
    col = jitter(rng, pick(rng, [(220, 130, 40), (230, 170, 50), (60, 110, 190), (170, 90, 40), (215, 190, 80)]), 18)
    d = int(rng.uniform(140, 220))
    lead = int(rng.uniform(120, 220))
    cap = new_canvas(d + 40, d + lead + 40)
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
    leads(cap, legs, d * 0.035)
    squash = rng.uniform(0.82, 1.0)
    box = (x0, y0 + d * (1 - squash) / 2, x0 + d, y0 + d * (1 + squash) / 2 + d * 0.05)
    # Dipped epoxy: a slightly drippy bottom (drawn as a second ellipse) and a dome highlight.
    paint_box(cap, box, lambda bw, bh: radial_fill(bw, bh, col), lambda dr, b: dr.ellipse(b, fill=255))
    paint_box(
        cap,
        (cx - d * 0.14, box[3] - d * 0.2, cx + d * 0.14, box[3] + d * 0.07),
        lambda bw, bh: flat_fill(bw, bh, darken(col, 0.85), 0.3, math.pi / 2),
        lambda dr, b: dr.ellipse(b, fill=255),
    )
    code = pick(rng, ["104", "103", "102", "223", "473", "101", "22", "33", "471", "105"])
    ink = (25, 25, 25) if sum(col) > 330 else (235, 235, 235)
    text(cap, (cx, y0 + d * 0.45), code, d * 0.26, ink)
    if rng.random() < 0.6:
        text(cap, (cx, y0 + d * 0.68), pick(rng, ["50V", "1KV", "Z5U", "X7R", "K"]), d * 0.13, ink)
    return cap


def _box_photo(
    rng: Rng, front: RGB, w: int, h: int, depth: int
) -> tuple[Image.Image, tuple[float, float, float, float]]:
    """A box seen slightly from above: lit top face and a front face; returns the front rectangle."""
    pins = int(depth * 0.9) + 60
    img = new_canvas(w + depth + 20, h + depth + pins + 20)
    x0, y0 = 10, 10 + depth
    top = [(x0, y0), (x0 + depth, y0 - depth), (x0 + depth + w, y0 - depth), (x0 + w, y0)]
    side = [(x0 + w, y0), (x0 + w + depth, y0 - depth), (x0 + w + depth, y0 - depth + h), (x0 + w, y0 + h)]
    lighter = tuple(min(255, int(c * 1.35 + 18)) for c in front)
    darker = darken(front, 0.62)
    paint(img, flat_fill(img.width, img.height, lighter, 0.15), lambda d: d.polygon(top, fill=255))  # type: ignore[arg-type]
    paint(img, flat_fill(img.width, img.height, darker, 0.2), lambda d: d.polygon(side, fill=255))
    fr = (x0, y0, x0 + w, y0 + h)
    paint_box(
        img,
        fr,
        lambda bw, bh: flat_fill(bw, bh, front, 0.22, float(rng.uniform(0.2, 1.2))),
        lambda d, b: d.rectangle(b, fill=255),
    )
    return img, fr


def _photo_converter(rng: Rng) -> Image.Image:
    body = jitter(
        rng, pick(rng, [(22, 22, 26), (25, 45, 110), (30, 30, 60), (15, 80, 140), (20, 90, 50), (225, 225, 220)]), 10
    )
    w = int(rng.uniform(260, 380))
    h = int(w * rng.uniform(0.35, 0.6))
    depth = int(w * rng.uniform(0.12, 0.22))
    img, (x0, y0, x1, y1) = _box_photo(rng, body, w, h, depth)
    n = int(rng.integers(3, 9))
    pitch = w / (n + 1)
    leads(
        img,
        [[(x0 + pitch * (i + 1), y1 - 2), (x0 + pitch * (i + 1), y1 + depth * 0.9 + 50)] for i in range(n)],
        w * 0.018,
    )
    brand = pick(rng, ["RECOM", "TRACO", "MEAN WELL", "MURATA", "XP POWER", "CUI", "AIMTEC"])
    model = pick(rng, ["R-78E", "TSR 1-24", "NME", "OKI-78SR", "TMR 2", "K7805", "SPM"]) + part_number(rng, "-", 2)
    vin = pick(rng, ["IN 9-36V", "IN 4.5-18V", "IN 12V", "IN 24V"])
    vout = pick(rng, ["OUT 5V 1A", "OUT 3.3V 0.5A", "OUT 12V 250mA", "OUT ±15V"])
    ink = pick(rng, [(240, 240, 240), (245, 220, 120)]) if sum(body) < 450 else (25, 25, 30)
    cx = (x0 + x1) / 2
    text(img, (cx, y0 + h * 0.22), brand, h * 0.17, ink)
    text(img, (cx, y0 + h * 0.47), model, h * 0.2, ink)
    text(img, (cx, y0 + h * 0.72), f"{vin}  {vout}", h * 0.1, ink)
    text(img, (x0 + w * 0.07, y1 - h * 0.12), "•", h * 0.2, ink)
    return img


def _photo_diode(rng: Rng) -> Image.Image:
    glass = rng.random() < 0.3
    body = (200, 110, 60) if glass else jitter(rng, (28, 28, 30), 6)
    band = (30, 30, 30) if glass else jitter(rng, pick(rng, [(200, 200, 205), (215, 215, 220), (170, 170, 175)]), 8)
    bl = int(rng.uniform(170, 260))
    bd = int(bl * rng.uniform(0.32, 0.5))
    lead = int(bl * rng.uniform(0.3, 0.7))
    img = new_canvas(bl + 2 * lead + 20, bd + 40)
    cy = img.height / 2
    x0 = lead + 10
    leads(img, [[(10, cy), (x0 + 4, cy)], [(x0 + bl - 4, cy), (x0 + bl + lead, cy)]], bd * 0.13)
    box = (x0, cy - bd / 2, x0 + bl, cy + bd / 2)
    paint_box(
        img,
        box,
        lambda bw, bh: cylinder_fill(bw, bh, body, "y", 0.4 if glass else 0.25),
        lambda d, b: d.rounded_rectangle(b, radius=bd * 0.35, fill=255),
    )
    bx = x0 + bl * rng.uniform(0.08, 0.16)
    paint_box(
        img,
        (bx, box[1], bx + bl * 0.14, box[3]),
        lambda bw, bh: cylinder_fill(bw, bh, band, "y", 0.3),
        lambda d, b: d.rectangle(b, fill=255),
    )
    if not glass:
        text(
            img,
            (x0 + bl * 0.62, cy),
            pick(rng, ["1N4007", "1N4148", "1N5819", "UF4007", "1N5408", "BYV27"]),
            bd * 0.42,
            (200, 200, 205),
        )
    return img


def _photo_heat_sink(rng: Rng) -> Image.Image:
    black = rng.random() < 0.35
    metal = jitter(rng, (45, 45, 50) if black else (200, 203, 210), 8)
    fins = int(rng.integers(5, 11))
    w = int(rng.uniform(280, 380))
    h = int(w * rng.uniform(0.7, 1.1))
    depth = int(w * rng.uniform(0.15, 0.25))
    img = new_canvas(w + depth + 30, h + depth + 30)
    x0, y0 = 10, depth + 10
    base_h = h * rng.uniform(0.12, 0.2)
    # Base plate at the bottom, fins rising from it, each fin a thin lit slab with a shaded side.
    paint_box(
        img,
        (x0, y0 + h - base_h, x0 + w, y0 + h),
        lambda bw, bh: metal_fill(bw, bh, darken(metal, 0.85), rng, "y"),
        lambda d, b: d.rectangle(b, fill=255),
    )
    paint(
        img,
        darken(metal, 0.6),
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
        paint(
            img,
            darken(metal, 0.7),
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
        paint(
            img,
            tuple(min(255, int(c * 1.15)) for c in metal),
            lambda d, fx=fx: d.polygon(
                [(fx, y0), (fx + depth, y0 - depth), (fx + depth + fin_w, y0 - depth), (fx + fin_w, y0)], fill=255
            ),
        )  # type: ignore[arg-type]
        paint_box(
            img,
            (fx, y0, fx + fin_w, y0 + h - base_h),
            lambda bw, bh: metal_fill(bw, bh, metal, rng, "y"),
            lambda d, b: d.rectangle(b, fill=255),
        )
    if rng.random() < 0.5:
        hole_y = y0 + h - base_h / 2
        paint(
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
    metal = jitter(rng, (195, 198, 205), 10)
    if rng.random() < 0.7:
        # HC-49: a flat oval can standing on a base, two leads.
        w = int(rng.uniform(220, 320))
        h = int(w * rng.uniform(0.38, 0.5))
        lead = int(rng.uniform(100, 180))
        img = new_canvas(w + 20, h + lead + 40)
        x0, y0 = 10, 10
        leads(
            img,
            [
                [(x0 + w * 0.3, y0 + h), (x0 + w * 0.3, y0 + h + lead)],
                [(x0 + w * 0.7, y0 + h), (x0 + w * 0.7, y0 + h + lead)],
            ],
            w * 0.025,
        )
        paint_box(
            img,
            (x0, y0, x0 + w, y0 + h),
            lambda bw, bh: metal_fill(bw, bh, metal, rng, "y"),
            lambda d, b: d.rounded_rectangle(b, radius=h / 2, fill=255),
        )
        paint_box(
            img,
            (x0 - 3, y0 + h * 0.86, x0 + w + 3, y0 + h + 6),
            lambda bw, bh: metal_fill(bw, bh, darken(metal, 0.8), rng, "y"),
            lambda d, b: d.rounded_rectangle(b, radius=6, fill=255),
        )
        freq = pick(rng, ["4.000", "8.000", "11.0592", "12.000", "16.000", "20.000", "25.000", "32.768"])
        text(
            img, (x0 + w / 2, y0 + h * 0.38), f"{freq}MHz" if freq != "32.768" else "32.768kHz", h * 0.24, (40, 40, 45)
        )
        text(
            img,
            (x0 + w / 2, y0 + h * 0.66),
            pick(rng, ["KDS", "NDK", "TXC", "ECS", "ABRACON"]) + part_number(rng, " ", 3),
            h * 0.15,
            (60, 60, 65),
        )
        return img
    # Full-size DIP oscillator can: rounded square, 4 pins, a sharp "dot" corner.
    w = int(rng.uniform(220, 300))
    h = int(w * rng.uniform(0.55, 0.75))
    img, (x0, y0, x1, y1) = _box_photo(rng, metal, w, h, int(w * 0.08))
    leads(img, [[(x0 + w * f, y1), (x0 + w * f, y1 + 70)] for f in (0.12, 0.88)], w * 0.025)
    text(img, ((x0 + x1) / 2, y0 + h * 0.35), pick(rng, ["OSC", "XO", "SG-531P"]), h * 0.2, (40, 40, 45))
    text(
        img,
        ((x0 + x1) / 2, y0 + h * 0.65),
        pick(rng, ["10.000", "24.000", "40.000", "50.000"]) + "MHz",
        h * 0.17,
        (40, 40, 45),
    )
    return img


def _photo_relay(rng: Rng) -> Image.Image:
    body = jitter(rng, pick(rng, [(30, 70, 170), (25, 25, 30), (235, 235, 230), (220, 190, 40), (40, 90, 200)]), 10)
    w = int(rng.uniform(240, 320))
    h = int(w * rng.uniform(0.75, 1.0))
    img, (x0, y0, x1, y1) = _box_photo(rng, body, w, h, int(w * rng.uniform(0.25, 0.4)))
    leads(img, [[(x0 + w * f, y1), (x0 + w * f, y1 + 50)] for f in (0.15, 0.4, 0.6, 0.85)], w * 0.025)
    ink = (20, 20, 20) if sum(body) > 450 else (240, 240, 240)
    brand = pick(rng, ["SONGLE", "OMRON", "HKE", "FINDER", "TE", "SRD"])
    cx = (x0 + x1) / 2
    text(img, (cx, y0 + h * 0.16), brand, h * 0.13, ink)
    text(
        img,
        (cx, y0 + h * 0.34),
        pick(rng, ["SRD-05VDC-SL-C", "G5LE-1 12VDC", "HRS1H-S 5V", "JQC-3FF 12V"]),
        h * 0.085,
        ink,
    )
    text(img, (cx, y0 + h * 0.52), pick(rng, ["10A 250VAC", "10A 125VAC", "5A 250VAC"]), h * 0.085, ink)
    text(img, (cx, y0 + h * 0.66), pick(rng, ["10A 30VDC", "10A 28VDC", "5A 30VDC"]), h * 0.085, ink)
    # Coil/contact schematic symbol, as printed on real relays.
    sx, sy = cx - w * 0.15, y0 + h * 0.8
    paint(img, ink, lambda d: d.rectangle((sx, sy, sx + w * 0.08, sy + h * 0.1), outline=255, width=3))
    paint(img, ink, lambda d: d.line((sx + w * 0.15, sy + h * 0.1, sx + w * 0.28, sy), fill=255, width=3))
    return img


def _photo_resistor(rng: Rng) -> Image.Image:
    metal_film = rng.random() < 0.45
    body = jitter(rng, (70, 130, 200) if metal_film else (215, 190, 140), 14)
    bl = int(rng.uniform(200, 300))
    bd = int(bl * rng.uniform(0.28, 0.36))
    lead = int(bl * rng.uniform(0.3, 0.65))
    img = new_canvas(bl + 2 * lead + 20, int(bd * 1.2) + 40)
    cy = img.height / 2
    x0 = lead + 10
    leads(img, [[(10, cy), (x0 + 5, cy)], [(x0 + bl - 5, cy), (x0 + bl + lead, cy)]], bd * 0.11)
    # Dog-bone body: two end caps and a slimmer middle.
    cap_w = bl * 0.24

    def bone(d: ImageDraw.ImageDraw, b: tuple[float, float, float, float]) -> None:
        d.rounded_rectangle((b[0], b[1], b[0] + cap_w, b[3]), radius=bd * 0.4, fill=255)
        d.rounded_rectangle((b[2] - cap_w, b[1], b[2], b[3]), radius=bd * 0.4, fill=255)
        d.rectangle((b[0] + cap_w * 0.5, b[1] + bd * 0.1, b[2] - cap_w * 0.5, b[3] - bd * 0.1), fill=255)

    paint_box(
        img, (x0, cy - bd / 2, x0 + bl, cy + bd / 2), lambda bw, bh: cylinder_fill(bw, bh, body, "y", 0.3), bone
    )
    n_digits = 3 if metal_film else 2
    digits = [int(rng.integers(1, 10))] + [int(rng.integers(0, 10)) for _ in range(n_digits - 1)]
    bands = [BAND[d] for d in digits] + [BAND[int(rng.integers(0, 6))], GOLD if not metal_film else BAND[1]]
    pos = np.linspace(0.14, 0.66, len(bands) - 1).tolist() + [0.84]
    for p, colr in zip(pos, bands, strict=True):
        bx = x0 + bl * p
        paint_box(
            img,
            (bx, cy - bd / 2 + 1, bx + bl * 0.055, cy + bd / 2 - 1),
            lambda bw, bh, colr=colr: cylinder_fill(bw, bh, colr, "y", 0.25),
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
    paint(img, tuple(min(255, int(c * gain + add)) for c in body), lambda d: d.polygon(top, fill=255))  # type: ignore[arg-type]
    side = [(x0 + w, y0), (x0 + w + depth, y0 - depth), (x0 + w + depth, y0 + h - depth), (x0 + w, y0 + h)]
    paint(img, darken(body, 0.6), lambda d: d.polygon(side, fill=255))
    paint_box(
        img,
        (x0, y0, x0 + w, y0 + h),
        lambda bw, bh: flat_fill(bw, bh, body, grad),
        lambda d, b: d.rectangle(b, fill=255),
    )


def _smd_chip(
    rng: Rng, body: RGB, w: int, h: int, end: RGB | None, depth_f: float
) -> tuple[Image.Image, tuple[float, float, float, float]]:
    depth = int(h * depth_f)
    img = new_canvas(w + depth + 20, h + depth + 20)
    x0, y0 = 10, 10 + depth
    _smd_body(img, x0, y0, w, h, depth, body, top_light=(1.3, 15), grad=0.25)
    if end is not None:
        ew = w * rng.uniform(0.16, 0.24)
        for ex in (x0, x0 + w - ew):
            paint_box(
                img,
                (ex, y0, ex + ew, y0 + h),
                lambda bw, bh: metal_fill(bw, bh, end, rng, "x"),
                lambda d, b: d.rectangle(b, fill=255),
            )
            paint(
                img,
                tuple(min(255, c + 30) for c in end),
                lambda d, ex=ex: d.polygon(
                    [(ex, y0), (ex + depth, y0 - depth), (ex + depth + ew, y0 - depth), (ex + ew, y0)], fill=255
                ),
            )  # type: ignore[arg-type]
        paint(
            img,
            darken(end, 0.7),
            lambda d: d.polygon(
                [(x0 + w, y0), (x0 + w + depth, y0 - depth), (x0 + w + depth, y0 + h - depth), (x0 + w, y0 + h)],
                fill=255,
            ),
        )
    return img, (x0, y0, x0 + w, y0 + h)


def _photo_smd_capacitor(rng: Rng) -> Image.Image:
    tantalum = rng.random() < 0.3
    if tantalum:
        body = jitter(rng, pick(rng, [(220, 170, 40), (40, 40, 40)]), 10)
        w = int(rng.uniform(300, 380))
        img, (x0, y0, x1, y1) = _smd_chip(rng, body, w, int(w * rng.uniform(0.5, 0.62)), None, 0.5)
        ink = (30, 30, 30) if sum(body) > 300 else (230, 230, 230)
        # Tantalum: polarity band (the anode) and a value code.
        paint(
            img,
            darken(body, 0.55) if sum(body) > 300 else (150, 150, 150),
            lambda d: d.rectangle((x0 + 4, y0 + 4, x0 + (x1 - x0) * 0.16, y1 - 4), fill=255),
        )
        text(
            img,
            ((x0 + x1) / 2 + 15, (y0 + y1) / 2),
            pick(rng, ["107", "226", "475", "106"]) + pick(rng, ["A", "C", "E"]),
            (y1 - y0) * 0.38,
            ink,
        )
        for ex in (x0 - 20, x1 - 6):
            paint(
                img, (200, 200, 205), lambda d, ex=ex: d.rectangle((ex, y1 - (y1 - y0) * 0.35, ex + 26, y1), fill=255)
            )
        return img
    body = jitter(rng, pick(rng, [(190, 150, 100), (165, 120, 80), (140, 100, 70), (205, 175, 120)]), 12)
    w = int(rng.uniform(300, 400))
    img, _ = _smd_chip(rng, body, w, int(w * rng.uniform(0.45, 0.6)), jitter(rng, (200, 202, 208), 8), 0.55)
    return img


def _photo_smd_diode(rng: Rng) -> Image.Image:
    body = jitter(rng, (32, 32, 36), 6)
    w = int(rng.uniform(300, 380))
    h = int(w * rng.uniform(0.5, 0.62))
    img, (x0, y0, x1, y1) = _smd_chip(rng, body, w, h, None, 0.35)
    # Bent metal tabs under each end, and the cathode band.
    tab = jitter(rng, (205, 205, 210), 6)
    for ex in (x0 - w * 0.09, x1 - w * 0.03):
        paint_box(
            img,
            (ex, y0 + h * 0.3, ex + w * 0.12, y1),
            lambda bw, bh: metal_fill(bw, bh, tab, rng, "y"),
            lambda d, b: d.rectangle(b, fill=255),
        )
    band = pick(rng, [(210, 210, 215), (180, 180, 185), (230, 230, 230)])
    paint(img, band, lambda d: d.rectangle((x0 + w * 0.08, y0 + 3, x0 + w * 0.18, y1 - 3), fill=255))
    text(
        img,
        ((x0 + x1) / 2 + w * 0.08, (y0 + y1) / 2),
        pick(rng, ["SS14", "M7", "S1J", "B340", "US1M", "SS34"]),
        h * 0.3,
        (205, 205, 210),
    )
    return img


def _photo_smd_transistor(rng: Rng) -> Image.Image:
    body = jitter(rng, (30, 30, 34), 6)
    w = int(rng.uniform(280, 340))
    h = int(w * rng.uniform(0.45, 0.55))
    depth = int(h * 0.5)
    leg = int(h * 0.45)
    img = new_canvas(w + depth + 20, h + depth + 2 * leg + 20)
    x0, y0 = 10, 10 + depth + leg
    tab = jitter(rng, (200, 200, 206), 6)
    lw = w * 0.14
    # SOT-23: two gull-wing legs on one long side, one on the other.
    for fx, up in ((0.2, False), (0.8, False), (0.5, True)):
        lx = x0 + w * fx - lw / 2
        ly = (y0 - leg - depth * 0.5, y0) if up else (y0 + h, y0 + h + leg)
        paint_box(
            img,
            (lx, ly[0], lx + lw, ly[1]),
            lambda bw, bh: metal_fill(bw, bh, tab, rng, "x"),
            lambda d, b: d.rectangle(b, fill=255),
        )
    _smd_body(img, x0, y0, w, h, depth, body, top_light=(1.6, 20), grad=0.3)
    text(
        img,
        (x0 + w / 2, y0 + h / 2),
        pick(rng, ["1AM", "J3Y", "2A", "1P", "M6", "A1", "702", "Y1"]),
        h * 0.42,
        (200, 200, 205),
    )
    return img


def _photo_transistor(rng: Rng) -> Image.Image:
    body = jitter(rng, (28, 28, 32), 6)
    w = int(rng.uniform(170, 230))
    h = int(w * rng.uniform(1.0, 1.25))
    lead = int(rng.uniform(140, 240))
    dep = w * 0.35
    img = new_canvas(w + 30, int(h + dep + lead + 40))
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
    leads(img, legs, w * 0.05)
    # TO-92: the flat front face seen head-on, the rounded back showing as a lit top "D".
    paint_box(
        img,
        (x0, y0 - dep / 2, x0 + w, y0 + dep / 2),
        lambda bw, bh: flat_fill(bw, bh, tuple(min(255, int(c * 1.8 + 25)) for c in body), 0.3, -1.2),  # type: ignore[arg-type]
        lambda d, b: d.pieslice((b[0], b[1], b[2], b[3] + (b[3] - b[1])), 180, 360, fill=255),
    )
    paint_box(
        img,
        (x0, y0, x0 + w, y0 + h),
        lambda bw, bh: flat_fill(bw, bh, body, 0.25),
        lambda d, b: d.rounded_rectangle(b, radius=w * 0.06, fill=255),
    )
    part = pick(rng, ["2N2222", "BC547", "BC557", "2N3904", "2N3906", "S8050", "PN2222", "BC337"])
    ink = (200, 200, 205)
    text(img, (x0 + w / 2, y0 + h * 0.3), part[:2], w * 0.2, ink)
    text(img, (x0 + w / 2, y0 + h * 0.52), part[2:], w * 0.2, ink)
    text(img, (x0 + w / 2, y0 + h * 0.76), part_number(rng, "", 3), w * 0.13, ink)
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


def draw_part(cls: ComponentClass, rng: Rng) -> Image.Image:
    """The part of class ``cls`` as a large RGBA sprite on a transparent background (photo view)."""
    return _PHOTO[ComponentClass(cls)](rng)
