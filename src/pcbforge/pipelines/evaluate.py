"""DVC stage ``evaluate``: score the trained model on held-out triplets.

Reads ``<train.out>/model.pt`` and ``<triplets.out>``; writes into ``<evaluate.out>``:
``metrics.json`` (roc_auc, pr_auc, per_defect_auc, threshold, accuracy, n, bootstrap
95 % intervals, ...), ``plots/roc.csv`` (``fpr,tpr`` for ``dvc plots``) and
``figures/{roc,pr,distances,confusion,loss}.png``. The decision threshold is the one the
train stage calibrated on the val split and stored in ``model.pt``, applied to the
evaluated split, so the reported accuracy is not tuned on the data it is measured on.

``unseen_share`` says which share of the evaluated triplets is of classes held out of
training. With ``evaluate.real_sources``, ``real`` scores pairs of real val/test crops of
those crop sources (:mod:`pcbforge.train.realpairs`) with the trained model and with the
untrained backbone it started from, side by side; its headline is the unseen-class AUC.

Metrics come from functions of (labels, distances) pairs (:func:`_pair_set_metrics`), so a
second pair set is scored by one more call.
"""

from __future__ import annotations

import logging
from typing import Any

from pcbforge.datasets.manifest import MANIFEST_NAMES, manifest_path, read_manifest
from pcbforge.config import Params
from pcbforge.datasets.loaders import TripletDataset, load_triplets, seeded_subset
from pcbforge.errors import InputError
from pcbforge.io import staged_dir, write_json, write_text
from pcbforge.rng import make_rng
from pcbforge.train.evaluate import (
    Distances,
    auc_by_group,
    bootstrap_ci,
    calibrate,
    calibration_triplets,
    per_kind_auc_by,
    roc_csv,
    score,
    triplet_distances,
    write_figures,
    write_loss_figure,
)
from pcbforge.train.loop import reproducible, resolve_device, resolve_threads
from pcbforge.train.model import read_model
from pcbforge.train.realpairs import evaluate_real, select_real
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
    n_split = len(eval_frame)
    eval_frame = seeded_subset(eval_frame, ep.max_triplets, make_rng(ep.seed, "evaluate", "subset"))
    if len(eval_frame) < n_split:
        notes.append(f"evaluate.max_triplets={ep.max_triplets}: scored a seeded subset of {len(eval_frame)} "
                     f"of the split's {n_split} triplets")
        log.info("evaluate: %s", notes[-1])
    val_frame = calibration_triplets(params, frame[frame["split"] == Split.VAL.value])

    device = resolve_device(params.train.device)
    threads = resolve_threads(params.train.threads)
    with reproducible(params.base.seed, threads, device):
        loaded = read_model(model_path, device)
        model, config = loaded.model, loaded.config

        def distances(df: Any) -> Any:
            df = df.reset_index(drop=True)
            df.attrs["root"] = frame.attrs["root"]
            ds = TripletDataset(df, input_size=config["input_size"], mean=config["mean"], std=config["std"])
            return triplet_distances(model, ds, device, batch_size=params.train.batch_size, progress=progress)

        d_eval = distances(eval_frame)
        calibration = loaded.calibration
        if calibration is None or calibration.get("threshold") is None:
            # A model written before thresholds were stored, or trained without a val split.
            thr_split, thr_frame = Split.VAL.value, val_frame
            if val_frame.empty:
                thr_split, thr_frame = split, eval_frame
                notes.append(f"split 'val' is empty; threshold picked on '{split}' itself (optimistic accuracy)")
                log.warning("evaluate: %s", notes[-1])
            d_thr = d_eval if thr_frame is eval_frame else distances(thr_frame)
            calibration = calibrate(d_thr, thr_split, make_rng(params.base.seed, "train", "calibrate"))
            notes.append(f"model.pt carries no threshold; calibrated here on '{thr_split}'")
        elif calibration["split"] == split:
            notes.append(f"threshold calibrated on '{split}' itself (optimistic accuracy)")
        real = _real_section(params, model, config, device) if params.real_source_names() else None
    metrics = _pair_set_metrics(d_eval, calibration, params)
    held = set(params.split.val_classes) | set(params.split.test_classes)
    by_seen = auc_by_group(d_eval, eval_frame["class_label"].isin(held).to_numpy())
    # A positive from another part of the class (positive_params' instance_id) against one of
    # the anchor itself: instance variation is most of what the harder half has to see past.
    other = eval_frame["positive_params"].fillna("").str.contains('"instance_id"', regex=False).to_numpy()
    by_positive = per_kind_auc_by(d_eval, {"same_part": ~other, "other_instance": other})
    metrics.update({
        "split": split,
        "requested_split": ep.split.value,
        "threshold_split": calibration["split"],
        "n_threshold": calibration["n_triplets"],
        "n_threshold_pairs": calibration["n_pairs"],
        "threshold_ci": calibration.get("threshold_ci"),
        "backbone": config["backbone"],
        "n_split": n_split,
        "unseen_share": _unseen_share(eval_frame, params),
        "roc_auc_unseen": by_seen["unseen"],
        "roc_auc_seen": by_seen["seen"],
        "per_defect_auc_by_positive": by_positive,
        "notes": notes,
    })
    if real is not None:
        metrics["real"] = real
    threshold = float(calibration["threshold"])

    write_json(out / "metrics.json", metrics)
    write_text(out / "plots" / "roc.csv", roc_csv(d_eval))
    with staged_dir(out / "figures") as figs:
        write_figures(d_eval, threshold, figs, title=f"({split}, n={len(d_eval)})")
        write_loss_figure(params.path(params.train.out) / "train.json", figs / "loss.png")

    auc = metrics["roc_auc"]
    auc_s = "n/a" if auc is None else f"{auc:.3f}{_ci_text(metrics['roc_auc_ci'])}"
    return (
        f"{split} split, {len(d_eval)} triplets: ROC-AUC {auc_s}, accuracy {metrics['accuracy']:.3f}"
        f"{_ci_text(metrics['accuracy_ci'])} at threshold {threshold:.3f} (calibrated on "
        f"{calibration['n_pairs']} {calibration['split']} pairs); {metrics['unseen_share']:.0%} of its triplets are "
        f"of unseen classes (ROC-AUC {_f3(by_seen['unseen'])} on those, {_f3(by_seen['seen'])} on seen classes)"
        f"{_real_text(real)}; metrics in {out / 'metrics.json'}"
    )


