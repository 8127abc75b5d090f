"""The JOBDIR disk queue writes what Scrapy's own would (crawler/queues.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from scrapy import Request
from scrapy.http import FormRequest
from scrapy.squeues import PickleFifoDiskQueue as ScrapyQueue
from scrapy.utils.test import get_crawler

from pcbforge.crawler.queues import PickleFifoDiskQueue, method_names, request_dict
from pcbforge.crawler.spiders.catalog import CatalogSpider

SOURCE = {"name": "shop", "spider": "catalog", "start_urls": ["http://127.0.0.1:1/index.html"],
          "allow_hosts": ["127.0.0.1"]}


def _spider() -> CatalogSpider:
    crawler = get_crawler(CatalogSpider, {"PCBFORGE_JOURNAL": "/nonexistent/journal-x.jsonl"})
    return CatalogSpider.from_crawler(crawler, source=SOURCE)


def _requests(spider: CatalogSpider) -> list[Request]:
    page = spider.page_request("http://127.0.0.1:1/category/a/page-1.html", spider.parse, start=True)
    images = list(spider.image_requests("http://127.0.0.1:1/product/p.html", "http://127.0.0.1:1/img/p.jpg",
                                        class_label="resistor", licence="CC0-1.0", author="A", title="T"))
    sitemap = spider.page_request("http://127.0.0.1:1/sitemap.xml", spider.parse_sitemap)
    form = FormRequest("http://127.0.0.1:1/s", formdata={"q": "x"}, callback=spider.parse)
    return [page, *images, sitemap, form, Request("http://127.0.0.1:1/plain")]


def test_request_dict_equals_scrapys_to_dict() -> None:
    spider = _spider()
    names = method_names(spider)
    for request in _requests(spider):
        assert request_dict(request, names) == request.to_dict(spider=spider), request


def test_a_callback_that_is_no_spider_method_is_left_to_scrapy() -> None:
    spider = _spider()
    assert request_dict(Request("http://127.0.0.1:1/", callback=lambda r: None), method_names(spider)) is None


@pytest.mark.parametrize("cls", [PickleFifoDiskQueue, ScrapyQueue])
def test_queue_round_trip(tmp_path: Path, cls: type) -> None:
    spider = _spider()
    crawler = spider.crawler
    crawler.spider = spider
    q = cls.from_crawler(crawler, str(tmp_path / "q"))
    sent = _requests(spider)
    for r in sent:
        q.push(r)
    got = [q.pop() for _ in sent]
    q.close()
    assert [g.to_dict(spider=spider) for g in got] == [r.to_dict(spider=spider) for r in sent]


def test_queue_files_are_the_same_as_scrapys(tmp_path: Path) -> None:
    spider = _spider()
    spider.crawler.spider = spider
    sent = _requests(spider)
    blobs = []
    for cls in (PickleFifoDiskQueue, ScrapyQueue):
        q = cls.from_crawler(spider.crawler, str(tmp_path / cls.__module__))
        for r in sent:
            q.push(r)
        q.close()
        blobs.append(b"".join(p.read_bytes() for p in sorted((tmp_path / cls.__module__).glob("q*"))))
    assert blobs[0] and blobs[0] == blobs[1]
