"""Score a Siamese model on triplets: distances, ROC/PR, per-defect AUC, threshold, plots.

Each triplet gives two pairs: anchor-positive (label 0, "same, good part") and
anchor-negative (label 1, "defect or wrong part"). The embedding distance is the anomaly
score, so a higher distance should mean a defect. Pure functions take numpy arrays; the
plotting functions write PNGs with matplotlib's Agg backend (no display needed).

The metrics are functions of ``(labels, scores)`` pairs (:func:`pair_metrics`,
:func:`bootstrap_ci`), so any other pair set (real photo pairs, simulated pairs) is scored
the same way as the triplets' pairs.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from pcbforge.datasets.loaders import seeded_subset
from pcbforge.io import write_bytes
from pcbforge.rng import make_rng

if TYPE_CHECKING:
    from pcbforge.config import Params

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Distances:
    """Anchor-positive and anchor-negative distances with each triplet's negative kind.

    ``groups`` (optional) is each triplet's anchor id: triplets sharing an anchor are not
    independent, so the bootstrap resamples anchors, not triplets.
    """

    d_ap: np.ndarray
    d_an: np.ndarray
    kinds: np.ndarray
    groups: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.d_ap)

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(labels, scores): positives (0) then negatives (1)."""
        y = np.concatenate([np.zeros(len(self.d_ap), np.int64), np.ones(len(self.d_an), np.int64)])
        return y, np.concatenate([self.d_ap, self.d_an])

    def subset(self, mask: np.ndarray) -> Distances:
        """The triplets where ``mask`` is true, in order."""
        g = None if self.groups is None else self.groups[mask]
        return Distances(self.d_ap[mask], self.d_an[mask], self.kinds[mask], g)

    def pair_groups(self) -> np.ndarray:
        """The group of each pair of :meth:`pairs` (its anchor id, or its triplet index)."""
        g = self.groups if self.groups is not None else np.arange(len(self.d_ap)).astype(str)
        return np.concatenate([g, g])


@torch.no_grad()
def triplet_distances(
    model: torch.nn.Module,
    dataset: Dataset,
    device: str | torch.device = "cpu",
    batch_size: int = 64,
    progress: bool = True,
) -> Distances:
    """Embed every triplet of ``dataset`` and return the two Euclidean distances per triplet."""
    model.eval()
    d_ap: list[np.ndarray] = []
    d_an: list[np.ndarray] = []
    kinds: list[str] = []
    groups: list[str] = []
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    for anchor, positive, negative, meta in tqdm(loader, desc="evaluate", unit="batch", disable=not progress,
                                                 leave=False):
        k = anchor.shape[0]
        emb = model(torch.cat([anchor, positive, negative]).to(device)).float().cpu()
        a, p, n = emb[:k], emb[k : 2 * k], emb[2 * k :]
        d_ap.append(torch.linalg.vector_norm(a - p, dim=1).numpy())
        d_an.append(torch.linalg.vector_norm(a - n, dim=1).numpy())
        kinds.extend(meta["negative_kind"])
        groups.extend(a or i for a, i in zip(meta["anchor_id"], meta["id"], strict=True))
    if not kinds:
        return Distances(np.zeros(0), np.zeros(0), np.zeros(0, dtype=object), np.zeros(0, dtype=object))
    return Distances(np.concatenate(d_ap).astype(np.float64), np.concatenate(d_an).astype(np.float64),
                     np.asarray(kinds, dtype=object), np.asarray(groups, dtype=object))


def _auc(y: np.ndarray, s: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s)) if len(np.unique(y)) == 2 else None


def _best_threshold(y: np.ndarray, s: np.ndarray) -> float:
    """The max-accuracy threshold of pairs ``(y, s)``; ties go to the smallest candidate."""
    u = np.unique(s)
    cands = np.concatenate([[u[0] - 1e-6], (u[:-1] + u[1:]) / 2, [u[-1] + 1e-6]])
    neg, pos = np.sort(s[y == 1]), np.sort(s[y == 0])
    # correct(t) = negatives above t + positives at or below t, for every candidate at once.
    correct = (len(neg) - np.searchsorted(neg, cands, side="right")) + np.searchsorted(pos, cands, side="right")
    return float(cands[int(np.argmax(correct))])


def pick_threshold(d: Distances) -> float:
    """The distance threshold that maximises pair accuracy (``distance > t`` = defect).

    Candidates are midpoints between consecutive sorted scores (plus both ends); ties go to
    the smallest threshold, so the choice is deterministic.
    """
    y, s = d.pairs()
    if len(s) == 0:
        return 0.0
    return _best_threshold(y, s)


