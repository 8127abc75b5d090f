"""Evaluate stage: metrics, dvc plots CSV, figures, split fallback, on a model trained on the fixture."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from pcbforge.config import Params
from pcbforge.errors import ConfigError, InputError
from pcbforge.pipelines import evaluate, train
from pcbforge.train.model import model_bytes, read_model
from tests.helpers.components_fixture import write_components
from tests.helpers.fake_project import write_rows
from tests.helpers.params import tiny_params
from tests.helpers.triplets_fixture import write_triplets

FAST = {"train": {"epochs": 2, "batch_size": 8, "input_size": 32, "backbone": "resnet10t", "embedding_dim": 16,
                  "threads": 1}}
FIGURES = {"roc.png", "pr.png", "distances.png", "confusion.png", "loss.png"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Params:
    """One trained fixture project for the module (training is the expensive part)."""
    params = tiny_params(tmp_path_factory.mktemp("evaluate"), FAST)
    write_triplets(params.path(params.triplets.out), per_class=6, size=32)
    train.run(params, progress=False)
    return params


def _copy_project(trained: Params, dest: Path, class_split: dict[str, str] | None = None,
                  over: dict[str, Any] | None = None) -> Params:
    """A fresh project with the trained model and (optionally) re-split triplets and other params."""
    params = tiny_params(dest, {**FAST, **(over or {})})
    shutil.copytree(trained.path(trained.train.out), params.path(params.train.out))
    if class_split is None:
        shutil.copytree(trained.path(trained.triplets.out), params.path(params.triplets.out))
    else:
        write_triplets(params.path(params.triplets.out), per_class=6, size=32, class_split=class_split)
    return params


def test_evaluate_writes_metrics_plots_and_figures(trained: Params) -> None:
    summary = evaluate.run(trained, progress=False)
    out = trained.path(trained.evaluate.out)
    assert "ROC-AUC" in summary

    m = json.loads((out / "metrics.json").read_text())
    assert m["split"] == "test" and m["threshold_split"] == "val" and m["notes"] == []
    assert m["n"] == 6 and m["n_pairs"] == 12 and m["n_split"] == 6
    for key in ("roc_auc", "pr_auc", "accuracy", "triplet_accuracy"):
        assert 0.0 <= m[key] <= 1.0, key
    # every negative kind of the test split gets its own AUC
    assert set(m["per_defect_auc"]) == {"other_class", "gray_patch", "rotation", "missing"}
    assert all(v is None or 0.0 <= v <= 1.0 for v in m["per_defect_auc"].values())
    # ... and again apart by what the positive shows: the anchor itself, or another part of its class
    by_pos = m["per_defect_auc_by_positive"]
    assert set(by_pos) == {"same_part", "other_instance"}
    assert set(by_pos["same_part"]) | set(by_pos["other_instance"]) == set(m["per_defect_auc"])
    for kind, auc in m["per_defect_auc"].items():
        groups = [g for g in by_pos.values() if kind in g]
        if len(groups) == 1:  # all of that kind's triplets in one group: the same AUC
            assert groups[0][kind] == auc, kind
    assert sum(m["confusion"].values()) == m["n_pairs"]
    assert m["threshold"] > 0
    # the threshold is the one train calibrated on val and stored in model.pt
    cal = read_model(trained.path(trained.train.out) / "model.pt").calibration
    assert m["threshold"] == cal["threshold"] and m["n_threshold"] == 6 and m["n_threshold_pairs"] == 12
    # seeded anchor bootstrap: intervals around the point estimates
    for key in ("roc_auc", "accuracy"):
        ci = m[f"{key}_ci"]
        assert 0.0 <= ci["low"] <= m[key] <= ci["high"] <= 1.0, (key, ci)
    assert m["bootstrap"] == {"resamples": 1000, "level": 0.95, "unit": "anchor"}
    # the fixture's negatives are easy: a trained net must rank them above positives
    assert m["roc_auc"] > 0.7

    rows = (out / "plots" / "roc.csv").read_text().splitlines()
    assert rows[0] == "fpr,tpr" and len(rows) >= 3
    fpr, tpr = zip(*(map(float, r.split(",")) for r in rows[1:]), strict=True)
    assert fpr[0] == 0.0 and tpr[-1] == 1.0 and list(fpr) == sorted(fpr)

    figs = {p.name for p in (out / "figures").iterdir()}
    assert figs == FIGURES
    for name in FIGURES:
        with Image.open(out / "figures" / name) as im:
            assert im.format == "PNG" and im.width > 100

    before = (out / "metrics.json").read_bytes(), (out / "figures" / "roc.png").read_bytes()
    evaluate.run(trained, progress=False)
    assert (out / "metrics.json").read_bytes() == before[0]
    assert (out / "figures" / "roc.png").read_bytes() == before[1]


def test_max_triplets_scores_a_seeded_subset_and_says_so(trained: Params, tmp_path: Path) -> None:
    params = _copy_project(trained, tmp_path, over={"evaluate": {"max_triplets": 4}})
    evaluate.run(params, progress=False)
    m = json.loads((params.path(params.evaluate.out) / "metrics.json").read_text())
    assert m["n"] == 4 and m["n_split"] == 6 and m["n_pairs"] == 8
    assert any("max_triplets=4" in n and "4 of the split's 6" in n for n in m["notes"])
    first = (params.path(params.evaluate.out) / "metrics.json").read_bytes()
    evaluate.run(params, progress=False)
    assert (params.path(params.evaluate.out) / "metrics.json").read_bytes() == first


def test_empty_test_split_falls_back_to_val_and_says_so(trained: Params, tmp_path: Path) -> None:
    params = _copy_project(trained, tmp_path, {"resistor": "train", "capacitor": "train", "diode": "train",
                                               "relay": "val"})
    evaluate.run(params, progress=False)
    m = json.loads((params.path(params.evaluate.out) / "metrics.json").read_text())
    assert m["split"] == "val" and m["requested_split"] == "test"
    assert any("evaluated on 'val'" in n for n in m["notes"])
    assert m["n"] == 6 and 0.0 <= m["roc_auc"] <= 1.0


def test_without_val_the_threshold_comes_from_the_evaluated_split(trained: Params, tmp_path: Path) -> None:
    params = _copy_project(trained, tmp_path, {"resistor": "train", "capacitor": "train", "diode": "train",
                                               "crystal_oscillator": "test"})
    # a model file without a stored threshold (as one trained without a val split)
    model_path = params.path(params.train.out) / "model.pt"
    loaded = read_model(model_path)
    model_path.write_bytes(model_bytes(loaded.model, loaded.config))
    evaluate.run(params, progress=False)
    m = json.loads((params.path(params.evaluate.out) / "metrics.json").read_text())
    assert m["split"] == "test" and m["threshold_split"] == "test"
    assert any("'val' is empty" in n for n in m["notes"])
    assert any("carries no threshold" in n for n in m["notes"])


def test_training_without_val_stores_no_threshold(tmp_path: Path) -> None:
    params = tiny_params(tmp_path, {"train": {**FAST["train"], "epochs": 1}})
    write_triplets(params.path(params.triplets.out), per_class=2, size=32,
                   class_split={"resistor": "train", "capacitor": "train", "crystal_oscillator": "test"})
    summary = train.run(params, progress=False)
    assert "carries no threshold" in summary
    assert read_model(params.path(params.train.out) / "model.pt").calibration is None


def test_missing_model_is_an_input_error(tmp_path: Path) -> None:
    params = tiny_params(tmp_path, FAST)
    write_triplets(params.path(params.triplets.out), per_class=1, size=16)
    with pytest.raises(InputError, match="pcbforge train"):
        evaluate.run(params, progress=False)


def test_no_held_out_triplets_is_an_input_error(trained: Params, tmp_path: Path) -> None:
    params = _copy_project(trained, tmp_path, {"resistor": "train", "capacitor": "train"})
    with pytest.raises(InputError, match="no usable triplets"):
        evaluate.run(params, progress=False)


def test_real_pairs_score_model_and_backbone_on_held_out_real_crops(trained: Params, tmp_path: Path) -> None:
    overrides = {**FAST, "crop": {"sources": [{"path": "real", "name": "real"}]},
                 "evaluate": {"real_sources": ["real"], "real_per_class": 5, "bootstrap": 20}}
    params = tiny_params(tmp_path, overrides)
    shutil.copytree(trained.path(trained.train.out), params.path(params.train.out))
    shutil.copytree(trained.path(trained.triplets.out), params.path(params.triplets.out))
    crop_out, split_out = params.path(params.crop.out), params.path(params.split.out)
    # relay (val) and crystal_oscillator (test) are held out of training; diode crops sit in train
    comps = write_components(crop_out, split_out, per_class=3, size=32, classes={
        "resistor": "test", "capacitor": "val", "relay": "val", "crystal_oscillator": "test", "diode": "train"})
    # every crop but the first resistor comes from the real source (board names "real/<board>")
    first = sorted(comps.loc[comps["class_label"] == "resistor", "id"])[0]
    comps["parent_id"] = [p if i == first else f"real/{p}" for i, p in zip(comps["id"], comps["parent_id"], strict=True)]
    write_rows("crop", comps.to_dict("records"), crop_out)

    summary = evaluate.run(params, progress=False)
    m = json.loads((params.path(params.evaluate.out) / "metrics.json").read_text())
    real = m["real"]
    assert real["classes"] == {"capacitor": 3, "crystal_oscillator": 3, "relay": 3, "resistor": 2}  # no train crop
    assert real["n_crops"] == 11 and real["unseen_classes"] == ["crystal_oscillator", "relay"]
    for name in ("model", "backbone"):
        for key in ("unseen", "seen", "unseen/same_class", "seen/capture", "unseen/capture"):
            assert 0.0 <= real[name][key] <= 1.0, (name, key)
        assert real[name]["unseen/same_part"] is None  # no part keys: no same-part pairs
    assert real["model"] != real["backbone"]
    assert 0.0 <= m["unseen_share"] <= 1.0
    assert "unseen-class ROC-AUC" in summary and "untrained backbone" in summary

    # Another training seed (base.seed) meets the same real pairs: they follow evaluate.seed.
    reseeded = tiny_params(tmp_path, {**overrides, "base": {"seed": params.base.seed + 1}})
    evaluate.run(reseeded, progress=False)
    again_m = json.loads((params.path(params.evaluate.out) / "metrics.json").read_text())
    again = again_m["real"]
    assert again["model"] == real["model"] and again["n_per_kind"] == real["n_per_kind"]
    assert m["roc_auc_ci"] is not None and again_m["roc_auc_ci"] == m["roc_auc_ci"]  # bootstrap: evaluate.seed too


def test_real_sources_must_name_crop_sources(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="evaluate.real_sources"):
        tiny_params(tmp_path, {"evaluate": {"real_sources": ["nowhere"]}})
