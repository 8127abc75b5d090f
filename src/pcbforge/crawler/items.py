"""The crawl item: one image seen by a spider, stored or rejected.

Items are dataclasses (Scrapy supports them natively through itemadapter). The manifest
fields are the public contract (``images.parquet``, see docs/stages.md); the fields after
``path`` are transient: they carry the downloaded body and the download outcome through
the item pipelines and never reach the manifest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

def url_id(url: str) -> str:
    """The manifest id of an image that was not stored: sha256 of its (public) URL."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


@dataclass
class ImageItem:
    """An image found on a page; filled in by the item pipelines as it is validated."""

    source: str
    page_url: str
    image_url: str
    class_label: str | None = None
    licence: str | None = None
    author: str | None = None
    #: Credit line the licence asks for, as the source gives it (Commons ``Attribution``), or None.
    attribution: str | None = None
    #: URL of the licence text (Commons ``LicenseUrl``), or None.
    licence_url: str | None = None
    #: Product metadata from the product page (``catalog`` selectors), or None.
    title: str | None = None
    #: Manufacturer part number.
    mpn: str | None = None
    #: The shop's own article number.
    sku: str | None = None
    datasheet_url: str | None = None
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    bytes: int | None = None
    format: str | None = None
    fetched_at: str | None = None
    path: str | None = None
    # --- transient, never written to the manifest ---
    body: bytes | None = field(default=None, repr=False)
    content_type: str | None = None
    #: Why the download failed (set by the spider's errback); the first pipeline drops it.
    download_error: str | None = None
    #: ``rejected`` (policy: robots, size, format ...) or ``error`` (network, 5xx) for download failures.
    failure_status: str = "rejected"
    #: HTTP validators of the image (response headers), kept for the next crawl's conditional request.
    etag: str | None = None
    last_modified: str | None = None
    #: The server answered 304 to a conditional request: the stored file (verified by the
    #: stage) is the image; sha256, format, size come from the last crawl, nothing is downloaded.
    not_modified: bool = False

    def row(self, status: str, error: str | None) -> dict[str, Any]:
        """The manifest row for this item (the columns of the declared crawl schema,
        :mod:`pcbforge.datasets.schemas`; tests/unit/test_crawler_validation.py keeps them equal)."""
        stored = status == "ok"
        return {
            "id": self.sha256 if stored and self.sha256 else url_id(self.image_url),
            "source": self.source,
            "page_url": self.page_url,
            "image_url": self.image_url,
            "class_label": self.class_label,
            "licence": self.licence,
            "author": self.author,
            "attribution": self.attribution,
            "licence_url": self.licence_url,
            "title": self.title,
            "mpn": self.mpn,
            "sku": self.sku,
            "datasheet_url": self.datasheet_url,
            "sha256": self.sha256,
            "width": self.width,
            "height": self.height,
            "bytes": self.bytes,
            "format": self.format,
            "path": self.path if stored else None,
            "fetched_at": self.fetched_at,
            "status": status,
            "error": error,
        }