#: Below this many calibration pairs the threshold is flagged as unreliable.
MIN_CALIBRATION_PAIRS = 100


def _resample(groups: np.ndarray, rng: np.random.Generator, n_boot: int) -> list[np.ndarray]:
    """``n_boot`` cluster-bootstrap index sets: draw groups with replacement, keep all their pairs."""
    uniq, inv = np.unique(groups.astype(str), return_inverse=True)
    members = [np.flatnonzero(inv == k) for k in range(len(uniq))]
    out = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(uniq), len(uniq))
        out.append(np.concatenate([members[k] for k in pick]))
    return out


def calibration_triplets(params: Params, val: pd.DataFrame) -> pd.DataFrame:
    """The val triplets a threshold is calibrated on: a seeded subset of ``train.max_val_triplets``.

    The train stage calibrates on these, and evaluate on the same ones for a model without a threshold.
    """
    n = len(val)
    val = seeded_subset(val, params.train.max_val_triplets, make_rng(params.base.seed, "train", "val-subset"))
    if len(val) < n:
        log.info("train.max_val_triplets=%d: calibrating on %d of %d val triplets",
                 params.train.max_val_triplets, len(val), n)
    return val


def calibrate(d: Distances, split: str, rng: np.random.Generator, resamples: int = 200,
              level: float = 0.95, ndigits: int = 6) -> dict[str, Any]:
    """Pick the decision threshold on ``d`` (a held-out split) and say how sure it is.

    The threshold is the median of the max-accuracy thresholds of ``resamples`` cluster
    bootstrap resamples of the pairs (bagging): one argmax over a hundred pairs jumps
    between plateaus from seed to seed, the median of many does much less. With
    ``resamples=0`` it is the plain max-accuracy threshold (:func:`pick_threshold`).

    Returns:
        ``{"threshold", "threshold_ci": {"low", "high"}, "split", "n_triplets", "n_pairs",
        "method", "resamples", "level", "enough_pairs"}``, stored in ``model.pt``.
    """
    y, s = d.pairs()
    r = lambda v: round(float(v), ndigits)  # noqa: E731
    out: dict[str, Any] = {"split": split, "n_triplets": len(d), "n_pairs": int(len(s)),
                           "enough_pairs": bool(len(s) >= MIN_CALIBRATION_PAIRS)}
    if len(s) == 0:
        return {**out, "threshold": None, "threshold_ci": None, "method": "none", "resamples": 0,
                "level": level}
    single = _best_threshold(y, s)
    if resamples <= 0 or len(np.unique(y)) < 2:
        return {**out, "threshold": r(single), "threshold_ci": None, "method": "max_accuracy",
                "resamples": 0, "level": level}
    ts = []
    for idx in _resample(d.pair_groups(), rng, resamples):
        if len(np.unique(y[idx])) == 2:
            ts.append(_best_threshold(y[idx], s[idx]))
    ts_a = np.asarray(ts) if ts else np.asarray([single])
    lo, hi = np.quantile(ts_a, [(1 - level) / 2, (1 + level) / 2])
    return {**out, "threshold": r(np.median(ts_a)), "threshold_ci": {"low": r(lo), "high": r(hi)},
            "method": "bagged_max_accuracy", "resamples": int(resamples), "level": level}


def bootstrap_ci(
    y: np.ndarray,
    s: np.ndarray,
    threshold: float,
    groups: np.ndarray,
    rng: np.random.Generator,
    resamples: int = 1000,
    level: float = 0.95,
    ndigits: int = 6,
) -> dict[str, dict[str, float] | None]:
    """Percentile bootstrap intervals of ROC-AUC and accuracy (at a fixed ``threshold``).

    Pairs are resampled by ``groups`` (anchor ids): pairs sharing an anchor move together,
    so the interval is not narrowed by counting one anchor's pairs as independent.
    The interval is ``None`` when undefined (no pairs, one label only, ``resamples`` 0).
    """
    from sklearn.metrics import roc_auc_score

    if resamples <= 0 or len(s) == 0:
        return {"roc_auc": None, "accuracy": None}
    aucs, accs = [], []
    for idx in _resample(groups, rng, resamples):
        yy, ss = y[idx], s[idx]
        accs.append(float(np.mean((ss > threshold) == (yy == 1))))
        if len(np.unique(yy)) == 2:
            aucs.append(float(roc_auc_score(yy, ss)))
    q = [(1 - level) / 2, (1 + level) / 2]

    def interval(v: list[float]) -> dict[str, float] | None:
        if not v:
            return None
        lo, hi = np.quantile(np.asarray(v), q)
        return {"low": round(float(lo), ndigits), "high": round(float(hi), ndigits)}

    return {"roc_auc": interval(aucs), "accuracy": interval(accs)}


