"""Kill the crawl stage with SIGKILL mid-way, run it again: same manifest and files, no re-downloads."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from pcbforge.config import load_params
from pcbforge.crawler.journal import read_rows
from pcbforge.pipelines import crawl
from tests.helpers.params import write_params
from tests.helpers.sites import LoggingSite, make_site

pytestmark = pytest.mark.slow


def _overrides(url: str) -> dict:
    return {
        "crawl": {
            "sources": [{"name": "shop", "start_urls": [url + "/index.html"], "allow_private": True}],
            "autothrottle": False,
            "concurrency": 4,
            "concurrency_per_domain": 4,
        }
    }


def _files(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in (out / "files").rglob("*") if p.is_file()}


def wait_for_rows(journal_glob: Path, n: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until the crawl journals hold at least ``n`` rows."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if len(read_rows(journal_glob.parent.glob(journal_glob.name))) >= n:
            return
        assert proc.poll() is None, "crawl ended before it could be killed"
        time.sleep(0.05)
    raise AssertionError("crawl made no progress")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    """A slow site on 127.0.0.1 and its uninterrupted crawl (the reference), shared by the tests."""
    tmp = tmp_path_factory.mktemp("resume")
    products = make_site(tmp / "site", classes=("resistor", "diode", "relay", "transistor"), per_class=8, per_page=3)
    with LoggingSite(tmp / "site", delay=0.03) as server:
        crawl.run(load_params(write_params(tmp / "ref", _overrides(server.url))))
        yield server, tmp / "ref" / "data" / "raw", products


def assert_rows_hold(out: Path) -> None:
    """Every ``ok`` row of ``out``'s manifest names a file that exists with the row's sha256."""
    df = pd.read_parquet(out / "images.parquet")
    ok = df[df["status"] == "ok"]
    assert len(ok)
    for row in ok.itertuples():
        assert (out / row.path).is_file(), row.path
        assert hashlib.sha256((out / row.path).read_bytes()).hexdigest() == row.sha256


@pytest.mark.parametrize("delete_out", [False, True], ids=["kept-out", "out-deleted"])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_kill_then_resume_equals_uninterrupted(tmp_path: Path, sig: signal.Signals, delete_out: bool, served) -> None:
    """``out-deleted``: the output folder is removed between the runs, as ``dvc repro`` does
    before re-running a stage: the journal's rows for those files must not be trusted."""
    server, ref, products = served
    root = tmp_path / "killed"
    params_path = write_params(root, _overrides(server.url))
    params = load_params(params_path)
    mark = len(server.requests)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pcbforge", "crawl", "-p", str(params_path)],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    jobdir = params.path(params.crawl.jobdir)
    try:
        wait_for_rows(jobdir / "journal-*.jsonl", 8, proc)
        if sig == signal.SIGKILL:  # the stage and its worker, no chance to clean up
            os.killpg(proc.pid, signal.SIGKILL)
        else:  # Ctrl-C on the worker: Scrapy stops gracefully and keeps its JOBDIR queue
            os.kill(int((jobdir / "running-main").read_text()), signal.SIGINT)
        assert proc.wait(timeout=60) != 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert not (root / "data" / "raw" / "images.parquet").exists()
    done = {r["image_url"] for r in read_rows(jobdir.glob("journal-*.jsonl"))}
    assert 8 <= len(done) < len(products)
    out = root / "data" / "raw"
    if delete_out:
        assert any((out / "files").rglob("*.*")), "nothing stored before the kill"
        shutil.rmtree(out)
    second = len(server.requests)

    summary = crawl.run(params)
    refetched = {p for p in server.requests[second:] if p.startswith("/img/")}

    assert (out / "images.parquet").read_bytes() == (ref / "images.parquet").read_bytes()
    assert _files(out) == _files(ref) and len(_files(ref)) == len(products)
    assert_rows_hold(out)
    answered = {u.replace(server.url, "") for u in done}
    if delete_out:  # their files went with the folder: fetched again
        assert answered & refetched
    else:  # images answered before the kill are not downloaded again
        assert not answered & refetched
    assert f"{len(products)} images stored" in summary
    assert mark < second


# --- SIGKILL of the stage process alone ------------------------------------------------------
# The built-in site is served by the stage process itself, so killing that process (and not
# its process group, as a service manager or the OOM killer may) also kills the site its
# worker crawls. The worker must die with it, and the next run must give every image a row.


def _builtin_overrides(catalog: Path) -> dict:
    return {
        "catalog": {"out": str(catalog)},
        "crawl": {
            "sources": [{"name": "builtin", "start_urls": ["builtin"], "allow_private": True}],
            "autothrottle": False,
            # One request at a time: the crawl lasts long enough to be killed at each point.
            "concurrency": 1,
            "concurrency_per_domain": 1,
        },
    }


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its new parent to reap it has exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture(scope="module")
def builtin_site(tmp_path_factory: pytest.TempPathFactory):
    """A built-in catalog site (served by the stage) and its uninterrupted crawl (the reference)."""
    tmp = tmp_path_factory.mktemp("kill-main")
    catalog = tmp / "catalog"
    products = make_site(catalog / "site", classes=("resistor", "diode", "relay", "transistor"), per_class=30, per_page=6)
    ref = load_params(write_params(tmp / "ref", _builtin_overrides(catalog)))
    crawl.run(ref)
    return catalog, ref.path(ref.crawl.out), products


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to see the worker")
@pytest.mark.parametrize("rows_before_kill", [0, 3, 60], ids=["worker-started", "first-rows", "mid-crawl"])
def test_sigkill_of_stage_process_alone_kills_worker_and_resume_is_complete(
    tmp_path: Path, rows_before_kill: int, builtin_site
) -> None:
    catalog, ref, products = builtin_site
    params_path = write_params(tmp_path / "killed", _builtin_overrides(catalog))
    params = load_params(params_path)
    jobdir = params.path(params.crawl.jobdir)
    marker = jobdir / "running-main"  # holds the worker's pid once it runs
    proc = subprocess.Popen(
        [sys.executable, "-m", "pcbforge", "crawl", "-p", str(params_path)],
        start_new_session=True,  # only for the clean-up below: the kill targets the one process
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        t0 = time.monotonic()
        while not marker.exists() or not marker.read_text().strip():
            assert proc.poll() is None and time.monotonic() - t0 < 120, "the crawl worker never started"
            time.sleep(0.02)
        worker = int(marker.read_text())
        if rows_before_kill:
            wait_for_rows(jobdir / "journal-*.jsonl", rows_before_kill, proc)
        os.kill(proc.pid, signal.SIGKILL)  # the stage process only, not its process group
        assert proc.wait(timeout=60) == -signal.SIGKILL
        assert _gone_within(worker, 5.0), f"crawl worker {worker} outlived the stage process by 5 s"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    seen = read_rows(jobdir.glob("journal-*.jsonl"))
    assert len(seen) < len(products), "the crawl finished before it was killed"

    summary = crawl.run(params)

    out = params.path(params.crawl.out)
    # Every image has its row (none lost, no "connection refused" left by the dead site).
    assert (out / "images.parquet").read_bytes() == (ref / "images.parquet").read_bytes()
    assert _files(out) == _files(ref) and len(_files(ref)) == len(products)
    assert f"{len(products)} images stored" in summary and "0 errors" in summary
