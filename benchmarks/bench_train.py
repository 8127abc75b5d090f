"""Training throughput: triplets per second, data loading timed apart from compute.

Writes ``--n`` synthetic triplets as 128 px PNGs (what the crop and triplets stages write)
into a temporary folder, then, for each backbone asked for, times with the train stage's own
pieces (:class:`~pcbforge.datasets.loaders.TripletDataset`, :func:`~pcbforge.train.model.build_model`,
``TripletMarginLoss`` + Adam, main-process loading):

- ``load``: decoding + resizing + normalising the PNGs of ``--batches`` batches (epoch 1;
  the train stage keeps decoded tensors in memory when they fit, so later epochs skip it);
- ``cached``: the same batches from the in-memory tensor cache (epochs 2+);
- ``compute``: forward + backward + Adam step on batches already in memory (one warm-up
  step not counted; CUDA synchronised before each clock read).

Two modes (``--modes``): ``finetune`` trains the whole network (``train.backbone_lr`` > 0);
``frozen`` is the default train stage (``backbone_lr: 0``): the backbone runs forward once
per image in eval mode without gradients, and the head trains on those features, so its
``compute`` is that forward pass plus a head step, and later epochs cost the head step alone.

``epoch 1`` and ``epoch 2+`` are the resulting triplets/s of a real epoch. The ratio
line compares loading with compute, measured in the same run. Prints the table; with
``--json PATH`` also writes it.

Usage:
    python benchmarks/bench_train.py                       # CPU, train.threads 2, resnet18 + efficientnet_lite0
    python benchmarks/bench_train.py --device cuda --batch-size 64 --batches 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

from pcbforge.datasets.loaders import TripletDataset
from pcbforge.train.model import build_model, model_config

#: name -> (train.backbone, train.pretrained)
BACKBONES = {
    "resnet18": ("resnet18", "none"),
    "resnet10t": ("resnet10t", "none"),
    "mobilenetv3_large_100": ("mobilenetv3_large_100", "none"),
    "efficientnet_lite0": ("resnet18", "efficientnet_lite0"),
}


def write_triplets(root: Path, n: int, size: int = 128, seed: int = 0) -> pd.DataFrame:
    """``n`` triplets of noisy component-like PNGs; the frame TripletDataset reads."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for t in range(n):
        paths = {}
        for role in ("anchor", "positive", "negative"):
            img = np.empty((size, size, 3), np.uint8)
            img[:] = (20, 100, 45)
            q = size // 4 + int(rng.integers(-4, 5))
            img[q : size - q, size // 3 : size - size // 3] = rng.integers(30, 230, 3)
            img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
            rel = f"images/{t:05d}_{role}.png"
            Image.fromarray(img, "RGB").save(root / rel)
            paths[f"{role}_path"] = rel
        rows.append({"id": f"t{t:05d}", "split": "train", "class_label": "resistor", "anchor_id": f"a{t}",
                     "negative_kind": "gray_patch", "negative_class": "resistor", **paths})
    frame = pd.DataFrame(rows)
    frame.attrs["root"] = root
    return frame


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(frame: pd.DataFrame, name: str, args: argparse.Namespace, device: torch.device,
          mode: str = "finetune") -> dict[str, Any]:
    backbone, pretrained = BACKBONES[name]
    config = model_config(backbone, args.embedding_dim, args.input_size, pretrained)
    torch.manual_seed(0)
    model = build_model(config).to(device).train()
    loss_fn = nn.TripletMarginLoss(margin=0.5)
    frozen = mode == "frozen"
    if frozen:
        model.backbone.eval()
    opt = torch.optim.Adam(model.head.parameters() if frozen else model.parameters(), lr=1e-3)
    n_batches = args.batches

    def batches(ds: TripletDataset) -> tuple[list[Any], float]:
        loader = DataLoader(ds, batch_size=args.batch_size, shuffle=False, num_workers=0)
        out, t0 = [], time.perf_counter()
        for i, b in enumerate(loader):
            out.append(b)
            if i + 1 == n_batches:
                break
        return out, time.perf_counter() - t0

    data, load_s = batches(TripletDataset(frame, input_size=args.input_size))
    cached_ds = TripletDataset(frame, input_size=args.input_size, cache=True)
    batches(cached_ds)  # fill the cache, as epoch 1 of the train stage does
    _, cached_s = batches(cached_ds)

    def fit(emb: torch.Tensor) -> None:
        k = emb.shape[0] // 3
        loss = loss_fn(emb[:k], emb[k : 2 * k], emb[2 * k :])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def step(b: Any) -> None:
        x = torch.cat(b[:3]).to(device, non_blocking=True)
        if frozen:
            with torch.no_grad():
                feats = model.backbone(x)
            fit(model.embed_features(feats))
        else:
            fit(model(x))

    step(data[0])  # warm-up: allocator, cuDNN algorithm choice, lazy init
    _sync(device)
    t0 = time.perf_counter()
    for b in data:
        step(b)
    _sync(device)
    compute_s = time.perf_counter() - t0
    n = sum(b[0].shape[0] for b in data)
    later_s = cached_s + compute_s
    if frozen:  # epochs 2+ train the head on features kept from epoch 1
        with torch.no_grad():
            feats = [model.backbone(torch.cat(b[:3]).to(device)) for b in data]
        _sync(device)
        t0 = time.perf_counter()
        for f in feats:
            fit(model.embed_features(f))
        _sync(device)
        later_s = time.perf_counter() - t0
    return {
        "backbone": name, "mode": mode, "device": str(device), "threads": torch.get_num_threads(), "batch_size": args.batch_size,
        "input_size": args.input_size, "triplets": n,
        "load_s": round(load_s, 3), "cached_s": round(cached_s, 3), "compute_s": round(compute_s, 3),
        "load_tps": round(n / load_s, 1), "cached_tps": round(n / cached_s, 1), "compute_tps": round(n / compute_s, 1),
        "epoch1_tps": round(n / (load_s + compute_s), 1), "epoch2_tps": round(n / later_s, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backbones", nargs="+", default=["resnet18", "efficientnet_lite0"], choices=sorted(BACKBONES))
    ap.add_argument("--modes", nargs="+", default=["finetune", "frozen"], choices=["finetune", "frozen"],
                    help="finetune: the whole network learns; frozen: the default train stage (backbone_lr 0)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (train.threads)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--input-size", type=int, default=96)
    ap.add_argument("--embedding-dim", type=int, default=128)
    ap.add_argument("--batches", type=int, default=4, help="timed batches per backbone")
    ap.add_argument("--n", type=int, default=0, help="triplets written (default: batches x batch size)")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    n = args.n or args.batches * args.batch_size
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        t0 = time.perf_counter()
        frame = write_triplets(Path(tmp), n)
        print(f"{n} triplets written in {time.perf_counter() - t0:.1f} s; {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, torch {torch.__version__}"
              + (f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""))
        for name in args.backbones:
            for mode in args.modes:
                if mode == "frozen" and BACKBONES[name][1] == "none":
                    continue  # the train stage never freezes a backbone built from scratch
                rows.append(bench(frame, name, args, device, mode))
    head = f"{'backbone':<22} {'mode':<8} {'device':<6} {'thr':>3} {'load/s':>8} {'cached/s':>9} {'compute/s':>10} {'epoch1/s':>9} {'epoch2+/s':>10}"
    print(head)
    for r in rows:
        print(f"{r['backbone']:<22} {r['mode']:<8} {r['device']:<6} {r['threads']:>3} {r['load_tps']:>8} {r['cached_tps']:>9} "
              f"{r['compute_tps']:>10} {r['epoch1_tps']:>9} {r['epoch2_tps']:>10}")
        print(f"  loading takes {r['load_s'] / (r['load_s'] + r['compute_s']):.0%} of an uncached step "
              f"(load {r['load_s']} s vs compute {r['compute_s']} s for {r['triplets']} triplets)")
    print("(triplets per second; load = PNG decode+resize+normalise, cached = from the in-memory tensor cache;"
          " frozen epoch 2+ = the head step on features kept from epoch 1)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
