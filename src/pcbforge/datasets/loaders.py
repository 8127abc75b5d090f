"""PyTorch access to a triplets dataset version: ``load_triplets`` + :class:`TripletDataset`.

An ML engineer pulls a pinned version (``dvc get <repo> data/triplets -o triplets --rev v1``)
and reads it without the rest of pcbforge::

    from pcbforge.datasets.loaders import TripletDataset, load_triplets
    frame = load_triplets("triplets", split="train")
    ds = TripletDataset(frame, input_size=96)
    anchor, positive, negative, meta = ds[0]

Image paths in ``triplets.parquet`` are relative to the directory holding it (the
``triplets.out`` of the stage), so the folder can be moved or fetched anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from pcbforge.datasets.manifest import MANIFEST_NAMES, read_manifest
from pcbforge.errors import InputError
from pcbforge.vocab import Status

MANIFEST = MANIFEST_NAMES["triplets"]
#: Columns the loader needs; the full contract is in docs/stages.md.
REQUIRED = ("id", "split", "class_label", "anchor_path", "positive_path", "negative_path", "negative_kind", "status")
#: Metadata returned with each triplet (strings; ``None`` becomes "").
META_COLUMNS = ("id", "split", "class_label", "anchor_id", "negative_kind", "negative_class")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_triplets(
    path_or_dvc_dir: str | os.PathLike[str],
    split: str | Sequence[str] | None = None,
    ok_only: bool = True,
) -> pd.DataFrame:
    """Read ``triplets.parquet`` from a triplets directory (or the file itself).

    Args:
        path_or_dvc_dir: ``triplets.out`` (a stage output, or a folder fetched with
            ``dvc get``/``dvc import``) or the path of ``triplets.parquet``.
        split: keep only this split (or these splits); ``None`` keeps all.
        ok_only: drop rows whose ``status`` is not ``ok`` (rejected rows have no images).

    Returns:
        The manifest sorted by id, with ``frame.attrs["root"]`` set to the directory
        image paths are relative to.

    Raises:
        InputError: missing/unreadable manifest or missing columns.

    Example:
        >>> df = load_triplets("data/triplets", split="test")  # doctest: +SKIP
        >>> df.attrs["root"]                                   # doctest: +SKIP
        PosixPath('/abs/data/triplets')
    """
    p = Path(path_or_dvc_dir)
    manifest = p / MANIFEST if p.is_dir() or p.suffix != ".parquet" else p
    df = read_manifest(manifest, "triplets", require=REQUIRED)
    if ok_only:
        df = df[df["status"] == Status.OK.value]
    if split is not None:
        splits = [split] if isinstance(split, str) else list(split)
        df = df[df["split"].isin(splits)]
    df = df.sort_values("id", kind="mergesort").reset_index(drop=True)
    df.attrs["root"] = manifest.resolve().parent
    return df


def read_image(path: str | os.PathLike[str], input_size: int) -> Image.Image:
    """Decode an image as RGB, resized to ``input_size`` squared (bilinear)."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if im.size != (input_size, input_size):
                im = im.resize((input_size, input_size), Image.Resampling.BILINEAR)
            return im
    except FileNotFoundError as exc:
        raise InputError(f"triplet image missing: {path} (re-run `pcbforge triplets`)") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"triplet image unreadable: {path}: {exc} (re-run `pcbforge triplets`)") from exc


def to_tensor(image: Image.Image, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """HWC uint8 RGB -> normalised CHW float32 tensor."""
    arr = np.asarray(image, dtype=np.float32) / 255.0
    arr = (arr - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


class TripletDataset(Dataset):
    """Map-style dataset of (anchor, positive, negative, meta) over a triplets manifest.

    Each image is a float32 tensor ``(3, input_size, input_size)`` normalised with
    ``mean``/``std``; ``meta`` is a dict of strings (id, split, class_label, anchor_id,
    negative_kind, negative_class) that the default collate turns into lists.

    Args:
        frame: output of :func:`load_triplets` (or any frame with its columns).
        input_size: resize target.
        root: directory the image paths are relative to; defaults to ``frame.attrs["root"]``.
        cache: keep decoded tensors in memory (worth it for many epochs over a small
            set; off by default because memory grows with the dataset).
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        input_size: int = 96,
        root: str | os.PathLike[str] | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        cache: bool = False,
    ) -> None:
        root = root if root is not None else frame.attrs.get("root")
        if root is None:
            raise ValueError("TripletDataset needs root= or a frame from load_triplets()")
        self.root = Path(root)
        self.frame = frame.reset_index(drop=True)
        self.input_size = int(input_size)
        self.mean, self.std = tuple(mean), tuple(std)
        self._paths = self.frame[["anchor_path", "positive_path", "negative_path"]].to_numpy(dtype=object)
        self._meta = [
            {c: ("" if row.get(c) is None or (isinstance(row.get(c), float) and np.isnan(row.get(c))) else str(row[c]))
             for c in META_COLUMNS}
            for row in self.frame.to_dict("records")
        ]
        self._cache: dict[str, torch.Tensor] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.frame)

    def image(self, rel_path: str) -> torch.Tensor:
        """The normalised tensor of one image path (relative to ``root``)."""
        if self._cache is not None and rel_path in self._cache:
            return self._cache[rel_path]
        t = to_tensor(read_image(self.root / rel_path, self.input_size), self.mean, self.std)
        if self._cache is not None:
            self._cache[rel_path] = t
        return t

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]:
        a, p, n = self._paths[index]
        return self.image(a), self.image(p), self.image(n), dict(self._meta[index])
