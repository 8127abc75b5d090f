"""Experiments DVC can compare: metrics and ROC data committed with git, plots that render offline.

A real git repository holding the project's train and evaluate stages (from its dvc.yaml),
its .gitignore and .dvc/config, on fixture triplets: two commits with different params,
then `dvc exp show`, `dvc metrics diff`, `dvc plots show` and `dvc plots diff`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers.params import REPO_ROOT, write_params
from tests.helpers.tools import BIN
from tests.helpers.triplets_fixture import write_triplets

pytestmark = pytest.mark.slow

FAST = {"train": {"epochs": 1, "batch_size": 8, "input_size": 32, "backbone": "resnet10t", "pretrained": "none",
                  "embedding_dim": 16, "threads": 1},
        "evaluate": {"bootstrap": 50}}
ENV = {
    **os.environ,
    "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    "DVC_NO_ANALYTICS": "1",
    "GIT_AUTHOR_NAME": "pcbforge-test",
    "GIT_AUTHOR_EMAIL": "test@pcbforge.invalid",
    "GIT_COMMITTER_NAME": "pcbforge-test",
    "GIT_COMMITTER_EMAIL": "test@pcbforge.invalid",
}
#: A page that loads anything from a network: a src/href/url()/@import that names http(s).
NETWORK_LOAD = re.compile(r"""(?:\bsrc|\bhref)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import""",
                          re.IGNORECASE)


def sh(*cmd: str, cwd: Path) -> str:
    res = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res.stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("experiments")
    shutil.copytree(REPO_ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    full = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())
    # Only the two stages under test; triplets come from the fixture (a plain dep).
    dvc_yaml = {"stages": {k: full["stages"][k] for k in ("train", "evaluate")}, "plots": full["plots"]}
    # No crop/split outputs here (and no real sources in the tiny params): evaluate needs neither.
    ev = dvc_yaml["stages"]["evaluate"]
    ev["deps"] = [d for d in ev["deps"] if d not in ("${crop.out}", "${split.out}")]
    (root / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml, sort_keys=False))
    shutil.copy(REPO_ROOT / ".gitignore", root / ".gitignore")
    write_params(root, FAST)
    write_triplets(root / "data" / "triplets", per_class=4, size=32)
    sh("git", "init", "-q", "-b", "main", cwd=root)
    sh("dvc", "init", "-q", cwd=root)
    # The project's own DVC config and offline plots page, as committed.
    shutil.copy(REPO_ROOT / ".dvc" / "config", root / ".dvc" / "config")
    shutil.copytree(REPO_ROOT / ".dvc" / "plots", root / ".dvc" / "plots")
    sh("git", "add", "-A", cwd=root)
    sh("git", "commit", "-qm", "project", cwd=root)  # dvclive logs only once HEAD exists
    sh("dvc", "repro", cwd=root)
    sh("git", "add", "-A", cwd=root)
    sh("git", "commit", "-qm", "margin 0.5", cwd=root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["train"]["margin"] = 0.2
    params["train"]["lr"] = 0.01
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh("dvc", "repro", cwd=root)
    sh("git", "add", "-A", cwd=root)
    sh("git", "commit", "-qm", "margin 0.2, lr 0.01", cwd=root)
    return root


def _committed_auc(repo: Path, rev: str) -> float:
    return json.loads(sh("git", "show", f"{rev}:reports/metrics.json", cwd=repo))["roc_auc"]


def test_metrics_and_roc_data_are_committed(repo: Path) -> None:
    tracked = sh("git", "ls-files", "reports", cwd=repo).split()
    assert {"reports/metrics.json", "reports/plots/roc.csv"} <= set(tracked)
    assert not any(p.startswith("reports/figures/") for p in tracked)  # cached by DVC instead
    assert sh("git", "status", "--porcelain", cwd=repo) == ""


def test_exp_show_has_both_commits_roc_auc(repo: Path) -> None:
    table = sh("dvc", "exp", "show", "-n", "2", "--csv", cwd=repo)
    rows = list(csv.DictReader(io.StringIO(table)))
    col = next(c for c in rows[0] if c == "roc_auc" or c.endswith(":roc_auc"))
    revs = {r["rev"]: r for r in rows}
    assert {"workspace", "main"} <= set(revs), table
    commits = [r for r in rows if r["rev"] not in ("workspace", "main")]
    assert len(commits) == 1, table  # HEAD~1, named by its short sha
    for row, rev in ((revs["main"], "HEAD"), (commits[0], "HEAD~1")):
        assert row[col] not in ("", "!"), table
        assert float(row[col]) == pytest.approx(_committed_auc(repo, rev)), table
    assert "!" not in table.replace("!=", "")


def test_metrics_diff_compares_the_two_commits(repo: Path) -> None:
    diff = json.loads(sh("dvc", "metrics", "diff", "HEAD~1", "HEAD", "--all", "--json", cwd=repo))
    auc = diff["reports/metrics.json"]["roc_auc"]
    assert auc["old"] == pytest.approx(_committed_auc(repo, "HEAD~1"))
    assert auc["new"] == pytest.approx(_committed_auc(repo, "HEAD"))
    text = sh("dvc", "metrics", "diff", "HEAD~1", "HEAD", "--all", cwd=repo)
    assert "roc_auc" in text and "!" not in text


def _assert_offline_page(index: Path) -> None:
    page = index.read_text()
    assert not NETWORK_LOAD.search(page), NETWORK_LOAD.search(page)
    assert "vegaEmbed" in page and "<script>" in page  # the charting code is in the page itself
    images = re.findall(r"<img src=\"([^\"$]+)\"", page)  # (not the JS template literals)
    assert images
    for img in images:
        assert (index.parent / img).is_file(), img


def test_plots_show_writes_a_page_that_loads_nothing_from_a_network(repo: Path) -> None:
    sh("dvc", "plots", "show", cwd=repo)
    index = repo / "dvc_plots" / "index.html"
    _assert_offline_page(index)
    page = index.read_text()
    # the ROC data, the training curve and every PNG figure are on it
    for name in ("roc_csv", "loss_tsv", "roc.png", "pr.png", "distances.png", "confusion.png", "loss.png"):
        assert name in page, name


def test_plots_diff_across_commits_renders_offline(repo: Path) -> None:
    out = repo / "diff_plots"
    res = subprocess.run([str(BIN / "dvc"), "plots", "diff", "HEAD~1", "HEAD", "-o", str(out)], cwd=repo, env=ENV,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and "failed to load" not in res.stderr + res.stdout, res.stderr
    _assert_offline_page(out / "index.html")
    page = (out / "index.html").read_text()
    for rev in ("HEAD~1", "HEAD"):
        # both revisions' data series and images
        assert re.search(rf'"rev": ?"{re.escape(rev)}"', page) and f"<p>{rev}</p>" in page, rev
