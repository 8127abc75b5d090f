"""Box review, pure part: YOLO <-> FiftyOne boxes, label lookup, and the label-file rewrite."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pcbforge.annotate.review_boxes import (
    ReviewedBox,
    UnknownLabelError,
    from_fiftyone_box,
    label_index,
    max_ious,
    outside_taxonomy,
    rare_labels,
    rewrite_labels,
    same_box,
    to_fiftyone_box,
)
from pcbforge.annotate.yolo import YoloBox, parse_labels, parse_row
from pcbforge.taxonomy import Taxonomy

TEXT = (
    "0 0.250000 0.250000 0.100000 0.100000\n"  # 1
    "1 0.5 0.5 0.2 0.3\r\n"  # 2: another precision and a CRLF ending, kept when untouched
    "\n"  # 3: blank
    "9 0.5 0.5 0.2\n"  # 4: malformed, never imported
    "1 0.750000 0.750000 0.200000 0.200000\n"  # 5
)


def _imported(text: str = TEXT, n: int = 2) -> dict[int, YoloBox]:
    return dict(parse_labels(text, n)[0])


def _untouched(imported: dict[int, YoloBox]) -> list[ReviewedBox]:
    # What the App hands back for a row nobody touched: the box went through FiftyOne's [x, y, w, h].
    return [ReviewedBox(n, from_fiftyone_box(b.cls, to_fiftyone_box(b))[0]) for n, b in imported.items()]


@given(
    st.integers(0, 20),
    st.floats(0.05, 0.95),
    st.floats(0.05, 0.95),
    st.floats(0.001, 0.1),
    st.floats(0.001, 0.1),
)
def test_fiftyone_round_trip_is_the_same_box(cls: int, cx: float, cy: float, w: float, h: float) -> None:
    box = YoloBox(cls, cx, cy, w, h)
    back, clipped = from_fiftyone_box(cls, to_fiftyone_box(box))
    assert not clipped and same_box(back, box)


def test_fiftyone_box_is_top_left_corner() -> None:
    assert to_fiftyone_box(YoloBox(0, 0.5, 0.4, 0.2, 0.4)) == pytest.approx([0.4, 0.2, 0.2, 0.4])


def test_box_dragged_past_the_edge_is_clipped_and_still_parses() -> None:
    box, clipped = from_fiftyone_box(1, [0.9, -0.05, 0.2, 0.25])
    assert clipped
    assert box.cls == 1 and box.as_list() == pytest.approx([0.95, 0.1, 0.1, 0.2])
    parse_row(f"1 {box.cx} {box.cy} {box.w} {box.h}", 2)


def test_box_outside_the_image_is_refused() -> None:
    with pytest.raises(ValueError, match="no area inside the image"):
        from_fiftyone_box(0, [1.2, 0.5, 0.1, 0.1])


def test_untouched_rows_keep_their_bytes() -> None:
    imported = _imported()
    assert sorted(imported) == [1, 2, 5]
    new, what = rewrite_labels(TEXT, imported, _untouched(imported))
    assert new == TEXT and not what.any and what.unchanged == 3


def test_moved_box_and_new_class_rewrite_only_their_lines() -> None:
    imported = _imported()
    reviewed = _untouched(imported)
    reviewed[0] = ReviewedBox(1, YoloBox(0, 0.3, 0.25, 0.1, 0.1))  # moved right
    reviewed[1] = ReviewedBox(2, YoloBox(0, 0.5, 0.5, 0.2, 0.3))  # class 1 -> 0
    new, what = rewrite_labels(TEXT, imported, reviewed)
    old_lines, new_lines = TEXT.splitlines(keepends=True), new.splitlines(keepends=True)
    assert new_lines[0] == "0 0.300000 0.250000 0.100000 0.100000\n"
    assert new_lines[1] == "0 0.500000 0.500000 0.200000 0.300000\r\n"  # its own line ending kept
    assert new_lines[2:] == old_lines[2:]
    assert (what.changed, what.deleted, what.added) == ([1, 2], [], 0)


def test_deleted_and_added_rows() -> None:
    imported = _imported()
    reviewed = [r for r in _untouched(imported) if r.line != 2]
    reviewed.append(ReviewedBox(None, YoloBox(1, 0.1, 0.9, 0.05, 0.05)))
    new, what = rewrite_labels(TEXT, imported, reviewed)
    lines = TEXT.splitlines(keepends=True)
    assert new == lines[0] + "".join(lines[2:]) + "1 0.100000 0.900000 0.050000 0.050000\n"
    assert (what.changed, what.deleted, what.added) == ([], [2], 1)


def test_copy_of_a_detection_is_appended_not_a_second_rewrite() -> None:
    imported = _imported()
    reviewed = [*_untouched(imported), ReviewedBox(5, YoloBox(1, 0.7, 0.7, 0.2, 0.2))]
    new, what = rewrite_labels(TEXT, imported, reviewed)
    assert new == TEXT + "1 0.700000 0.700000 0.200000 0.200000\n" and what.added == 1 and not what.changed


def test_appending_to_a_file_without_final_newline_and_to_no_file() -> None:
    text = "0 0.5 0.5 0.2 0.2"
    box = YoloBox(0, 0.2, 0.2, 0.1, 0.1)
    new, _ = rewrite_labels(text, _imported(text), [*_untouched(_imported(text)), ReviewedBox(None, box)])
    assert new == "0 0.5 0.5 0.2 0.2\n0 0.200000 0.200000 0.100000 0.100000\n"
    assert rewrite_labels("", {}, [ReviewedBox(None, box)])[0] == "0 0.200000 0.200000 0.100000 0.100000\n"
    assert rewrite_labels(text, _imported(text), []) == ("", rewrite_labels(text, _imported(text), [])[1])


def test_label_index_exact_folded_and_through_the_taxonomy() -> None:
    names = ["Electrolytic Capacitor", "resistor", "potentiometer"]
    tax = Taxonomy.default()
    assert label_index("resistor", names, tax) == 1
    assert label_index("electrolytic-capacitor", names, tax) == 0
    assert label_index("capacitor", names, tax) == 0  # the taxonomy class its data.yaml name maps to
    assert label_index("pot", names, tax, {"pot": "resistor"}) == 1


def test_unknown_label_is_an_error_naming_the_valid_names() -> None:
    with pytest.raises(UnknownLabelError, match=r"'fuse' is not a data.yaml class \(capacitor, resistor\)"):
        label_index("fuse", ["capacitor", "resistor"], Taxonomy.default())


def test_label_of_a_class_data_yaml_names_twice_is_ambiguous() -> None:
    with pytest.raises(UnknownLabelError, match="names 2 times"):
        label_index("capacitor", ["elko", "e_cap"], Taxonomy.default())


def test_view_selections() -> None:
    assert max_ious([[0, 0, 0.2, 0.2], [0, 0, 0.2, 0.2], [0.5, 0.5, 0.1, 0.1]]) == [1.0, 1.0, 0.0]
    assert max_ious([]) == []
    assert rare_labels(["a", "b", "b"], below=2) == ["a"]
    assert outside_taxonomy(["Resistor", "fuse", "LED"], Taxonomy.default()) == ["LED", "fuse"]
    assert outside_taxonomy(["fuse"], Taxonomy.default(), {"fuse": "resistor"}) == []
