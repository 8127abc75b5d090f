"""The declared Arrow schema of every manifest: columns, types, nullability and a version.

One :class:`ManifestSchema` per stage that writes a manifest, keyed by the stage name (the
keys of :data:`~pcbforge.datasets.manifest.MANIFEST_NAMES`). Writers
(:func:`~pcbforge.datasets.manifest.write_manifest`) cast their frame to it and refuse an
undeclared, missing or mistyped column; readers
(:func:`~pcbforge.datasets.manifest.read_manifest`) check the columns they need and refuse a
file written by a newer schema version; the test fixtures (``tests/helpers/fake_project.py``)
build their manifests from it. The columns every manifest shares (``id``, ``status``,
``error``) and the lineage columns are declared once here and reused.

Adding a column is one edit here (a field in its manifest's tuple) plus the code that
computes the value. Bump that manifest's ``version`` when a change would make older code
misread the file (a column removed, renamed or retyped); adding a nullable column keeps old
readers working and needs no bump.

Example:
    >>> schema_of("split").names[:4]
    ['id', 'class_label', 'group', 'split']
    >>> SCHEMAS["crawl"].field("width").type
    DataType(int64)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

#: Key of the manifest information in the Parquet file's key-value metadata
#: (``{"stage": ..., "schema_version": ...}`` as JSON), beside pyarrow's own ``pandas`` key.
METADATA_KEY = b"pcbforge"

STRING = pa.string()
INT = pa.int64()
FLOAT = pa.float64()
BOOL = pa.bool_()


def list_of(item: pa.DataType) -> pa.ListType:
    """A list type whose item field has the name Parquet gives it back with (``element``)."""
    return pa.list_(pa.field("element", item))


def text(*names: str) -> tuple[pa.Field, ...]:
    """Nullable string fields named ``names`` (most manifest columns are)."""
    return tuple(pa.field(n, STRING) for n in names)


#: Every row has an id (unique within its manifest) and a status; ``error`` is the reason of a
#: rejected or error row, null when ok.
ID = pa.field("id", STRING, nullable=False)
STATUS = pa.field("status", STRING, nullable=False)
ERROR = pa.field("error", STRING)

#: Lineage of a sample's pixels, carried from the crawl (via accepted.parquet) or a board's
#: data.yaml through components, triplets and pairs to the export's CREDITS.csv.
#: ``source_url`` identifies the source image (a web photo's URL, a board's page or file);
#: ``image_url`` is the crawled file's URL (null for boards); the rest are null when unknown.
LINEAGE: tuple[pa.Field, ...] = text("source_url", "image_url", "licence", "licence_url", "author", "attribution")
LINEAGE_COLUMNS: tuple[str, ...] = tuple(f.name for f in LINEAGE)
#: Prefix of the lineage (in triplets.parquet) of the component whose pixels the negative shows:
#: another class's crop, the wrong-part donor, or the anchor itself for its own defects. Null
#: when there is no negative. The anchor's own lineage keeps the plain names.
NEGATIVE_PREFIX = "negative_"
NEGATIVE_LINEAGE: tuple[pa.Field, ...] = tuple(f.with_name(NEGATIVE_PREFIX + f.name) for f in LINEAGE)
#: Perceptual hash kinds dedup can compute (``dedup.hashes``); each is a hex-string column.
HASH_KINDS: tuple[str, ...] = ("phash", "dhash", "ahash", "whash")


def lineage(*names: str, prefix: str = "") -> tuple[pa.Field, ...]:
    """The lineage fields ``names`` (all of :data:`LINEAGE` when none), in the order given."""
    by_name = {f.name: f for f in LINEAGE}
    return tuple(by_name[n].with_name(prefix + n) for n in (names or LINEAGE_COLUMNS))


@dataclass(frozen=True)
class ManifestSchema:
    """One manifest's declared columns (in file order) and schema version."""

    stage: str
    file: str
    version: int
    fields: tuple[pa.Field, ...]

    @property
    def names(self) -> list[str]:
        """Column names in file order."""
        return [f.name for f in self.fields]

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema (without file metadata)."""
        return pa.schema(self.fields)

    def field(self, name: str) -> pa.Field:
        """The declared field ``name`` (KeyError if undeclared)."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.file} declares no column {name!r}")


def _manifest(stage: str, file: str, version: int, *fields: pa.Field | Iterable[pa.Field]) -> ManifestSchema:
    flat: list[pa.Field] = []
    for f in fields:
        flat.extend([f] if isinstance(f, pa.Field) else f)
    names = [f.name for f in flat]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:  # a declaration bug: fail at import, not when a file is half written
        raise ValueError(f"{file} schema declares {dup} twice")
    return ManifestSchema(stage, file, version, tuple(flat))