def _confusion(y: np.ndarray, s: np.ndarray, threshold: float) -> dict[str, int]:
    pred = s > threshold
    return {
        "tn": int(np.sum(~pred & (y == 0))),
        "fp": int(np.sum(pred & (y == 0))),
        "fn": int(np.sum(~pred & (y == 1))),
        "tp": int(np.sum(pred & (y == 1))),
    }


def confusion(d: Distances, threshold: float) -> dict[str, int]:
    """Counts of a ``distance > threshold`` = defect decision: tn, fp, fn, tp."""
    return _confusion(*d.pairs(), threshold)


def pair_metrics(y: np.ndarray, s: np.ndarray, threshold: float, ndigits: int = 6) -> dict[str, Any]:
    """ROC-AUC, PR-AUC (average precision), accuracy and confusion of any labelled pair set.

    ``y`` is 1 for a defect pair, ``s`` the distance (higher = more different). Undefined
    values (one label only, no pairs) are ``None``; floats are rounded to ``ndigits``.
    """
    from sklearn.metrics import average_precision_score

    r = lambda v: None if v is None else round(float(v), ndigits)  # noqa: E731
    cm = _confusion(y, s, threshold)
    n_pairs = len(s)
    both = len(np.unique(y)) == 2
    return {
        "roc_auc": r(_auc(y, s)),
        "pr_auc": r(float(average_precision_score(y, s))) if both else None,
        "threshold": r(threshold),
        "accuracy": r((cm["tn"] + cm["tp"]) / n_pairs) if n_pairs else None,
        "confusion": cm,
        "n_pairs": n_pairs,
    }


def score(d: Distances, threshold: float, ndigits: int = 6) -> dict[str, Any]:
    """:func:`pair_metrics` of the triplets' pairs, plus per-kind AUC and triplet statistics.

    Per-kind AUC compares the anchor-positive and anchor-negative distances of the
    triplets whose negative is of that kind. An AUC that is undefined (one label only) is
    ``None``. Floats are rounded to ``ndigits`` so metrics.json bytes are stable.
    """
    y, s = d.pairs()
    r = lambda v: None if v is None else round(float(v), ndigits)  # noqa: E731
    per_kind: dict[str, float | None] = {}
    for kind in sorted(set(d.kinds.tolist())):
        m = d.kinds == kind
        per_kind[str(kind)] = r(_auc(*d.subset(m).pairs()))
    pm = pair_metrics(y, s, threshold, ndigits)
    return {
        "roc_auc": pm["roc_auc"],
        "pr_auc": pm["pr_auc"],
        "per_defect_auc": per_kind,
        "threshold": pm["threshold"],
        "accuracy": pm["accuracy"],
        "confusion": pm["confusion"],
        "triplet_accuracy": r(float(np.mean(d.d_ap < d.d_an))) if len(d) else None,
        "mean_d_ap": r(float(np.mean(d.d_ap))) if len(d) else None,
        "mean_d_an": r(float(np.mean(d.d_an))) if len(d) else None,
        "n": len(d),
        "n_pairs": pm["n_pairs"],
        "n_per_kind": {str(k): int(np.sum(d.kinds == k)) for k in sorted(set(d.kinds.tolist()))},
    }


def per_kind_auc_by(d: Distances, groups: dict[str, np.ndarray], ndigits: int = 6) -> dict[str, dict[str, float | None]]:
    """Per-kind AUC (as :func:`score`'s ``per_defect_auc``) within each named subset of triplets.

    Example:
        >>> d = Distances(np.array([0.1, 0.6, 0.2]), np.array([0.5, 0.4, 0.9]), np.array(["a", "a", "b"]))
        >>> per_kind_auc_by(d, {"own": np.array([True, False, True]), "other": np.array([False, True, False])})
        {'own': {'a': 1.0, 'b': 1.0}, 'other': {'a': 0.0}}
    """
    out: dict[str, dict[str, float | None]] = {}
    for name, m in groups.items():
        sub = d.subset(m)
        aucs = {str(k): _auc(*sub.subset(sub.kinds == k).pairs()) for k in sorted(set(sub.kinds.tolist()))}
        out[name] = {k: None if v is None else round(float(v), ndigits) for k, v in aucs.items()}
    return out


