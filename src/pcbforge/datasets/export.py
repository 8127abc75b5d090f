"""Exporters: write triplets and SSDS pairs in layouts other tools read directly.

Every exporter has the same small interface (as img2dataset's writers do):
``write(sample) -> note`` for each :class:`Sample`, then ``close() -> counts``.
``write`` returns ``None`` when the sample landed in the layout, or a short reason why
(part of) it was left out, which the stage records in its manifest.

- :class:`PairsExporter` — contrastive pairs: ``pairs.csv`` + ``images/`` (+ ``masks/``),
  labelled as evaluation labels pairs (:class:`~pcbforge.vocab.PairLabel`): anchor/positive
  rows 0 (same), anchor/negative and template/defected rows 1 (different: a defect or another
  part); a defect-free pose-only pair is 0, kind ``pose_only``.
- :class:`MvtecExporter` — MVTec AD / anomalib folder layout, one category per component
  class: ``<class>/train/good``, ``<class>/test/good``, ``<class>/test/<defect>``,
  ``<class>/ground_truth/<defect>/<name>_mask.png``; only the test split goes to ``test/``
  (SSDS pairs of the class's components included), so no training part is tested on.
- :class:`WebDatasetExporter` — WebDataset tar shards of ``shard_size`` samples, one stream
  per source and split, written with the stdlib ``tarfile`` with fixed mtime/owner/mode
  and member order, so the same samples give byte-identical shards.

Exporters only copy and re-encode files; samples arrive in the order the caller gives
(the stage sorts by id), which is what makes every output deterministic.

:func:`credit_rows` and :func:`format_credits` make ``CREDITS.csv``: one row per source
image the exported samples use, with the licence terms a dataset owner must honour.
"""

from __future__ import annotations

import csv
import io
import json
import math
import tarfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from PIL import Image

from pcbforge.datasets.manifest import LINEAGE_COLUMNS
from pcbforge.io import atomic_path, encode_png, link_or_copy, write_bytes, write_json, write_text
from pcbforge.vocab import DefectType, PairLabel, Split, TripletStrategy

#: ``negative_kind`` of a negative that is another component class rather than a defect.
OTHER_CLASS = TripletStrategy.OTHER_CLASS.value
#: MVTec defect folder of SSDS simulated-shape images.
SIMULATED = DefectType.SIMULATED_SHAPE.value
#: ``anomaly`` of a good sample: a defect-free pose-only SSDS pair (empty mask).
GOOD = DefectType.NONE.value
#: ``kind`` of a pose-only pair's row in ``pairs.csv`` (label 1: pose is not a defect).
POSE_ONLY = "pose_only"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: Longest WebDataset key: USTAR names hold 100 bytes, and ``.negative_mask.png`` needs 18.
MAX_KEY = 80
#: Columns of ``CREDITS.csv``: a source image's lineage and how many exported samples use it.
CREDITS_COLUMNS = (*LINEAGE_COLUMNS, "samples")


@dataclass(frozen=True)
class Sample:
    """One unit to export: a triplet (anchor/positive/negative) or an SSDS pair (template/defected).

    Attributes:
        id: the triplet or pair id from its manifest.
        source: ``"triplets"`` or ``"simulate"``.
        split: ``train``/``val``/``test``: the triplet's, or for an SSDS pair its template component's.
        images: role -> image file, in a fixed role order (``anchor, positive, negative`` or
            ``template, defected``).
        mask: binary mask of the anomalous image (``negative`` / ``defected``), or ``None``.
        anomaly: ``negative_kind`` for triplets; ``simulated_shape`` for pairs, ``none``
            (:data:`GOOD`) for a defect-free pose-only pair (its defected view is a good image).
        meta: JSON-ready metadata (class, lineage, defect parameters) carried into the exports.
        sources: lineage (:data:`~pcbforge.datasets.manifest.LINEAGE_COLUMNS`) of every source
            image whose pixels the sample shows: a triplet's anchor and negative, a pair's template.
        lineage: role -> the lineage of the source image that role's pixels come from (``None``
            for a synthetic image that shows none, e.g. a shapes-mode SSDS scene); every image
            of the sample, the negative included, so a shard's JSON credits each one.
    """

    id: str
    source: Literal["triplets", "simulate"]
    split: str | None
    images: Mapping[str, Path]
    mask: Path | None
    anomaly: str
    meta: Mapping[str, Any] = field(default_factory=dict)
    sources: tuple[Mapping[str, Any], ...] = ()
    lineage: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)

    @property
    def is_defect(self) -> bool:
        """True if the anomalous image is a defect of the same part (not another class)."""
        return self.anomaly not in (OTHER_CLASS, GOOD)

    @property
    def is_good(self) -> bool:
        """True for a defect-free pose-only SSDS pair: its defected view shows no anomaly."""
        return self.anomaly == GOOD


