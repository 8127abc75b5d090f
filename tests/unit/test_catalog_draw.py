"""Unit tests for the catalog drawings: photos, top views, boards, duplicates, junk and the shop plan."""

from __future__ import annotations

import io

import cv2
import imagehash
import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from parsel import Selector
from PIL import Image

from pcbforge.annotate.yolo import parse_row, to_pixels
from pcbforge.catalog import site
from pcbforge.catalog.boards import MIN_ALPHA, Placement, data_yaml, draw_board, part_sprite, yolo_lines
from pcbforge.catalog.junk import JUNK_KINDS, make_duplicate, make_junk
from pcbforge.catalog.photo import BACKGROUNDS, draw_photo
from pcbforge.catalog.topview import draw_top_view, top_size
from pcbforge.rng import make_rng
from pcbforge.vocab import ComponentClass

SIZE = (96, 96)


def _blur(img: Image.Image) -> float:
    return float(cv2.Laplacian(np.asarray(img.convert("L")), cv2.CV_64F).var())


@pytest.mark.parametrize("cls", list(ComponentClass), ids=lambda c: c.value)
def test_photo_of_each_class_is_a_nontrivial_rgb_image(cls: ComponentClass) -> None:
    img = draw_photo(cls, make_rng(1, "photo", cls.value), SIZE, bg_kind="studio")
    assert img.size == SIZE and img.mode == "RGB"
    arr = np.asarray(img, np.float32)
    # A part on a near-white sweep: a good share of pixels clearly darker or coloured.
    part = (arr.min(axis=2) < 200) | (arr.max(axis=2) - arr.min(axis=2) > 40)
    assert 0.03 < part.mean() < 0.9
    assert _blur(img) > 60  # sharp enough that the quality stage keeps it


def test_photo_is_deterministic_and_seed_dependent() -> None:
    a = draw_photo(ComponentClass.RELAY, make_rng(7, "x"), SIZE)
    b = draw_photo(ComponentClass.RELAY, make_rng(7, "x"), SIZE)
    c = draw_photo(ComponentClass.RELAY, make_rng(8, "x"), SIZE)
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()


def test_photos_of_one_class_vary() -> None:
    imgs = [np.asarray(draw_photo(ComponentClass.RESISTOR, make_rng(3, i), SIZE), np.float32) for i in range(4)]
    diffs = [np.abs(imgs[i] - imgs[j]).mean() for i in range(4) for j in range(i + 1, 4)]
    assert min(diffs) > 5


@pytest.mark.parametrize("kind", BACKGROUNDS)
def test_every_background_kind_renders(kind: str) -> None:
    img = draw_photo(ComponentClass.DIODE, make_rng(0, kind), (64, 48), bg_kind=kind)
    assert img.size == (64, 48)


def test_classes_look_different_from_each_other() -> None:
    # Same seed and background for every class: the mean colour images must not coincide.
    means = [
        np.asarray(draw_photo(c, make_rng(5, "same"), SIZE, bg_kind="studio"), np.float32).mean(axis=(0, 1))
        for c in ComponentClass
    ]
    for i in range(len(means)):
        for j in range(i + 1, len(means)):
            assert np.abs(means[i] - means[j]).max() > 0.5


@pytest.mark.parametrize("cls", list(ComponentClass), ids=lambda c: c.value)
def test_top_view_fills_its_canvas_exactly(cls: ComponentClass) -> None:
    rng = make_rng(2, "top", cls.value)
    size = top_size(cls, rng, 6.0)
    img = draw_top_view(cls, rng, size)
    assert img.size == size and img.mode == "RGBA"
    # Opaque pixels reach all four edges: the canvas is the part's exact box.
    assert img.getchannel("A").getbbox() == (0, 0, *size)
    assert np.asarray(img.getchannel("A")).mean() > 60


@pytest.mark.parametrize("cls", list(ComponentClass), ids=lambda c: c.value)
def test_rotated_part_sprite_is_its_own_exact_box(cls: ComponentClass) -> None:
    for k in range(3):
        spr = part_sprite(cls, make_rng(3, "sprite", cls.value, k), 5.0)
        alpha = np.asarray(spr.getchannel("A"))
        assert alpha[0].any() and alpha[-1].any() and alpha[:, 0].any() and alpha[:, -1].any()
        assert not ((alpha > 0) & (alpha < MIN_ALPHA)).any()


