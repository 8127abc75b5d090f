"""PyTorch access to a dataset version: triplets and SSDS pairs, local or pinned at a git revision.

An ML engineer reads a version without the rest of pcbforge, from a folder
(``dvc get <repo> data/triplets -o triplets --rev v1``) or straight from the producer's
repository at a tag (through ``dvc.api``, from the DVC remote the producer pushed to)::

    from pcbforge.datasets.loaders import TripletDataset, load_triplets
    frame = load_triplets("triplets", split="train")                           # a local folder
    frame = load_triplets("https://git.example/pcb.git", rev="v1", split="train")  # a pinned version
    ds = TripletDataset(frame, input_size=96, transform=my_transform, masks=True)
    anchor, positive, negative, negative_mask, meta = ds[0]

:func:`load_pairs` and :class:`PairDataset` do the same for the simulate stage's SSDS pairs.
Image paths in a manifest are relative to the directory holding it (the stage's ``out``),
so the folder can be moved or fetched anywhere. Loading checks the manifest's schema
version and that every file it names is there: a missing or unreadable file is an
:class:`~pcbforge.errors.InputError` naming the sample id, never a silently skipped sample.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from pcbforge.datasets.manifest import MANIFEST_NAMES, manifest_info, read_manifest
from pcbforge.errors import InputError
from pcbforge.vocab import Status

MANIFEST = MANIFEST_NAMES["triplets"]
#: Columns the loader needs; the full contract is in docs/stages.md.
REQUIRED = ("id", "split", "class_label", "anchor_path", "positive_path", "negative_path", "negative_kind", "status")
#: Columns :func:`load_pairs` needs from the simulate stage's ``pairs.parquet``.
PAIR_REQUIRED = ("id", "split", "template_path", "defected_path", "mask_path", "status")
#: Metadata returned with each triplet (strings; ``None`` becomes ""). ``defect_params`` is the
#: recorded defect as JSON (replayable, see docs/defects.md), "" for another-class negatives.
META_COLUMNS = ("id", "split", "class_label", "anchor_id", "negative_kind", "negative_class", "negative_id", "defect_params")
#: Metadata returned with each SSDS pair (strings; the recipe columns are JSON).
PAIR_META_COLUMNS = ("id", "split", "parent_id", "mode", "scene", "shapes", "defects", "pose")
#: Image columns of each manifest, in the order a sample returns them, and their mask column.
IMAGE_COLUMNS = {"triplets": ("anchor_path", "positive_path", "negative_path"), "simulate": ("template_path", "defected_path")}
MASK_COLUMN = {"triplets": "negative_mask_path", "simulate": "mask_path"}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Where datasets read at a revision are kept (one folder per repository, commit and path);
#: ``PCBFORGE_CACHE`` moves it.
CACHE_ENV = "PCBFORGE_CACHE"

#: An image transform: decoded RGB image (resized to ``input_size``) -> what the dataset returns.
Transform = Callable[[Image.Image], Any]


def cache_root() -> Path:
    """``$PCBFORGE_CACHE/datasets``, else ``~/.cache/pcbforge/datasets``."""
    base = os.environ.get(CACHE_ENV) or Path("~/.cache/pcbforge").expanduser()
    return Path(base) / "datasets"


def fetch(repo: str | os.PathLike[str], rev: str, path: str | None, stage: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Copy a stage's output folder at git revision ``rev`` of ``repo`` to a local folder, once.

    Reads through :class:`dvc.api.DVCFileSystem`: git-tracked files come from the repository
    at ``rev``, DVC-tracked ones from the producer's DVC remote (``dvc push`` must have sent
    them there). The copy lands in ``cache_dir/<key>``, where ``key`` hashes the repository,
    the commit ``rev`` resolves to and ``path``, so a moved branch is fetched again and a tag
    is fetched once; an interrupted copy is never taken for a complete one (it is renamed
    into place at the end).

    Args:
        repo: a git URL or a local git repository path.
        rev: a tag, branch or commit.
        path: the folder inside the repository; ``None`` reads ``<stage>.out`` from the
            repository's params.yaml at ``rev``.
        stage: ``triplets`` or ``simulate`` (the manifest expected inside).
        cache_dir: where copies are kept (default :func:`cache_root`).

    Raises:
        InputError: the repository, revision or folder cannot be read, or the remote lacks the files.
    """
    from dvc.api import DVCFileSystem  # dvc is heavy: only readers at a revision pay for it

    where = f"{repo}@{rev}"
    try:
        fs = DVCFileSystem(str(repo), rev=rev)
        if path is None:
            raw = yaml.safe_load(fs.read_text("params.yaml")) or {}
            path = str(raw.get(stage, {}).get("out") or "")
            if not path:
                raise InputError(f"{where}: params.yaml has no {stage}.out; pass path=")
        commit = fs.repo.get_rev()
        key = hashlib.sha256(f"{repo}\0{commit}\0{path}".encode()).hexdigest()[:20]
        dest = Path(cache_dir) if cache_dir is not None else cache_root()
        dest = dest / key
        if dest.is_dir():
            return dest
        if not fs.isdir(path):
            raise InputError(f"{where}: no folder {path!r} in the repository (check the path and the tag)")
        tmp = dest.with_name(f"{key}.tmp-{os.getpid()}")
        fs.get(path.rstrip("/") + "/", str(tmp), recursive=True)
    except InputError:
        raise
    except Exception as exc:  # dvc/scmrepo raise many types; each is a user-fixable input problem here
        raise InputError(
            f"cannot read {path or stage} from {where}: {type(exc).__name__}: {exc} "
            "(is the tag pushed, and did the producer `dvc push` to the remote in its .dvc/config?)"
        ) from exc
    tmp.replace(dest)
    return dest


