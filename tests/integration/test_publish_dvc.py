"""Publishing a dataset version and pulling it by tag, with two real git repositories and a local DVC remote.

The producer is a tiny fake project (fixture components, not the demo) whose dvc.yaml runs
the real ``triplets``, ``simulate`` and ``export`` stages. It builds, tags ``v1``, changes a
param, builds, tags ``v2`` and pushes to a local-directory remote, then loses its own DVC
cache, so every later read must come from the remote as it would on another machine. The
consumer ``dvc import``s the triplets at ``v1`` and loads both versions by tag with the
loader; each must be byte-for-byte the manifest the producer built (docs/publish.md).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

from pcbforge.datasets.loaders import PairDataset, TripletDataset, load_pairs, load_triplets
from pcbforge.errors import InputError
from tests.helpers.components_fixture import write_components
from tests.helpers.params import write_params
from tests.integration.test_pipeline_dvc import sh

pytestmark = pytest.mark.slow

#: The producer's pipeline: the project's real stage commands over committed fixture components.
DVC_YAML = {
    "stages": {
        "triplets": {
            "cmd": "pcbforge triplets",
            "deps": ["data/crop", "data/split"],
            "params": ["base.seed", "triplets"],
            "outs": ["data/triplets"],
        },
        "simulate": {"cmd": "pcbforge simulate", "params": ["base.seed", "simulate"], "outs": ["data/simulate"]},
        "export": {
            "cmd": "pcbforge export",
            "deps": ["data/triplets", "data/simulate"],
            "params": ["export"],
            "outs": ["data/export"],
        },
    }
}
TINY = {
    "triplets": {"per_component": 1},
    "simulate": {"pairs": 4, "mode": "shapes", "image_size": 48, "contact_sheet": 0},
    "export": {"formats": ["pairs", "webdataset"]},
}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(project: Path, tag: str) -> dict[str, str]:
    """`dvc repro`, commit and tag; return the manifests' hashes as built."""
    sh("dvc", "repro", cwd=project)
    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-qm", f"dataset {tag}", cwd=project)
    sh("git", "tag", tag, cwd=project)
    return {
        "triplets": sha(project / "data/triplets/triplets.parquet"),
        "simulate": sha(project / "data/simulate/pairs.parquet"),
        "card": sha(project / "data/export/CARD.json") if (project / "data/export/CARD.json").exists() else "",
    }


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, dict[str, str]]]:
    root = tmp_path_factory.mktemp("publish")
    producer, remote = root / "producer", root / "remote"
    producer.mkdir()
    write_params(producer, TINY)
    (producer / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML, sort_keys=False))
    write_components(producer / "data/crop", producer / "data/split", per_class=2)
    sh("git", "init", "-q", "-b", "main", cwd=producer)
    sh("dvc", "init", "-q", cwd=producer)
    sh("dvc", "config", "core.analytics", "false", cwd=producer)
    # The documented publishing steps: a default remote in .dvc/config, committed with the data.
    sh("dvc", "remote", "add", "-d", "storage", str(remote), cwd=producer)
    sh("dvc", "add", "-q", "data/crop", "data/split", cwd=producer)
    built = {"v1": build(producer, "v1")}
    params = yaml.safe_load((producer / "params.yaml").read_text())
    params["triplets"]["per_component"] = 2
    params["simulate"]["pairs"] = 5
    (producer / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    built["v2"] = build(producer, "v2")
    sh("dvc", "push", "-q", "--all-tags", cwd=producer)
    # From here on the data exists only in the remote (as for a consumer on another machine).
    shutil.rmtree(producer / ".dvc" / "cache")
    return producer, root, built


def test_two_tags_are_two_versions(published: tuple[Path, Path, dict[str, dict[str, str]]]) -> None:
    _, _, built = published
    assert built["v1"]["triplets"] != built["v2"]["triplets"]
    assert built["v1"]["simulate"] != built["v2"]["simulate"]


def test_consumer_imports_v1_and_loads_v1_and_v2_exactly(published: tuple[Path, Path, dict[str, dict[str, str]]]) -> None:
    producer, root, built = published
    consumer = root / "consumer"
    consumer.mkdir()
    sh("git", "init", "-q", "-b", "main", cwd=consumer)
    sh("dvc", "init", "-q", cwd=consumer)
    sh("dvc", "import", "-q", str(producer), "data/triplets", "-o", "triplets", "--rev", "v1", cwd=consumer)
    assert sha(consumer / "triplets/triplets.parquet") == built["v1"]["triplets"]
    lock = yaml.safe_load((consumer / "triplets.dvc").read_text())
    assert lock["deps"][0]["repo"]["rev"] == "v1"  # the import is pinned to the tag

    imported = load_triplets(consumer / "triplets")
    cache = root / "loader-cache"
    for tag in ("v1", "v2"):
        frame = load_triplets(str(producer), rev=tag, cache_dir=cache)
        assert sha(frame.attrs["root"] / "triplets.parquet") == built[tag]["triplets"], tag
        anchor, positive, negative, mask, meta = TripletDataset(frame, input_size=32, masks=True)[0]
        assert anchor.shape == (3, 32, 32) and mask.shape == (1, 32, 32)
        pairs = load_pairs(str(producer), rev=tag, cache_dir=cache)
        assert sha(pairs.attrs["root"] / "pairs.parquet") == built[tag]["simulate"], tag
        template, defected, pmask, _ = PairDataset(pairs)[0]
        assert template.shape == defected.shape and pmask.shape[1:] == template.shape[1:]
    v1 = load_triplets(str(producer), rev="v1", cache_dir=cache)
    assert v1["id"].tolist() == imported["id"].tolist()
    assert len(load_triplets(str(producer), rev="v2", cache_dir=cache)) == 2 * len(v1)


def test_dvc_get_the_export_with_its_card(published: tuple[Path, Path, dict[str, dict[str, str]]]) -> None:
    producer, root, built = published
    out = root / "export-v2"
    sh("dvc", "get", "-q", str(producer), "data/export", "-o", str(out), "--rev", "v2", cwd=root)
    assert (out / "CARD.md").is_file()
    assert sha(out / "CARD.json") == built["v2"]["card"]


def test_a_missing_path_or_tag_is_one_clear_error(published: tuple[Path, Path, dict[str, dict[str, str]]]) -> None:
    producer, root, _ = published
    with pytest.raises(InputError, match="v9"):
        load_triplets(str(producer), rev="v9", cache_dir=root / "c2")
    with pytest.raises(InputError, match="no folder 'data/nothing'"):
        load_triplets(str(producer), rev="v1", path="data/nothing", cache_dir=root / "c2")


def test_a_lost_or_corrupt_file_in_a_pulled_version_is_named_by_id(
    published: tuple[Path, Path, dict[str, dict[str, str]]],
) -> None:
    producer, root, _ = published
    got = root / "got-v1"
    sh("dvc", "get", "-q", str(producer), "data/triplets", "-o", str(got), "--rev", "v1", cwd=root)
    frame = load_triplets(got)
    lost, broken = frame.iloc[0], frame.iloc[1]
    (got / lost["positive_path"]).unlink()
    with pytest.raises(InputError, match=rf"missing: {lost['id']} \(positive_path"):
        load_triplets(got)
    (got / lost["positive_path"]).write_bytes((got / lost["anchor_path"]).read_bytes())
    (got / broken["negative_path"]).write_bytes(b"truncated")
    ds = TripletDataset(load_triplets(got), input_size=32)
    with pytest.raises(InputError, match=rf"triplets sample {broken['id']}: image unreadable"):
        ds[1]
