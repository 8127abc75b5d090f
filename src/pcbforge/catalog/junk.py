"""Images a shop publishes that the dedup and quality stages must catch: duplicates and junk.

* :func:`make_duplicate` -- a photo re-published the way a second shop would (cropped,
  resized, brightened, re-encoded), always within the dedup stage's default hash distance.
* :func:`make_junk` -- a blank, tiny, blurry or strip-shaped image on an ordinary product page.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from pcbforge.catalog.paint import Rng, pick
from pcbforge.catalog.photo import draw_photo
from pcbforge.vocab import ComponentClass, JunkKind


#: Junk kinds planted on product pages for the quality stage to find.
JUNK_KINDS = tuple(k.value for k in JunkKind)


def make_duplicate(image: Image.Image, rng: Rng, max_phash: int = 10) -> tuple[bytes, dict[str, Any]]:
    """Re-publish ``image`` the way a second shop would: cropped, resized, brightened, re-encoded.

    The changes are mild on purpose: when a draw moves the 64-bit perceptual hash more than
    ``max_phash`` bits (the dedup stage's default threshold), it is redone at half the
    strength, so every planted duplicate is findable by design.

    Returns:
        JPEG bytes and the transform parameters (for the ground-truth manifest).
    """
    import imagehash  # only duplicates need it; keeps importing this module light

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
        colr = np.asarray(pick(rng, [(255, 255, 255), (240, 240, 240), (200, 200, 200), (30, 30, 30)]), np.float32)
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
