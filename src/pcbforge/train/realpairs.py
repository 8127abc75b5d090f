"""Real-photo pairs: the yardstick that says whether training helped on real parts.

Triplets are made by our own synthesis, so a model can score well on them by learning the
synthesis. The real-pair evaluation uses only real crops (from board sources named in
``evaluate.real_sources``) that the model never trained on (val and test splits):

* ``same_class``: two different real parts of one class (label 0: "the same kind of part");
* ``capture``: one real crop against itself under capture changes a plant accepts (a little
  shift, turn, light and focus: :func:`capture_change`) (label 0);
* ``same_part``: one physical part in two photos, where the crops carry a shared ``part_key``
  (label 0);
* ``other_class``: real crops of two classes (label 1: "not what the reference shows").

The distance is the score, as in triplet evaluation (higher = different). Every figure is
given for the trained model and for the untrained backbone it started from (its pooled,
L2-normalised ImageNet features), so "training helped" is measured, not assumed; classes held
out of training (``split.val_classes``/``test_classes``) and seen classes are reported apart.

Pure functions build the pairs (:func:`real_pairs`) and score distances (:func:`pair_auc`);
:func:`evaluate_real` embeds with torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image

from pcbforge.datasets.loaders import to_tensor
from pcbforge.rng import make_rng


class PairKind(str, Enum):
    """What a real pair compares (``label`` 0 = same, 1 = different)."""

    SAME_CLASS = "same_class"
    CAPTURE = "capture"
    SAME_PART = "same_part"
    OTHER_CLASS = "other_class"


#: The label of each kind: 0 = a reference and a conforming sample, 1 = a different part.
LABEL = {PairKind.SAME_CLASS: 0, PairKind.CAPTURE: 0, PairKind.SAME_PART: 0, PairKind.OTHER_CLASS: 1}

#: Columns of the pair table.
PAIR_COLUMNS = ("a", "b", "kind", "label", "class_a", "class_b", "unseen", "capture_seed")


def capture_change(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``img`` as a second photo of the same part might show it: shift ≤ 2 px, turn ≤ 3°,
    scale ±3 %, brightness ±12 %, contrast ±10 %, focus blur σ ≤ 0.8 px.

    Changes a plant's inspector would accept, so the pair must stay "the same".

    Example:
        >>> img = np.zeros((32, 32, 3), np.uint8); img[8:24, 12:20] = 200
        >>> out = capture_change(img, np.random.default_rng(0))
        >>> out.shape, out.dtype
        ((32, 32, 3), dtype('uint8'))
    """
    h, w = img.shape[:2]
    angle = float(rng.uniform(-3.0, 3.0))
    scale = float(rng.uniform(0.97, 1.03))
    dx, dy = (float(v) for v in rng.uniform(-2.0, 2.0, size=2))
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, scale)
    m[:, 2] += (dx, dy)
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    sigma = float(rng.uniform(0.0, 0.8))
    if sigma > 0.2:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    gain = float(rng.uniform(0.88, 1.12))
    contrast = float(rng.uniform(0.9, 1.1))
    f = out.astype(np.float32)
    mean = f.mean()
    f = (f - mean) * contrast + mean * gain
    return np.clip(np.rint(f), 0, 255).astype(np.uint8)


