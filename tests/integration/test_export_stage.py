"""Stage ``export`` on fake triplets + the real simulate stage: every format, manifest, determinism, errors."""

from __future__ import annotations

import csv
import hashlib
import json
import tarfile
from pathlib import Path

import pandas as pd
import pytest

from pcbforge.config import Params
from pcbforge.errors import InputError
from pcbforge.pipelines import export, simulate
from tests.helpers.params import tiny_params
from tests.helpers.triplets_fixture import write_components, write_triplets

SPLITS = ("train", "train", "train", "val", "test", "test", "test")


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def prepare(p: Params) -> None:
    """Triplets from the fixture; pairs from the real simulate stage on fake crops."""
    write_triplets(p.path(p.triplets.out), splits=SPLITS, bad=1)
    write_components(p.path(p.crop.out), n=2, size=p.base.image_size)
    simulate.run(p)


def test_export_writes_every_format(params: Params) -> None:
    prepare(params)
    summary = export.run(params)
    out = params.path(params.export.out)
    assert "7 triplets + 8 pairs" in summary and str(out) in summary
    assert sorted(p.name for p in out.iterdir()) == ["export.parquet", "mvtec", "pairs", "webdataset"]

    manifest = pd.read_parquet(out / "export.parquet")
    assert len(manifest) == 7 + 8 and (manifest["status"] == "ok").all()
    assert set(manifest.loc[manifest["source"] == "simulate", "formats"]) == {"pairs,mvtec,webdataset"}
    val = manifest[manifest["split"] == "val"]
    assert (val["formats"] == "pairs,webdataset").all() and val["notes"].str.contains("val split").all()

    rows = list(csv.DictReader((out / "pairs" / "pairs.csv").open()))
    assert len(rows) == 2 * 7 + 8
    assert sum(r["label"] == "1" for r in rows) == 7

    mvtec = out / "mvtec"
    assert len(list((mvtec / "test" / "simulated_shape").glob("*.png"))) == 8
    assert len(list((mvtec / "ground_truth" / "simulated_shape").glob("*_mask.png"))) == 8
    assert len(list((mvtec / "test" / "good").glob("*.png"))) == SPLITS.count("test")

    index = json.loads((out / "webdataset" / "index.json").read_text())
    assert index["shard_size"] == params.export.shard_size == 16
    assert index["streams"]["pairs"]["samples"] == 8
    assert index["streams"]["triplets-train"]["samples"] == 3
    with tarfile.open(out / "webdataset" / "pairs-000000.tar") as tar:
        names = tar.getnames()
        assert {m.mtime for m in tar.getmembers()} == {params.base.source_date_epoch}
    assert len(names) == 8 * 4 and names == sorted(names, key=lambda n: n.split(".")[0]) and names[0].endswith(
        ".template.png"
    )


def test_export_is_byte_identical_on_rerun(tmp_path: Path) -> None:
    outs = []
    for name in ("a", "b"):
        p = tiny_params(tmp_path / name, {"export": {"shard_size": 3}})
        prepare(p)
        export.run(p)
        outs.append(digests(p.path(p.export.out)))
    assert outs[0] == outs[1]
    assert sum(k.endswith(".tar") for k in outs[0]) == 3 + 1 + 1 + 1  # pairs 8/3, train 3/3, val, test 3/3


def test_formats_param_selects_layouts(tmp_path: Path) -> None:
    p = tiny_params(tmp_path, {"export": {"formats": ["mvtec"]}})
    prepare(p)
    export.run(p)
    out = p.path(p.export.out)
    assert sorted(x.name for x in out.iterdir()) == ["export.parquet", "mvtec"]


def test_missing_image_is_an_error_row(params: Params) -> None:
    prepare(params)
    trip = params.path(params.triplets.out)
    df = pd.read_parquet(trip / "triplets.parquet")
    victim = df[df["status"] == "ok"].iloc[0]
    (trip / victim["negative_path"]).unlink()
    export.run(params)
    manifest = pd.read_parquet(params.path(params.export.out) / "export.parquet")
    row = manifest.set_index("id").loc[victim["id"]]
    assert row["status"] == "error" and victim["negative_path"] in row["error"] and row["formats"] == ""
    rows = list(csv.DictReader((params.path(params.export.out) / "pairs" / "pairs.csv").open()))
    assert victim["id"] not in {r["source_id"] for r in rows}


def test_missing_pairs_manifest_is_an_input_error(params: Params) -> None:
    write_triplets(params.path(params.triplets.out))
    with pytest.raises(InputError, match=r"pairs\.parquet.*pcbforge simulate"):
        export.run(params)


def test_triplets_without_contract_columns_is_an_input_error(params: Params) -> None:
    prepare(params)
    path = params.path(params.triplets.out) / "triplets.parquet"
    pd.read_parquet(path).drop(columns=["negative_kind"]).to_parquet(path)
    with pytest.raises(InputError, match="negative_kind"):
        export.run(params)
