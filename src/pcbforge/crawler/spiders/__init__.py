"""pcbforge spiders, by the name used in ``crawl.sources[].spider``."""

from __future__ import annotations

from pcbforge.crawler.spiders.catalog import CatalogSpider
from pcbforge.crawler.spiders.commons import CommonsSpider
from pcbforge.crawler.spiders.urls import UrlListSpider

SPIDERS = {"catalog": CatalogSpider, "commons": CommonsSpider, "urls": UrlListSpider}

__all__ = ["SPIDERS", "CatalogSpider", "CommonsSpider", "UrlListSpider"]
