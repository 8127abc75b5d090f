"""Write a tiny params.yaml so every stage runs in seconds on test data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pcbforge.config import Params, load_params

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Overrides of the project's params.yaml that keep each stage to a few seconds.
TINY: dict[str, Any] = {
    "base": {"workers": 1},
    "catalog": {
        "products_per_class": 3,
        "per_page": 4,
        "junk_images": 3,
        "boards": 3,
        "components_per_board": [3, 5],
        "board_size": [320, 240],
        "photo_size": [128, 128],
    },
    "crawl": {"concurrency": 8, "download_timeout": 10},
    # The built-in boards only (no real set): the tests' projects live in temporary folders.
    "crop": {"sources": []},
    "split": {"val_classes": ["relay"], "test_classes": ["crystal_oscillator"], "groups": {"pattern": None}},
    "evaluate": {"real_sources": []},
    "triplets": {"per_component": 1, "eval_per_component": None},
    # Board mode: the export and pipeline tests follow component lineage through the pairs.
    "simulate": {"pairs": 8, "mode": "board", "preset": "small"},
    "train": {"epochs": 1, "batch_size": 8, "input_size": 32, "backbone": "resnet10t", "pretrained": "none", "embedding_dim": 16},
    "export": {"shard_size": 16},
}


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Recursively merge ``over`` into a copy of ``base``."""
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def write_params(root: Path, overrides: dict[str, Any] | None = None, tiny: bool = True) -> Path:
    """Write params.yaml into ``root`` (the project's defaults + TINY + ``overrides``); return its path."""
    raw = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    if tiny:
        raw = deep_merge(raw, TINY)
    if overrides:
        raw = deep_merge(raw, overrides)
    root.mkdir(parents=True, exist_ok=True)
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def tiny_params(root: Path, overrides: dict[str, Any] | None = None) -> Params:
    """Write tiny params into ``root`` and load them."""
    return load_params(write_params(root, overrides))
