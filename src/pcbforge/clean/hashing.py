"""Perceptual hashes from ONE reduced-size decode per image, in a process pool, with a sha256 cache.

Decoding dominates the cost of hashing, and JPEG draft decoding changes some hashes by a
few bits, so every hash that is ever compared comes from the same decode path
(:func:`decode_reduced`): JPEG is decoded in draft mode (DCT scaling, 1/2..1/8 size), transparency is
flattened on white, large images are box-reduced, and every configured hash (and the hash of
the mirrored image, to catch flipped copies) plus a small colour signature is computed from
that one decoded image.

The cache (:class:`HashCache`) is a Parquet file keyed by ``(sha256, config)`` so a re-run
only hashes images it has not seen with the same hash settings.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import imagehash
import numpy as np
import pyarrow as pa
import scipy.fftpack  # noqa: F401  (imported with the module: a pool worker pays once, at start)
from PIL import Image, ImageOps

from pcbforge.cache import ResultCache
from pcbforge.config import DedupParams
from pcbforge.datasets.manifest import error_text
from pcbforge.io import rgb_on_white
from pcbforge.parallel import Executor, map_ordered
from pcbforge.vocab import HashKind

log = logging.getLogger(__name__)

#: Bump when the decode path or hash definitions change: old cache entries are then ignored.
HASH_VERSION = 2

#: Hue bins of the colour signature.
COLOR_BINS = 12

HASH_FUNCS = {
    HashKind.PHASH: imagehash.phash,
    HashKind.DHASH: imagehash.dhash,
    HashKind.AHASH: imagehash.average_hash,
    HashKind.WHASH: imagehash.whash,
}


def wants_color(cfg: DedupParams) -> bool:
    """Whether the colour signature is computed: only when the colour check is on."""
    return cfg.color_threshold is not None


def decode_side(cfg: DedupParams) -> int:
    """Smallest side the reduced decode keeps: twice phash's 4x oversampled input."""
    return max(64, cfg.hash_size * 8)


def cache_key(cfg: DedupParams) -> str:
    """Stable cache key of what :func:`hash_file` computes under ``cfg`` (thresholds do not enter it)."""
    kinds = "+".join(k.value for k in cfg.hashes)
    return (f"v{HASH_VERSION}:{kinds}:size{cfg.hash_size}:side{decode_side(cfg)}:mirror{int(cfg.mirror)}"
            f":color{int(wants_color(cfg))}")


def decode_reduced(path: str | os.PathLike[str], min_side: int) -> tuple[Image.Image, tuple[int, int], str]:
    """Decode an image once, at reduced size, to 8-bit RGB (alpha flattened on white).

    Args:
        path: Image file.
        min_side: The decoded image keeps at least this many pixels on its shorter side
            (unless the original is smaller).

    Returns:
        ``(rgb_image, (width, height) of the original, format)``.

    Raises:
        OSError, ValueError, Image.DecompressionBombError: unreadable image.
    """
    with Image.open(path) as im:
        size = im.size
        fmt = im.format or ""
        if fmt == "JPEG":
            # Draft picks the largest DCT scale that keeps both sides >= the request.
            w, h = size
            scale = min_side / max(1, min(w, h))
            im.draft("RGB", (max(1, round(w * scale)), max(1, round(h * scale))))
        im.load()
        rgb = rgb_on_white(im)
    factor = min(rgb.size) // min_side
    if factor >= 2:
        rgb = rgb.reduce(factor)
    return rgb, size, fmt


def color_signature(rgb: Image.Image, bins: int = COLOR_BINS) -> list[float]:
    """Hue histogram weighted by chroma (max-min of R, G, B), per pixel of the image.

    Computed on a 32x32 box-reduced copy. Grayscale hashes cannot tell a blue part from a
    brown one with the same outline; this can. Achromatic pixels (white background, black
    bodies, grey watermarks) weigh ~0, and hue does not move under brightness changes, crops
    or flips. Soft binning avoids jumps at bin edges. Values are rounded so the cache and
    outputs are byte-stable.
    """
    # 32x32 is plenty for a histogram and keeps this cheaper than the decode.
    rgb = rgb.resize((32, 32), Image.Resampling.BOX)
    a = np.asarray(rgb, dtype=np.float64)
    chroma = (a.max(axis=2) - a.min(axis=2)) / 255.0
    hue = np.asarray(rgb.convert("HSV"), dtype=np.float64)[..., 0] * (bins / 256.0)
    lo = np.floor(hue)
    frac = hue - lo
    lo = lo.astype(np.int64) % bins
    hi = (lo + 1) % bins
    hist = np.bincount(lo.ravel(), (chroma * (1 - frac)).ravel(), bins) + np.bincount(
        hi.ravel(), (chroma * frac).ravel(), bins
    )
    return [round(float(x), 6) for x in hist / chroma.size]