_MANIFESTS = (
    _manifest(
        "catalog", "catalog.parquet", 1,
        ID, text("kind", "class_label", "image_path", "page_path", "licence", "author", "dup_of", "dup_transform",
                 "junk_kind", "title", "format"),
        pa.field("width", INT, nullable=False), pa.field("height", INT, nullable=False),
        text("sha256"), pa.field("n_objects", INT),
        STATUS, ERROR,
    ),
    _manifest(
        "crawl", "images.parquet", 2,
        ID, text("source", "page_url"), lineage("image_url"), text("class_label"),
        lineage("licence", "author", "attribution", "licence_url"),
        text("title", "mpn", "sku", "datasheet_url"),
        text("sha256"), pa.field("width", INT), pa.field("height", INT), pa.field("bytes", INT),
        text("format", "path", "fetched_at"),
        STATUS, ERROR,
    ),
    _manifest(
        "dedup", "dedup.parquet", 1,
        ID, text("sha256", *HASH_KINDS, "cluster"), pa.field("keep", BOOL, nullable=False),
        text("dup_of", "dup_kind"), pa.field("distance", INT), pa.field("confirm_distance", INT),
        pa.field("color_distance", FLOAT), pa.field("mirrored", BOOL), pa.field("width", INT), pa.field("height", INT),
        pa.field("doubt", FLOAT), text("degraded", "note"),
        STATUS, ERROR,
    ),
    _manifest(
        "quality", "quality.parquet", 1,
        ID, pa.field("width", INT), pa.field("height", INT),
        *(pa.field(n, FLOAT) for n in ("aspect", "std", "blur", "chroma")), pa.field("grayscale", BOOL),
        text("flags"),
        STATUS, ERROR,
    ),
    _manifest(
        "review", "accepted.parquet", 1,
        ID, text("class_label", "path", "sha256", "source"), lineage("image_url"), text("page_url"),
        lineage("licence", "author", "attribution", "licence_url"), text("cluster", "decision"),
        STATUS, ERROR,
    ),
    _manifest(
        "crop", "components.parquet", 1,
        ID, text("class_label", "origin", "group", "parent_id"),
        pa.field("box", list_of(FLOAT)), pa.field("source_line", INT),
        text("crop_path", "context_path"), pa.field("context_box", list_of(INT)),
        LINEAGE,
        STATUS, ERROR,
    ),
    _manifest(
        "split", "split.parquet", 1,
        ID, text("class_label", "group", "split", "origin", "group_by"),
        STATUS, ERROR,
    ),
    _manifest(
        "triplets", "triplets.parquet", 1,
        ID, text("split", "class_label", "anchor_id"), pa.field("k", INT),
        text("anchor_path", "positive_path", "negative_path", "negative_kind", "negative_class", "negative_id",
             "negative_mask_path", "defect_params", "positive_params"),
        LINEAGE,
        NEGATIVE_LINEAGE,
        STATUS, ERROR,
    ),
    _manifest(
        "simulate", "pairs.parquet", 2,
        ID,
        text("split", "template_path", "defected_path", "mask_path", "mode", "scene", "shapes", "defects", "pose"),
        text("parent_id"),
        LINEAGE,
        STATUS, ERROR,
    ),
    _manifest(
        "export", "export.parquet", 1,
        ID, text("source", "split", "formats", "notes"),
        STATUS, ERROR,
    ),
)  # fmt: skip

#: Declared schema of each stage's manifest, by stage name.
SCHEMAS: dict[str, ManifestSchema] = {m.stage: m for m in _MANIFESTS}


def schema_of(stage: str) -> pa.Schema:
    """The Arrow schema of ``stage``'s manifest.

    Raises:
        KeyError: ``stage`` writes no manifest.
    """
    return manifest_schema(stage).schema


def manifest_schema(stage: str) -> ManifestSchema:
    """The :class:`ManifestSchema` of ``stage``'s manifest (KeyError naming the known stages)."""
    try:
        return SCHEMAS[stage]
    except KeyError:
        raise KeyError(f"no manifest schema for stage {stage!r} (known: {', '.join(SCHEMAS)})") from None


def columns(stage: str) -> tuple[str, ...]:
    """Column names of ``stage``'s manifest, in file order.

    Example:
        >>> columns("export")
        ('id', 'source', 'split', 'formats', 'notes', 'status', 'error')
    """
    return tuple(manifest_schema(stage).names)
