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
from pcbforge.crawler.journal import read_rows
from pcbforge.crawler.runner import (
    CrawlJob,
    clear_state,
    collect_garbage,
    http_cache_rows,
    load_http_cache,
    lock_jobdir,
    read_stats,
)
from pcbforge.crawler.server import port_is_free, serve_directory
from pcbforge.datasets.manifest import MANIFEST_NAMES, to_frame, write_manifest
from pcbforge.errors import ConfigError, InputError, PcbforgeError
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


class CrawlFailed(PcbforgeError):
    """The crawl ran but its outcome is not a usable crawl (nothing stored, start URLs failed,
    pages lost to transient errors); the manifest is written for inspection."""


def run(params: Params, check: bool = False, **options: Any) -> str:
    """Crawl every source, write ``images.parquet``; return a one-line summary.

    With ``check``, only fetch a few pages of each ``catalog`` source and return what each
    selector found there (:mod:`pcbforge.crawler.check`); nothing is written.

    Raises:
        CrawlFailed: nothing was stored, every start URL of a source failed, or pages failed
            with a transient error (their images have no row yet; the state is kept for a re-run).
    """
    cp = params.crawl
    out = params.path(cp.out)
    jobdir = params.path(cp.jobdir)
    for src in cp.sources:
        _check_source(src)

    if check:
        with contextlib.ExitStack() as stack:
            sources, _ = _concrete_sources(params, stack, jobdir=None)
            return check_sources(params, sources)

    # Held from before the built-in site is served until the state is removed: a second
    # crawl on this jobdir stops at once instead of tearing this one's journal and queue.
    with lock_jobdir(jobdir), contextlib.ExitStack() as stack:
        sources, aliases = _concrete_sources(params, stack, jobdir=jobdir)
        job = CrawlJob(
            out=out,
            jobdir=jobdir,
            crawl=cp.model_dump(mode="json"),
            sources=sources,
            aliases=aliases,
            fetched_at=fixed_time(params.base.source_date_epoch),
            redis_url=cp.redis_url,
            validators=load_http_cache(params.path(cp.http_cache), out),
        )
        out.mkdir(parents=True, exist_ok=True)
        rows = job.run(workers=cp.workers)

        df = to_frame(rows, stage="crawl")
        manifest = out / MANIFEST_NAMES["crawl"]
        write_manifest(df, manifest, stage="crawl")
        removed = collect_garbage(out, {r["path"] for r in rows if r["status"] == "ok"})
        if removed:
            log.info("removed %d stored files no row refers to (left by an earlier crawl)", removed)
        cache = http_cache_rows(read_rows(job.journals()), rows)
        write_text(params.path(cp.http_cache), "".join(json.dumps(r, sort_keys=True) + "\n" for r in cache))
        stats = read_stats(jobdir)
        for line in summary_table([s["name"] for s in sources], rows, stats):
            log.info("%s", line)
        failure = outcome_failure(rows, stats)
        lost_pages = sum(st["page_failed_transient"] for st in stats.values())
        if not lost_pages:
            clear_state(jobdir)
    if failure:
        raise CrawlFailed(f"{failure} (manifest written to {manifest})")
    counts = Counter(r["status"] for r in rows)
    reasons = Counter(str(r["error"]).split(":", 1)[0] for r in rows if r["status"] != "ok")
    why = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items()))
    return (
        f"{counts.get('ok', 0)} images stored, {counts.get('rejected', 0)} rejected, {counts.get('error', 0)} errors"
        + (f" ({why})" if why else "")
        + f" -> {manifest}"
    )


