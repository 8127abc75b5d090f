"""A crawl worker started by hand from its config file, as docs/crawler.md tells users to.

The stage's own workers die with the stage (test_crawl_resume.py); a worker run by hand
(another shell, another machine of a distributed crawl) has no stage to die with and must
crawl to the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pcbforge.config import load_params
from pcbforge.crawler.journal import read_rows
from pcbforge.crawler.runner import CrawlJob
from pcbforge.lifetime import PARENT_PID_ENV
from tests.helpers.params import write_params
from tests.helpers.sites import LoggingSite, make_site


def test_worker_run_by_hand_from_its_config_crawls_to_the_end(tmp_path: Path) -> None:
    products = make_site(tmp_path / "site", classes=("resistor", "diode"), per_class=3, per_page=2)
    with LoggingSite(tmp_path / "site") as server:
        overrides = {"crawl": {"sources": [{"name": "shop", "start_urls": [server.url + "/index.html"],
                                            "allow_private": True}], "autothrottle": False}}  # fmt: skip
        params = load_params(write_params(tmp_path / "project", overrides))
        src = params.crawl.sources[0].model_dump(mode="json")
        job = CrawlJob(
            out=params.path(params.crawl.out),
            jobdir=params.path(params.crawl.jobdir),
            crawl=params.crawl.model_dump(mode="json"),
            sources=[{**src, "allowed_domains": ["127.0.0.1"]}],
        )
        job.prepare()
        config = job.write_worker_config("main")  # what the stage writes into jobdir
        assert "parent_pid" not in json.loads(config.read_text())
        # By hand: from a shell (the worker's parent is the shell, not the process that wrote
        # the config), with no stage pid in the environment.
        env = {k: v for k, v in os.environ.items() if k != PARENT_PID_ENV}
        done = subprocess.run(
            ["sh", "-c", '"$0" -m pcbforge.crawler.run "$1"; rc=$?; echo "worker exited $rc"; exit $rc',
             sys.executable, str(config)],  # fmt: skip
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode == 0, f"worker exited {done.returncode}: {done.stderr[-2000:]}"
    assert "worker exited 0" in done.stdout
    rows = read_rows(job.journals())
    assert sorted(r["image_url"] for r in rows if r["status"] == "ok") == sorted(
        f"{server.url}/img/{p.file}" for p in products
    )
