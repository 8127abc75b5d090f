"""Write a fake crawl output in the real on-disk format: content-addressed files + images.parquet.

Mirrors the crawl stage's contract (docs/stages.md): stored files at
``files/<sha[:2]>/<sha256>.<ext>``, ``id == sha256`` for stored files, ``id = sha256(url)`` for
rejects, and the ``images.parquet`` columns of its declared schema (:mod:`tests.helpers.fake_project`).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from PIL import Image

from tests.helpers.fake_project import frame, write_rows

EXT = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif"}


@dataclass
class FakeImage:
    """One crawled image. ``image`` is encoded as ``fmt``; ``data`` (raw bytes) overrides it."""

    name: str
    image: Image.Image | None = None
    fmt: str = "PNG"
    quality: int = 90
    data: bytes | None = None
    class_label: str = "resistor"
    licence: str | None = "CC-BY-4.0"
    author: str | None = "tester"
    fetched_at: str = "2024-01-01T00:00:00Z"
    status: str = "ok"
    error: str | None = None
    extra: dict = field(default_factory=dict)


def encode(image: Image.Image, fmt: str = "PNG", quality: int = 90) -> bytes:
    """Encode like a web shop would (JPEG without optimisation flags, deterministic)."""
    buf = io.BytesIO()
    if fmt == "JPEG":
        image.convert("RGB").save(buf, format="JPEG", quality=quality)
    else:
        image.save(buf, format=fmt)
    return buf.getvalue()


def write_crawl(out: Path, images: list[FakeImage], source: str = "fixture") -> pd.DataFrame:
    """Write ``images`` as a crawl output under ``out``; return the manifest frame.

    Rows with ``status != "ok"`` get no file, a URL-derived id and a null path. Like the real
    crawl, the id of a stored file is its sha256, so ok images must have distinct bytes.
    """
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for im in images:
        url = f"http://127.0.0.1/img/{im.name}"
        base = {"source": source, "page_url": f"http://127.0.0.1/product/{im.name}.html", "image_url": url,
                "class_label": im.class_label, "licence": im.licence, "author": im.author,
                "fetched_at": im.fetched_at, **im.extra}
        if im.status != "ok":
            rows.append({**base, "id": hashlib.sha256(url.encode()).hexdigest(), "sha256": None, "width": None,
                         "height": None, "bytes": None, "format": None, "path": None, "status": im.status,
                         "error": im.error or "rejected"})
            continue
        data = im.data if im.data is not None else encode(im.image, im.fmt, im.quality)
        sha = hashlib.sha256(data).hexdigest()
        fmt = im.fmt.upper()
        rel = f"files/{sha[:2]}/{sha}.{EXT[fmt]}"
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        w = h = None
        if im.image is not None:
            w, h = im.image.size
        rows.append({**base, "id": sha, "sha256": sha, "width": w, "height": h, "bytes": len(data),
                     "format": fmt.lower(), "path": rel, "status": "ok", "error": None})
    write_rows("crawl", rows, out)
    return frame("crawl", rows)
