"""The live progress line, as a user running ``pcbforge crawl`` sees it.

Crawl workers are child processes that inherit the stage's stderr (runner.py starts them
without redirecting it), so their Scrapy log, the ``pcbforge.crawl.progress`` lines
included, is the stage's own terminal output. The test runs the real CLI in a subprocess
against a slow loopback site and reads its stderr.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers.params import write_params
from tests.helpers.sites import LoggingSite, make_site

pytestmark = pytest.mark.slow

PROGRESS = re.compile(
    r"\[pcbforge\.crawl\.progress\] INFO: (?P<source>\S+): pages (?P<pages>\d+), "
    r"stored (?P<stored>\d+) \((?P<rate>[\d.]+)/s\), rejected (?P<rejected>\d+)(?: \{(?P<by>[^}]*)\})?"
)


def _reasons(by: str | None) -> dict[str, int]:
    return {k: int(v) for k, v in (part.split(": ") for part in by.split(", "))} if by else {}


def test_progress_line_is_live_and_ends_at_the_manifest_counts(tmp_path: Path) -> None:
    # 16 products, every third CC-BY-NC (refused by licence), one exact duplicate, one missing file.
    products = make_site(tmp_path / "site", classes=("resistor", "diode"), per_class=8, per_page=3,
                         licences=("CC-BY-4.0", "CC-BY-4.0", "CC-BY-NC-4.0"),
                         duplicate_of={"diode-007": "diode-001"})
    (tmp_path / "site" / "img" / next(p.file for p in products if p.pid == "resistor-003")).unlink()
    # One image at a time, 0.3 s each: the crawl outlasts the 2 s progress interval.
    with LoggingSite(tmp_path / "site", delay=0.3) as site:
        source = {"name": "shop", "start_urls": [site.url + "/index.html"], "allow_private": True,
                  "licence_allow": ["CC-BY-4.0"]}
        params_path = write_params(tmp_path / "project", {
            "crawl": {"sources": [source], "autothrottle": False, "concurrency_per_domain": 1}})
        t0 = time.monotonic()
        res = subprocess.run([sys.executable, "-m", "pcbforge", "crawl", "-p", str(params_path)],
                             capture_output=True, text=True, timeout=120)
        wall = time.monotonic() - t0
        pages_served = [p for p in site.requests if p.endswith(".html")]
    assert res.returncode == 0, res.stderr[-3000:]

    log = res.stderr.splitlines()
    lines = [(i, m) for i, line in enumerate(log) if (m := PROGRESS.search(line))]
    assert lines and all(m["source"] == "shop" for _, m in lines), "\n".join(log[-40:])
    closing = next(i for i, line in enumerate(log) if "Closing spider" in line)
    live = [m for i, m in lines if i < closing]
    final = lines[-1][1]
    assert lines[-1][0] > closing  # the last line is the one logged when the spider closed

    # Live: logged while the crawl was still running, with counts below the final ones.
    assert live, "no progress line before the spider closed"
    assert int(live[0]["stored"]) < int(final["stored"])
    assert all(int(a["stored"]) <= int(b["stored"]) for (_, a), (_, b) in zip(lines, lines[1:]))

    # Final counts equal the manifest (and the pages the server answered).
    df = pd.read_parquet(tmp_path / "project" / "data" / "raw" / "images.parquet")
    ok, rejected = df[df["status"] == "ok"], df[df["status"] != "ok"]
    by_reason = Counter(str(e).split(":", 1)[0] for e in rejected["error"])
    assert by_reason == {"licence": 5, "duplicate": 1, "http_404": 1}
    assert int(final["stored"]) == len(ok) == len(products) - 7
    assert int(final["rejected"]) == len(rejected)
    assert _reasons(final["by"]) == by_reason
    assert int(final["pages"]) == len(pages_served)
    # A rate in images per second of the crawl: stored / rate is a duration within the stage's run.
    rate = float(final["rate"])
    assert rate > 0 and 0.5 < int(final["stored"]) / rate < wall

    # The stage's summary (stdout) repeats the final counts.
    summary = f"crawl: {len(ok)} images stored, {len(rejected)} rejected, 0 errors (duplicate 1, http_404 1, licence 5)"
    assert summary in res.stdout