class Exporter(Protocol):
    """What every exporter provides."""

    name: str

    def write(self, sample: Sample) -> str | None:
        """Export one sample; return ``None``, or why (part of) it was left out."""
        ...

    def close(self) -> dict[str, int]:
        """Finish the layout (indexes, last shard) and return counts of what was written."""
        ...


def png_bytes(path: Path) -> bytes:
    """The file's bytes if it already is a PNG, else the image re-encoded as PNG."""
    data = path.read_bytes()
    if data.startswith(PNG_MAGIC):
        return data
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return encode_png(im)


def place_image(src: Path, dest: Path) -> None:
    """Put image ``src`` at ``dest`` as a PNG: the one place the file exporters write an image.

    A source that already is a PNG lands byte for byte, as a hard link when the filesystem
    allows (:func:`pcbforge.io.link_or_copy`: no second copy on disk); anything else is
    re-encoded.
    """
    with open(src, "rb") as f:
        is_png = f.read(len(PNG_MAGIC)) == PNG_MAGIC
    if is_png:
        link_or_copy(src, dest)
    else:
        write_bytes(dest, png_bytes(src))


def place_mask(src: Path, dest: Path) -> None:
    """Put mask ``src`` at ``dest`` as a strictly binary 8-bit PNG (:func:`mask_png`)."""
    write_bytes(dest, mask_png(src))


def mask_png(path: Path) -> bytes:
    """A mask as a strictly binary 8-bit PNG (0 / 255), whatever bit depth or mode it came in."""
    with Image.open(path) as im:
        arr = np.asarray(im.convert("L"))
    return encode_png(Image.fromarray(np.where(arr > 0, 255, 0).astype(np.uint8), "L"))


def sample_json(sample: Sample) -> bytes:
    """Sample metadata as sorted, compact JSON (stable bytes), with ``lineage`` per image role."""
    doc = {"id": sample.id, "source": sample.source, "split": sample.split, "anomaly": sample.anomaly, **sample.meta}
    if sample.lineage:
        doc["lineage"] = {role: None if lin is None else dict(lin) for role, lin in sample.lineage.items()}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")


