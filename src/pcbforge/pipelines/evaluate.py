"""DVC stage ``evaluate``: score the trained model on held-out triplets.

Reads ``<train.out>/model.pt`` and ``<triplets.out>``; writes into ``<evaluate.out>``:
``metrics.json`` (roc_auc, pr_auc, per_defect_auc, threshold, accuracy, n, ...),
``plots/roc.csv`` (``fpr,tpr`` for ``dvc plots``) and ``figures/{roc,pr,distances,
confusion}.png``. The decision threshold is picked on the val split and applied to the
evaluated split, so the reported accuracy is not tuned on the data it is measured on.
"""

from __future__ import annotations

import logging
from typing import Any

from pcbforge.datasets.manifest import MANIFEST_NAMES
from pcbforge.config import Params
from pcbforge.datasets.loaders import TripletDataset, load_triplets
from pcbforge.errors import InputError
from pcbforge.io import staged_dir, write_json, write_text
from pcbforge.train.evaluate import pick_threshold, roc_csv, score, triplet_distances, write_figures
from pcbforge.train.loop import reproducible, resolve_device, resolve_threads
from pcbforge.train.model import load_model
from pcbforge.vocab import Split

log = logging.getLogger(__name__)


def run(params: Params, progress: bool = True, **_options: Any) -> str:
    """Evaluate ``model.pt`` on ``evaluate.split`` (falling back to val if it is empty)."""
    ep = params.evaluate
    src = params.path(params.triplets.out)
    out = params.path(ep.out)
    model_path = params.path(params.train.out) / "model.pt"
    frame = load_triplets(src)
    notes: list[str] = []

    split = ep.split.value
    eval_frame = frame[frame["split"] == split]
    if eval_frame.empty and split != Split.VAL.value:
        notes.append(f"split '{split}' has no usable triplets; evaluated on 'val' instead")
        log.warning("evaluate: %s", notes[-1])
        split = Split.VAL.value
        eval_frame = frame[frame["split"] == split]
    if eval_frame.empty:
        raise InputError(
            f"{src / MANIFEST_NAMES['triplets']} has no usable triplets in split '{ep.split.value}' nor 'val'; "
            "check split.val_classes/test_classes and re-run `pcbforge split` and `pcbforge triplets`"
        )
    val_frame = frame[frame["split"] == Split.VAL.value]
    threshold_split = Split.VAL.value
    if val_frame.empty:
        threshold_split = split
        notes.append(f"split 'val' is empty; threshold picked on '{split}' itself (optimistic accuracy)")
        log.warning("evaluate: %s", notes[-1])

    device = resolve_device(params.train.device)
    threads = resolve_threads(params.train.threads)
    with reproducible(params.base.seed, threads, device):
        model, config = load_model(model_path, device)

        def distances(df: Any) -> Any:
            df = df.reset_index(drop=True)
            df.attrs["root"] = frame.attrs["root"]
            ds = TripletDataset(df, input_size=config["input_size"], mean=config["mean"], std=config["std"])
            return triplet_distances(model, ds, device, batch_size=params.train.batch_size, progress=progress)

        d_eval = distances(eval_frame)
        d_thr = d_eval if threshold_split == split else distances(val_frame)
    threshold = pick_threshold(d_thr)
    metrics = score(d_eval, threshold)
    metrics.update({
        "split": split,
        "requested_split": ep.split.value,
        "threshold_split": threshold_split,
        "n_threshold": len(d_thr),
        "backbone": config["backbone"],
        "notes": notes,
    })

    write_json(out / "metrics.json", metrics)
    write_text(out / "plots" / "roc.csv", roc_csv(d_eval))
    with staged_dir(out / "figures") as figs:
        write_figures(d_eval, threshold, figs, title=f"({split}, n={len(d_eval)})")

    auc = metrics["roc_auc"]
    auc_s = "n/a" if auc is None else f"{auc:.3f}"
    return (
        f"{split} split, {len(d_eval)} triplets: ROC-AUC {auc_s}, accuracy {metrics['accuracy']:.3f} at "
        f"threshold {threshold:.3f} (picked on {threshold_split}); metrics in {out / 'metrics.json'}"
    )
