"""``commons``: files of Wikimedia Commons categories through the MediaWiki API (JSON).

Configured by a source whose ``start_urls`` is the API endpoint (``.../w/api.php``) and
whose ``class_map`` maps Commons categories to our classes, e.g.
``{"Category:Electrolytic capacitors": "capacitor"}``. For each file the spider keeps the
licence (normalised to an SPDX-like id such as ``CC-BY-SA-4.0``), the licence URL, the
author and the attribution line the licence asks for (HTML stripped), and the file page
as ``page_url``; the licence allow-list drops the rest.

API requests skip robots.txt (``dont_obey_robotstxt``): Wikimedia's robots.txt disallows
``/w/``, which holds the wiki's dynamic pages and also ``/w/api.php``, while the MediaWiki
API is the interface Wikimedia provides for programs (its API etiquette asks for a descriptive
User-Agent: ``crawl.user_agent``). Image downloads (``upload.wikimedia.org``) still obey it.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlencode

from pcbforge.crawler.spiders.base import PcbforgeSpider

_TAG = re.compile(r"<[^>]+>")


def normalize_licence(name: str | None) -> str | None:
    """A Commons ``LicenseShortName`` as an SPDX-like id.

    Example:
        >>> normalize_licence("CC BY-SA 4.0"), normalize_licence("Public domain"), normalize_licence("CC0")
        ('CC-BY-SA-4.0', 'PDM-1.0', 'CC0-1.0')
    """
    if not name:
        return None
    s = name.strip()
    low = s.lower()
    if low in ("cc0", "cc0 1.0", "cc-zero"):
        return "CC0-1.0"
    if low.startswith("public domain") or low == "pd":
        return "PDM-1.0"
    m = re.fullmatch(r"cc[ -](by(?:[ -](?:sa|nd|nc))*)[ -]?(\d\.\d)?", low)
    if m:
        parts = m.group(1).upper().replace(" ", "-")
        return f"CC-{parts}" + (f"-{m.group(2)}" if m.group(2) else "")
    return s


def strip_html(text: str | None) -> str | None:
    """Plain text of an extmetadata HTML value."""
    if not text:
        return None
    out = html.unescape(_TAG.sub("", text)).strip()
    return out or None


def _value(extmetadata: dict[str, Any], key: str) -> str | None:
    """``extmetadata[key]["value"]`` as a string, or None."""
    value = (extmetadata.get(key) or {}).get("value")
    return None if value is None else str(value)


class CommonsSpider(PcbforgeSpider):
    """Category members (files) with imageinfo + extmetadata, following API continuation."""

    name = "commons"
    #: Commons serves its images from upload.wikimedia.org, not from the API's host.
    default_allowed_domains = ("upload.wikimedia.org",)

    def api_url(self, endpoint: str, category: str, cont: dict[str, str] | None = None) -> str:
        query = {
            "action": "query",
            "format": "json",
            "generator": "categorymembers",
            "gcmtitle": category,
            "gcmtype": "file",
            "gcmlimit": "50",
            "prop": "imageinfo",
            "iiprop": "url|mime|size|extmetadata",
            **(cont or {}),
        }
        return endpoint + "?" + urlencode(sorted(query.items()))

    def api_request(self, endpoint: str, category: str, cont: dict[str, str] | None = None) -> Any:
        """A request to the MediaWiki API, exempt from robots.txt (module docstring)."""
        return self.page_request(
            self.api_url(endpoint, category, cont),
            self.parse_api,
            start=cont is None,
            cb_kwargs={"endpoint": endpoint, "category": category},
            meta={"dont_obey_robotstxt": True},
        )

    async def start(self) -> AsyncIterator[Any]:
        for endpoint in self.start_urls:
            for category in sorted(self.class_map):
                yield self.api_request(endpoint, category)

    def parse_api(self, response: Any, endpoint: str, category: str) -> Iterator[Any]:
        self.crawler.stats.inc_value("pcbforge/pages")
        try:
            data = json.loads(response.text)
        except ValueError:
            self.logger.warning("not JSON from the MediaWiki API: %s", response.url)
            return
        label = self.class_map.get(category)
        pages = (data.get("query") or {}).get("pages") or {}
        items = pages.values() if isinstance(pages, dict) else pages
        for page in sorted(items, key=lambda p: str(p.get("title", ""))):
            for info in page.get("imageinfo") or []:
                meta = info.get("extmetadata") or {}
                url = info.get("url")
                if not url:
                    continue
                licence = normalize_licence(_value(meta, "LicenseShortName"))
                attribution = strip_html(_value(meta, "Attribution"))
                author = strip_html(_value(meta, "Artist")) or attribution
                page_url = info.get("descriptionurl") or response.url
                yield from self.image_requests(
                    page_url,
                    url,
                    class_label=label,
                    licence=licence,
                    author=author,
                    attribution=attribution,
                    licence_url=strip_html(_value(meta, "LicenseUrl")),
                )
        cont = data.get("continue")
        if isinstance(cont, dict):
            yield self.api_request(endpoint, category, {k: str(v) for k, v in cont.items()})
