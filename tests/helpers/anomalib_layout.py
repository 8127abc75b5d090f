"""A reader of one MVTec AD category as anomalib's ``MVTec`` datamodule reads it (anomalib isn't installed here).

It follows anomalib 1.x ``make_mvtec_dataset`` (``anomalib/data/image/mvtec.py``; ``mvtec_ad``
in 2.x) rule for rule: every image under ``<root>/<category>`` is a row ``(split, label,
file)`` from its last three path parts; ``label`` ``good`` is normal (0), anything else
anomalous (1); ``ground_truth/<label>/`` holds the masks, which are matched to the sorted
anomalous test images by position and must share their stem (``000.png`` / ``000_mask.png``),
else anomalib raises "Mismatch between anomalous images and ground truth masks"; ``train/``
must hold normal images only. Violations raise :class:`LayoutError` with anomalib's wording,
so a test that reads a pcbforge export through this is a test that anomalib would take it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

IMG_EXTENSIONS = (".png", ".PNG", ".jpg", ".JPG", ".jpeg", ".bmp", ".tif", ".tiff")


class LayoutError(ValueError):
    """The folder is not a category anomalib's MVTec datamodule can read."""


@dataclass(frozen=True)
class Row:
    split: str
    label: str
    label_index: int
    image_path: Path
    mask_path: Path | None


def read_category(root: Path, category: str) -> list[Row]:
    """Rows of ``root/category`` (``MVTec(root=root, category=category)``), train then test, sorted by path."""
    base = Path(root) / category
    files = sorted(p for p in base.glob("**/*") if p.suffix in IMG_EXTENSIONS)
    if not files:
        raise LayoutError(f"Found 0 images in {base}")
    rows = [(p.parts[-3], p.parts[-2], p) for p in files]
    images = [(s, lab, p) for s, lab, p in rows if s in ("train", "test")]
    masks = sorted(p for s, _, p in rows if s == "ground_truth")
    anomalous = sorted((p for s, lab, p in images if s == "test" and lab != "good"), key=str)
    if len(masks) != len(anomalous) or not all(a.stem in m.stem for a, m in zip(anomalous, masks, strict=False)):
        raise LayoutError(
            "Mismatch between anomalous images and ground truth masks. Make sure the mask files in "
            "'ground_truth' folder follow the same naming convention as the anomalous images"
        )
    mask_of = dict(zip(anomalous, masks, strict=True))
    out = [Row(s, lab, int(lab != "good"), p, mask_of.get(p)) for s, lab, p in images]
    if any(r.split == "train" and r.label_index for r in out):
        raise LayoutError("Training set must not contain anomalous samples.")
    return out