def test_board_boxes_are_inside_exact_and_disjoint() -> None:
    size = (320, 240)
    img, parts = draw_board(make_rng(4, "board"), size, (5, 7))
    assert img.size == size and img.mode == "RGB"
    assert 3 <= len(parts) <= 7
    for p in parts:
        x0, y0, x1, y1 = p.box
        assert 0 <= x0 < x1 <= size[0] and 0 <= y0 < y1 <= size[1]
    for i, a in enumerate(parts):
        for b in parts[i + 1 :]:
            disjoint = a.box[2] <= b.box[0] or b.box[2] <= a.box[0] or a.box[3] <= b.box[1] or b.box[3] <= a.box[1]
            assert disjoint, (a, b)
    again, parts2 = draw_board(make_rng(4, "board"), size, (5, 7))
    assert again.tobytes() == img.tobytes() and parts2 == parts
    other, _ = draw_board(make_rng(5, "board"), size, (5, 7))
    assert other.tobytes() != img.tobytes()


def test_yolo_lines_are_normalised_with_six_decimals() -> None:
    parts = [
        Placement(ComponentClass.TRANSISTOR, (0, 0, 64, 48), "Q1"),
        Placement(ComponentClass.CAPACITOR, (10, 5, 13, 9), "C1"),
    ]
    rows = yolo_lines(parts, (64, 48))
    assert rows[0] == "11 0.500000 0.500000 1.000000 1.000000"
    cls, *vals = rows[1].split()
    assert cls == "0" and all(len(v.split(".")[1]) == 6 for v in vals)
    # Round trip back to pixels within the 6-decimal precision.
    cx, cy, w, h = (float(v) for v in vals)
    assert abs((cx - w / 2) * 64 - 10) < 1e-3 and abs((cy + h / 2) * 48 - 9) < 1e-3



@st.composite
def _placements(draw: st.DrawFn) -> tuple[tuple[int, int], Placement]:
    w, h = draw(st.integers(1, 4000)), draw(st.integers(1, 4000))
    x0, y0 = draw(st.integers(0, w - 1)), draw(st.integers(0, h - 1))
    box = (x0, y0, draw(st.integers(x0 + 1, w)), draw(st.integers(y0 + 1, h)))
    return (w, h), Placement(draw(st.sampled_from(list(ComponentClass))), box, "X1")


@given(_placements())
def test_board_labels_parse_back_to_their_boxes(case: tuple[tuple[int, int], Placement]) -> None:
    """Board labels go through annotate/yolo.py: the crop stage's parser reads back each box."""
    (w, h), p = case
    (row,) = yolo_lines([p], (w, h))
    box = parse_row(row, num_classes=len(ComponentClass))
    assert list(ComponentClass)[box.cls] is p.cls
    # 6 decimals of a fraction of the side: within 1e-6 x side (+ float slack) of the pixel box.
    for got, want, side in zip(to_pixels(box, w, h), p.box, (w, h, w, h), strict=True):
        assert abs(got - want) <= 1.01e-6 * side

def test_data_yaml_lists_classes_in_enum_order() -> None:
    doc = yaml.safe_load(data_yaml())
    assert doc == {"path": ".", "train": "images", "val": "images", "nc": 12, "names": ComponentClass.names()}
    lineage = yaml.safe_load(data_yaml("CC0-1.0", "pcbforge catalog"))
    assert (lineage["licence"], lineage["author"], lineage["names"]) == ("CC0-1.0", "pcbforge catalog", doc["names"])


def test_duplicate_is_transformed_but_perceptually_close() -> None:
    orig = draw_photo(ComponentClass.CONVERTER, make_rng(9, "o"), (256, 256))
    for k in range(4):
        data, params = make_duplicate(orig, make_rng(9, "dup", k))
        dup = Image.open(io.BytesIO(data))
        assert dup.format == "JPEG" and dup.size != orig.size
        assert {"scale", "brightness", "quality", "crop", "phash_distance"} <= set(params)
        distance = imagehash.phash(dup.convert("RGB")) - imagehash.phash(orig)
        assert distance == params["phash_distance"] <= 10
        assert dup.tobytes() != orig.resize(dup.size).tobytes()


