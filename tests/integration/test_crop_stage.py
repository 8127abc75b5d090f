"""``pcbforge crop`` end to end on a tiny YOLO folder and a tiny accepted.parquet."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pcbforge.cli import main
from pcbforge.config import Params
from pcbforge.errors import InputError
from pcbforge.pipelines import crop
from pcbforge.vocab import ComponentClass
from tests.helpers.accepted_fixture import Photo, write_accepted
from tests.helpers.params import tiny_params
from tests.helpers.yolo_boards import Part, two_boards, write_yolo_dir

COLUMNS = {
    "id", "class_label", "origin", "group", "parent_id", "box", "crop_path", "context_path",
    "context_box", "licence", "author", "attribution", "licence_url", "source_url", "image_url", "status", "error",
}  # fmt: skip
RELAY_CREDIT = "Relay by Bo Example, CC BY-SA 4.0"
CC_BY_SA_URL = "https://creativecommons.org/licenses/by-sa/4.0/"


def _inputs(params: Params) -> None:
    two_boards(params.boards_dir())
    write_accepted(
        params,
        [
            Photo("relay", attribution=RELAY_CREDIT, licence_url=CC_BY_SA_URL),
            Photo("diode", cluster="dup-1"),
            Photo("diode", cluster="dup-1"),
            Photo("resistor", status="rejected"),
            Photo("capacitor", corrupt=True),
        ],
    )


def _manifest(params: Params) -> pd.DataFrame:
    return pd.read_parquet(params.path(params.crop.out) / "components.parquet")


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_crop_boards_and_photos(params: Params) -> None:
    _inputs(params)
    summary = crop.run(params)
    assert "8 components ok (5 from 2 boards, 3 from 4 photos), 1 error" in summary
    df = _manifest(params)
    assert COLUMNS <= set(df.columns)
    assert df["id"].is_unique and df["id"].tolist() == sorted(df["id"])
    ok = df[df["status"] == "ok"]
    out = params.path(params.crop.out)
    for row in ok.itertuples():
        assert Image.open(out / row.crop_path).size == (params.base.image_size,) * 2
        ctx = Image.open(out / row.context_path)
        x0, y0, x1, y1 = row.context_box
        assert 0 <= x0 < x1 <= ctx.width and 0 <= y0 < y1 <= ctx.height

    boards = ok[ok["origin"] == "board"]
    assert sorted(boards["class_label"]) == ["capacitor", "diode", "relay", "resistor", "transistor"]
    assert set(boards["group"]) == {"board-a", "board-b"} and (boards["group"] == boards["parent_id"]).all()
    assert boards["source_line"].tolist() and set(boards["source_line"]) <= {1, 2, 3}
    # No lineage in data.yaml: the board image itself is the source, the licence unknown.
    assert set(boards["source_url"]) == {"data/catalog/boards/images/board-a.png", "data/catalog/boards/images/board-b.png"}
    assert boards["licence"].isna().all()
    for col in ("attribution", "licence_url", "image_url"):
        assert boards[col].isna().all(), col
    capacitor = boards[boards["class_label"] == "capacitor"].iloc[0]
    assert list(capacitor["context_box"]) == [15, 25, 45, 75]  # the 30x50 part, inside its 60x100 patch
    crop_px = np.asarray(Image.open(out / capacitor["crop_path"]))
    assert tuple(crop_px[64, 64]) == (200, 30, 30)  # the red part sits in the middle of its crop

    web = ok[ok["origin"] == "web"]
    assert len(web) == 3
    assert (web["licence"] == "CC-BY-4.0").all() and web["source_url"].str.startswith("http://127.0.0.1").all()
    assert web.loc[web["class_label"] == "diode", "group"].tolist() == ["dup-1", "dup-1"]
    accepted = pd.read_parquet(params.path(params.review.out) / "accepted.parquet").set_index("id")
    for row in web.itertuples():
        assert row.image_url == row.source_url == accepted.loc[row.parent_id, "image_url"]
        assert row.author == accepted.loc[row.parent_id, "author"]
    relay = web[web["class_label"] == "relay"].iloc[0]
    assert relay["attribution"] == RELAY_CREDIT and relay["licence_url"] == CC_BY_SA_URL
    diodes = web[web["class_label"] == "diode"]
    assert diodes["attribution"].isna().all() and diodes["licence_url"].isna().all()
    bad = df[df["status"] == "error"]
    assert len(bad) == 1 and "cannot decode image" in bad["error"].iloc[0]
    assert bad["error"].iloc[0].startswith("data/raw/files/")
    # Pillow's message names the file too: as the project sees it, no checkout path in a tracked output.
    assert str(params.root) not in bad["error"].iloc[0], bad["error"].iloc[0]


def test_strict_yolo_errors_never_stop_the_batch(params: Params) -> None:
    root = write_yolo_dir(params.boards_dir(), {"good": [Part(ComponentClass.DIODE, (10, 10, 40, 30))]})
    (root / "labels" / "bad.txt").write_text(
        "0 0.5 0.5 0.2 0.2\n"  # fine
        "0 0.5 0.5 0.2\n"  # 4 columns
        "0 0.5 zero 0.2 0.2\n"  # non-numeric
        "12 0.5 0.5 0.2 0.2\n"  # class out of range (12 names)
        "0 1.2 0.5 0.2 0.2\n"  # outside [0, 1]
        "0 0.5 0.5 0.0 0.2\n"  # zero size
        "0 0.5 0.5 0.02 0.02\n"  # 3 px on a 160x120 image: below min_box_px
    )
    Image.new("RGB", (160, 120), (0, 90, 0)).save(root / "images" / "bad.png")
    Image.new("RGB", (160, 120)).save(root / "images" / "nolabel.png")
    (root / "images" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    (root / "labels" / "broken.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    params = tiny_params(params.root, {"crop": {"include_web": False}})
    crop.run(params)
    df = _manifest(params)
    reasons = sorted(e for e in df.loc[df["parent_id"] == "bad", "error"].dropna())
    assert [r.split(":")[1] for r in reasons] == ["2", "3", "4", "5", "6", "7"]
    # Files are named relative to the project, as in every stage's error rows.
    boards = params.boards_dir().relative_to(params.root).as_posix()
    assert all(r.startswith(f"{boards}/labels/bad.txt:") for r in reasons)
    assert any("expected 5 columns" in r for r in reasons) and any("'zero' is not a number" in r for r in reasons)
    assert any("out of range" in r for r in reasons) and any("cx=1.2 outside [0, 1]" in r for r in reasons)
    assert any("must be positive" in r for r in reasons) and any("min_box_px" in r for r in reasons)
    # The bad file's good row is still cropped.
    assert ((df["parent_id"] == "bad") & (df["status"] == "ok")).sum() == 1
    nolabel = df[df["parent_id"] == "nolabel"]
    assert nolabel["status"].tolist() == ["error"] and f"no label file {boards}/labels/nolabel.txt" in nolabel["error"].iloc[0]
    broken = df[df["parent_id"] == "broken"]
    assert broken["status"].tolist() == ["error"]
    assert broken["error"].iloc[0].startswith(f"{boards}/images/broken.jpg: cannot decode image: "), broken["error"].iloc[0]
    assert not df["error"].dropna().str.contains(str(params.root), regex=False).any(), broken["error"].iloc[0]
    assert df.loc[df["parent_id"] == "good", "status"].tolist() == ["ok"]


def test_deterministic_and_worker_count_independent(params: Params, tmp_path: Path) -> None:
    _inputs(params)
    crop.run(params)
    first = _tree_digest(params.path(params.crop.out))
    stale = params.path(params.crop.out) / "crops" / "stale.png"
    stale.write_bytes(b"left from an older run")
    two = tiny_params(params.root, {"base": {"workers": 2}})
    crop.run(two)
    assert not stale.exists()  # the whole directory is swapped, not merged
    assert _tree_digest(params.path(params.crop.out)) == first


def test_input_errors(params: Params) -> None:
    with pytest.raises(InputError, match="boards directory not found"):
        crop.run(params)
    root = params.boards_dir()
    (root / "images").mkdir(parents=True)
    with pytest.raises(InputError, match=r"data.yaml: missing"):
        crop.run(params)
    (root / "data.yaml").write_text("names: {0: resistor, 1: opamp}\n")
    with pytest.raises(InputError, match=r"1: 'opamp'"):
        crop.run(params)
    (root / "data.yaml").write_text("names: [resistor]\n")
    # An input without a single box is refused, never carried downstream as an empty dataset.
    with pytest.raises(InputError, match=r"^data/catalog/boards: no labelled box found.*images/<split>/ \+ labels/<split>/"):
        crop.run(params)
    write_yolo_dir(root, {"b": [Part(ComponentClass.RESISTOR, (10, 10, 40, 30))]}, names=[ComponentClass.RESISTOR])
    with pytest.raises(InputError, match=r"accepted.parquet: not found.*include_web"):
        crop.run(params)
    assert not params.path(params.crop.out).exists()  # nothing half-written


def test_accepted_manifest_without_lineage_columns_is_an_input_error(params: Params) -> None:
    _inputs(params)
    path = params.path(params.review.out) / "accepted.parquet"
    pd.read_parquet(path).drop(columns=["attribution"]).to_parquet(path)
    with pytest.raises(InputError, match=r"lacks columns \['attribution'\].*pcbforge review"):
        crop.run(params)


def test_cli_prints_one_line_error(params: Params, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["crop", "--params", str(params.root / "params.yaml")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pcbforge: error: boards directory not found") and "\n" not in err


def test_board_lineage_from_data_yaml(params: Params) -> None:
    root = two_boards(params.boards_dir())
    text = (root / "data.yaml").read_text()
    (root / "data.yaml").write_text(
        text + "licence: CC-BY-4.0\nauthor: Line 3\nsource_url: https://boards.example/{board}\n"
        "attribution: Boards by Line 3 (CC BY 4.0)\nlicence_url: https://creativecommons.org/licenses/by/4.0/\n"
    )
    crop.run(tiny_params(params.root, {"crop": {"include_web": False}}))
    df = _manifest(params)
    assert (df["licence"] == "CC-BY-4.0").all() and (df["author"] == "Line 3").all()
    assert (df["attribution"] == "Boards by Line 3 (CC BY 4.0)").all()
    assert (df["licence_url"] == "https://creativecommons.org/licenses/by/4.0/").all()
    assert df["image_url"].isna().all()  # a board is not a crawled file
    assert set(df["source_url"]) == {"https://boards.example/board-a", "https://boards.example/board-b"}
