"""The review stage as `dvc repro` runs it: no database, only the decisions file."""

from __future__ import annotations

import pandas as pd
import pytest

from pcbforge.cli import main
from pcbforge.config import Params
from pcbforge.datasets.manifest import read_manifest
from pcbforge.errors import InputError
from pcbforge.pipelines import review
from tests.helpers.review_inputs import CAP_ATTRIBUTION, CC_BY_URL, write_review_inputs


def _accepted(params: Params):
    return read_manifest(params.path(params.review.out) / "accepted.parquet", "review").set_index("id")


def test_stage_without_decisions_applies_dedup_and_quality(params: Params) -> None:
    inputs = write_review_inputs(params)
    summary = review.run(params)
    assert "4 of 7 images accepted (3 rejected, 0 errors" in summary and "accepted.parquet" in summary
    df = _accepted(params)
    ids = inputs.ids
    assert inputs.crawl_reject_id not in df.index  # only crawled ok images
    assert df.loc[ids["cap_copy"], "status"] == "rejected"
    assert df.loc[ids["cap_copy"], "error"] == f"duplicate of {ids['cap']} (near, distance 4)"
    assert df.loc[ids["tiny"], "error"] == "quality: too_small"
    assert df.loc[ids["diode"], "status"] == "ok"  # blurry is not in drop_quality_flags
    assert (df["decision"] == "auto").all()
    assert df.loc[ids["cap"], "path"].startswith("files/")
    assert list(df.reset_index().columns) == [
        "id", "class_label", "path", "sha256", "source", "image_url", "page_url",
        "licence", "author", "attribution", "licence_url", "cluster", "decision", "status", "error",
    ]  # fmt: skip
    # The database must not be needed, nor touched.
    assert not params.path(params.review.database_dir).exists()


def test_attribution_and_licence_url_carried_from_the_crawl(params: Params) -> None:
    inputs = write_review_inputs(params)
    review.run(params)
    df = _accepted(params)
    cap, cap_copy = inputs.ids["cap"], inputs.ids["cap_copy"]
    assert df.loc[cap, "attribution"] == CAP_ATTRIBUTION and df.loc[cap, "licence_url"] == CC_BY_URL
    assert df.loc[cap, "author"] == "author-cap"
    # Rows are carried whatever their status, and a source that gives none stays null.
    assert df.loc[cap_copy, "status"] == "rejected" and pd.isna(df.loc[cap_copy, "attribution"])
    others = df.drop(index=[cap])
    assert others["attribution"].isna().all() and others["licence_url"].isna().all()


def test_crawl_manifest_without_the_new_columns_gives_nulls(params: Params) -> None:
    inputs = write_review_inputs(params)
    images = pd.read_parquet(inputs.images).drop(columns=["attribution", "licence_url"])
    images.to_parquet(inputs.images)
    review.run(params)
    df = _accepted(params)
    assert len(df) == 7 and df["attribution"].isna().all() and df["licence_url"].isna().all()
    assert df.loc[inputs.ids["cap"], "licence"] == "CC-BY-4.0"


def _decide(params: Params) -> dict[str, str]:
    """Write the review inputs and a decisions file touching four images; return the ids."""
    ids = write_review_inputs(params).ids
    params.path(params.review.decisions).write_text(
        "id,decision,value,annotator,note\n"
        f"{ids['relay']},reject,,alice,a fuse really\n"
        f"{ids['res_copy']},not-duplicate,,alice,\n"
        f"{ids['res_copy']},relabel,ceramic_capacitor,alice,\n"
        f"{ids['tiny']},accept,,bob,fine when upscaled\n"
    )
    return ids


def test_decisions_are_applied(params: Params) -> None:
    ids = _decide(params)
    review.run(params)
    df = _accepted(params)
    assert df.loc[ids["relay"], "status"] == "rejected"
    assert df.loc[ids["relay"], "error"] == "rejected by alice: a fuse really"
    assert df.loc[ids["res_copy"], "status"] == "ok"
    assert df.loc[ids["res_copy"], "class_label"] == "ceramic_capacitor"
    assert df.loc[ids["res_copy"], "cluster"] == ids["res_copy"]
    assert df.loc[ids["tiny"], "status"] == "ok" and df.loc[ids["tiny"], "decision"] == "accept"


def test_output_with_decisions_is_byte_identical_on_rerun(params: Params) -> None:
    _decide(params)
    review.run(params)
    out = params.path(params.review.out) / "accepted.parquet"
    first = out.read_bytes()
    review.run(params)
    assert out.read_bytes() == first


def test_malformed_decisions_file_is_a_one_line_user_error(
    params: Params, capsys: pytest.CaptureFixture[str]
) -> None:
    write_review_inputs(params)
    decisions = params.path(params.review.decisions)
    decisions.write_text("id,decision,value,annotator,note\nabc,reject,,a,\nabc,relabel,transformer,a,\n")
    with pytest.raises(SystemExit) as exc:
        main(["review", "--params", str(params.root / "params.yaml")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"{decisions}:3: relabel to unknown class 'transformer'" in err and len(err.splitlines()) == 1
    assert not (params.path(params.review.out) / "accepted.parquet").exists()


def test_missing_input_names_the_stage(params: Params) -> None:
    with pytest.raises(InputError, match=r"run `pcbforge crawl`"):
        review.run(params)