def hashes_of(rgb: Image.Image, cfg: DedupParams) -> dict[str, Any]:
    """All configured hashes (hex) of a decoded image, plus ``<kind>_mirror`` when ``cfg.mirror``
    and the ``color`` signature when ``cfg.color_threshold`` is set."""
    gray = rgb.convert("L")
    out: dict[str, Any] = {}
    mirrored = ImageOps.mirror(gray) if cfg.mirror else None
    for kind in cfg.hashes:
        fn = HASH_FUNCS[kind]
        out[kind.value] = str(fn(gray, hash_size=cfg.hash_size))
        if mirrored is not None:
            out[f"{kind.value}_mirror"] = str(fn(mirrored, hash_size=cfg.hash_size))
    if wants_color(cfg):
        out["color"] = color_signature(rgb)
    return out


def hash_file(path: str | os.PathLike[str], cfg: DedupParams, root: Path | None = None) -> dict[str, Any]:
    """Hash one file. Never raises for a bad image: returns ``error`` instead.

    Args:
        path: The image.
        cfg: Hash settings.
        root: The project root: the error names files relative to it (None: as they are).

    Returns:
        ``{"width", "height", "format", "hashes": {kind: hex}, "error": None | str}``, plus
        ``"missing": True`` when the file was not there (that says nothing about its bytes).
    """
    empty = {"width": None, "height": None, "format": None, "hashes": {}}
    try:
        rgb, (w, h), fmt = decode_reduced(path, decode_side(cfg))
        return {"width": w, "height": h, "format": fmt, "hashes": hashes_of(rgb, cfg), "error": None}
    except FileNotFoundError as exc:
        return {**empty, "error": error_text(exc, Path(path), root, "file missing"), "missing": True}
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        return {**empty, "error": error_text(exc, Path(path), root, "unreadable")}


def _hash_job(job: tuple[str, str, DedupParams, Path | None]) -> tuple[str, dict[str, Any]]:
    sha, path, cfg, root = job
    return sha, hash_file(path, cfg, root)


def hash_files(
    files: Mapping[str, str | os.PathLike[str]],
    cfg: DedupParams,
    workers: int | Executor = 1,
    progress: bool = True,
    root: Path | None = None,
) -> dict[str, dict[str, Any]]:
    """Hash many files in a process pool (or where ``workers`` says).

    Args:
        files: ``sha256 -> path``; results are keyed the same way, so they do not depend
            on completion order or worker count.
        cfg: ``params.dedup`` (hash kinds and size, mirror, colour check on or off).
        workers: Processes (1 hashes inline), or an :class:`~pcbforge.parallel.Executor`.
        progress: Show a tqdm bar on stderr.
        root: The project root errors name files relative to (see :func:`hash_file`).
    """
    jobs = [(sha, str(files[sha]), cfg, root) for sha in sorted(files)]
    return dict(map_ordered(_hash_job, jobs, workers, desc="hash", unit="img", progress=progress))


CACHE_SCHEMA = pa.schema(
    [
        ("sha256", pa.string()),
        ("config", pa.string()),
        ("width", pa.int64()),
        ("height", pa.int64()),
        ("format", pa.string()),
        ("hashes", pa.string()),
        ("error", pa.string()),
    ]
)


