"""``pcbforge split``: ``<crop.out>/components.parquet`` -> ``<split.out>/split.parquet``.

Held-out classes go to val/test, boards and dup clusters are never split (rules in
:mod:`pcbforge.datasets.split`). The stage re-checks both guarantees on its own output
before swapping it in, so a violated guarantee is a crash, never a silent leak.
"""

from __future__ import annotations

import logging
from typing import Any

from tqdm import tqdm

from pcbforge.config import Params
from pcbforge.datasets import split as splitting
from pcbforge.datasets.manifest import MANIFEST_NAMES, manifest_path, read_manifest, write_manifest
from pcbforge.io import staged_dir

log = logging.getLogger(__name__)

MANIFEST = MANIFEST_NAMES["split"]


def run(params: Params, **options: Any) -> str:
    """Assign train/val/test to every ok component; return a one-line summary with counts."""
    cfg = params.split
    source = manifest_path(params, "crop")
    components = read_manifest(source, "crop", require=("id", "class_label", "group", "status", "error"))
    with tqdm(total=1, desc="split", unit="manifest", leave=False) as bar:
        df = splitting.assign(components, cfg, params.base.seed)
        bar.update()
    problems = splitting.check_split(df, cfg)
    if problems:  # a bug in the rules, not user input: refuse to write a leaking split
        raise RuntimeError(f"split guarantees violated: {'; '.join(problems)}")
    ok = df[df["status"] == "ok"]
    for cls in sorted(frozenset.union(*splitting.held_out(cfg))):
        if not (ok["class_label"] == cls).any():
            log.warning("held-out class %s has no ok components: it will not be evaluated", cls)
    cost, cost_groups = splitting.held_out_cost(df, cfg)
    if cost:
        log.info(
            "%d seen-class components on %d groups (boards / dup clusters) with a held-out class left train with "
            "their group (groups are never split)",
            cost,
            cost_groups,
        )
    out = params.path(cfg.out)
    with staged_dir(out) as tmp:
        write_manifest(df, tmp / MANIFEST, stage="split")
    n = splitting.counts(df)
    groups = ok.groupby("split")["group"].nunique()
    per = ", ".join(f"{s} {n[s]} ({int(groups.get(s, 0))} groups)" for s in n)
    not_ok = len(df) - len(ok)
    return f"{len(ok)} components: {per}; {not_ok} not ok (no split) -> {out / MANIFEST}"