def _distinct_pairs(ids: Sequence[str], k: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """Up to ``k`` unordered pairs of distinct ids, drawn without repetition."""
    n = len(ids)
    total = n * (n - 1) // 2
    if total == 0:
        return []
    picks = rng.choice(total, size=min(k, total), replace=False)
    out = []
    for p in sorted(int(x) for x in picks):
        # Unrank p into (i, j), i < j, row by row.
        i = int(n - 2 - math.floor(math.sqrt(-8 * p + 4 * n * (n - 1) - 7) / 2.0 - 0.5))
        j = int(p + i + 1 - n * (n - 1) // 2 + (n - i) * ((n - i) - 1) // 2)
        out.append((ids[i], ids[j]))
    return out


def real_pairs(components: pd.DataFrame, seed: int, unseen: Sequence[str], per_class: int = 40) -> pd.DataFrame:
    """The real-pair table for ``components`` (``id``, ``class_label``, optional ``part_key``).

    Per class with at least one crop: up to ``per_class`` pairs of each kind — two of its
    parts (``same_class``), a crop and its capture change (``capture``), the same physical part
    (``same_part``, where ``part_key`` repeats) and a crop against a crop of another class
    (``other_class``). Deterministic for a seed; ids are sorted first, so row order in
    ``components`` does not matter.

    Example:
        >>> df = pd.DataFrame({"id": ["a1", "a2", "b1"], "class_label": ["r", "r", "c"]})
        >>> t = real_pairs(df, 0, unseen=["c"], per_class=5)
        >>> sorted(t["kind"].unique())
        ['capture', 'other_class', 'same_class']
        >>> t.loc[t["kind"] == "same_class", ["a", "b", "label"]].values.tolist()
        [['a1', 'a2', 0]]
    """
    df = components.sort_values("id", kind="mergesort")
    by_class = {c: g["id"].astype(str).tolist() for c, g in df.groupby("class_label", sort=True)}
    classes = sorted(by_class)
    unseen_set = set(unseen)
    rows: list[dict[str, Any]] = []

    def add(a: str, b: str, kind: PairKind, ca: str, cb: str, cap: int | None = None) -> None:
        rows.append({"a": a, "b": b, "kind": kind.value, "label": LABEL[kind], "class_a": ca, "class_b": cb,
                     "unseen": ca in unseen_set, "capture_seed": cap})  # fmt: skip

    for c in classes:
        ids = by_class[c]
        rng = make_rng(seed, "real-pairs", c)
        for a, b in _distinct_pairs(ids, per_class, rng):
            add(a, b, PairKind.SAME_CLASS, c, c)
        for idx in rng.choice(len(ids), size=min(per_class, len(ids)), replace=False):
            add(ids[int(idx)], ids[int(idx)], PairKind.CAPTURE, c, c, int(rng.integers(0, 2**31 - 1)))
        if "part_key" in df.columns:
            sub = df[(df["class_label"] == c) & df["part_key"].notna()]
            same: list[tuple[str, str]] = []
            for _, g in sub.groupby("part_key", sort=True):
                members = g["id"].astype(str).tolist()
                same.extend((members[i], members[j]) for i in range(len(members)) for j in range(i + 1, len(members)))
            if same:
                for idx in sorted(rng.choice(len(same), size=min(per_class, len(same)), replace=False)):
                    add(*same[int(idx)], PairKind.SAME_PART, c, c)
        others = [o for o in classes if o != c]
        if others:
            for _ in range(min(per_class, len(ids) * sum(len(by_class[o]) for o in others))):
                o = others[int(rng.integers(0, len(others)))]
                add(ids[int(rng.integers(0, len(ids)))], by_class[o][int(rng.integers(0, len(by_class[o])))],
                    PairKind.OTHER_CLASS, c, o)  # fmt: skip
    return pd.DataFrame(rows, columns=list(PAIR_COLUMNS))


def pair_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC-AUC of ``scores`` (higher = different) against 0/1 ``labels``; None with one label only.

    Ties count half (Mann-Whitney U), so the figure needs no sklearn and is exact.

    Example:
        >>> pair_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
        0.75
    """
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, np.float64)
    pos, neg = scores[labels], scores[~labels]
    if len(pos) == 0 or len(neg) == 0:
        return None
    order = np.argsort(np.concatenate([neg, pos]), kind="mergesort")
    s = np.concatenate([neg, pos])[order]
    starts = np.r_[0, np.nonzero(np.diff(s))[0] + 1]
    ends = np.r_[starts[1:], len(s)]
    ranks = np.empty(len(s))
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    r_pos = ranks[len(neg) :].sum()
    return float((r_pos - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def summarise(pairs: pd.DataFrame, distances: dict[str, np.ndarray], ndigits: int = 4) -> dict[str, Any]:
    """AUCs per embedder, for seen/unseen classes and per positive kind against ``other_class``.

    ``distances`` maps an embedder name (``model``, ``backbone``) to one distance per pair row.
    The headline per embedder is ``unseen`` (classes held out of training) over every positive
    kind; ``by_kind`` sets each positive kind against the same ``other_class`` negatives.
    """
    out: dict[str, Any] = {"n_pairs": len(pairs), "n_per_kind": {}}
    for (kind, unseen), g in pairs.groupby(["kind", "unseen"], sort=True):
        out["n_per_kind"][f"{'unseen' if unseen else 'seen'}/{kind}"] = len(g)
    r = lambda v: None if v is None else round(v, ndigits)  # noqa: E731
    for name, d in distances.items():
        res: dict[str, Any] = {}
        for scope, mask in (("unseen", pairs["unseen"].to_numpy(bool)), ("seen", ~pairs["unseen"].to_numpy(bool))):
            sub = pairs[mask]
            dd = d[mask]
            res[scope] = r(pair_auc(sub["label"].to_numpy(), dd))
            neg = (sub["kind"] == PairKind.OTHER_CLASS.value).to_numpy()
            for kind in (PairKind.SAME_CLASS, PairKind.CAPTURE, PairKind.SAME_PART):
                m = (sub["kind"] == kind.value).to_numpy() | neg
                res[f"{scope}/{kind.value}"] = r(pair_auc(sub["label"].to_numpy()[m], dd[m]))
        out[name] = res
    return out


def _load(path: Path, size: int) -> np.ndarray:
    with Image.open(path) as im:
        img = im.convert("RGB")
        if img.size != (size, size):
            img = img.resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(img)


@torch.no_grad()
def pair_distances(
    pairs: pd.DataFrame,
    crop_path: Callable[[str], Path],
    embedders: dict[str, Callable[[torch.Tensor], torch.Tensor]],
    input_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    batch_size: int = 64,
) -> dict[str, np.ndarray]:
    """Euclidean distance of L2-normalised embeddings for every pair row, per embedder.

    Each crop is embedded once; ``capture`` pairs compare a crop with :func:`capture_change` of
    it (seeded by the row), embedded as an extra image.
    """
    ids = sorted(set(pairs["a"].astype(str)) | set(pairs["b"].astype(str)))
    cap_rows = [r for r in pairs.itertuples(index=False) if r.kind == PairKind.CAPTURE.value]

    def images() -> list[np.ndarray]:
        base = {cid: _load(crop_path(cid), input_size) for cid in ids}
        extra = [capture_change(base[r.b], np.random.default_rng(int(r.capture_seed))) for r in cap_rows]
        return [base[cid] for cid in ids] + extra

    imgs = images()
    where = {cid: k for k, cid in enumerate(ids)}
    out: dict[str, np.ndarray] = {}
    for name, fn in embedders.items():
        embs = []
        for start in range(0, len(imgs), batch_size):
            x = torch.stack([to_tensor(Image.fromarray(im), mean, std) for im in imgs[start : start + batch_size]])
            embs.append(F.normalize(fn(x).float(), p=2, dim=1).cpu())
        e = torch.cat(embs) if embs else torch.zeros(0, 1)
        d = np.zeros(len(pairs))
        cap_k = len(ids)
        for n, r in enumerate(pairs.itertuples(index=False)):
            if r.kind == PairKind.CAPTURE.value:
                other = e[cap_k]
                cap_k += 1
            else:
                other = e[where[str(r.b)]]
            d[n] = float(torch.linalg.vector_norm(e[where[str(r.a)]] - other))
        out[name] = d
    return out


def starting_backbone(config: dict[str, Any], seed: int) -> torch.nn.Module:
    """The untrained backbone a model with ``config`` starts from (ImageNet weights, or a seeded init), in eval mode.

    Its pooled features are the "before training" embedding the real-pair evaluation compares against.
    """
    from pcbforge.train.model import build_model

    torch.manual_seed(seed)
    return build_model(config, load_weights=True).backbone.eval()


#: The splits real pairs come from: the model never trained on them.
HELD_OUT_SPLITS = ("val", "test")


def select_real(components: pd.DataFrame, split: pd.DataFrame, sources: Sequence[str]) -> pd.DataFrame:
    """Real crops for the real-pair evaluation: ok board crops of ``sources`` in val or test.

    A board crop of crop source ``name`` has ``parent_id`` ``<name>/<board>`` (the crop stage
    prefixes each source's board names), so the source is read from it; train crops are left
    out, whatever their class, so no real crop the model fitted on is scored.

    Args:
        components: components.parquet (``id``, ``class_label``, ``origin``, ``parent_id``,
            ``crop_path``, ``status``).
        split: split.parquet (``id``, ``split``, ``status``).
        sources: crop source names (``crop.sources[].name``); ``""``: the one unnamed source
            of ``crop.boards``, whose crops are all taken.

    Returns:
        ``id``, ``class_label``, ``crop_path``, ``split``, ``source``, sorted by id.

    Example:
        >>> comps = pd.DataFrame({"id": ["a", "b", "c"], "class_label": ["ic"] * 3, "origin": ["board"] * 3,
        ...     "parent_id": ["real/x", "real/y", "builtin/z"], "crop_path": ["a.png", "b.png", "c.png"],
        ...     "status": ["ok"] * 3})
        >>> sp = pd.DataFrame({"id": ["a", "b", "c"], "split": ["test", "train", "test"], "status": ["ok"] * 3})
        >>> select_real(comps, sp, ["real"])["id"].tolist()
        ['a']
    """
    cols = ["id", "class_label", "crop_path", "split", "source"]
    if not sources:
        return pd.DataFrame(columns=cols)
    c = components[(components["status"] == "ok") & (components["origin"] == "board")].copy()
    if "" in sources:  # the one unnamed source (crop.boards): every board crop, names unprefixed
        c["source"] = ""
    else:
        c["source"] = c["parent_id"].astype(str).str.split("/", n=1).str[0]
        c = c[c["source"].isin(list(sources))]
    s = split.loc[(split["status"] == "ok") & split["split"].isin(HELD_OUT_SPLITS), ["id", "split"]]
    out = c.merge(s, on="id", how="inner")
    return out.sort_values("id", kind="mergesort").reset_index(drop=True)[cols]


def evaluate_real(
    crops: pd.DataFrame,
    crop_root: Path,
    model: torch.nn.Module,
    config: dict[str, Any],
    seed: int,
    unseen: Sequence[str],
    per_class: int,
    device: torch.device | str = "cpu",
    batch_size: int = 64,
    init_seed: int | None = None,
) -> dict[str, Any]:
    """The ``real`` section of metrics.json: pair AUCs of ``model`` and of its untrained backbone.

    Args:
        crops: :func:`select_real`'s table.
        crop_root: the crop stage's output folder (``crop_path`` is relative to it).
        model: the trained embedding network (``model(x)`` -> embeddings).
        config: its config (``input_size``, ``mean``, ``std``; the backbone is rebuilt from it).
        seed: pair drawing (``evaluate.seed``: the same pairs whatever the training seed).
        unseen: classes held out of training (``split.val_classes`` + ``test_classes``).
        per_class: pairs of each kind per class.
        init_seed: the training seed (``base.seed``), which seeds a from-scratch backbone's
            init (ImageNet weights ignore it); None: ``seed``.
    """
    pairs = real_pairs(crops, seed, unseen, per_class)
    base = {
        "n_crops": len(crops),
        "classes": {str(k): int(v) for k, v in crops["class_label"].value_counts().sort_index().items()},
        "unseen_classes": sorted(set(unseen) & set(crops["class_label"].astype(str))),
        "splits": sorted(set(crops["split"].astype(str))),
        "per_class": per_class,
    }
    if pairs.empty:
        return {**base, **summarise(pairs, {}), "note": "no real pairs (no real crop in val/test)"}
    path_of = dict(zip(crops["id"].astype(str), crops["crop_path"].astype(str), strict=True))
    backbone = starting_backbone(config, seed if init_seed is None else init_seed).to(device)
    model.eval()

    def on(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
        return lambda x: fn(x.to(device))

    dist = pair_distances(
        pairs, lambda cid: crop_root / path_of[cid], {"model": on(model), "backbone": on(backbone)},
        config["input_size"], config["mean"], config["std"], batch_size=batch_size,
    )  # fmt: skip
    return {**base, **summarise(pairs, dist)}
