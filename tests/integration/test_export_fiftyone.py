"""``pcbforge export --fiftyone``: the triplets as a persistent FiftyOne dataset, on a real mongod.

FiftyOne's bundled ``mongod`` keeps its files in the run's shared ``db_dir`` (tests/conftest.py).
Round trip: the dataset loaded back by name holds one group per ok triplet, every image and
field the manifest gives, and each negative's mask equal to its file.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from pcbforge.cli import app
from pcbforge.config import Params
from pcbforge.datasets import fiftyone_triplets
from tests.helpers.params import tiny_params
from tests.helpers.triplets_fixture import write_triplets

pytestmark = pytest.mark.slow

SPLITS = ("train", "train", "val", "test", "test")
KINDS = ("gray_patch", "other_class", "missing")


@pytest.fixture()
def fo_params(tmp_path: Path, db_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Params:
    # configure() exports the database dir for FiftyOne's subprocesses; undo that after the test.
    monkeypatch.setenv("FIFTYONE_DATABASE_DIR", str(db_dir))
    p = tiny_params(tmp_path, {"review": {"database_dir": str(db_dir)}})
    write_triplets(p.path(p.triplets.out), splits=SPLITS, per_anchor=2, kinds=KINDS, rejected=1)
    return p


def test_triplets_round_trip_through_a_persistent_dataset(fo_params: Params) -> None:
    import fiftyone as fo

    name = f"test-triplets-{uuid.uuid4().hex[:8]}"
    root = fo_params.path(fo_params.triplets.out)
    df = pd.read_parquet(root / "triplets.parquet")
    ok = df[df["status"] == "ok"].set_index("id")
    assert len(ok) < len(df)  # the rejected row must stay out

    summary = fiftyone_triplets.run(fo_params, name)
    assert f"{len(ok)} triplets" in summary
    try:
        ds = fo.load_dataset(name)  # by name, as a later session would
        assert ds.persistent
        assert ds.media_type == "group" and ds.default_group_slice == "negative"
        assert sorted(ds.group_slices) == ["anchor", "negative", "positive"]
        for role in fiftyone_triplets.ROLES:
            view = ds.select_group_slices(role)
            assert sorted(view.values("triplet_id")) == sorted(ok.index)
            got = dict(zip(view.values("triplet_id"), view.values("filepath"), strict=True))
            assert got == {t: str((root / ok.loc[t, f"{role}_path"]).resolve()) for t in ok.index}
        neg = ds.select_group_slices("negative")
        by_id = {s.triplet_id: s for s in neg}
        masks = 0
        for tid, r in ok.iterrows():
            s = by_id[tid]
            assert (s.split, s.class_label, s.negative_kind, s.kind.label) == (r.split, r.class_label, r.negative_kind, r.negative_kind)
            assert s.tags == [r.split]
            assert s.source_url == r.negative_source_url
            assert json.loads(s.defect_params) == json.loads(r.defect_params)
            if isinstance(r.negative_mask_path, str):
                masks += 1
                want = np.asarray(Image.open(root / r.negative_mask_path))
                assert np.array_equal(s.defect.get_mask(), want)
                assert want.any()
            else:
                assert s.defect is None
        assert masks > 0
        assert ds.mask_targets == {"defect": {255: "defect"}}
        # Split counts as the manifest's.
        assert neg.count_values("split") == ok["split"].value_counts().to_dict()

        # A rebuild replaces the dataset rather than adding to it.
        fiftyone_triplets.run(fo_params, name)
        assert len(fo.load_dataset(name).select_group_slices()) == 3 * len(ok)
    finally:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)


def test_cli_option_loads_the_dataset(fo_params: Params, tmp_path: Path) -> None:
    import fiftyone as fo

    name = f"test-cli-{uuid.uuid4().hex[:8]}"
    params_file = tmp_path / "params.yaml"  # written by tiny_params
    try:
        res = CliRunner().invoke(app, ["export", "--params", str(params_file), "--fiftyone", name])
        assert res.exit_code == 0, res.output
        assert name in res.output
        assert not fo_params.path(fo_params.export.out).exists()  # the file export did not run
        assert fo.load_dataset(name).persistent
    finally:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)
