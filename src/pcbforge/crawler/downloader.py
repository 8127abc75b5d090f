"""Scrapy's downloader with the per-domain concurrency limit enforced under the asyncio reactor.

Scrapy 2.19's ``Downloader._process_queue`` hands each queued request to
``_wait_for_download`` through ``_schedule_coro``, which under the asyncio reactor only
creates a task; the request joins ``slot.transferring`` when that task first runs, after
the loop has finished. The loop's ``free_transfer_slots()`` check therefore sees no
request in flight and starts every queued request at once: with AutoThrottle off,
``CONCURRENT_REQUESTS_PER_DOMAIN: 2`` put 8-10 requests on one host at a time (measured,
``tests/integration/test_crawl_politeness.py``; the epoll reactor keeps to 2).
Counting the request as transferring when it is handed over closes that gap.

This works around upstream behaviour that is worth reporting to scrapy/scrapy (not
reported yet). It overrides a private method, so pyproject.toml pins Scrapy to 2.19.x and
``tests/unit/test_crawler_settings.py`` fails if the internals it relies on change.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from scrapy.core.downloader import Downloader as ScrapyDownloader


class Downloader(ScrapyDownloader):
    """``DOWNLOADER`` for pcbforge crawls (settings.py); see the module docstring."""

    def _wait_for_download(self, slot: Any, request: Any, queue_dfd: Any) -> Coroutine[Any, Any, None]:
        # Runs synchronously inside _process_queue's loop, before its next free-slot check;
        # Scrapy's _download adds the request again (a set) and removes it when done.
        slot.transferring.add(request)
        return super()._wait_for_download(slot, request, queue_dfd)
