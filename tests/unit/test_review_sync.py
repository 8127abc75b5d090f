"""What a ``review --pull`` takes from the App and which tags the samples keep (pure parts)."""

from __future__ import annotations

from pcbforge.clean.fiftyone_review import is_decision_tag, synced_tags, unsynced_tags
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
