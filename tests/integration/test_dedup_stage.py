"""The dedup stage on a fake crawl output in the real on-disk format, and its grouping rules."""

from __future__ import annotations

import pandas as pd
import pytest
from PIL import Image, ImageDraw

from pcbforge.clean.dedup import find_duplicates
from pcbforge.config import DedupParams
from pcbforge.errors import ConfigError, InputError
from pcbforge.pipelines import dedup
from tests.helpers.crawl_fixture import FakeImage, write_crawl
from tests.helpers.params import tiny_params


def _part(seed: int, size=(256, 256)) -> Image.Image:
    im = Image.new("RGB", size, (250, 250, 250))
    d = ImageDraw.Draw(im)
    w, h = size
    x = 20 + seed * 37 % (w // 2)
    d.rectangle((x, h // 4 + seed * 11 % 40, x + w // 3, h // 2 + seed * 13 % 60), fill=(30 + seed * 40 % 200, 60, 120))
    d.ellipse((w // 2, h // 2, w // 2 + 20 + seed * 7 % 80, h // 2 + 50), fill=(200, 40 + seed * 30 % 200, 20))
    return im


def _crawl(params, extra=()):
    orig = _part(1)
    images = [
        FakeImage("orig", orig, "PNG", licence="CC-BY-SA-4.0"),
        FakeImage("small", orig.resize((160, 160), Image.Resampling.LANCZOS), "JPEG", quality=70, licence="CC0-1.0"),
        FakeImage("other", _part(2), "PNG"),
        FakeImage("broken", data=b"\x89PNG\r\n\x1a\ntruncated", fmt="PNG"),
        FakeImage("refused", status="rejected", error="robots: disallowed"),
        *extra,
    ]
    return write_crawl(params.path(params.crawl.out), images)


def _names(df: pd.DataFrame) -> dict[str, str]:
    return {r.id: r.image_url.rsplit("/", 1)[1] for r in df.itertuples()}


def test_stage_marks_duplicates_and_keeps_every_row(params):
    crawl = _crawl(params)
    summary = dedup.run(params)
    assert "dedup.parquet" in summary and "1 near" in summary
    out = pd.read_parquet(params.path(params.dedup.out) / "dedup.parquet")
    assert list(out["id"]) == sorted(crawl["id"])  # every crawl row, sorted by id
    for col in ("id", "sha256", "phash", "dhash", "cluster", "keep", "dup_of", "dup_kind", "distance",
                "confirm_distance", "status", "error"):
        assert col in out.columns
    rows = {_names(crawl)[r.id]: r for r in out.itertuples()}
    # Largest resolution wins over the more permissive licence of the smaller copy.
    assert rows["orig"].keep and rows["orig"].status == "ok" and rows["orig"].cluster == rows["orig"].id
    small = rows["small"]
    assert not small.keep and small.status == "rejected" and small.dup_kind == "near"
    assert small.dup_of == rows["orig"].id == small.cluster
    assert 0 <= small.distance <= params.dedup.threshold
    assert 0 <= small.confirm_distance <= params.dedup.confirm_threshold
    assert rows["other"].keep and pd.isna(rows["other"].dup_of)
    assert rows["broken"].status == "error" and "unreadable" in rows["broken"].error
    # The reason names the file as the project sees it: no checkout path in a tracked output.
    broken = crawl.set_index("id").loc[rows["broken"].id]
    shown = str((params.path(params.crawl.out) / broken.path).relative_to(params.root))
    assert rows["broken"].error.startswith(f"{shown}: unreadable: "), rows["broken"].error
    assert str(params.root) not in rows["broken"].error
    assert rows["refused"].status == "rejected" and rows["refused"].error.startswith("crawl:")
    assert len(rows["orig"].phash) == 16 and len(rows["orig"].dhash) == 16


def test_rerun_is_byte_identical_and_uses_the_hash_cache(params):
    _crawl(params)
    first = dedup.run(params)
    assert "(4 newly hashed, 1 pairs newly compared)" in first
    out = params.path(params.dedup.out) / "dedup.parquet"
    before = out.read_bytes()
    assert params.path(params.dedup.cache).is_file()
    assert params.path(params.dedup.check_cache).is_file()
    # Only the broken file is read again: its error names its path, so it is never cached;
    # the one candidate pair's check comes from the check cache.
    assert "(1 newly hashed, 0 pairs newly compared)" in dedup.run(params)
    assert out.read_bytes() == before
    _crawl(params, extra=[FakeImage("new", _part(5), "PNG")])
    assert "(2 newly hashed," in dedup.run(params)


def test_worker_count_does_not_change_output(tmp_path):
    outs = []
    for workers in (1, 2):
        p = tiny_params(tmp_path / f"w{workers}", {"base": {"workers": workers}})
        _crawl(p)
        dedup.run(p)
        outs.append((p.path(p.dedup.out) / "dedup.parquet").read_bytes())
    assert outs[0] == outs[1]


def test_missing_crawl_and_bad_params_are_user_errors(params, tmp_path):
    with pytest.raises(InputError, match="pcbforge crawl"):
        dedup.run(params)
    # A second hash must confirm every near duplicate: one hash is refused when params load.
    with pytest.raises(ConfigError, match="'dedup.hashes': needs two hash kinds"):
        tiny_params(tmp_path / "one", {"dedup": {"hashes": ["phash"]}})
    with pytest.raises(ConfigError, match="'dedup.hashes': lists a hash kind twice"):
        tiny_params(tmp_path / "twice", {"dedup": {"hashes": ["phash", "phash"]}})


# --- grouping rules on hand-made hashes ------------------------------------------------------

def _hex(bits: set[int]) -> str:
    return f"{sum(1 << b for b in bits):016x}"


def _frame(specs):
    rows = []
    for id_, bits, extra in specs:
        h = _hex(bits)
        rows.append({"id": id_, "sha256": extra.pop("sha256", f"sha-{id_}"), "phash": h, "dhash": h,
                     "phash_mirror": _hex({63}), "dhash_mirror": _hex({63}), "color": [0.0] * 12,
                     "width": 100, "height": 100,
                     "licence": "CC-BY-4.0", "fetched_at": "2024-01-01T00:00:00Z", **extra})
    return pd.DataFrame(rows)


def test_no_chaining_every_drop_is_within_threshold_of_its_kept_image():
    # a-b and b-c are 6 bits apart, a-c 12: union-find would merge all three.
    a, b, c = set(range(0, 0)), set(range(0, 6)), set(range(0, 6)) | set(range(10, 16))
    df = _frame([("a", a, {"width": 200}), ("b", b, {}), ("c", c, {})])
    res = find_duplicates(df, DedupParams(threshold=10, confirm_threshold=10, mirror=False)).set_index("id")
    assert res.loc["a", "keep"] and res.loc["b", "dup_of"] == "a" and res.loc["b", "distance"] == 6
    assert res.loc["c", "keep"] and pd.isna(res.loc["c", "dup_of"])


def test_second_hash_must_confirm():
    df = _frame([("a", set(), {"width": 200}), ("b", {1, 2}, {})])
    df.loc[1, "dhash"] = _hex(set(range(20)))  # primary close, confirm far
    res = find_duplicates(df, DedupParams(threshold=10, confirm_threshold=12, mirror=False))
    assert res["keep"].all()


def test_keep_policy_resolution_then_licence_then_earliest_then_id():
    s = DedupParams(threshold=10, confirm_threshold=10, mirror=False)
    df = _frame([("a", set(), {"licence": "CC-BY-SA-4.0"}), ("b", {1}, {"licence": "CC0-1.0"}),
                 ("c", {2}, {"licence": "CC-BY-4.0"})])
    assert find_duplicates(df, s).set_index("id").loc["b", "keep"]
    df = _frame([("a", set(), {"fetched_at": "2024-03-01T00:00:00Z"}),
                 ("b", {1}, {"fetched_at": "2024-02-01T00:00:00Z"})])
    assert find_duplicates(df, s).set_index("id").loc["b", "keep"]
    df = _frame([("z", set(), {}), ("y", {1}, {})])
    assert find_duplicates(df, s).set_index("id").loc["y", "keep"]
    s2 = DedupParams(threshold=10, confirm_threshold=10, mirror=False, keep_policy=("licence",))
    df = _frame([("a", set(), {"width": 900, "licence": "CC-BY-NC-4.0"}), ("b", {1}, {"licence": "CC-BY-4.0"})])
    assert find_duplicates(df, s2).set_index("id").loc["b", "keep"]


def test_exact_duplicates_share_a_cluster_and_point_at_the_kept_image():
    df = _frame([("a", set(), {"sha256": "same"}), ("b", set(), {"sha256": "same", "width": 300}),
                 ("c", {3}, {})])
    res = find_duplicates(df, DedupParams(threshold=10, confirm_threshold=10, mirror=False)).set_index("id")
    assert res.loc["b", "keep"]
    assert res.loc["a", "dup_kind"] == "exact" and res.loc["a", "dup_of"] == "b" and res.loc["a", "distance"] == 0
    assert res.loc["c", "dup_kind"] == "near" and res.loc["c", "dup_of"] == "b"


def test_mirrored_copy_is_found_through_the_mirror_hash():
    df = _frame([("a", {1, 2, 3}, {"width": 200}), ("b", set(range(30, 50)), {})])
    df.loc[1, "phash_mirror"] = df.loc[1, "dhash_mirror"] = _hex({1, 2})
    res = find_duplicates(df, DedupParams(threshold=10, confirm_threshold=10, mirror=True)).set_index("id")
    assert res.loc["b", "dup_of"] == "a" and res.loc["b", "mirrored"] and res.loc["b", "distance"] == 1
    # Found, but only flagged: mirrored matches of real shop photos were mostly different parts.
    assert res.loc["b", "keep"] and res.loc["b", "dup_kind"] == "suspect" and 0.5 <= res.loc["b", "doubt"] < 1
    # A matching part number is the stronger signal that lets it drop.
    df["mpn"] = ["CFR-25 10K", "cfr25-10k"]
    res = find_duplicates(df, DedupParams(threshold=10, confirm_threshold=10, mirror=True)).set_index("id")
    assert not res.loc["b", "keep"] and res.loc["b", "dup_kind"] == "near"


def test_cross_class_pair_is_flagged_never_dropped_and_doubt_orders_it_first():
    df = _frame([("a", set(), {"width": 200}), ("b", {1}, {"class_label": "relay"}), ("c", {40, 41}, {}),
                 ("d", {40, 41, 42}, {})])
    df.loc[df["id"] != "b", "class_label"] = "heat_sink"
    res = find_duplicates(df, DedupParams(threshold=10, confirm_threshold=10)).set_index("id")
    assert res.loc["b", "keep"] and res.loc["b", "dup_kind"] == "suspect" and res.loc["b", "dup_of"] == "a"
    assert res.loc["b", "doubt"] == 1.0 and "different classes" in res.loc["b", "note"]
    assert not res.loc["d", "keep"] and res.loc["d", "doubt"] < res.loc["b", "doubt"]


def test_different_part_numbers_or_title_values_are_never_paired():
    df = _frame([("a", set(), {"width": 200, "mpn": "R-10K"}), ("b", {1}, {"mpn": "R-4K7"})])
    res = find_duplicates(df, DedupParams(threshold=10, confirm_threshold=10))
    assert res["keep"].all() and res["dup_kind"].isna().all()
    df = _frame([("a", set(), {"width": 200, "title": "Resistor 10k 1/4W"}), ("b", {1}, {"title": "Resistor 22k"})])
    assert find_duplicates(df, DedupParams(threshold=10, confirm_threshold=10))["keep"].all()


def test_at_threshold_match_is_flagged_not_dropped():
    df = _frame([("a", set(), {"width": 200}), ("b", set(range(9)), {})])
    res = find_duplicates(df, DedupParams(threshold=10, confirm_threshold=10, sure_threshold=6)).set_index("id")
    assert res.loc["b", "keep"] and res.loc["b", "dup_kind"] == "suspect" and "sure_threshold" in res.loc["b", "note"]


def test_original_is_kept_over_its_upscaled_and_recompressed_copies():
    df = _frame([("orig", set(), {"width": 100}), ("up", {1}, {"width": 160, "height": 160}),
                 ("req", {2}, {"licence": "CC0-1.0"})])
    details = {"orig": {"fullness": -1.0, "jpeg_quality": 90, "error": None},
               "up": {"fullness": -1.6, "jpeg_quality": 95, "error": None},
               "req": {"fullness": -1.0, "jpeg_quality": 60, "error": None}}
    s = DedupParams(threshold=10, confirm_threshold=10)
    res = find_duplicates(df, s, details=details).set_index("id")
    assert res.loc["orig", "keep"] and not res.loc["up", "keep"] and not res.loc["req", "keep"]
    assert res.loc["up", "degraded"].startswith("upscaled ~1.60x") and "marked as a degraded copy" in res.loc["up", "note"]
    assert res.loc["req", "degraded"].startswith("recompressed (JPEG q60 vs q90)")
    # Without the original rule, resolution keeps the upscaled copy (the old behaviour).
    s2 = DedupParams(threshold=10, confirm_threshold=10, keep_policy=["resolution", "licence"])
    assert find_duplicates(df, s2, details=details).set_index("id").loc["up", "keep"]
