"""The benchmark driver (benchmarks/bench_all.py) judges and writes fake measurements correctly."""

from __future__ import annotations

import dataclasses
import json

import pytest

from benchmarks.bench_all import Row, ScalingRow, format_scaling, format_table, nlogn_ratio, render_report


def _cells(table: str, stage: str) -> list[str]:
    line = next(x for x in table.splitlines() if x.startswith(f"| {stage} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_ratio_and_verdict_follow_the_target_and_the_extra_condition() -> None:
    rows = [
        Row("dedup", "imagededup", 1000, 600.0, 100.0, 5.0, ("recall >= 0.9", True)),
        Row("dedup-low-recall", "imagededup", 1000, 600.0, 100.0, 5.0, ("recall >= 0.9", False)),
        Row("triplets", "albumentations", 200, 40.0, 100.0, 0.5),
        Row("crawl", "threads", 500, 10.0, None, 0.7),
    ]
    table = format_table(rows)
    assert _cells(table, "dedup")[5:8] == ["6.00", ">= 5.00 and recall >= 0.9", "yes"]
    assert _cells(table, "dedup-low-recall")[7] == "**no**"  # the ratio holds, recall does not
    assert _cells(table, "triplets")[5:8] == ["0.40", ">= 0.50", "**no**"]
    assert _cells(table, "crawl")[4:8] == ["n/a", "n/a", ">= 0.70", "n/a"]  # peer missing: no verdict
    assert len(table.splitlines()) == 2 + len(rows)


def test_nlogn_ratio_is_one_on_exact_nlogn_growth_and_above_when_worse() -> None:
    assert nlogn_ratio(10_000, 2.0, 100_000, 2.0 * 12.5) == pytest.approx(1.0)
    assert nlogn_ratio(10_000, 2.0, 100_000, 2.0 * 100) > 1.0  # quadratic-ish growth fails
    assert nlogn_ratio(10_000, 2.0, 100_000, 2.0 * 10) < 1.0  # linear passes


def test_scaling_table_judges_dedup_growth_and_triplets_peak() -> None:
    rows = [
        ScalingRow("dedup", 1_000, 1.0, 100.0, 200.0),
        ScalingRow("dedup", 10_000, 100.0, 120.0, 260.0),  # 100x time for 13.3x N log N: worse
        ScalingRow("triplets", 1_000, 5.0, 300.0, 900.0),
        ScalingRow("triplets", 10_000, 50.0, 310.0, 1800.0),  # over 1.5 GB
    ]
    table = format_scaling(rows).splitlines()
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in table[2:]]
    assert cells[0][7:] == ["", ""]  # the first size has nothing to grow from
    assert cells[1][6] == "1.30" and float(cells[1][7]) > 1 and cells[1][8] == "**no**"
    assert cells[2][8] == "yes" and cells[3][8] == "**no**" and cells[3][6] == "2.00"


def test_report_renders_both_sections_from_the_json_it_keeps() -> None:
    table = {"rows": [dataclasses.asdict(Row("crop", "decode", 4, 2.0, 1.0, 0.67, ("x", True), "note here"))],
             "command": "bench_all.py --quick", "when": "2026-11-30 19:00 UTC", "load": [6.9, 9.2],
             "versions": {"python": "3.11.7", "imagededup": "0.3.3"}, "machine": {"cores": "2", "RAM": "23.5 GiB"}}
    scaling = {"rows": [dataclasses.asdict(ScalingRow("dedup", 200, 4.0, 150.0, 400.0))],
               "command": "bench_all.py --scaling-only", "when": "2026-11-30 19:30 UTC", "load": [7.0, 7.5],
               "versions": {"python": "3.11.7", "imagededup": "absent"}, "machine": {"cores": "8"}}
    doc = json.loads(json.dumps({"table": table, "scaling": scaling}))
    text = render_report(doc)
    # Each section keeps the facts of the run that measured it.
    assert "python 3.11.7, imagededup 0.3.3." in text and "cores 2, RAM 23.5 GiB." in text
    assert "python 3.11.7, imagededup absent." in text and "Machine: cores 8." in text
    assert text.index("imagededup 0.3.3") < text.index("## Scaling") < text.index("imagededup absent")
    assert "load average (1 min) 6.9 at start, 9.2 at end" in text
    assert "| crop | decode | 4 | 2.00 | 1.00 | 2.00 | >= 0.67 and x | yes | note here |" in text
    assert "| dedup | 200 | 4.00 | 50 | 150 | 400 | 1.00 |  |  |" in text
    del doc["table"]
    assert "## Throughput" not in render_report(doc) and "## Scaling" in render_report(doc)
