"""All pairs of binary hashes within a Hamming distance: exact, vectorised, no Python pairwise loop.

Hashes are packed as ``(N, W)`` arrays of ``uint64`` (one row per image, ``W`` words of
64 bits). Two exact strategies return the same pairs:

* :func:`pairs_blockwise` XORs a block of rows against the rest and counts bits with
  ``np.bitwise_count`` -- O(N^2) but branch-free; best for a few thousand hashes.
* :func:`pairs_mih` is multi-index hashing (Norouzi et al., 2012): the bits are split into
  ``m`` chunks; if two hashes are within ``t`` bits, by the pigeonhole principle at least one
  chunk differs in at most ``t // m`` bits. Each chunk is indexed by its value (sorted
  buckets); every hash probes the buckets of its chunk value XOR each mask of at most
  ``t // m`` bits, and each candidate is verified on the full hash. Cost grows with the
  number of candidates, not with N^2.

:func:`pairs_within` picks the cheaper one from a small cost model. Results are sorted
(i, j) arrays, independent of worker count.

Example:
    >>> h = pack_hex(["ff00ff00ff00ff00", "ff00ff00ff00ff01", "00ff00ff00ff00ff"])
    >>> i, j, d = pairs_within(h, threshold=2)
    >>> list(zip(i.tolist(), j.tolist(), d.tolist()))
    [(0, 1, 1)]
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pcbforge.parallel import map_ordered

Pairs = tuple[np.ndarray, np.ndarray, np.ndarray]

#: Estimated cost (~ns) below which ``pairs_within`` searches inline instead of starting a pool.
PARALLEL_MIN_COST = 1e9

#: Largest chunk width indexed by a dense bucket table (2**22 int64 offsets = 32 MiB).
MAX_CHUNK_BITS = 22


def pack_hex(hexes: Sequence[str]) -> np.ndarray:
    """Pack equal-length hex strings (e.g. ``str(imagehash)``) into an ``(N, W)`` uint64 array.

    Strings are left-padded to a multiple of 16 hex digits, which adds the same zero
    bits to every hash and so leaves distances unchanged.
    """
    if len(hexes) == 0:
        return np.zeros((0, 1), dtype=np.uint64)
    width = max(len(h) for h in hexes)
    words = max(1, math.ceil(width / 16))
    out = np.empty((len(hexes), words), dtype=np.uint64)
    for n, h in enumerate(hexes):
        h = h.rjust(words * 16, "0")
        for w in range(words):
            out[n, w] = int(h[w * 16 : (w + 1) * 16], 16)
    return out


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Hamming distance between broadcastable packed arrays ``(..., W)``."""
    return np.bitwise_count(np.bitwise_xor(a, b)).sum(axis=-1, dtype=np.int64)


def _as2d(h: np.ndarray) -> np.ndarray:
    h = np.asarray(h)
    if h.ndim == 1:
        h = h[:, None]
    return np.ascontiguousarray(h, dtype=np.uint64)


def _sorted(i: np.ndarray, j: np.ndarray, d: np.ndarray) -> Pairs:
    order = np.lexsort((j, i))
    return i[order].astype(np.int64), j[order].astype(np.int64), d[order].astype(np.int64)


def _empty() -> Pairs:
    e = np.zeros(0, dtype=np.int64)
    return e, e.copy(), e.copy()


def pairs_bruteforce(a: np.ndarray, b: np.ndarray | None = None, threshold: int = 10) -> Pairs:
    """Reference: the full distance matrix. Self-join (``b`` is None) returns ``i < j`` only.

    Quadratic memory: for tests and small inputs.
    """
    a = _as2d(a)
    self_join = b is None
    b = a if b is None else _as2d(b)
    d = hamming(a[:, None, :], b[None, :, :])
    mask = d <= threshold
    if self_join:
        mask &= np.triu(np.ones_like(mask, dtype=bool), k=1)
    i, j = np.nonzero(mask)
    return _sorted(i, j, d[i, j])


