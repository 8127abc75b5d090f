"""Review with FiftyOne on a real mongod: build, tag as an annotator, pull, wipe, re-apply.

FiftyOne starts its bundled ``mongod`` (database files in a temp dir) unless
``FIFTYONE_DATABASE_URI`` points at a shared MongoDB; the service stops when pytest exits.
One FiftyOne connection lives per process, so every test shares one database dir (``db_dir``,
tests/conftest.py).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pcbforge.clean.fiftyone_review import VIEW_CLUSTERS, VIEW_LOW_QUALITY, class_view_name
from pcbforge.clean.review import read_decisions, write_decisions
from pcbforge.config import Params
from pcbforge.datasets.manifest import read_manifest
from pcbforge.errors import InputError
from pcbforge.pipelines import review
from tests.helpers.params import tiny_params
from tests.helpers.review_inputs import CAP_ATTRIBUTION, CC_BY_URL, write_review_inputs

pytestmark = pytest.mark.slow


@pytest.fixture()
def fo_params(tmp_path: Path, db_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Params:
    # configure() exports the database dir for FiftyOne's subprocesses; undo that after the test.
    monkeypatch.setenv("FIFTYONE_DATABASE_DIR", str(db_dir))
    monkeypatch.setenv("FIFTYONE_DO_NOT_TRACK", "true")
    name = f"pcbforge-review-test-{tmp_path.name}"
    return tiny_params(tmp_path, {"review": {"database_dir": str(db_dir), "dataset_name": name}})


def _ids_of(view) -> set[str]:
    return set(view.values("pcb_id"))


def test_tags_pulled_into_decisions_survive_a_database_wipe(
    fo_params: Params, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fiftyone as fo

    params = fo_params
    name = params.review.dataset_name
    ids = write_review_inputs(params).ids
    summary = review.run(params, build=True)
    assert f"FiftyOne dataset {name!r}: 7 samples" in summary
    if not os.environ.get("FIFTYONE_DATABASE_URI") and not fo.config.database_uri:
        assert any(params.path(params.review.database_dir).rglob("*.wt")), "bundled mongod did not use database_dir"

    ds = fo.load_dataset(name)
    assert ds.persistent
    expected_views = {VIEW_CLUSTERS, VIEW_LOW_QUALITY} | {class_view_name(c) for c in params.taxonomy().names()}
    assert set(ds.list_saved_views()) == expected_views
    clusters = ds.load_saved_view(VIEW_CLUSTERS)
    assert _ids_of(clusters) == {ids["cap"], ids["cap_copy"], ids["res"], ids["res_copy"]}
    order = clusters.values("pcb_id")
    # Sorted by cluster, the kept representative first in each.
    assert order.index(ids["cap"]) + 1 == order.index(ids["cap_copy"])
    assert order.index(ids["res"]) + 1 == order.index(ids["res_copy"])
    assert _ids_of(ds.load_saved_view(VIEW_LOW_QUALITY)) == {ids["diode"], ids["tiny"]}
    assert _ids_of(ds.load_saved_view(class_view_name("resistor"))) == {ids["tiny"], ids["res"], ids["res_copy"]}
    copy = ds.select_by("pcb_id", [ids["cap_copy"]]).first()
    assert (copy.dup_of, copy.dup_distance, copy.keep, copy.licence) == (ids["cap"], 4, False, "CC-BY-4.0")
    assert copy.dedup.label.startswith("dropped: ") and copy.dedup.label.endswith(f" of {ids['cap']}")  # on the tile
    assert copy.ground_truth.label == "capacitor" and copy.phash
    cap = ds.select_by("pcb_id", [ids["cap"]]).first()
    assert (cap.attribution, cap.licence_url) == (CAP_ATTRIBUTION, CC_BY_URL)  # what a reviewer must credit
    assert cap.dedup.label == "kept"
    assert ds.select_by("pcb_id", [ids["diode"]]).first().quality_flags == ["blurry"]

    # An annotator at work in the App: tags through the FiftyOne API.
    ds.select_by("pcb_id", [ids["relay"]]).tag_samples("reject")
    sample = ds.select_by("pcb_id", [ids["res_copy"]]).first()
    sample.tags.extend(["not-duplicate", "relabel:ceramic_capacitor"])
    sample.save()
    ds.select_by("pcb_id", [ids["tiny"]]).tag_samples("accept")
    ds.select_by("pcb_id", [ids["diode"]]).tag_samples(["relabel:transistorr", "look-again"])

    monkeypatch.setenv("USER", "ann-a")
    summary = review.run(params, pull=True)
    assert "4 decision(s) pulled" in summary and "1 tag(s) ignored" in summary
    rows = read_decisions(params.path(params.review.decisions))
    assert sorted((r.id, r.decision.value, r.value) for r in rows) == sorted(
        [
            (ids["relay"], "reject", ""),
            (ids["res_copy"], "not-duplicate", ""),
            (ids["res_copy"], "relabel", "ceramic_capacitor"),
            (ids["tiny"], "accept", ""),
        ]
    )
    assert {r.annotator for r in rows} == {"ann-a"}
    accepted_path = params.path(params.review.out) / "accepted.parquet"
    with_db = accepted_path.read_bytes()
    df = read_manifest(accepted_path, "review").set_index("id")
    assert df.loc[ids["relay"], "status"] == "rejected"
    assert df.loc[ids["res_copy"], ["status", "class_label"]].tolist() == ["ok", "ceramic_capacitor"]
    assert df.loc[ids["tiny"], "status"] == "ok"

    # A second pull changes nothing (stable file).
    text = params.path(params.review.decisions).read_bytes()
    assert "0 decision(s) pulled" in review.run(params, pull=True)
    assert params.path(params.review.decisions).read_bytes() == text

    # Wipe the database; the decisions file alone reproduces the accepted set.
    ds.delete()
    assert not fo.dataset_exists(name)
    accepted_path.unlink()
    review.run(params)
    assert accepted_path.read_bytes() == with_db

    # A rebuild shows the annotators their earlier decisions as tags.
    review.run(params, build=True)
    ds = fo.load_dataset(name)
    assert ds.select_by("pcb_id", [ids["res_copy"]]).first().tags == ["not-duplicate", "relabel:ceramic_capacitor"]
    assert ds.count_sample_tags() == {"reject": 1, "not-duplicate": 1, "relabel:ceramic_capacitor": 1, "accept": 1}
    ds.delete()


def test_pull_without_dataset_says_to_build(fo_params: Params) -> None:
    write_review_inputs(fo_params)
    with pytest.raises(InputError, match=r"not found .*run `pcbforge review --build` first"):
        review.run(fo_params, pull=True)


@pytest.fixture()
def shared_mongod(tmp_path: Path) -> Iterator[str]:
    """A MongoDB server of our own (FiftyOne's bundled binary) standing in for a shared one."""
    import pymongo
    from fiftyone.core.service import DatabaseService

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dbpath = tmp_path / "shared-mongo"
    dbpath.mkdir()
    proc = subprocess.Popen(
        [DatabaseService.find_mongod(), "--dbpath", str(dbpath), "--port", str(port), "--bind_ip", "127.0.0.1",
         "--nounixsocket", "--logpath", str(dbpath / "mongod.log")],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = f"mongodb://127.0.0.1:{port}"
    try:
        client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=30_000)
        client.admin.command("ping")
        client.close()
        yield uri
    finally:
        proc.terminate()
        proc.wait(60)


def test_build_uses_shared_mongodb_from_env(tmp_path: Path, shared_mongod: str) -> None:
    import pymongo

    params = tiny_params(tmp_path / "project", {"review": {"dataset_name": "shared-review"}})
    write_review_inputs(params)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIFTYONE_")}
    env |= {"FIFTYONE_DATABASE_URI": shared_mongod, "FIFTYONE_DO_NOT_TRACK": "true"}
    done = subprocess.run(
        [sys.executable, "-m", "pcbforge.cli", "review", "--build", "--params", str(params.root / "params.yaml")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "FiftyOne dataset 'shared-review': 7 samples" in done.stdout
    with pymongo.MongoClient(shared_mongod) as client:
        names = [d["name"] for d in client["fiftyone"]["datasets"].find({}, {"name": 1})]
    assert names == ["shared-review"]
    assert not params.path(params.review.database_dir).exists()  # no bundled mongod was started


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=root, check=True, capture_output=True, text=True,
    )
    return done.stdout


def test_pull_after_git_checkout_of_decisions_keeps_the_revert(
    fo_params: Params, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An annotator reverts a review with git; neither --pull nor --build brings it back."""
    import fiftyone as fo

    params = fo_params
    name = params.review.dataset_name
    ids = write_review_inputs(params).ids
    decisions = params.path(params.review.decisions)
    rel = decisions.relative_to(params.root).as_posix()
    write_decisions(decisions, [])
    _git(params.root, "init", "-q")
    _git(params.root, "add", rel)
    _git(params.root, "commit", "-qm", "no decisions yet")
    committed = decisions.read_bytes()
    monkeypatch.setenv("USER", "ann-a")
    review.run(params, build=True)

    # Tag, pull: the decision lands in the file.
    fo.load_dataset(name).select_by("pcb_id", [ids["relay"]]).tag_samples("reject")
    assert "1 decision(s) pulled" in review.run(params, pull=True)
    assert [(r.id, r.decision.value) for r in read_decisions(decisions)] == [(ids["relay"], "reject")]

    # Revert it with git, pull again: the file stays reverted, the App's tag follows the file.
    _git(params.root, "checkout", "--", rel)
    assert decisions.read_bytes() == committed
    summary = review.run(params, pull=True)
    assert "0 decision(s) pulled" in summary and "tags of 1 sample(s) reset" in summary
    assert decisions.read_bytes() == committed
    assert _git(params.root, "status", "--porcelain", "--", rel) == ""
    ds = fo.load_dataset(name)
    assert ds.select_by("pcb_id", [ids["relay"]]).first().tags == []
    accepted = read_manifest(params.path(params.review.out) / "accepted.parquet", "review").set_index("id")
    assert accepted.loc[ids["relay"], "status"] == "ok"

    # Work done in the App after the revert is still pulled; the reverted decision is not.
    ds.select_by("pcb_id", [ids["diode"]]).tag_samples("reject")
    assert "1 decision(s) pulled" in review.run(params, pull=True)
    assert [(r.id, r.decision.value) for r in read_decisions(decisions)] == [(ids["diode"], "reject")]

    # Reverted again, then the dataset rebuilt before any pull: the rebuild does not bring it back.
    _git(params.root, "checkout", "--", rel)
    review.run(params, build=True)
    ds = fo.load_dataset(name)
    assert ds.count_sample_tags() == {}
    assert "0 decision(s) pulled" in review.run(params, pull=True)
    assert decisions.read_bytes() == committed

    # An untagged-but-unpulled tag survives a rebuild and is pulled (no annotator's work lost).
    ds.select_by("pcb_id", [ids["tiny"]]).tag_samples(["accept", "look-again"])
    review.run(params, build=True)
    assert fo.load_dataset(name).count_sample_tags() == {"accept": 1, "look-again": 1}
    assert "1 decision(s) pulled" in review.run(params, pull=True)
    assert [(r.id, r.decision.value) for r in read_decisions(decisions)] == [(ids["tiny"], "accept")]
    fo.load_dataset(name).delete()


def test_two_checkouts_sharing_one_dataset_each_pull_every_decision(
    tmp_path: Path, db_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two annotators, each in their own checkout, one dataset (as on a shared database):
    a decision one of them pulled reaches the other's file too, and stays in the App."""
    import fiftyone as fo

    monkeypatch.setenv("FIFTYONE_DATABASE_DIR", str(db_dir))
    monkeypatch.setenv("FIFTYONE_DO_NOT_TRACK", "true")
    name = f"pcbforge-review-test-{tmp_path.name}"
    a, b = (tiny_params(tmp_path / who, {"review": {"database_dir": str(db_dir), "dataset_name": name}})
            for who in ("a", "b"))  # fmt: skip
    ids = write_review_inputs(a).ids
    assert write_review_inputs(b).ids == ids  # the same crawl in both checkouts
    file_a, file_b = (p.path(p.review.decisions) for p in (a, b))
    review.run(a, build=True)

    def decided(path: Path) -> list[tuple[str, str]]:
        return sorted((r.id, r.decision.value) for r in read_decisions(path))

    def tags_of(key: str) -> list[str]:
        return fo.load_dataset(name).select_by("pcb_id", [ids[key]]).first().tags

    # A tags and pulls into A's file.
    fo.load_dataset(name).select_by("pcb_id", [ids["relay"]]).tag_samples("reject")
    monkeypatch.setenv("USER", "ann-a")
    summary = review.run(a, pull=True)
    assert "1 decision(s) pulled" in summary and "had changed" not in summary  # build recorded A's file
    assert decided(file_a) == [(ids["relay"], "reject")]

    # B pulls into B's file: A's decision is new to B's checkout, and the App keeps it.
    monkeypatch.setenv("USER", "ann-b")
    summary = review.run(b, pull=True)
    assert "1 decision(s) pulled" in summary and "had changed" not in summary
    assert decided(file_b) == [(ids["relay"], "reject")]
    assert tags_of("relay") == ["reject"]

    # And the other way round: B tags and pulls, A pulls.
    fo.load_dataset(name).select_by("pcb_id", [ids["diode"]]).tag_samples("reject")
    assert "1 decision(s) pulled" in review.run(b, pull=True)
    monkeypatch.setenv("USER", "ann-a")
    summary = review.run(a, pull=True)
    assert "1 decision(s) pulled" in summary and "had changed" not in summary
    assert decided(file_a) == decided(file_b) == sorted([(ids["relay"], "reject"), (ids["diode"], "reject")])
    assert (tags_of("relay"), tags_of("diode")) == (["reject"], ["reject"])
    fo.load_dataset(name).delete()