def _manifest_at(source: str | os.PathLike[str], stage: str, rev: str | None, path: str | None, cache_dir: Any) -> Path:
    if rev is not None:
        source = fetch(source, rev, path, stage, cache_dir)
    p = Path(source)
    return p / MANIFEST_NAMES[stage] if p.is_dir() or p.suffix != ".parquet" else p


def _load(manifest: Path, stage: str, require: Sequence[str], split: str | Sequence[str] | None, ok_only: bool, verify: bool) -> pd.DataFrame:
    df = read_manifest(manifest, stage, require=require)
    if ok_only:
        df = df[df["status"] == Status.OK.value]
    if split is not None:
        splits = [split] if isinstance(split, str) else list(split)
        df = df[df["split"].isin(splits)]
    df = df.sort_values("id", kind="mergesort").reset_index(drop=True)
    root = manifest.resolve().parent
    df.attrs["root"] = root
    df.attrs["schema_version"] = manifest_info_version(manifest, stage)
    if verify:
        check_files(df, root, stage)
    return df


def manifest_info_version(manifest: Path, stage: str) -> int:
    """The schema version a manifest was written with (0 for a file that predates versions)."""
    import pyarrow.parquet as pq

    return int(manifest_info(pq.read_schema(manifest)).get("schema_version", 0) or 0)


def check_files(frame: pd.DataFrame, root: Path, stage: str = "triplets") -> None:
    """Refuse a dataset whose manifest names a file that is not there, naming the sample ids.

    A pulled or copied dataset can lose files (an interrupted ``dvc pull``, a partial copy);
    a loader that skipped such samples would train on another dataset than the one pinned.

    Raises:
        InputError: one line with the count, the first few ids and files, and what to do.
    """
    cols = [c for c in (*IMAGE_COLUMNS[stage], MASK_COLUMN[stage]) if c in frame.columns]
    missing: list[str] = []
    for rec in frame[["id", *cols]].itertuples(index=False):
        for col, rel in zip(cols, rec[1:], strict=True):
            if isinstance(rel, str) and rel and not (root / rel).is_file():
                missing.append(f"{rec[0]} ({col}: {rel})")
    if missing:
        shown = "; ".join(missing[:5]) + (f"; ... {len(missing) - 5} more" if len(missing) > 5 else "")
        raise InputError(
            f"{root}: {len(missing)} file(s) named in {MANIFEST_NAMES[stage]} are missing: {shown} "
            "(the copy is incomplete: `dvc pull` / fetch the version again)"
        )


def seeded_subset(frame: pd.DataFrame, limit: int | None, rng: np.random.Generator) -> pd.DataFrame:
    """At most ``limit`` rows of ``frame`` drawn without replacement by ``rng``, in their order.

    ``frame`` itself when ``limit`` is ``None`` or not below its length; ``attrs`` (the image
    root) are kept, the index is reset.
    """
    if limit is None or len(frame) <= limit:
        return frame
    keep = np.sort(rng.choice(len(frame), size=limit, replace=False))
    attrs = dict(frame.attrs)
    out = frame.iloc[keep].reset_index(drop=True)
    out.attrs.update(attrs)
    return out


