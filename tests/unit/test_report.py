"""``python -m pcbforge.report``: where a run left its results, also for outs outside the project."""

from __future__ import annotations

from pathlib import Path

from pcbforge.report import main, summary_lines
from tests.helpers.params import tiny_params


def test_missing_outputs_are_listed_not_raised(tmp_path: Path) -> None:
    params = tiny_params(tmp_path / "project")
    lines = summary_lines(params)
    assert lines[0] == "catalog   data/catalog/catalog.parquet: (missing)"
    assert any(line.startswith("evaluate  reports/metrics.json: (missing)") for line in lines)


def test_an_out_outside_the_project_is_shown_absolute(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere" / "raw"
    params = tiny_params(tmp_path / "project", {"crawl": {"out": str(elsewhere)}})
    crawl_line = next(line for line in summary_lines(params) if line.startswith("crawl"))
    assert crawl_line == f"crawl     {elsewhere / 'images.parquet'}: (missing)"


def test_a_bad_params_file_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main([str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pcbforge report: error: params file not found") and err.count("\n") == 1
