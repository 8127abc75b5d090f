"""Find the boards of a YOLO dataset the way Ultralytics reads it: image files and their label files.

A dataset is a ``data.yaml`` (its ``names`` are the classes) and the images it points at:

* ``train`` / ``val`` / ``test`` keys, each a folder, a ``.txt`` file listing image paths, or
  a list of them, resolved against ``path:`` (or the ``data.yaml`` folder). As Ultralytics
  does, an entry starting with ``../`` that does not exist is tried without it: Roboflow
  exports write ``train: ../train/images`` next to ``train/``.
* with none of those keys, every image under an ``images`` folder anywhere below the
  dataset root: ``images/<board>``, ``images/<split>/<board>``, ``<split>/images/<board>``
  (Roboflow's ``train/ valid/ test/``).

An image's label file is Ultralytics' rule: the last ``images`` folder of its path becomes
``labels`` and the suffix ``.txt`` (any case: ``.TXT`` too); an image with no ``images``
folder in its path has its label file beside it. Symlinked folders are followed (each real
folder once); an image reached twice (listed in two splits, or through a link) is one board,
taken where it is first listed.

A board's name is the image path relative to the dataset root without the ``images``
folder and the suffix: ``train/images/x.jpg`` and ``images/train/x.jpg`` are both
``train/x`` (if both exist, each keeps its ``images`` folder in its name to stay apart).
Nothing vanishes: a label file without an image, an image listed in a ``.txt`` file but
missing, and two images for one label file come back as boards with a ``problem``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pcbforge.annotate.yolo import SPLIT_KEYS, read_data_yaml, split_entries
from pcbforge.errors import InputError

log = logging.getLogger(__name__)

#: Image suffixes a YOLO dataset may hold (compared lower-cased: ``.JPG`` is an image).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
#: Label files some exporters write beside the labels that are not labels of a board.
NOT_LABELS = frozenset({"classes.txt"})
#: The layouts looked for, as error messages name them.
LAYOUTS = (
    "images/<split>/ + labels/<split>/",
    "<split>/images/ + <split>/labels/ (Roboflow train/ valid/ test/)",
    "images/ + labels/",
)


@dataclass(frozen=True)
class BoardFiles:
    """One board of a dataset: its image and label file, named relative to the dataset root."""

    board: str
    image: Path | None
    labels: Path | None
    #: The image as the dataset names it (``images/train/x.jpg``; ``images/train/x.*`` when missing).
    image_name: str
    #: The label file as the dataset names it (expected name when missing).
    labels_name: str
    #: A problem found while pairing (the board becomes an error row).
    problem: str | None = None


@dataclass(frozen=True)
class Dataset:
    """What :func:`scan` found in one dataset."""

    data_yaml: Path
    #: The folder board names and file names are relative to (``path:`` or the data.yaml folder).
    root: Path
    #: The parsed data.yaml.
    data: Mapping[str, Any]
    boards: list[BoardFiles]
    #: What was looked at, for the "no box found" message (one line).
    looked: str
    images: int = 0
    label_files: int = 0
    notes: list[str] = field(default_factory=list)


def locate(path: Path) -> tuple[Path, Path, dict[str, Any]]:
    """Find a dataset's ``data.yaml`` and root from a folder or a ``.yaml`` file.

    Returns:
        ``(data_yaml, root, data)``.

    Raises:
        InputError: nothing at ``path``, no data.yaml, unreadable or invalid YAML.
    """
    if path.is_file() and path.suffix.lower() in (".yaml", ".yml"):
        data_yaml = path
    elif path.is_dir():
        data_yaml = path / "data.yaml"
        if not data_yaml.is_file():
            raise InputError(
                f"{data_yaml}: missing (a YOLO folder needs data.yaml with the class 'names:'; "
                "or point the source at the dataset's .yaml file)"
            )
    else:
        raise InputError(f"boards directory not found: {path} (set crop.boards or crop.sources to a YOLO folder, or run `pcbforge catalog`)")
    try:
        text = data_yaml.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{data_yaml}: unreadable: {exc}") from exc
    data = read_data_yaml(text, str(data_yaml))
    here = data_yaml.parent
    root = here
    given = data.get("path")
    if isinstance(given, str) and given.strip():
        cand = Path(given) if Path(given).is_absolute() else here / given
        if cand.is_dir():
            root = Path(os.path.normpath(cand))
        else:
            # Exports often carry the exporter's own path (/content/datasets/...): the folder
            # data.yaml sits in is where the files are once the export is copied.
            log.info("%s: path %r is not a folder here; reading the folder data.yaml is in", data_yaml, given)
    return data_yaml, root, data


def _walk(top: Path) -> Iterator[Path]:
    """Files under ``top`` in sorted order, following symlinked folders (each real folder once)."""
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def _is_image(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_SUFFIXES


def _rel(p: Path, root: Path) -> PurePosixPath:
    return PurePosixPath(Path(os.path.relpath(p, root)).as_posix())


def _swap_last(parts: tuple[str, ...], old: str, new: str) -> tuple[str, ...] | None:
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == old:
            return (*parts[:i], new, *parts[i + 1 :])
    return None


def label_name(image: PurePosixPath) -> PurePosixPath:
    """The label file Ultralytics reads for ``image``: last ``images`` folder -> ``labels``, suffix ``.txt``.

    Example:
        >>> label_name(PurePosixPath("train/images/x.JPG")), label_name(PurePosixPath("imgs/x.png"))
        (PurePosixPath('train/labels/x.txt'), PurePosixPath('imgs/x.txt'))
    """
    parent = _swap_last(image.parent.parts, "images", "labels")
    return PurePosixPath(*(parent if parent is not None else image.parent.parts), image.stem + ".txt")


def board_name(image: PurePosixPath) -> str:
    """A board's name: the image path without its last ``images`` folder and its suffix.

    Example:
        >>> board_name(PurePosixPath("images/train/x.jpg")), board_name(PurePosixPath("valid/images/x.jpg"))
        ('train/x', 'valid/x')
    """
    parts = image.parent.parts
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts = (*parts[:i], *parts[i + 1 :])
            break
    return PurePosixPath(*parts, image.stem).as_posix()


class _LabelIndex:
    """Label files per folder, matched by stem with the ``.txt`` suffix in any case."""

    def __init__(self) -> None:
        self._dirs: dict[Path, dict[str, list[Path]]] = {}

    def files(self, folder: Path) -> dict[str, list[Path]]:
        if folder not in self._dirs:
            found: dict[str, list[Path]] = {}
            if folder.is_dir():
                for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                    if entry.name.lower().endswith(".txt") and entry.is_file() and entry.name not in NOT_LABELS:
                        p = Path(entry.path)
                        found.setdefault(p.stem, []).append(p)
            self._dirs[folder] = found
        return self._dirs[folder]

    def find(self, path: Path) -> list[Path]:
        return self.files(path.parent).get(path.stem, [])


def _resolve_entry(root: Path, entry: str) -> Path:
    p = Path(os.path.normpath(root / entry))
    if not p.exists() and entry.startswith("../"):
        p = Path(os.path.normpath(root / entry[3:]))
    return p


def _list_file(txt: Path, root: Path) -> Iterator[tuple[Path, int]]:
    """Image paths of a ``.txt`` list (``./x`` and relative lines against the list's folder, else the root)."""
    try:
        lines = txt.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{txt}: unreadable image list: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        p = Path(line)
        if not p.is_absolute():
            near = Path(os.path.normpath(txt.parent / line))
            p = near if near.exists() or not Path(os.path.normpath(root / line)).exists() else Path(os.path.normpath(root / line))
        yield p, number


def scan(path: Path, show: Callable[[Path], str] = str) -> Dataset:
    """Find every board of the dataset at ``path`` (a folder with data.yaml, or the .yaml file).

    Args:
        path: the dataset.
        show: how problems and notes name files (e.g. relative to the project).

    Raises:
        InputError: see :func:`locate`; an unreadable ``.txt`` image list.
    """
    data_yaml, root, data = locate(path)
    return find_boards(root, data, data_yaml, show)


def find_boards(
    root: Path, data: Mapping[str, Any], data_yaml: Path | None = None, show: Callable[[Path], str] = str
) -> Dataset:
    """The boards under ``root`` for a parsed data.yaml ``data`` (its split keys; without them, every layout).

    Raises:
        InputError: bad split keys; an unreadable ``.txt`` image list.
    """
    data_yaml = data_yaml or root / "data.yaml"
    entries = split_entries(data, str(data_yaml))
    images: list[tuple[Path, str | None]] = []  # (path as listed, problem)
    label_dirs: list[Path] = []
    looked: list[str] = []
    notes: list[str] = []
    if entries:
        for key in SPLIT_KEYS:
            for entry in entries.get(key, []):
                p = _resolve_entry(root, entry)
                if p.is_dir():
                    found = [f for f in _walk(p) if _is_image(f)]
                    images += [(f, None) for f in found]
                    swapped = _swap_last(p.parts, "images", "labels")
                    for lab in _walk(Path(*swapped) if swapped else p):
                        if lab.suffix.lower() == ".txt" and lab.parent not in label_dirs:
                            label_dirs.append(lab.parent)
                    looked.append(f"{key}: {entry} ({len(found)} images)")
                elif p.is_file() and p.suffix.lower() == ".txt":
                    listed = list(_list_file(p, root))
                    for f, line in listed:
                        if not _is_image(f):
                            notes.append(f"{show(p)}:{line}: {show(f)} is not an image ({', '.join(IMAGE_SUFFIXES)}); skipped")
                        else:
                            images.append((f, None if f.is_file() else f"{show(p)}:{line}: listed image {show(f)} not found"))
                    looked.append(f"{key}: {entry} ({len(listed)} listed)")
                else:
                    looked.append(f"{key}: {entry} (not found)")
                    log.warning("%s: %s: %s is neither a folder nor a .txt image list; nothing read from it", data_yaml, key, entry)
        how = "data.yaml " + "; ".join(looked)
    else:
        stray = 0
        for f in _walk(root):
            rel = _rel(f, root)
            if "images" in rel.parent.parts:
                if _is_image(f):
                    images.append((f, None))
                else:
                    notes.append(f"{show(f)}: not an image suffix ({', '.join(IMAGE_SUFFIXES)}); skipped")
            elif "labels" in rel.parent.parts and f.suffix.lower() == ".txt":
                if f.parent not in label_dirs:
                    label_dirs.append(f.parent)
            elif _is_image(f):
                stray += 1
        how = "data.yaml train/val/test (none set); " + "; ".join(LAYOUTS)
        if stray:
            how += f" ({stray} images outside an images/ folder were not read)"
    return _pair(data_yaml, root, data, images, label_dirs, how, notes, show)


def _pair(
    data_yaml: Path,
    root: Path,
    data: Mapping[str, Any],
    images: list[tuple[Path, str | None]],
    label_dirs: list[Path],
    how: str,
    notes: list[str],
    show: Callable[[Path], str],
) -> Dataset:
    index = _LabelIndex()
    seen: dict[str, Path] = {}
    twice = 0
    by_label: dict[str, list[tuple[Path, PurePosixPath, str | None]]] = {}
    order: list[str] = []
    used: set[Path] = set()
    for img, problem in images:
        real = os.path.realpath(img)
        if real in seen:
            twice += 1
            continue
        seen[real] = img
        rel = _rel(img, root)
        lab_rel = label_name(rel)
        key = lab_rel.as_posix()
        if key not in by_label:
            by_label[key] = []
            order.append(key)
        by_label[key].append((img, rel, problem))
    if twice:
        notes.append(f"{twice} images reached twice (listed in two splits or through a link): each is one board, where first listed")
    boards: list[BoardFiles] = []
    n_labels = 0
    for key in order:
        found = by_label[key]
        lab_rel = PurePosixPath(key)
        lab_files = index.find(Path(os.path.normpath(root / lab_rel)))
        used.update(lab_files)
        n_labels += bool(lab_files)
        img, rel, problem = found[0]
        if problem is None and len(found) > 1:
            problem = f"{', '.join(show(i) for i, _, _ in found)}: several images for one board ({show(root / lab_rel)} is ambiguous); keep one"
        if problem is None and len(lab_files) > 1:
            problem = f"{', '.join(show(p) for p in lab_files)}: several label files for one image; keep one"
        labels = lab_files[0] if lab_files else None
        boards.append(
            BoardFiles(
                board=board_name(rel),
                image=img if img.is_file() else None,
                labels=labels,
                image_name=rel.as_posix(),
                labels_name=_rel(labels, root).as_posix() if labels else lab_rel.as_posix(),
                problem=problem,
            )
        )
    for folder in label_dirs:
        for files in index.files(folder).values():
            for lab in files:
                if lab in used:
                    continue
                used.add(lab)
                rel = _rel(lab, root)
                parent = _swap_last(rel.parent.parts, "labels", "images")
                image_name = PurePosixPath(*(parent or rel.parent.parts), rel.stem + ".*").as_posix()
                boards.append(BoardFiles(board_name(PurePosixPath(image_name)), None, lab, image_name, rel.as_posix()))
    boards = _unique_names(boards)
    return Dataset(data_yaml, root, data, sorted(boards, key=lambda b: b.board), how, len(seen), n_labels, notes)


def _unique_names(boards: list[BoardFiles]) -> list[BoardFiles]:
    """Boards whose short names collide keep their whole path (``train/images/x``, ``images/train/x``)."""
    count: dict[str, int] = {}
    for b in boards:
        count[b.board] = count.get(b.board, 0) + 1
    out = []
    for b in boards:
        if count[b.board] > 1:
            name = PurePosixPath(b.image_name)
            b = BoardFiles(name.with_name(name.stem).as_posix(), b.image, b.labels, b.image_name, b.labels_name, b.problem)
        out.append(b)
    return out