class HashCache(ResultCache):
    """Per-image hashes keyed by ``(sha256, config key)``, stored as one Parquet file.

    Only images that decoded are cached: an error names the file it came from (project-
    relative), and the same bytes may sit at another path next time, so an unreadable or
    missing file is decoded again on every run (rare, and cheap next to a wrong error row).
    Entries for other configs are kept, so switching hash settings back and forth costs nothing.

    Example:
        >>> cache = HashCache.load("data/cache/hashes.parquet")  # doctest: +SKIP
        >>> cache.get(sha, cache_key(cfg))                       # doctest: +SKIP
    """

    SCHEMA = CACHE_SCHEMA
    KIND = "hash cache"

    @staticmethod
    def _from_row(row: dict[str, Any]) -> dict[str, Any]:
        return {"width": row["width"], "height": row["height"], "format": row["format"],
                "hashes": json.loads(row["hashes"]), "error": row["error"]}

    @staticmethod
    def _to_row(record: dict[str, Any]) -> dict[str, Any]:
        return {"width": record["width"], "height": record["height"], "format": record["format"],
                "hashes": json.dumps(record["hashes"], sort_keys=True), "error": record["error"]}

    def get(self, sha: str, config: str) -> dict[str, Any] | None:
        """The cached record for ``sha`` under ``config``, or None (also for an error record
        an older version cached: its text may name another path)."""
        hit = self.entries.get((sha, config))
        return None if hit is None or hit.get("error") is not None else hit

    def put(self, sha: str, config: str, record: dict[str, Any]) -> None:
        """Store a record of an image that decoded (errors name their path: never reused)."""
        if not record.get("missing"):
            super().put(sha, config, record)


def hash_with_cache(
    files: Mapping[str, str | os.PathLike[str]],
    cfg: DedupParams,
    cache: HashCache,
    workers: int | Executor = 1,
    progress: bool = True,
    root: Path | None = None,
) -> tuple[dict[str, dict[str, Any]], int]:
    """Hash ``sha256 -> path`` files, reusing ``cache``; return ``(records, newly_hashed)``.

    ``root``: the project root errors name files relative to (see :func:`hash_file`).
    """
    out: dict[str, dict[str, Any]] = {}
    todo: dict[str, str | os.PathLike[str]] = {}
    key = cache_key(cfg)
    for sha, path in files.items():
        hit = cache.get(sha, key)
        if hit is not None:
            out[sha] = hit
        else:
            todo[sha] = path
    fresh = hash_files(todo, cfg, workers=workers, progress=progress, root=root)
    for sha, rec in fresh.items():
        cache.put(sha, key, rec)
        out[sha] = rec
    return out, len(todo)



# --- Source or copy: what a full decode says about one image ---------------------------------

#: IJG's standard luminance quantisation table (JPEG Annex K), the base of libjpeg's quality scale.
_STD_LUMA = np.array(
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
     14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.float64)


def jpeg_quality(tables: Mapping[int, Any] | None) -> int | None:
    """libjpeg quality (1-100) a JPEG was saved at, estimated from its luminance table.

    libjpeg scales the standard table by ``5000 / q`` (q < 50) or ``200 - 2 q`` percent; the
    mean ratio of the file's table to the standard one inverts that. The order of the 64
    entries (zigzag or natural) does not change a mean. None when there is no table.

    Example:
        >>> jpeg_quality({0: list(_STD_LUMA)})
        50
        >>> jpeg_quality({0: [1] * 64})
        100
    """
    if not tables or 0 not in tables:
        return None
    table = np.asarray(tables[0], dtype=np.float64)
    if table.max() <= 1:
        return 100  # q100: every step clamps to 1
    scale = 100.0 * float(table.mean()) / float(_STD_LUMA.mean())
    q = 5000.0 / scale if scale > 100 else (200.0 - scale) / 2.0
    return int(min(100, max(1, round(q))))


def spectral_fullness(gray: np.ndarray) -> float:
    """log10 of the mean power in the top band (0.6-0.95 of Nyquist) over a mid band (0.2-0.4).

    An upscaled image has (nearly) nothing above ``1/f`` of its Nyquist frequency, so its
    top band is far emptier than its source's at the source's own scale; a genuine photo and
    its downscale keep about the same ratio (natural images are near scale-invariant). Only a
    *difference* between two copies of one picture means anything (see :func:`upscale_evidence`).
    """
    g = np.asarray(gray, dtype=np.float64)
    g = g - g.mean()
    h, w = g.shape
    win = np.hanning(h)[:, None] * np.hanning(w)[None, :]
    power = np.abs(np.fft.rfft2(g * win)) ** 2
    r = np.maximum(np.abs(np.fft.fftfreq(h))[:, None] * 2, np.fft.rfftfreq(w)[None, :] * 2)
    top, mid = power[(r > 0.6) & (r <= 0.95)], power[(r > 0.2) & (r <= 0.4)]
    if top.size == 0 or mid.size == 0 or mid.mean() <= 0:
        return 0.0
    return round(float(np.log10(max(float(top.mean()), 1e-12) / float(mid.mean()))), 4)