def auc_by_group(d: Distances, held: np.ndarray, ndigits: int = 6) -> dict[str, float | None]:
    """ROC-AUC of the triplets whose anchor class was seen in training and of those held out.

    Args:
        d: Distances of the evaluated triplets.
        held: Per triplet, whether its anchor class was held out of training (unseen).

    Example:
        >>> d = Distances(np.array([0.1, 0.2, 0.9]), np.array([0.8, 0.9, 0.5]), np.array(["a", "a", "a"]))
        >>> auc_by_group(d, np.array([False, True, True]))
        {'seen': 1.0, 'unseen': 0.625}
    """
    out: dict[str, float | None] = {}
    for name, m in (("seen", ~held), ("unseen", held)):
        auc = _auc(*d.subset(m).pairs()) if m.any() else None
        out[name] = None if auc is None else round(auc, ndigits)
    return out


def roc_csv(d: Distances, ndigits: int = 6) -> str:
    """``fpr,tpr`` rows of the ROC curve (for ``dvc plots``)."""
    from sklearn.metrics import roc_curve

    y, s = d.pairs()
    lines = ["fpr,tpr"]
    if len(np.unique(y)) == 2:
        fpr, tpr, _ = roc_curve(y, s)
        lines += [f"{f:.{ndigits}f},{t:.{ndigits}f}" for f, t in zip(fpr, tpr, strict=True)]
    return "\n".join(lines) + "\n"


def _figure_png(fig: Any) -> bytes:
    buf = io.BytesIO()
    # No Software/Date metadata: same numbers, same PNG bytes.
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def write_figures(d: Distances, threshold: float, out_dir: str | os.PathLike[str], title: str = "") -> list[Path]:
    """Write roc.png, pr.png, distances.png and confusion.png into ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    out = Path(out_dir)
    y, s = d.pairs()
    both = len(np.unique(y)) == 2
    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        written.append(write_bytes(out / name, _figure_png(fig)))
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    if both:
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, label=f"model (AUC {_auc(y, s):.3f})")
    ax.plot([0, 1], [0, 1], "--", color="gray", label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC {title}".strip())
    ax.legend(loc="lower right")
    save(fig, "roc.png")

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    if both:
        prec, rec, _ = precision_recall_curve(y, s)
        ax.plot(rec, prec)
    ax.set(xlabel="recall", ylabel="precision", ylim=(0, 1.05), title=f"Precision-recall {title}".strip())
    save(fig, "pr.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(0, max(float(s.max()) * 1.05, threshold * 1.1, 1e-3) if len(s) else 2.0, 31)
    ax.hist(d.d_ap, bins=bins, alpha=0.6, label="anchor-positive")
    ax.hist(d.d_an, bins=bins, alpha=0.6, label="anchor-negative")
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.3f}")
    ax.set(xlabel="embedding distance", ylabel="pairs", title=f"Distances {title}".strip())
    ax.legend()
    save(fig, "distances.png")

    cm = confusion(d, threshold)
    mat = np.array([[cm["tn"], cm["fp"]], [cm["fn"], cm["tp"]]])
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(mat, cmap="Blues")
    for (i, j), v in np.ndenumerate(mat):
        ax.text(j, i, str(v), ha="center", va="center", color="white" if v > mat.max() / 2 else "black")
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["good", "defect"], yticklabels=["good", "defect"],
           xlabel="predicted", ylabel="true", title=f"Confusion @ {threshold:.3f}")
    save(fig, "confusion.png")
    return written



def write_loss_figure(train_json: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path | None:
    """Plot the per-epoch training loss recorded in ``train.json`` as a PNG (``None`` if absent).

    An image plot renders in ``dvc plots show`` without any charting script.
    """
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    src = Path(train_json)
    if not src.is_file():
        return None
    epochs = json.loads(src.read_text()).get("epochs") or []
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot([e["epoch"] for e in epochs], [e["loss"] for e in epochs], marker="o")
    ax.set(xlabel="epoch", ylabel="triplet loss (train)", title="Training loss")
    fig.tight_layout()
    path = write_bytes(Path(out), _figure_png(fig))
    plt.close(fig)
    return path