def pairs_blockwise(a: np.ndarray, b: np.ndarray | None = None, threshold: int = 10, block: int = 256) -> Pairs:
    """Exact all-pairs by blocks of rows: XOR + ``np.bitwise_count`` (the baseline for large N).

    Args:
        a: ``(N, W)`` packed hashes.
        b: Optional ``(M, W)`` second set; None compares ``a`` with itself (pairs ``i < j``).
        threshold: Largest Hamming distance reported.
        block: Rows per block (memory is ``block * M`` int64).
    """
    a = _as2d(a)
    self_join = b is None
    b = a if b is None else _as2d(b)
    out_i, out_j, out_d = [], [], []
    for s in range(0, len(a), block):
        e = min(s + block, len(a))
        # Self-join: only columns after the block start, so each pair is seen from its lower index.
        c0 = s if self_join else 0
        d = hamming(a[s:e, None, :], b[None, c0:, :])
        mask = d <= threshold
        if self_join:
            mask &= (np.arange(c0, len(b))[None, :] > np.arange(s, e)[:, None])
        ii, jj = np.nonzero(mask)
        out_i.append(ii + s)
        out_j.append(jj + c0)
        out_d.append(d[ii, jj])
    if not out_i:
        return _empty()
    return _sorted(np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_d))


def _bits(h: np.ndarray) -> np.ndarray:
    """``(N, W)`` uint64 -> ``(N, 64 W)`` uint8 bits, most significant bit first."""
    return np.unpackbits(h.astype(">u8").view(np.uint8).reshape(len(h), -1), axis=1)


def _chunk_bounds(nbits: int, m: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, nbits, m + 1).round().astype(int)
    return [(int(edges[k]), int(edges[k + 1])) for k in range(m)]


def _chunk_keys(bits: np.ndarray, lo: int, hi: int) -> np.ndarray:
    weights = (1 << np.arange(hi - lo - 1, -1, -1, dtype=np.int64)).astype(np.int64)
    return bits[:, lo:hi].astype(np.int64) @ weights


def _masks(width: int, radius: int) -> np.ndarray:
    out = [0]
    for r in range(1, radius + 1):
        for combo in itertools.combinations(range(width), r):
            out.append(sum(1 << c for c in combo))
    return np.asarray(out, dtype=np.int64)


def blockwise_cost(n_a: int, n_b: int) -> float:
    """Cost-model estimate of :func:`pairs_blockwise` (~2 units per pair)."""
    return 2.0 * n_a * n_b


def mih_plan(n_a: int, n_b: int, nbits: int, threshold: int) -> tuple[int, float]:
    """Choose the chunk count ``m`` for multi-index hashing; return ``(m, estimated_cost)``.

    Cost model (arbitrary units, ~ns on one core): each probe pass costs ~20 per query
    plus ~10 per candidate verified; a pass is one (chunk, mask) pair.
    """
    best_m, best_cost = 0, float("inf")
    for m in range(math.ceil(nbits / MAX_CHUNK_BITS), max(threshold + 2, math.ceil(nbits / MAX_CHUNK_BITS) + 1)):
        bounds = _chunk_bounds(nbits, m)
        radius = threshold // m
        cost = 0.0
        for lo, hi in bounds:
            w = hi - lo
            passes = sum(math.comb(w, r) for r in range(radius + 1))
            cost += passes * (20.0 * n_a + 10.0 * n_a * n_b / 2.0**w)
        if cost < best_cost:
            best_m, best_cost = m, cost
    return best_m, best_cost


@dataclass(frozen=True)
class _MihState:
    # What every probe reads; a pool worker gets it once (see pcbforge.parallel), not per task.
    a: np.ndarray
    b: np.ndarray
    keys_a: list[np.ndarray]
    tables: list[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]]
    threshold: int
    self_join: bool


def _mih_probe(state: _MihState, task: tuple[int, np.ndarray]) -> Pairs:
    chunk, masks = task
    a, b, threshold, self_join = state.a, state.b, state.threshold, state.self_join
    ka = state.keys_a[chunk]
    order, starts, sorted_keys = state.tables[chunk]
    out_i, out_j, out_d = [], [], []
    for f in masks:
        q = ka ^ f
        if starts is not None:
            lo = starts[q]
            cnt = starts[q + 1] - lo
        else:
            lo = np.searchsorted(sorted_keys, q, side="left")
            cnt = np.searchsorted(sorted_keys, q, side="right") - lo
        hit = np.flatnonzero(cnt)
        if hit.size == 0:
            continue
        lo, cnt = lo[hit], cnt[hit]
        total = int(cnt.sum())
        ii = np.repeat(hit, cnt)
        pos = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(cnt) - cnt, cnt) + np.repeat(lo, cnt)
        jj = order[pos]
        if self_join:
            keep = ii < jj
            ii, jj = ii[keep], jj[keep]
        d = hamming(a[ii], b[jj])
        ok = d <= threshold
        out_i.append(ii[ok])
        out_j.append(jj[ok])
        out_d.append(d[ok])
    if not out_i:
        return _empty()
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_d)


