"""``pcbforge crawl --check``: a dry run of a ``catalog`` source's selectors on a few live pages.

Pointing the catalog spider at a new shop means writing selectors; a wrong one does not
fail, it silently finds nothing (no labels, no licence, no images). This fetches a handful
of pages the way the spider would walk them (start page, a category, a next page, a few
products), with the same politeness (robots.txt, User-Agent) and the same refusal of
private addresses and offsite hosts, evaluates every selector on every page and reports,
per selector, on how many pages it matched and what it found first. Nothing is stored.
"""

from __future__ import annotations

import urllib.error
import urllib.request
import urllib.robotparser
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from parsel import Selector

from pcbforge.crawler.middlewares import parse_allow_hosts, private_target
from pcbforge.crawler.spiders.catalog import DEFAULT_SELECTORS, URL_KEYS, select

#: Links followed from each page, by selector: enough to reach product pages quickly.
FOLLOW = {"category": 1, "next": 1, "product": 3}


@dataclass
class SelectorCheck:
    """What one selector found over the fetched pages."""

    key: str
    selector: str
    pages: int = 0
    example: str | None = None


@dataclass
class SourceCheck:
    """The outcome of checking one source."""

    source: str
    fetched: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    selectors: list[SelectorCheck] = field(default_factory=list)

    def lines(self) -> list[str]:
        """A report a person reads: per selector, pages matched of pages fetched, first match."""
        n = len(self.fetched)
        out = [f"source {self.source}: {n} page(s) fetched" + (f", {len(self.failed)} failed" if self.failed else "")]
        out += [f"  failed: {f}" for f in self.failed]
        width = max(len(s.key) for s in self.selectors)
        swidth = min(48, max(len(s.selector) for s in self.selectors))
        for s in self.selectors:
            found = f"{s.pages}/{n}".rjust(len(f"{n}/{n}"))
            example = "-" if s.example is None else repr(s.example[:60])
            out.append(f"  {s.key.ljust(width)}  {s.selector[:swidth].ljust(swidth)}  {found}  {example}")
        never = [s.key for s in self.selectors if not s.pages]
        if never and n:
            out.append(f"  never matched: {', '.join(never)} (set crawl.sources[{self.source}].selectors; "
                       "see docs/crawler.md, 'Pointing the catalog spider at a new shop')")
        return out


def _allowed(url: str, domains: list[str]) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return not domains or any(host == d or host.endswith("." + d) for d in domains)


def check_source(source: dict[str, Any], *, user_agent: str, timeout: float, obey_robots: bool,
                 max_pages: int = 8) -> SourceCheck:
    """Fetch up to ``max_pages`` pages of a ``catalog`` source and evaluate its selectors on each.

    Args:
        source: the source as the stage hands it to a worker (concrete start URLs).
        user_agent: ``crawl.user_agent``.
        timeout: seconds per request (``crawl.download_timeout``).
        obey_robots: ``crawl.obey_robots``.
        max_pages: pages fetched at most.
    """
    css = {**DEFAULT_SELECTORS, **(source.get("selectors") or {})}
    result = SourceCheck(source=source["name"], selectors=[SelectorCheck(k, v) for k, v in css.items()])
    allow = parse_allow_hosts(list(source.get("allow_hosts") or []))
    domains = list(source.get("allowed_domains") or [])
    robots: dict[str, urllib.robotparser.RobotFileParser] = {}
    queue: deque[str] = deque(source["start_urls"])
    seen = set(queue)
    while queue and len(result.fetched) < max_pages:
        url = queue.popleft()
        refused = _refusal(url, source, allow, domains, robots if obey_robots else None, user_agent, timeout)
        if refused:
            result.failed.append(f"{url}: {refused}")
            continue
        try:
            req = urllib.request.Request(url, headers={"User-Agent": user_agent})
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - http(s) only (validated)
                body = resp.read(5_000_000).decode(resp.headers.get_content_charset() or "utf-8", "replace")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            result.failed.append(f"{url}: {type(exc).__name__}: {getattr(exc, 'reason', exc)}")
            continue
        result.fetched.append(url)
        page = Selector(text=body)
        for s in result.selectors:
            values = [v.strip() for v in select(page, s.selector).getall() if v.strip()]
            if values:
                s.pages += 1
                if s.example is None:
                    s.example = urljoin(url, values[0]) if s.key in URL_KEYS else values[0]
        for key, n in FOLLOW.items():
            for href in select(page, css[key]).getall()[:n]:
                link = urljoin(url, href.strip())
                if link not in seen and urlsplit(link).scheme in ("http", "https"):
                    seen.add(link)
                    queue.append(link)
    return result


def _refusal(url: str, source: dict[str, Any], allow: Any, domains: list[str],
             robots: dict[str, urllib.robotparser.RobotFileParser] | None, user_agent: str,
             timeout: float) -> str | None:
    """Why the crawler would not fetch ``url`` (offsite, private address, robots.txt), or None."""
    if not _allowed(url, domains):
        return "offsite (not in allowed_domains)"
    ip = private_target(url, allow_private=bool(source.get("allow_private")), allow_hosts=allow)
    if ip is not None:
        return f"private address {ip} refused (allow_hosts)"
    if robots is not None:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in robots:
            rp = urllib.robotparser.RobotFileParser(origin + "/robots.txt")
            try:
                req = urllib.request.Request(origin + "/robots.txt", headers={"User-Agent": user_agent})
                with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
                    rp.parse(resp.read().decode("utf-8", "replace").splitlines())
            except (urllib.error.URLError, OSError, ValueError):
                rp.parse([])  # no robots.txt: everything allowed (as Scrapy does)
            robots[origin] = rp
        if not robots[origin].can_fetch(user_agent, url):
            return "forbidden by robots.txt"
    return None
