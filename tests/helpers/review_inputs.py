"""Fake inputs of the review stage in the real on-disk format (docs/stages.md).

Writes ``<crawl.out>/images.parquet`` with content-addressed PNG files,
``<dedup.out>/dedup.parquet`` and ``<quality.out>/quality.parquet`` for a small,
known scenario, so review tests need neither the crawler nor the cleaning stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pcbforge.config import Params
from pcbforge.datasets.manifest import manifest_path
from pcbforge.io import stable_id
from tests.helpers.crawl_fixture import FakeImage, write_crawl
from tests.helpers.fake_project import write_rows

#: Credit line and licence URL of the one image whose source gives them (the rest have none).
CAP_ATTRIBUTION = "Photo: Ann Example, CC BY 4.0, via Wikimedia Commons"
CC_BY_URL = "https://creativecommons.org/licenses/by/4.0/"
FETCHED_AT = "2026-01-01T00:00:00Z"

#: The default scenario: a kept image with a near duplicate, an exact-hash copy kept apart,
#: a blurry image (flag not dropped by default), a tiny one (dropped) and two clean ones.
SCENARIO: tuple[FakeImage, ...] = tuple(
    FakeImage(name, class_label=cls, colour=colour, author=f"author-{name}", fetched_at=FETCHED_AT, **kw)
    for name, cls, colour, kw in (
        ("cap", "capacitor", (200, 40, 40), {"attribution": CAP_ATTRIBUTION, "licence_url": CC_BY_URL}),
        ("cap_copy", "capacitor", (198, 42, 40), {"dup_of": "cap", "dup_kind": "near", "distance": 4}),
        ("diode", "diode", (40, 200, 40), {"flags": ("blurry",)}),
        ("tiny", "resistor", (40, 40, 200), {"flags": ("too_small",), "size": (20, 20)}),
        ("relay", "relay", (220, 220, 40), {}),
        ("res", "resistor", (40, 220, 220), {}),
        ("res_copy", "resistor", (42, 220, 218), {"dup_of": "res", "dup_kind": "near", "distance": 7}),
    )
)
#: The crawl's one reject: no file, a URL-derived id.
REJECT = FakeImage("broken.png", class_label="diode", author="x", fetched_at=FETCHED_AT, status="rejected",
                   error="HTTP 404")


@dataclass
class ReviewInputs:
    """Paths and ids of what :func:`write_review_inputs` wrote."""

    ids: dict[str, str] = field(default_factory=dict)  # scenario name -> image id (sha256)
    crawl_reject_id: str = ""
    images: Path = Path()
    dedup: Path = Path()
    quality: Path = Path()


def write_review_inputs(params: Params, scenario: tuple[FakeImage, ...] = SCENARIO) -> ReviewInputs:
    """Write crawl, dedup and quality outputs for ``scenario`` under the params' out dirs."""
    out = ReviewInputs()
    crawled = write_crawl(params.path(params.crawl.out), [*scenario, REJECT], source="builtin", host="127.0.0.1:8000")
    out.ids = dict(zip((img.name for img in scenario), crawled["id"][: len(scenario)], strict=True))
    out.crawl_reject_id = str(crawled["id"].iloc[-1])
    dd_rows, q_rows = [], []
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
    out.images = manifest_path(params, "crawl")
    out.dedup = write_rows("dedup", dd_rows, params)
    out.quality = write_rows("quality", q_rows, params)
    return out
