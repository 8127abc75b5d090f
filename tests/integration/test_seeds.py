"""Several training seeds on the same triplets: per-seed metrics, their spread, and same seed = same metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pcbforge.seeds import main, run_seeds
from tests.helpers.params import tiny_params
from tests.helpers.triplets_fixture import write_triplets

pytestmark = pytest.mark.slow

FAST = {"train": {"epochs": 1, "batch_size": 8, "input_size": 32, "backbone": "resnet10t", "pretrained": "none",
                  "embedding_dim": 16, "threads": 1},
        "evaluate": {"bootstrap": 100}}


def test_two_seeds_write_their_metrics_and_spread_and_a_seed_repeats_exactly(tmp_path: Path) -> None:
    params = tiny_params(tmp_path / "a", FAST)
    write_triplets(params.path(params.triplets.out), per_class=4, size=32)
    path = run_seeds(params, [7, 8], progress=False)
    s = json.loads(path.read_text())
    assert s["seeds"] == [7, 8] and s["split"] == "test" and set(s["per_seed"]) == {"7", "8"}
    aucs = [s["per_seed"][k]["roc_auc"] for k in ("7", "8")]
    assert s["spread"]["roc_auc"] == pytest.approx(max(aucs) - min(aucs), abs=1e-6)
    assert s["mean"]["roc_auc"] == pytest.approx(sum(aucs) / 2, abs=1e-6)
    seeds_dir = params.path(params.evaluate.out) / "seeds"
    for seed in ("7", "8"):
        assert (seeds_dir / seed / "metrics.json").is_file() and (seeds_dir / seed / "plots" / "roc.csv").is_file()
    # the stage outputs themselves are untouched: seed runs write only under reports/seeds
    assert not params.path(params.train.out).exists()
    assert not (params.path(params.evaluate.out) / "metrics.json").exists()

    # Same seed, another run on CPU (a fresh project, through the command line): identical metrics.
    again = tiny_params(tmp_path / "b", FAST)
    write_triplets(again.path(again.triplets.out), per_class=4, size=32)
    assert main(["--seeds", "7", "-p", str(again.root / "params.yaml")]) == 0
    first = (seeds_dir / "7" / "metrics.json").read_bytes()
    assert (again.path(again.evaluate.out) / "seeds" / "7" / "metrics.json").read_bytes() == first
    assert (again.path(again.evaluate.out) / "seeds" / "7" / "plots" / "roc.csv").read_bytes() == \
        (seeds_dir / "7" / "plots" / "roc.csv").read_bytes()
