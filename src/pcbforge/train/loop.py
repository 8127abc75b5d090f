"""Training loop for the Siamese embedding net: triplet margin loss, Adam, seeded and reproducible.

On CPU, the same triplets, config and seed give byte-identical weights: the model is
initialised and the batches shuffled from generators seeded by ``seed`` (global torch
random state is forked and restored, never left changed), data loading runs in the main
process, the thread count is fixed and deterministic kernels are requested. On CUDA the
run is seeded the same way, but some kernels are only reproducible up to float noise.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset
from tqdm import tqdm

from pcbforge.config import TrainParams
from pcbforge.errors import ConfigError
from pcbforge.rng import workers
from pcbforge.train.model import SiameseNet, build_model, model_config
from pcbforge.vocab import Device, Pretrained

log = logging.getLogger(__name__)

#: Environment that would make dvclive talk to DVC Studio or save a git experiment.
_STUDIO_ENV_OFF = {"DVC_STUDIO_OFFLINE": "true"}
_STUDIO_ENV_DROP = ("DVC_STUDIO_TOKEN", "STUDIO_TOKEN", "DVC_STUDIO_URL", "STUDIO_ENDPOINT")


@dataclass
class TrainResult:
    """The trained model, the config to rebuild it and per-epoch history."""

    model: SiameseNet
    config: dict[str, Any]
    device: str
    threads: int
    epochs: list[dict[str, float]] = field(default_factory=list)


def resolve_device(name: Device | str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cuda`` without a GPU is a config error."""
    device = Device(name)
    if device is Device.AUTO:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device is Device.CUDA and not torch.cuda.is_available():
        raise ConfigError("train.device is 'cuda' but no CUDA device is visible; use 'auto' or 'cpu'")
    return torch.device(device.value)


def resolve_threads(threads: int) -> int:
    """``0`` = all cores this process may use (same rule as ``base.workers``)."""
    return workers(threads)


@contextlib.contextmanager
def reproducible(seed: int, threads: int, device: torch.device) -> Iterator[None]:
    """Seed torch, fix threads and ask for deterministic kernels; restore everything after."""
    if device.type == "cuda":
        # cuBLAS needs this before its first use to be deterministic.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        torch.set_num_threads(threads)
        # warn_only: a timm backbone may use an op without a deterministic kernel (several
        # CUDA backward passes); that should warn, not stop a training run.
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        try:
            yield
        finally:
            torch.set_num_threads(prev_threads)
            torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = prev_cudnn


