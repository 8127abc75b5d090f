"""What every pcbforge spider shares: source config, public URLs, resume skips, image requests.

A spider is configured by one ``crawl.sources`` entry (a plain dict from the stage). It
turns every image it finds into an :class:`~pcbforge.crawler.items.ImageItem`: images
already answered by an earlier run (the journal) are skipped without a request, images
whose licence is not allowed are emitted without a download (the licence pipeline
records why), and download failures come back through the errback as items carrying the
reason, so every image seen ends up as a manifest row.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider, IgnoreRequest
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import ConnectError, DNSLookupError, TimeoutError as TxTimeoutError
from twisted.python.failure import Failure

from pcbforge.crawler.items import ImageItem
from pcbforge.crawler.journal import Journal, done_urls, read_rows
from pcbforge.crawler.middlewares import parse_allow_hosts
from pcbforge.crawler.pipelines import licence_allowed

log = logging.getLogger(__name__)

#: Stats key: pages that failed with a transient error (network, timeout, 5xx), whose links
#: a later run must still follow (see ``worker_main`` in :mod:`pcbforge.crawler.runner`).
PAGE_FAILED_TRANSIENT = "pcbforge/page_failed_transient"


def failure_reason(failure: Failure) -> tuple[str, str]:
    """``(status, reason)`` for a failed image download: policy refusals are ``rejected``,
    network trouble and server errors are ``error`` (retried by the next run)."""
    exc = failure.value
    if isinstance(exc, HttpError):
        code = exc.response.status
        return ("error" if code >= 500 else "rejected"), f"http_{code}: {exc.response.url}"
    if isinstance(exc, IgnoreRequest):
        msg = str(exc)
        low = msg.lower()
        if "robots" in low:
            kind = "robots"
        elif "private address" in low:
            kind = "private_address"
        elif "offsite" in low:
            kind = "offsite"
        elif "redirect" in low:
            kind = "redirect_loop"
        else:
            kind = "ignored"
        return "rejected", f"{kind}: {msg}"
    name = type(exc).__name__
    if "Cancelled" in name or "maxsize" in str(exc).lower():
        return "rejected", f"too_large: {exc}"
    if isinstance(exc, TxTimeoutError) or "Timeout" in name:
        return "error", f"timeout: {exc}"
    if isinstance(exc, (ConnectError, DNSLookupError)) or "Connect" in name or "Resolve" in name:
        return "error", f"connection: {name}: {exc}"
    return "error", f"download: {name}: {exc}"


class PcbforgeSpider(scrapy.Spider):
    """Base spider: holds the source config and builds image requests and items."""

    custom_settings: dict[str, Any] = {}
    _idle_since: float | None = None
    #: Whether a worker gives this spider a Scrapy JOBDIR (persistent queue of pages to visit).
    uses_jobdir = True
    #: Hosts this spider's files live on besides its start URLs: the stage adds them to the
    #: ``allowed_domains`` of a source that sets none.
    default_allowed_domains: tuple[str, ...] = ()

    def __init__(
        self,
        source: dict[str, Any],
        aliases: dict[str, str] | None = None,
        prior_journals: list[str] | None = None,
        fetched_at: str | None = None,
        distributed: bool = False,
        validators: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=source["name"], **kwargs)
        self.source = source
        self.source_name: str = source["name"]
        self.start_urls = list(source["start_urls"])
        self.allow_private: bool = bool(source.get("allow_private", False))
        self.allow_hosts = parse_allow_hosts(list(source.get("allow_hosts") or []))
        self.licence_allow: list[str] = list(source.get("licence_allow") or [])
        self.class_map: dict[str, str] = dict(source.get("class_map") or {})
        self.selectors: dict[str, str] = dict(source.get("selectors") or {})
        self.allowed_domains = list(source.get("allowed_domains") or [])
        #: Origins served on a random port are written under a stable alias (``builtin:``),
        #: so manifests are byte-identical between runs and resume can match URLs.
        self.aliases = dict(aliases or {})
        self.fetched_at = fetched_at
        self.distributed = distributed
        #: ``"<url>: <reason>"`` of every start request that failed (the stage reports them).
        self.start_failures: list[str] = []
        #: image URL -> the label its request (this run) carries; see :meth:`_sighted`.
        self._requested_label: dict[str, str | None] = {}
        self._sightings_done: set[tuple[str, str | None]] = set()
        self._labels_journal: Journal | None = None
        #: image URL -> the last crawl's validators and file facts (see :mod:`pcbforge.crawler.runner`).
        self.validators: dict[str, dict[str, Any]] = json.loads(Path(validators).read_text()) if validators else {}
        self.skip = done_urls(read_rows(prior_journals or []))
        if self.skip:
            log.info("%s: resuming; %d images already answered are skipped", self.source_name, len(self.skip))

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> PcbforgeSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._on_idle, signal=signals.spider_idle)
        spider._idle_since = None
        return spider

    def _on_idle(self) -> None:
        """A distributed worker stays up until the shared queue has stayed empty for
        ``PCBFORGE_IDLE_CLOSE`` seconds: other workers may still be adding requests."""
        if not self.distributed:
            return
        wait = self.crawler.settings.getfloat("PCBFORGE_IDLE_CLOSE", 6.0)
        now = time.monotonic()
        if self._idle_since is None:
            self._idle_since = now
        if now - self._idle_since < wait:
            raise DontCloseSpider
        log.info("%s: shared queue empty for %.0fs; worker done", self.source_name, now - self._idle_since)

    def public_url(self, url: str) -> str:
        """``url`` with a served origin replaced by its stable alias."""
        for origin, alias in self.aliases.items():
            if url == origin or url.startswith(origin + "/"):
                return alias + url[len(origin) :]
        return url

    def class_label(self, slug: str | None) -> str | None:
        """Our class for a site category slug: ``class_map`` first, else the slug with ``-`` -> ``_``."""
        if not slug:
            return None
        slug = slug.strip()
        return self.class_map.get(slug) or slug.replace("-", "_")

    def page_request(self, url: str, callback: Any, *, start: bool = False, **kw: Any) -> scrapy.Request:
        """A request for an HTML/JSON page (deduplicated by the scheduler's dupe filter).

        ``start``: one of the source's start requests; if every one of them fails the stage
        stops with their reasons instead of reporting an empty crawl as done.
        """
        self.crawler.stats.inc_value("pcbforge/pages_requested")
        if start:
            self.crawler.stats.inc_value("pcbforge/start_requested")
            kw["meta"] = {**kw.get("meta", {}), "pcbforge_start": True}
        return scrapy.Request(url, callback=callback, errback=self.page_failed, **kw)

    def image_requests(
        self,
        page_url: str,
        image_url: str,
        *,
        class_label: str | None,
        licence: str | None,
        author: str | None,
        attribution: str | None = None,
        licence_url: str | None = None,
        **product: str | None,
    ) -> Iterator[Any]:
        """Yield what an image on a page becomes: nothing (done before), an item (licence refused)
        or a download request whose callback/errback yields the item."""
        public = self.public_url(image_url)
        if public in self.skip:
            self.crawler.stats.inc_value("pcbforge/skipped_done")
            self._sighted(public, page_url, class_label)
            return
        self._requested_label[public] = class_label
        item = ImageItem(
            source=self.source_name,
            page_url=self.public_url(page_url),
            image_url=public,
            class_label=class_label,
            licence=licence,
            author=author,
            attribution=attribution,
            licence_url=licence_url,
            fetched_at=self.fetched_at,
            **product,  # title, mpn, sku, datasheet_url
        )
        if not licence_allowed(licence, self.licence_allow):
            self.skip.add(public)
            yield item  # LicencePipeline records the reason; nothing is downloaded
            return
        self.skip.add(public)
        headers, meta = {}, {}
        prior = self.validators.get(public)
        if prior:
            # Conditional request: an unchanged image answers 304 without a body.
            if prior.get("etag"):
                headers["If-None-Match"] = prior["etag"]
            if prior.get("last_modified"):
                headers["If-Modified-Since"] = prior["last_modified"]
            meta["handle_httpstatus_list"] = [304]
        yield scrapy.Request(
            image_url,
            callback=self.parse_image,
            errback=self.image_failed,
            cb_kwargs={"item": item},
            headers=headers or None,
            meta=meta or None,
            priority=10,  # finish images before opening more pages: bounded memory, early rows
            # Deduplicated by ``skip`` instead of the dupe filter: a filtered request (e.g. a
            # redirect back to a URL already seen) would vanish without a manifest row.
            dont_filter=True,
        )

    def _sighted(self, public: str, page_url: str, class_label: str | None) -> None:
        """Record a label an image URL was seen under besides the one its row carries.

        The image is requested once (its first sighting), so another page showing it under
        another category would otherwise vanish; the stage applies ``crawl.label_conflict``
        to what is recorded here (``labels-<worker>.jsonl`` beside the journal). URLs
        answered by an earlier run record each label once, as their row's label is not known here.
        """
        if public in self._requested_label and self._requested_label[public] == class_label:
            return
        key = (public, class_label)
        if key in self._sightings_done:
            return
        self._sightings_done.add(key)
        if self._labels_journal is None:
            journal = Path(self.crawler.settings.get("PCBFORGE_JOURNAL"))
            self._labels_journal = Journal(journal.with_name(journal.name.replace("journal-", "labels-", 1)))
        self._labels_journal.append(
            {"image_url": public, "page_url": self.public_url(page_url), "class_label": class_label}
        )

    def closed(self, reason: str) -> None:
        if self._labels_journal is not None:
            self._labels_journal.close()

    def parse_image(self, response: Any, item: ImageItem) -> Iterator[ImageItem]:
        self._idle_since = None
        item.fetched_at = item.fetched_at or _now()
        prior = self.validators.get(item.image_url) or {}
        etag, modified = response.headers.get(b"ETag"), response.headers.get(b"Last-Modified")
        item.etag = etag.decode("latin-1") if etag else prior.get("etag") if response.status == 304 else None
        item.last_modified = (modified.decode("latin-1") if modified
                              else prior.get("last_modified") if response.status == 304 else None)
        if response.status == 304:
            self.crawler.stats.inc_value("pcbforge/not_modified")
            item.not_modified = True
            item.sha256, item.format = prior["sha256"], prior["format"]
            item.width, item.height, item.bytes = prior["width"], prior["height"], prior["bytes"]
            yield item
            return
        item.body = response.body
        ctype = response.headers.get(b"Content-Type")
        item.content_type = ctype.decode("latin-1") if ctype else None
        yield item

    def image_failed(self, failure: Failure) -> Iterator[ImageItem]:
        request = failure.request
        item: ImageItem = request.cb_kwargs["item"]
        item.failure_status, item.download_error = failure_reason(failure)
        item.fetched_at = item.fetched_at or _now()
        yield item

    def page_failed(self, failure: Failure) -> None:
        status, reason = failure_reason(failure)
        self.crawler.stats.inc_value(f"pcbforge/page_failed/{reason.split(':', 1)[0]}")
        if status == "error":
            self.crawler.stats.inc_value(PAGE_FAILED_TRANSIENT)
        url = self.public_url(failure.request.url)
        if failure.request.meta.get("pcbforge_start"):
            # Loud: a failed start URL usually means nothing at all is crawled.
            self.start_failures.append(f"{url}: {reason}")
            log.warning("start URL not crawled (%s): %s", reason, url)
        else:
            log.info("page not crawled (%s): %s", reason, url)


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
