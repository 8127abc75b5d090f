"""A crawl worker never outlives its stage process, and no run starts beside a live worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pcbforge.crawler.runner import CrawlJob
from pcbforge.errors import PcbforgeError
from pcbforge.lifetime import PARENT_PID_ENV, child_env, parent_pid_from_env


def _job(tmp_path: Path) -> CrawlJob:
    return CrawlJob(out=tmp_path / "out", jobdir=tmp_path / "job", crawl={}, sources=[])


def test_worker_whose_parent_is_already_gone_kills_itself() -> None:
    # The stage process died between starting the worker and the worker's prctl call.
    code = "from pcbforge.crawler.runner import die_with_parent; die_with_parent(-1); print('alive')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL and "alive" not in done.stdout


def test_worker_with_its_parent_alive_runs_on() -> None:
    code = "import os; from pcbforge.crawler.runner import die_with_parent; die_with_parent(os.getppid()); print('alive')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "alive"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_no_worker_starts_beside_a_live_worker_of_another_run(tmp_path: Path) -> None:
    job = _job(tmp_path)
    job.prepare()
    # A process that looks like a crawl worker (its command line names the worker module).
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "pcbforge.crawler.run"])
    try:
        (job.jobdir / "running-main").write_text(str(other.pid))
        with pytest.raises(PcbforgeError, match=rf"crawl worker {other.pid} of another run is still working"):
            job.worker_config("main", distributed=False)
    finally:
        other.kill()
        other.wait()
    # Gone now: its marker only means "killed hard" (the Scrapy queue is discarded).
    (job.jobdir / "scrapy" / "main").mkdir(parents=True)
    assert job.worker_config("main", distributed=False)["running_marker"].endswith("running-main")
    assert not (job.jobdir / "scrapy" / "main").exists()


def test_parent_pid_comes_from_the_environment_and_is_not_passed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PARENT_PID_ENV, "4242")
    assert parent_pid_from_env() == 4242
    assert PARENT_PID_ENV not in os.environ  # a process this one starts has another parent
    assert parent_pid_from_env() is None  # started by hand: no parent to watch


def test_a_worker_started_by_the_stage_gets_the_stage_pid_in_its_environment() -> None:
    assert child_env({"PATH": "/bin"}) == {"PATH": "/bin", PARENT_PID_ENV: str(os.getpid())}
