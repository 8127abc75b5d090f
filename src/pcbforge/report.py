"""Print where a pipeline run left its results (``python -m pcbforge.report``), as `make demo` does.

It reads only the manifests and metrics the stages wrote; nothing is recomputed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from pcbforge.config import DEFAULT_PARAMS, Params, load_params
from pcbforge.datasets.manifest import MANIFEST_NAMES, manifest_path, shown_path
from pcbforge.errors import PcbforgeError


def _status_counts(path: Path) -> str:
    df = pd.read_parquet(path, columns=["status"])
    counts = df["status"].value_counts()
    return ", ".join(f"{counts[k]} {k}" for k in sorted(counts.index))


def _metric(m: dict, key: str) -> str:
    """``key=value``, with its bootstrap interval when metrics.json has one (``roc_auc_ci``)."""
    v = m[key]
    text = f"{key}={v:.3f}" if isinstance(v, float) else f"{key}={v}"
    ci = m.get(f"{key}_ci")
    return f"{text} [{ci['low']:.3f}, {ci['high']:.3f}]" if isinstance(ci, dict) else text


def summary_lines(params: Params) -> list[str]:
    """One line per stage output that exists: path and row counts by status, then the metrics."""
    lines = []
    for stage in MANIFEST_NAMES:
        path = manifest_path(params, stage)
        if path.is_file():
            lines.append(f"{stage:<9} {shown_path(path, params.root)}: {_status_counts(path)}")
        else:
            lines.append(f"{stage:<9} {shown_path(path, params.root)}: (missing)")
    model = params.path(params.train.out) / "model.pt"
    lines.append(f"{'train':<9} {shown_path(model, params.root)}: {'present' if model.is_file() else '(missing)'}")
    metrics_path = params.path(params.evaluate.out) / "metrics.json"
    if metrics_path.is_file():
        m = json.loads(metrics_path.read_text())
        keys = [k for k in ("roc_auc", "pr_auc", "accuracy", "threshold", "n") if k in m]
        shown = ", ".join(_metric(m, k) for k in keys)
        lines.append(f"{'evaluate':<9} {shown_path(metrics_path, params.root)}: {shown}")
    else:
        lines.append(f"{'evaluate':<9} {shown_path(metrics_path, params.root)}: (missing)")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Print the summary for params.yaml (or the path given as the only argument)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        params = load_params(args[0] if args else DEFAULT_PARAMS)
    except PcbforgeError as exc:
        print(f"pcbforge report: error: {exc}", file=sys.stderr)
        return 2
    print("pcbforge results:")
    for line in summary_lines(params):
        print(f"  {line}")
    print("Browse: `dvc metrics show`, `dvc plots show` (writes dvc_plots/index.html, no network needed), "
          "`pcbforge review --launch`; check a part: `pcbforge inspect REFERENCE SAMPLE`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