def load_triplets(
    path_or_dvc_dir: str | os.PathLike[str],
    split: str | Sequence[str] | None = None,
    ok_only: bool = True,
    *,
    rev: str | None = None,
    path: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    verify: bool = True,
) -> pd.DataFrame:
    """Read ``triplets.parquet`` from a triplets directory (or the file itself), or from a repository at ``rev``.

    Args:
        path_or_dvc_dir: ``triplets.out`` (a stage output, or a folder fetched with
            ``dvc get``/``dvc import``) or the path of ``triplets.parquet``; with ``rev``, a
            git repository (URL or local path) whose DVC remote holds the data.
        split: keep only this split (or these splits); ``None`` keeps all.
        ok_only: drop rows whose ``status`` is not ``ok`` (rejected rows have no images).
        rev: a git tag, branch or commit: read that version through ``dvc.api`` (see :func:`fetch`).
        path: with ``rev``, the folder inside the repository (default: its ``triplets.out``).
        cache_dir: with ``rev``, where the fetched version is kept (default :func:`cache_root`).
        verify: check that every image and mask the kept rows name exists.

    Returns:
        The manifest sorted by id, with ``frame.attrs["root"]`` set to the directory
        image paths are relative to and ``frame.attrs["schema_version"]`` to the file's version.

    Raises:
        InputError: missing/unreadable manifest, a newer schema version than this pcbforge
            reads, missing columns, missing files (named by triplet id), or an unreadable revision.

    Example:
        >>> df = load_triplets("data/triplets", split="test")  # doctest: +SKIP
        >>> df.attrs["root"]                                   # doctest: +SKIP
        PosixPath('/abs/data/triplets')
        >>> v1 = load_triplets("https://github.com/me/pcb-data.git", rev="v1")  # doctest: +SKIP
    """
    manifest = _manifest_at(path_or_dvc_dir, "triplets", rev, path, cache_dir)
    return _load(manifest, "triplets", REQUIRED, split, ok_only, verify)


def load_pairs(
    path_or_dvc_dir: str | os.PathLike[str],
    split: str | Sequence[str] | None = None,
    ok_only: bool = True,
    *,
    rev: str | None = None,
    path: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    verify: bool = True,
) -> pd.DataFrame:
    """Read the simulate stage's ``pairs.parquet`` (SSDS template/defected/mask), as :func:`load_triplets` does.

    With ``rev``, ``path`` defaults to the repository's ``simulate.out``.

    Example:
        >>> pairs = load_pairs("data/simulate", split="test")  # doctest: +SKIP
        >>> ds = PairDataset(pairs, input_size=128)             # doctest: +SKIP
    """
    manifest = _manifest_at(path_or_dvc_dir, "simulate", rev, path, cache_dir)
    return _load(manifest, "simulate", PAIR_REQUIRED, split, ok_only, verify)


def read_image(path: str | os.PathLike[str], input_size: int | None) -> Image.Image:
    """Decode an image as RGB, resized to ``input_size`` squared (bilinear; ``None`` keeps its size)."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if input_size is not None and im.size != (input_size, input_size):
                im = im.resize((input_size, input_size), Image.Resampling.BILINEAR)
            return im
    except FileNotFoundError as exc:
        raise InputError(f"image missing: {path} (re-run the stage, or fetch the dataset version again)") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"image unreadable: {path}: {exc} (re-run the stage, or fetch the dataset version again)") from exc


def read_mask(path: Path | None, input_size: int | None, size: tuple[int, int] | None = None) -> torch.Tensor:
    """A binary mask as a float32 ``(1, H, W)`` tensor of 0/1 (nearest resize).

    ``path`` None (no mask: another class, nothing changed) gives zeros of ``input_size``
    squared, or of ``size`` (width, height) when ``input_size`` is None.
    """
    if path is None:
        w, h = (input_size, input_size) if input_size is not None else size or (0, 0)
        return torch.zeros((1, h, w), dtype=torch.float32)
    try:
        with Image.open(path) as im:
            m = im.convert("L")
            if input_size is not None and m.size != (input_size, input_size):
                m = m.resize((input_size, input_size), Image.Resampling.NEAREST)
            arr = np.asarray(m) > 0
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"mask unreadable: {path}: {exc} (fetch the dataset version again)") from exc
    return torch.from_numpy(arr.astype(np.float32)[None])


def to_tensor(image: Image.Image, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """HWC uint8 RGB -> normalised CHW float32 tensor."""
    arr = np.asarray(image, dtype=np.float32) / 255.0
    arr = (arr - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def _text(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)


class _ManifestDataset(Dataset):
    """Shared reading of a manifest's images, masks and metadata (see the two subclasses)."""

    stage = "triplets"
    meta_columns: tuple[str, ...] = META_COLUMNS

    def __init__(
        self,
        frame: pd.DataFrame,
        input_size: int | None = 96,
        root: str | os.PathLike[str] | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        cache: bool = False,
        transform: Transform | None = None,
        masks: bool = False,
    ) -> None:
        root = root if root is not None else frame.attrs.get("root")
        if root is None:
            raise ValueError(f"{type(self).__name__} needs root= or a frame from load_triplets()/load_pairs()")
        self.root = Path(root)
        self.frame = frame.reset_index(drop=True)
        self.input_size = None if input_size is None else int(input_size)
        self.mean, self.std = tuple(mean), tuple(std)
        self.transform = transform
        self.masks = masks
        self._ids = self.frame["id"].astype(str).tolist()
        self._paths = self.frame[list(IMAGE_COLUMNS[self.stage])].to_numpy(dtype=object)
        mask_col = MASK_COLUMN[self.stage]
        self._masks = [_text(v) for v in self.frame[mask_col]] if mask_col in self.frame else [""] * len(self.frame)
        self._meta = [{c: _text(row.get(c)) for c in self.meta_columns} for row in self.frame.to_dict("records")]
        self._cache: dict[str, Any] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.frame)

    def image(self, rel_path: str) -> Any:
        """One image (relative to ``root``): ``transform(image)``, or a normalised tensor without one."""
        if self._cache is not None and rel_path in self._cache:
            return self._cache[rel_path]
        im = read_image(self.root / rel_path, self.input_size)
        t = self.transform(im) if self.transform is not None else to_tensor(im, self.mean, self.std)
        if self._cache is not None:
            self._cache[rel_path] = t
        return t

    def _item(self, index: int) -> tuple[list[Any], torch.Tensor | None, dict[str, Any]]:
        sid = self._ids[index]
        try:
            images = [self.image(p) for p in self._paths[index]]
            mask = None
            if self.masks:
                rel = self._masks[index]
                size = None
                if not rel and self.input_size is None:
                    with Image.open(self.root / self._paths[index][-1]) as im:
                        size = im.size
                mask = read_mask(self.root / rel if rel else None, self.input_size, size)
        except (InputError, OSError) as exc:
            raise InputError(f"{self.stage} sample {sid}: {exc}") from exc
        return images, mask, dict(self._meta[index])


