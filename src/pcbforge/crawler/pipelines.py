"""Item pipelines: validate every downloaded image, then store it content-addressed.

Each pipeline does one job and raises :class:`~scrapy.exceptions.DropItem` with a reason
``"<kind>: <detail>"``; :class:`JournalPipeline` records every item that leaves the chain,
stored, dropped or failed, as a manifest row. Order (``ITEM_PIPELINES`` in settings.py):

=====  ====================  ==========================================================
 100   LicencePipeline       licence not in the source's allow-list (checked before download)
 150   DownloadErrorPipeline the spider's errback saw a failure (404, robots, too large ...)
 200   ContentTypePipeline   Content-Type is not ``image/*``
 300   MaxBytesPipeline      body over ``max_bytes`` (backs up Scrapy's DOWNLOAD_MAXSIZE)
 400   DecodePipeline        not an image, unsupported format, decompression bomb, truncated
 500   MinSidePipeline       smaller than ``min_side``
 600   DedupPipeline         same sha256 as an image already stored
 700   StorePipeline         write ``files/<sha[:2]>/<sha256>.<ext>`` atomically
 900   JournalPipeline       append the manifest row (and count progress)
=====  ====================  ==========================================================

An unexpected exception in any pipeline (a full disk, a Pillow bug) is not a policy
decision: :class:`JournalPipeline` records it from Scrapy's ``item_error`` signal as an
``error`` row (``internal: <type>: <message>``), which the next run retries.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import threading
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError
# The accepted formats' plugins, imported here so that ``Image.open(formats=...)`` finds
# them registered: otherwise its first call runs ``Image.init()``, importing ~40 plugins
# (0.1-0.3 s of every worker's start-up, in the decode thread while downloads wait).
from PIL import BmpImagePlugin, GifImagePlugin, JpegImagePlugin, PngImagePlugin  # noqa: F401
from PIL import TiffImagePlugin, WebPImagePlugin  # noqa: F401
from scrapy import signals
from scrapy.exceptions import DropItem

from pcbforge.crawler.items import ImageItem
from pcbforge.crawler.journal import Journal, read_rows, stored_shas
from pcbforge.io import atomic_path

log = logging.getLogger(__name__)

#: PIL format -> file extension; anything else is rejected as an unsupported format.
FORMAT_EXT = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif"}


#: ``<... object at 0x7f3a...>`` in an exception text (e.g. Pillow's "cannot identify image
#: file <_io.BytesIO object at 0x...>"): a memory address, different in every run.
_ADDRESS = re.compile(r"<([\w.]+) object at 0x[0-9a-fA-F]+>")


def stable_reason(reason: str) -> str:
    """``reason`` without run-dependent memory addresses, so identical crawls write identical rows.

    Example:
        >>> stable_reason("not_an_image: cannot identify image file <_io.BytesIO object at 0x7f3a2c1d>")
        'not_an_image: cannot identify image file <_io.BytesIO>'
    """
    return _ADDRESS.sub(r"<\1>", reason)


def _reason_kind(reason: str) -> str:
    return reason.split(":", 1)[0].strip() or "unknown"


def licence_allowed(licence: str | None, allow: list[str] | tuple[str, ...]) -> bool:
    """Whether ``licence`` passes an allow-list (empty list = allow all; case-insensitive).

    Example:
        >>> licence_allowed("cc-by-4.0", ["CC-BY-4.0"]), licence_allowed(None, ["CC0-1.0"])
        (True, False)
    """
    if not allow:
        return True
    if not licence:
        return False
    return licence.strip().casefold() in {a.strip().casefold() for a in allow}


_OPEN_FORMATS = tuple(FORMAT_EXT)

_pillow_limit_lock = threading.Lock()


def _raise_pillow_limit(max_pixels: int) -> None:
    """Make Pillow's own bomb check (``Image.MAX_IMAGE_PIXELS``) at least ``max_pixels``.

    Pillow warns above ``MAX_IMAGE_PIXELS`` (89.5 M by default) and refuses above twice
    that, reading a module global at every ``Image.open``. Our ``max_pixels`` check is the
    one that decides; Pillow's must only not refuse images below it. The global is only
    ever raised, never lowered or restored, so decode threads racing here cannot leave it
    below any crawl's limit; other code in the process keeps a bomb check that is at least
    as strict as the crawl's (``None``, Pillow's "no limit", is left alone).
    """
    if Image.MAX_IMAGE_PIXELS is None or Image.MAX_IMAGE_PIXELS >= max_pixels:
        return
    with _pillow_limit_lock:
        if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < max_pixels:
            Image.MAX_IMAGE_PIXELS = max_pixels


def inspect_image(body: bytes, max_pixels: int) -> tuple[str, int, int]:
    """Decode ``body`` fully and return ``(format, width, height)``.

    The pixel count is checked against ``max_pixels`` from the header before any pixel is
    decoded, so a decompression bomb costs nothing. ``max_pixels`` is honoured also above
    Pillow's default limit (see :func:`_raise_pillow_limit`).

    Raises:
        DropItem: ``not_an_image``, ``unsupported_format``, ``decompression_bomb`` or ``truncated``.
    """
    _raise_pillow_limit(max_pixels)
    try:
        # No warnings.catch_warnings() here: it swaps process-wide filters and is not
        # thread-safe (decoding runs in a thread pool). Pillow's DecompressionBombWarning
        # can only concern an image over max_pixels now, which the check below drops.
        try:
            # Only our formats' openers are tried (a third of the open cost on small images);
            # anything else is opened again below just to name its format in the reason.
            img = Image.open(io.BytesIO(body), formats=_OPEN_FORMATS)
        except UnidentifiedImageError:
            img = Image.open(io.BytesIO(body))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:  # the warning: under -W error
        raise DropItem(f"decompression_bomb: {exc}") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DropItem(f"not_an_image: {type(exc).__name__}: {exc}") from exc
    with img:
        fmt = img.format or "?"
        w, h = img.size
        if fmt not in FORMAT_EXT:
            raise DropItem(f"unsupported_format: {fmt}")
        if w * h > max_pixels:
            raise DropItem(f"decompression_bomb: {w}x{h} = {w * h} pixels > max_pixels {max_pixels}")
        try:
            img.load()
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise DropItem(f"truncated: {exc}") from exc
    return fmt, w, h


class _Base:
    """Pipelines get the crawler (settings, stats) through ``from_crawler``."""

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.settings = crawler.settings

    @classmethod
    def from_crawler(cls, crawler: Any) -> Any:
        return cls(crawler)


class LicencePipeline(_Base):
    def process_item(self, item: ImageItem) -> ImageItem:
        allow = list(getattr(self.crawler.spider, "licence_allow", ()) or ())
        if not licence_allowed(item.licence, allow):
            raise DropItem(f"licence: {item.licence!r} not in allow-list {sorted(allow)}")
        return item


class DownloadErrorPipeline(_Base):
    def process_item(self, item: ImageItem) -> ImageItem:
        if item.download_error:
            raise DropItem(item.download_error)
        if item.not_modified:  # 304: no body by design, the stored file is the image
            return item
        if item.body is None:
            raise DropItem("download: no body")
        return item


class ContentTypePipeline(_Base):
    def process_item(self, item: ImageItem) -> ImageItem:
        if item.not_modified:
            return item
        ctype = (item.content_type or "").split(";", 1)[0].strip().lower()
        # octet-stream is common for images on file hosts; the decoder still checks the bytes.
        if not (ctype.startswith("image/") or ctype in ("", "application/octet-stream")):
            raise DropItem(f"content_type: {ctype!r} is not an image type")
        return item


class MaxBytesPipeline(_Base):
    def process_item(self, item: ImageItem) -> ImageItem:
        limit = self.settings.getint("DOWNLOAD_MAXSIZE")
        n = (item.bytes or 0) if item.not_modified else len(item.body or b"")
        item.bytes = n
        if limit and n > limit:
            raise DropItem(f"too_large: {n} bytes > max_bytes {limit}")
        return item


class DecodePipeline(_Base):
    """Decode in a reactor thread-pool thread: Pillow releases the GIL while decoding, so a
    large photo (~10 ms) does not stall the downloads of the others."""

    def open_spider(self) -> None:
        self.max_pixels = self.settings.getint("PCBFORGE_MAX_PIXELS")

    async def process_item(self, item: ImageItem) -> ImageItem:
        from twisted.internet.threads import deferToThread

        from scrapy.utils.defer import maybe_deferred_to_future

        if item.not_modified:  # decoded by the crawl that stored it; only the limit may have changed
            w, h = item.width or 0, item.height or 0
            if w * h > self.max_pixels:
                raise DropItem(f"decompression_bomb: {w}x{h} = {w * h} pixels > max_pixels {self.max_pixels}")
            return item
        fmt, w, h = await maybe_deferred_to_future(deferToThread(inspect_image, item.body or b"", self.max_pixels))
        item.format, item.width, item.height = fmt.lower(), w, h
        return item


class MinSidePipeline(_Base):
    def process_item(self, item: ImageItem) -> ImageItem:
        min_side = self.settings.getint("PCBFORGE_MIN_SIDE")
        if min(item.width or 0, item.height or 0) < min_side:
            raise DropItem(f"too_small: {item.width}x{item.height} < min_side {min_side}")
        return item


class DedupPipeline(_Base):
    """Drop exact duplicates (sha256) of an image stored in this or an earlier run of the crawl."""

    def __init__(self, crawler: Any) -> None:
        super().__init__(crawler)
        crawler.signals.connect(self.item_error, signal=signals.item_error)

    def item_error(self, item: Any, **kw: Any) -> None:
        """An item that claimed its sha256 here and then failed (e.g. storing it) stored
        nothing: a later copy of the same bytes must be stored, not dropped as its duplicate."""
        sha = getattr(item, "sha256", None)
        if sha:
            self.seen.discard(sha)

    def open_spider(self) -> None:
        self.seen = stored_shas(read_rows(self.settings.getlist("PCBFORGE_PRIOR_JOURNALS")))

    def process_item(self, item: ImageItem) -> ImageItem:
        if not item.not_modified:
            item.sha256 = hashlib.sha256(item.body or b"").hexdigest()
        if item.sha256 in self.seen:
            raise DropItem(f"duplicate: same sha256 as a stored image ({item.sha256[:12]})")
        self.seen.add(item.sha256)
        return item


def content_path(sha256: str, fmt: str) -> str:
    """Relative path of a stored file: ``files/<sha[:2]>/<sha256>.<ext>`` (never derived from a URL).

    Example:
        >>> content_path("ab" * 32, "jpeg")[:12]
        'files/ab/aba'
    """
    return f"files/{sha256[:2]}/{sha256}.{FORMAT_EXT[fmt.upper()]}"


def store_file(target: Path, body: bytes, made_dirs: set[Path] | None = None) -> bool:
    """Write ``body`` to ``target`` atomically unless it exists; return whether it was written.

    The body goes to a temporary name unique to this call (:func:`pcbforge.io.atomic_path`:
    two sources of one worker, their store threads, or workers on other machines sharing
    ``out`` may write the same sha256 at once) and is renamed into place, so a killed
    crawl never leaves a partial file under the final name. The name is content-addressed,
    so a file another writer put there first is the same bytes: it counts as stored.
    ``made_dirs`` remembers the directories already created (a ``mkdir`` per file is
    measurable at hundreds of files/s).
    """
    if target.exists():
        return False
    parent = target.parent
    if made_dirs is None or parent not in made_dirs:
        parent.mkdir(parents=True, exist_ok=True)
        if made_dirs is not None:
            made_dirs.add(parent)
    with atomic_path(target, make_parent=False) as tmp:
        tmp.write_bytes(body)
    return True


class StorePipeline(_Base):
    """Write the file off the reactor thread: creating a file costs ~0.5-1 ms of mostly
    kernel/filesystem time (measured: the largest single cost of a crawl), which a thread
    overlaps with downloading and validating the next items (the GIL is released)."""

    def open_spider(self) -> None:
        self.out = Path(self.settings.get("PCBFORGE_OUT"))
        self.made_dirs: set[Path] = set()

    async def process_item(self, item: ImageItem) -> ImageItem:
        from twisted.internet.threads import deferToThread

        from scrapy.utils.defer import maybe_deferred_to_future

        assert item.sha256 and item.format
        rel = content_path(item.sha256, item.format)
        if item.not_modified:
            if not (self.out / rel).is_file():  # verified when the crawl started; gone since
                raise FileNotFoundError(f"{rel} vanished during the crawl")
            item.path = rel
            return item
        await maybe_deferred_to_future(deferToThread(store_file, self.out / rel, item.body or b"", self.made_dirs))
        item.path = rel
        return item


class JournalPipeline(_Base):
    """Record every item leaving the chain (stored, dropped or failed) and keep the live counts."""

    def __init__(self, crawler: Any) -> None:
        super().__init__(crawler)
        self.stats = crawler.stats
        crawler.signals.connect(self.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(self.item_error, signal=signals.item_error)

    def open_spider(self) -> None:
        self.journal = Journal(self.settings.get("PCBFORGE_JOURNAL"))

    def close_spider(self) -> None:
        self.journal.close()

    def process_item(self, item: ImageItem) -> ImageItem:
        # The validators ride in the journal only (the stage keeps them in crawl.http_cache).
        self.journal.append({**item.row("ok", None), "etag": item.etag, "last_modified": item.last_modified})
        self.stats.inc_value("pcbforge/stored")
        item.body = None
        return item

    def item_dropped(self, item: Any, response: Any = None, exception: Exception | None = None, **kw: Any) -> None:
        if not isinstance(item, ImageItem):
            return
        reason = stable_reason(str(exception)) if exception is not None else "dropped"
        status = item.failure_status if item.download_error else "rejected"
        self.journal.append({**item.row(status, reason), "etag": item.etag, "last_modified": item.last_modified})
        self.stats.inc_value(f"pcbforge/rejected/{_reason_kind(reason)}")
        self.stats.inc_value("pcbforge/rejected")
        log.debug("rejected %s: %s", item.image_url, reason)
        item.body = None

    def item_error(self, item: Any, response: Any = None, failure: Any = None, **kw: Any) -> None:
        """An unexpected exception in a pipeline (Scrapy logged its traceback): an ``error`` row."""
        if not isinstance(item, ImageItem):
            return
        exc = getattr(failure, "value", None)
        reason = stable_reason(f"internal: {type(exc).__name__}: {exc}") if exc is not None else "internal: unknown error"
        self.journal.append(item.row("error", reason))
        self.stats.inc_value("pcbforge/rejected/internal")
        self.stats.inc_value("pcbforge/rejected")
        log.warning("error %s: %s", item.image_url, reason)
        item.body = None
