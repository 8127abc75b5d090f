"""Decisions file: parsing with file:line errors, merging pulled tags, applying to manifests."""

from __future__ import annotations

import socket
from pathlib import Path

import pandas as pd
import pytest

from pcbforge.clean.fiftyone_review import decision_tags, tags_to_decisions
from pcbforge.clean.review import (
    AUTO,
    Decision,
    DecisionRow,
    apply_decisions,
    format_decisions,
    merge_decisions,
    parse_decisions,
    read_decisions,
    write_decisions,
)
from pcbforge.errors import InputError

HEADER = "id,decision,value,annotator,note\n"


def test_parse_valid_rows_keep_line_numbers() -> None:
    text = HEADER + "a1,reject,,ann,blurry photo\n\nb2,relabel,diode,ann,\nb2,not-duplicate,,bob,\"a, b\"\n"
    rows = parse_decisions(text, "d.csv")
    assert [(r.id, r.decision, r.value, r.line) for r in rows] == [
        ("a1", Decision.REJECT, "", 2),
        ("b2", Decision.RELABEL, "diode", 4),
        ("b2", Decision.NOT_DUPLICATE, "", 5),
    ]
    assert rows[2].note == "a, b"


@pytest.mark.parametrize(
    ("body", "where", "what"),
    [
        ("a1,delete,,ann,\n", "d.csv:2", "unknown decision 'delete'"),
        ("a1,relabel,resistorr,ann,\n", "d.csv:2", "unknown class 'resistorr'"),
        ("a1,reject,,ann\n", "d.csv:2", "4 fields"),
        ("a1,reject,diode,ann,\n", "d.csv:2", "takes no value"),
        (",reject,,ann,\n", "d.csv:2", "bad image id"),
        ("a1,reject,,ann,\nb1,accept,,x,\na1,reject,,bob,\n", "d.csv:4", "first at line 2"),
        ("a1,reject,,ann,\na1,accept,,bob,\n", "d.csv:3", "both rejected and accepted"),
    ],
)
def test_malformed_rows_name_file_and_line(body: str, where: str, what: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_decisions(HEADER + body, "d.csv")
    assert where in str(exc.value) and what in str(exc.value)


def test_bad_header_and_empty_file() -> None:
    with pytest.raises(InputError, match=r"d\.csv:1: bad header"):
        parse_decisions("id,decision,value\n", "d.csv")
    with pytest.raises(InputError, match=r"d\.csv:1: empty file"):
        parse_decisions("", "d.csv")


def test_missing_file_is_no_decisions_and_write_roundtrips(tmp_path: Path) -> None:
    path = tmp_path / "review" / "decisions.csv"
    assert read_decisions(path) == []
    rows = [
        DecisionRow("zz", Decision.REJECT, "", "ann", 'says "junk", really'),
        DecisionRow("aa", Decision.RELABEL, "relay", "ann", ""),
    ]
    write_decisions(path, rows)
    back = read_decisions(path)
    assert [(r.id, r.decision, r.value, r.note) for r in back] == [
        ("aa", Decision.RELABEL, "relay", ""),
        ("zz", Decision.REJECT, "", 'says "junk", really'),
    ]
    assert format_decisions(back) == format_decisions(reversed(back))


def test_merge_keeps_existing_adds_new_and_resolves_conflicts() -> None:
    existing = [
        DecisionRow("a", Decision.REJECT, "", "alice", "watermark"),
        DecisionRow("b", Decision.RELABEL, "diode", "alice", ""),
        DecisionRow("c", Decision.ACCEPT, "", "alice", ""),
        DecisionRow("d", Decision.NOT_DUPLICATE, "", "alice", ""),
    ]
    pulled = [
        DecisionRow("a", Decision.REJECT, "", "bob", "fiftyone tag"),  # same: alice's note stays
        DecisionRow("b", Decision.RELABEL, "relay", "bob", ""),  # changed class: replaced
        DecisionRow("c", Decision.REJECT, "", "bob", ""),  # replaces accept
        DecisionRow("e", Decision.NOT_DUPLICATE, "", "bob", ""),  # new
    ]
    merged, changed = merge_decisions(existing, pulled)
    assert changed == 3
    assert [(r.id, r.decision.value, r.value, r.annotator) for r in merged] == [
        ("a", "reject", "", "alice"),
        ("b", "relabel", "relay", "bob"),
        ("c", "reject", "", "bob"),
        ("d", "not-duplicate", "", "alice"),
        ("e", "not-duplicate", "", "bob"),
    ]
    assert merge_decisions(merged, pulled) == (merged, 0)


def test_tags_roundtrip_and_bad_tags_reported() -> None:
    rows = [DecisionRow("a", Decision.RELABEL, "relay"), DecisionRow("a", Decision.NOT_DUPLICATE)]
    tags = decision_tags(rows)
    assert tags == {"a": ["not-duplicate", "relabel:relay"]}
    back, ignored = tags_to_decisions(
        [("a", tags["a"] + ["my-bookmark"]), ("b", ["relabel:relais"]), ("c", ["reject"])], "ann"
    )
    assert sorted((r.id, r.decision.value, r.value) for r in back) == [
        ("a", "not-duplicate", ""),
        ("a", "relabel", "relay"),
        ("c", "reject", ""),
    ]
    assert ignored == ["b: unknown class in tag relabel:relais"]


def _frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    ids = ["k", "dup", "blurry", "tiny", "nodedup", "bad"]
    images = pd.DataFrame(
        {
            "id": ids + ["rej"],
            "class_label": ["capacitor"] * 7,
            "path": [f"files/{i}.png" for i in ids] + [None],
            "sha256": ids + [None],
            "source": "s",
            "image_url": "u",
            "page_url": "p",
            "licence": "CC0",
            "author": "a",
            "status": ["ok"] * 6 + ["rejected"],
            "error": [None] * 6 + ["HTTP 404"],
        }
    )
    dd_ids = ["k", "dup", "blurry", "tiny", "bad"]
    dedup = pd.DataFrame(
        {
            "id": dd_ids,
            "cluster": ["k", "k", "blurry", "tiny", "bad"],
            "keep": [True, False, True, True, False],
            "dup_of": [None, "k", None, None, None],
            "dup_kind": [None, "near", None, None, None],
            "distance": [None, 5, None, None, None],
            "status": ["ok", "ok", "ok", "ok", "error"],
            "error": [None, None, None, None, "cannot decode"],
        }
    )
    quality = pd.DataFrame(
        {
            "id": ids,
            "flags": ["", None, "blurry", "too_small,grayscale", "", ""],
            "status": "ok",
            "error": None,
        }
    )
    return images, dedup, quality


def _by_id(df: pd.DataFrame) -> dict[str, dict]:
    return {r["id"]: r for r in df.to_dict("records")}


def test_apply_without_decisions() -> None:
    out, stale = apply_decisions(*_frames(), [], ["too_small", "blank"])
    rows = _by_id(out)
    assert stale == [] and "rej" not in rows and len(rows) == 6
    assert rows["k"]["status"] == "ok" and rows["k"]["decision"] == AUTO and pd.isna(rows["k"]["error"])
    assert rows["dup"]["status"] == "rejected" and rows["dup"]["error"] == "duplicate of k (near, distance 5)"
    assert rows["blurry"]["status"] == "ok"  # blurry is not a dropping flag here
    assert rows["tiny"]["error"] == "quality: too_small"
    assert rows["nodedup"]["status"] == "error" and "no dedup row" in rows["nodedup"]["error"]
    assert rows["bad"]["status"] == "error" and "cannot decode" in rows["bad"]["error"]


def test_apply_decisions_override_and_relabel() -> None:
    decisions = [
        DecisionRow("dup", Decision.NOT_DUPLICATE, "", "ann"),
        DecisionRow("dup", Decision.RELABEL, "diode", "ann"),
        DecisionRow("tiny", Decision.ACCEPT, "", "ann"),
        DecisionRow("k", Decision.REJECT, "", "ann", "not a capacitor"),
        DecisionRow("gone", Decision.REJECT, "", "ann"),
    ]
    out, stale = apply_decisions(*_frames(), decisions, ["too_small"])
    rows = _by_id(out)
    assert stale == ["gone"]
    assert rows["dup"]["status"] == "ok" and rows["dup"]["class_label"] == "diode"
    assert rows["dup"]["decision"] == "relabel" and rows["dup"]["cluster"] == "dup"
    assert rows["tiny"]["status"] == "ok" and rows["tiny"]["decision"] == "accept"
    assert rows["k"]["status"] == "rejected" and rows["k"]["error"] == "rejected by ann: not a capacitor"
    assert list(out.columns)[-3:] == ["decision", "status", "error"]


def test_busy_app_port_is_a_user_error() -> None:
    from pcbforge.fiftyone_app import check_port_free

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(InputError, match=rf"127\.0\.0\.1:{port}.*set review\.port"):
            check_port_free("127.0.0.1", port)
    check_port_free("127.0.0.1", port)


def test_dedup_reason_is_kept_for_dropped_duplicates() -> None:
    images, dedup, quality = _frames()
    dedup.loc[dedup["id"] == "dup", ["status", "error"]] = ["rejected", "near duplicate of k: phash 5 <= 10"]
    out, _ = apply_decisions(images, dedup, quality, [], [])
    assert _by_id(out)["dup"]["error"] == "near duplicate of k: phash 5 <= 10"


def test_relabel_classes_come_from_the_taxonomy() -> None:
    from pcbforge.clean.review import parse_decisions
    from pcbforge.errors import InputError

    text = "id,decision,value,annotator,note\nab12,relabel,led,ann,\n"
    with pytest.raises(InputError, match="led"):
        parse_decisions(text, "d.csv")  # not in the default taxonomy
    assert parse_decisions(text, "d.csv", classes=["led", "resistor"])[0].value == "led"