class TripletDataset(_ManifestDataset):
    """Map-style dataset of (anchor, positive, negative[, negative_mask], meta) over a triplets manifest.

    Each image is decoded as RGB, resized to ``input_size`` squared, and either passed to
    ``transform`` (whatever it returns is returned, e.g. a torchvision pipeline's tensor) or,
    without one, turned into a float32 tensor ``(3, input_size, input_size)`` normalised with
    ``mean``/``std``. With ``masks=True`` the item also holds the negative's defect mask as a
    float32 ``(1, H, W)`` tensor of 0/1 at ``input_size`` (zeros for an ``other_class``
    negative, which has none). ``meta`` is a dict of strings (:data:`META_COLUMNS`: id, split,
    class, anchor, negative kind/class/id and the defect parameters as JSON) that the default
    collate turns into lists.

    Args:
        frame: output of :func:`load_triplets` (or any frame with its columns).
        input_size: resize target (``None`` keeps each image's size).
        root: directory the image paths are relative to; defaults to ``frame.attrs["root"]``.
        cache: keep decoded images in memory (worth it for many epochs over a small
            set; off by default because memory grows with the dataset).
        transform: called on each decoded RGB image instead of the default normalisation.
        masks: also return the negative's mask (after the negative).

    Raises (on access):
        InputError: an image or mask cannot be read; the message names the triplet id.
    """

    stage = "triplets"
    meta_columns = META_COLUMNS

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        (a, p, n), mask, meta = self._item(index)
        return (a, p, n, mask, meta) if self.masks else (a, p, n, meta)


class PairDataset(_ManifestDataset):
    """Map-style dataset of SSDS pairs: (template, defected[, mask], meta) over the simulate manifest.

    Images as in :class:`TripletDataset`; with ``masks=True`` (the natural target of a pair)
    the defected view's change mask follows it (all zeros for a pose-only pair). ``meta``
    holds :data:`PAIR_META_COLUMNS` as strings (the recipe columns ``shapes``, ``defects``
    and ``pose`` are JSON, replayable with :func:`pcbforge.datasets.pairs.replay`).
    """

    stage = "simulate"
    meta_columns = PAIR_META_COLUMNS

    def __init__(self, frame: pd.DataFrame, input_size: int | None = None, masks: bool = True, **kwargs: Any) -> None:
        super().__init__(frame, input_size=input_size, masks=masks, **kwargs)

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        (t, d), mask, meta = self._item(index)
        return (t, d, mask, meta) if self.masks else (t, d, meta)


def decode_json(meta_value: str) -> Any:
    """A JSON metadata string (``defect_params``, ``pose``, ...) as Python, ``None`` for ""."""
    return json.loads(meta_value) if meta_value else None
