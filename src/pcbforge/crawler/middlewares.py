"""Downloader middlewares: refuse private network targets, back off before retries.

``PrivateAddressMiddleware`` stops a crawl from being turned against the machine it runs
on or its network (server-side request forgery through links to 127.0.0.1, 10.x, the
169.254.169.254 metadata endpoint ...). A source opts in with ``allow_private`` (the
built-in catalog lives on loopback).

``RetryBackoffMiddleware`` delays a request that Scrapy's RetryMiddleware re-scheduled
(5xx, timeouts) by ``base * 2**(n-1)`` seconds, so a struggling server gets air.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import socket
from typing import Any
from urllib.parse import urlsplit

from scrapy.downloadermiddlewares.offsite import OffsiteMiddleware
from scrapy.exceptions import IgnoreRequest, NotConfigured

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4096)
def _resolve(host: str) -> tuple[str, ...]:
    try:
        return (str(ipaddress.ip_address(host.strip("[]"))),)
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return ()
    return tuple(sorted({info[4][0] for info in infos}))


def is_private_address(ip: str) -> bool:
    """Whether ``ip`` is loopback, private, link-local, multicast, reserved or unspecified.

    Example:
        >>> is_private_address("169.254.169.254"), is_private_address("93.184.216.34")
        (True, False)
    """
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return bool(
        addr.is_private
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
    )


def private_target(url: str, allow_private: bool = False) -> str | None:
    """The non-public address ``url`` resolves to, or None when the request may go ahead.

    ``allow_private`` lets loopback and private (RFC 1918) addresses through, never
    link-local ones (169.254.169.254 is the cloud metadata endpoint). Unresolvable hosts
    return None: the download then fails with a DNS error, reported as such.

    Example:
        >>> private_target("http://127.0.0.1/x"), private_target("http://127.0.0.1/x", allow_private=True)
        ('127.0.0.1', None)
    """
    host = urlsplit(url).hostname
    if not host:
        return None
    for ip in _resolve(host):
        addr = ipaddress.ip_address(ip)
        if allow_private and not addr.is_link_local and (addr.is_private or addr.is_loopback):
            continue
        if is_private_address(ip):
            return ip
    return None


class PrivateAddressMiddleware:
    """Raise IgnoreRequest for requests to non-public addresses unless the spider allows them."""

    def __init__(self, crawler: Any = None) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Any) -> PrivateAddressMiddleware:
        return cls(crawler)

    def process_request(self, request: Any, spider: Any = None) -> None:
        spider = spider if spider is not None else getattr(self.crawler, "spider", None)
        # robots.txt requests carry no meta of ours, so the spider's own setting decides.
        ip = private_target(request.url, allow_private=bool(getattr(spider, "allow_private", False)))
        if ip is not None:
            raise IgnoreRequest(f"private address {ip} refused (set allow_private on the source to crawl it)")
        return None


class RetryBackoffMiddleware:
    """Exponential backoff for requests re-scheduled by RetryMiddleware (``retry_times`` in meta)."""

    def __init__(self, base: float) -> None:
        self.base = base

    @classmethod
    def from_crawler(cls, crawler: Any) -> RetryBackoffMiddleware:
        base = crawler.settings.getfloat("PCBFORGE_RETRY_BACKOFF", 0.5)
        if base <= 0 or not crawler.settings.getbool("RETRY_ENABLED"):
            raise NotConfigured
        return cls(base)

    async def process_request(self, request: Any, spider: Any = None) -> None:
        n = request.meta.get("retry_times", 0)
        if n and self.base > 0:
            from twisted.internet import reactor, task

            from scrapy.utils.defer import maybe_deferred_to_future

            delay = self.base * 2 ** (n - 1)
            log.debug("retry %d of %s: backing off %.2fs", n, request.url, delay)
            await maybe_deferred_to_future(task.deferLater(reactor, delay, lambda: None))
        return None


class StrictOffsiteMiddleware(OffsiteMiddleware):
    """Scrapy's offsite filter, also for ``dont_filter`` requests (our image requests use it
    to bypass the dupe filter, not the domain policy). Checked at download time only, so
    the errback sees the refusal and the image gets a manifest row with the reason."""

    def request_scheduled(self, request: Any, spider: Any = None) -> None:
        return None

    def process_request(self, request: Any, spider: Any = None) -> None:
        if request.meta.get("allow_offsite") or self.should_follow(request, self.crawler.spider):
            return
        domain = urlsplit(request.url).hostname
        self.stats.inc_value("offsite/filtered")
        raise IgnoreRequest(f"Filtered offsite request to {domain!r}")
