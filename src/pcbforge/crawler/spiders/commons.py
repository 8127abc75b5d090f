"""``commons``: files of Wikimedia Commons categories through the MediaWiki API (JSON).

Configured by a source whose ``start_urls`` is the API endpoint (``.../w/api.php``) and
whose ``class_map`` maps Commons categories to our classes, e.g.
``{"Category:Electrolytic capacitors": "capacitor"}``. For each file the spider keeps the
licence (normalised to an SPDX-like id such as ``CC-BY-SA-4.0``), the author (HTML
stripped) and the file page as ``page_url``; the licence allow-list drops the rest.
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


class CommonsSpider(PcbforgeSpider):
    """Category members (files) with imageinfo + extmetadata, following API continuation."""

    name = "commons"

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

    async def start(self) -> AsyncIterator[Any]:
        for endpoint in self.start_urls:
            for category in sorted(self.class_map):
                yield self.page_request(
                    self.api_url(endpoint, category),
                    self.parse_api,
                    cb_kwargs={"endpoint": endpoint, "category": category},
                )

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
                licence = normalize_licence((meta.get("LicenseShortName") or {}).get("value"))
                author = strip_html((meta.get("Artist") or {}).get("value")) or strip_html(
                    (meta.get("Attribution") or {}).get("value")
                )
                page_url = info.get("descriptionurl") or response.url
                yield from self.image_requests(page_url, url, class_label=label, licence=licence, author=author)
        cont = data.get("continue")
        if isinstance(cont, dict):
            yield self.page_request(
                self.api_url(endpoint, category, {k: str(v) for k, v in cont.items()}),
                self.parse_api,
                cb_kwargs={"endpoint": endpoint, "category": category},
            )
