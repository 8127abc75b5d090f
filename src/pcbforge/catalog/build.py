"""Build the whole offline catalog into a directory: shop site, boards and ground truth.

Work is split into independent render tasks (one photo, one junk image, one board), each
with its own seeded stream, so the bytes written never depend on worker count or order.
Duplicates are made afterwards from the *published* file of their original, exactly as a
second shop would re-use a photo it found.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np

from PIL import Image
from tqdm import tqdm

from pcbforge.catalog import site
from pcbforge.catalog.boards import data_yaml, draw_board, yolo_lines
from pcbforge.catalog.junk import make_duplicate, make_junk
from pcbforge.catalog.photo import draw_photo
from pcbforge.config import CatalogParams
from pcbforge.datasets.manifest import MANIFEST_NAMES, ManifestWriter, ok_row, rejected_row
from pcbforge.io import atomic_path, encode_png, sha256_bytes, write_bytes
from pcbforge.parallel import imap_ordered
from pcbforge.rng import make_rng
from pcbforge.vocab import ComponentClass

log = logging.getLogger(__name__)

#: Licence and author recorded for generated boards.
BOARD_LICENCE = "CC0-1.0"
BOARD_AUTHOR = "pcbforge catalog"
#: Below this many tasks a process pool costs more than it saves.
MIN_PARALLEL_TASKS = 24


def encode(image: Image.Image, fmt: str, quality: int) -> bytes:
    """Encode ``image`` as ``jpeg``/``png``/``webp`` (deterministic bytes: no metadata, fixed settings)."""
    if fmt == "png":
        return encode_png(image)
    buf = io.BytesIO()
    if fmt == "jpeg":
        image.save(buf, format="JPEG", quality=quality)
    elif fmt == "webp":
        image.save(buf, format="WEBP", quality=quality, method=4)
    else:
        raise ValueError(f"unknown image format {fmt!r}")
    return buf.getvalue()


def _render_item(args: tuple[int, site.Item, tuple[int, int]]) -> tuple[bytes, int, int]:
    seed, item, size = args
    if item.kind == "junk":
        rng = make_rng(seed, "catalog", "junk", item.id)
        img = make_junk(item.junk_kind or "blank", rng, size, item.cls)
    else:
        rng = make_rng(seed, "catalog", "photo", item.id)
        img = draw_photo(item.cls, rng, size)
    quality = int(rng.integers(82, 96))
    return encode(img, item.fmt, quality), img.width, img.height


def _render_board(args: tuple[int, str, tuple[int, int], tuple[int, int]]) -> tuple[bytes, str, int]:
    seed, board_id, size, n_parts = args
    img, placements = draw_board(make_rng(seed, "catalog", "board", board_id), size, n_parts)
    lines = yolo_lines(placements, size)
    return encode_png(img), "".join(line + "\n" for line in lines), len(lines)


def _render(task: tuple[str, tuple[Any, ...]]) -> Any:
    # One picklable entry point, so boards (slow) and photos (fast) share one pool and balance.
    kind, args = task
    return _render_board(args) if kind == "board" else _render_item(args)  # type: ignore[arg-type]


def _write(root: Path, rel: str, data: bytes | str) -> None:
    write_bytes(root / rel, data.encode("utf-8") if isinstance(data, str) else data)


def build_catalog(root: str | os.PathLike[str], seed: int, spec: CatalogParams, workers: int = 1) -> Counter[str]:
    """Generate the site under ``root/site``, boards under ``root/boards`` and the ground truth.

    The ground truth is ``root/catalog.parquet``: one row per image (product, duplicate, junk,
    private, board), with ``image_path``/``page_path`` relative to ``root``. Images go to
    disk as they are made and rows to Arrow columns (:class:`ManifestWriter`), so memory
    does not grow with the images (benchmarks/bench_memory.py).

    Args:
        root: an empty directory (the stage passes its staged output directory).
        seed: ``base.seed``.
        spec: what to generate (``params.catalog``; its ``out`` is not read, ``root`` is).
        workers: processes for rendering; the output is identical for any value.

    Returns:
        Rows per ``kind``, and ``labelled_parts``: the boards' labelled parts.
    """
    root = Path(root)
    plan = site.Plan.build(seed, spec.products_per_class, spec.duplicate_fraction, spec.junk_images)
    originals = plan.where("product", "junk", "private")
    dups = plan.where("duplicate")
    board_ids = [f"board-{i:03d}" for i in range(spec.boards)]
    photo_size = (int(spec.photo_size[0]), int(spec.photo_size[1]))
    board_size = (int(spec.board_size[0]), int(spec.board_size[1]))
    n_parts = (int(spec.components_per_board[0]), int(spec.components_per_board[1]))

    sroot = root / "site"
    broot = root / "boards"
    (broot / "images").mkdir(parents=True, exist_ok=True)
    (broot / "labels").mkdir(parents=True, exist_ok=True)
    manifest = ManifestWriter(root / MANIFEST_NAMES["catalog"], stage="catalog")
    counts: Counter[str] = Counter()

    def add(row: dict[str, Any]) -> None:
        manifest.add(row)
        counts[row["kind"]] += 1
        counts["labelled_parts"] += row["n_objects"] or 0

    def publish(it: site.Item, data: bytes, row: dict[str, Any]) -> None:
        _write(sroot, it.image_path, data)
        _write(sroot, it.page_path, site.render_product(it))
        add(row)

    try:
        with tqdm(total=len(plan) + len(board_ids), desc="catalog", unit="img", leave=False) as bar:
            # Boards first: the slowest tasks start early, so the pool ends evenly. Tasks are made
            # as the pool takes them, and each result goes to disk as it arrives: memory is flat in
            # the catalog's size (holding every encoded image until the end took 845 MB at 20k).
            tasks = _Tasks(seed, plan, originals, photo_size, [(seed, b, board_size, n_parts) for b in board_ids])
            results = imap_ordered(_render, tasks, workers, min_parallel=MIN_PARALLEL_TASKS, max_chunk=8, bar=bar)
            for bid, (png, labels, n) in zip(board_ids, results):
                _write(broot, f"images/{bid}.png", png)
                _write(broot, f"labels/{bid}.txt", labels)
                add(_board_row(bid, png, n, board_size, n_parts))
            for i, (data, w, h) in zip(originals, results, strict=True):
                it = plan[int(i)]
                publish(it, data, _item_row(it, data, w, h))
            for i in dups:
                # The original's published bytes are its file: read back, as a second shop would.
                it, orig = plan[int(i)], plan[int(plan.dup_of[i])]
                with Image.open(sroot / orig.image_path) as im:
                    src = im.convert("RGB")
                data, transform = make_duplicate(src, make_rng(seed, "catalog", "duplicate", it.id))
                with Image.open(io.BytesIO(data)) as im:
                    w, h = im.size
                publish(it, data, {**_item_row(it, data, w, h), "dup_transform": json.dumps(transform, sort_keys=True)})
                bar.update()

        listed: dict[ComponentClass, int] = {}
        for cls in ComponentClass:
            listing = plan.listing(cls)
            listed[cls] = len(listing)
            pages = site.paginate(listing.tolist(), spec.per_page)
            for n, page in enumerate(pages, start=1):
                html = site.render_category(cls, [plan[int(i)] for i in page], n, len(pages))
                _write(sroot, f"category/{site.slug(cls)}/page-{n}.html", html)
        _write(sroot, "index.html", site.render_index(listed))
        _write(sroot, "private/index.html", site.render_private_index([plan[int(i)] for i in plan.where("private")]))
        _write(sroot, "robots.txt", site.ROBOTS)
        with atomic_path(sroot / "sitemap.xml") as tmp, tmp.open("w", encoding="utf-8", newline="\n") as f:
            f.writelines(site.render_sitemap(plan[int(i)] for i in plan.by_id()))
        _write(sroot, "style.css", site.CSS)
        _write(broot, "data.yaml", data_yaml(BOARD_LICENCE, BOARD_AUTHOR))
    except BaseException:
        manifest.discard()  # its spill file goes now, not when the writer is collected
        raise
    manifest.close()
    return counts


class _Tasks(Sequence[tuple[str, tuple[Any, ...]]]):
    """The render tasks (boards, then the originals of ``plan``), each made when the pool takes it."""

    def __init__(
        self,
        seed: int,
        plan: site.Plan,
        originals: np.ndarray,
        photo_size: tuple[int, int],
        boards: list[tuple[Any, ...]],
    ) -> None:
        self.seed, self.plan, self.originals, self.photo_size, self.boards = seed, plan, originals, photo_size, boards

    def __len__(self) -> int:
        return len(self.boards) + len(self.originals)

    @overload
    def __getitem__(self, i: int) -> tuple[str, tuple[Any, ...]]: ...
    @overload
    def __getitem__(self, i: slice) -> list[tuple[str, tuple[Any, ...]]]: ...
    def __getitem__(self, i: int | slice) -> tuple[str, tuple[Any, ...]] | list[tuple[str, tuple[Any, ...]]]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(f"task {i} out of range ({len(self)} tasks)")
        i %= len(self)
        if i < len(self.boards):
            return ("board", self.boards[i])
        return ("item", (self.seed, self.plan[int(self.originals[i - len(self.boards)])], self.photo_size))


def _board_row(bid: str, png: bytes, n: int, board_size: tuple[int, int], n_parts: tuple[int, int]) -> dict[str, Any]:
    if n < n_parts[0]:
        log.info("board %s: only %d of at least %d parts fit without overlap", bid, n, n_parts[0])
    return ok_row(
        id=bid,
        kind="board",
        class_label=None,
        image_path=f"boards/images/{bid}.png",
        page_path=None,
        licence=BOARD_LICENCE,
        author=BOARD_AUTHOR,
        dup_of=None,
        dup_transform=None,
        junk_kind=None,
        title=f"Populated PCB {bid}",
        format="png",
        width=board_size[0],
        height=board_size[1],
        sha256=sha256_bytes(png),
        n_objects=n,
    )


def _item_row(it: site.Item, data: bytes, w: int, h: int) -> dict[str, Any]:
    fields: dict[str, Any] = dict(
        id=it.id,
        kind=it.kind,
        class_label=it.cls.value,
        image_path=f"site/{it.image_path}",
        page_path=f"site/{it.page_path}",
        licence=it.licence,
        author=it.author,
        dup_of=it.dup_of,
        dup_transform=None,
        junk_kind=it.junk_kind,
        title=it.title,
        format=it.fmt,
        width=w,
        height=h,
        sha256=sha256_bytes(data),
        n_objects=None,
    )
    if it.kind == "private":
        return rejected_row("under /private/ (robots.txt Disallow): a polite crawler must not fetch it", **fields)
    return ok_row(**fields)