@contextlib.contextmanager
def _studio_off() -> Iterator[None]:
    """Keep dvclive local: no Studio posts while the logger is alive."""
    saved = {k: os.environ.get(k) for k in (*_STUDIO_ENV_OFF, *_STUDIO_ENV_DROP)}
    os.environ.update(_STUDIO_ENV_OFF)
    for k in _STUDIO_ENV_DROP:
        os.environ.pop(k, None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _open_live(live_dir: Path | None) -> Any:
    if live_dir is None:
        return None
    from dvclive import Live

    # save_dvc_exp=False: never commit an experiment ref; dvcyaml=None: the stage's dvc.yaml
    # already tracks train.out, a second dvc.yaml inside it would only confuse DVC.
    try:
        return Live(dir=str(live_dir), save_dvc_exp=False, dvcyaml=None, report=None)
    except Exception as exc:  # noqa: BLE001 - scmrepo's SCMError escapes dvclive's own handler
        # dvclive asks git for HEAD even with save_dvc_exp=False and fails in a repository
        # with no commits yet (treeverse/dvclive#522); training must not depend on that.
        if type(exc).__name__ != "SCMError":
            raise
        log.warning("dvclive disabled (%s): commit once (`git commit`) to get per-epoch dvclive logs", exc)
        return None


def backbone_settings(cfg: TrainParams) -> tuple[float, bool]:
    """The ``(backbone_lr, freeze_bn)`` a run really uses.

    Staying near the start only makes sense for a pretrained backbone: one built from scratch
    trains at full lr, BatchNorm in train mode (its init statistics mean nothing).
    """
    if Pretrained(cfg.pretrained) is Pretrained.NONE:
        return 1.0, False
    return cfg.backbone_lr, cfg.freeze_bn


def _param_groups(model: SiameseNet, lr: float, backbone_lr: float) -> list[dict[str, Any]]:
    """Adam groups: the head at ``lr``, the backbone at ``lr * backbone_lr`` (frozen when 0)."""
    groups: list[dict[str, Any]] = [{"params": list(model.head.parameters()), "lr": lr}]
    if backbone_lr > 0:
        groups.append({"params": list(model.backbone.parameters()), "lr": lr * backbone_lr})
    else:
        for p in model.backbone.parameters():
            p.requires_grad_(False)
    return groups


@torch.no_grad()
def _features(model: SiameseNet, dataset: Dataset, batch_size: int, device: torch.device,
              progress: bool) -> TensorDataset:
    """The frozen backbone's features of every triplet: ``(anchor, positive, negative, index)``."""
    model.backbone.eval()
    parts: list[list[torch.Tensor]] = [[], [], []]
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    for batch in tqdm(loader, desc="backbone features", unit="batch", disable=not progress, leave=False):
        k = batch[0].shape[0]
        f = model.backbone(torch.cat(batch[:3]).to(device)).float()
        for i in range(3):
            parts[i].append(f[i * k : (i + 1) * k])
    a, p, n = (torch.cat(x) for x in parts)
    return TensorDataset(a, p, n, torch.arange(len(a)))


def _train_mode(model: SiameseNet, freeze_bn: bool, frozen: bool) -> None:
    """Train mode, except a frozen backbone (all of it) or its BatchNorm layers (``freeze_bn``)."""
    model.train()
    if frozen:
        model.backbone.eval()
    elif freeze_bn:
        for m in model.backbone.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
                m.eval()


def train_siamese(
    dataset: Dataset,
    cfg: TrainParams,
    seed: int,
    live_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train a :class:`SiameseNet` with ``TripletMarginLoss(margin)`` and Adam.

    Args:
        dataset: yields ``(anchor, positive, negative, meta)`` (see
            :class:`pcbforge.datasets.loaders.TripletDataset`), at least 2 items.
        cfg: ``params.train`` (``out`` and ``max_triplets`` are the stage's, not read here).
        seed: ``base.seed``; drives init and shuffling.
        live_dir: where dvclive writes per-epoch metrics (``None``: no dvclive).
        progress: show a tqdm bar per epoch (stderr).

    Returns:
        The model (on its device, eval mode), its config and per-epoch
        ``{"epoch", "loss", "seconds", "batches"}``.
    """
    n = len(dataset)  # type: ignore[arg-type]
    if n < 2:
        raise ValueError(f"need at least 2 training triplets, got {n}")
    device = resolve_device(cfg.device)
    threads = resolve_threads(cfg.threads)
    # The plain value: the config is saved inside model.pt and read back without pcbforge's enums.
    config = model_config(cfg.backbone, cfg.embedding_dim, cfg.input_size, Pretrained(cfg.pretrained).value)
    with reproducible(seed, threads, device), _studio_off():
        model = build_model(config).to(device)
        gen = torch.Generator()
        gen.manual_seed(seed)
        backbone_lr, freeze_bn = backbone_settings(cfg)
        frozen = backbone_lr == 0
        opt = torch.optim.Adam(_param_groups(model, cfg.lr, backbone_lr))
        # A frozen backbone (eval mode, no random transforms) gives every image the same
        # features in every epoch: compute them once, then epochs only train the head.
        source = _features(model, dataset, cfg.batch_size, device, progress) if frozen else dataset
        # Anchor, positive and negative go through the net as one batch of 3k images, so
        # even a ragged tail of one triplet gives BatchNorm three values per channel.
        loader = DataLoader(source, batch_size=cfg.batch_size, shuffle=True, generator=gen, num_workers=0,
                            pin_memory=device.type == "cuda" and not frozen)  # features already sit on the device
        loss_fn = nn.TripletMarginLoss(margin=cfg.margin, p=2)
        result = TrainResult(model=model, config=config, device=str(device), threads=threads)
        live = _open_live(Path(live_dir) if live_dir is not None else None)
        try:
            if live is not None:
                live.log_params({**config, "margin": cfg.margin, "lr": cfg.lr, "backbone_lr": backbone_lr,
                                 "freeze_bn": freeze_bn, "backbone_frozen": frozen, "batch_size": cfg.batch_size,
                                 "epochs": cfg.epochs, "seed": seed, "n_triplets": n})
            for epoch in range(cfg.epochs):
                _train_mode(model, freeze_bn, frozen=frozen)
                t0 = time.perf_counter()
                total, seen, batches = 0.0, 0, 0
                bar = tqdm(loader, desc=f"train epoch {epoch + 1}/{cfg.epochs}", unit="batch",
                           disable=not progress, leave=False)
                for anchor, positive, negative, _meta in bar:
                    k = anchor.shape[0]
                    x = torch.cat([anchor, positive, negative]).to(device, non_blocking=True)
                    emb = model.embed_features(x) if frozen else model(x)
                    loss = loss_fn(emb[:k], emb[k : 2 * k], emb[2 * k :])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * k
                    seen += k
                    batches += 1
                    bar.set_postfix(loss=f"{total / seen:.4f}")
                bar.close()
                epoch_loss = total / max(seen, 1)
                row = {"epoch": epoch + 1, "loss": epoch_loss, "seconds": round(time.perf_counter() - t0, 3),
                       "batches": batches}
                result.epochs.append(row)
                log.info("epoch %d/%d: loss %.4f (%d batches, %.1f s)", epoch + 1, cfg.epochs, epoch_loss,
                         batches, row["seconds"])
                if live is not None:
                    live.log_metric("train/loss", epoch_loss)
                    live.next_step()
        finally:
            if live is not None:
                live.end()
        model.eval()
    return result
