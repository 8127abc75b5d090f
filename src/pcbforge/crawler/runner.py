"""Run crawls in worker processes and turn their journals into the manifest.

Scrapy's Twisted reactor cannot be restarted inside one process, so every crawl runs in a
child process (``python -m pcbforge.crawler.run <config.json>``) configured by a plain
JSON file. That also makes a crawl killable at any point: the child appends every
finished item to its journal (see :mod:`pcbforge.crawler.journal`), keeps Scrapy's
JOBDIR (scheduler queue + dupe filter) for a graceful stop, and the next run resumes.
A worker never outlives the stage process that started it (:func:`die_with_parent`),
whatever kills that process.

With ``redis_url`` several workers (here or on other machines) share one request queue
and one dupe filter through scrapy-redis; a worker that dies loses only its in-flight
requests, which a final sweep (a plain crawl that skips every answered image) recovers.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pcbforge.crawler.items import url_id
from pcbforge.crawler.journal import answers, is_duplicate, read_rows
from pcbforge.crawler.pipelines import content_path
from pcbforge.errors import PcbforgeError
from pcbforge.io import write_text
from pcbforge.lifetime import child_env, die_with_parent, parent_pid_from_env

log = logging.getLogger(__name__)

#: The file in ``jobdir`` a running crawl holds an exclusive ``flock`` on.
LOCK_NAME = "lock"


class CrawlBusyError(PcbforgeError):
    """Another crawl holds the lock on the same ``crawl.jobdir``."""


@contextlib.contextmanager
def lock_jobdir(jobdir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``jobdir`` for the block, or stop at once if another crawl holds it.

    Two crawls on one resume folder tear each other's journals and Scrapy queues (one
    deletes the queue the other uses). ``flock`` is released by the kernel when its holder
    dies, however it dies, so a killed crawl never leaves a stale lock behind.

    Raises:
        CrawlBusyError: another process holds the lock (its pid is named when known).
    """
    jobdir.mkdir(parents=True, exist_ok=True)
    path = jobdir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            raise CrawlBusyError(
                f"another crawl (pid {holder}) is running on {jobdir}; wait for it to finish, "
                "or give this one another crawl.jobdir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _sha256_of(path: Path) -> str | None:
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return None


def missing_stored(out: Path, rows: Iterable[dict[str, Any]]) -> set[str]:
    """sha256 of every ``ok`` journal row whose file under ``out`` is absent or has other bytes.

    ``dvc repro`` deletes a stage's outputs before running it, and a user may delete them by
    hand: the journal then counts images as stored that are not there. Those rows must not
    be trusted by a resume.
    """
    bad: set[str] = set()
    checked: set[str] = set()
    for row in rows:
        sha = row.get("sha256")
        if row.get("status") != "ok" or not sha or sha in checked:
            continue
        checked.add(sha)
        if _sha256_of(out / content_path(sha, row["format"])) != sha:
            bad.add(sha)
    return bad


@dataclass
class CrawlJob:
    """One crawl of a list of sources into ``out``, with its resumable state in ``jobdir``.

    Attributes:
        out: output directory (``files/`` and ``images.parquet``).
        jobdir: journals, Scrapy JOBDIRs and worker configs; removed after a finished crawl.
        crawl: the ``crawl`` params as plain values.
        sources: source dicts with concrete start URLs (``builtin`` already served).
        aliases: served origin -> stable alias written into the manifest.
        fetched_at: fixed ISO time for every row, or None for the real clock.
        redis_url: scrapy-redis server shared by the workers, or None.
    """

    out: Path
    jobdir: Path
    crawl: dict[str, Any]
    sources: list[dict[str, Any]]
    aliases: dict[str, str] = field(default_factory=dict)
    fetched_at: str | None = None
    redis_url: str | None = None
    #: image URL -> validators and file facts of the last finished crawl, verified against
    #: ``out`` (:func:`load_http_cache`): those images are requested conditionally.
    validators: dict[str, dict[str, Any]] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """What must match for a resume to be valid (served ports excluded: they change)."""
        key = {
            "crawl": {k: v for k, v in self.crawl.items()
                      if k not in ("jobdir", "redis_url", "workers", "idle_close", "http_cache")},
            "sources": [{**s, "start_urls": [self._public(u) for u in s["start_urls"]]} for s in self.sources],
            "fetched_at": self.fetched_at,
            "out": str(self.out),
        }
        return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def _public(self, url: str) -> str:
        for origin, alias in self.aliases.items():
            if url.startswith(origin):
                return alias + url[len(origin) :]
        return url

    # --- state ------------------------------------------------------------------------------
    def journals(self) -> list[Path]:
        """Every journal of this crawl (all runs, all workers)."""
        return sorted(self.jobdir.glob("journal-*.jsonl"))

    def prepare(self) -> bool:
        """Make ``jobdir`` valid for this job; return True when resuming an earlier run."""
        state = self.jobdir / "state.json"
        fp = self.fingerprint()
        if state.exists():
            try:
                old = json.loads(state.read_text())["fingerprint"]
            except (OSError, ValueError, KeyError):
                old = None
            if old != fp:
                log.info("crawl state in %s is from other params; starting afresh", self.jobdir)
                _clear(self.jobdir)
        self.jobdir.mkdir(parents=True, exist_ok=True)
        write_text(state, json.dumps({"fingerprint": fp}))
        for p in self.jobdir.glob("stats-*.json"):  # the summary reports this run's pages only
            p.unlink()
        self._drop_missing_files()
        write_text(self.jobdir / "validators.json", json.dumps(self.validators, sort_keys=True))
        return bool(self.journals())

    def _drop_missing_files(self) -> None:
        """Forget journal rows whose stored file is gone or changed, so that they are fetched again.

        The Scrapy queues are discarded too: their dupe filters count the pages of those
        images as visited, which would leave them without a row. Pages are re-crawled and
        every image still answered (its file verified) is skipped.
        """
        journals = self.journals()
        bad = missing_stored(self.out, read_rows(journals))
        if not bad:
            return
        log.warning(
            "%d file(s) the interrupted crawl stored are missing or changed under %s "
            "(deleted by `dvc repro` or by hand?): fetching them again", len(bad), self.out
        )
        for path in journals:
            kept = [r for r in read_rows([path]) if not (r.get("status") == "ok" and r.get("sha256") in bad)]
            write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))
        shutil.rmtree(self.jobdir / "scrapy", ignore_errors=True)

    def worker_config(self, worker: str, *, distributed: bool, shard: tuple[int, int] | None = None) -> dict[str, Any]:
        """The JSON config a worker process runs from."""
        scrapy_dir = self.jobdir / "scrapy" / worker
        running = self.jobdir / f"running-{worker}"
        _refuse_if_still_running(running)
        if running.exists() and scrapy_dir.exists():
            # Killed hard: Scrapy's queue files may be torn. The journal is authoritative;
            # pages are re-crawled and every answered image skipped.
            log.info("worker %s was killed last time: discarding its Scrapy queue, keeping its journal", worker)
            shutil.rmtree(scrapy_dir)
        return {
            "worker": worker,
            "out": str(self.out),
            "journal": str(self.jobdir / f"journal-{worker}.jsonl"),
            "prior_journals": [str(p) for p in self.journals()],
            "jobdir": None if distributed else str(scrapy_dir),
            "running_marker": str(running),
            "crawl": self.crawl,
            "sources": self.sources if shard is None else [{**src, "shard": list(shard)} for src in self.sources],
            "aliases": self.aliases,
            "fetched_at": self.fetched_at,
            "redis_url": self.redis_url if distributed else None,
            "redis_prefix": f"pcbforge:{self.fingerprint()}",
            "validators": str(self.jobdir / "validators.json"),
            # No parent pid here: the file is also run by hand (docs/crawler.md), where the
            # worker has no stage to die with. start_worker passes it in the environment.
        }

    def start_worker(
        self, worker: str = "main", *, distributed: bool = False, shard: tuple[int, int] | None = None, **popen: Any
    ) -> subprocess.Popen[bytes]:
        """Start a worker process; returns at once (``wait()`` on the result).

        ``shard=(i, n)``: a ``urls`` source downloads only its i-th of n shares of the list.
        Call it from the thread that waits for the worker: the worker dies when the thread
        that started it ends (see :func:`die_with_parent`).
        """
        path = self.write_worker_config(worker, distributed=distributed, shard=shard)
        popen["env"] = child_env(popen.get("env"))  # this worker dies with this process
        return subprocess.Popen([sys.executable, "-m", "pcbforge.crawler.run", str(path)], **popen)

    def write_worker_config(
        self, worker: str = "main", *, distributed: bool = False, shard: tuple[int, int] | None = None
    ) -> Path:
        """Write the config of a worker into ``jobdir``; return its path.

        ``python -m pcbforge.crawler.run <path>`` runs it, here or by hand (docs/crawler.md).
        """
        cfg = self.worker_config(worker, distributed=distributed, shard=shard)
        path = self.jobdir / f"worker-{worker}.json"
        write_text(path, json.dumps(cfg, indent=2, default=str))
        return path

    def run_worker(self, worker: str = "main", *, distributed: bool = False) -> int:
        """Run a worker to completion; return its exit code."""
        return _wait(self.start_worker(worker, distributed=distributed))

    def clear_redis(self) -> None:
        """Delete this crawl's scrapy-redis keys (queue, dupe filter)."""
        if not self.redis_url:
            return
        import redis

        r = redis.Redis.from_url(self.redis_url)
        keys = list(r.scan_iter(match=f"pcbforge:{self.fingerprint()}:*"))
        if keys:
            r.delete(*keys)

    def run(self, workers: int = 1) -> list[dict[str, Any]]:
        """Crawl (resuming if state exists), then return the final manifest rows.

        With ``workers > 1`` the workers share the queue through ``redis_url``, or, for
        sources that are all ``urls`` lists and no redis, each takes a fixed share of the
        list. A sweep follows if any of them failed (or, with redis, this run resumed).
        """
        resuming = self.prepare()
        if workers > 1 and not self.redis_url and self.shardable():
            procs = [self.start_worker(f"s{i}", shard=(i, workers)) for i in range(workers)]
            codes = [_wait(p) for p in procs]
            if any(codes):
                log.info("sweeping for images of failed URL-list workers (exit codes %s)", codes)
                self._check(self.run_worker("sweep"))
        elif workers > 1 and self.redis_url:
            if not resuming:
                self.clear_redis()
            procs = [self.start_worker(f"w{i}", distributed=True) for i in range(workers)]
            codes = [_wait(p) for p in procs]
            if resuming or any(codes):
                log.info("sweeping for images lost with failed workers (exit codes %s)", codes)
                self._check(self.run_worker("sweep"))
            self.clear_redis()
        else:
            if workers > 1:
                log.warning("crawl.workers is %d but the crawl runs in one process: only `urls` sources can be "
                            "split without a shared queue (set crawl.redis_url to scale out site crawls)", workers)
            self._check(self.run_worker("main"))
        return finalize_rows(
            read_rows(self.journals()),
            sightings=read_rows(self.jobdir.glob("labels-*.jsonl")),
            label_conflict=str(self.crawl.get("label_conflict", "reject")),
        )

    def shardable(self) -> bool:
        """Whether local workers can split the crawl without a shared queue (URL lists only)."""
        return all(src.get("spider") == "urls" for src in self.sources)

    @staticmethod
    def _check(code: int) -> None:
        if code != 0:
            from pcbforge.errors import PcbforgeError

            raise PcbforgeError(
                f"crawl worker exited with code {code}; its progress is kept, run `pcbforge crawl` again to resume"
            )

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str)


