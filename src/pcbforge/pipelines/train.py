"""DVC stage ``train``: fit the Siamese embedding net on the train-split triplets.

Reads ``<triplets.out>/triplets.parquet`` (+ images), writes into ``<train.out>``:
``model.pt`` (weights + the config to rebuild them, see
:func:`pcbforge.train.model.load_model`), ``train.json`` (per-epoch loss,
device, triplet count) and ``dvclive/`` (per-epoch metrics for ``dvc exp show`` /
``dvc plots``). The directory is swapped in whole at the end.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pcbforge.config import Params
from pcbforge.datasets.loaders import TripletDataset, load_triplets
from pcbforge.errors import InputError
from pcbforge.io import staged_dir, write_bytes, write_json
from pcbforge.rng import make_rng
from pcbforge.train.loop import train_siamese
from pcbforge.train.model import model_bytes
from pcbforge.vocab import Split

log = logging.getLogger(__name__)

#: Decoded training tensors are kept in memory up to this size.
CACHE_BYTES = 2 << 30


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
    if tp.max_triplets is not None and n_all > tp.max_triplets:
        rng = make_rng(params.base.seed, "train", "subset")
        keep = sorted(rng.choice(n_all, size=tp.max_triplets, replace=False).tolist())
        root = frame.attrs["root"]
        frame = frame.iloc[keep].reset_index(drop=True)
        frame.attrs["root"] = root
        log.info("train.max_triplets=%d: using %d of %d train triplets", tp.max_triplets, len(frame), n_all)

    # Decoding every PNG again each epoch dominates on a GPU; keep tensors when they fit.
    cache = len(frame) * 3 * 3 * tp.input_size**2 * 4 <= CACHE_BYTES
    dataset = TripletDataset(frame, input_size=tp.input_size, cache=cache)
    t0 = time.perf_counter()
    with staged_dir(out) as tmp:
        result = train_siamese(dataset, tp, params.base.seed, live_dir=tmp / "dvclive", progress=progress)
        seconds = time.perf_counter() - t0
        write_bytes(tmp / "model.pt", model_bytes(result.model, result.config))
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
            "seed": params.base.seed,
        })
    first, last = result.epochs[0]["loss"], result.epochs[-1]["loss"]
    return (
        f"{result.config['backbone']} on {len(frame)} triplets, {tp.epochs} epoch(s) on {result.device} "
        f"in {seconds:.1f} s, loss {first:.4f} -> {last:.4f}; model in {out / 'model.pt'}"
    )
