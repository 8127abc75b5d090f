"""Fake inputs of the review stage in the real on-disk format (docs/stages.md).

Writes ``<crawl.out>/images.parquet`` with content-addressed PNG files,
``<dedup.out>/dedup.parquet`` and ``<quality.out>/quality.parquet`` for a small,
known scenario, so review tests need neither the crawler nor the cleaning stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from pcbforge.config import Params
from tests.helpers.fake_project import write_rows
from pcbforge.io import encode_png, sha256_bytes, stable_id, write_bytes


@dataclass(frozen=True)
class FakeImage:
    """One crawled image of the scenario and what dedup/quality said about it."""

    name: str
    class_label: str
    colour: tuple[int, int, int]
    dup_of: str | None = None  # name of the kept image this one duplicates
    dup_kind: str | None = None
    distance: int | None = None
    flags: tuple[str, ...] = ()
    size: tuple[int, int] = (64, 64)
    attribution: str | None = None
    licence_url: str | None = None


#: Credit line and licence URL of the one image whose source gives them (the rest have none).
CAP_ATTRIBUTION = "Photo: Ann Example, CC BY 4.0, via Wikimedia Commons"
CC_BY_URL = "https://creativecommons.org/licenses/by/4.0/"

#: The default scenario: a kept image with a near duplicate, an exact-hash copy kept apart,
#: a blurry image (flag not dropped by default), a tiny one (dropped) and two clean ones.
SCENARIO: tuple[FakeImage, ...] = (
    FakeImage("cap", "capacitor", (200, 40, 40), attribution=CAP_ATTRIBUTION, licence_url=CC_BY_URL),
    FakeImage("cap_copy", "capacitor", (198, 42, 40), dup_of="cap", dup_kind="near", distance=4),
    FakeImage("diode", "diode", (40, 200, 40), flags=("blurry",)),
    FakeImage("tiny", "resistor", (40, 40, 200), flags=("too_small",), size=(20, 20)),
    FakeImage("relay", "relay", (220, 220, 40)),
    FakeImage("res", "resistor", (40, 220, 220)),
    FakeImage("res_copy", "resistor", (42, 220, 218), dup_of="res", dup_kind="near", distance=7),
)


@dataclass
class ReviewInputs:
    """Paths and ids of what :func:`write_review_inputs` wrote."""

    ids: dict[str, str] = field(default_factory=dict)  # scenario name -> image id (sha256)
    crawl_reject_id: str = ""
    images: Path = Path()
    dedup: Path = Path()
    quality: Path = Path()


def _picture(img: FakeImage) -> Image.Image:
    """A small image with a distinct colour and a seeded texture (so files differ)."""
    w, h = img.size
    rng = np.random.default_rng(int(stable_id(img.name, length=8), 16))
    arr = np.empty((h, w, 3), np.uint8)
    arr[:] = img.colour
    noise = rng.integers(-12, 13, size=(h, w, 1))
    arr = np.clip(arr.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def write_review_inputs(params: Params, scenario: tuple[FakeImage, ...] = SCENARIO) -> ReviewInputs:
    """Write crawl, dedup and quality outputs for ``scenario`` under the params' out dirs."""
    crawl_out = params.path(params.crawl.out)
    out = ReviewInputs()
    img_rows, dd_rows, q_rows = [], [], []
    for img in scenario:
        data = encode_png(_picture(img))
        sha = sha256_bytes(data)
        rel = f"files/{sha[:2]}/{sha}.png"
        write_bytes(crawl_out / rel, data)
        out.ids[img.name] = sha
        w, h = img.size
        img_rows.append(
            {
                "id": sha,
                "source": "builtin",
                "page_url": f"http://127.0.0.1:8000/product/{img.name}.html",
                "image_url": f"http://127.0.0.1:8000/img/{img.name}.png",
                "class_label": img.class_label,
                "licence": "CC-BY-4.0",
                "author": f"author-{img.name}",
                "attribution": img.attribution,
                "licence_url": img.licence_url,
                "sha256": sha,
                "width": w,
                "height": h,
                "bytes": len(data),
                "format": "PNG",
                "path": rel,
                "fetched_at": "2026-01-01T00:00:00Z",
                "status": "ok",
                "error": None,
            }
        )
    reject_url = "http://127.0.0.1:8000/img/broken.png"
    out.crawl_reject_id = sha256_bytes(reject_url.encode())
    img_rows.append(
        {
            "id": out.crawl_reject_id,
            "source": "builtin",
            "page_url": "http://127.0.0.1:8000/product/broken.html",
            "image_url": reject_url,
            "class_label": "diode",
            "licence": "CC-BY-4.0",
            "author": "x",
            "attribution": None,
            "licence_url": None,
            "sha256": None,
            "width": None,
            "height": None,
            "bytes": None,
            "format": None,
            "path": None,
            "fetched_at": "2026-01-01T00:00:00Z",
            "status": "rejected",
            "error": "HTTP 404",
        }
    )
    for img in scenario:
        iid = out.ids[img.name]
        kept = img.dup_of is None
        dd_rows.append(
            {
                "id": iid,
                "sha256": iid,
                "phash": stable_id("p", img.name),
                "dhash": stable_id("d", img.name),
                "cluster": iid if kept else out.ids[img.dup_of],  # type: ignore[index]
                "keep": kept,
                "dup_of": None if kept else out.ids[img.dup_of],  # type: ignore[index]
                "dup_kind": img.dup_kind,
                "distance": img.distance,
                "confirm_distance": None if kept else (img.distance or 0) + 1,
                "status": "ok",
                "error": None,
            }
        )
        w, h = img.size
        q_rows.append(
            {
                "id": iid,
                "width": w,
                "height": h,
                "aspect": max(w, h) / min(w, h),
                "std": 7.0,
                "blur": 12.5 if "blurry" in img.flags else 150.0,
                "grayscale": False,
                "flags": ",".join(img.flags),
                "status": "ok",
                "error": None,
            }
        )
    out.images = write_rows("crawl", img_rows, params)
    out.dedup = write_rows("dedup", dd_rows, params)
    out.quality = write_rows("quality", q_rows, params)
    return out