def _clear(jobdir: Path) -> None:
    """Empty ``jobdir`` except its lock file (held by this crawl)."""
    for p in jobdir.iterdir():
        if p.name == LOCK_NAME:
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def clear_state(jobdir: Path) -> None:
    """Remove a finished crawl's state (the lock file goes last, with the folder)."""
    if jobdir.is_dir():
        _clear(jobdir)
        shutil.rmtree(jobdir, ignore_errors=True)


def _wait(proc: subprocess.Popen[bytes]) -> int:
    """Wait for a worker; on Ctrl-C (which the worker also got) let it finish its graceful
    stop, so the served site stays up for its in-flight requests, then re-raise."""
    try:
        return proc.wait()
    except KeyboardInterrupt:
        log.warning("interrupted: waiting for the crawl worker to save its state (Ctrl-C again to abort)")
        proc.wait()
        raise


def _pid_is_worker(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) crawl worker on this machine."""
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():
        try:
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = (proc / "cmdline").read_bytes()
        except (OSError, IndexError):
            return False
        return state not in ("Z", "X") and b"pcbforge.crawler.run" in cmdline
    if Path("/proc/self").is_dir():
        return False  # /proc is there and has no such pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _refuse_if_still_running(marker: Path) -> None:
    """Stop before starting a worker next to one of an earlier run that still runs.

    Two workers on one journal and one Scrapy JOBDIR would tear each other's state (the
    new one would delete the queue the old one is using). With :func:`die_with_parent`
    this only happens when two crawls of the same jobdir run at once.
    """
    try:
        pid = int(marker.read_text().strip())
    except (OSError, ValueError):
        return
    if pid != os.getpid() and _pid_is_worker(pid):
        from pcbforge.errors import PcbforgeError

        raise PcbforgeError(
            f"crawl worker {pid} of another run is still working on {marker.parent} "
            f"(see {marker.name}); wait for it or stop it (kill {pid}), then run `pcbforge crawl` again"
        )


def finalize_rows(
    rows: Iterable[dict[str, Any]],
    sightings: Iterable[dict[str, Any]] = (),
    label_conflict: str = "reject",
) -> list[dict[str, Any]]:
    """Final manifest rows from journal rows: one per image URL, one stored row per sha256.

    Which URL "owns" a file depends on download timing, so it is decided here instead:
    among all URLs with the same content the smallest URL is the stored row; the others
    become ``duplicate`` rejects naming it. A duplicate of a file whose store failed is an
    ``error`` row instead (see :func:`~pcbforge.crawler.journal.answers`), retried by the
    next run. Rows come back sorted by id.

    An image seen under several class labels (its URLs' rows and ``sightings``, the labels
    its URL was seen under on other pages) is a label conflict: with ``label_conflict``
    ``reject`` every URL of it is a ``label_conflict`` reject naming the labels (nothing is
    stored); with ``first`` it keeps the label seen at the smallest (image URL, page URL).
    """
    # Here, not at the top: crawl workers import this module and never need pyarrow.
    from pcbforge.datasets.schemas import columns

    names = columns("crawl")
    latest = answers(rows)
    seen: dict[str, set[tuple[str, str]]] = defaultdict(set)  # image URL -> {(page URL, label)}
    for s in sightings:
        if s.get("class_label"):
            seen[s["image_url"]].add((s.get("page_url") or "", s["class_label"]))
    by_sha: dict[str, list[dict[str, Any]]] = defaultdict(list)
    out: list[dict[str, Any]] = []
    for row in latest.values():
        row = {c: row.get(c) for c in names}
        if row["sha256"] and (row["status"] == "ok" or is_duplicate(row)):
            by_sha[row["sha256"]].append(row)
        else:
            row["id"] = url_id(row["image_url"])
            out.append(row)
    conflicts = 0
    for sha, group in by_sha.items():
        group.sort(key=lambda r: r["image_url"])
        labelled = sorted(
            {(r["image_url"], r["page_url"] or "", r["class_label"]) for r in group if r["class_label"]}
            | {(r["image_url"], page, label) for r in group for page, label in seen.get(r["image_url"], ())}
        )
        labels = sorted({label for _, _, label in labelled})
        canon = group[0]
        if len(labels) > 1:
            conflicts += 1
            if label_conflict == "reject":
                reason = f"label_conflict: the same image is labelled {', '.join(labels)} (crawl.label_conflict: reject)"
                out.extend({**r, "id": url_id(r["image_url"]), "path": None, "status": "rejected", "error": reason}
                           for r in group)
                continue
            url, page, label = labelled[0]
            canon = {**canon, "class_label": label, "page_url": page if url == canon["image_url"] else canon["page_url"]}
        out.append({**canon, "id": sha, "path": content_path(sha, canon["format"]), "status": "ok", "error": None})
        for r in group[1:]:
            out.append(
                {**r, "id": url_id(r["image_url"]), "path": None, "status": "rejected",
                 "error": f"duplicate: same sha256 as {canon['image_url']}"}
            )
    if conflicts:
        log.warning("%d image(s) found under several class labels: %s (crawl.label_conflict)", conflicts,
                    "rejected" if label_conflict == "reject" else "kept with the first label")
    out.sort(key=lambda r: r["id"])
    return out


#: What the HTTP cache keeps per image URL besides its validators.
_FILE_FACTS = ("sha256", "format", "width", "height", "bytes")


def load_http_cache(path: Path, out: Path) -> dict[str, dict[str, Any]]:
    """The last crawl's validators, only for images whose file is in ``out`` with its sha256.

    A 304 answer means "the bytes you have are current": that must only be asked for bytes
    that are really there (``dvc repro`` deletes ``out``; the cache, kept with
    ``persist``, would otherwise make the crawl record images it does not have).
    """
    if not path.is_file():
        return {}
    rows = read_rows([path])
    shas = {r["sha256"]: r for r in rows if r.get("sha256") and r.get("format")}
    missing = missing_stored(out, [{**r, "status": "ok"} for r in shas.values()])
    kept = {r["image_url"]: r for r in rows if r.get("sha256") in shas and r["sha256"] not in missing}
    if missing:
        log.info("http cache: %d image(s) no longer in %s are downloaded again", len(missing), out)
    return kept


def http_cache_rows(journal_rows: Iterable[dict[str, Any]], final: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cache rows for every image URL whose final row has its bytes (stored, or a duplicate of
    a stored image) and whose last answer carried an ETag or Last-Modified; sorted by URL."""
    latest = answers(journal_rows)
    out = []
    for row in sorted(final, key=lambda r: r["image_url"]):
        if not row.get("sha256") or not (row["status"] == "ok" or is_duplicate(row)):
            continue
        j = latest.get(row["image_url"]) or {}
        if j.get("etag") or j.get("last_modified"):
            out.append({"image_url": row["image_url"], "etag": j.get("etag"), "last_modified": j.get("last_modified"),
                        **{k: row[k] for k in _FILE_FACTS}})
    return out


