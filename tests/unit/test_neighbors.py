"""All-pairs Hamming search: the fast paths return exactly the brute-force pairs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcbforge.clean.neighbors import (
    blockwise_cost,
    hamming,
    mih_plan,
    pack_hex,
    pairs_blockwise,
    pairs_bruteforce,
    pairs_mih,
    pairs_within,
)


def _same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b))


@st.composite
def hash_sets(draw):
    """Random hashes plus planted near copies (flip a few bits), so there are pairs to find."""
    words = draw(st.integers(1, 2))
    n = draw(st.integers(0, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 2**64 - 1, size=(n, words), dtype=np.uint64, endpoint=True)
    for k in range(1, n, 3):
        src = h[int(rng.integers(k))].copy()
        for _ in range(int(rng.integers(0, 14))):
            bit = int(rng.integers(64 * words))
            src[bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
        h[k] = src
    return h


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=hash_sets(), threshold=st.integers(0, 20), chunks=st.one_of(st.none(), st.integers(1, 12)))
def test_mih_equals_bruteforce_self_join(h, threshold, chunks):
    # Keep the per-chunk radius small: the mask count grows as C(width, radius).
    chunks = None if chunks is None else max(chunks, threshold // 3)
    ref = pairs_bruteforce(h, threshold=threshold)
    assert _same(pairs_mih(h, threshold=threshold, chunks=chunks), ref)
    assert _same(pairs_blockwise(h, threshold=threshold, block=7), ref)
    assert _same(pairs_within(h, threshold=threshold), ref)


@settings(max_examples=30, deadline=None)
@given(a=hash_sets(), threshold=st.integers(0, 16), seed=st.integers(0, 1000))
def test_mih_equals_bruteforce_cross_join(a, threshold, seed):
    rng = np.random.default_rng(seed)
    b = a[rng.permutation(len(a))] ^ (rng.integers(0, 4, size=a.shape, dtype=np.uint64))
    ref = pairs_bruteforce(a, b, threshold=threshold)
    assert _same(pairs_mih(a, b, threshold=threshold), ref)
    assert _same(pairs_blockwise(a, b, threshold=threshold, block=5), ref)


def test_parallel_probe_matches_inline():
    rng = np.random.default_rng(3)
    h = rng.integers(0, 2**64 - 1, size=(3000, 1), dtype=np.uint64, endpoint=True)
    h[1::2] = h[::2] ^ np.uint64(0b1011)  # every odd row is 3 bits from its neighbour
    one = pairs_mih(h, threshold=10, workers=1)
    two = pairs_mih(h, threshold=10, workers=2)
    assert _same(one, two)
    assert len(one[0]) >= 1500
    assert _same(one, pairs_blockwise(h, threshold=10))


def test_pack_hex_and_distance():
    h = pack_hex(["0f", "ff", "00ff00ff00ff00ff00ff00ff00ff00ff"])
    assert h.shape == (3, 2)
    assert hamming(h[0], h[1]).item() == 4
    assert pairs_within(h[:2], threshold=3)[0].size == 0
    assert pairs_within(h[:2], threshold=4)[2].tolist() == [4]


def test_plan_prefers_index_for_large_inputs_only():
    assert mih_plan(50, 50, 64, 10)[1] > blockwise_cost(50, 50)
    m, cost = mih_plan(1_000_000, 1_000_000, 64, 10)
    assert 3 <= m <= 11 and cost < blockwise_cost(1_000_000, 1_000_000) / 10


def test_unknown_method_is_an_error():
    with pytest.raises(ValueError, match="unknown"):
        pairs_within(pack_hex(["00"]), method="bk-tree")
