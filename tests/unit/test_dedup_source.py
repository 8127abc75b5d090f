"""Source or upscaled copy by the pair's resampling test, and a copy's choice between two products."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from PIL import Image

from pcbforge.catalog.photo import draw_photo
from pcbforge.clean.dedup import degradation, find_duplicates
from pcbforge.clean.hashing import resample_detail
from pcbforge.config import DedupParams
from pcbforge.rng import make_rng
from pcbforge.vocab import ComponentClass


def _grey_jpeg(im: Image.Image, q: int) -> np.ndarray:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=q)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"), dtype=np.float32)


def test_a_genuine_original_holds_detail_its_downscale_lacks_an_upscale_does_not():
    limit = DedupParams().upscale_detail
    for k, cls in enumerate((ComponentClass.RESISTOR, ComponentClass.DIODE, ComponentClass.CAPACITOR)):
        photo = draw_photo(cls, make_rng(5, "source", k), (320, 320))
        small = photo.resize((200, 200), Image.Resampling.LANCZOS)
        genuine = resample_detail(_grey_jpeg(photo, 90), _grey_jpeg(small, 85))
        upscaled = resample_detail(_grey_jpeg(photo.resize((512, 512), Image.Resampling.BICUBIC), 75),
                                   _grey_jpeg(photo, 90))
        assert genuine >= limit > upscaled, (cls, genuine, upscaled)


def test_measured_detail_vetoes_the_spectral_upscale_mark():
    small = {"format": "JPEG", "jpeg_quality": 85, "fullness": -1.0, "error": None}
    big = {"format": "JPEG", "jpeg_quality": 90, "fullness": -1.4, "error": None}
    assert degradation(small, big, 100, 256, 0.2, 5)[1].startswith("upscaled")
    assert degradation(small, big, 100, 256, 0.2, 5, detail=0.05, upscale_detail=0.15)[1].startswith("upscaled")
    assert degradation(small, big, 100, 256, 0.2, 5, detail=0.4, upscale_detail=0.15) == (None, None)
    assert degradation(small, big, 100, 256, 0.2, 5, detail=0.4, upscale_detail=None)[1].startswith("upscaled")


def test_a_copy_within_reach_of_two_products_joins_the_one_it_differs_from_least_on_average():
    h = "c3a5" * 4
    rows = [{"id": i, "sha256": i, "phash": h, "dhash": h, "phash_mirror": h, "dhash_mirror": h,
             "color": [0.0] * 12, "width": w, "height": w, "licence": "CC0-1.0", "fetched_at": "2024"}
            for i, w in (("orig", 320), ("sib", 320), ("copy", 200))]
    # The sibling differs from the original in one place (flagged); the copy's own noise hides
    # that place from the local test against either, but not from the mean difference.
    checks = {("orig", "sib"): {"residual": 20.0, "excess": 60.0, "isolation": 5.0, "msd": 4.0},
              ("copy", "orig"): {"residual": 10.0, "excess": 5.0, "isolation": 1.2, "msd": 12.0},
              ("copy", "sib"): {"residual": 10.0, "excess": 4.0, "isolation": 1.1, "msd": 19.0}}

    def compare(pairs):
        return {(a, b, m): checks.get((a, b)) or checks[(b, a)] for a, b, m in pairs}

    out = find_duplicates(pd.DataFrame(rows), DedupParams(), compare=compare).set_index("id")
    assert out.loc["copy", "dup_of"] == "orig" and not out.loc["copy", "keep"]
    assert out.loc["sib", "keep"] and out.loc["orig", "keep"]
