"""Scrapy settings for pcbforge crawls, built from the ``crawl`` params (plain values).

Polite by default: robots.txt obeyed, AutoThrottle on, per-domain concurrency, retries on
5xx/timeouts with exponential backoff, a redirect limit, a download size cap and no
requests to private addresses unless the source allows them.
"""

from __future__ import annotations

from typing import Any

from scrapy.settings import default_settings as _scrapy_defaults

PIPELINE = "pcbforge.crawler.pipelines."

ITEM_PIPELINES = {
    PIPELINE + "LicencePipeline": 100,
    PIPELINE + "DownloadErrorPipeline": 150,
    PIPELINE + "ContentTypePipeline": 200,
    PIPELINE + "MaxBytesPipeline": 300,
    PIPELINE + "DecodePipeline": 400,
    PIPELINE + "MinSidePipeline": 500,
    PIPELINE + "DedupPipeline": 600,
    PIPELINE + "StorePipeline": 700,
    PIPELINE + "JournalPipeline": 900,
}

DOWNLOADER_MIDDLEWARES = {
    # Both before robots.txt (100), whose own request passes through them too: nothing
    # leaves for an offsite host or a private address, not even the robots.txt request.
    # Offsite first: it is a string match, while the private-address check resolves the
    # host (DNS), which an offsite link must never cost.
    "pcbforge.crawler.middlewares.StrictOffsiteMiddleware": 40,
    "pcbforge.crawler.middlewares.PrivateAddressMiddleware": 50,
    "pcbforge.crawler.middlewares.RetryBackoffMiddleware": 560,
}

EXTENSIONS = {"pcbforge.crawler.extensions.ProgressLog": 500}

# Start-up cost with no use here. Scrapy imports every enabled component before it can
# decline with NotConfigured, and every key of a component dict even when set to None (to
# de-duplicate class paths), so unused built-ins are left out of the ``_BASE`` dicts
# instead of being disabled by None or a setting: RemoteControl's module imports
# aiohttp (~0.1 s of each worker's start-up) and CookiesMiddleware's imports tldextract
# (~0.05 s; cookies are off). Telnet/memory/feeds/logstats/closespider are unused by pcbforge.
# Left out, they need no settings either (TELNETCONSOLE_ENABLED, COOKIES_ENABLED, ... are
# read only by the components themselves); ProgressLog replaces LogStats.
_UNUSED_EXTENSIONS = {
    "scrapy.extensions.remote_control.RemoteControl",
    "scrapy.extensions.telnet.TelnetConsole",
    "scrapy.extensions.memusage.MemoryUsage",
    "scrapy.extensions.memdebug.MemoryDebugger",
    "scrapy.extensions.feedexport.FeedExporter",
    "scrapy.extensions.logstats.LogStats",
    "scrapy.extensions.closespider.CloseSpider",
}
_UNUSED_DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.cookies.CookiesMiddleware",
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware",  # StrictOffsiteMiddleware replaces it
}
EXTENSIONS_BASE = {k: v for k, v in _scrapy_defaults.EXTENSIONS_BASE.items() if k not in _UNUSED_EXTENSIONS}
DOWNLOADER_MIDDLEWARES_BASE = {
    k: v for k, v in _scrapy_defaults.DOWNLOADER_MIDDLEWARES_BASE.items() if k not in _UNUSED_DOWNLOADER_MIDDLEWARES
}

#: Only http(s) is ever requested (sources are validated as http URLs; others would be
#: refused anyway): the unused handlers are not loaded.
DOWNLOAD_HANDLERS = {"s3": None, "ftp": None}

