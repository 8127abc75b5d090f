"""Duplicate decisions: exact (same sha256) and near (perceptual hash), without chaining.

Near duplicates are NOT grouped by union-find over all close pairs (that chains: A~B~C~...
merges hundreds of different white-background photos). Instead:

1. images with the same sha256 are one exact group, represented by its best member;
2. candidate pairs are all group pairs within ``threshold`` on the primary hash (direct or
   mirrored, to catch flipped copies), found by :func:`pcbforge.clean.neighbors.pairs_within`;
3. a candidate is an edge only if the second hash, in the same orientation, is within
   ``confirm_threshold`` (a second signal before anything is dropped) and, when enabled, the
   colour signatures are within ``color_threshold`` (grayscale hashes are blind to a part
   that differs only in body or band colour);
4. groups are visited best-first by the keep policy; an unclaimed group becomes a kept
   representative and claims its unclaimed neighbours. Each claimed group then joins the
   closest adjacent representative. So every dropped image is within both thresholds of
   the image it is recorded as a duplicate of, and nothing is dropped through a chain.

Everything is a pure function of its inputs; ties break on ids, so results are deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from pcbforge.clean.neighbors import hamming, pack_hex, pairs_within
from pcbforge.config import DedupParams
from pcbforge.vocab import KeepRule

#: Column order of :func:`find_duplicates`' result.
RESULT_COLUMNS = ["id", "cluster", "keep", "dup_of", "dup_kind", "distance", "confirm_distance", "color_distance",
                  "mirrored", "doubt", "degraded", "note"]


def color_distance(a: Sequence[float], b: Sequence[float], floor: float = 0.05) -> float:
    """Distance of two colour signatures (:func:`pcbforge.clean.hashing.color_signature`).

    L1 between the chroma-weighted hue histograms, relative to the more colourful of the two
    (at least ``floor``, a mean chroma of ~13/255): the same hues at another brightness give
    ~0.2, a different body colour 1-2, and nearly achromatic pairs stay small, because
    their few coloured pixels (JPEG noise) are measured against the floor, not against each other.

    Example:
        >>> color_distance([0.2, 0.0], [0.0, 0.2])
        2.0
        >>> color_distance([0.002, 0.0], [0.0, 0.003])
        0.1
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return round(float(np.abs(x - y).sum() / max(float(x.sum()), float(y.sum()), floor)), 4)


def licence_rank(licence: str | None) -> int:
    """Lower is more permissive: CC0/public domain 0, CC-BY 1, CC-BY-SA 2, anything else 3.

    Example:
        >>> [licence_rank(x) for x in ("CC0-1.0", "CC-BY-4.0", "cc-by-sa-4.0", "CC-BY-NC-4.0", None)]
        [0, 1, 2, 3, 3]
    """
    if not licence:
        return 3
    s = str(licence).strip().upper().replace("_", "-").replace(" ", "-")
    if s.startswith("CC0") or s in {"PD", "PDM", "PUBLIC-DOMAIN", "PDM-1.0"}:
        return 0
    if s.startswith("CC-BY-SA"):
        return 2
    if s.startswith("CC-BY") and not any(x in s for x in ("-NC", "-ND")):
        return 1
    return 3


def keep_key(row: Any, policy: Sequence[KeepRule | str], degraded: bool = False) -> tuple:
    """Sort key (smaller = keep first) of one image for the keep policy; ties end on the id.

    ``original``: an image not marked as an upscaled or re-encoded copy of another first
    (``degraded``, see :func:`degradation`); ``resolution``: more pixels first; ``licence``:
    :func:`licence_rank`; ``earliest``: smaller ``fetched_at`` (ISO-8601 sorts as text), missing last.
    """
    key: list[Any] = []
    for rule in map(KeepRule, policy):  # a name outside KeepRule is a ValueError
        if rule is KeepRule.ORIGINAL:
            key.append(int(degraded))
        elif rule is KeepRule.RESOLUTION:
            w, h = row.get("width"), row.get("height")
            px = int(w) * int(h) if pd.notna(w) and pd.notna(h) else 0
            key.append(-px)
        elif rule is KeepRule.LICENCE:
            key.append(licence_rank(row.get("licence")))
        else:  # KeepRule.EARLIEST
            t = row.get("fetched_at")
            key.append((0, str(t)) if t is not None and pd.notna(t) else (1, ""))
    key.append(str(row["id"]))
    return tuple(key)


