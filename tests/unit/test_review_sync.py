"""What a ``review --pull`` takes from the App and which tags the samples keep (pure parts)."""

from __future__ import annotations

from pathlib import Path

from pcbforge.clean.fiftyone_review import (
    checkout_id,
    is_decision_tag,
    sync_record,
    synced_tags,
    unsynced_tags,
    with_sync_record,
)
from pcbforge.clean.review import Decision, DecisionRow


def test_only_decision_tags_added_since_the_sync_are_unsynced() -> None:
    current = {"a": ["reject", "look-again"], "b": ["relabel:diode", "relabel:resistor"], "c": []}
    synced = {"a": ["reject"], "b": ["relabel:resistor"]}
    assert unsynced_tags(current, synced) == {"b": ["relabel:diode"]}


def test_without_a_sync_record_every_decision_tag_is_unsynced() -> None:
    assert unsynced_tags({"a": ["reject", "mine"], "b": []}, None) == {"a": ["reject"]}


def test_a_reverted_decision_loses_its_tag_and_own_tags_stay() -> None:
    current = {"a": ["reject", "look-again"], "b": ["not-duplicate"], "c": ["accept"]}
    # The file no longer rejects "a" (reverted); "b" was just pulled; "c" is in the file.
    rows = [DecisionRow("b", Decision.NOT_DUPLICATE), DecisionRow("c", Decision.ACCEPT)]
    after = synced_tags(current, {"b": ["not-duplicate"]}, rows)
    assert after == {"a": ["look-again"], "b": ["not-duplicate"], "c": ["accept"]}


def test_decisions_from_the_file_become_tags() -> None:
    rows = [DecisionRow("a", Decision.RELABEL, "diode")]
    assert synced_tags({"a": ["relabel:resistor"]}, {}, rows) == {"a": ["relabel:diode"]}


def test_decision_tags() -> None:
    assert all(map(is_decision_tag, ["reject", "accept", "not-duplicate", "relabel:diode"]))
    assert not any(map(is_decision_tag, ["look-again", "rejected", "relabel"]))


# --- one sync record per checkout --------------------------------------------------------------


def test_checkouts_differ_by_host_and_by_resolved_path(tmp_path: Path) -> None:
    f = tmp_path / "review" / "decisions.csv"
    assert checkout_id(f, host="lab1") == checkout_id(tmp_path / "review" / ".." / "review" / "decisions.csv", host="lab1")
    assert checkout_id(f, host="lab1") != checkout_id(f, host="lab2")
    assert checkout_id(f, host="lab1") != checkout_id(tmp_path / "other" / "decisions.csv", host="lab1")


def test_each_checkout_reads_its_own_record_and_writing_one_keeps_the_others() -> None:
    info = with_sync_record(None, "lab1:/a/decisions.csv", {"x": ["reject"]}, "sha-a")
    info = with_sync_record(info, "lab1:/b/decisions.csv", {"y": ["accept", "look-again"]}, "sha-b")
    info = with_sync_record(info, "lab1:/a/decisions.csv", {"x": ["reject"], "z": ["not-duplicate"]}, "sha-a2")
    assert sync_record(info, "lab1:/a/decisions.csv") == ({"x": ["reject"], "z": ["not-duplicate"]}, "sha-a2")
    assert sync_record(info, "lab1:/b/decisions.csv") == ({"y": ["accept"]}, "sha-b")
    assert sync_record(info, "lab2:/a/decisions.csv") == (None, None)


def test_record_keys_hold_no_dot_for_mongodb() -> None:
    info = with_sync_record(None, "lab1.example.org:/srv/p/review/decisions.csv", {}, None)
    assert not any("." in key or key.startswith("$") for key in info["checkouts"])


def test_a_record_of_the_one_per_dataset_format_counts_as_none() -> None:
    old = {"decisions_sha256": "sha", "tags": {"x": ["reject"]}}  # before records were per checkout
    assert sync_record(old, "lab1:/a/decisions.csv") == (None, None)
    assert sync_record(None, "lab1:/a/decisions.csv") == (None, None)


def test_a_decision_another_checkout_pulled_is_new_to_this_one() -> None:
    # A tagged x `reject` in the App and pulled it into A's file: A's record holds it, B's not.
    app = {"x": ["reject"], "y": []}
    info = with_sync_record(None, "lab1:/b/decisions.csv", {}, "sha-b")  # B built the dataset
    info = with_sync_record(info, "lab1:/a/decisions.csv", app, "sha-a")  # A pulled
    assert unsynced_tags(app, sync_record(info, "lab1:/a/decisions.csv")[0]) == {}
    assert unsynced_tags(app, sync_record(info, "lab1:/b/decisions.csv")[0]) == {"x": ["reject"]}
    # B's reset keeps the tag: B's file now holds it, as a pull merged it in.
    assert synced_tags(app, {"x": ["reject"]}, [DecisionRow("x", Decision.REJECT)])["x"] == ["reject"]
