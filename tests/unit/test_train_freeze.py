"""train.backbone_lr and train.freeze_bn: what stays as it started, on a tiny in-code dataset.

EfficientNet-Lite0 with its shipped ImageNet weights at 32 px (the settings apply to pretrained
backbones), resnet10t from scratch where they must not apply.
"""

from __future__ import annotations

import torch
from torch import nn

from pcbforge.config import TrainParams
from pcbforge.train.loop import reproducible, train_siamese
from pcbforge.train.model import build_model, model_config

SEED = 7


class _Noise(torch.utils.data.Dataset):
    """Eight random 32 px triplets (the loop only needs tensors and a meta dict)."""

    def __init__(self) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.rand(8, 3, 3, 32, 32, generator=g)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.x[i, 0], self.x[i, 1], self.x[i, 2], {}


def _cfg(pretrained: str = "efficientnet_lite0", **kw) -> TrainParams:
    return TrainParams(**{"backbone": "resnet10t", "pretrained": pretrained, "embedding_dim": 8, "input_size": 32,
                          "epochs": 2, "batch_size": 4, "threads": 1, "lr": 0.01, **kw})


def _start(cfg: TrainParams) -> dict[str, torch.Tensor]:
    """The weights train_siamese starts from (built under the same seed)."""
    with reproducible(SEED, 1, torch.device("cpu")):
        model = build_model(model_config(cfg.backbone, cfg.embedding_dim, cfg.input_size, cfg.pretrained.value))
    return {k: v.clone() for k, v in model.state_dict().items()}


def _changed(before: dict[str, torch.Tensor], model: nn.Module, prefix: str, suffix: str = "") -> list[str]:
    after = model.state_dict()
    return [k for k in before if k.startswith(prefix) and k.endswith(suffix) and not torch.equal(before[k], after[k])]


def test_backbone_lr_zero_trains_the_head_only() -> None:
    cfg = _cfg(backbone_lr=0.0)
    before = _start(cfg)
    model = train_siamese(_Noise(), cfg, SEED, progress=False).model
    assert _changed(before, model, "backbone.") == []  # weights and BatchNorm statistics alike
    assert _changed(before, model, "head.")


def test_full_lr_without_freeze_trains_backbone_and_its_batchnorm_statistics() -> None:
    cfg = _cfg(backbone_lr=1.0, freeze_bn=False)
    before = _start(cfg)
    model = train_siamese(_Noise(), cfg, SEED, progress=False).model
    assert _changed(before, model, "backbone.", ".running_mean")
    assert _changed(before, model, "backbone.", ".weight")


def test_freeze_bn_keeps_running_statistics_but_trains_weights() -> None:
    cfg = _cfg(freeze_bn=True, backbone_lr=0.1)
    before = _start(cfg)
    model = train_siamese(_Noise(), cfg, SEED, progress=False).model
    assert _changed(before, model, "backbone.", ".running_mean") == []
    assert _changed(before, model, "backbone.", ".running_var") == []
    assert _changed(before, model, "backbone.", ".weight")


def test_a_backbone_from_scratch_trains_whatever_the_freeze_settings() -> None:
    cfg = _cfg(pretrained="none", backbone_lr=0.0, freeze_bn=True)
    before = _start(cfg)
    model = train_siamese(_Noise(), cfg, SEED, progress=False).model
    assert _changed(before, model, "backbone.", ".running_mean")
    assert _changed(before, model, "backbone.", ".weight")


def test_frozen_backbone_trains_the_head_on_features_computed_once() -> None:
    """The cached-feature path gives the head that the per-batch path (the backbone run every step) gives."""
    cfg = _cfg(backbone_lr=0.0, epochs=3)
    cached = train_siamese(_Noise(), cfg, SEED, progress=False).model
    # The same training by hand: the eval-mode backbone on each shuffled batch, Adam on the head.
    with reproducible(SEED, 1, torch.device("cpu")):
        model = build_model(model_config(cfg.backbone, cfg.embedding_dim, cfg.input_size, cfg.pretrained.value))
        gen = torch.Generator().manual_seed(SEED)
        data = _Noise()
        opt = torch.optim.Adam(model.head.parameters(), lr=cfg.lr)
        loss_fn = nn.TripletMarginLoss(margin=cfg.margin, p=2)
        model.eval()
        for _ in range(cfg.epochs):
            for idx in torch.utils.data.DataLoader(range(len(data)), batch_size=cfg.batch_size, shuffle=True, generator=gen):
                a, p, n = (torch.stack([data[int(i)][j] for i in idx]) for j in range(3))
                with torch.no_grad():
                    f = model.backbone(torch.cat([a, p, n]))
                e = model.embed_features(f)
                k = len(idx)
                loss = loss_fn(e[:k], e[k : 2 * k], e[2 * k :])
                opt.zero_grad()
                loss.backward()
                opt.step()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(cached.state_dict()[key], value, msg=key)


def test_frozen_backbone_training_is_byte_identical_run_to_run() -> None:
    from pcbforge.train.model import model_bytes

    cfg = _cfg(backbone_lr=0.0)
    runs = [train_siamese(_Noise(), cfg, SEED, progress=False) for _ in range(2)]
    assert model_bytes(runs[0].model, runs[0].config) == model_bytes(runs[1].model, runs[1].config)
