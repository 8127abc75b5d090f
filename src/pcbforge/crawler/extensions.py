"""Live progress of a crawl: pages, images stored, rejected by reason, and rate, logged periodically."""

from __future__ import annotations

import logging
import time
from typing import Any

from scrapy import signals
from twisted.internet import task

log = logging.getLogger("pcbforge.crawl.progress")


def progress_line(stats: dict[str, Any], elapsed: float) -> str:
    """One line of live counts from Scrapy stats.

    Example:
        >>> progress_line({"pcbforge/pages": 3, "pcbforge/stored": 10, "pcbforge/rejected/http_404": 2}, 2.0)
        'pages 3, stored 10 (5.0/s), rejected 2 {http_404: 2}'
    """
    stored = int(stats.get("pcbforge/stored", 0))
    reasons = {k.split("/", 2)[2]: v for k, v in stats.items() if k.startswith("pcbforge/rejected/")}
    rejected = sum(reasons.values())
    by = ", ".join(f"{k}: {reasons[k]}" for k in sorted(reasons))
    rate = stored / elapsed if elapsed > 0 else 0.0
    line = f"pages {int(stats.get('pcbforge/pages', 0))}, stored {stored} ({rate:.1f}/s), rejected {rejected}"
    if by:
        line += f" {{{by}}}"
    skipped = int(stats.get("pcbforge/skipped_done", 0))
    if skipped:
        line += f", skipped (done earlier) {skipped}"
    return line


class ProgressLog:
    """Log :func:`progress_line` every ``PCBFORGE_PROGRESS_INTERVAL`` seconds and at the end."""

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.interval = crawler.settings.getfloat("PCBFORGE_PROGRESS_INTERVAL", 2.0)
        self.t0 = time.monotonic()
        self.loop: task.LoopingCall | None = None
        crawler.signals.connect(self.opened, signal=signals.spider_opened)
        crawler.signals.connect(self.closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Any) -> ProgressLog:
        return cls(crawler)

    def _log(self) -> None:
        name = getattr(self.crawler.spider, "name", "?")
        log.info("%s: %s", name, progress_line(self.crawler.stats.get_stats(), time.monotonic() - self.t0))

    def opened(self, spider: Any = None) -> None:
        self.t0 = time.monotonic()
        if self.interval > 0:
            self.loop = task.LoopingCall(self._log)
            self.loop.start(self.interval, now=False)

    def closed(self, spider: Any = None, reason: str = "") -> None:
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        self._log()
