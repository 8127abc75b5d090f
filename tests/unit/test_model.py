"""Siamese model, triplet loader and evaluation metrics on tiny in-memory inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pcbforge.datasets.loaders import TripletDataset, load_triplets
from pcbforge.errors import ConfigError, InputError
from pcbforge.train.evaluate import Distances, pick_threshold, roc_csv, score
from pcbforge.train.model import (
    EfficientNetLiteBackbone,
    _efficientnet_lite0_weights,
    build_model,
    load_model,
    model_bytes,
    model_config,
)
from tests.helpers.triplets_fixture import write_triplets


def test_embeddings_have_the_configured_width_and_unit_norm() -> None:
    torch.manual_seed(0)
    model = build_model(model_config("resnet10t", embedding_dim=16, input_size=32)).eval()
    with torch.no_grad():
        emb = model(torch.randn(3, 3, 32, 32))
    assert emb.shape == (3, 16)
    assert torch.allclose(emb.norm(dim=1), torch.ones(3), atol=1e-5)


def test_backbone_with_hidden_head_gets_the_right_projection_width() -> None:
    # mobilenetv3 pools to 576 features and then widens to 1024 before the (removed) classifier.
    model = build_model(model_config("mobilenetv3_small_050", embedding_dim=8, input_size=32)).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 8)


def test_unknown_backbone_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError, match="resnet_does_not_exist"):
        build_model(model_config("resnet_does_not_exist", 8, 32))


def test_pretrained_efficientnet_lite0_loads_offline_weights() -> None:
    ckpt = _efficientnet_lite0_weights()
    pretrained = EfficientNetLiteBackbone(input_size=32, weights=True)
    random_init = EfficientNetLiteBackbone(input_size=32, weights=False)
    stem = pretrained.net._conv_stem.weight.detach()
    assert torch.equal(stem, ckpt["_conv_stem.weight"])
    assert not torch.allclose(stem, random_init.net._conv_stem.weight.detach())
    model = build_model(model_config("ignored", 16, 32, pretrained="efficientnet_lite0")).eval()
    assert torch.equal(model.backbone.net._bn1.running_var, ckpt["_bn1.running_var"])
    with torch.no_grad():
        emb = model(torch.randn(2, 3, 32, 32))
    assert emb.shape == (2, 16)
    assert torch.allclose(emb.norm(dim=1), torch.ones(2), atol=1e-5)


def test_saved_model_rebuilds_with_identical_outputs(tmp_path: Path) -> None:
    torch.manual_seed(1)
    cfg = model_config("resnet10t", 16, 32)
    model = build_model(cfg).eval()
    path = tmp_path / "model.pt"
    path.write_bytes(model_bytes(model, cfg))
    again, cfg2 = load_model(path)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
    assert cfg2 == cfg
    assert model_bytes(again, cfg2) == path.read_bytes()


def test_load_model_explains_a_missing_or_foreign_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="pcbforge train"):
        load_model(tmp_path / "nope.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="not a pcbforge model"):
        load_model(tmp_path / "other.pt")


def test_triplet_dataset_skips_rejected_rows_and_returns_normalised_tensors(tmp_path: Path) -> None:
    root = write_triplets(tmp_path / "triplets", per_class=2, size=24, rejected=2)
    everything = load_triplets(root, ok_only=False)
    assert (everything["status"] == "rejected").sum() == 2
    frame = load_triplets(root / "triplets.parquet", split="train")
    assert set(frame["split"]) == {"train"} and (frame["status"] == "ok").all()
    ds = TripletDataset(frame, input_size=32)
    a, p, n, meta = ds[0]
    assert a.shape == p.shape == n.shape == (3, 32, 32)
    assert a.dtype == torch.float32 and not torch.equal(a, n)
    assert meta["id"] == frame.loc[0, "id"] and meta["negative_kind"] in {"other_class", "gray_patch", "rotation",
                                                                          "missing"}


def test_triplet_loader_names_a_missing_image(tmp_path: Path) -> None:
    root = write_triplets(tmp_path / "triplets", per_class=1, size=16, rejected=0)
    frame = load_triplets(root)
    (root / frame.loc[0, "negative_path"]).unlink()
    with pytest.raises(InputError, match=frame.loc[0, "negative_path"]):
        TripletDataset(frame, input_size=16)[0]


def test_load_triplets_needs_the_contract_columns(tmp_path: Path) -> None:
    import pandas as pd

    pd.DataFrame({"id": ["a"], "status": ["ok"], "error": [None]}).to_parquet(tmp_path / "triplets.parquet")
    with pytest.raises(InputError, match="anchor_path"):
        load_triplets(tmp_path)


def _distances(d_ap: list[float], d_an: list[float], kinds: list[str]) -> Distances:
    return Distances(np.asarray(d_ap), np.asarray(d_an), np.asarray(kinds, dtype=object))


def test_threshold_separates_perfectly_separable_pairs() -> None:
    d = _distances([0.1, 0.2, 0.3], [0.8, 0.9, 1.0], ["missing", "rotation", "rotation"])
    t = pick_threshold(d)
    assert 0.3 < t < 0.8
    m = score(d, t)
    assert m["roc_auc"] == 1.0 and m["pr_auc"] == 1.0 and m["accuracy"] == 1.0
    assert m["confusion"] == {"tn": 3, "fp": 0, "fn": 0, "tp": 3}
    assert m["per_defect_auc"] == {"missing": 1.0, "rotation": 1.0}
    assert roc_csv(d).splitlines()[0] == "fpr,tpr"


def test_metrics_reflect_a_kind_the_model_cannot_see() -> None:
    # rotation negatives are as close as positives: that kind's AUC must be at chance or worse.
    d = _distances([0.2, 0.3, 0.2, 0.3], [0.9, 1.0, 0.25, 0.2], ["missing", "missing", "rotation", "rotation"])
    m = score(d, pick_threshold(d))
    assert m["per_defect_auc"]["missing"] == 1.0
    assert m["per_defect_auc"]["rotation"] <= 0.5
    assert 0.0 <= m["roc_auc"] < 1.0
    assert m["n"] == 4 and m["n_pairs"] == 8