def candidate_edges(
    primary: np.ndarray,
    confirm: np.ndarray,
    primary_mirror: np.ndarray | None,
    confirm_mirror: np.ndarray | None,
    threshold: int,
    confirm_threshold: int,
    workers: int = 1,
) -> pd.DataFrame:
    """Confirmed near-duplicate edges between rows of packed hash arrays.

    Returns:
        Frame ``i < j, distance, confirm_distance, mirrored``; one row per unordered pair:
        direct when it passes directly, else mirrored.
    """
    i, j, d = pairs_within(primary, threshold=threshold, workers=workers)
    frames = [pd.DataFrame({"i": i, "j": j, "distance": d, "confirm_distance": hamming(confirm[i], confirm[j]),
                            "mirrored": False})]
    if primary_mirror is not None and confirm_mirror is not None:
        mi, mj, md = pairs_within(primary, primary_mirror, threshold=threshold, workers=workers)
        keep = mi != mj
        mi, mj, md = mi[keep], mj[keep], md[keep]
        frames.append(
            pd.DataFrame(
                {
                    "i": np.minimum(mi, mj),
                    "j": np.maximum(mi, mj),
                    "distance": md,
                    "confirm_distance": hamming(confirm[mi], confirm_mirror[mj]),
                    "mirrored": True,
                }
            )
        )
    e = pd.concat(frames, ignore_index=True)
    e = e[e["confirm_distance"] <= confirm_threshold]
    # A pair matching both ways is a direct match: the mirrored reading would only flag it.
    e = e.sort_values(["i", "j", "mirrored", "distance", "confirm_distance"], kind="mergesort")
    return e.drop_duplicates(["i", "j"], keep="first").reset_index(drop=True)


#: How a pair flagged by the local-change test is described (``note``; also how it is recognised).
LOCAL_WHY = "one local change"

#: Crawl columns that name a product (first one present on both rows wins); two rows whose
#: values differ are different products, whatever their pixels say. All optional.
PRODUCT_KEY_COLUMNS = ("mpn", "sku")

#: A token of a product title that carries a value or part number (has a digit): "10k", "4.7uF", "1N4148".
_VALUE_TOKEN = re.compile(r"[A-Za-z0-9.,/+-]*\d[A-Za-z0-9.,/+-]*")

Details = Mapping[str, Mapping[str, Any]]


