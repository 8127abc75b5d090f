"""The whole pipeline under real git + DVC: `dvc repro` on tiny params, determinism, push/pull.

This is the end-to-end check of every stage together: it copies the project's dvc.yaml
and sources into a fresh git repository, writes tiny params, runs `dvc repro`, then
checks that the pipeline is up to date, that a second run from scratch yields the same
output hashes in dvc.lock, and that a clone can `dvc pull` the versioned dataset from a
local-directory remote.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pcbforge.catalog.site import LICENCE_URLS
from pcbforge.config import load_params
from pcbforge.datasets.manifest import MANIFEST_NAMES, manifest_info, manifest_path
from pcbforge.datasets.schemas import SCHEMAS
from tests.helpers.modes import modes_other_than
from tests.helpers.params import REPO_ROOT, write_params
from tests.helpers.tools import BIN

pytestmark = pytest.mark.slow

ENV = {
    **os.environ,
    "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    "FIFTYONE_DO_NOT_TRACK": "true",
    "DVC_NO_ANALYTICS": "1",
    "GIT_AUTHOR_NAME": "pcbforge-test",
    "GIT_AUTHOR_EMAIL": "test@pcbforge.invalid",
    "GIT_COMMITTER_NAME": "pcbforge-test",
    "GIT_COMMITTER_EMAIL": "test@pcbforge.invalid",
}


def _repo_cache_type() -> str:
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(REPO_ROOT / ".dvc" / "config")
    return cfg.get("cache", "type", fallback="reflink,copy").strip("'\"")


REPO_CACHE_TYPE = _repo_cache_type()


def sh(*cmd: str, cwd: Path, timeout: int = 900) -> str:
    # umask 022, as on a shared server: every output must be readable by the team.
    res = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout, umask=0o022)
    assert res.returncode == 0, f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-5000:]}"
    return res.stdout


def out_hashes(project: Path) -> dict[str, str]:
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    return {
        f"{stage}:{out['path']}": out["md5"]
        for stage, body in lock["stages"].items()
        for out in body.get("outs", [])
        # Persistent caches, not results (the crawl's holds the served files' Last-Modified times).
        if out["path"] not in ("data/cache/hashes.parquet", "data/cache/dedup-checks.parquet", "data/cache/quality.parquet",
                               "data/cache/crawl-http.jsonl")
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(REPO_ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(REPO_ROOT / "dvc.yaml", root / "dvc.yaml")
    shutil.copytree(REPO_ROOT / "review", root / "review")
    shutil.copytree(REPO_ROOT / "realsets", root / "realsets")  # crop's deps name it (tiny params do not crop it)
    (root / ".gitignore").write_text("/data/\n/models/\n/reports/\n")
    write_params(root)
    sh("git", "init", "-q", "-b", "main", cwd=root)
    sh("dvc", "init", "-q", cwd=root)
    sh("dvc", "config", "core.analytics", "false", cwd=root)
    # The project's link cache type, so the pipeline is checked as users run it (outputs
    # hard-linked from .dvc/cache, read-only).
    sh("dvc", "config", "cache.type", REPO_CACHE_TYPE, cwd=root)
    sh("git", "add", "-A", cwd=root)
    sh("git", "commit", "-qm", "pipeline", cwd=root)
    sh("dvc", "repro", cwd=root)
    return root


def test_repro_produces_metrics_from_a_trained_model(project: Path) -> None:
    metrics = json.loads((project / "reports" / "metrics.json").read_text())
    assert (project / "models" / "model.pt").stat().st_size > 10_000
    roc = pd.read_csv(project / "reports" / "plots" / "roc.csv")
    assert list(roc.columns[:2]) == ["fpr", "tpr"] and len(roc) >= 2
    # The reported ROC-AUC is the area under the curve DVC plots, over the test triplets counted.
    assert metrics["roc_auc"] == pytest.approx(float(np.trapezoid(roc["tpr"], roc["fpr"])), abs=1e-5)
    assert metrics["n"] == sum(metrics["n_per_kind"].values()) > 0
    c = metrics["confusion"]
    assert c["tp"] + c["fn"] == c["tn"] + c["fp"] == metrics["n"]


def test_report_names_every_result_after_a_run(project: Path) -> None:
    """What `make demo` prints last: every manifest, the model and the metrics, none missing."""
    out = sh(str(BIN / "python"), "-m", "pcbforge.report", cwd=project)
    assert "(missing)" not in out, out
    metrics = json.loads((project / "reports" / "metrics.json").read_text())
    assert f"reports/metrics.json: roc_auc={metrics['roc_auc']:.3f}" in out
    for line in ("data/triplets/triplets.parquet: ", "models/model.pt: present"):
        assert line in out, out


def test_every_stage_ran_and_is_up_to_date(project: Path) -> None:
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    declared = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    assert set(lock["stages"]) == set(declared)
    status = sh("dvc", "status", cwd=project)
    assert "up to date" in status, status
    again = sh("dvc", "repro", cwd=project)
    assert "Running stage" not in again, again


def test_manifests_keep_lineage_to_source_url_and_licence(project: Path) -> None:
    triplets = pd.read_parquet(project / "data" / "triplets" / "triplets.parquet")
    ok = triplets[triplets["status"] == "ok"]
    assert len(ok) > 0
    assert ok["licence"].notna().all() and ok["source_url"].notna().all()
    assert set(ok["split"]) <= {"train", "val", "test"}
    # The built-in shop links each open licence's terms; the crawl keeps the link to the end.
    raw = pd.read_parquet(project / "data" / "raw" / "images.parquet")
    stored = raw[raw["status"] == "ok"]
    assert len(stored) and (stored["licence_url"] == stored["licence"].map(LICENCE_URLS)).all()
    credits = pd.read_csv(project / "data" / "export" / "CREDITS.csv")
    web = credits[credits["source_url"].str.startswith("builtin:/img/")]
    assert len(web) and (web["licence_url"] == web["licence"].map(LICENCE_URLS)).all()


def test_every_stage_manifest_matches_its_declared_schema(project: Path) -> None:
    params = load_params(project / "params.yaml")
    for stage in MANIFEST_NAMES:
        schema = pq.read_schema(manifest_path(params, stage))
        declared = SCHEMAS[stage]
        # Names, order, types and nullability exactly as declared; no null-typed column.
        assert schema.equals(declared.schema, check_metadata=False), f"{stage}:\n{schema}\n!=\n{declared.schema}"
        assert not any(pa.types.is_null(f.type) for f in schema), stage
        assert manifest_info(schema) == {"stage": stage, "schema_version": declared.version}, stage


def test_every_output_is_world_readable_under_umask_022(project: Path) -> None:
    # Files DVC hard-links from its cache are read-only (0444): still readable by everyone.
    wrong = {
        d: {p: m for p, m in modes_other_than(project / d, 0o644, 0o755).items() if m != "0o444"}
        for d in ("data", "models", "reports")
    }
    assert wrong == {"data": {}, "models": {}, "reports": {}}


def test_outputs_are_linked_from_the_cache_not_copied(project: Path) -> None:
    # .dvc/config asks for hardlinks first: a tracked output is stored once, in the cache
    # (docs/install.md#disk). `dvc repro` links what it adds to the cache; a file whose bytes
    # were in the cache already (a web crop equal to its catalog photo) stays a copy until
    # `dvc checkout --relink`, which changes no bytes and leaves the pipeline up to date.
    if not REPO_CACHE_TYPE.startswith("hardlink"):
        pytest.skip("the project does not ask for hardlinks first")
    cache = project / ".dvc" / "cache"
    crops = sorted((project / "data" / "crop" / "crops").glob("*.png"))
    assert crops
    if os.stat(crops[0]).st_dev != os.stat(cache).st_dev:
        pytest.skip("cache on another filesystem: DVC falls back to copies")
    sh("dvc", "checkout", "--relink", cwd=project)
    copies = [p.name for p in crops if p.stat().st_nlink < 2]
    assert copies == []
    assert "up to date" in sh("dvc", "status", cwd=project)


def test_repro_from_scratch_is_byte_identical(project: Path) -> None:
    first = out_hashes(project)
    for d in ("data", "models", "reports"):
        shutil.rmtree(project / d, ignore_errors=True)
    shutil.rmtree(project / ".dvc" / "cache", ignore_errors=True)
    sh("dvc", "repro", "--force", cwd=project)
    assert out_hashes(project) == first


def test_push_and_pull_a_versioned_dataset(project: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    sh("dvc", "remote", "add", "-d", "local", str(remote), cwd=project)
    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-qm", "dataset v1", cwd=project)
    sh("dvc", "push", cwd=project)
    clone = tmp_path / "clone"
    sh("git", "clone", "-q", str(project), str(clone), cwd=tmp_path)
    sh("dvc", "pull", "triplets", cwd=clone)
    a = (project / "data" / "triplets" / "triplets.parquet").read_bytes()
    b = (clone / "data" / "triplets" / "triplets.parquet").read_bytes()
    assert a == b
