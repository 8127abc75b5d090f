"""Quality measurements and flags on tiny in-code images."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from pcbforge.clean.quality import assess, measure_array
from pcbforge.config import QualityParams

S = QualityParams(min_side=48, max_aspect=4.0, min_std=6.0, min_blur=30.0, flag_grayscale=True, measure_size=128)


def _sharp(size=(128, 128), colour=True) -> Image.Image:
    im = Image.new("RGB", size, (245, 245, 245))
    d = ImageDraw.Draw(im)
    for k in range(0, size[0], 16):
        d.rectangle((k, 10, k + 6, size[1] - 10), fill=(200, 40, 30) if colour else (40, 40, 40))
    return im


def _check(tmp_path, im: Image.Image, name="x.png"):
    p = tmp_path / name
    im.save(p)
    return assess(p, S)


def test_clean_image_has_no_flags_and_reports_values(tmp_path):
    rec = _check(tmp_path, _sharp())
    assert rec["flags"] == "" and rec["error"] is None
    assert rec["width"] == 128 and rec["aspect"] == 1.0
    assert rec["blur"] > S.min_blur and rec["std"] > S.min_std and rec["chroma"] > 2
    assert rec["grayscale"] is False


def test_blank_image_is_blank_not_also_blurry(tmp_path):
    rec = _check(tmp_path, Image.new("RGB", (100, 100), (128, 130, 90)))
    assert rec["flags"] == "blank" and rec["std"] < 1


def test_blurred_image_is_blurry(tmp_path):
    rec = _check(tmp_path, _sharp().filter(ImageFilter.GaussianBlur(6)))
    assert "blurry" in rec["flags"].split(",")
    assert rec["blur"] < S.min_blur


def test_too_small_and_aspect(tmp_path):
    assert "too_small" in _check(tmp_path, _sharp((40, 60)))["flags"].split(",")
    rec = _check(tmp_path, _sharp((400, 80)))
    assert "aspect" in rec["flags"].split(",") and rec["aspect"] == 5.0


def test_grayscale_rgb_and_l_mode(tmp_path):
    rec = _check(tmp_path, _sharp(colour=False))
    assert rec["flags"] == "grayscale" and rec["grayscale"] is True
    assert _check(tmp_path, _sharp().convert("L"), "l.png")["grayscale"] is True
    quiet = assess(tmp_path / "x.png", QualityParams(flag_grayscale=False))
    assert quiet["flags"] == "" and quiet["grayscale"] is True


def test_unreadable(tmp_path):
    p = tmp_path / "bad.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    rec = assess(p, S, root=tmp_path)
    assert rec["flags"] == "unreadable" and rec["error"].startswith("bad.png: unreadable: ")
    assert str(tmp_path) not in rec["error"]


def test_measure_array_laplacian_is_high_on_edges():
    flat = np.full((32, 32, 3), 100, np.uint8)
    edges = flat.copy()
    edges[:, ::2] = 0
    assert measure_array(flat)["blur"] == 0
    assert measure_array(edges)["blur"] > 1000
