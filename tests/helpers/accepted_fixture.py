"""Write a review stage output (``accepted.parquet``) and the crawl files it points to.

Real format (docs/stages.md): photos stored content-addressed under ``crawl.out`` as
``files/<sha[:2]>/<sha256>.<ext>``, and ``<review.out>/accepted.parquet`` with paths
relative to ``crawl.out``. Rejected rows stay in the file, with their reason.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from PIL import Image

from pcbforge.config import Params
from tests.helpers.fake_project import frame, write_rows


@dataclass(frozen=True)
class Photo:
    """A web photo to plant: its class, dup cluster (``None`` = its own) and accept status."""

    class_label: str
    cluster: str | None = None
    status: str = "ok"
    size: tuple[int, int] = (96, 64)
    corrupt: bool = False
    attribution: str | None = None
    licence_url: str | None = None


def photo_bytes(seed: int, size: tuple[int, int]) -> bytes:
    """A white-background product photo with one dark part in the middle, as PNG bytes."""
    w, h = size
    arr = np.full((h, w, 3), 250, np.uint8)
    rng = np.random.default_rng(seed)
    arr[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = rng.integers(0, 120, 3, dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def write_accepted(params: Params, photos: Sequence[Photo]) -> pd.DataFrame:
    """Store ``photos`` under ``crawl.out`` and write ``<review.out>/accepted.parquet``; return it."""
    crawl_out = params.path(params.crawl.out)
    rows = []
    for i, p in enumerate(photos):
        data = b"\x89PNG\r\n\x1a\n truncated" if p.corrupt else photo_bytes(i, p.size)
        # Corrupt files still need unique content addresses.
        sha = hashlib.sha256(data + (str(i).encode() if p.corrupt else b"")).hexdigest()
        rel = f"files/{sha[:2]}/{sha}.png"
        (crawl_out / rel).parent.mkdir(parents=True, exist_ok=True)
        (crawl_out / rel).write_bytes(data)
        rows.append(
            {
                "id": sha,
                "class_label": p.class_label,
                "path": rel,
                "sha256": sha,
                "source": "builtin",
                "image_url": f"http://127.0.0.1:8000/img/{sha[:8]}.png",
                "page_url": f"http://127.0.0.1:8000/product/{i}.html",
                "licence": "CC-BY-4.0",
                "author": f"author-{i}",
                "attribution": p.attribution,
                "licence_url": p.licence_url,
                "cluster": p.cluster or sha,
                "decision": "auto",
                "status": p.status,
                "error": None if p.status == "ok" else "rejected in review",
            }
        )
    write_rows("review", rows, params)
    return frame("review", rows)
