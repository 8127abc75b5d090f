"""DVC stage ``crawl``: harvest images from ``crawl.sources`` into ``crawl.out``.

Writes ``files/<sha[:2]>/<sha256>.<ext>`` (original bytes, content-addressed) and
``images.parquet`` (every image seen, rejects with their reason; see docs/stages.md).
A source whose start URL is ``builtin`` crawls the built-in catalog site
(``catalog.out/site``), served on 127.0.0.1 for the duration of the crawl. The crawl
itself runs in worker processes (see :mod:`pcbforge.crawler.runner`); killed at any point,
the next run resumes from ``crawl.jobdir``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import shutil
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from pcbforge.config import BUILTIN, Params
from pcbforge.crawler.runner import CrawlJob, collect_garbage
from pcbforge.crawler.server import port_is_free, serve_directory
from pcbforge.datasets.manifest import MANIFEST_NAMES, to_frame, write_manifest
from pcbforge.errors import ConfigError, InputError
from pcbforge.io import write_text

log = logging.getLogger(__name__)

#: Stable stand-in for the served site's random origin in manifests (``builtin:/img/...``).
BUILTIN_ALIAS = "builtin:"


def fixed_time(epoch: int | None) -> str | None:
    """``base.source_date_epoch`` as ISO-8601 UTC, or None (use the real clock)."""
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_allowed_domains(spider: str, urls: list[str]) -> list[str]:
    """``allowed_domains`` of a source that sets none: the hosts of ``urls`` plus the spider's
    own (its class's ``default_allowed_domains``).

    Example:
        >>> default_allowed_domains("commons", ["https://commons.wikimedia.org/w/api.php"])
        ['commons.wikimedia.org', 'upload.wikimedia.org']
    """
    from pcbforge.crawler.spiders import SPIDERS  # here: only a crawl needs the spider modules

    hosts = {h for h in (urlsplit(u).hostname for u in urls) if h}
    return sorted(hosts | set(SPIDERS[spider].default_allowed_domains))


def run(params: Params, **options: Any) -> str:
    """Crawl every source, write ``images.parquet``; return a one-line summary."""
    cp = params.crawl
    out = params.path(cp.out)
    jobdir = params.path(cp.jobdir)
    for src in cp.sources:
        _check_source(src)

    with contextlib.ExitStack() as stack:
        sources: list[dict[str, Any]] = []
        aliases: dict[str, str] = {}
        for src in cp.sources:
            urls: list[str] = []
            for url in src.start_urls:
                if url != BUILTIN:
                    urls.append(url)
                    continue
                site = params.path(params.catalog.out) / "site"
                if not (site / "index.html").is_file():
                    raise InputError(
                        f"built-in site not found: {site}/index.html "
                        "(run `pcbforge catalog` or `dvc repro catalog` first)"
                    )
                base = stack.enter_context(serve_directory(site, port=_reuse_port(jobdir)))
                _remember_port(jobdir, base)
                aliases[base] = BUILTIN_ALIAS
                urls.append(base + "/index.html")
            d = src.model_dump(mode="json")
            d["start_urls"] = urls
            listed = urls
            if src.url_list is not None:
                from pcbforge.crawler.spiders.urls import read_url_list

                url_list = params.path(src.url_list)
                if not url_list.is_file():
                    raise InputError(f"crawl.sources[{src.name}].url_list: {url_list} not found (one image URL per line)")
                d["url_list"] = str(url_list)
                listed = urls + [u for u, _ in read_url_list(url_list)]
            d["allowed_domains"] = list(src.allowed_domains) or default_allowed_domains(src.spider, listed)
            sources.append(d)

        job = CrawlJob(
            out=out,
            jobdir=jobdir,
            crawl=cp.model_dump(mode="json"),
            sources=sources,
            aliases=aliases,
            fetched_at=fixed_time(params.base.source_date_epoch),
            redis_url=cp.redis_url,
        )
        out.mkdir(parents=True, exist_ok=True)
        rows = job.run(workers=cp.workers)

    df = to_frame(rows, stage="crawl")
    manifest = out / MANIFEST_NAMES["crawl"]
    write_manifest(df, manifest, stage="crawl")
    removed = collect_garbage(out, {r["path"] for r in rows if r["status"] == "ok"})
    if removed:
        log.info("removed %d stored files no row refers to (left by an earlier crawl)", removed)
    shutil.rmtree(jobdir, ignore_errors=True)
    counts = Counter(r["status"] for r in rows)
    reasons = Counter(str(r["error"]).split(":", 1)[0] for r in rows if r["status"] != "ok")
    why = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items()))
    return (
        f"{counts.get('ok', 0)} images stored, {counts.get('rejected', 0)} rejected, {counts.get('error', 0)} errors"
        + (f" ({why})" if why else "")
        + f" -> {manifest}"
    )


def _check_source(src: Any) -> None:
    """Catch selector mistakes before any process starts (what, where, what to do).

    The checks that need no crawler code are :class:`~pcbforge.config.SourceParams` validators.
    """
    from parsel import Selector

    from pcbforge.crawler.spiders.catalog import DEFAULT_SELECTORS, select

    where = f"crawl.sources[{src.name}]"
    unknown = sorted(set(src.selectors) - set(DEFAULT_SELECTORS))
    if unknown:
        raise ConfigError(f"{where}.selectors: unknown keys {unknown}; known: {sorted(DEFAULT_SELECTORS)}")
    for key, sel in sorted(src.selectors.items()):
        try:
            select(Selector(text="<html></html>"), sel)
        except (ValueError, SyntaxError) as exc:  # invalid XPath (parsel), invalid CSS (cssselect)
            raise ConfigError(
                f"{where}.selectors.{key}: {sel!r} is not a valid selector ({exc}); "
                "write CSS, or XPath prefixed with 'xpath:'"
            ) from exc


def _reuse_port(jobdir: Any) -> int:
    """The built-in site's port of an interrupted run, if still free (its queued requests then stay valid)."""
    try:
        port = int(json.loads((jobdir / "port.json").read_text())["port"])
    except (OSError, ValueError, KeyError):
        return 0
    if port_is_free(port):
        return port
    # Another port means Scrapy's queued requests point nowhere: resume from the journal alone.
    shutil.rmtree(jobdir / "scrapy", ignore_errors=True)
    return 0


def _remember_port(jobdir: Any, base: str) -> None:
    jobdir.mkdir(parents=True, exist_ok=True)
    write_text(jobdir / "port.json", json.dumps({"port": urlsplit(base).port}))
