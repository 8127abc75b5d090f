"""The quality stage on a fake crawl output in the real on-disk format."""

from __future__ import annotations

import pandas as pd
import pytest
from PIL import Image, ImageDraw, ImageFilter

from pcbforge.errors import InputError
from pcbforge.pipelines import quality
from tests.helpers.crawl_fixture import FakeImage, write_crawl


def _part(size=(160, 160)) -> Image.Image:
    im = Image.new("RGB", size, (245, 245, 245))
    d = ImageDraw.Draw(im)
    for k in range(8, size[0] - 8, 18):
        d.rectangle((k, 12, k + 8, size[1] - 12), fill=(180, 50 + k % 150, 30))
    return im


def test_stage_flags_each_problem_with_its_value(params):
    crawl = write_crawl(
        params.path(params.crawl.out),
        [
            FakeImage("good", _part(), "JPEG", quality=92),
            FakeImage("tiny", _part((30, 30)), "PNG"),
            FakeImage("blank", Image.new("RGB", (120, 120), (250, 250, 250)), "PNG"),
            FakeImage("blurry", _part().filter(ImageFilter.GaussianBlur(5)), "PNG"),
            FakeImage("wide", _part((600, 100)), "PNG"),
            FakeImage("gray", _part().convert("L").convert("RGB"), "JPEG"),
            FakeImage("broken", data=b"GIF89a-nope", fmt="GIF"),
            FakeImage("refused", status="error", error="http 500"),
        ],
    )
    summary = quality.run(params)
    assert "quality.parquet" in summary
    out = pd.read_parquet(params.path(params.quality.out) / "quality.parquet")
    assert list(out["id"]) == sorted(crawl["id"])
    names = {r.id: r.image_url.rsplit("/", 1)[1] for r in crawl.itertuples()}
    rows = {names[r.id]: r for r in out.itertuples()}
    assert rows["good"].flags == "" and rows["good"].status == "ok"
    assert rows["tiny"].flags.split(",")[0] == "too_small" and rows["tiny"].width == 30
    assert rows["blank"].flags == "blank,grayscale" and rows["blank"].std < params.quality.min_std
    assert "blurry" in rows["blurry"].flags and rows["blurry"].blur < params.quality.min_blur
    assert rows["good"].blur >= params.quality.min_blur
    assert rows["wide"].flags == "aspect" and rows["wide"].aspect == 6.0
    assert rows["gray"].flags == "grayscale" and rows["gray"].grayscale
    assert rows["broken"].status == "error" and rows["broken"].flags == "unreadable"
    # The reason names the file as the project sees it: no checkout path in a tracked output.
    broken = crawl.set_index("id").loc[rows["broken"].id]
    shown = str((params.path(params.crawl.out) / broken.path).relative_to(params.root))
    assert rows["broken"].error.startswith(f"{shown}: unreadable: "), rows["broken"].error
    assert str(params.root) not in rows["broken"].error
    assert rows["refused"].status == "error" and rows["refused"].error == "crawl: http 500"
    before = (params.path(params.quality.out) / "quality.parquet").read_bytes()
    quality.run(params)
    assert (params.path(params.quality.out) / "quality.parquet").read_bytes() == before


def test_missing_crawl_is_a_user_error(params):
    with pytest.raises(InputError, match="images.parquet"):
        quality.run(params)