def pairs_mih(
    a: np.ndarray,
    b: np.ndarray | None = None,
    threshold: int = 10,
    chunks: int | None = None,
    workers: int = 1,
) -> Pairs:
    """Exact all-pairs within ``threshold`` by multi-index hashing (see module docstring).

    Args:
        a: ``(N, W)`` packed hashes.
        b: Optional ``(M, W)`` second set; None is a self-join returning pairs ``i < j``.
        threshold: Largest Hamming distance reported.
        chunks: Number of chunks ``m``; None picks it with :func:`mih_plan`.
        workers: Processes probing (chunk, mask) batches (:func:`pcbforge.parallel.map_ordered`); 1 runs inline.
    """
    a = _as2d(a)
    self_join = b is None
    b = a if b is None else _as2d(b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"hash widths differ: {a.shape[1]} vs {b.shape[1]} words")
    if len(a) == 0 or len(b) == 0:
        return _empty()
    nbits = 64 * a.shape[1]
    if chunks is None:
        chunks, _ = mih_plan(len(a), len(b), nbits, threshold)
    chunks = max(chunks, math.ceil(nbits / MAX_CHUNK_BITS))
    bounds = _chunk_bounds(nbits, chunks)
    radius = threshold // chunks
    bits_a = _bits(a)
    bits_b = bits_a if self_join else _bits(b)
    keys_a, tables = [], []
    for lo, hi in bounds:
        ka = _chunk_keys(bits_a, lo, hi)
        kb = ka if self_join else _chunk_keys(bits_b, lo, hi)
        order = np.argsort(kb, kind="stable")
        if (1 << (hi - lo)) <= 8 * len(b):
            # Dense bucket table: O(1) bucket lookup.
            starts = np.zeros((1 << (hi - lo)) + 1, dtype=np.int64)
            np.cumsum(np.bincount(kb, minlength=1 << (hi - lo)), out=starts[1:])
            tables.append((order, starts, None))
        else:
            # Few hashes for many possible chunk values: binary search in the sorted keys instead.
            tables.append((order, None, kb[order]))
        keys_a.append(ka)
    del bits_a, bits_b
    # Batches of masks per chunk, so the pool has enough tasks to balance two or more cores.
    tasks: list[tuple[int, np.ndarray]] = []
    for c, (lo, hi) in enumerate(bounds):
        masks = _masks(hi - lo, radius)
        n_batches = max(1, min(len(masks), 4 * max(1, workers)))
        tasks.extend((c, m) for m in np.array_split(masks, n_batches) if len(m))
    state = _MihState(a, b, keys_a, tables, threshold, self_join)
    parts = map_ordered(_mih_probe, tasks, workers, context=state, progress=False, max_chunk=1)
    i = np.concatenate([p[0] for p in parts]).astype(np.int64)
    j = np.concatenate([p[1] for p in parts]).astype(np.int64)
    d = np.concatenate([p[2] for p in parts]).astype(np.int64)
    # A pair close in several chunks is found once per such chunk: keep one copy.
    _, first = np.unique(i * len(b) + j, return_index=True)
    return _sorted(i[first], j[first], d[first])


def pairs_within(
    a: np.ndarray,
    b: np.ndarray | None = None,
    threshold: int = 10,
    workers: int = 1,
    method: str = "auto",
) -> Pairs:
    """All pairs within ``threshold`` bits, sorted by ``(i, j)``; self-join gives ``i < j``.

    Args:
        a: ``(N, W)`` uint64 packed hashes (see :func:`pack_hex`), or ``(N,)`` uint64.
        b: Optional second set (cross-join: every ``(i, j)`` with ``a[i]`` near ``b[j]``).
        threshold: Largest Hamming distance reported (inclusive).
        workers: Processes for the multi-index search.
        method: ``auto`` (cost model), ``mih`` or ``blockwise``.

    Returns:
        ``(i, j, distance)`` int64 arrays.
    """
    a = _as2d(a)
    n_b = len(a) if b is None else len(b)
    if method == "auto":
        _, cost = mih_plan(len(a), n_b, 64 * a.shape[1], threshold)
        method = "mih" if cost < blockwise_cost(len(a), n_b) else "blockwise"
        if cost < PARALLEL_MIN_COST:
            workers = 1  # starting a pool costs more than the whole search
    if method == "mih":
        return pairs_mih(a, b, threshold, workers=workers)
    if method == "blockwise":
        return pairs_blockwise(a, b, threshold)
    raise ValueError(f"unknown all-pairs method {method!r} (auto, mih, blockwise)")
