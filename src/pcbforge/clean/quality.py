"""Image quality measurements and flags: unreadable, too small, blank, blurry, odd aspect, grayscale.

Every flag comes with the value it was decided on (``width``/``height``, ``aspect``, ``std``,
``blur``, ``chroma``), so a reviewer can see how far past the threshold an image is. Blur is
the variance of the Laplacian measured on a fixed-size grayscale, so it does not depend on
the original resolution; the decode reuses JPEG draft mode (decoding dominates the cost).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from pcbforge.config import QualityParams
from pcbforge.datasets.manifest import error_text
from pcbforge.io import rgb_on_white
from pcbforge.cache import ResultCache, map_cached
from pcbforge.parallel import Executor, map_ordered
from pcbforge.vocab import QualityFlag


def measure_array(rgb: np.ndarray) -> dict[str, float]:
    """Measurements of an ``(H, W, 3)`` uint8 image already resized to the measuring size.

    Returns:
        ``std`` (grayscale standard deviation), ``blur`` (variance of the Laplacian) and
        ``chroma`` (mean of max-min over the colour channels).

    Example:
        >>> m = measure_array(np.full((8, 8, 3), 200, np.uint8))
        >>> (m["std"], m["blur"], m["chroma"])
        (0.0, 0.0, 0.0)
    """
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    lap = cv2.Laplacian(gray, cv2.CV_64F, ksize=1, borderType=cv2.BORDER_REFLECT)
    spread = rgb.max(axis=2).astype(np.int16) - rgb.min(axis=2).astype(np.int16)
    return {
        "std": round(float(gray.std()), 4),
        "blur": round(float(lap.var()), 4),
        "chroma": round(float(spread.mean()), 4),
    }


def load_measure_rgb(path: str | os.PathLike[str], size: int) -> tuple[np.ndarray, tuple[int, int], str]:
    """Decode (JPEG draft when it can) and resize to ``size x size`` RGB; flatten alpha on white.

    Returns:
        ``(rgb array, (width, height) of the original, PIL mode of the original)``.
    """
    with Image.open(path) as im:
        orig = im.size
        mode = im.mode
        if im.format == "JPEG":
            im.draft("RGB", (size, size))
        im.load()
        rgb = rgb_on_white(im)
    rgb = rgb.resize((size, size), Image.Resampling.BOX if min(rgb.size) >= size else Image.Resampling.BILINEAR)
    return np.asarray(rgb), orig, mode


#: Bumped when what :func:`measure_file` returns changes (cached measurements are then redone).
MEASURE_VERSION = 1


def measure_key(s: QualityParams) -> str:
    """The settings a measurement depends on (cache key); thresholds are applied afterwards."""
    return f"v{MEASURE_VERSION}:size{s.measure_size}"


def measure_file(path: str | os.PathLike[str], size: int, root: Path | None = None) -> dict[str, Any]:
    """What :func:`assess` decides on, measured once per file: it depends on the file's bytes
    and ``size`` only, so it can be cached by content hash (:mod:`pcbforge.cache`).

    Returns:
        ``width, height, aspect, std, blur, chroma, gray_mode`` (the file is stored grayscale)
        and ``error`` (None, or why it is unreadable; the values are then None).
    """
    rec: dict[str, Any] = {k: None for k in ("width", "height", "aspect", "std", "blur", "chroma", "gray_mode")}
    try:
        rgb, (w, h), mode = load_measure_rgb(path, size)
    except FileNotFoundError as exc:
        return {**rec, "error": error_text(exc, Path(path), root, "file missing")}
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        return {**rec, "error": error_text(exc, Path(path), root, "unreadable")}
    return {"width": w, "height": h, "aspect": round(max(w, h) / max(1, min(w, h)), 4), **measure_array(rgb),
            "gray_mode": mode in ("1", "L", "LA", "I", "I;16", "F"), "error": None}


def judge(m: dict[str, Any], s: QualityParams) -> dict[str, Any]:
    """Flags of one :func:`measure_file` record under the thresholds of ``s``.

    Returns:
        ``width, height, aspect, std, blur, chroma, grayscale, flags`` (comma-separated,
        empty when clean) and ``error``.
    """
    values = {k: m[k] for k in ("width", "height", "aspect", "std", "blur", "chroma")}
    if m["error"] is not None:
        return {**values, "grayscale": None, "flags": QualityFlag.UNREADABLE.value, "error": m["error"]}
    w, h, aspect = m["width"], m["height"], m["aspect"]
    grayscale = m["gray_mode"] or m["chroma"] < s.max_gray_chroma
    flags: list[QualityFlag] = []
    if min(w, h) < s.min_side:
        flags.append(QualityFlag.TOO_SMALL)
    if m["std"] < s.min_std:
        flags.append(QualityFlag.BLANK)
    # A blank image is trivially "blurry" too; one reason is enough.
    elif m["blur"] < s.min_blur:
        flags.append(QualityFlag.BLURRY)
    if aspect > s.max_aspect:
        flags.append(QualityFlag.ASPECT)
    if s.flag_grayscale and grayscale:
        flags.append(QualityFlag.GRAYSCALE)
    return {**values, "grayscale": bool(grayscale), "flags": ",".join(f.value for f in flags), "error": None}


def assess(path: str | os.PathLike[str], s: QualityParams, root: Path | None = None) -> dict[str, Any]:
    """Measure one image file and list its flags. Never raises for a bad image.

    ``root`` is the project root: the error names files relative to it (None: as they are).

    Returns:
        ``width, height, aspect, std, blur, chroma, grayscale, flags`` (comma-separated,
        empty when clean) and ``error`` (None, or why it is unreadable).
    """
    return judge(measure_file(path, s.measure_size, root), s)


def _job(job: tuple[str, str, QualityParams, Path | None]) -> tuple[str, dict[str, Any]]:
    key, path, s, root = job
    return key, assess(path, s, root)


def assess_files(
    files: Mapping[str, str | os.PathLike[str]],
    s: QualityParams,
    workers: int | Executor = 1,
    progress: bool = True,
    root: Path | None = None,
) -> dict[str, dict[str, Any]]:
    """:func:`assess` each ``id -> path`` in a process pool; results keyed by id (order-free).

    ``root``: the project root errors name files relative to (see :func:`assess`).
    """
    jobs = [(k, str(files[k]), s, root) for k in sorted(files)]
    return dict(map_ordered(_job, jobs, workers, desc="quality", unit="img", progress=progress))


def _measure_job(job: tuple[str, int, Path | None]) -> dict[str, Any]:
    path, size, root = job
    return measure_file(path, size, root)


def assess_with_cache(
    files: Mapping[str, tuple[str, str | os.PathLike[str]]],
    s: QualityParams,
    cache: ResultCache,
    workers: int | Executor = 1,
    progress: bool = True,
    root: Path | None = None,
) -> tuple[dict[str, dict[str, Any]], int]:
    """:func:`assess` each ``id -> (sha256, path)``, measuring only files whose sha256 ``cache``
    has no measurement of under these settings; return ``(results by id, newly measured)``.

    The results equal :func:`assess_files`' to the bit: a cached measurement is the same JSON.
    """
    ids = sorted(files)
    jobs = [(files[k][0], (str(files[k][1]), s.measure_size, root)) for k in ids]
    measured, fresh = map_cached(_measure_job, jobs, cache, measure_key(s), workers, desc="quality", unit="img", progress=progress)
    return {k: judge(m, s) for k, m in zip(ids, measured, strict=True)}, fresh
