"""One reduced decode per image, all hashes from it, and the sha256-keyed cache."""

from __future__ import annotations

import io

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from pcbforge.clean.hashing import HashCache, decode_reduced, hash_file, hash_with_cache, hashes_of
from pcbforge.config import DedupParams


def _photo(size=(400, 300), seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    im = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(im)
    for _ in range(6):
        x, y = rng.integers(0, size[0] - 60), rng.integers(0, size[1] - 60)
        d.rectangle((int(x), int(y), int(x) + 60, int(y) + 40), fill=tuple(int(c) for c in rng.integers(0, 200, 3)))
    return im


def _save(im: Image.Image, path, fmt="JPEG"):
    im.save(path, format=fmt, quality=90) if fmt == "JPEG" else im.save(path, format=fmt)
    return path


def test_jpeg_is_decoded_in_draft_mode_at_reduced_size(tmp_path):
    p = _save(_photo((1024, 768)), tmp_path / "a.jpg")
    gray, size, fmt = decode_reduced(p, 64)
    assert size == (1024, 768) and fmt == "JPEG"
    assert gray.mode == "RGB"
    assert 64 <= min(gray.size) < 128  # 1/8 DCT scaling, not a full decode


def test_large_png_is_box_reduced_and_alpha_flattened_on_white(tmp_path):
    im = Image.new("RGBA", (512, 512), (0, 0, 0, 0))
    ImageDraw.Draw(im).rectangle((100, 100, 300, 300), fill=(200, 0, 0, 255))
    gray, size, _ = decode_reduced(_save(im, tmp_path / "a.png", "PNG"), 64)
    assert size == (512, 512) and min(gray.size) < 128
    assert gray.getpixel((0, 0)) == (255, 255, 255)  # transparent background became white, not black


def test_all_hashes_come_from_the_same_decoded_image():
    rgb = _photo()
    gray = rgb.convert("L")
    cfg = DedupParams(hashes=["phash", "dhash"], hash_size=8, mirror=True)
    h = hashes_of(rgb, cfg)
    assert h["phash"] == str(imagehash.phash(gray))
    assert h["dhash"] == str(imagehash.dhash(gray))
    assert h["phash_mirror"] == str(imagehash.phash(ImageOps.mirror(gray)))
    assert len(h["phash"]) == 16
    assert len(h["color"]) == 12 and sum(h["color"]) > 0


def test_hash_file_is_deterministic_and_reports_bad_files(tmp_path):
    p = _save(_photo(), tmp_path / "a.jpg")
    cfg = DedupParams()
    assert hash_file(p, cfg) == hash_file(p, cfg)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8not really a jpeg")
    rec = hash_file(bad, cfg, root=tmp_path)
    assert rec["error"].startswith("bad.jpg: unreadable: ") and rec["hashes"] == {}
    gone = hash_file(tmp_path / "gone.png", cfg, root=tmp_path)
    assert gone["error"].startswith("gone.png: file missing: ") and gone["missing"]
    assert str(tmp_path) not in rec["error"] + gone["error"]


def test_cache_rehashes_only_new_images_and_writes_stable_bytes(tmp_path):
    files = {f"sha{k}": _save(_photo(seed=k), tmp_path / f"{k}.png", "PNG") for k in range(3)}
    cfg = DedupParams()
    cache_path = tmp_path / "cache" / "hashes.parquet"
    cache = HashCache()
    first, fresh = hash_with_cache(dict(list(files.items())[:2]), cfg, cache, progress=False)
    assert fresh == 2
    cache.save(cache_path)
    bytes1 = cache_path.read_bytes()
    again = HashCache.load(cache_path)
    second, fresh = hash_with_cache(files, cfg, again, progress=False)
    assert fresh == 1  # only the third image is new
    assert {k: second[k]["hashes"] for k in first} == {k: first[k]["hashes"] for k in first}
    # Another config does not reuse entries computed with different settings.
    _, fresh = hash_with_cache(files, DedupParams(hash_size=16), again, progress=False)
    assert fresh == 3
    HashCache.load(cache_path).save(tmp_path / "copy.parquet")
    assert (tmp_path / "copy.parquet").read_bytes() == bytes1
    assert not list(cache_path.parent.glob(".*.tmp"))


def test_an_unreadable_file_is_not_cached_so_its_error_names_the_path_of_this_run(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for d in ("a", "b"):
        (tmp_path / d / "broken.png").write_bytes(b"not an image")
    cache, cfg = HashCache(), DedupParams()
    first, fresh = hash_with_cache({"sha": tmp_path / "a" / "broken.png"}, cfg, cache, progress=False, root=tmp_path)
    assert fresh == 1 and first["sha"]["error"].startswith("a/broken.png: unreadable: ")
    assert cache.entries == {}
    # The same bytes under another path: the row names that path, not the first one.
    second, fresh = hash_with_cache({"sha": tmp_path / "b" / "broken.png"}, cfg, cache, progress=False, root=tmp_path)
    assert fresh == 1 and second["sha"]["error"].startswith("b/broken.png: unreadable: ")


def test_an_error_record_an_older_version_cached_is_not_reused(tmp_path):
    good = _save(_photo(seed=1), tmp_path / "ok.png", "PNG")
    cache, cfg = HashCache(), DedupParams()
    from pcbforge.clean.hashing import cache_key

    cache.entries[("sha", cache_key(cfg))] = {"width": None, "height": None, "format": None, "hashes": {},
                                             "error": "/old/checkout/data/x.png: unreadable: gone"}
    out, fresh = hash_with_cache({"sha": good}, cfg, cache, progress=False)
    assert fresh == 1 and out["sha"]["error"] is None and out["sha"]["hashes"]


def test_unreadable_cache_is_rebuilt_not_fatal(tmp_path):
    p = tmp_path / "hashes.parquet"
    p.write_bytes(b"garbage")
    assert HashCache.load(p).entries == {}


@pytest.mark.parametrize("workers", [2])
def test_pool_results_do_not_depend_on_worker_count(tmp_path, workers):
    from pcbforge.clean.hashing import hash_files

    files = {f"s{k}": _save(_photo(seed=k), tmp_path / f"{k}.jpg") for k in range(6)}
    assert hash_files(files, DedupParams(), workers=workers, progress=False) == hash_files(
        files, DedupParams(), workers=1, progress=False
    )


def test_jpeg_bytes_roundtrip_helper():
    buf = io.BytesIO()
    _photo().save(buf, format="JPEG")
    assert buf.getvalue()[:2] == b"\xff\xd8"
