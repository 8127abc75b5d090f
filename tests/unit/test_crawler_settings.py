"""The ``crawl`` params reach the Scrapy settings that enforce them (settings.build_settings)."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import pytest
from scrapy.exceptions import NotConfigured
from scrapy.extensions.throttle import AutoThrottle
from scrapy.settings import Settings
from scrapy.signalmanager import SignalManager

from pcbforge.config import CrawlParams
from pcbforge.crawler.settings import build_settings


def _settings(**params) -> Settings:
    crawl = CrawlParams(**params).model_dump(mode="json")
    return Settings(build_settings(crawl, out="o", journal="j", prior_journals=[]))


@pytest.mark.parametrize("on", [True, False])
def test_autothrottle_param_switches_scrapys_autothrottle(on: bool) -> None:
    s = _settings(autothrottle=on, concurrency_per_domain=3)
    assert s.getbool("AUTOTHROTTLE_ENABLED") is on
    assert s.getfloat("AUTOTHROTTLE_TARGET_CONCURRENCY") == 3.0
    # What Scrapy itself decides from these settings: the extension runs, or declines.
    crawler = SimpleNamespace(settings=s, signals=SignalManager())
    if on:
        assert AutoThrottle(crawler).target_concurrency == 3.0
    else:
        with pytest.raises(NotConfigured):
            AutoThrottle(crawler)


def test_concurrency_and_retry_params_reach_scrapy() -> None:
    s = _settings(concurrency=12, concurrency_per_domain=2, retries=4, retry_backoff=0.3)
    assert s.getint("CONCURRENT_REQUESTS") == 12
    assert s.getint("CONCURRENT_REQUESTS_PER_DOMAIN") == 2
    assert s.getbool("RETRY_ENABLED") and s.getint("RETRY_TIMES") == 4
    assert s.getfloat("PCBFORGE_RETRY_BACKOFF") == 0.3
    # Scrapy's own downloader ignores the per-domain limit under the asyncio reactor (downloader.py).
    assert s.get("DOWNLOADER") == "pcbforge.crawler.downloader.Downloader"
    assert not _settings(retries=0).getbool("RETRY_ENABLED")


def test_scrapy_downloader_internals_that_our_downloader_overrides_are_unchanged() -> None:
    # crawler/downloader.py overrides this private method of Scrapy 2.19 (pyproject.toml pins
    # 2.19.x): an upgrade that changes how requests reach it must fail here, not silently
    # lose the per-domain limit (or leak transfer slots) in a crawl.
    from scrapy.core.downloader import Downloader

    assert inspect.iscoroutinefunction(Downloader._wait_for_download)
    assert "_schedule_coro(self._wait_for_download(" in inspect.getsource(Downloader._process_queue)
    # The override adds the request to slot.transferring early; Scrapy's _download must still
    # add it (a set) and remove it when the download ends.
    download = inspect.getsource(Downloader._download)
    assert "slot.transferring.add(request)" in download and "slot.transferring.remove(request)" in download


def test_unused_scrapy_components_are_left_out_not_switched_off() -> None:
    # settings.py sets no TELNETCONSOLE_ENABLED, COOKIES_ENABLED ...: these components must not
    # be loaded at all (the telnet console, for one, is on by default).
    from scrapy.utils.conf import build_component_list

    s = _settings()
    loaded = build_component_list(s.getwithbase("EXTENSIONS")) + build_component_list(
        s.getwithbase("DOWNLOADER_MIDDLEWARES"))
    for unused in ("scrapy.extensions.telnet.TelnetConsole", "scrapy.extensions.remote_control.RemoteControl",
                   "scrapy.extensions.logstats.LogStats", "scrapy.extensions.periodic_log.PeriodicLog",
                   "scrapy.downloadermiddlewares.cookies.CookiesMiddleware",
                   "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware"):
        assert unused not in loaded
