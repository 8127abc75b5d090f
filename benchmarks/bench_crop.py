"""Crop benchmark: cutting every component of board photos vs bare decoding of the same photos.

The peer is the least any crop must do: decode each board photo once (``PIL.Image.open`` +
``load``). In the same run, on the same files, one process each:

* ``decode``: open + load;
* ``decode_cut``: decode, then PIL crop + resize of every box (a bare cropper: no context
  patch, no margin, nothing encoded or written);
* ``crop``: :func:`pcbforge.annotate.crops.crop_board` per board, as the stage runs it
  (decode with EXIF and RGB conversion, parse labels, cut both views of every box,
  encode and write two PNGs per box);

and, to say where the time goes, the parts of ``crop``: ``load_rgb`` (decode + EXIF + RGB),
``cut`` (load_rgb + :func:`~pcbforge.annotate.crops.component_views` for every box, nothing
written), ``encode`` (cut + PNG encoding of both views in memory); file writes are
crop - encode.
The figure is ``crop / decode`` (aim: within 1.5x). Each timing is the best of ``--repeat``.

Boards: ``--boards DIR`` (a YOLO dataset in any layout crop reads, e.g. a Roboflow export),
else ``--synthetic N`` board photos written as JPEG (``--width`` x ``--height``, ``--parts``
per board, the catalog's board look).

Usage:
    python benchmarks/bench_crop.py --boards realsets/olegofriendz-one-board
    python benchmarks/bench_crop.py --synthetic 20 --width 1920 --height 1080 --parts 40
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from pcbforge.annotate import crops, layouts  # noqa: E402
from pcbforge.annotate.yolo import map_classes, parse_names, read_labels, to_pixels  # noqa: E402
from pcbforge.config import CropParams  # noqa: E402
from pcbforge.io import encode_png  # noqa: E402
from pcbforge.rng import make_rng  # noqa: E402
from pcbforge.taxonomy import Taxonomy, Unmapped  # noqa: E402
from tests.helpers.yolo_boards import Part, draw_board, label_rows  # noqa: E402


def synthetic(root: Path, n: int, size: tuple[int, int], parts: int) -> Path:
    """``n`` JPEG board photos with ``parts`` random boxes each (8-120 px sides), as images/ + labels/."""
    rng = make_rng(0, "bench-crop")
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "data.yaml").write_text("names: [resistor]\n")
    w, h = size
    for i in range(n):
        ps = []
        for _ in range(parts):
            bw, bh = (int(v) for v in rng.integers(8, 120, 2))
            x0, y0 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            ps.append(Part("resistor", (x0, y0, x0 + bw, y0 + bh), tuple(int(c) for c in rng.integers(0, 255, 3))))
        img = np.asarray(draw_board(size, ps)).copy()
        img += rng.integers(0, 12, img.shape, dtype=np.uint8)  # sensor noise: JPEG sizes like photos
        Image.fromarray(img).save(root / "images" / f"b{i:03d}.jpg", quality=90)
        (root / "labels" / f"b{i:03d}.txt").write_text("".join(r + "\n" for r in label_rows(size, ps, ["resistor"])))
    return root


def best(fn: Callable[[], None], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def measure(src: Path, out: Path, size: int, repeat: int, profile: bool = False) -> dict:
    """Time decoding, the parts of crop and crop itself on the boards of ``src`` (best of ``repeat``).

    Returns:
        ``boards``, ``pixels`` (Mpx), ``boxes``, ``t`` (phase -> seconds: decode, decode_cut
        (decode + PIL crop and resize of every box), load_rgb, cut, encode, crop) and ``view_px`` (pixels of the crops and context patches encoded).
    """
    dataset = layouts.scan(src)
    names = parse_names(dataset.data)
    mapped = map_classes(names, Taxonomy.default(), unmapped=Unmapped.ADD)
    jobs = [
        j
        for j in crops.scan_boards(dataset.root, mapped.classes, names=names, dataset=dataset)
        if j.image is not None and j.labels is not None and j.problem is None
    ]
    cfg = CropParams()
    boxes = sum(len(read_labels(j.labels.read_text(), len(names)).boxes) for j in jobs if j.labels)
    pixels = sum(np.prod(Image.open(j.image).size) for j in jobs if j.image) / 1e6

    def decode() -> None:
        for j in jobs:
            with Image.open(j.image) as im:
                im.load()

    def decode_cut() -> None:
        # The bare peer of cutting: decode, then crop + resize each box with PIL (no context, no files).
        for j in jobs:
            with Image.open(j.image) as im:
                im.load()
                w, h = im.size
                for _, b in read_labels(j.labels.read_text(), len(names)).boxes:
                    im.crop(tuple(int(v) for v in to_pixels(b, w, h))).resize((size, size))

    def load_rgb() -> None:
        for j in jobs:
            crops.load_rgb(j.image)

    def cut() -> None:
        for j in jobs:
            image = np.asarray(crops.load_rgb(j.image))
            h, w = image.shape[:2]
            for _, b in read_labels(j.labels.read_text(), len(names)).boxes:
                crops.component_views(image, to_pixels(b, w, h), size, cfg.context_scale, cfg.margin)

    view_px = {"crop": 0, "context": 0}

    def encode() -> None:
        view_px.update(crop=0, context=0)
        for j in jobs:
            image = np.asarray(crops.load_rgb(j.image))
            h, w = image.shape[:2]
            for _, b in read_labels(j.labels.read_text(), len(names)).boxes:
                v = crops.component_views(image, to_pixels(b, w, h), size, cfg.context_scale, cfg.margin)
                encode_png(v.crop), encode_png(v.context)
                view_px["crop"] += v.crop.width * v.crop.height
                view_px["context"] += v.context.width * v.context.height

    runs = iter(range(1 << 30))

    def crop() -> None:
        # A fresh folder each pass (as the stage's staged dir): removing the last pass is not timed.
        dst = out / str(next(runs))
        (dst / "crops").mkdir(parents=True)
        (dst / "context").mkdir()
        for j in jobs:
            crops.crop_board(j, dst, cfg, size)

    crop()  # warm the file cache and imports once
    phases = (("decode", decode), ("decode_cut", decode_cut), ("load_rgb", load_rgb), ("cut", cut), ("encode", encode), ("crop", crop))
    t = {name: best(fn, repeat) for name, fn in phases}
    if profile:
        prof = cProfile.Profile()
        prof.runcall(crop)
        pstats.Stats(prof).sort_stats("tottime").print_stats(12)
    return {"boards": len(jobs), "pixels": pixels, "boxes": boxes, "t": t, "view_px": view_px}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--boards", type=Path, help="a YOLO dataset (folder with data.yaml, or the .yaml)")
    ap.add_argument("--synthetic", type=int, default=20, help="board photos to write when --boards is not given")
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--parts", type=int, default=40)
    ap.add_argument("--size", type=int, default=128, help="crop side (base.image_size)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="print the top of a cProfile of one crop pass")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-crop-"))
    try:
        src = args.boards or synthetic(tmp / "boards", args.synthetic, (args.width, args.height), args.parts)
        m = measure(src, tmp / "out", args.size, args.repeat, profile=args.profile)
        t, boxes, pixels, n, view_px = m["t"], m["boxes"], m["pixels"], m["boards"], m["view_px"]
        phases = ("decode", "decode_cut", "load_rgb", "cut", "encode", "crop")
        print(f"{n} boards, {pixels:.1f} Mpx, {boxes} boxes ({boxes / n:.1f} a board), crops {args.size}px, 1 process, best of {args.repeat}")
        for name in phases:
            print(f"  {name:9s} {t[name]:7.3f} s  {n / t[name]:7.1f} boards/s  {t[name] / t['decode']:5.2f}x decode")
        print(f"  where crop's time goes: decode {t['decode'] / t['crop']:.0%}, EXIF+RGB {(t['load_rgb'] - t['decode']) / t['crop']:.0%}, "
              f"cutting {(t['cut'] - t['load_rgb']) / t['crop']:.0%}, PNG encoding {(t['encode'] - t['cut']) / t['crop']:.0%}, "
              f"file writes {(t['crop'] - t['encode']) / t['crop']:.0%}")  # fmt: skip
        print(f"  pixels encoded: {view_px['crop'] / 1e6:.1f} Mpx of crops, {view_px['context'] / 1e6:.1f} Mpx of context patches "
              f"({(view_px['crop'] + view_px['context']) / 1e6 / pixels:.1f}x the photos' pixels)")  # fmt: skip
        print(f"  per box: crop {t['crop'] / boxes * 1e3:.1f} ms, of which PNG encoding + writes {(t['crop'] - t['cut']) / boxes * 1e3:.1f} ms")
        print(f"crop / decode = {t['crop'] / t['decode']:.2f}x (aim: <= 1.5x)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