def collect_garbage(out: Path, keep: set[str]) -> int:
    """Delete files under ``out/files`` not in ``keep`` (relative paths); return how many."""
    removed = 0
    root = out / "files"
    if not root.is_dir():
        return 0
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.relative_to(out).as_posix() not in keep:
            p.unlink()
            removed += 1
    for d in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        if not any(d.iterdir()):
            d.rmdir()
    return removed


def crawl_stats(crawler: Any) -> dict[str, Any]:
    """What the stage's summary needs from one crawler's Scrapy stats (plain JSON values)."""
    from pcbforge.crawler.spiders.base import PAGE_FAILED_TRANSIENT

    stats = crawler.stats.get_stats()
    spider = crawler.spider
    return {
        "pages": int(stats.get("pcbforge/pages", 0)),
        "page_failed": {k.split("/", 2)[2]: int(v) for k, v in stats.items() if k.startswith("pcbforge/page_failed/")},
        "page_failed_transient": int(stats.get(PAGE_FAILED_TRANSIENT, 0)),
        "start_requested": int(stats.get("pcbforge/start_requested", 0)),
        "start_failed": list(getattr(spider, "start_failures", [])),
        "robots_forbidden": int(stats.get("robotstxt/forbidden", 0)),
        "offsite": int(stats.get("offsite/filtered", 0)),
        "not_modified": int(stats.get("pcbforge/not_modified", 0)),
        "finish_reason": stats.get("finish_reason"),
    }


