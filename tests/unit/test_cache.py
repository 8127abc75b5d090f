"""The per-image result cache of incremental stages."""

from __future__ import annotations

from pathlib import Path

from pcbforge.cache import ResultCache, map_cached


def _square(x: int) -> dict:
    return {"value": x * x, "error": None if x >= 0 else "negative"}


def test_map_cached_runs_only_misses_and_keeps_errors_out(tmp_path: Path) -> None:
    cache = ResultCache()
    jobs = [("a", 2), ("b", 3), ("c", -1)]
    first, n = map_cached(_square, jobs, cache, "v1", progress=False)
    assert n == 3 and [r["value"] for r in first] == [4, 9, 1]
    # The error record is not kept: it would be computed again (and name its file as it is then).
    second, n = map_cached(_square, [*jobs, ("d", 4)], cache, "v1", progress=False)
    assert n == 2 and second[:3] == first and second[3]["value"] == 16
    # Another config is another key.
    assert map_cached(_square, jobs[:1], cache, "v2", progress=False)[1] == 1

    path = cache.save(tmp_path / "cache.parquet")
    again = ResultCache.load(path)
    assert again.entries == cache.entries and not again.dirty
    assert again.save(tmp_path / "copy.parquet").read_bytes() == path.read_bytes()


def test_unreadable_cache_file_starts_empty(tmp_path: Path) -> None:
    bad = tmp_path / "cache.parquet"
    bad.write_bytes(b"not parquet")
    assert ResultCache.load(bad).entries == {}


def test_a_cache_keyed_by_pairs_names_its_key_column(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from pcbforge.clean.hashing import CheckCache, HashCache, pair_key

    cache = CheckCache()
    key = pair_key("aa", "bb", True)
    assert key != pair_key("bb", "aa", True) and key != pair_key("aa", "bb", False)  # directional, per flag
    cache.put(key, "compare-v1", {"check": {"residual": 3.5}, "error": None})
    path = cache.save(tmp_path / "checks.parquet")
    assert pq.read_schema(path).names == ["key", "config", "record"]
    assert CheckCache.load(path).get(key, "compare-v1") == {"check": {"residual": 3.5}, "error": None}
    # Another cache's file is not read as this one (its columns differ): it starts empty.
    assert HashCache.load(path).entries == {}