class PairsExporter:
    """Contrastive pairs: ``pairs.csv`` (``left, right, label``) plus copied images and masks.

    Labels follow :class:`~pcbforge.vocab.PairLabel`, the convention evaluation scores with:
    each triplet gives two rows, ``<id>-pos`` (anchor, positive, 0 = same) and ``<id>-neg``
    (anchor, negative, 1 = different); each SSDS pair gives ``<id>-sim`` (template, defected, 1),
    or (template, defected, 0) of kind ``pose_only`` for a defect-free pose-only pair: pose is
    not a defect, so the two images conform (its empty mask is kept as a segmentation target).
    Every row carries its sample's ``split`` (for an SSDS pair, its template component's),
    so a reader filters by split as with triplets; the files stay in one flat ``images/``.
    Paths in the CSV are relative to the exporter's directory; an anchor shared by several
    triplets is stored once as ``images/<anchor_id>_anchor.png``.
    """

    name = "pairs"
    COLUMNS = ("pair_id", "source_id", "source", "split", "left", "right", "label", "kind", "right_mask")

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.rows: list[dict[str, Any]] = []
        self.written: set[str] = set()

    def _copy(self, sample: Sample, role: str) -> str:
        # Triplets of one anchor share its image: copy it once, named by the anchor id.
        anchor_id = sample.meta.get("anchor_id") if role == "anchor" else None
        rel = f"images/{anchor_id}_anchor.png" if anchor_id else f"images/{sample.id}_{role}.png"
        if rel not in self.written:
            place_image(sample.images[role], self.out / rel)
            self.written.add(rel)
        return rel

    def _copy_mask(self, sample: Sample, role: str) -> str:
        if sample.mask is None:
            return ""
        rel = f"masks/{sample.id}_{role}.png"
        place_mask(sample.mask, self.out / rel)
        self.written.add(rel)
        return rel

    def _row(self, sample: Sample, suffix: str, left: str, right: str, label: int, kind: str, mask: str) -> None:
        self.rows.append(
            {
                "pair_id": f"{sample.id}-{suffix}",
                "source_id": sample.id,
                "source": sample.source,
                "split": sample.split or "",
                "left": left,
                "right": right,
                "label": int(label),
                "kind": kind,
                "right_mask": mask,
            }
        )

    def write(self, sample: Sample) -> str | None:
        if sample.source == "triplets":
            a, p, n = (self._copy(sample, r) for r in ("anchor", "positive", "negative"))
            self._row(sample, "pos", a, p, PairLabel.SAME, "positive", "")
            self._row(sample, "neg", a, n, PairLabel.DIFFERENT, sample.anomaly, self._copy_mask(sample, "negative"))
        else:
            t, d = (self._copy(sample, r) for r in ("template", "defected"))
            label, kind = (PairLabel.SAME, POSE_ONLY) if sample.is_good else (PairLabel.DIFFERENT, sample.anomaly)
            self._row(sample, "sim", t, d, label, kind, self._copy_mask(sample, "defected"))
        return None

    def close(self) -> dict[str, int]:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(self.COLUMNS), lineterminator="\n")
        writer.writeheader()
        for row in sorted(self.rows, key=lambda r: r["pair_id"]):
            writer.writerow(row)
        write_text(self.out / "pairs.csv", buf.getvalue())
        labels = Counter(r["label"] for r in self.rows)
        return {"rows": len(self.rows), "same": labels[PairLabel.SAME], "different": labels[PairLabel.DIFFERENT],
                "files": len(self.written)}  # fmt: skip