def _concrete_sources(
    params: Params, stack: contextlib.ExitStack, jobdir: Any
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The sources as workers get them: ``builtin`` served (for the ``stack``'s duration) and
    replaced by its URL, URL lists resolved, ``allowed_domains`` defaulted; plus the served
    origins' aliases. ``jobdir`` None: serve on any free port and remember nothing."""
    cp = params.crawl
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
            base = stack.enter_context(serve_directory(site, port=_reuse_port(jobdir) if jobdir else 0))
            if jobdir:
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
    return sources, aliases


def check_sources(params: Params, sources: list[dict[str, Any]]) -> str:
    """Run :func:`~pcbforge.crawler.check.check_source` on every ``catalog`` source; the report."""
    from pcbforge.crawler.check import check_source

    cp = params.crawl
    lines = ["selector check (a few pages per catalog source; nothing stored)"]
    for src in sources:
        if src["spider"] != "catalog":
            lines.append(f"source {src['name']}: spider {src['spider']} has no selectors to check")
            continue
        result = check_source(src, user_agent=cp.user_agent, timeout=cp.download_timeout, obey_robots=cp.obey_robots)
        lines += result.lines()
    return "\n".join(lines)


def outcome_failure(rows: list[dict[str, Any]], stats: dict[str, dict[str, Any]]) -> str | None:
    """Why a finished crawl is not a usable one, in one line, or None when it is.

    Example:
        >>> st = {"shop": {"start_requested": 1, "start_failed": ["http://x/: connection: refused"],
        ...                "page_failed_transient": 1, "pages": 0}}
        >>> outcome_failure([], st)
        'source shop: every start URL failed (http://x/: connection: refused)'
        >>> outcome_failure([], {})
        'no image stored: no image found (0 rows)'
    """
    for name, st in sorted(stats.items()):
        failed = st["start_failed"]
        if st["start_requested"] and len(failed) >= st["start_requested"]:
            return f"source {name}: every start URL failed ({'; '.join(failed)})"
    lost = {name: st["page_failed_transient"] for name, st in sorted(stats.items()) if st["page_failed_transient"]}
    if lost:
        where = ", ".join(f"{n} {k}" for n, k in lost.items())
        return (f"{sum(lost.values())} page(s) failed with a transient error ({where}): their images have no row "
                "yet; run `pcbforge crawl` again to crawl them (the crawl state is kept)")
    if not any(r["status"] == "ok" for r in rows):
        reasons = Counter(str(r["error"]).split(":", 1)[0] for r in rows)
        if reasons:
            why = "every image was refused or failed (" + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) + ")"
        else:
            pages = sum(st["pages"] for st in stats.values())
            why = f"no image found ({len(rows)} rows)" if not pages else (
                f"no image found on {pages} page(s): check the source's selectors (`pcbforge crawl --check`)")
        return f"no image stored: {why}"
    return None


def summary_table(sources: list[str], rows: list[dict[str, Any]], stats: dict[str, dict[str, Any]]) -> list[str]:
    """The end-of-crawl summary: a line per source, then rejections by reason and refusals.

    Pages and refusals are this run's (a resumed crawl does not see the pages of earlier
    runs); images, stored, rejected and errors are the whole manifest's.

    Example:
        >>> rows = [{"source": "shop", "status": "ok", "error": None},
        ...         {"source": "shop", "status": "rejected", "error": "robots: Forbidden by robots.txt"}]
        >>> st = {"shop": {"pages": 3, "page_failed": {"offsite": 1}, "robots_forbidden": 1, "not_modified": 0}}
        >>> print("\\n".join(summary_table(["shop"], rows, st)))
        crawl summary
          source  pages  pages failed  images  stored  rejected  errors  not modified
          shop        3             1       2       1         1       0             0
          rejected: robots 1
          refused (pages + images): offsite 1, robots 1
    """
    head = ["source", "pages", "pages failed", "images", "stored", "rejected", "errors", "not modified"]
    table = [head]
    for name in sources:
        st = stats.get(name, {})
        mine = [r for r in rows if r["source"] == name]
        n = Counter(r["status"] for r in mine)
        table.append([name, st.get("pages", 0), sum(st.get("page_failed", {}).values()), len(mine), n["ok"],
                      n["rejected"], n["error"], st.get("not_modified", 0)])
    widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]
    lines = ["crawl summary"]
    for row in table:
        cells = [str(c).ljust(widths[0]) if i == 0 else str(c).rjust(widths[i]) for i, c in enumerate(row)]
        lines.append("  " + "  ".join(cells).rstrip())
    reasons = Counter(str(r["error"]).split(":", 1)[0] for r in rows if r["status"] != "ok")
    if reasons:
        lines.append("  rejected: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())))
    refused: Counter[str] = Counter()
    for st in stats.values():
        for kind in ("offsite", "robots", "private_address"):
            refused[kind] += st.get("page_failed", {}).get(kind, 0)
    for kind in ("offsite", "robots", "private_address"):
        refused[kind] += reasons.get(kind, 0)
    shown = {k: v for k, v in refused.items() if v}
    if shown:
        lines.append("  refused (pages + images): " + ", ".join(f"{k} {v}" for k, v in sorted(shown.items())))
    return lines


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
