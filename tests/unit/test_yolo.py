"""YOLO codec: strict row parsing, formatting, names and the one box conversion."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pcbforge.annotate.yolo import (
    YoloBox,
    YoloRowError,
    class_map,
    format_data_yaml,
    format_labels,
    format_row,
    from_pixels,
    load_data_yaml,
    parse_labels,
    parse_names,
    parse_row,
    to_pixels,
)
from pcbforge.errors import InputError
from pcbforge.vocab import ComponentClass

N = len(ComponentClass)


@st.composite
def boxes(draw: st.DrawFn, num_classes: int = N) -> YoloBox:
    """Valid normalised boxes lying inside the image."""
    w = draw(st.floats(1e-3, 1.0))
    h = draw(st.floats(1e-3, 1.0))
    cx = draw(st.floats(w / 2, 1 - w / 2)) if w < 1 else 0.5
    cy = draw(st.floats(h / 2, 1 - h / 2)) if h < 1 else 0.5
    return YoloBox(draw(st.integers(0, num_classes - 1)), cx, cy, w, h)


@given(boxes())
def test_format_parse_round_trip_exact(box: YoloBox) -> None:
    assert parse_row(format_row(box, precision=None), N) == box


@given(boxes())
def test_format_parse_round_trip_six_decimals(box: YoloBox) -> None:
    text = format_row(box)
    try:
        back = parse_row(text, N)
    except YoloRowError:
        # Rounding a box that touches the border by less than 1e-6 may push it out; nothing else may fail.
        assert max(box.cx + box.w / 2, box.cy + box.h / 2) > 1 - 1e-6 or min(box.cx - box.w / 2, box.cy - box.h / 2) < 1e-6
        return
    assert back.cls == box.cls
    assert all(abs(a - b) <= 5e-7 for a, b in zip(back.as_list(), box.as_list(), strict=True))
    assert format_row(back) == text  # formatting is idempotent


@given(boxes(), st.integers(1, 5000), st.integers(1, 5000))
def test_pixel_conversion_round_trip(box: YoloBox, width: int, height: int) -> None:
    x0, y0, x1, y1 = to_pixels(box, width, height)
    assert x0 <= x1 and y0 <= y1
    assert x0 >= -1e-6 and x1 <= width * (1 + 1e-9) + 1e-6
    back = from_pixels(box.cls, x0, y0, x1, y1, width, height)
    assert back.cls == box.cls
    for a, b in zip(back.as_list(), box.as_list(), strict=True):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


@given(st.integers(1, 4000), st.integers(1, 4000), st.data())
def test_pixels_to_yolo_and_back(width: int, height: int, data: st.DataObject) -> None:
    x0 = data.draw(st.integers(0, width - 1))
    y0 = data.draw(st.integers(0, height - 1))
    x1 = data.draw(st.integers(x0 + 1, width))
    y1 = data.draw(st.integers(y0 + 1, height))
    box = from_pixels(0, x0, y0, x1, y1, width, height)
    assert all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(to_pixels(box, width, height), (x0, y0, x1, y1), strict=True))


def test_to_pixels_known_values() -> None:
    assert to_pixels(YoloBox(0, 0.5, 0.5, 0.25, 0.5), 200, 100) == (75.0, 25.0, 125.0, 75.0)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("1 0.5 0.5 0.2", "expected 5 columns"),
        ("1 0.5 0.5 0.2 0.2 0.1", "expected 5 columns"),
        ("1 0.5 abc 0.2 0.2", "'abc' is not a number"),
        ("1 0.5 nan 0.2 0.2", "not a finite number"),
        ("x 0.5 0.5 0.2 0.2", "class index 'x'"),
        ("1.0 0.5 0.5 0.2 0.2", "class index '1.0'"),
        ("-1 0.5 0.5 0.2 0.2", "class index '-1'"),
        (f"{N} 0.5 0.5 0.2 0.2", f"class index {N} out of range 0..{N - 1}"),
        ("1 1.5 0.5 0.2 0.2", "cx=1.5 outside [0, 1]"),
        ("1 0.5 0.5 -0.2 0.2", "w=-0.2 outside [0, 1]"),
        ("1 0.5 0.5 0 0.2", "must be positive"),
        ("1 0.95 0.5 0.2 0.2", "reaches outside the image"),
    ],
)
def test_parse_row_rejects(row: str, reason: str) -> None:
    with pytest.raises(YoloRowError, match=reason.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        parse_row(row, N)


def test_parse_row_accepts_whitespace_and_full_image_box() -> None:
    assert parse_row("  0\t0.5  0.5 1 1 \n", N) == YoloBox(0, 0.5, 0.5, 1.0, 1.0)


def test_parse_labels_collects_line_numbers_and_skips_blank_lines() -> None:
    text = "0 0.5 0.5 0.2 0.2\n\n12 0.5 0.5 0.2 0.2\n3 0.1 0.1 0.1 0.1\n1 0.5\n"
    good, issues = parse_labels(text, N)
    assert [n for n, _ in good] == [1, 4]
    assert [i.line for i in issues] == [3, 5]
    assert "out of range" in issues[0].reason


def test_format_labels_round_trip() -> None:
    rows = [YoloBox(0, 0.5, 0.5, 0.2, 0.2), YoloBox(11, 0.25, 0.75, 0.5, 0.5)]
    good, issues = parse_labels(format_labels(rows), N)
    assert not issues and [b for _, b in good] == rows
    assert format_labels([]) == ""


def test_names_list_and_dict_forms() -> None:
    assert parse_names({"names": ["diode", "relay"]}) == ["diode", "relay"]
    assert parse_names({"names": {1: "relay", 0: "diode"}, "nc": 2}) == ["diode", "relay"]
    assert parse_names({"names": {"0": "diode"}}) == ["diode"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({}, "no 'names:'"),
        ({"names": {0: "diode", 2: "relay"}}, "exactly 0..1"),
        ({"names": ["diode"], "nc": 2}, "nc=2"),
        ({"names": []}, "empty"),
        ({"names": "diode"}, "must be a list"),
    ],
)
def test_bad_names(data: object, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        parse_names(data, "boards/data.yaml")


def test_class_map_folds_case_and_spaces_and_names_unknown_ones() -> None:
    assert class_map(["Heat Sink", "smd-diode", "relay"]) == ["heat_sink", "smd_diode", "relay"]
    with pytest.raises(InputError, match=r"boards/data.yaml: .*1: 'ic'.*class_map"):
        class_map(["relay", "ic"], None, "boards/data.yaml")


def test_data_yaml_round_trip_and_bad_yaml() -> None:
    assert load_data_yaml(format_data_yaml(list(ComponentClass))) == ComponentClass.names()
    with pytest.raises(InputError, match=r"data.yaml:\d+: not valid YAML"):
        load_data_yaml("names: [a, b\nnc: 2\n")


def test_data_yaml_must_be_a_mapping() -> None:
    with pytest.raises(InputError, match="expected a mapping"):
        load_data_yaml("- diode\n- relay\n", "b/data.yaml")