class MvtecExporter:
    """MVTec AD folder layout, one category per component class, readable by anomalib's ``MVTec``/``Folder``.

    anomalib fits one model per category, and "good" must mean one part, so each component
    class is a category ``<class>/`` (the triplet's ``class_label``; an SSDS pair's is its
    template component's, ``class_label`` in its metadata):

    - ``<class>/train/good/``: train-split anchors (once per ``anchor_id``) and positives.
    - ``<class>/test/good/``: test-split positives, and the defected views of test-split
      defect-free pose-only SSDS pairs (a pose is not an anomaly).
    - ``<class>/test/<negative_kind>/`` + ``<class>/ground_truth/<negative_kind>/<name>_mask.png``:
      test-split defect negatives, which must come with a mask (anomalib pairs every
      anomalous image with a mask by name).
    - ``<class>/test/simulated_shape/`` + masks: the defected images of test-split SSDS pairs.

    ``other_class`` negatives are left out: a different part is not an anomaly of this part.
    Val-split samples are left out (MVTec has only train and test). Train-split SSDS pairs
    are left out too: their defected image is an anomaly, which ``train/`` must not hold, and
    putting it in ``test/`` would test on a training part; their template is the component's
    crop, which the triplets' anchors already bring to ``train/good``. An SSDS pair whose
    template has no class (a shapes-mode scene, or a component no triplet names) belongs to
    no category and is left out with a note. A class held out of training by the split
    stage (``split.test_classes``) has only ``test/``; :meth:`close` counts per category, so
    the card shows which categories anomalib can fit.
    """

    name = "mvtec"

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.counts: Counter[str] = Counter()
        self.anchors: set[str] = set()

    def _put(self, rel: str, src: Path, mask: bool = False) -> None:
        (place_mask if mask else place_image)(src, self.out / rel)
        self.counts[rel.rsplit("/", 1)[0]] += 1

    def _anomaly(self, sample: Sample, cat: str, kind: str, role: str) -> str | None:
        if sample.mask is None:
            return f"mvtec: {kind} image without a mask left out (anomalib needs one per anomalous image)"
        self._put(f"{cat}/test/{kind}/{sample.id}.png", sample.images[role])
        self._put(f"{cat}/ground_truth/{kind}/{sample.id}_mask.png", sample.mask, mask=True)
        return None

    def write(self, sample: Sample) -> str | None:
        cat = category(sample)
        if sample.source == "simulate":
            if sample.split == Split.TRAIN.value:
                return "mvtec: train-split SSDS pair not exported (a training part must not be in test/)"
            if sample.split != Split.TEST.value:
                return f"mvtec: {sample.split} split not exported (MVTec has train and test only)"
            if cat is None:
                return "mvtec: SSDS pair whose template has no component class belongs to no category"
            if sample.is_good:
                self._put(f"{cat}/test/good/{sample.id}.png", sample.images["defected"])
                return None
            return self._anomaly(sample, cat, SIMULATED, "defected")
        if cat is None:
            return "mvtec: triplet without a class_label belongs to no category"
        if sample.split == Split.TRAIN.value:
            anchor_id = str(sample.meta.get("anchor_id") or f"{sample.id}_anchor")
            if anchor_id not in self.anchors:
                self.anchors.add(anchor_id)
                self._put(f"{cat}/train/good/{anchor_id}.png", sample.images["anchor"])
            self._put(f"{cat}/train/good/{sample.id}.png", sample.images["positive"])
            return None
        if sample.split == Split.TEST.value:
            self._put(f"{cat}/test/good/{sample.id}.png", sample.images["positive"])
            if sample.is_defect:
                return self._anomaly(sample, cat, sample.anomaly, "negative")
            return None
        return f"mvtec: {sample.split} split not exported (MVTec has train and test only)"

    def close(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))


def category(sample: Sample) -> str | None:
    """The MVTec category of a sample: its component class, made safe as one folder name (None: no class)."""
    cls = sample.meta.get("class_label")
    if not cls:
        return None
    return str(cls).replace("/", "_").replace("\\", "_").strip(".") or None


class _ShardStream:
    """Consecutive tar shards ``<prefix>-000000.tar``, ``-000001.tar``, ... of ``size`` samples each."""

    def __init__(self, out: Path, prefix: str, size: int, mtime: int) -> None:
        self.out, self.prefix, self.size, self.mtime = out, prefix, size, mtime
        self.shards: list[str] = []
        self.samples = 0
        self._tar: tarfile.TarFile | None = None
        self._ctx: Any = None
        self._in_shard = 0

    def _open(self) -> None:
        name = f"{self.prefix}-{len(self.shards):06d}.tar"
        self.shards.append(name)
        self._ctx = atomic_path(self.out / name)
        tmp = self._ctx.__enter__()
        # USTAR: no PAX headers with atime/ctime, so nothing but our fixed fields lands in the bytes.
        self._tar = tarfile.open(tmp, mode="w", format=tarfile.USTAR_FORMAT)
        self._in_shard = 0

    def _finish(self) -> None:
        if self._tar is not None:
            self._tar.close()
            self._ctx.__exit__(None, None, None)
            self._tar = None

    def add(self, key: str, files: list[tuple[str, bytes]]) -> None:
        if self._tar is None or self._in_shard >= self.size:
            self._finish()
            self._open()
        assert self._tar is not None
        for ext, data in files:
            info = tarfile.TarInfo(f"{key}.{ext}")
            info.size = len(data)
            info.mtime = self.mtime
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            self._tar.addfile(info, io.BytesIO(data))
        self._in_shard += 1
        self.samples += 1

    def close(self) -> None:
        self._finish()


