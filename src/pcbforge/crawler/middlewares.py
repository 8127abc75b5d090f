"""Downloader middlewares: refuse private network targets, back off before retries.

``PrivateAddressMiddleware`` stops a crawl from being turned against the machine it runs
on or its network (server-side request forgery through links to 127.0.0.1, 10.x, the
169.254.169.254 metadata endpoint, 100.100.100.200 in carrier-grade NAT space ...): only
globally routable addresses are requested (:func:`is_private_address`). A source opts in
to exactly the hosts or networks it lists in ``allow_hosts`` (the built-in catalog:
``[127.0.0.1]``), or to every loopback and private (RFC 1918, IPv6 ULA) address with
``allow_private``; link-local and every other non-global range stay refused by the latter. It runs after :class:`StrictOffsiteMiddleware` (settings.py), so an
offsite link is refused without a DNS lookup.

Known limit: the address is checked when the request is scheduled for download, from
``getaddrinfo`` (cached per host), and Twisted resolves the host again when it connects.
A DNS server that answers a public address to the check and a private one to the connect
(DNS rebinding) is therefore not stopped; closing that gap needs the check inside the
resolver that the connection uses (a Twisted resolver that refuses non-global answers).

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


#: What ``allow_private`` lets through: loopback and private networks (RFC 1918, IPv6 ULA).
#: Never link-local (169.254.169.254 is the cloud metadata endpoint) nor any other range.
_ALLOWED_WHEN_PRIVATE = tuple(
    ipaddress.ip_network(n)
    for n in ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "::1/128", "fc00::/7")
)
#: NAT64 well-known prefix: the last 32 bits are the IPv4 address really reached.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _unwrap(addr: Address) -> Address:
    """The IPv4 address an IPv6 address stands for (IPv4-mapped, 6to4, NAT64), else ``addr``.

    Example:
        >>> str(_unwrap(ipaddress.ip_address("::ffff:169.254.169.254")))
        '169.254.169.254'
    """
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return addr.ipv4_mapped
        if addr.sixtofour is not None:
            return addr.sixtofour
        if addr in _NAT64:
            return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return addr


def is_private_address(ip: str) -> bool:
    """Whether ``ip`` is anything but a globally routable unicast address.

    IPv4-mapped (and 6to4, NAT64) IPv6 addresses are judged by the IPv4 address they
    carry. Refused: loopback, private, link-local, carrier-grade NAT (100.64.0.0/10),
    benchmarking (198.18.0.0/15), documentation, reserved, unspecified and multicast.

    Example:
        >>> [is_private_address(a) for a in ("169.254.169.254", "100.100.100.200", "::ffff:10.0.0.1")]
        [True, True, True]
        >>> is_private_address("93.184.216.34")
        False
    """
    addr = _unwrap(ipaddress.ip_address(ip))
    return bool(not addr.is_global or addr.is_multicast or addr.is_reserved)


Allowed = tuple[frozenset[str], tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]]


def parse_allow_hosts(entries: list[str] | tuple[str, ...]) -> Allowed:
    """Split ``allow_hosts`` into host names and networks (an address is a one-address network).

    Example:
        >>> names, nets = parse_allow_hosts(["127.0.0.1", "shop.lan", "10.9.0.0/16"])
        >>> sorted(names), [str(n) for n in nets]
        (['shop.lan'], ['127.0.0.1/32', '10.9.0.0/16'])
    """
    names: set[str] = set()
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for entry in entries:
        entry = entry.strip()
        try:
            nets.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            names.add(entry.lower().rstrip("."))
    return frozenset(names), tuple(nets)


def private_target(url: str, allow_private: bool = False, allow_hosts: Allowed = (frozenset(), ())) -> str | None:
    """The non-public address ``url`` resolves to, or None when the request may go ahead.

    ``allow_hosts`` (from :func:`parse_allow_hosts`) lets exactly the named hosts and the
    addresses in the listed networks through, whatever range they are in: ``[127.0.0.1]``
    opens loopback's one address and nothing else (not 10.0.0.7, not 169.254.169.254).
    ``allow_private`` lets loopback and private (RFC 1918, IPv6 ULA) addresses through,
    also in IPv4-mapped form, and nothing else: link-local (169.254.169.254, cloud
    metadata), carrier-grade NAT and the other non-global ranges stay refused. Unresolvable
    hosts return None: the download then fails with a DNS error, reported as such.

    Example:
        >>> private_target("http://127.0.0.1/x"), private_target("http://127.0.0.1/x", allow_private=True)
        ('127.0.0.1', None)
        >>> private_target("http://[::ffff:169.254.169.254]/", allow_private=True)
        '::ffff:a9fe:a9fe'
        >>> only = parse_allow_hosts(["127.0.0.1"])
        >>> [private_target(u, allow_hosts=only) for u in ("http://127.0.0.1/", "http://10.0.0.7/")]
        [None, '10.0.0.7']
    """
    host = urlsplit(url).hostname
    if not host:
        return None
    names, nets = allow_hosts
    if host.lower().rstrip(".") in names:
        return None
    for ip in _resolve(host):
        addr = _unwrap(ipaddress.ip_address(ip))
        if allow_private and any(addr in net for net in _ALLOWED_WHEN_PRIVATE):
            continue
        if any(addr.version == net.version and addr in net for net in nets):
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
        ip = private_target(
            request.url,
            allow_private=bool(getattr(spider, "allow_private", False)),
            allow_hosts=getattr(spider, "allow_hosts", (frozenset(), ())),
        )
        if ip is not None:
            raise IgnoreRequest(
                f"private address {ip} refused (list the host or its network in the source's allow_hosts to crawl it)"
            )
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
