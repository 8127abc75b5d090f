"""DVC stage ``train``: fit the Siamese embedding net on the train-split triplets.

Reads ``<triplets.out>/triplets.parquet`` (+ images), writes into ``<train.out>``:
``model.pt`` (weights + the config to rebuild them + the decision threshold calibrated
on the val split, see :func:`pcbforge.train.model.read_model`), ``train.json`` (per-epoch loss,
device, triplet count) and ``dvclive/`` (per-epoch metrics for ``dvc exp show`` /
``dvc plots``). The directory is swapped in whole at the end.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pcbforge.config import Params
from pcbforge.datasets.loaders import TripletDataset, load_triplets, seeded_subset
from pcbforge.errors import InputError
from pcbforge.io import staged_dir, write_bytes, write_json
from pcbforge.rng import make_rng
from pcbforge.train.evaluate import calibrate, calibration_triplets, triplet_distances
from pcbforge.train.loop import backbone_settings, reproducible, train_siamese
from pcbforge.train.model import model_bytes
from pcbforge.vocab import Split

log = logging.getLogger(__name__)


def run(params: Params, progress: bool = True, **_options: Any) -> str:
    """Train on ``split == train`` triplets and write ``model.pt``, ``train.json`` and dvclive logs."""
    tp = params.train
    src = params.path(params.triplets.out)
    out = params.path(tp.out)
    frame = load_triplets(src, split=Split.TRAIN.value)
    n_all = len(frame)
    if n_all < 2:
        raise InputError(
            f"{src / 'triplets.parquet'} has {n_all} usable train triplets (status ok, split train); "
            "need at least 2: check split.val_classes/test_classes and the triplets stage"
        )
    frame = seeded_subset(frame, tp.max_triplets, make_rng(params.base.seed, "train", "subset"))
    if len(frame) < n_all:
        log.info("train.max_triplets=%d: using %d of %d train triplets", tp.max_triplets, len(frame), n_all)

    # Decoding every PNG again each epoch dominates on a GPU; keep tensors when they fit. A frozen
    # pretrained backbone reads each image once (its features are kept instead): nothing to cache.
    frozen = backbone_settings(tp)[0] == 0
    cache = not frozen and len(frame) * 3 * 3 * tp.input_size**2 * 4 <= tp.cache_mb << 20
    dataset = TripletDataset(frame, input_size=tp.input_size, cache=cache)
    t0 = time.perf_counter()
    with staged_dir(out) as tmp:
        result = train_siamese(dataset, tp, params.base.seed, live_dir=tmp / "dvclive", progress=progress)
        seconds = time.perf_counter() - t0
        calibration = _calibrate(params, result, progress)
        write_bytes(tmp / "model.pt", model_bytes(result.model, result.config, calibration))
        kinds = frame["negative_kind"].value_counts().sort_index()
        write_json(tmp / "train.json", {
            "backbone": result.config["backbone"],
            "pretrained": result.config["pretrained"],
            "device": result.device,
            "threads": result.threads,
            "n_triplets": len(frame),
            "n_train_available": n_all,
            "negative_kinds": {str(k): int(v) for k, v in kinds.items()},
            # Wall-clock seconds go to the log, not here: this file is a DVC output and must be
            # byte-identical for the same inputs and seed.
            "epochs": [{k: v for k, v in row.items() if k != "seconds"} for row in result.epochs],
            "final_loss": result.epochs[-1]["loss"],
            "calibration": calibration,
            "seed": params.base.seed,
        })
    first, last = result.epochs[0]["loss"], result.epochs[-1]["loss"]
    cal = (f"threshold {calibration['threshold']:.3f} calibrated on {calibration['n_pairs']} val pairs"
           if calibration else "no val triplets: model.pt carries no threshold")
    what = "head only, frozen backbone" if frozen else "whole network"
    return (
        f"{result.config['backbone']} ({what}) on {len(frame)} triplets, {tp.epochs} epoch(s) on {result.device} "
        f"in {seconds:.1f} s, loss {first:.4f} -> {last:.4f}; {cal}; model in {out / 'model.pt'}"
    )


def _calibrate(params: Params, result: Any, progress: bool) -> dict[str, Any] | None:
    """Pick the decision threshold on the val split (unseen classes), to store in ``model.pt``.

    ``None`` when val has no usable triplets: the model then carries no threshold, and
    ``pcbforge inspect`` asks for ``--threshold``.
    """
    tp = params.train
    val = calibration_triplets(params, load_triplets(params.path(params.triplets.out), split=Split.VAL.value))
    if val.empty:
        log.warning("train: split 'val' has no usable triplets; model.pt carries no decision threshold")
        return None
    ds = TripletDataset(val, input_size=tp.input_size, mean=result.config["mean"], std=result.config["std"])
    device = next(result.model.parameters()).device
    with reproducible(params.base.seed, result.threads, device):
        d = triplet_distances(result.model, ds, device, batch_size=tp.batch_size, progress=progress)
    cal = calibrate(d, Split.VAL.value, make_rng(params.base.seed, "train", "calibrate"))
    if not cal["enough_pairs"]:
        log.warning("train: threshold calibrated on only %d val pairs; it may move a lot between seeds",
                    cal["n_pairs"])
    return cal