class WebDatasetExporter:
    """WebDataset shards: one stream per source and split (``triplets-<split>-NNNNNN.tar``, ``pairs-<split>-…``).

    A triplet sample holds ``<id>.anchor.png``, ``.positive.png``, ``.negative.png``,
    ``.negative_mask.png`` (defects only) and ``.json``; a pair sample holds
    ``.template.png``, ``.defected.png``, ``.mask.png`` and ``.json`` (``anomaly``: ``none``
    and ``pose_only``: true for a defect-free pose-only pair). ``index.json`` lists
    the shards of each stream with a brace pattern for ``webdataset.WebDataset``.
    """

    name = "webdataset"

    def __init__(self, out: Path, shard_size: int, mtime: int = 0) -> None:
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.shard_size = shard_size
        self.mtime = int(mtime)
        self.streams: dict[str, _ShardStream] = {}

    def _stream(self, prefix: str) -> _ShardStream:
        if prefix not in self.streams:
            self.streams[prefix] = _ShardStream(self.out, prefix, self.shard_size, self.mtime)
        return self.streams[prefix]

    def write(self, sample: Sample) -> str | None:
        if "." in sample.id or "/" in sample.id:
            # WebDataset splits the key from the extension at the first dot of the file name.
            return f"webdataset: id {sample.id!r} has a '.' or '/' and cannot be a WebDataset key"
        if len(sample.id) > MAX_KEY:
            return f"webdataset: id {sample.id!r} is longer than {MAX_KEY} characters (USTAR name limit)"
        files = [(f"{role}.png", png_bytes(path)) for role, path in sample.images.items()]
        if sample.mask is not None:
            files.append(("negative_mask.png" if sample.source == "triplets" else "mask.png", mask_png(sample.mask)))
        files.append(("json", sample_json(sample)))
        prefix = f"{'triplets' if sample.source == 'triplets' else 'pairs'}-{sample.split}"
        self._stream(prefix).add(sample.id, files)
        return None

    def close(self) -> dict[str, int]:
        index: dict[str, Any] = {}
        counts: dict[str, int] = {}
        for prefix in sorted(self.streams):
            s = self.streams[prefix]
            s.close()
            last = len(s.shards) - 1
            index[prefix] = {
                "shards": s.shards,
                "samples": s.samples,
                "pattern": f"{prefix}-{{{0:06d}..{last:06d}}}.tar",
            }
            counts[f"{prefix} samples"] = s.samples
            counts[f"{prefix} shards"] = len(s.shards)
        write_json(self.out / "index.json", {"shard_size": self.shard_size, "streams": index})
        return counts


def _source_key(lineage: Mapping[str, Any]) -> tuple[str, ...]:
    # Null becomes "" so keys sort; a field that is really "" is written as empty anyway.
    return tuple("" if lineage.get(k) is None else str(lineage.get(k)) for k in LINEAGE_COLUMNS)


def credit_rows(samples: Iterable[Sample]) -> list[dict[str, Any]]:
    """One row per distinct source image of ``samples``, with how many samples use it, sorted.

    A source is its whole lineage, so one ``source_url`` listed with two licences shows up as
    two rows instead of one hiding the conflict. A sample counts once per source even when
    two of its images come from it (a defect of the anchor).

    Example:
        >>> src = {"source_url": "http://a/1.jpg", "licence": "CC-BY-4.0", "author": "Ann"}
        >>> s = Sample("t1", "triplets", "train", {}, None, "missing", sources=(src, src))
        >>> [(r["source_url"], r["licence_url"], r["samples"]) for r in credit_rows([s, s])]
        [('http://a/1.jpg', '', 2)]
    """
    counts: Counter[tuple[str, ...]] = Counter()
    for sample in samples:
        counts.update({_source_key(src) for src in sample.sources})
    return [{**dict(zip(LINEAGE_COLUMNS, key, strict=True)), "samples": n} for key, n in sorted(counts.items())]


def format_credits(rows: Iterable[Mapping[str, Any]]) -> str:
    """``CREDITS.csv`` text: header :data:`CREDITS_COLUMNS`, rows in the order given, LF line ends, null as empty."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CREDITS_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def expected_shards(n: int, shard_size: int) -> int:
    """Number of shards for ``n`` samples (0 for none)."""
    return math.ceil(n / shard_size) if n else 0