def _unseen_share(frame: Any, params: Params) -> float:
    """Share of ``frame``'s triplets whose anchor class was held out of training."""
    held = set(params.split.val_classes) | set(params.split.test_classes)
    return round(float(frame["class_label"].isin(held).mean()), 4) if len(frame) else 0.0


def _real_section(params: Params, model: Any, config: dict[str, Any], device: Any) -> dict[str, Any]:
    """metrics.json ``real``: real val/test crops of ``evaluate.real_sources``, model vs untrained backbone."""
    comps = read_manifest(manifest_path(params, "crop"), "crop",
                          require=("id", "class_label", "origin", "parent_id", "crop_path", "status"))
    split = read_manifest(manifest_path(params, "split"), "split", require=("id", "split", "status"))
    crops = select_real(comps, split, params.real_source_names())
    unseen = [*params.split.val_classes, *params.split.test_classes]
    return evaluate_real(crops, params.path(params.crop.out), model, config, params.evaluate.seed, unseen,
                         params.evaluate.real_per_class, device, batch_size=params.train.batch_size,
                         init_seed=params.base.seed)  # fmt: skip


def _real_text(real: dict[str, Any] | None) -> str:
    """The summary's real-pair part: unseen-class AUC (the headline), model vs backbone."""
    if real is None:
        return ""
    f = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    m, b = real.get("model", {}), real.get("backbone", {})
    return (f"; real pairs ({real['n_pairs']}) unseen-class ROC-AUC {f(m.get('unseen'))} model vs "
            f"{f(b.get('unseen'))} untrained backbone (seen classes {f(m.get('seen'))} vs {f(b.get('seen'))})")


def _f3(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _ci_text(ci: dict[str, float] | None) -> str:
    return "" if ci is None else f" [{ci['low']:.3f}, {ci['high']:.3f}]"


def _pair_set_metrics(d: Distances, calibration: dict[str, Any], params: Params) -> dict[str, Any]:
    """Metrics of one pair set at the calibrated threshold, with seeded bootstrap intervals."""
    ep = params.evaluate
    threshold = float(calibration["threshold"])
    metrics = score(d, threshold)
    y, s = d.pairs()
    ci = bootstrap_ci(y, s, threshold, d.pair_groups(), make_rng(params.evaluate.seed, "evaluate", "bootstrap"),
                      resamples=ep.bootstrap, level=ep.ci_level)
    metrics["roc_auc_ci"] = ci["roc_auc"]
    metrics["accuracy_ci"] = ci["accuracy"]
    metrics["bootstrap"] = {"resamples": ep.bootstrap, "level": ep.ci_level, "unit": "anchor"}
    return metrics
