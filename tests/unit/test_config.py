"""params.yaml loading: defaults match the shipped file, errors name the key and file."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from pcbforge.config import Params, load_params
from pcbforge.errors import ConfigError
from pcbforge.vocab import HashKind, QualityFlag
from tests.helpers.params import REPO_ROOT

STAGES = [
    "catalog", "crawl", "dedup", "quality", "review", "crop",
    "split", "triplets", "simulate", "train", "evaluate", "export",
]


#: Model fields params.yaml may leave out: optional per-source settings that only some spiders
#: read (``SOURCE.`` = every entry of ``crawl.sources``). Every other field is written there.
OPTIONAL_NOT_WRITTEN = {
    "crawl.SOURCE.url_list",
    "crawl.SOURCE.class_map",
    "crawl.SOURCE.selectors",
    "crawl.SOURCE.allowed_domains",
    # the built-in boards' source takes its lineage from its data.yaml and maps no names
    *(f"crop.SOURCE.{k}" for k in ("licence", "author", "attribution", "licence_url", "source_url", "class_map")),
}


def test_shipped_params_equal_model_defaults() -> None:
    """params.yaml and the pydantic defaults must not drift apart (paths are written once)."""
    shipped = load_params(REPO_ROOT / "params.yaml")
    assert shipped.model_dump(exclude={"root"}) == Params().model_dump(exclude={"root"})


def _unwritten(model: type[BaseModel], raw: dict[str, Any], where: str) -> list[str]:
    missing = []
    for name, field in model.model_fields.items():
        key = f"{where}.{name}" if where else name
        if name not in raw:
            missing.append(key)
            continue
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            missing += _unwritten(sub, raw[name], key)
        elif typing.get_origin(sub) is list and issubclass(typing.get_args(sub)[0], BaseModel):
            for item in raw[name]:
                missing += _unwritten(typing.get_args(sub)[0], item, f"{where}.SOURCE")
    return missing


def test_every_model_field_is_written_in_params_yaml() -> None:
    raw = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    missing = set(_unwritten(Params, {**raw, "root": None}, ""))
    assert missing == OPTIONAL_NOT_WRITTEN


#: Sections of CLI commands that are not DVC stages (they edit a stage's versioned input).
NOT_STAGES = ["annotate"]


def test_params_has_one_section_per_stage_plus_shared_ones() -> None:
    raw = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    # base and classes are read by several stages; every other section is one stage's,
    # or one command's that is not a stage.
    assert [s for s in raw if s not in NOT_STAGES] == ["base", "classes", *STAGES]
    assert set(NOT_STAGES) <= set(raw)


def test_paths_resolve_against_params_dir(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("crawl:\n  out: somewhere/raw\n")
    params = load_params(tmp_path / "params.yaml")
    assert params.path(params.crawl.out) == tmp_path.resolve() / "somewhere" / "raw"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("train:\n  epochs: 0\n", "train.epochs"),
        ("train:\n  epochz: 3\n", "train.epochz"),
        ("base: [1, 2\n", "params.yaml:2"),
        ("- just\n- a list\n", "mapping of sections"),
        ("split:\n  test_classes: [toaster]\n", "split.test_classes names ['toaster'], not in classes.taxonomy"),
        ("review:\n  drop_quality_flags: [unreadable, too_smal]\n", "'review.drop_quality_flags.1': Input should be"),
        ("dedup:\n  hashes: [phash, dhash, phash]\n", "'dedup.hashes': lists a hash kind twice"),
        ("dedup:\n  keep_policy: [resolution, newest]\n", "dedup.keep_policy.1"),
        ("triplets:\n  strategy: defects\n", "triplets.strategy"),
        ("triplets:\n  defects: [rotation, none]\n", "['none'] cannot make a triplet negative"),
        ("triplets:\n  strategy: defect\n  defects: []\n", "strategy defect needs defects"),
        ("export:\n  formats: [mvtec, coco]\n", "export.formats.1"),
        ("split:\n  val_classes: [relay]\n  test_classes: [relay, diode]\n", "share ['relay']"),
        ("split:\n  val_fraction: 0.5\n  test_fraction: 0.5\n", "leaves no training groups"),
        ("catalog:\n  components_per_board: [5, 2]\n", "'catalog.components_per_board': must be [min, max]"),
        ("crawl:\n  sources: [{name: a}, {name: a}]\n", "'crawl': sources: source names must be unique"),
        ("crawl:\n  sources: [{name: a, spider: urls, url_list: u.txt, start_urls: []}, {name: b, url_list: u.txt}]\n",
         "'crawl.sources.1': source 'b': only the urls spider reads url_list"),
        ("crawl:\n  sources: [{name: a, spider: crawler}]\n", "crawl.sources.0.spider"),
        ("evaluate:\n  split: train\n", "'evaluate.split': must be val or test"),
        ("train:\n  device: gpu\n", "train.device"),
        ("base:\n  executor: ray\n", "base.executor"),
        ("base:\n  dask_scheduler: tcp://10.0.0.5:8786\n", "'base': dask_scheduler is set but executor is 'local'"),
    ],
)
def test_invalid_params_name_the_problem(tmp_path: Path, text: str, needle: str) -> None:
    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_params(tmp_path / "params.yaml")
    assert needle in str(err.value)


def test_missing_params_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")


def test_vocabulary_params_load_as_enums(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("review:\n  drop_quality_flags: [blurry]\ndedup:\n  hashes: [ahash, whash]\n")
    params = load_params(tmp_path / "params.yaml")
    assert params.review.drop_quality_flags == [QualityFlag.BLURRY]
    assert (params.dedup.primary, params.dedup.confirm) == (HashKind.AHASH, HashKind.WHASH)


def test_crop_boards_null_means_the_catalogs_boards(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("catalog:\n  out: gen/catalog\n")
    assert load_params(tmp_path / "params.yaml").boards_dir() == tmp_path.resolve() / "gen" / "catalog" / "boards"
    (tmp_path / "params.yaml").write_text("crop:\n  boards: /data/my-boards\n  sources: []\n")
    assert load_params(tmp_path / "params.yaml").boards_dir() == Path("/data/my-boards")


def test_board_sources_default_to_one_unnamed_source_at_boards_dir(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("catalog:\n  out: gen/catalog\ncrop:\n  sources: []\n")
    params = load_params(tmp_path / "params.yaml")
    ((source),) = params.board_sources()
    assert source.path == params.boards_dir() and source.name == "" and source.class_map == {}
    (tmp_path / "params.yaml").write_text(
        "crop:\n  sources:\n    - {path: sets/tht-boards}\n    - {path: sets/smd/data.yaml, class_map: {Diode: smd_diode}}\n"
        "    - {path: sets/other, name: mine, licence: CC0-1.0}\n"
    )
    sources = load_params(tmp_path / "params.yaml").board_sources()
    assert [s.name for s in sources] == ["tht-boards", "smd", "mine"]
    assert sources[0].path == tmp_path.resolve() / "sets" / "tht-boards" and sources[2].licence == "CC0-1.0"


@pytest.mark.parametrize(
    ("crop", "needle"),
    [
        ("  boards: mine\n  sources: [{path: other}]\n", "crop.boards (one YOLO folder) or crop.sources (several), not both"),
        ("  sources: [{path: a/boards}, {path: b/boards}]\n", "name ['boards'] more than once"),
        ("  sources: [{path: a, name: 'has space'}]\n", "crop.sources.0.name"),
        ("  sources: [{path: a, class_map: {IC: opamp}}]\n", "crop.sources[0].class_map sends 'IC' to 'opamp', not a class"),
    ],
)
def test_bad_board_sources_are_refused_at_load(tmp_path: Path, crop: str, needle: str) -> None:
    (tmp_path / "params.yaml").write_text("crop:\n" + crop)
    with pytest.raises(ConfigError, match=re.escape(needle)):
        load_params(tmp_path / "params.yaml")


def test_a_class_map_to_null_skips_the_name_and_may_name_an_alias(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("crop:\n  sources: [{path: a, class_map: {pcb: null, Elko: electrolytic}}]\n")
    (source,) = load_params(tmp_path / "params.yaml").board_sources()
    assert source.class_map == {"pcb": None, "Elko": "electrolytic"}


def test_real_sources_default_to_every_board_source_but_the_builtin_one(tmp_path: Path) -> None:
    assert load_params(REPO_ROOT / "params.yaml").real_source_names() == ["olegofriendz-one-board"]
    (tmp_path / "params.yaml").write_text("crop:\n  sources: []\n")
    assert load_params(tmp_path / "params.yaml").real_source_names() == []
    (tmp_path / "params.yaml").write_text("crop:\n  sources: []\n  boards: mine\n")
    assert load_params(tmp_path / "params.yaml").real_source_names() == [""]
    (tmp_path / "params.yaml").write_text("crop:\n  sources: [{path: a}, {path: b}]\nevaluate:\n  real_sources: [b]\n")
    assert load_params(tmp_path / "params.yaml").real_source_names() == ["b"]
    (tmp_path / "params.yaml").write_text("crop:\n  sources: [{path: a}]\nevaluate:\n  real_sources: [b]\n")
    with pytest.raises(ConfigError, match=re.escape("evaluate.real_sources names ['b']")):
        load_params(tmp_path / "params.yaml")
