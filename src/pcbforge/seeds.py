"""Train and evaluate with several seeds on the same triplets; write per-seed metrics and their spread.

``python -m pcbforge.seeds 5`` (after ``dvc repro triplets``) runs the train and evaluate
stages once per training seed ``base.seed, base.seed + 1, ...`` on the same dataset (the
upstream stages are not re-run, so only the training's own randomness varies: weight
initialisation, batch order and the threshold's calibration resamples; real pairs and bootstrap
resamples follow ``evaluate.seed``, the same for every seed). It writes
``<evaluate.out>/seeds/<seed>/`` (each seed's metrics.json, ROC data and figures) and
``<evaluate.out>/seeds/seeds.json``: the per-seed headline metrics, their mean and their
spread (max - min). The models go to a temporary folder and are deleted.

Seeds can run in several processes or on several machines (``--seeds 1 2`` in one,
``--seeds 3 4`` in another); ``python -m pcbforge.seeds --collect`` then summarises every
seed folder under ``<evaluate.out>/seeds/`` into one ``seeds.json``.

On CPU the same seed gives the same metrics, byte for byte (tests check it); the spread
is therefore what a different seed alone does to the result.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pcbforge.config import DEFAULT_PARAMS, Params, load_params
from pcbforge.errors import PcbforgeError
from pcbforge.io import write_json

#: The metrics.json keys summarised across seeds (``real_*``: the real-pair section's
#: unseen-class ROC-AUC of the trained model and of its untrained backbone).
KEYS = ("roc_auc", "roc_auc_unseen", "roc_auc_seen", "real_unseen_model", "real_unseen_backbone",
        "pr_auc", "accuracy", "triplet_accuracy", "threshold")


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The per-seed record of one ``metrics.json``: :data:`KEYS` and the intervals.

    Example:
        >>> headline({"roc_auc": 0.9, "real": {"model": {"unseen": 0.8}, "backbone": {"unseen": 0.7}}})["real_unseen_model"]
        0.8
    """
    real = metrics.get("real") or {}
    flat = {**metrics, "real_unseen_model": (real.get("model") or {}).get("unseen"),
            "real_unseen_backbone": (real.get("backbone") or {}).get("unseen")}
    return {k: flat.get(k) for k in (*KEYS, "roc_auc_ci", "accuracy_ci", "n", "n_threshold_pairs")}


def seed_params(params: Params, seed: int, model_dir: Path, out_dir: Path) -> Params:
    """``params`` with ``base.seed`` = ``seed`` and train/evaluate writing to the given folders."""
    return params.model_copy(update={
        "base": params.base.model_copy(update={"seed": seed}),
        "train": params.train.model_copy(update={"out": model_dir}),
        "evaluate": params.evaluate.model_copy(update={"out": out_dir}),
    })


def summarise(per_seed: dict[int, dict[str, Any]], ndigits: int = 6) -> dict[str, Any]:
    """Mean, min, max and spread (max - min) of each of :data:`KEYS` over the seeds.

    Example:
        >>> summarise({1: {"roc_auc": 0.9}, 2: {"roc_auc": 0.93}})["spread"]["roc_auc"]
        0.03
    """
    out: dict[str, Any] = {"mean": {}, "min": {}, "max": {}, "spread": {}}
    for key in KEYS:
        vals = [m[key] for m in per_seed.values() if m.get(key) is not None]
        if not vals:
            continue
        out["mean"][key] = round(sum(vals) / len(vals), ndigits)
        out["min"][key] = round(min(vals), ndigits)
        out["max"][key] = round(max(vals), ndigits)
        out["spread"][key] = round(max(vals) - min(vals), ndigits)
    return out


def run_seeds(params: Params, seeds: Sequence[int], progress: bool = True) -> Path:
    """Train + evaluate once per seed; return the path of ``seeds.json``."""
    from pcbforge.pipelines import evaluate, train

    if len(set(seeds)) != len(seeds) or not seeds:
        raise ValueError(f"seeds must be distinct and not empty, got {list(seeds)}")
    root = params.path(params.evaluate.out) / "seeds"
    per_seed: dict[int, dict[str, Any]] = {}
    split = None
    with tempfile.TemporaryDirectory(prefix="pcbforge-seeds-") as tmp:
        for seed in seeds:
            p = seed_params(params, seed, Path(tmp) / str(seed), root / str(seed))
            t0 = time.perf_counter()
            train.run(p, progress=progress)
            evaluate.run(p, progress=progress)
            m = json.loads((p.path(p.evaluate.out) / "metrics.json").read_text())
            split = m.get("split")
            per_seed[seed] = headline(m)
            print(f"seed {seed}: ROC-AUC {m.get('roc_auc')}, accuracy {m.get('accuracy')} "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return _write_summary(root, per_seed, split)


def _write_summary(root: Path, per_seed: dict[int, dict[str, Any]], split: str | None) -> Path:
    summary = {"seeds": sorted(per_seed), "split": split,
               "per_seed": {str(s): per_seed[s] for s in sorted(per_seed)}, **summarise(per_seed)}
    return write_json(root / "seeds.json", summary)


def collect(params: Params) -> Path:
    """Summarise every ``<evaluate.out>/seeds/<seed>/metrics.json`` present into ``seeds.json``.

    For seeds run in several processes or on several machines (``--seeds`` each), whose
    folders were gathered into one ``seeds/`` folder.

    Raises:
        PcbforgeError: no per-seed metrics, or seeds evaluated on different splits.
    """
    root = params.path(params.evaluate.out) / "seeds"
    found = sorted(p for p in root.glob("*/metrics.json") if p.parent.name.lstrip("-").isdigit())
    if not found:
        raise PcbforgeError(f"{root}: no <seed>/metrics.json to collect; run `python -m pcbforge.seeds` first")
    metrics = {int(p.parent.name): json.loads(p.read_text()) for p in found}
    splits = {m.get("split") for m in metrics.values()}
    if len(splits) != 1:
        raise PcbforgeError(f"{root}: the seeds were evaluated on different splits {sorted(map(str, splits))}")
    return _write_summary(root, {s: headline(m) for s, m in metrics.items()}, splits.pop())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pcbforge.seeds", description=__doc__.split("\n\n")[0])
    ap.add_argument("n", type=int, nargs="?", default=5, help="number of seeds: base.seed, base.seed+1, ... (5)")
    ap.add_argument("--seeds", type=int, nargs="+", help="explicit seeds instead of n")
    ap.add_argument("-p", "--params", type=Path, default=Path(DEFAULT_PARAMS), help="params.yaml")
    ap.add_argument("--collect", action="store_true",
                    help="train nothing: summarise every seed folder already under <evaluate.out>/seeds")
    args = ap.parse_args(argv)
    try:
        params = load_params(args.params)
        seeds = args.seeds or [params.base.seed + i for i in range(args.n)]
        path = collect(params) if args.collect else run_seeds(params, seeds)
    except PcbforgeError as exc:
        print(f"pcbforge seeds: error: {exc}", file=sys.stderr)
        return 2
    s = json.loads(path.read_text())
    seeds = s["seeds"]
    print(f"{len(seeds)} seeds on '{s['split']}': ROC-AUC mean {s['mean'].get('roc_auc')}, spread "
          f"{s['spread'].get('roc_auc')} (unseen classes: spread {s['spread'].get('roc_auc_unseen')}); accuracy spread {s['spread'].get('accuracy')}; in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