def _norm_key(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    s = re.sub(r"[^0-9A-Z]", "", str(value).upper())
    return s or None


def product_evidence(a: Mapping[str, Any], b: Mapping[str, Any]) -> str | None:
    """What the shop says about two rows: ``"same"``, ``"different"`` or None (nothing to say).

    A part number / SKU (:data:`PRODUCT_KEY_COLUMNS`) on both rows decides; else titles that
    both carry value tokens (``10k``, ``4.7uF``) with none in common are different products
    (sibling products of one series differ exactly there). Equal titles prove nothing: shops
    reuse one title for a whole series.

    Example:
        >>> product_evidence({"mpn": "CFR-25JB-10K"}, {"mpn": "cfr25jb10k"})
        'same'
        >>> product_evidence({"title": "Resistor 10k 1/4W"}, {"title": "Resistor 4.7k 1/4 W"})
        'different'
        >>> product_evidence({"title": "Resistor 10k"}, {})
    """
    for col in PRODUCT_KEY_COLUMNS:
        ka, kb = _norm_key(a.get(col)), _norm_key(b.get(col))
        if ka and kb:
            return "same" if ka == kb else "different"
    ta, tb = a.get("title"), b.get("title")
    if isinstance(ta, str) and isinstance(tb, str):
        va = {t.lower().rstrip(".,") for t in _VALUE_TOKEN.findall(ta)}
        vb = {t.lower().rstrip(".,") for t in _VALUE_TOKEN.findall(tb)}
        if va and vb and not va & vb:
            return "different"
    return None


def degradation(small: Mapping[str, Any], big: Mapping[str, Any], px_small: int, px_big: int,
                upscale_margin: float, recompress_margin: int, detail: float | None = None,
                upscale_detail: float | None = None) -> tuple[str | None, str | None]:
    """Which of two confirmed copies of one picture is a degraded copy of the other.

    Args:
        small, big: :func:`pcbforge.clean.hashing.inspect_file` records (``big`` has more pixels
            or as many).
        px_small, px_big: Pixel counts.
        upscale_margin: Drop of spectral fullness (log10) that marks the larger one as upscaled.
        recompress_margin: JPEG quality points that mark the lower-quality one of two
            same-size copies as re-encoded.
        detail: :func:`pcbforge.clean.hashing.resample_detail` of the pair (big against small),
            or None (not measured).
        upscale_detail: With a measured ``detail`` at least this, the larger one holds detail
            the smaller cannot explain: a source, never marked upscaled, whatever its spectral
            fullness says (None: fullness alone).

    Returns:
        ``(what is wrong with small, what is wrong with big)``, each None or a short text.
    """
    if small.get("error") or big.get("error"):
        return None, None
    if px_big > 1.2 * px_small:
        drop = float(big["fullness"]) - float(small["fullness"])
        genuine = upscale_detail is not None and detail is not None and detail >= upscale_detail
        if drop < -upscale_margin and not genuine:
            f = (px_big / max(1, px_small)) ** 0.5
            return None, f"upscaled ~{f:.2f}x (spectral fullness {drop:+.2f})"
        return None, None
    qs, qb = small.get("jpeg_quality"), big.get("jpeg_quality")
    # A lossless re-save of a JPEG is no better than the JPEG: compare qualities of two JPEGs only.
    both_jpeg = small.get("format", "JPEG") == "JPEG" and big.get("format", "JPEG") == "JPEG"
    if qs is not None and qb is not None and both_jpeg:
        if qb < qs - recompress_margin:
            return None, f"recompressed (JPEG q{qb} vs q{qs})"
        if qs < qb - recompress_margin:
            return f"recompressed (JPEG q{qs} vs q{qb})", None
    return None, None


def edge_kind(a: Mapping[str, Any], b: Mapping[str, Any], distance: int, mirrored: bool,
              settings: DedupParams, residual: float | None = None,
              local: tuple[float | None, float | None] = (None, None)) -> tuple[str, str | None]:
    """``("drop" | "flag" | "none", why)`` for a pair that passed every hash and colour check.

    * the shop names two different products (part number, values in the title): none;
    * the aligned check (``residual``, :func:`pcbforge.clean.hashing.aligned_residual`) is at
      least ``aligned_reject``: the pictures differ in one place (a printed value, a band):
      none, whatever else matches;
    * different crawl classes (``class_label``): flag, never dropped: a chance match across
      classes is likelier than a photo filed under two classes;
    * the part numbers agree: drop;
    * the aligned check is at most ``aligned_threshold``: drop (also mirrored and at-threshold
      matches: the check ran on the flipped image), unless ``local`` (``(excess, isolation)``,
      :func:`pcbforge.clean.hashing.local_change`) shows one place changed far beyond the
      rest (``local_excess``, ``local_isolation``): a sibling product's printed value or band,
      flagged; between the two thresholds: flag;
    * without a residual (check off or a file unreadable): mirrored, or primary distance above
      ``sure_threshold``, flag (at those distances different parts collide, docs/dedup.md); else drop.
    """
    shop = product_evidence(a, b)
    if shop == "different":
        return "none", None
    checked = settings.aligned_threshold is not None and residual is not None
    if checked and residual >= settings.aligned_reject:
        return "none", None
    ca, cb = a.get("class_label"), b.get("class_label")
    if isinstance(ca, str) and isinstance(cb, str) and ca and cb and ca != cb:
        return "flag", f"different classes ({cb} vs {ca})"
    if shop == "same":
        return "drop", None
    if checked:
        if residual <= settings.aligned_threshold:
            excess, iso = local
            if (settings.local_excess is not None and excess is not None and iso is not None
                    and excess >= settings.local_excess and iso >= settings.local_isolation):
                return "flag", (f"{LOCAL_WHY} {excess:g} above the rest (x{iso:g}): "
                                f"another value of one series?")
            return "drop", None
        return "flag", f"aligned residual {residual:g} between {settings.aligned_threshold:g} and {settings.aligned_reject:g}"
    if mirrored:
        return "flag", "mirrored match"
    if distance > settings.sure_threshold:
        return "flag", f"{settings.primary.value} {distance} > sure_threshold {settings.sure_threshold}"
    return "drop", None


def doubt_of(kind: str, why: str | None, d: int, cd: int, col: float, settings: DedupParams) -> float:
    """How doubtful a match is, 0..1, for ordering the review view (most doubtful first).

    Drops score 0-0.5 by how close their distances come to the thresholds; flagged pairs
    0.5-1; a cross-class pair is 1.
    """
    near = max(d / max(1, settings.threshold), cd / max(1, settings.confirm_threshold),
               (col / settings.color_threshold) if settings.color_threshold and not np.isnan(col) else 0.0)
    near = min(1.0, near)
    if kind == "drop":
        return round(0.5 * near, 4)
    if why and why.startswith("different classes"):
        return 1.0
    return round(0.5 + 0.49 * near, 4)


def find_duplicates(
    images: pd.DataFrame,
    settings: DedupParams,
    workers: int = 1,
    details: Callable[[list[str]], Details] | Details | None = None,
    compare: Callable[[list[tuple[str, str, bool]]], Mapping[tuple[str, str, bool], float | None]] | None = None,
) -> pd.DataFrame:
    """Decide which images to keep, which to drop and which to flag for review.

    Args:
        images: One row per readable image with ``id, sha256``, the primary and confirm hash
            columns (hex; ``<kind>_mirror`` too when ``settings.mirror``), ``color`` when the
            colour check is on, the keep-policy columns (``width, height, licence,
            fetched_at``) and, optionally, ``class_label`` and product columns
            (:data:`PRODUCT_KEY_COLUMNS`, ``title``).
        settings: ``params.dedup``.
        workers: processes for the pair search; the result is identical for any value.
        details: :func:`pcbforge.clean.hashing.inspect_file` records by id, or a function
            giving them for a list of ids (called once, with the images of candidate pairs
            only). Without them no copy is recognised as upscaled or re-encoded.
        compare: the aligned pair check: ``[(id_a, id_b, mirrored)] -> {same key: residual, or
            {"residual", "excess", "isolation", "msd", "detail"}, or None}``
            (:func:`pcbforge.clean.hashing.compare_files` of each pair), called once with every
            candidate the shop's data does not already settle; None (or
            ``aligned_threshold: null``) leaves it out (see :func:`edge_kind`).

    Returns:
        One row per input id (``RESULT_COLUMNS``, sorted by id): ``cluster`` is the id of the
        kept image, ``dup_of`` the kept image a dropped one duplicates (or, for a kept image
        flagged for review, ``dup_kind == "suspect"``, the kept image it looks like),
        ``distance`` / ``confirm_distance`` the primary / confirm Hamming distances to it
        (0 for exact), ``doubt`` (0..1) how doubtful the match is, ``degraded`` what marks
        this image as a worse copy, ``note`` why it was kept over or flagged against ``dup_of``.
    """
    if images.empty:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    if images["id"].duplicated().any():
        raise ValueError("find_duplicates: ids must be unique")
    rows = images.to_dict("records")
    policy = [KeepRule(r) for r in settings.keep_policy]
    base_policy = [r for r in policy if r is not KeepRule.ORIGINAL]
    keys = {r["id"]: keep_key(r, base_policy) for r in rows}

    # Exact groups: members ordered best-first; the group is represented by its best member.
    groups: dict[str, list[str]] = {}
    for r in rows:
        groups.setdefault(r["sha256"], []).append(r["id"])
    for members in groups.values():
        members.sort(key=keys.__getitem__)
    group_order = sorted(groups, key=lambda s: keys[groups[s][0]])
    by_id = {r["id"]: r for r in rows}
    heads = [by_id[groups[sha][0]] for sha in group_order]

    def packed(col: str) -> np.ndarray:
        return pack_hex([str(h[col]) for h in heads])

    primary, confirm = settings.primary.value, settings.confirm.value
    p, c = packed(primary), packed(confirm)
    pm = packed(f"{primary}_mirror") if settings.mirror else None
    cm = packed(f"{confirm}_mirror") if settings.mirror else None
    edges = candidate_edges(p, c, pm, cm, settings.threshold, settings.confirm_threshold, workers)
    if settings.color_threshold is not None and len(edges):
        sig = [h["color"] for h in heads]
        edges["color_distance"] = [color_distance(sig[i], sig[j]) for i, j in zip(edges["i"], edges["j"])]
        edges = edges[edges["color_distance"] <= settings.color_threshold].reset_index(drop=True)
    else:
        edges["color_distance"] = np.nan

    # The aligned check, for every candidate the shop's own data does not settle.
    checks: dict[tuple[int, int], Any] = {}
    if compare is not None and settings.aligned_threshold is not None and len(edges):
        asks = [(int(i), int(j), bool(m)) for i, j, m in edges[["i", "j", "mirrored"]].itertuples(index=False)
                if product_evidence(heads[i], heads[j]) is None]
        got = compare([(heads[i]["id"], heads[j]["id"], m) for i, j, m in asks]) if asks else {}
        checks = {(i, j): got.get((heads[i]["id"], heads[j]["id"], m)) for i, j, m in asks}

    def check_of(i: int, j: int) -> tuple[float | None, float | None, float | None]:
        # A compare result is a residual, or {"residual", "excess", "isolation", "msd", "detail"}.
        c = checks.get((i, j))
        if isinstance(c, Mapping):
            return c.get("residual"), c.get("excess"), c.get("isolation")
        return c, None, None

    def extra_of(i: int, j: int, key: str) -> float | None:
        c = checks.get((min(i, j), max(i, j)))
        v = c.get(key) if isinstance(c, Mapping) else None
        return None if v is None or pd.isna(v) else float(v)

    edges["residual"] = [check_of(int(i), int(j))[0] for i, j in zip(edges["i"], edges["j"])]

    # Every candidate is drop, flag or nothing (edge_kind), with its doubt.
    info: dict[tuple[int, int], tuple[int, int, bool, float, str, str | None, float, float, float, float]] = {}
    for i, j, d, cd, mir, col, res in edges[["i", "j", "distance", "confirm_distance", "mirrored",
                                             "color_distance", "residual"]].itertuples(index=False):
        res = None if res is None or pd.isna(res) else float(res)
        kind, why = edge_kind(heads[i], heads[j], int(d), bool(mir), settings, res, check_of(int(i), int(j))[1:])
        if kind == "none":
            continue
        doubt = doubt_of(kind, why, int(d), int(cd), float(col), settings)
        # The last three fields order a copy's choice between representatives: mean squared
        # difference, local excess, aligned residual (see the clustering below).
        excess = check_of(int(i), int(j))[1]
        msd = extra_of(int(i), int(j), "msd")
        info[(i, j)] = info[(j, i)] = (int(d), int(cd), bool(mir), float(col), kind, why, doubt,
                                       float("inf") if res is None else res,
                                       float("inf") if excess is None else float(excess),
                                       float("inf") if msd is None else msd)

    # Source or copy: inspect the images of confirmed pairs, mark upscaled / re-encoded ones.
    degraded: dict[int, list[str]] = {}
    worse: set[tuple[int, int]] = set()  # (copy, the image it is a degraded copy of)
    drop_pairs = sorted({(i, j) for (i, j), v in info.items() if i < j and v[4] == "drop"})
    if KeepRule.ORIGINAL in policy and drop_pairs and details is not None:
        involved = sorted({heads[g]["id"] for pair in drop_pairs for g in pair})
        recs = details(involved) if callable(details) else details

        def px(g: int) -> int:
            w, h = heads[g].get("width"), heads[g].get("height")
            return int(w) * int(h) if pd.notna(w) and pd.notna(h) else 0

        for i, j in drop_pairs:
            ri, rj = recs.get(heads[i]["id"]), recs.get(heads[j]["id"])
            if ri is None or rj is None:
                continue
            s, b = (i, j) if px(i) <= px(j) else (j, i)
            bad_s, bad_b = degradation(recs[heads[s]["id"]], recs[heads[b]["id"]], px(s), px(b),
                                       settings.upscale_margin, settings.recompress_margin,
                                       extra_of(i, j, "detail"), settings.upscale_detail)
            for g, bad in ((s, bad_s), (b, bad_b)):
                if bad:
                    other = s if g == b else b
                    degraded.setdefault(g, []).append(f"{bad} vs {heads[other]['id']}")
                    worse.add((g, other))

    def full_key(g: int) -> tuple:
        return keep_key(heads[g], policy, degraded=g in degraded)

    order = sorted(range(len(heads)), key=full_key)
    rank = {g: k for k, g in enumerate(order)}
    nbrs: list[list[int]] = [[] for _ in heads]
    flags: list[list[int]] = [[] for _ in heads]
    for (i, j), v in info.items():
        (nbrs if v[4] == "drop" else flags)[i].append(j)

    # Leader clustering in keep order: a representative only claims its own neighbours, and
    # never an image it is a degraded copy of (the keep rule must not keep a copy over its source).
    rep_of = [-1] * len(heads)
    for g in order:
        if rep_of[g] == -1:
            rep_of[g] = g
            for n in sorted(nbrs[g], key=rank.__getitem__):
                if rep_of[n] == -1 and (g, n) not in worse:
                    rep_of[n] = g
    for g in order:
        if rep_of[g] != g:
            reps = [n for n in nbrs[g] if rep_of[n] == n and (n, g) not in worse]
            if not reps:  # every representative it reaches is a degraded copy of it: it is kept
                rep_of[g] = g
                continue
            # The representative it is the closest copy of (a copy can be within reach of its
            # source and of a sibling product): the lowest mean squared difference first. The
            # residual's maximum and the local excess are blind to a changed value under the
            # copy's own noise; the mean keeps the value's whole energy, and the copy's noise
            # weighs about the same against both. Then the local excess, the residual, hashes.
            rep_of[g] = min(reps, key=lambda n: (info[(g, n)][9], info[(g, n)][8], info[(g, n)][7],
                                                 info[(g, n)][0], info[(g, n)][1], rank[n]))
    # A representative that is a degraded copy of another representative, and holds nothing
    # else, joins its source (the source was claimed elsewhere or kept for the rule above).
    held = {rep_of[g] for g in range(len(heads)) if rep_of[g] != g}
    for g in order:
        if rep_of[g] == g and g not in held:
            src = [n for n in nbrs[g] if rep_of[n] == n and (g, n) in worse and (n, g) not in worse]
            if src:
                rep_of[g] = min(src, key=lambda n: (info[(g, n)][9], info[(g, n)][8], info[(g, n)][7], rank[n]))
    # A kept image with a flagged match to another kept image: flagged against the closest one.
    suspect_of: dict[int, int] = {}
    for g in order:
        if rep_of[g] == g:
            kept = [n for n in flags[g] if rep_of[n] == n]
            if kept:
                suspect_of[g] = min(kept, key=lambda n: (-info[(g, n)][6], info[(g, n)][0], rank[n]))

    out = []
    empty = {"distance": None, "confirm_distance": None, "color_distance": None, "mirrored": None,
             "doubt": None, "note": None}
    for g, sha in enumerate(group_order):
        rep = rep_of[g]
        kept_id = groups[group_order[rep]][0]
        bad = "; ".join(degraded.get(g, [])) or None
        for k, member in enumerate(groups[sha]):
            if rep == g and k == 0 and g in suspect_of:
                o = suspect_of[g]
                d, cd, mir, col, _, why, doubt, *_ = info[(g, o)]
                out.append({"id": member, "cluster": member, "keep": True, "dup_of": heads[o]["id"],
                            "dup_kind": "suspect", "distance": d, "confirm_distance": cd, "color_distance": col,
                            "mirrored": mir, "doubt": doubt, "degraded": bad,
                            "note": f"kept, to review: looks like {heads[o]['id']} but {why}"})
            elif rep == g and k == 0:
                out.append({"id": member, "cluster": member, "keep": True, "dup_of": None, "dup_kind": None,
                            **empty, "degraded": bad})
            elif rep == g:
                out.append({"id": member, "cluster": kept_id, "keep": False, "dup_of": kept_id, "dup_kind": "exact",
                            "distance": 0, "confirm_distance": 0, "color_distance": 0.0, "mirrored": False,
                            "doubt": 0.0, "degraded": bad, "note": "same bytes"})
            else:
                d, cd, mir, col, _, _, doubt, *_ = info[(g, rep)]
                why = keep_reason(heads[rep], heads[g], policy, g in degraded, rep in degraded)
                out.append({"id": member, "cluster": kept_id, "keep": False, "dup_of": kept_id, "dup_kind": "near",
                            "distance": d, "confirm_distance": cd, "color_distance": col, "mirrored": mir,
                            "doubt": doubt, "degraded": bad, "note": why})
    res = pd.DataFrame(out, columns=RESULT_COLUMNS)
    for col in ("distance", "confirm_distance"):
        res[col] = res[col].astype("Int64")
    for col in ("color_distance", "doubt"):
        res[col] = pd.to_numeric(res[col]).astype("float64")
    res["mirrored"] = res["mirrored"].astype("boolean")
    return res.sort_values("id", kind="mergesort").reset_index(drop=True)


#: Why the kept image won, from the dropped image's point of view, per keep rule.
_LOST_ON = {
    KeepRule.RESOLUTION: "the kept image has more pixels",
    KeepRule.LICENCE: "the kept image has a more permissive licence",
    KeepRule.EARLIEST: "the kept image was fetched earlier",
}


def keep_reason(kept: Mapping[str, Any], dropped: Mapping[str, Any], policy: Sequence[KeepRule],
                dropped_degraded: bool, kept_degraded: bool) -> str:
    """Why ``dropped`` was dropped in favour of ``kept``, as text for the dropped row (its own
    point of view): the first keep-policy rule that put ``kept`` first.

    Example:
        >>> keep_reason({"id": "a", "width": 20, "height": 20}, {"id": "b", "width": 10, "height": 10},
        ...             [KeepRule.ORIGINAL, KeepRule.RESOLUTION], False, False)
        'dropped: the kept image has more pixels'
    """
    for rule in policy:
        if rule is KeepRule.ORIGINAL:
            if dropped_degraded and not kept_degraded:
                return "dropped: marked as a degraded copy (see degraded), the kept image is not"
            continue
        a, b = keep_key(kept, [rule]), keep_key(dropped, [rule])
        if a[:-1] != b[:-1]:
            return f"dropped: {_LOST_ON[rule]}"
    return "dropped: a tie on every keep rule; the kept image's id sorts first"
