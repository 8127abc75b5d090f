"""Declared manifest schemas: cast and validation on write, version and column checks on read."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pcbforge.datasets.manifest import (
    MANIFEST_NAMES,
    conform,
    error_row,
    manifest_info,
    ok_row,
    read_manifest,
    to_frame,
    write_manifest,
)
from pcbforge.datasets.schemas import LINEAGE_COLUMNS, METADATA_KEY, SCHEMAS, columns, manifest_schema
from pcbforge.errors import InputError
from tests.helpers.fake_project import row, write_rows


def test_every_manifest_has_a_schema_with_the_shared_columns() -> None:
    assert set(SCHEMAS) == set(MANIFEST_NAMES)
    for stage, ms in SCHEMAS.items():
        assert ms.file == MANIFEST_NAMES[stage]
        assert ms.version >= 1
        schema = ms.schema
        assert not schema.field("id").nullable and not schema.field("status").nullable
        assert schema.field("error").nullable and schema.field("error").type == pa.string()
        # No null-typed column can be declared: every type is a concrete one.
        assert all(not pa.types.is_null(f.type) for f in schema), stage


def test_lineage_is_declared_once_for_the_manifests_that_carry_it() -> None:
    for stage in ("crop", "triplets", "simulate"):
        assert set(LINEAGE_COLUMNS) <= set(columns(stage)), stage
    assert {f"negative_{c}" for c in LINEAGE_COLUMNS} <= set(columns("triplets"))


def test_all_null_error_is_a_string_column_and_two_manifests_concatenate(tmp_path: Path) -> None:
    a = write_manifest(to_frame([ok_row(id="a", source="triplets")]), tmp_path / "a.parquet", stage="export")
    b = write_manifest(
        to_frame([error_row("missing file", id="b", source="simulate")]), tmp_path / "b.parquet", stage="export"
    )
    ta, tb = pq.read_table(a), pq.read_table(b)
    assert ta.schema.field("error").type == pa.string() and ta.column("error").null_count == 1
    both = pa.concat_tables([ta, tb])
    assert both.column("id").to_pylist() == ["a", "b"]
    assert both.schema.equals(SCHEMAS["export"].schema, check_metadata=False)


def test_columns_come_out_in_declared_order_with_typed_nulls_for_absent_ones() -> None:
    df = pd.DataFrame({"status": ["ok"], "distance": [3.0], "id": ["x"], "keep": [True]})
    t = conform(df, "dedup")
    assert tuple(t.column_names) == columns("dedup")
    assert t.schema.field("distance").type == pa.int64() and t.column("distance").to_pylist() == [3]
    assert t.column("phash").type == pa.string() and t.column("phash").null_count == 1
    assert t.to_pandas()["distance"].dtype == "Int64"


@pytest.mark.parametrize(
    ("frame", "needle"),
    [
        (pd.DataFrame({"id": ["a"], "status": ["ok"], "colour": ["red"]}), r"columns \['colour'\] are not declared"),
        (pd.DataFrame({"id": ["a"]}), r"lacks non-nullable columns \['status'\]"),
        (pd.DataFrame({"id": ["a", None], "status": ["ok", "ok"]}), r"column 'id' is non-nullable but has 1 null"),
        (pd.DataFrame({"id": ["a"], "status": ["ok"], "notes": [3]}), r"column 'notes' is not string"),
    ],
)
def test_a_frame_that_does_not_fit_names_the_column_and_the_manifest(
    tmp_path: Path, frame: pd.DataFrame, needle: str
) -> None:
    with pytest.raises(ValueError, match=needle) as info:
        write_manifest(frame, tmp_path / "export.parquet", stage="export")
    assert "export.parquet" in str(info.value)
    assert not (tmp_path / "export.parquet").exists()


def test_a_wrongly_typed_number_names_its_column() -> None:
    df = pd.DataFrame({"id": ["a"], "status": ["ok"], "width": ["wide"]})
    with pytest.raises(ValueError, match=r"quality.parquet: column 'width' is not int64"):
        conform(df, "quality")


def test_a_row_column_the_schema_does_not_declare_is_refused_not_dropped() -> None:
    # Stage code builds frames with to_frame(rows, stage=...): a computed column that was never
    # declared must fail loudly instead of vanishing from the manifest.
    with pytest.raises(ValueError, match=r"export.parquet: rows hold columns \['new_metric'\] not declared"):
        to_frame([ok_row(id="a", source="triplets", new_metric=0.5)], stage="export")


def test_a_fraction_in_an_integer_list_column_is_refused_not_truncated() -> None:
    df = pd.DataFrame({"id": ["a"], "status": ["ok"], "context_box": [[1.5, 2.0, 3.0, 4.0]]})
    with pytest.raises(ValueError, match=r"column 'context_box' is list<element: int64> but holds a fraction"):
        conform(df, "crop")


def test_whole_floats_in_an_integer_list_column_are_kept() -> None:
    df = pd.DataFrame({"id": ["a"], "status": ["ok"], "context_box": [[1.0, 2.0, 3.0, 4.0]]})
    assert conform(df, "crop").column("context_box").to_pylist() == [[1, 2, 3, 4]]


def test_an_integer_too_large_for_int64_names_its_column() -> None:
    df = pd.DataFrame({"id": ["a"], "status": ["ok"], "width": [2**70]})
    with pytest.raises(ValueError, match=r"quality.parquet: column 'width' is not int64"):
        conform(df, "quality")


def test_a_declared_column_an_older_file_lacks_reads_as_nulls(tmp_path: Path) -> None:
    path = tmp_path / "images.parquet"
    pq.write_table(pa.table({"id": ["a"], "status": ["ok"], "path": ["files/a.png"]}), path)
    df = read_manifest(path, "crawl", require=("id", "path"))
    assert list(df.columns[:3]) == ["id", "status", "path"]
    assert set(columns("crawl")) <= set(df.columns)
    assert df.loc[0, "licence"] is None and df.loc[0, "fetched_at"] is None


def test_the_schema_version_is_in_the_file_metadata(tmp_path: Path) -> None:
    path = write_rows("split", [{"id": "c1", "split": "train"}], tmp_path)
    info = manifest_info(pq.read_schema(path))
    assert info == {"stage": "split", "schema_version": SCHEMAS["split"].version}


def _with_info(path: Path, **info: object) -> None:
    table = pq.read_table(path)
    meta = {**table.schema.metadata, METADATA_KEY: json.dumps(info).encode()}
    pq.write_table(table.replace_schema_metadata(meta), path)


def test_a_manifest_from_a_newer_schema_version_is_refused_in_one_line(tmp_path: Path) -> None:
    path = write_rows("split", [{"id": "c1", "split": "train"}], tmp_path)
    newer = SCHEMAS["split"].version + 1
    _with_info(path, stage="split", schema_version=newer)
    with pytest.raises(InputError, match=rf"schema version {newer} is newer than this pcbforge reads") as info:
        read_manifest(path, "split")
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_a_manifest_without_metadata_is_read_as_an_older_one(tmp_path: Path) -> None:
    path = tmp_path / "split.parquet"
    pd.DataFrame({"id": ["a"], "split": ["val"], "status": ["ok"]}).to_parquet(path)
    assert read_manifest(path, "split", require=("id", "split"))["split"].tolist() == ["val"]


def test_another_stages_manifest_is_refused(tmp_path: Path) -> None:
    path = write_rows("split", [{"id": "c1", "split": "train"}], tmp_path)
    with pytest.raises(InputError, match="is a split manifest, not the crop one"):
        read_manifest(path, "crop")


def test_missing_required_columns_name_file_columns_and_stage(tmp_path: Path) -> None:
    path = tmp_path / "pairs.parquet"
    pd.DataFrame({"id": ["a"], "status": ["ok"]}).to_parquet(path)
    with pytest.raises(InputError) as info:
        read_manifest(path, "simulate", require=("id", "split", "mask_path"))
    assert str(info.value) == (
        f"{path} lacks columns ['split', 'mask_path']: re-run `pcbforge simulate` (see docs/stages.md, pairs.parquet)"
    )


def test_requiring_an_undeclared_column_is_a_bug() -> None:
    with pytest.raises(ValueError, match=r"\['colour'\] are not columns of the crop schema"):
        read_manifest("whatever.parquet", "crop", require=("id", "colour"))


def test_fixture_rows_are_full_rows_of_the_schema() -> None:
    r = row("triplets", id="t1", split="test")
    assert set(r) == set(columns("triplets"))
    assert r["status"] == "ok" and r["negative_licence"] is None
    with pytest.raises(KeyError, match="declares no columns"):
        row("triplets", id="t1", colour="red")


def test_an_unknown_stage_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known: catalog, crawl"):
        manifest_schema("train")


def _catalog_rows() -> list[dict[str, Any]]:
    """Real catalog rows: products, duplicates (dup_transform set), junk, boards (n_objects set)."""
    import json

    from pcbforge.catalog import site
    from pcbforge.catalog.build import _board_row, _item_row

    rows = [_item_row(it, it.id.encode(), 64, 48) for it in site.plan(3, 2, 0.5, 3)]
    for r in rows[::4]:
        r["dup_transform"] = json.dumps({"scale": 0.5})
    rows += [_board_row(f"board-{i:03d}", b"png%d" % i, 4 + i, (320, 240), (3, 8)) for i in range(3)]
    return rows


@pytest.mark.parametrize("chunk", [1, 5, 4096])
def test_manifest_writer_writes_the_bytes_write_manifest_writes(tmp_path: Path, chunk: int) -> None:
    from pcbforge.datasets.manifest import ManifestWriter

    rows = _catalog_rows()
    assert len(rows) > 10
    whole = write_manifest(to_frame(rows, stage="catalog"), tmp_path / "whole.parquet", stage="catalog")
    w = ManifestWriter(tmp_path / "streamed.parquet", stage="catalog", chunk=chunk)
    for r in reversed(rows):  # order of arrival does not matter: both sort by id
        w.add(r)
    streamed = w.close()
    assert streamed.read_bytes() == whole.read_bytes()


def test_manifest_writer_refuses_duplicate_ids_across_chunks(tmp_path: Path) -> None:
    from pcbforge.datasets.manifest import ManifestWriter

    rows = _catalog_rows()
    w = ManifestWriter(tmp_path / "m.parquet", stage="catalog", chunk=4)
    for r in [*rows, rows[0]]:
        w.add(r)
    with pytest.raises(ValueError, match=f"duplicate ids.*{rows[0]['id']}"):
        w.close()
    assert not (tmp_path / "m.parquet").exists()


def test_manifest_writer_with_no_rows_writes_the_empty_manifest(tmp_path: Path) -> None:
    from pcbforge.datasets.manifest import ManifestWriter

    whole = write_manifest(to_frame([], stage="catalog"), tmp_path / "whole.parquet", stage="catalog")
    assert ManifestWriter(tmp_path / "e.parquet", stage="catalog").close().read_bytes() == whole.read_bytes()


def test_manifest_writer_refuses_a_second_close_and_float_stages(tmp_path: Path) -> None:
    from pcbforge.datasets.manifest import ManifestWriter

    w = ManifestWriter(tmp_path / "m.parquet", stage="catalog")
    w.add(_catalog_rows()[0])
    w.close()
    with pytest.raises(ValueError, match="already written"):
        w.close()
    floats = [s for s in SCHEMAS if any(pa.types.is_floating(f.type) for f in manifest_schema(s).fields)]
    assert floats, "no stage with float columns left to check the refusal on"
    with pytest.raises(ValueError, match="float columns"):
        ManifestWriter(tmp_path / "f.parquet", stage=floats[0])


@pytest.mark.parametrize(("chunk", "row_group"), [(4, 3), (1, 5), (7, 1000)])
def test_manifest_writer_merges_spilled_runs_into_row_groups(tmp_path: Path, chunk: int, row_group: int) -> None:
    from pcbforge.datasets.manifest import ManifestWriter

    rows = _catalog_rows()
    whole = write_manifest(to_frame(rows, stage="catalog"), tmp_path / "whole.parquet", stage="catalog")
    written = []
    for name in ("a", "b"):
        w = ManifestWriter(tmp_path / name / "m.parquet", stage="catalog", chunk=chunk, row_group=row_group)
        for r in reversed(rows):
            w.add(r)
        written.append(w.close())
        assert sorted(p.name for p in (tmp_path / name).iterdir()) == ["m.parquet"], "a spill file was left behind"
    streamed = pq.ParquetFile(written[0])
    assert streamed.metadata.num_row_groups == -(-len(rows) // row_group)
    assert streamed.read().equals(pq.read_table(whole))
    assert streamed.schema_arrow.metadata == pq.read_schema(whole).metadata
    assert written[0].read_bytes() == written[1].read_bytes()
    if len(rows) <= row_group:
        assert written[0].read_bytes() == whole.read_bytes()


def test_read_manifest_reads_only_the_columns_asked_for(tmp_path: Path) -> None:
    rows = _catalog_rows()
    path = write_manifest(to_frame(rows, stage="catalog"), tmp_path / "c.parquet", stage="catalog")
    df = read_manifest(path, "catalog", require=("id", "status"), columns=("title", "n_objects"))
    assert list(df.columns) == ["id", "status", "title", "n_objects"]
    assert df["title"].tolist() == read_manifest(path, "catalog")["title"].tolist()
    with pytest.raises(ValueError, match="not columns of the catalog schema"):
        read_manifest(path, "catalog", columns=("no_such_column",))


def test_a_discarded_manifest_writer_writes_nothing_and_takes_no_more_rows(tmp_path: Path) -> None:
    from pcbforge.datasets.manifest import ManifestWriter

    w = ManifestWriter(tmp_path / "m.parquet", stage="catalog", chunk=2)
    for r in _catalog_rows()[:5]:
        w.add(r)
    spill = w._spill
    assert spill is not None and not spill.closed
    w.discard()
    assert spill.closed and list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="already written or discarded"):
        w.add(_catalog_rows()[0])
    with pytest.raises(ValueError, match="already written"):
        w.close()
