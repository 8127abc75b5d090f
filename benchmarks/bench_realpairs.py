"""Did training help on real parts? Real-pair ROC-AUC of a trained model against its untrained backbone.

Cuts every labelled box of a vendored real set (default ``realsets/olegofriendz-one-board``)
with the crop stage itself (a temporary project: the params' ``base`` and ``crop`` settings,
``crop.sources`` set to the real set, no web photos), builds real pairs
(:func:`pcbforge.train.realpairs.real_pairs`: two parts of one class, a crop under a capture
change, against crops of another class) and scores them by embedding distance with the
trained model and with the untrained backbone it started from
(:func:`~pcbforge.train.realpairs.starting_backbone`), as ``pcbforge evaluate`` does for
``evaluate.real_sources``.

Which classes are "unseen": by default every class of the set (a model trained only on the
built-in catalog never saw a real photo); ``--seen`` names classes (as the taxonomy maps the
set's names) the model trained on real crops of. All real crops are scored here, so for a model
trained on this very set (the demo with the real set configured) read the evaluate stage's
``reports/metrics.json`` ``real`` section instead: it keeps to val/test crops.

Prints both figures; records nothing. Figures of a run are kept in docs/realsets.md.

Usage:
    python benchmarks/bench_realpairs.py --model models/model.pt
    python benchmarks/bench_realpairs.py --model models/model.pt --per-class 40 --seen smd_capacitor
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from pcbforge.config import load_params  # noqa: E402
from pcbforge.datasets.manifest import manifest_path, ok_only, read_manifest  # noqa: E402
from pcbforge.pipelines import crop  # noqa: E402
from pcbforge.train.model import read_model  # noqa: E402
from pcbforge.train.realpairs import evaluate_real  # noqa: E402

#: The set's class names -> the taxonomy (as params.yaml maps them when the set is configured).
CLASS_MAP = {
    "chip-capacitor": "smd_capacitor",
    "chip-resistor": "smd_resistor",
    "diode": "smd_diode",
    "ic": "ic",
    "transistor": "smd_transistor",
}


def real_crops(params_path: Path, source: Path, work: Path) -> tuple[pd.DataFrame, Path]:
    """Crop ``source`` with the crop stage into ``work``; return (ok crops, crop.out)."""
    raw = yaml.safe_load(params_path.read_text())
    raw.setdefault("crop", {})
    taxonomy = raw.setdefault("classes", {}).setdefault("taxonomy", {})
    # Classes the params lack (before the set was configured) are added with the SMD facts.
    facts = {"smd_resistor": {"mount": "smd", "polarised": False, "symmetry": 180, "pads": 2},
             "ic": {"mount": "smd", "polarised": True, "symmetry": "none", "pads": 8}}  # fmt: skip
    for name, f in facts.items():
        taxonomy.setdefault(name, f)
    raw["crop"].update({
        "out": str(work / "crop"), "boards": None, "include_web": False,
        "sources": [{"path": str(source), "class_map": CLASS_MAP}],
    })  # fmt: skip
    raw.setdefault("evaluate", {})["real_sources"] = []
    p = work / "params.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    params = load_params(p)
    crop.run(params)
    comps = ok_only(read_manifest(manifest_path(params, "crop"), "crop"))
    comps["split"] = "test"
    return comps, params.path(params.crop.out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "model.pt")
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    ap.add_argument("--source", type=Path, default=ROOT / "realsets" / "olegofriendz-one-board")
    ap.add_argument("--per-class", type=int, default=40)
    ap.add_argument("--seen", nargs="*", default=[], help="taxonomy classes the model trained on real crops of")
    ap.add_argument("--seed", type=int, default=None, help="pair seed (default evaluate.seed)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    loaded = read_model(args.model, "cpu")
    with tempfile.TemporaryDirectory(prefix="bench-realpairs-") as tmp:
        t0 = time.perf_counter()
        comps, crop_out = real_crops(args.params, args.source, Path(tmp))
        t_crop = time.perf_counter() - t0
        params = load_params(args.params)
        seed = args.seed if args.seed is not None else params.evaluate.seed
        unseen = sorted(set(comps["class_label"]) - set(args.seen))
        t0 = time.perf_counter()
        real = evaluate_real(comps, crop_out, loaded.model, loaded.config, seed, unseen, args.per_class,
                             init_seed=params.base.seed)
        t_eval = time.perf_counter() - t0

    print(f"model: {args.model} ({loaded.config['backbone']}, input {loaded.config['input_size']} px)")
    print(f"real set: {args.source.name}: {real['n_crops']} crops {real['classes']}; {real['n_pairs']} pairs "
          f"(≤ {args.per_class} per kind and class); crop {t_crop:.0f} s, embed+score {t_eval:.0f} s")
    m, b = real["model"], real["backbone"]
    f = lambda v: "  n/a" if v is None else f"{v:.3f}"  # noqa: E731
    print(f"{'ROC-AUC':<28} {'model':>7} {'backbone':>9} {'diff':>7}")
    for scope in ("unseen", "seen"):
        for key in (scope, f"{scope}/same_class", f"{scope}/capture", f"{scope}/same_part"):
            mv, bv = m.get(key), b.get(key)
            if mv is None and bv is None:
                continue
            diff = "" if mv is None or bv is None else f"{mv - bv:+.3f}"
            label = f"{key} (headline)" if key == "unseen" else key
            print(f"{label:<28} {f(mv):>7} {f(bv):>9} {diff:>7}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