@pytest.mark.parametrize("kind", JUNK_KINDS)
def test_junk_fails_the_quality_thresholds(kind: str) -> None:
    img = make_junk(kind, make_rng(0, "junk", kind), (128, 128), ComponentClass.RELAY)
    w, h = img.size
    arr = np.asarray(img.convert("L"), np.float32)
    if kind == "blank":
        assert arr.std() < 6
    elif kind == "tiny":
        assert 32 <= min(w, h) and max(w, h) < 48
    elif kind == "blurry":
        assert _blur(img) < 30
    else:
        assert max(w, h) / min(w, h) > 4


def test_unknown_junk_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown junk kind"):
        make_junk("purple", make_rng(0), (64, 64), ComponentClass.DIODE)


def test_plan_counts_duplicates_junk_and_licences() -> None:
    items = site.plan(11, products_per_class=5, duplicate_fraction=0.2, junk_images=5)
    by_kind = {k: [it for it in items if it.kind == k] for k in ("product", "duplicate", "junk", "private")}
    assert len(by_kind["product"]) == 60 and len(by_kind["duplicate"]) == 12 and len(by_kind["junk"]) == 5
    assert len(by_kind["private"]) == site.PRIVATE_ITEMS
    assert len({it.id for it in items}) == len(items)
    product_ids = {it.id: it for it in by_kind["product"]}
    assert all(d.dup_of in product_ids and product_ids[d.dup_of].cls is d.cls for d in by_kind["duplicate"])
    assert len({d.dup_of for d in by_kind["duplicate"]}) == 12
    assert {j.junk_kind for j in by_kind["junk"]} == set(JUNK_KINDS)
    licences = {it.licence for it in items}
    assert site.RESERVED in licences and licences <= {*site.LICENCES, site.RESERVED}
    assert {it.fmt for it in by_kind["product"]} == {"jpeg", "png", "webp"}
    assert site.plan(11, 5, 0.2, 5) == items
    assert site.plan(12, 5, 0.2, 5) != items


def test_pages_follow_the_html_contract() -> None:
    items = site.plan(1, 3, 0.0, 0)
    it = items[0]
    page = Selector(text=site.render_product(it))
    assert page.css("h1.title::text").get() == it.title
    assert page.css("img.product-image::attr(src)").getall() == [f"../img/{it.image_file}"]
    assert page.css("span.category::attr(data-slug)").get() == site.slug(it.cls)
    assert page.css("span.licence::text").get() == it.licence
    assert page.css("span.author::text").get() == it.author
    cat = Selector(text=site.render_category(it.cls, items[:2], 1, 2))
    assert cat.css("a.product::attr(href)").getall() == [f"../../product/{x.id}.html" for x in items[:2]]
    assert cat.css("a.next[rel=next]::attr(href)").get() == "page-2.html"
    last = Selector(text=site.render_category(it.cls, items[:1], 2, 2))
    assert last.css("a.next").get() is None
    index = Selector(text=site.render_index({}))
    assert index.css("a.category::attr(href)").getall()[1] == "category/ceramic-capacitor/page-1.html"
    assert site.slug(ComponentClass.SMD_TRANSISTOR) == "smd-transistor"


def test_the_columnar_plan_is_small_and_lists_every_public_item_once() -> None:
    plan = site.Plan.build(5, products_per_class=40, duplicate_fraction=0.25, junk_images=8)
    columns = [v for v in vars(plan).values() if isinstance(v, np.ndarray)]
    assert sum(a.nbytes for a in columns) / len(plan) < 48  # an Item is ~0.4 KiB
    items = list(plan)
    assert [it.id for it in items] == [b.decode() for b in plan.ids]
    listed = np.concatenate([plan.listing(c) for c in ComponentClass])
    public = [i for i, it in enumerate(items) if it.kind != "private"]
    assert sorted(listed.tolist()) == public
    for c in ComponentClass:
        assert all(items[i].cls is c for i in plan.listing(c))
    assert [items[i].id for i in plan.by_id()] == sorted(it.id for it in items)
    dups = plan.where("duplicate")
    assert len(dups) == 120 and all(items[plan.dup_of[i]].id == items[i].dup_of for i in dups)
    with pytest.raises(IndexError, match="out of range"):
        plan[len(plan)]
