"""Seeds summary: per-seed records from metrics.json, and collecting seed folders written apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pcbforge.config import Params
from pcbforge.errors import PcbforgeError
from pcbforge.seeds import collect, headline


def _params(tmp_path: Path) -> Params:
    return Params().model_copy(update={"root": tmp_path})


def _write(root: Path, seed: int, auc_unseen: float, split: str = "test") -> None:
    d = root / "seeds" / str(seed)
    d.mkdir(parents=True)
    metrics = {"roc_auc": auc_unseen + 0.05, "roc_auc_unseen": auc_unseen, "split": split,
               "real": {"model": {"unseen": auc_unseen - 0.1}, "backbone": {"unseen": 0.8}}}
    (d / "metrics.json").write_text(json.dumps(metrics))


def test_headline_flattens_the_real_sections_unseen_figures() -> None:
    h = headline({"roc_auc": 0.9, "real": {"model": {"unseen": 0.7}, "backbone": {"unseen": 0.8}}})
    assert (h["roc_auc"], h["real_unseen_model"], h["real_unseen_backbone"]) == (0.9, 0.7, 0.8)
    assert headline({"roc_auc": 0.9})["real_unseen_model"] is None


def test_collect_summarises_every_seed_folder(tmp_path: Path) -> None:
    params = _params(tmp_path)
    out = params.path(params.evaluate.out)
    for seed, auc in ((3, 0.90), (1, 0.88), (2, 0.91)):
        _write(out, seed, auc)
    (out / "seeds" / "notes").mkdir()  # not a seed folder: ignored
    s = json.loads(collect(params).read_text())
    assert s["seeds"] == [1, 2, 3]
    assert s["spread"]["roc_auc_unseen"] == pytest.approx(0.03)
    assert s["mean"]["real_unseen_model"] == pytest.approx((0.80 + 0.78 + 0.81) / 3, abs=1e-6)
    assert s["split"] == "test"


def test_collect_refuses_mixed_splits_and_an_empty_folder(tmp_path: Path) -> None:
    params = _params(tmp_path)
    with pytest.raises(PcbforgeError, match="no <seed>/metrics.json"):
        collect(params)
    out = params.path(params.evaluate.out)
    _write(out, 1, 0.9, "test")
    _write(out, 2, 0.9, "val")
    with pytest.raises(PcbforgeError, match="different splits"):
        collect(params)
