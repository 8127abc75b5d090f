"""One-shot inspection with a trained model: is this sample the reference part, as it should be?

``pcbforge inspect REFERENCE SAMPLE`` embeds both images with ``model.pt`` and compares
their distance with the threshold the train stage calibrated on the val split (stored in
the model file, or given with ``--threshold``): ``distance > threshold`` is a defect.

Folder mode: ``REFERENCE`` is a folder with one image per class (``<class>.png``) and
``SAMPLE`` a folder of class subfolders (``<class>/*.png``); every sample is compared with
its class's reference and one CSV row is written per sample. An unreadable sample is a
row with its error, not a crash of the batch.

Images go through the training preprocessing: RGB, bilinear resize to the model's
``input_size``, the model's mean/std.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from pcbforge.datasets.loaders import to_tensor
from pcbforge.errors import InputError
from pcbforge.io import write_text
from pcbforge.train.model import LoadedModel, read_model

#: File name endings read as images in folder mode.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
#: Columns of the folder-mode CSV.
CSV_COLUMNS = ("sample", "class_label", "reference", "distance", "threshold", "verdict", "error")


class Verdict:
    """Outcomes and their exit codes (worst wins in folder mode)."""

    CONFORM = "conform"
    DEFECT = "defect"
    ERROR = "error"
    EXIT = {CONFORM: 0, DEFECT: 1, ERROR: 2}


@dataclass(frozen=True)
class Inspector:
    """A loaded model and the threshold it decides with."""

    loaded: LoadedModel
    threshold: float
    threshold_source: str
    device: torch.device

    def embed(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """Embeddings ``(N, D)`` of RGB images, preprocessed as in training."""
        cfg = self.loaded.config
        size = int(cfg["input_size"])
        batch = []
        for im in images:
            if im.size != (size, size):
                im = im.resize((size, size), Image.Resampling.BILINEAR)
            batch.append(to_tensor(im, cfg["mean"], cfg["std"]))
        with torch.no_grad():
            return self.loaded.model(torch.stack(batch).to(self.device)).float().cpu()

    def verdict(self, distance: float) -> str:
        return Verdict.DEFECT if distance > self.threshold else Verdict.CONFORM


def open_inspector(model_path: str | os.PathLike[str], threshold: float | None = None,
                   device: str | torch.device = "cpu") -> Inspector:
    """Load ``model_path`` and settle the threshold (``threshold`` wins over the stored one).

    Raises:
        InputError: the model is missing/unreadable, or it carries no threshold and none is given.
    """
    loaded = read_model(model_path, device)
    if threshold is not None:
        return Inspector(loaded, float(threshold), "--threshold", torch.device(device))
    cal = loaded.calibration
    if cal is None or cal.get("threshold") is None:
        raise InputError(
            f"{model_path} carries no calibrated threshold (trained without a val split, or before "
            "thresholds were stored); pass --threshold T or re-run `pcbforge train`"
        )
    source = f"calibrated on {cal.get('n_pairs', '?')} {cal.get('split', '?')} pairs"
    return Inspector(loaded, float(cal["threshold"]), source, torch.device(device))


def read_rgb(path: str | os.PathLike[str]) -> Image.Image:
    """Decode an image file as RGB.

    Raises:
        InputError: missing, not a file, or not an image PIL can read.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"image not found: {p}")
    try:
        with Image.open(io.BytesIO(p.read_bytes())) as im:
            return im.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputError(f"image unreadable: {p}: {exc}") from exc


def inspect_pair(inspector: Inspector, reference: str | os.PathLike[str],
                 sample: str | os.PathLike[str]) -> tuple[float, str]:
    """``(distance, verdict)`` of one sample against its reference.

    Raises:
        InputError: either image is unreadable.
    """
    ref, smp = read_rgb(reference), read_rgb(sample)
    emb = inspector.embed([ref, smp])
    distance = float(torch.linalg.vector_norm(emb[0] - emb[1]))
    return distance, inspector.verdict(distance)


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def inspect_folder(
    inspector: Inspector,
    references: str | os.PathLike[str],
    samples: str | os.PathLike[str],
    out_csv: str | os.PathLike[str],
    batch_size: int = 32,
    progress: bool = True,
) -> dict[str, int]:
    """Compare every ``samples/<class>/*`` image with ``references/<class>.*``; write ``out_csv``.

    Samples of a class without a reference, and unreadable samples, are rows with an
    ``error`` and verdict ``error``. Rows are sorted by sample path.

    Returns:
        Counts per verdict (``conform``, ``defect``, ``error``).

    Raises:
        InputError: a folder is missing, or no reference image is readable.
    """
    ref_dir, smp_dir = Path(references), Path(samples)
    for d in (ref_dir, smp_dir):
        if not d.is_dir():
            raise InputError(f"not a folder: {d} (folder mode takes a folder of references and one of samples)")
    refs = {p.stem: p for p in _images(ref_dir)}
    if not refs:
        raise InputError(f"{ref_dir} holds no reference images ({', '.join(IMAGE_SUFFIXES)}), one per class")
    ref_emb = {cls: inspector.embed([read_rgb(p)])[0] for cls, p in sorted(refs.items())}
    jobs = [(cls_dir.name, p) for cls_dir in sorted(smp_dir.iterdir()) if cls_dir.is_dir() for p in _images(cls_dir)]
    rows: list[dict[str, Any]] = []
    counts = {Verdict.CONFORM: 0, Verdict.DEFECT: 0, Verdict.ERROR: 0}

    def add(path: Path, cls: str, distance: float | None, verdict: str, error: str = "") -> None:
        counts[verdict] += 1
        rows.append({"sample": path.relative_to(smp_dir).as_posix(), "class_label": cls,
                     "reference": refs[cls].name if cls in refs else "",
                     "distance": "" if distance is None else f"{distance:.6f}",
                     "threshold": f"{inspector.threshold:.6f}", "verdict": verdict, "error": error})

    bar = tqdm(total=len(jobs), desc="inspect", unit="img", disable=not progress)
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start : start + batch_size]
        good: list[tuple[str, Path, Image.Image]] = []
        for cls, path in chunk:
            if cls not in refs:
                add(path, cls, None, Verdict.ERROR, f"no reference for class {cls!r} in {ref_dir}")
                continue
            try:
                good.append((cls, path, read_rgb(path)))
            except InputError as exc:
                add(path, cls, None, Verdict.ERROR, str(exc))
        if good:
            emb = inspector.embed([im for _, _, im in good])
            for (cls, path, _), e in zip(good, emb, strict=True):
                d = float(torch.linalg.vector_norm(e - ref_emb[cls]))
                add(path, cls, d, inspector.verdict(d))
        bar.update(len(chunk))
    bar.close()
    rows.sort(key=lambda r: r["sample"])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(Path(out_csv), buf.getvalue())
    return counts
