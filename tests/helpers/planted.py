"""Generated component photos with planted copies, for measuring dedup recall and precision.

Each *family* is one original product photo plus copies a web crawl really meets (resized,
re-encoded at JPEG q30, cropped a few percent, brighter, watermarked, mirrored); copies of one
family are true duplicate pairs. *Look-alikes* are different parts drawn from the same body
(other marking text, other colour band, other body colour): they must NOT be paired with the
original. All photos share a white background, the trap that makes naive grouping chain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

from pcbforge.rng import make_rng
from tests.helpers.crawl_fixture import FakeImage

COPY_KINDS = ("resize", "jpeg30", "crop", "bright", "watermark", "flip")
LOOKALIKE_KINDS = ("marking", "band", "colour")

PALETTE = [(30, 30, 30), (150, 80, 20), (20, 60, 160), (200, 160, 40), (180, 30, 30), (40, 130, 60),
           (90, 90, 90), (230, 120, 20), (120, 40, 140)]


@dataclass(frozen=True)
class Spec:
    """Drawing parameters of one part photo (look-alikes change one field)."""

    shape: str
    box: tuple[int, int, int, int]
    body: tuple[int, int, int]
    bands: tuple[tuple[int, int, int], ...]
    marking: str
    leads: int
    lead_side: str


def random_spec(rng: np.random.Generator, size: int) -> Spec:
    """A random part: body shape, size, place, colours, bands, marking and leads."""
    shape = str(rng.choice(["rect", "ellipse", "cyl", "round"]))
    w = int(rng.integers(size * 0.3, size * 0.75))
    h = int(rng.integers(size * 0.2, size * 0.6))
    x = int(rng.integers(size * 0.05, size - w - size * 0.05))
    y = int(rng.integers(size * 0.1, size - h - size * 0.1))
    body = PALETTE[int(rng.integers(len(PALETTE)))]
    bands = tuple(PALETTE[int(k)] for k in rng.integers(len(PALETTE), size=int(rng.integers(0, 4))))
    letters = "ABCDEFGHKLMNPRSTUVXYZ0123456789"
    marking = "".join(letters[int(k)] for k in rng.integers(len(letters), size=int(rng.integers(3, 7))))
    return Spec(shape, (x, y, x + w, y + h), body, bands, marking, int(rng.integers(2, 5)),
                str(rng.choice(["bottom", "sides", "top"])))


def draw(spec: Spec, size: int = 256) -> Image.Image:
    """Render a part photo on a white background."""
    im = Image.new("RGB", (size, size), (250, 250, 250))
    d = ImageDraw.Draw(im)
    x0, y0, x1, y1 = spec.box
    for k in range(spec.leads):
        if spec.lead_side == "bottom":
            lx = x0 + (k + 1) * (x1 - x0) // (spec.leads + 1)
            d.line([(lx, y1), (lx, min(size - 2, y1 + size // 5))], fill=(160, 160, 160), width=3)
        elif spec.lead_side == "top":
            lx = x0 + (k + 1) * (x1 - x0) // (spec.leads + 1)
            d.line([(lx, y0), (lx, max(1, y0 - size // 6))], fill=(160, 160, 160), width=3)
        else:
            ly = y0 + (k + 1) * (y1 - y0) // (spec.leads + 1)
            d.line([(max(1, x0 - size // 8), ly), (x0, ly)], fill=(160, 160, 160), width=3)
            d.line([(x1, ly), (min(size - 2, x1 + size // 8), ly)], fill=(160, 160, 160), width=3)
    if spec.shape == "ellipse":
        d.ellipse(spec.box, fill=spec.body, outline=(20, 20, 20))
    elif spec.shape == "round":
        d.rounded_rectangle(spec.box, radius=min(x1 - x0, y1 - y0) // 3, fill=spec.body, outline=(20, 20, 20))
    else:
        d.rectangle(spec.box, fill=spec.body, outline=(20, 20, 20))
    if spec.shape == "cyl":
        # A highlight stripe gives the body some shading, like a cylinder under a lamp.
        d.rectangle((x0, y0 + (y1 - y0) // 5, x1, y0 + (y1 - y0) // 3), fill=tuple(min(255, c + 60) for c in spec.body))
    bw = max(3, (x1 - x0) // 14)
    for n, colour in enumerate(spec.bands):
        bx = x0 + (n + 1) * (x1 - x0) // (len(spec.bands) + 2)
        d.rectangle((bx, y0 + 1, bx + bw, y1 - 1), fill=colour)
    font = ImageFont.load_default(size=max(10, (y1 - y0) // 4))
    ink = (240, 240, 240) if sum(spec.body) < 360 else (10, 10, 10)
    d.text(((x0 + x1) // 2, (y0 + y1) // 2), spec.marking, fill=ink, font=font, anchor="mm")
    return im


def copy_of(im: Image.Image, kind: str) -> tuple[Image.Image, str, int]:
    """A planted copy: ``(image, format, jpeg quality)``."""
    w, h = im.size
    if kind == "resize":
        return im.resize((w * 5 // 8, h * 5 // 8), Image.Resampling.LANCZOS), "JPEG", 85
    if kind == "jpeg30":
        return im, "JPEG", 30
    if kind == "crop":
        m = round(0.04 * w)
        return im.crop((m, m, w - m, h - m)), "PNG", 0
    if kind == "bright":
        return ImageEnhance.Brightness(im).enhance(1.25), "JPEG", 80
    if kind == "watermark":
        out = im.copy().convert("RGBA")
        layer = Image.new("RGBA", out.size, (0, 0, 0, 0))
        d = ImageDraw.Draw(layer)
        font = ImageFont.load_default(size=w // 9)
        d.text((w // 2, h * 4 // 5), "© partshop", fill=(120, 120, 120, 110), font=font, anchor="mm")
        d.text((w // 2, h // 7), "partshop.example", fill=(120, 120, 120, 90), font=font, anchor="mm")
        return Image.alpha_composite(out, layer).convert("RGB"), "JPEG", 85
    if kind == "flip":
        return ImageOps.mirror(im), "PNG", 0
    raise ValueError(kind)


def lookalike(spec: Spec, kind: str, rng: np.random.Generator) -> Spec:
    """A different part that shares the body of ``spec``."""
    if kind == "marking":
        letters = "ABCDEFGHKLMNPRSTUVXYZ0123456789"
        new = spec.marking
        while new == spec.marking:
            new = "".join(letters[int(k)] for k in rng.integers(len(letters), size=len(spec.marking)))
        return Spec(spec.shape, spec.box, spec.body, spec.bands, new, spec.leads, spec.lead_side)
    if kind == "band":
        bands = spec.bands or (PALETTE[0],)
        n = int(rng.integers(len(bands)))
        other = [c for c in PALETTE if c != bands[n]]
        new_bands = bands[:n] + (other[int(rng.integers(len(other)))],) + bands[n + 1 :]
        return Spec(spec.shape, spec.box, spec.body, new_bands, spec.marking, spec.leads, spec.lead_side)
    if kind == "colour":
        other = [c for c in PALETTE if c != spec.body]
        return Spec(spec.shape, spec.box, other[int(rng.integers(len(other)))], spec.bands, spec.marking,
                    spec.leads, spec.lead_side)
    raise ValueError(kind)


def planted_set(
    families: int, seed: int = 0, size: int = 256, copies: tuple[str, ...] = COPY_KINDS,
    lookalikes: tuple[str, ...] = LOOKALIKE_KINDS,
) -> tuple[list[FakeImage], dict[str, str]]:
    """Originals, planted copies and look-alikes as crawl fixture images.

    Returns:
        ``(images, family)``: ``family[name]`` is the family of each image; two images are a
        true duplicate pair iff their families are equal. Look-alikes get their own family.
    """
    images: list[FakeImage] = []
    family: dict[str, str] = {}
    for f in range(families):
        rng = make_rng(seed, "planted", f)
        spec = random_spec(rng, size)
        original = draw(spec, size)
        fam = f"f{f:04d}"
        images.append(FakeImage(name=f"{fam}-orig", image=original, fmt="PNG",
                                fetched_at=f"2024-01-01T00:{f % 60:02d}:00Z"))
        family[f"{fam}-orig"] = fam
        for kind in copies:
            im, fmt, q = copy_of(original, kind)
            name = f"{fam}-{kind}"
            images.append(FakeImage(name=name, image=im, fmt=fmt, quality=q or 90, licence="CC-BY-SA-4.0",
                                    fetched_at="2024-02-01T00:00:00Z"))
            family[name] = fam
        for kind in lookalikes:
            name = f"{fam}-alt-{kind}"
            images.append(FakeImage(name=name, image=draw(lookalike(spec, kind, rng), size), fmt="PNG"))
            family[name] = name
    return images, family


def pair_scores(clusters: dict[str, str], family: dict[str, str]) -> dict[str, float]:
    """Pair recall and precision of a clustering (``name -> cluster``) against ``family``."""
    def pairs(groups: dict[str, str]) -> set[tuple[str, str]]:
        by: dict[str, list[str]] = {}
        for name in sorted(groups):
            by.setdefault(groups[name], []).append(name)
        return {(a, b) for members in by.values() for k, a in enumerate(members) for b in members[k + 1 :]}

    truth, pred = pairs(family), pairs(clusters)
    hit = len(truth & pred)
    return {
        "truth_pairs": len(truth),
        "predicted_pairs": len(pred),
        "recall": hit / len(truth) if truth else 1.0,
        "precision": hit / len(pred) if pred else 1.0,
    }


def source_and_copies(
    families: int, seed: int = 0, threshold: int = 10
) -> tuple[list[FakeImage], dict[str, str]]:
    """Catalog photos with the copies a keep rule must not prefer, and cross-class look-alikes.

    Per family (class cycling through the catalog): ``orig`` (JPEG q90, 240-480 px), ``up``
    (upscaled 1.25-2x with bicubic/Lanczos/bilinear, re-encoded at q60-95), ``req`` (same
    size, re-encoded at q40-80), and ``alt`` (another class: the original mirrored, with
    patches repainted until its mirrored phash is 2 bits or less inside ``threshold``).

    Returns:
        ``(images, role)``: ``role[name]`` is ``orig``, ``up``, ``req`` or ``alt``.
    """
    import imagehash

    from pcbforge.catalog.photo import draw_photo
    from pcbforge.vocab import ComponentClass

    classes = list(ComponentClass)
    kernels = [Image.Resampling.BICUBIC, Image.Resampling.LANCZOS, Image.Resampling.BILINEAR]
    images: list[FakeImage] = []
    role: dict[str, str] = {}
    for f in range(families):
        rng = make_rng(seed, "source", f)
        cls = classes[f % len(classes)]
        side = int(rng.integers(240, 481))
        orig = draw_photo(cls, rng, (side, side))
        fam = f"s{f:04d}"
        images.append(FakeImage(f"{fam}-orig", orig, "JPEG", quality=90, class_label=cls.value))
        factor = float(rng.uniform(1.25, 2.0))
        up = orig.resize((round(side * factor),) * 2, kernels[f % 3])
        images.append(FakeImage(f"{fam}-up", up, "JPEG", quality=int(rng.integers(60, 96)), class_label=cls.value,
                                licence="CC0-1.0"))
        images.append(FakeImage(f"{fam}-req", orig, "JPEG", quality=int(rng.integers(40, 81)), class_label=cls.value,
                                licence="CC0-1.0"))
        role.update({f"{fam}-orig": "orig", f"{fam}-up": "up", f"{fam}-req": "req"})
        # Cross-class look-alike at the threshold: repaint random patches of the mirrored photo.
        target = imagehash.phash(orig.convert("L"))
        alt = ImageOps.mirror(orig)
        for _ in range(200):
            d = imagehash.phash(ImageOps.mirror(alt).convert("L")) - target
            if threshold - 2 <= d <= threshold:
                break
            if d > threshold:
                alt = ImageOps.mirror(orig)
            x, y = (int(v) for v in rng.integers(0, side - side // 6, size=2))
            ImageDraw.Draw(alt).rectangle((x, y, x + side // 6, y + side // 6),
                                          fill=tuple(int(v) for v in rng.integers(0, 256, size=3)))
        other = classes[(f + 5) % len(classes)]
        images.append(FakeImage(f"{fam}-alt", alt, "JPEG", quality=90, class_label=other.value))
        role[f"{fam}-alt"] = "alt"
    return images, role


# --- Sibling products drawn by the catalog painters --------------------------------------------

#: Copies a shop crawl meets, applied to catalog photos (``flip`` = mirrored shot of the same photo).
SERIES_COPY_KINDS = ("resize", "jpeg", "crop", "bright", "watermark", "flip")


class _OneValueOff:
    """Stands in for the painters' ``text`` and ``BAND`` while a sibling is drawn: the
    ``which``-th value drawn (a printed string with a digit, or a resistor band colour) comes
    out different, everything else, random stream included, stays identical."""

    def __init__(self, which: int, shift: int) -> None:
        self.which, self.shift, self.seen, self.changed = which, shift, 0, False

    def text(self, canvas, xy, s, *args, **kwargs):  # the signature of catalog.paint.text
        from pcbforge.catalog import paint

        if any(ch.isdigit() for ch in s):
            if self.seen == self.which and not self.changed:
                k = next(i for i, ch in enumerate(s) if ch.isdigit())
                d = (int(s[k]) + self.shift) % 10 or 1
                s = s[:k] + str(d) + s[k + 1 :]
                self.changed = True
            self.seen += 1
        return paint.text(canvas, xy, s, *args, **kwargs)

    def band(self, index: int):
        from pcbforge.catalog import paint

        colour = paint.BAND[index]
        if self.seen == self.which and not self.changed:
            colour = paint.BAND[(index + self.shift) % 10]
            self.changed = True
        self.seen += 1
        return colour


class _Bands:
    def __init__(self, off: _OneValueOff) -> None:
        self.off = off

    def __getitem__(self, index: int):
        return self.off.band(index)


def draw_sibling(cls, seed_key: tuple, size: tuple[int, int], which: int = 0, shift: int = 3):
    """The catalog photo of ``make_rng(*seed_key)`` with one value changed, or None when
    ``cls`` draws no value (no digit printed, no colour band).

    A sibling product of one series: same body, pose, background, light and noise; only the
    ``which``-th printed value (one digit moved by ``shift``) or band colour differs.
    """
    from pcbforge.catalog import parts
    from pcbforge.catalog.photo import draw_photo

    off = _OneValueOff(which, shift)
    saved = parts.text, parts.BAND
    parts.text, parts.BAND = off.text, _Bands(off)
    try:
        image = draw_photo(cls, make_rng(*seed_key), size)
    finally:
        parts.text, parts.BAND = saved
    return image if off.changed else None


def visible_change(a: Image.Image, b: Image.Image, contrast: int = 64) -> bool:
    """Whether ``b`` differs from ``a`` by at least ``contrast`` grey levels at half size (a
    changed value smaller than that cannot be read in the photo either)."""
    x = np.asarray(a.reduce(2), dtype=np.int16)
    y = np.asarray(b.reduce(2), dtype=np.int16)
    return int(np.abs(x - y).max()) >= contrast


def series_set(
    families: int, seed: int = 0, side: int = 320, copies: tuple[str, ...] = SERIES_COPY_KINDS, siblings: int = 2
) -> tuple[list[FakeImage], dict[str, str]]:
    """Catalog photos with planted copies and sibling products of the same series.

    Per family (class cycling through the catalog classes that print a value or carry colour
    bands): ``orig`` (JPEG q90), the copies of :data:`SERIES_COPY_KINDS` (``jpeg`` is q35,
    ``crop`` 3 % per side, ``bright`` x1.2, ``resize`` 5/8; see :func:`copy_of`), and
    ``siblings`` other products of its series (``sib<k>``: one printed value or band changed,
    visibly: :func:`visible_change`).
    Every image carries its class label, as a crawl gives it.

    Returns:
        ``(images, family)`` as :func:`planted_set`: siblings are their own family.
    """
    from pcbforge.catalog.photo import draw_photo
    from pcbforge.vocab import ComponentClass

    classes = list(ComponentClass)
    images: list[FakeImage] = []
    family: dict[str, str] = {}
    f = k = 0
    while f < families:
        cls = classes[k % len(classes)]
        key = (seed, "series", k)
        k += 1
        orig = draw_photo(cls, make_rng(*key), (side, side))
        sibs = []
        for which in range(4):  # the first values drawn that a buyer can read in the photo
            im = draw_sibling(cls, key, (side, side), which=which, shift=3 + 2 * len(sibs))
            if im is not None and visible_change(orig, im):
                sibs.append(im)
            if len(sibs) == siblings:
                break
        if len(sibs) < siblings:
            continue  # this class (or this draw) shows too few values: no siblings to make
        fam = f"c{f:04d}"
        images.append(FakeImage(f"{fam}-orig", orig, "JPEG", quality=90, class_label=cls.value,
                                fetched_at="2024-01-01T00:00:00Z"))
        family[f"{fam}-orig"] = fam
        for kind in copies:
            if kind == "jpeg":
                im, fmt, q = orig, "JPEG", 35
            elif kind == "crop":
                m = round(0.03 * side)
                im, fmt, q = orig.crop((m, m, side - m, side - m)), "JPEG", 85
            elif kind == "bright":
                im, fmt, q = ImageEnhance.Brightness(orig).enhance(1.2), "JPEG", 85
            else:
                im, fmt, q = copy_of(orig, kind)
            images.append(FakeImage(f"{fam}-{kind}", im, fmt, quality=q or 90, class_label=cls.value,
                                    licence="CC-BY-SA-4.0", fetched_at="2024-02-01T00:00:00Z"))
            family[f"{fam}-{kind}"] = fam
        for s, im in enumerate(sibs):
            name = f"{fam}-sib{s}"
            images.append(FakeImage(name, im, "JPEG", quality=90, class_label=cls.value))
            family[name] = name
        f += 1
    return images, family
