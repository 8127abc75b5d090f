"""``catalog``: a generic spider for component shops and datasheet sites.

It starts from the source's start URLs (or its ``sitemap.xml`` when ``sitemap`` is set),
follows category links, pagination and product links, and on a product page yields one
request per product image with the class label from the page's category (mapped through
``class_map``), its licence (and the link to its terms), author and attribution line. The selectors are CSS for the built-in catalog's
markup by default; a source overrides any of them in ``selectors``, in CSS or, prefixed
with ``xpath:``, in XPath (``"xpath://img[@itemprop='image']/@src"``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urljoin

import scrapy
from scrapy.utils.sitemap import Sitemap

from pcbforge.crawler.spiders.base import PcbforgeSpider

#: Prefix of a selector written in XPath; any other selector is CSS.
XPATH_PREFIX = "xpath:"

#: Default selectors: the HTML contract of the built-in catalog site.
DEFAULT_SELECTORS: dict[str, str] = {
    "category": "a.category::attr(href)",
    "product": "a.product::attr(href)",
    "next": "a[rel~=next]::attr(href)",
    "image": "img.product-image::attr(src)",
    "label": "span.category::attr(data-slug)",
    # Both spellings: a shop writing the American ``license`` would otherwise give no licence.
    "licence": "span.licence::text, span.license::text",
    "licence_url": "a[rel~=license]::attr(href)",
    "author": "span.author::text",
    "attribution": "span.attribution::text",
    # Product metadata (schema.org microdata names, which many shops use, or the built-in classes).
    "title": "h1.title::text, [itemprop=name]::text",
    "mpn": "[itemprop=mpn]::text, span.mpn::text",
    "sku": "[itemprop=sku]::text, span.sku::text",
    "datasheet_url": "a.datasheet::attr(href), a[href$='.pdf']::attr(href)",
}

#: Selectors whose first match is a text field of every image of the page.
TEXT_KEYS = ("licence", "licence_url", "author", "attribution", "title", "mpn", "sku", "datasheet_url")
#: Text fields that are links (made absolute against the page URL).
URL_KEYS = ("licence_url", "datasheet_url")


def select(node: Any, selector: str) -> Any:
    """Evaluate ``selector`` on a response or selector: XPath after ``xpath:``, else CSS.

    Example:
        >>> from parsel import Selector
        >>> page = Selector(text='<a class="p" href="/x">x</a>')
        >>> select(page, "a.p::attr(href)").get(), select(page, "xpath://a[@class='p']/@href").get()
        ('/x', '/x')
    """
    if selector.startswith(XPATH_PREFIX):
        return node.xpath(selector[len(XPATH_PREFIX) :].strip())
    return node.css(selector)


class CatalogSpider(PcbforgeSpider):
    """Category -> (pagination) -> product -> image; see the module docstring."""

    name = "catalog"

    def __init__(self, source: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(source, **kwargs)
        self.css = {**DEFAULT_SELECTORS, **self.selectors}
        self.use_sitemap = bool(source.get("sitemap", False))

    async def start(self) -> AsyncIterator[Any]:
        for url in self.start_urls:
            if self.use_sitemap:
                url = url if url.endswith(".xml") else urljoin(url, "/sitemap.xml")
                yield self.page_request(url, self.parse_sitemap, start=True, dont_filter=False)
            else:
                yield self.page_request(url, self.parse, start=True, dont_filter=False)

    def parse_sitemap(self, response: Any) -> Iterator[Any]:
        for entry in Sitemap(response.body):
            loc = entry.get("loc")
            if loc:
                yield self.page_request(response.urljoin(loc), self.parse)

    def parse(self, response: Any, **kwargs: Any) -> Iterator[Any]:
        """Any catalogue page: follow categories, pagination and products; harvest product images."""
        if not isinstance(response, scrapy.http.TextResponse):
            return
        self.crawler.stats.inc_value("pcbforge/pages")
        self._idle_since = None
        for key in ("category", "next", "product"):
            for href in select(response, self.css[key]).getall():
                yield self.page_request(response.urljoin(href.strip()), self.parse)
        images = select(response, self.css["image"]).getall()
        if not images:
            return
        label = self.class_label(select(response, self.css["label"]).get())
        text = {k: (select(response, self.css[k]).get() or "").strip() or None for k in TEXT_KEYS}
        for k in URL_KEYS:
            if text[k]:
                text[k] = response.urljoin(text[k])
        for src in images:
            yield from self.image_requests(response.url, response.urljoin(src.strip()), class_label=label, **text)
