"""Scrapy's pickle FIFO disk queue (``JOBDIR``) without its per-request method search.

A request pushed to the disk queue is turned into a dict by ``Request.to_dict(spider=...)``,
which names the callback and errback by ``inspect.getmembers(spider)`` on every call: it
looks up every attribute of the spider, twice per request. Profiled on a full-site crawl of
the built-in catalog (docs/crawler.md, Performance) that was the largest single cost of
pushing a request (~5 % of the worker's CPU). :class:`PickleFifoDiskQueue` names them from
a table built once per spider instead, and writes the same dict, so the queue files and a
resumed crawl are the same as with Scrapy's class.
"""

from __future__ import annotations

import inspect
import weakref
from typing import Any

from scrapy import Request
from scrapy.squeues import PickleFifoDiskQueue as _ScrapyPickleFifoDiskQueue


def method_names(spider: Any) -> dict[Any, str]:
    """``function -> name`` of the spider's methods, the first name in sorted order winning
    (what ``scrapy.utils.request._find_method`` returns for a bound method of ``spider``)."""
    names: dict[Any, str] = {}
    for name, method in inspect.getmembers(spider, predicate=inspect.ismethod):
        names.setdefault(method.__func__, name)
    return names


def request_dict(request: Request, names: dict[Any, str]) -> dict[str, Any] | None:
    """``request.to_dict(spider=...)`` from a :func:`method_names` table, or None when a
    callback is not a method in it (the caller then lets Scrapy decide)."""
    d: dict[str, Any] = {"url": request.url}
    for key, func in (("callback", request.callback), ("errback", request.errback)):
        if callable(func):
            name = names.get(getattr(func, "__func__", None))
            if name is None:
                return None
            d[key] = name
        else:
            d[key] = func
    d["headers"] = dict(request.headers)
    for attr in request.attributes:
        d.setdefault(attr, getattr(request, attr))
    if type(request) is not Request:  # pylint: disable=unidiomatic-typecheck
        d["_class"] = request.__module__ + "." + request.__class__.__name__
    return d


#: Per spider: its methods do not change during a crawl, while Scrapy's priority queue
#: makes a new disk queue every time one of its priorities runs empty and fills again.
_NAMES: weakref.WeakKeyDictionary[Any, dict[Any, str]] = weakref.WeakKeyDictionary()


class PickleFifoDiskQueue(_ScrapyPickleFifoDiskQueue):  # type: ignore[misc,valid-type]
    """``SCHEDULER_DISK_QUEUE`` of pcbforge crawls (settings.py); see the module docstring."""

    def push(self, request: Request) -> None:
        names = _NAMES.get(self.spider)
        if names is None:
            names = _NAMES[self.spider] = method_names(self.spider)
        d = request_dict(request, names)
        if d is None:
            return super().push(request)
        # The grandparent's push pickles the dict (Scrapy's own push only converts first).
        return super(_ScrapyPickleFifoDiskQueue, self).push(d)
