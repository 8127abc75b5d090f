"""Write a fake crawl output in the real on-disk format: content-addressed files + images.parquet.

Mirrors the crawl stage's contract (docs/stages.md): stored files at
``files/<sha[:2]>/<sha256>.<ext>``, ``id == sha256`` for stored files, ``id = sha256(url)`` for
rejects, and the ``images.parquet`` columns of its declared schema (:mod:`tests.helpers.fake_project`).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from pcbforge.io import stable_id

from tests.helpers.fake_project import frame, write_rows

EXT = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif"}


@dataclass(frozen=True)
class FakeImage:
    """One crawled image, and what the cleaning stages said about it (for review fixtures).

    The file's bytes: ``data`` if given, else ``image`` encoded as ``fmt``, else a ``size``
    picture of ``colour`` with a texture seeded by ``name`` (so every file differs).
    ``dup_of`` .. ``flags`` are the dedup and quality verdicts :mod:`tests.helpers.review_inputs`
    writes; :func:`write_crawl` ignores them.
    """

    name: str
    image: Image.Image | None = None
    fmt: str = "PNG"
    quality: int = 90
    data: bytes | None = None
    class_label: str = "resistor"
    licence: str | None = "CC-BY-4.0"
    author: str | None = "tester"
    attribution: str | None = None
    licence_url: str | None = None
    fetched_at: str = "2024-01-01T00:00:00Z"
    status: str = "ok"
    error: str | None = None
    extra: dict = field(default_factory=dict)
    colour: tuple[int, int, int] | None = None
    size: tuple[int, int] = (64, 64)
    dup_of: str | None = None  # name of the kept image this one duplicates
    dup_kind: str | None = None
    distance: int | None = None
    flags: tuple[str, ...] = ()

    def picture(self) -> Image.Image | None:
        """The image to encode: ``image``, or the ``colour`` picture, or ``None`` (raw ``data`` only)."""
        if self.image is not None or self.colour is None:
            return self.image
        w, h = self.size
        rng = np.random.default_rng(int(stable_id(self.name, length=8), 16))
        arr = np.empty((h, w, 3), np.uint8)
        arr[:] = self.colour
        noise = rng.integers(-12, 13, size=(h, w, 1))
        return Image.fromarray(np.clip(arr.astype(np.int16) + noise, 0, 255).astype(np.uint8), "RGB")


def encode(image: Image.Image, fmt: str = "PNG", quality: int = 90) -> bytes:
    """Encode like a web shop would (JPEG without optimisation flags, deterministic)."""
    buf = io.BytesIO()
    if fmt == "JPEG":
        image.convert("RGB").save(buf, format="JPEG", quality=quality)
    else:
        image.save(buf, format=fmt)
    return buf.getvalue()


def write_crawl(
    out: Path, images: Sequence[FakeImage], source: str = "fixture", host: str = "127.0.0.1"
) -> pd.DataFrame:
    """Write ``images`` as a crawl output under ``out``; return the manifest frame.

    Rows with ``status != "ok"`` get no file, a URL-derived id and a null path. Like the real
    crawl, the id of a stored file is its sha256, so ok images must have distinct bytes.
    """
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for im in images:
        url = f"http://{host}/img/{im.name}"
        base = {"source": source, "page_url": f"http://{host}/product/{im.name}.html", "image_url": url,
                "class_label": im.class_label, "licence": im.licence, "author": im.author,
                "attribution": im.attribution, "licence_url": im.licence_url, "fetched_at": im.fetched_at,
                **im.extra}
        if im.status != "ok":
            rows.append({**base, "id": hashlib.sha256(url.encode()).hexdigest(), "sha256": None, "width": None,
                         "height": None, "bytes": None, "format": None, "path": None, "status": im.status,
                         "error": im.error or "rejected"})
            continue
        picture = im.picture()
        data = im.data if im.data is not None else encode(picture, im.fmt, im.quality)
        sha = hashlib.sha256(data).hexdigest()
        fmt = im.fmt.upper()
        rel = f"files/{sha[:2]}/{sha}.{EXT[fmt]}"
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        w = h = None
        if picture is not None:
            w, h = picture.size
        rows.append({**base, "id": sha, "sha256": sha, "width": w, "height": h, "bytes": len(data),
                     "format": fmt.lower(), "path": rel, "status": "ok", "error": None})
    write_rows("crawl", rows, out)
    return frame("crawl", rows)
