"""The local-change test (one changed place = a sibling product) and the keep rule's JPEG/PNG case."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pcbforge.clean.dedup import LOCAL_WHY, degradation, edge_kind
from pcbforge.clean.hashing import compare_files, local_change
from pcbforge.config import DedupParams


def _label(text: str, size: int = 320) -> Image.Image:
    """A grey part with two printed lines, the second carrying the value."""
    im = Image.new("RGB", (size, size), (235, 235, 230))
    d = ImageDraw.Draw(im)
    d.rectangle((60, 80, 260, 240), fill=(40, 40, 45))
    font = ImageFont.load_default(size=22)
    d.text((160, 130), "SERIES-X", fill=(230, 230, 230), font=font, anchor="mm")
    d.text((160, 190), text, fill=(230, 230, 230), font=font, anchor="mm")
    return im


def _jpeg(im: Image.Image, q: int) -> np.ndarray:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=q)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), dtype=np.float32)


def test_a_changed_value_is_one_isolated_place_a_reencode_is_not():
    a = _jpeg(_label("10k 1%"), 90)
    valid = np.ones(a.shape[:2], bool)
    e_sib, i_sib = local_change(a, _jpeg(_label("47k 1%"), 90), valid)
    e_copy, i_copy = local_change(a, _jpeg(_label("10k 1%"), 40), valid)
    assert e_sib >= 25 and i_sib >= 2, (e_sib, i_sib)
    assert e_copy < 25 or i_copy < 2, (e_copy, i_copy)


def test_compare_files_runs_the_local_test_only_below_the_threshold(tmp_path):
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    _label("10k 1%").save(a, quality=90)
    _label("47k 1%").save(b, quality=90)
    got = compare_files(a, b, local_below=255.0)
    assert got["excess"] is not None and got["isolation"] is not None
    assert compare_files(a, b, local_below=None)["excess"] is None
    assert compare_files(a, tmp_path / "missing.jpg") is None


def test_a_would_be_drop_with_one_local_change_is_flagged_not_dropped():
    s = DedupParams()
    kind, why = edge_kind({}, {}, 2, False, s, residual=20.0, local=(60.0, 5.0))
    assert kind == "flag" and why.startswith(LOCAL_WHY)
    assert edge_kind({}, {}, 2, False, s, residual=20.0, local=(10.0, 5.0)) == ("drop", None)
    assert edge_kind({}, {}, 2, False, s.model_copy(update={"local_excess": None}), 20.0, (60.0, 5.0)) == ("drop", None)


def test_a_png_resave_does_not_make_its_jpeg_source_a_recompressed_copy():
    jpeg = {"format": "JPEG", "jpeg_quality": 90, "fullness": -1.0, "error": None}
    png = {"format": "PNG", "jpeg_quality": 100, "fullness": -1.0, "error": None}
    assert degradation(jpeg, png, 100, 100, 0.2, 5) == (None, None)
    low = {"format": "JPEG", "jpeg_quality": 60, "fullness": -1.0, "error": None}
    assert degradation(low, jpeg, 100, 100, 0.2, 5)[0].startswith("recompressed")
