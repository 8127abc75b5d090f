"""``urls``: download a given list of image URLs (img2dataset-style), no pages.

A source with ``spider: urls`` lists image URLs in ``start_urls`` and/or in a
``url_list`` file (one URL per line, optionally followed by a tab and a class label;
blank lines and ``#`` comments ignored). Every URL becomes one image request through the
same middlewares (robots.txt, private addresses, allowed domains, retries) and the same
validation pipelines, store and journal as the ``catalog`` spider; ``class_label`` is the
list's label mapped through ``class_map``. Resume needs no Scrapy queue: the list is
re-read and every URL the journals answered is skipped. With ``crawl.workers > 1`` and no
redis, each worker process takes a fixed share of the list (``shard``: crc32 of the URL
modulo the worker count), so a URL list scales over local cores without a shared queue.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from pcbforge.crawler.spiders.base import PcbforgeSpider


def read_url_list(path: str | Path) -> list[tuple[str, str | None]]:
    """``(url, label)`` pairs of a URL list file (``URL[<TAB>label]`` per line).

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "u.txt")
        >>> _ = open(p, "w").write("# images\\nhttp://a/x.jpg\\tresistor\\n\\nhttp://a/y.png\\n")
        >>> read_url_list(p)
        [('http://a/x.jpg', 'resistor'), ('http://a/y.png', None)]
    """
    out: list[tuple[str, str | None]] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            url, _, label = line.partition("\t")
            out.append((url.strip(), label.strip() or None))
    return out


def in_shard(url: str, index: int, count: int) -> bool:
    """Whether ``url`` belongs to worker ``index`` of ``count`` (stable across runs and machines).

    Example:
        >>> sum(in_shard("http://a/x.jpg", i, 3) for i in range(3))
        1
    """
    return zlib.crc32(url.encode("utf-8")) % count == index


class UrlListSpider(PcbforgeSpider):
    """One image request per listed URL; see the module docstring."""

    name = "urls"
    #: The URL list is the whole crawl state besides the journal: no Scrapy JOBDIR queue
    #: (pickling every request to disk would cost more than the crawl itself).
    uses_jobdir = False

    def entries(self) -> Iterator[tuple[str, str | None]]:
        """The listed ``(url, label)`` pairs; only this worker's share when sharded."""
        pairs: Iterator[tuple[str, str | None]] = ((u, None) for u in self.start_urls)
        if self.source.get("url_list"):
            pairs = itertools.chain(pairs, read_url_list(self.source["url_list"]))
        shard = self.source.get("shard")
        if not shard:
            yield from pairs
            return
        index, count = int(shard[0]), int(shard[1])
        for url, label in pairs:
            if in_shard(url, index, count):
                yield url, label

    async def start(self) -> AsyncIterator[Any]:
        for url, label in self.entries():
            self._idle_since = None
            for r in self.image_requests(url, url, class_label=self.class_label(label), licence=None, author=None):
                yield r