def read_stats(jobdir: Path) -> dict[str, dict[str, Any]]:
    """Per-source stats of this run's workers (summed over workers; see :func:`crawl_stats`)."""
    total: dict[str, dict[str, Any]] = {}
    for p in sorted(jobdir.glob("stats-*.json")):
        try:
            per_source = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        for name, st in per_source.items():
            t = total.setdefault(name, {"pages": 0, "page_failed": {}, "page_failed_transient": 0,
                                        "start_requested": 0, "start_failed": [], "robots_forbidden": 0,
                                        "offsite": 0, "not_modified": 0})
            for k in ("pages", "page_failed_transient", "start_requested", "robots_forbidden", "offsite",
                      "not_modified"):
                t[k] += int(st.get(k, 0))
            for k, v in st.get("page_failed", {}).items():
                t["page_failed"][k] = t["page_failed"].get(k, 0) + int(v)
            t["start_failed"] += st.get("start_failed", [])
    return total


def worker_main(cfg: dict[str, Any]) -> int:
    """Body of a worker process: run one Scrapy crawler per source; 0 when all finished."""
    from scrapy.crawler import Crawler, CrawlerProcess

    from pcbforge.crawler.settings import build_settings
    from pcbforge.crawler.spiders import SPIDERS
    from pcbforge.crawler.spiders.base import PAGE_FAILED_TRANSIENT

    # Killed with the stage, the worker leaves its running marker, so the next run distrusts
    # its Scrapy queue and resumes from the journal, which is flushed per row. Started by
    # hand (no stage pid in the environment), it watches no parent.
    die_with_parent(parent_pid_from_env())
    marker = Path(cfg["running_marker"])
    marker.parent.mkdir(parents=True, exist_ok=True)
    write_text(marker, str(os.getpid()))
    log_level = cfg.get("log_level", "INFO")
    process = CrawlerProcess({"LOG_LEVEL": log_level, "LOG_INSTALL_ROOT_HANDLER": True})
    crawlers = []
    for src in cfg["sources"]:
        spider_cls = SPIDERS[src.get("spider", "catalog")]
        settings = build_settings(
            cfg["crawl"],
            out=cfg["out"],
            journal=cfg["journal"],
            prior_journals=cfg["prior_journals"],
            jobdir=os.path.join(cfg["jobdir"], src["name"]) if cfg["jobdir"] and spider_cls.uses_jobdir else None,
            redis_url=cfg["redis_url"],
        )
        settings["LOG_LEVEL"] = log_level
        if cfg["redis_url"]:
            prefix = cfg["redis_prefix"]
            settings["SCHEDULER_QUEUE_KEY"] = prefix + ":%(spider)s:requests"
            settings["SCHEDULER_DUPEFILTER_KEY"] = prefix + ":%(spider)s:dupefilter"
        # The first crawler installs the reactor (what CrawlerProcess does for its own crawlers).
        crawler = Crawler(spider_cls, settings, init_reactor=not crawlers)
        crawlers.append(crawler)
        process.crawl(
            crawler,
            source=src,
            aliases=cfg["aliases"],
            prior_journals=cfg["prior_journals"],
            fetched_at=cfg["fetched_at"],
            distributed=bool(cfg["redis_url"]),
            validators=cfg.get("validators"),
        )
    process.start()
    reasons = [c.stats.get_value("finish_reason") for c in crawlers]
    failed_pages = sum(c.stats.get_value(PAGE_FAILED_TRANSIENT, 0) for c in crawlers)
    write_text(
        Path(cfg["journal"]).with_name(f"stats-{cfg['worker']}.json"),
        json.dumps({src["name"]: crawl_stats(c) for src, c in zip(cfg["sources"], crawlers)}, sort_keys=True),
    )
    if failed_pages:
        # The dupe filter counts those pages as visited: a JOBDIR kept for the next run would
        # never open them again, and their images would be missing without a row. Leaving
        # the marker makes the next run discard the queue and re-crawl the pages (images
        # already answered are still skipped through the journal).
        log.info("%d page(s) failed with a transient error: the next run re-crawls the pages", failed_pages)
    else:
        marker.unlink(missing_ok=True)  # a graceful stop leaves a consistent JOBDIR
    if all(r == "finished" for r in reasons):
        return 0
    log.warning("crawl stopped early (%s); run again to resume", reasons)
    return 1
