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

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from pcbforge.clean.neighbors import hamming, pack_hex, pairs_within
from pcbforge.config import DedupParams
from pcbforge.vocab import KeepRule

#: Column order of :func:`find_duplicates`' result.
RESULT_COLUMNS = ["id", "cluster", "keep", "dup_of", "dup_kind", "distance", "confirm_distance", "color_distance",
                  "mirrored"]


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


def keep_key(row: Any, policy: Sequence[KeepRule | str]) -> tuple:
    """Sort key (smaller = keep first) of one image for the keep policy; ties end on the id.

    ``resolution``: more pixels first; ``licence``: :func:`licence_rank`; ``earliest``:
    smaller ``fetched_at`` (ISO-8601 sorts as text), missing last.
    """
    key: list[Any] = []
    for rule in map(KeepRule, policy):  # a name outside KeepRule is a ValueError
        if rule is KeepRule.RESOLUTION:
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
        Frame ``i < j, distance, confirm_distance, mirrored``; one row per unordered pair, in
        the orientation (direct or mirrored) with the smaller ``(distance, confirm_distance)``.
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
    e = e.sort_values(["i", "j", "distance", "confirm_distance", "mirrored"], kind="mergesort")
    return e.drop_duplicates(["i", "j"], keep="first").reset_index(drop=True)


def find_duplicates(images: pd.DataFrame, settings: DedupParams, workers: int = 1) -> pd.DataFrame:
    """Decide which images to keep.

    Args:
        images: One row per readable image with ``id, sha256``, the primary and confirm hash
            columns (hex; ``<kind>_mirror`` too when ``settings.mirror``) and the keep-policy
            columns (``width, height, licence, fetched_at``).
        settings: ``params.dedup``: hash kinds (primary, confirm), thresholds, keep policy.
        workers: processes for the pair search; the result is identical for any value.

    Returns:
        One row per input id (``RESULT_COLUMNS``, sorted by id): ``cluster`` is the id of the
        kept image, ``dup_of`` the kept image a dropped one duplicates, ``distance`` /
        ``confirm_distance`` the primary / confirm Hamming distances to it (0 for exact).
    """
    if images.empty:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    if images["id"].duplicated().any():
        raise ValueError("find_duplicates: ids must be unique")
    rows = images.to_dict("records")
    keys = {r["id"]: keep_key(r, settings.keep_policy) for r in rows}

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

    nbrs: list[list[int]] = [[] for _ in heads]
    info: dict[tuple[int, int], tuple[int, int, bool, float]] = {}
    for i, j, d, cd, mir, col in edges[["i", "j", "distance", "confirm_distance", "mirrored",
                                        "color_distance"]].itertuples(index=False):
        nbrs[i].append(j)
        nbrs[j].append(i)
        info[(i, j)] = info[(j, i)] = (int(d), int(cd), bool(mir), float(col))

    # Leader clustering in keep order: a representative only claims its own neighbours.
    rep_of = [-1] * len(heads)
    for g in range(len(heads)):
        if rep_of[g] == -1:
            rep_of[g] = g
            for n in nbrs[g]:
                if rep_of[n] == -1:
                    rep_of[n] = g
    for g in range(len(heads)):
        if rep_of[g] != g:
            reps = [n for n in nbrs[g] if rep_of[n] == n]
            rep_of[g] = min(reps, key=lambda n: (info[(g, n)][0], info[(g, n)][1], n))

    out = []
    for g, sha in enumerate(group_order):
        rep = rep_of[g]
        kept_id = groups[group_order[rep]][0]
        for k, member in enumerate(groups[sha]):
            if rep == g and k == 0:
                out.append({"id": member, "cluster": member, "keep": True, "dup_of": None, "dup_kind": None,
                            "distance": None, "confirm_distance": None, "color_distance": None, "mirrored": None})
            elif rep == g:
                out.append({"id": member, "cluster": kept_id, "keep": False, "dup_of": kept_id, "dup_kind": "exact",
                            "distance": 0, "confirm_distance": 0, "color_distance": 0.0, "mirrored": False})
            else:
                d, cd, mir, col = info[(g, rep)]
                out.append({"id": member, "cluster": kept_id, "keep": False, "dup_of": kept_id, "dup_kind": "near",
                            "distance": d, "confirm_distance": cd, "color_distance": col, "mirrored": mir})
    res = pd.DataFrame(out, columns=RESULT_COLUMNS)
    for col in ("distance", "confirm_distance"):
        res[col] = res[col].astype("Int64")
    res["color_distance"] = pd.to_numeric(res["color_distance"]).astype("float64")
    res["mirrored"] = res["mirrored"].astype("boolean")
    return res.sort_values("id", kind="mergesort").reset_index(drop=True)