#: Longest side the spectrum is measured on: larger images are centre-cropped (not resized,
#: which would erase exactly the detail being measured).
FULLNESS_SIDE = 512


def inspect_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Full-resolution facts that tell a source from its copy: JPEG quality, bytes per pixel,
    spectral fullness. Never raises: an unreadable file gives ``{"error": ...}``.

    Only images in a candidate pair are inspected (a full decode costs several reduced ones).
    """
    try:
        nbytes = os.path.getsize(path)
        with Image.open(path) as im:
            fmt = im.format or ""
            quality = jpeg_quality(getattr(im, "quantization", None)) if fmt == "JPEG" else None
            w, h = im.size
            im.load()
            gray = rgb_on_white(im).convert("L")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        return {"error": str(exc)}
    if max(gray.size) > FULLNESS_SIDE:
        s = FULLNESS_SIDE
        x0, y0 = max(0, (w - s) // 2), max(0, (h - s) // 2)
        gray = gray.crop((x0, y0, min(w, x0 + s), min(h, y0 + s)))
    return {
        "format": fmt,
        # Lossless formats rank as quality 100: re-encoding to JPEG can only lose.
        "jpeg_quality": quality if fmt == "JPEG" else 100,
        "bpp": round(nbytes / max(1, w * h), 4),
        "fullness": spectral_fullness(np.asarray(gray, dtype=np.float64)),
        "error": None,
    }


# --- Aligned pair check: one picture, or two products of one series? --------------------------

#: Working side (px) of the aligned comparison ceiling: one printed digit of a catalogue photo
#: is a few pixels there; more costs time and only adds resampling noise.
COMPARE_SIDE = 256


def _load_for_compare(path: str | os.PathLike[str], side: int) -> Image.Image:
    """RGB on white, decoded with JPEG draft to at least ``side`` px on the longer side
    (``info["reduced"]`` says whether the decode is smaller than the file)."""
    with Image.open(path) as im:
        full = im.size
        if (im.format or "") == "JPEG":
            w, h = im.size
            k = side / max(1, max(w, h))
            im.draft("RGB", (max(1, round(w * k)), max(1, round(h * k))))
        im.load()
        out = rgb_on_white(im)
    out.info["reduced"] = out.size != full
    out.info["full"] = full
    return out


def _shrink(im: Image.Image, side: int) -> np.ndarray:
    w, h = im.size
    k = side / max(w, h)
    if k < 1:
        im = im.resize((max(8, round(w * k)), max(8, round(h * k))), Image.Resampling.BOX)
    return np.asarray(im, dtype=np.float32)


def _align(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Warp ``b`` onto ``a``'s frame (affine, ECC on blurred grey, 64 px then 128 px).

    Starts from "same framing" (the two sizes stretched onto each other), so a crop of a few
    percent, a shift or a slight rescale is recovered; when ECC does not converge the start
    stays. Returns the warped ``b``, the mask of ``a``'s pixels it covers and the 2x3 warp
    (a's pixel coordinates -> b's).
    """
    import cv2

    ha, wa = a.shape[:2]
    hb, wb = b.shape[:2]
    warp = np.array([[wb / wa, 0, 0], [0, hb / ha, 0]], np.float32)  # a's coordinates -> b's
    ga = cv2.GaussianBlur(a.mean(axis=2), (0, 0), 1.0)
    gb = cv2.GaussianBlur(b.mean(axis=2), (0, 0), 1.0)
    for side, steps in ((64, 50), (128, 30)):
        s = min(1.0, side / max(wa, ha, wb, hb))
        sa = cv2.resize(ga, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        sb = cv2.resize(gb, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        scaled = warp.copy()
        scaled[:, 2] *= s
        try:
            _, scaled = cv2.findTransformECC(sa, sb, scaled, cv2.MOTION_AFFINE,
                                             (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, steps, 1e-4), None, 3)
        except cv2.error:
            break  # no convergence (flat images): keep the last estimate
        warp = scaled.copy()
        warp[:, 2] /= s
    out, cover = _warp(a, b, warp)
    return out, cover, warp


def _warp(a: np.ndarray, b: np.ndarray, warp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``b`` warped onto ``a``'s frame by ``warp`` (a's coordinates -> b's), and the mask of
    ``a``'s pixels it covers."""
    import cv2

    ha, wa = a.shape[:2]
    hb, wb = b.shape[:2]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    out = cv2.warpAffine(b, warp, (wa, ha), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    cover = cv2.warpAffine(np.ones((hb, wb), np.float32), warp, (wa, ha), flags=flags) > 0.99
    return out, cover


def aligned_residual(a: np.ndarray, b: np.ndarray, mirrored: bool = False) -> float:
    """Largest local difference (0-255) between two RGB arrays of one picture after alignment
    (see :func:`_residual_and_warp`)."""
    return _residual_and_warp(a, b, mirrored)[0]


def _line_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares ``y ~ gain * x + offset`` in closed form (``np.polyfit(x, y, 1)`` builds a
    Vandermonde matrix and runs an SVD: most of the aligned check's time)."""
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    xm, ym = float(x64.mean()), float(y64.mean())
    dx = x64 - xm
    gain = float((dx * (y64 - ym)).sum() / (dx * dx).sum())  # no BLAS: its threads fight the pool
    return gain, ym - gain * xm


def _fit_channels(a2: np.ndarray, b2: np.ndarray, a: np.ndarray, bw: np.ndarray,
                  valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``b2``'s channels fitted to ``a2``'s by a robust gain and offset (brightness, contrast,
    white balance), fitted on the ``valid`` pixels clipped in neither ``a`` nor ``bw``; both
    cut to the range both can show. Returns new arrays."""
    a2, b2 = a2.copy(), b2.copy()
    for c in range(3):
        # Fit on pixels clipped in neither image (a brighter copy saturates its highlights);
        # a channel plane copied contiguous first is cheaper than three strided comparisons.
        ac, bc = np.ascontiguousarray(a[..., c]), np.ascontiguousarray(bw[..., c])
        fit = valid & (np.minimum(ac, bc) > 4) & (np.maximum(ac, bc) < 251)
        if np.count_nonzero(fit) < 64:
            fit = valid
        x, y = b2[..., c][fit], a2[..., c][fit]
        xk, yk = x, y  # the points fitted: all of them, then without the worst 5 %
        gain, offset = 1.0, 0.0
        for refit in (False, True):  # refit without the worst 5 %: a differing band must not bend the fit
            if np.ptp(xk) > 8:
                gain, offset = _line_fit(xk, yk)
            else:
                gain, offset = 1.0, float(np.median(yk - xk))
            if not refit:
                r = np.abs(gain * x + offset - y)
                keep = r <= np.percentile(r, 95)
                xk, yk = x[keep], y[keep]
        # Compare only the range both images can show: what one clipped, the other is cut to.
        hi = min(250.0, gain * 250.0 + offset) if gain > 0 else 250.0
        lo = max(5.0, gain * 5.0 + offset) if gain > 0 else 5.0
        b2[..., c] = np.clip(gain * b2[..., c] + offset, lo, hi)
        a2[..., c] = np.clip(a2[..., c], lo, hi)
    return a2, b2


_BOX3 = np.ones((3, 3), np.uint8)


def _off_range(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per pixel, how far ``x`` lies outside the range of ``y``'s 3x3 neighbourhood (0 inside),
    the largest over the channels (HxWx3 float arrays -> HxW)."""
    import cv2

    d = x - cv2.dilate(y, _BOX3)
    np.maximum(d, cv2.erode(y, _BOX3) - x, out=d)
    np.maximum(d, 0, out=d)
    # Three planes, not .max(axis=2): a reduction over a 3-long last axis was a tenth of the stage.
    return np.maximum(np.maximum(d[..., 0], d[..., 1]), d[..., 2])


def _off_range_both(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """:func:`_off_range` both ways: a pixel differs when either image leaves the other's range."""
    return np.maximum(_off_range(x, y), _off_range(y, x))


def _residual_and_warp(a: np.ndarray, b: np.ndarray, mirrored: bool = False) -> tuple[float, np.ndarray]:
    """Largest local difference (0-255) between two RGB arrays of one picture after alignment.

    ``b`` is mirrored (when the hash match was), warped onto ``a`` (:func:`_align`), both are
    blurred alike (sigma 1 px), ``b``'s channels are fitted to ``a``'s by a robust gain and
    offset (brightness, contrast, white balance; fitted on pixels clipped in neither, then both
    cut to the range both can show), and the difference
    of each pixel to the *range* of the other image's 3x3 neighbourhood (so an edge moved by
    a pixel, by resampling or JPEG, costs nothing) is smoothed (sigma 1 px); the maximum is
    returned with the warp. A re-encoded, resized, slightly cropped, brighter or mirrored copy
    stays low; a sibling product whose printed value or colour band differs in one place has a
    blob there as strong as the marking's contrast, when the change is large enough to survive
    the tolerance and blurs (a small printed digit does not: :func:`local_change`).
    """
    import cv2

    if mirrored:
        b = np.ascontiguousarray(b[:, ::-1])
    bw, cover, warp = _align(a, b)
    kernel = np.ones((5, 5), np.uint8)
    valid = cv2.erode(cover.astype(np.uint8), kernel) > 0
    if valid.sum() < 64:
        valid = cover
    a2 = cv2.GaussianBlur(a, (0, 0), 1.0)
    b2 = cv2.GaussianBlur(bw, (0, 0), 1.0)
    a2, b2 = _fit_channels(a2, b2, a, bw, valid)
    res = _off_range_both(a2, b2)
    res[~valid] = 0
    return round(float(cv2.GaussianBlur(res, (0, 0), 1.0).max()), 2), warp


#: Longest side of the local-change test: a printed digit is a few pixels at ``COMPARE_SIDE``,
#: its strokes survive only near full size (measured: at 256 px copies reach an isolation of
#: 4.1, at the catalogue's 320 px 2.8; docs/dedup.md).
LOCAL_SIDE = 512

#: Residual floor (grey levels) the isolation is measured against: a clean pair's "second
#: place" can be ~0, and 6 is the residual of a q90 re-encode.
LOCAL_FLOOR = 6.0


def local_change(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> tuple[float, float]:
    """How much ONE place differs beyond what the rest of the picture does: ``(excess, isolation)``.

    ``b`` is already aligned to ``a`` (RGB float arrays, same shape; ``valid`` the pixels both
    show). Channels are fitted by the robust gain/offset of :func:`_fit_channels` (no blur:
    thin strokes are the point), each pixel's difference to the 3x3 range of the other image
    is taken (a one-pixel edge shift costs nothing), lightly smoothed (sigma 0.7). ``top`` is
    its maximum, ``second`` the maximum outside a window of side/8 around it.

    * ``excess = top - second``: a sibling product's changed value is far above everything
      else; a copy's residual (JPEG blocks, resampling, clipping, a watermark's long text)
      is spread over the picture, so its second place is about as high as its first.
    * ``isolation = top / max(second, LOCAL_FLOOR)``, the same against the pair's own noise.
    """
    return _local_change_fitted(*_fit_channels(a, b, a, b, valid), valid)


def _local_change_fitted(a0: np.ndarray, b0: np.ndarray, valid: np.ndarray) -> tuple[float, float]:
    """:func:`local_change` of two arrays whose channels are already fitted."""
    import cv2

    res = _off_range_both(a0, b0)
    res[~valid] = 0
    res = cv2.GaussianBlur(res, (0, 0), 0.7)
    h, w = res.shape
    win = max(8, min(h, w) // 8)
    y, x = np.unravel_index(int(np.argmax(res)), res.shape)
    top = float(res[y, x])
    far = res.copy()
    far[max(0, y - win): y + win + 1, max(0, x - win): x + win + 1] = 0
    second = float(far.max())
    return round(top - second, 2), round(top / max(second, LOCAL_FLOOR), 3)


def fitted_msd(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> float:
    """Mean squared difference (grey levels²) of two aligned RGB arrays over ``valid``, after
    the robust channel fit of :func:`_fit_channels`.

    Unlike the residual's maximum, the mean keeps all of a small difference: a copy choosing
    between two representatives that differ in one printed value is closer, by that value's
    energy, to the one it was copied from, whatever its own noise (the noise is nearly the same
    against both).
    """
    return _msd_fitted(*_fit_channels(a, b, a, b, valid), valid)


def _msd_fitted(a0: np.ndarray, b0: np.ndarray, valid: np.ndarray) -> float:
    d = (a0 - b0)[valid]
    return round(float(np.mean(d * d)), 3) if d.size else 0.0


#: Longest side (px) of the larger image the resampling test decodes at full size; above, it is skipped.
DETAIL_SIDE = 1024


def resample_detail(big: np.ndarray, small: np.ndarray) -> float:
    """How much the larger of two copies of one picture holds that the smaller cannot explain (log10).

    Both are grey float arrays at their full size, the same framing up to a few percent (the
    smaller is aligned onto the larger one shrunk to its size by ECC, then fitted by a gain
    and offset, so a brighter copy is compared fairly). ``lo``: mean squared difference of the
    larger, area-shrunk to the smaller's size, to the smaller; ``hi``: of the larger to the
    smaller warped up to the larger's size (bicubic). Returns ``log10((hi + 1) / (lo + 1))``.

    An upscaled copy holds nothing above the smaller one's resolution but interpolation and
    its own JPEG noise: ``hi`` is about ``lo`` (measured on 48 catalog photos with a 1.25-2x
    bicubic / Lanczos / bilinear + q60-95 upscale: at most 0.12). A genuine original holds
    detail its downscale lost (edges, sensor noise): ``hi`` is several times ``lo`` (its
    5/8 copies: 0.18-1.26). Spectral fullness (:func:`spectral_fullness`) cannot tell these
    apart on smooth catalog renders, where the downscale's top band is fuller than the source's.
    """
    import cv2

    hb, wb = big.shape
    hs, ws = small.shape
    shrunk = cv2.resize(big, (ws, hs), interpolation=cv2.INTER_AREA)
    _, cover, warp = _align(np.dstack([shrunk] * 3), np.dstack([small] * 3))  # shrunk -> small coords
    valid = cv2.erode(cover.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if valid.sum() < 64:
        valid = cover
    flags = cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP
    sw = cv2.warpAffine(small, warp, (ws, hs), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    gain, offset = _line_fit(sw[valid], shrunk[valid]) if np.ptp(sw[valid]) > 8 else (1.0, 0.0)
    lo = float(np.mean((shrunk - (gain * sw + offset))[valid] ** 2))
    # The larger image's pixel centres in the shrunk frame, then the warp into the smaller one.
    kx, ky = ws / wb, hs / hb
    up = np.array([[kx, 0, 0.5 * kx - 0.5], [0, ky, 0.5 * ky - 0.5], [0, 0, 1]])
    m = (np.vstack([warp.astype(np.float64), [0, 0, 1]]) @ up)[:2].astype(np.float32)
    su = cv2.warpAffine(small, m, (wb, hb), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    cov = cv2.warpAffine(np.ones_like(small), m, (wb, hb), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP) > 0.99
    vb = cv2.erode(cov.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    if vb.sum() < 64:
        vb = cov
    hi = float(np.mean((big - (gain * su + offset))[vb] ** 2))
    return round(float(np.log10((hi + 1.0) / (lo + 1.0))), 4)


def _full_grey(path: str | os.PathLike[str]) -> np.ndarray:
    with Image.open(path) as im:
        im.load()
        return np.asarray(rgb_on_white(im).convert("L"), dtype=np.float32)


def _scaled_warp(warp: np.ndarray, k: float) -> np.ndarray:
    """The warp of two images scaled by ``k`` (pixel centres kept: x_hi = k (x_lo + 0.5) - 0.5)."""
    out = warp.astype(np.float64).copy()
    lin = out[:, :2]
    out[:, 2] = k * out[:, 2] + (k - 1) * 0.5 * (1 - lin.sum(axis=1))
    return out.astype(np.float32)


def compare_files(path_a: str | os.PathLike[str], path_b: str | os.PathLike[str], mirrored: bool = False,
                  side: int = COMPARE_SIDE, local_below: float | None = None) -> dict[str, float] | None:
    """The aligned pair check of two files; None when either cannot be decoded.

    ``residual``: :func:`aligned_residual` at a common size (the smaller image's, at most
    ``side``). When it is at most ``local_below`` (a pair that would be dropped as a copy),
    also ``excess`` and ``isolation`` (:func:`local_change`) and ``msd``
    (:func:`fitted_msd`), measured at up to :data:`LOCAL_SIDE` px with the same alignment,
    and, when one image has over 1.2 times the other's pixels (and at most
    :data:`DETAIL_SIDE` px a side), ``detail`` (:func:`resample_detail`, the larger against
    the smaller); else those are None.
    """
    try:
        ia, ib = _load_for_compare(path_a, side), _load_for_compare(path_b, side)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    s = min(side, max(ia.size), max(ib.size))
    a, b = _shrink(ia, s), _shrink(ib, s)
    residual, warp = _residual_and_warp(a, b, mirrored)
    out: dict[str, float | None] = {"residual": residual, "excess": None, "isolation": None, "msd": None,
                                    "detail": None}
    if local_below is None or residual > local_below:
        return out
    (wa, ha), (wb, hb) = ia.info.get("full", ia.size), ib.info.get("full", ib.size)
    if max(wa * ha, wb * hb) > 1.2 * min(wa * ha, wb * hb) and max(wa, ha, wb, hb) <= DETAIL_SIDE:
        try:  # source or upscaled copy: needs both at full size (the larger's fine detail is the evidence)
            ga, gb = _full_grey(path_a), _full_grey(path_b)
            if mirrored:
                gb = np.ascontiguousarray(gb[:, ::-1])
            out["detail"] = resample_detail(ga, gb) if ga.size > gb.size else resample_detail(gb, ga)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            pass
    try:  # a draft decode may have stopped short of LOCAL_SIDE: decode again only then
        if ia.info.get("reduced") and max(ia.size) < LOCAL_SIDE:
            ia = _load_for_compare(path_a, LOCAL_SIDE)
        if ib.info.get("reduced") and max(ib.size) < LOCAL_SIDE:
            ib = _load_for_compare(path_b, LOCAL_SIDE)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return out
    s_hi = min(LOCAL_SIDE, max(ia.size), max(ib.size))
    ah, bh = _shrink(ia, s_hi), _shrink(ib, s_hi)
    if mirrored:
        bh = np.ascontiguousarray(bh[:, ::-1])
    k = ah.shape[1] / a.shape[1]
    bw, cover = _warp(ah, bh, _scaled_warp(warp, k) if s_hi != s else warp)
    import cv2

    valid = cv2.erode(cover.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if valid.sum() < 64:
        valid = cover
    a0, b0 = _fit_channels(ah, bw, ah, bw, valid)  # one fit for both measures
    out["excess"], out["isolation"] = _local_change_fitted(a0, b0, valid)
    out["msd"] = _msd_fitted(a0, b0, valid)
    return out


# --- Cached pair checks and inspections (incremental re-runs) ---------------------------------

#: Bump when :func:`compare_files` or :func:`inspect_file` change what they return: cached
#: entries of older versions are then ignored.
CHECK_VERSION = 1

CHECK_SCHEMA = pa.schema([("key", pa.string()), ("config", pa.string()), ("record", pa.string())])


class CheckCache(ResultCache):
    """The dedup stage's costly per-pair and per-image results, by content (``dedup.check_cache``).

    Two kinds of entry share the file: an aligned pair check under ``"<sha a>:<sha b>:<m>"``
    (:func:`pair_key`; a check is directional and depends on the mirror flag) and config
    :func:`compare_config`, and a full-decode inspection under the image's sha256 and
    :func:`inspect_config`. After new images arrive only pairs with a new image are compared and
    only new images are inspected; thresholds stay out of the configs, except the residual
    below which the local-change test runs (a check made under another one lacks or has that
    part).
    """

    SCHEMA = CHECK_SCHEMA
    KIND = "dedup check cache"


def pair_key(sha_a: str, sha_b: str, mirrored: bool) -> str:
    """The cache key of the aligned check of ``sha_a`` against ``sha_b`` (``b`` warped onto ``a``)."""
    return f"{sha_a}:{sha_b}:{'m' if mirrored else '-'}"


def compare_config(side: int = COMPARE_SIDE, local_below: float | None = None) -> str:
    """Names every setting a :func:`compare_files` result depends on."""
    return f"compare-v{CHECK_VERSION} side={side} local={LOCAL_SIDE} detail={DETAIL_SIDE} below={local_below}"


def inspect_config() -> str:
    """Names every setting an :func:`inspect_file` record depends on."""
    return f"inspect-v{CHECK_VERSION} fullness={FULLNESS_SIDE}"


def compare_record(job: tuple[str, str, bool, int, float | None]) -> dict[str, Any]:
    """:func:`compare_files` of ``(path_a, path_b, mirrored, side, local_below)`` as a cacheable record:
    ``{"check": <its result>, "error": None}``, or an error when either file did not decode."""
    a, b, mirrored, side, local_below = job
    check = compare_files(a, b, mirrored, side, local_below)
    return {"check": check, "error": None if check is not None else f"cannot decode {a} or {b}"}