#: Settings every crawl shares; the rest comes from params in :func:`build_settings`.
BASE_SETTINGS: dict[str, Any] = {
    "BOT_NAME": "pcbforge",
    # Scrapy's own, except that per-domain concurrency holds under the asyncio reactor.
    "DOWNLOADER": "pcbforge.crawler.downloader.Downloader",
    "ITEM_PIPELINES": ITEM_PIPELINES,
    "DOWNLOADER_MIDDLEWARES": DOWNLOADER_MIDDLEWARES,
    "EXTENSIONS": EXTENSIONS,
    "EXTENSIONS_BASE": EXTENSIONS_BASE,
    "DOWNLOADER_MIDDLEWARES_BASE": DOWNLOADER_MIDDLEWARES_BASE,
    "DOWNLOAD_HANDLERS": DOWNLOAD_HANDLERS,
    # Every drop is a manifest row with its reason and counted in the progress line.
    "DEFAULT_DROPITEM_LOG_LEVEL": "DEBUG",
    # Per-request header-size accounting (downloader/* stats) that nothing reads: ~2-3% of the CPU.
    "DOWNLOADER_STATS": False,
    "LOG_LEVEL": "INFO",
    "AUTOTHROTTLE_START_DELAY": 0.05,
    "AUTOTHROTTLE_MAX_DELAY": 10.0,
    "DOWNLOAD_WARNSIZE": 0,
    "DEPTH_PRIORITY": 0,
    # Scrapy's, without a search of the spider's attributes per request (crawler/queues.py).
    "SCHEDULER_DISK_QUEUE": "pcbforge.crawler.queues.PickleFifoDiskQueue",
    "SCHEDULER_MEMORY_QUEUE": "scrapy.squeues.FifoMemoryQueue",
    # Our pipelines are synchronous, so items of one response gain nothing from running
    # concurrently, while Scrapy's asyncio scraper starts CONCURRENT_ITEMS (default 100)
    # tasks for every callback: measured 28% of the crawl's CPU (docs/crawler.md, Performance).
    "CONCURRENT_ITEMS": 1,
}


def build_settings(crawl: dict[str, Any], *, out: str, journal: str, prior_journals: list[str],
                   jobdir: str | None = None, redis_url: str | None = None) -> dict[str, Any]:
    """Scrapy settings for one crawler.

    Args:
        crawl: the ``crawl`` params as plain values (``CrawlParams.model_dump()``).
        out: the crawl's output directory (files are stored under it).
        journal: this worker's journal file.
        prior_journals: every journal of this crawl (earlier runs, other workers).
        jobdir: Scrapy JOBDIR (persistent scheduler queue + dupe filter), or None.
        redis_url: share the queue and dupe filter with other workers through scrapy-redis.
    """
    s: dict[str, Any] = dict(BASE_SETTINGS)
    s.update(
        {
            "ROBOTSTXT_OBEY": bool(crawl["obey_robots"]),
            "AUTOTHROTTLE_ENABLED": bool(crawl["autothrottle"]),
            "AUTOTHROTTLE_TARGET_CONCURRENCY": float(crawl["concurrency_per_domain"]),
            "CONCURRENT_REQUESTS": int(crawl["concurrency"]),
            "CONCURRENT_REQUESTS_PER_DOMAIN": int(crawl["concurrency_per_domain"]),
            "DOWNLOAD_TIMEOUT": float(crawl["download_timeout"]),
            "RETRY_ENABLED": int(crawl["retries"]) > 0,
            "RETRY_TIMES": int(crawl["retries"]),
            "PCBFORGE_RETRY_BACKOFF": float(crawl.get("retry_backoff", 0.5)),
            "PCBFORGE_IDLE_CLOSE": float(crawl.get("idle_close", 6.0)),
            "REDIRECT_MAX_TIMES": int(crawl["max_redirects"]),
            "DOWNLOAD_MAXSIZE": int(crawl["max_bytes"]),
            "USER_AGENT": crawl["user_agent"],
            "PCBFORGE_MAX_PIXELS": int(crawl["max_pixels"]),
            "PCBFORGE_MIN_SIDE": int(crawl["min_side"]),
            "PCBFORGE_OUT": out,
            "PCBFORGE_JOURNAL": journal,
            "PCBFORGE_PRIOR_JOURNALS": list(prior_journals),
        }
    )
    if jobdir:
        s["JOBDIR"] = jobdir
    if redis_url:
        s.update(
            {
                "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
                "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
                "SCHEDULER_QUEUE_CLASS": "scrapy_redis.queue.PriorityQueue",
                # Workers finish at different times: none may flush the shared queue; the
                # coordinator deletes the keys when the whole crawl is done.
                "SCHEDULER_PERSIST": True,
                "REDIS_URL": redis_url,
            }
        )
    return s
