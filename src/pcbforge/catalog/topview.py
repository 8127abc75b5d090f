"""Top views of the 12 component classes: each part seen from straight above at a physical size.

* :func:`top_size` -- the pixel size of a part at a board's pixels per millimetre
  (:data:`TOP_MM` footprints, never under :data:`MIN_TOP_PX`);
* :func:`draw_top_view` -- the part as an RGBA sprite whose opaque pixels touch all four
  edges, for :mod:`pcbforge.catalog.boards`.
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image

from pcbforge.catalog.paint import (
    BAND,
    GOLD,
    LEAD,
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
    pick,
    radial_fill,
    text,
)
from pcbforge.vocab import ComponentClass


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
    leads(img, [[(0, h / 2), (x0 + 2, h / 2)], [(x0 + bl - 2, h / 2), (w, h / 2)]], h * 0.22)
    paint_box(
        img,
        (x0, 0, x0 + bl, h),
        lambda bw, bh: cylinder_fill(bw, bh, body, "y", 0.3),
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
    img = new_canvas(W, H)
    if cls is ComponentClass.CAPACITOR:
        sleeve = jitter(rng, pick(rng, [(25, 25, 30), (20, 40, 110), (90, 50, 20), (30, 80, 40)]))
        paint_box(img, (0, 0, W, H), lambda bw, bh: radial_fill(bw, bh, sleeve), lambda d, b: d.ellipse(b, fill=255))
        paint(img, jitter(rng, (190, 190, 200), 8), lambda d: d.pieslice((0, 0, W, H), 300, 60, fill=255))
        m = W * 0.12
        paint_box(
            img,
            (m, m, W - m, H - m),
            lambda bw, bh: metal_fill(bw, bh, (190, 192, 198), rng),
            lambda d, b: d.ellipse(b, fill=255),
        )
        paint(
            img,
            (110, 112, 118),
            lambda d: [
                d.line((W * 0.3, H / 2, W * 0.7, H / 2), fill=255, width=max(2, W // 30)),
                d.line((W / 2, H * 0.3, W / 2, H * 0.7), fill=255, width=max(2, W // 30)),
            ],
        )
    elif cls is ComponentClass.CERAMIC_CAPACITOR:
        col = jitter(rng, pick(rng, [(220, 130, 40), (60, 110, 190), (215, 190, 80)]), 15)
        leads(img, [[(W * 0.1, H / 2), (W * 0.3, H / 2)], [(W * 0.7, H / 2), (W * 0.9, H / 2)]], H * 0.15)
        paint_box(
            img,
            (W * 0.02, H * 0.05, W * 0.98, H * 0.95),
            lambda bw, bh: cylinder_fill(bw, bh, col, "y", 0.3),
            lambda d, b: d.ellipse(b, fill=255),
        )
        # Leads must reach the canvas edge so the box stays exact at both ends.
        paint(
            img,
            LEAD,
            lambda d: [
                d.rectangle((0, H * 0.42, W * 0.04, H * 0.58), fill=255),
                d.rectangle((W * 0.96, H * 0.42, W, H * 0.58), fill=255),
            ],
        )
    elif cls is ComponentClass.CONVERTER or cls is ComponentClass.RELAY:
        body = jitter(
            rng,
            (25, 25, 30)
            if cls is ComponentClass.CONVERTER
            else pick(rng, [(30, 70, 170), (25, 25, 30), (235, 235, 230)]),
            8,
        )
        paint_box(
            img,
            (0, 0, W, H),
            lambda bw, bh: flat_fill(bw, bh, body, 0.2),
            lambda d, b: d.rounded_rectangle(b, radius=min(W, H) * 0.05, fill=255),
        )
        ink = (20, 20, 20) if sum(body) > 450 else (235, 235, 235)
        label = (
            pick(rng, ["R-78E5.0", "TSR1-2450", "K7805"])
            if cls is ComponentClass.CONVERTER
            else pick(rng, ["SRD-05VDC", "G5LE-1", "JQC-3FF"])
        )
        text(img, (W / 2, H * 0.4), label, H * 0.22, ink)
        second = ["5V 1A", "3.3V 0.5A", "12V"] if cls is ComponentClass.CONVERTER else ["10A 250VAC", "12VDC", "5VDC"]
        text(img, (W / 2, H * 0.68), pick(rng, second), H * 0.16, ink)
    elif cls is ComponentClass.DIODE:
        body = jitter(rng, (28, 28, 30), 6)

        def band(im: Image.Image, b: tuple[float, float, float, float]) -> None:
            paint(
                im,
                (200, 200, 205),
                lambda d: d.rectangle((b[0] + (b[2] - b[0]) * 0.1, b[1], b[0] + (b[2] - b[0]) * 0.25, b[3]), fill=255),
            )

        _top_axial(rng, img, body, band, 0.45)
    elif cls is ComponentClass.RESISTOR:
        body = jitter(rng, pick(rng, [(215, 190, 140), (70, 130, 200)]), 12)
        colours = [
            BAND[int(rng.integers(1, 10))],
            BAND[int(rng.integers(0, 10))],
            BAND[int(rng.integers(0, 6))],
            GOLD,
        ]

        def bands(im: Image.Image, b: tuple[float, float, float, float]) -> None:
            bw = b[2] - b[0]
            for p, colr in zip((0.18, 0.34, 0.5, 0.76), colours, strict=True):
                paint(
                    im,
                    colr,
                    lambda d, p=p: d.rectangle((b[0] + bw * p, b[1] + 1, b[0] + bw * (p + 0.08), b[3] - 1), fill=255),
                )

        _top_axial(rng, img, body, bands, 0.55)
    elif cls is ComponentClass.HEAT_SINK:
        metal = jitter(rng, pick(rng, [(200, 203, 210), (45, 45, 50)]), 8)
        paint_box(
            img,
            (0, 0, W, H),
            lambda bw, bh: metal_fill(bw, bh, darken(metal, 0.7), rng, "y"),
            lambda d, b: d.rectangle(b, fill=255),
        )
        fins = int(rng.integers(5, 10))
        fw = W / fins * 0.45
        for i in range(fins):
            fx = i * (W - fw) / max(fins - 1, 1)
            paint_box(
                img,
                (fx, 0, fx + fw, H),
                lambda bw, bh: cylinder_fill(bw, bh, metal, "x", 0.4),
                lambda d, b: d.rectangle(b, fill=255),
            )
    elif cls is ComponentClass.CRYSTAL_OSCILLATOR:
        paint_box(
            img,
            (0, 0, W, H),
            lambda bw, bh: metal_fill(bw, bh, (195, 198, 205), rng, "y"),
            lambda d, b: d.rounded_rectangle(b, radius=H / 2, fill=255),
        )
        text(img, (W / 2, H / 2), pick(rng, ["16.000", "8.000", "12.000", "25.000"]), H * 0.42, (50, 50, 55))
    elif cls is ComponentClass.SMD_CAPACITOR:
        body = jitter(rng, pick(rng, [(190, 150, 100), (165, 120, 80), (140, 100, 70)]), 10)
        paint(img, body, lambda d: d.rectangle((0, 0, W, H), fill=255))
        ew = W * 0.22
        for ex in (0, W - ew):
            paint_box(
                img,
                (ex, 0, ex + ew, H),
                lambda bw, bh: metal_fill(bw, bh, (205, 205, 210), rng, "x"),
                lambda d, b: d.rectangle(b, fill=255),
            )
    elif cls is ComponentClass.SMD_DIODE:
        paint(
            img,
            (205, 205, 210),
            lambda d: [
                d.rectangle((0, H * 0.2, W * 0.15, H * 0.8), fill=255),
                d.rectangle((W * 0.85, H * 0.2, W, H * 0.8), fill=255),
            ],
        )
        paint_box(
            img,
            (W * 0.1, 0, W * 0.9, H),
            lambda bw, bh: flat_fill(bw, bh, (32, 32, 36), 0.2),
            lambda d, b: d.rectangle(b, fill=255),
        )
        paint(img, (200, 200, 205), lambda d: d.rectangle((W * 0.18, H * 0.08, W * 0.28, H * 0.92), fill=255))
    elif cls is ComponentClass.SMD_TRANSISTOR:
        leg = H * 0.22
        for fx, y in ((0.2, H - leg), (0.8, H - leg), (0.5, 0)):
            paint(
                img,
                (205, 205, 210),
                lambda d, fx=fx, y=y: d.rectangle((W * fx - W * 0.08, y, W * fx + W * 0.08, y + leg), fill=255),
            )
        paint_box(
            img,
            (0, leg, W, H - leg),
            lambda bw, bh: flat_fill(bw, bh, (32, 32, 36), 0.25),
            lambda d, b: d.rectangle(b, fill=255),
        )
    elif cls is ComponentClass.TRANSISTOR:
        # TO-92 from above: a "D" (flat face + half round back).
        paint_box(
            img,
            (0, 0, W, H),
            lambda bw, bh: radial_fill(bw, bh, (34, 34, 38)),
            lambda d, b: [
                d.pieslice((b[0], b[1] - (b[3] - b[1]), b[2], b[3]), 0, 180, fill=255),
                d.rectangle((b[0], b[1], b[2], b[1] + (b[3] - b[1]) * 0.12), fill=255),
            ],
        )
    return img.resize(size, Image.Resampling.LANCZOS)
