"""DVC stage ``export``: triplets and SSDS pairs as contrastive pairs, MVTec folders and WebDataset shards.

Reads ``<triplets.out>/triplets.parquet`` and ``<simulate.out>/pairs.parquet`` (ok rows,
sorted by id) and writes ``<export.out>/<format>/`` for each of ``export.formats``, plus
``<export.out>/export.parquet``: one row per exported sample with the formats it landed in
and, in ``notes``, why it was left out of any, and ``<export.out>/CREDITS.csv``: the source
images those samples use, with licence, author and attribution, and the dataset card
``CARD.md`` + ``CARD.json`` + ``card/contact_sheet.png`` (counts, licence obligations, cleaning
statistics, params and input hashes; see docs/export.md and :mod:`pcbforge.datasets.card`).
Every sample carries a split (a pair's is its template component's), and each format places
samples by it, so no train-split component ends up in test data.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from pcbforge import __version__
from pcbforge.config import Params
from pcbforge.datasets.card import (
    CARD_JSON,
    CARD_MD,
    CONTACT_SHEET,
    build_card,
    contact_sheet,
    dedup_stats,
    excluded_by,
    render_markdown,
    review_stats,
    sheet_rows,
)
from pcbforge.datasets.export import (
    Exporter,
    MvtecExporter,
    PairsExporter,
    Sample,
    WebDatasetExporter,
    credit_rows,
    format_credits,
)
from pcbforge.datasets.manifest import (
    LINEAGE_COLUMNS,
    MANIFEST_NAMES,
    cell_value,
    error_row,
    lineage_of,
    manifest_info,
    ok_only,
    ok_row,
    read_manifest,
    rejected_row,
    shown_path,
    to_frame,
    write_manifest,
)
from pcbforge.io import sha256_bytes, staged_dir, write_json, write_png, write_text
from pcbforge.vocab import SPLITS, DefectType, ExportFormat

log = logging.getLogger(__name__)

#: Columns of triplets.parquet and pairs.parquet the export reads.
TRIPLET_COLUMNS = ("id", "split", "anchor_path", "positive_path", "negative_path", "negative_kind", "status")
PAIR_COLUMNS = ("id", "split", "template_path", "defected_path", "mask_path", "status")
#: Triplet columns carried into the exports' metadata when present.
TRIPLET_META = ("class_label", "anchor_id", "negative_class", "defect_params", *LINEAGE_COLUMNS)
#: Pair columns carried into the exports' metadata when present.
PAIR_META = ("parent_id", "pose", "shapes", *LINEAGE_COLUMNS)
#: Kept as JSON values in the metadata (the rest stay plain cells).
JSON_META = ("defect_params", "pose", "shapes")
#: Source images and their licence terms, at the root of ``export.out``.
CREDITS = "CREDITS.csv"
#: Params the dataset card records: what shaped the data (dvc.yaml lists them as the stage's params).
CARD_PARAMS: dict[str, tuple[str, ...] | None] = {
    "base": ("seed", "image_size", "source_date_epoch"),
    "classes": None,
    "crawl": ("sources", "label_conflict"),
    "dedup": None,
    "quality": None,
    "review": ("drop_quality_flags",),
    "crop": None,
    "split": None,
    "triplets": None,
    "simulate": None,
    "export": None,
}


def _meta(r: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: _json_or_text(r[k]) if k in JSON_META else cell_value(r[k]) for k in keys if k in r}


def _json_or_text(v: Any) -> Any:
    v = cell_value(v)
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def triplet_samples(df: pd.DataFrame, root: Path) -> Iterator[Sample]:
    """Samples of the ok triplets in ``df`` (paths relative to ``root`` = ``triplets.out``), by id."""
    for row in df.sort_values("id", kind="mergesort").itertuples(index=False):
        r = row._asdict()
        mask = cell_value(r.get("negative_mask_path"))
        # The negative shows another component's pixels for other_class and wrong_part.
        sources = (lineage_of(r), lineage_of(r, "negative_")) if "negative_source_url" in r else (lineage_of(r),)
        # The positive is the anchor's component redrawn; the negative (and its mask) its own source.
        roles = {"anchor": sources[0], "positive": sources[0], "negative": sources[-1]}
        yield Sample(
            id=str(r["id"]),
            source="triplets",
            split=str(r["split"]),
            images={k: root / str(r[f"{k}_path"]) for k in ("anchor", "positive", "negative")},
            mask=root / str(mask) if mask else None,
            anomaly=str(r["negative_kind"]),
            meta=_meta(r, TRIPLET_META),
            sources=sources,
            lineage=roles,
        )


def is_pose_only(r: dict[str, Any], mask: Path | None) -> bool:
    """True if a pair shows no defect: its recipe has none (``defects`` = ``[]``) or its mask is empty.

    The mask decides too: a defect the pose carried out of view leaves nothing to find.
    A mask that cannot be read decides nothing (the stage reports missing files itself).
    """
    defects = _json_or_text(r.get("defects"))
    if defects == []:
        return True
    if mask is None or not mask.is_file():
        return False
    try:
        with Image.open(mask) as im:
            return not np.asarray(im.convert("L")).any()
    except (OSError, UnidentifiedImageError):
        return False


def pair_samples(df: pd.DataFrame, root: Path, classes: dict[str, str] | None = None) -> Iterator[Sample]:
    """Samples of the ok SSDS pairs in ``df`` (paths relative to ``root`` = ``simulate.out``), by id.

    A defect-free pose-only pair (see :func:`is_pose_only`) is a good sample (``anomaly`` =
    ``none``, ``pose_only`` in its metadata): exporters place it as good, not as an anomaly.
    ``classes`` (component id -> class, see :func:`component_classes`) gives a board-mode
    pair the ``class_label`` of its template component (its MVTec category).
    """
    for row in df.sort_values("id", kind="mergesort").itertuples(index=False):
        r = row._asdict()
        mask_cell = cell_value(r.get("mask_path"))
        mask = root / str(mask_cell) if mask_cell else None
        good = is_pose_only(r, mask)
        lin = lineage_of(r) if any(lineage_of(r).values()) else None
        cls = (classes or {}).get(str(cell_value(r.get("parent_id"))))
        yield Sample(
            id=str(r["id"]),
            source="simulate",
            split=cell_value(r["split"]),
            images={"template": root / str(r["template_path"]), "defected": root / str(r["defected_path"])},
            mask=mask,
            anomaly=(DefectType.NONE if good else DefectType.SIMULATED_SHAPE).value,
            meta={**_meta(r, PAIR_META), "pose_only": good, **({"class_label": cls} if cls else {})},
            # A shapes-mode pair shows no real image: it has no source to credit.
            sources=(lin,) if lin else (),
            lineage={"template": lin, "defected": lin},
        )


def component_classes(triplets: pd.DataFrame) -> dict[str, str]:
    """Component id -> class label, from the triplets' anchors (what an SSDS pair's template is)."""
    known = triplets.dropna(subset=["anchor_id", "class_label"])
    return dict(zip(known["anchor_id"].astype(str), known["class_label"].astype(str), strict=True))


def missing_files(sample: Sample, root: Path) -> list[str]:
    """Files a sample names that do not exist, as the project shows them (relative to ``root``)."""
    paths = [*sample.images.values(), *([sample.mask] if sample.mask is not None else [])]
    return [shown_path(p, root) for p in paths if not p.is_file()]


def make_exporters(formats: list[ExportFormat | str], out: Path, shard_size: int, mtime: int) -> list[Exporter]:
    """One exporter per format, each writing under ``out/<format>``."""
    made: dict[ExportFormat, Exporter] = {}
    for fmt in map(ExportFormat, formats):  # a name outside ExportFormat is a ValueError
        if fmt in made:
            continue
        if fmt is ExportFormat.PAIRS:
            made[fmt] = PairsExporter(out / fmt.value)
        elif fmt is ExportFormat.MVTEC:
            made[fmt] = MvtecExporter(out / fmt.value)
        else:  # ExportFormat.WEBDATASET
            made[fmt] = WebDatasetExporter(out / fmt.value, shard_size, mtime)
    return list(made.values())


def _check_credits(credits: list[dict[str, Any]], path: Path) -> None:
    """Log what a dataset owner must look at before shipping: untraceable or conflicting sources."""
    unknown = sum(r["samples"] for r in credits if not r["source_url"])
    if unknown:
        log.warning("%s: %d exported sample(s) have a source image with no source_url (empty row)", path, unknown)
    unlicensed = sorted({r["source_url"] for r in credits if r["source_url"] and not r["licence"]})
    if unlicensed:
        log.warning("%s: %d source(s) have no licence, e.g. %s", path, len(unlicensed), unlicensed[0])
    urls = Counter(r["source_url"] for r in credits if r["source_url"])
    clashes = sorted(u for u, n in urls.items() if n > 1)
    if clashes:
        log.warning("%s: %d source_url(s) listed with differing licence terms, e.g. %s", path, len(clashes), clashes[0])


def card_params(params: Params) -> dict[str, Any]:
    """The :data:`CARD_PARAMS` of ``params`` as JSON-ready values."""
    out: dict[str, Any] = {}
    for section, keys in CARD_PARAMS.items():
        dumped = getattr(params, section).model_dump(mode="json")
        out[section] = dumped if keys is None else {k: dumped[k] for k in keys}
    return out


def input_info(path: Path, df: pd.DataFrame) -> dict[str, Any]:
    """A manifest's sha256, schema version and row count, as the card records its inputs."""
    import pyarrow.parquet as pq

    return {
        "sha256": sha256_bytes(path.read_bytes()),
        "schema_version": manifest_info(pq.read_schema(path)).get("schema_version"),
        "rows": len(df),
    }


def cleaning_stats(params: Params) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Dedup and review statistics for the card, or None for a manifest this build does not have."""
    found = []
    for stage, out, stats in (("dedup", params.dedup.out, dedup_stats), ("review", params.review.out, review_stats)):
        path = params.path(out) / MANIFEST_NAMES[stage]
        if not path.is_file():
            log.info("dataset card: no %s (%s statistics left out)", path, stage)
            found.append(None)
            continue
        df = read_manifest(path, stage)
        found.append(stats([{k: cell_value(v) for k, v in r.items()} for r in df.to_dict("records")]))
    return found[0], found[1]


def left_out_reason(row: dict[str, Any]) -> str | None:
    """A short reason to count a manifest row under in the card (None: exported)."""
    if row["status"] == "ok":
        return None if row["formats"] else "in no format"
    err = str(row["error"])
    if err.startswith("licence excluded"):
        return err.split(":", 1)[0]
    return "missing files" if err.startswith("missing file") else "no split"


def run(params: Params, **options: Any) -> str:
    """Run the stage; returns a one-line summary.

    Raises:
        InputError: a manifest is missing, unreadable or lacks a contract column.
    """
    ep = params.export
    trip_root = params.path(params.triplets.out)
    sim_root = params.path(params.simulate.out)
    out = params.path(ep.out)
    trip_path, pair_path = trip_root / MANIFEST_NAMES["triplets"], sim_root / MANIFEST_NAMES["simulate"]
    triplets = read_manifest(trip_path, "triplets", require=TRIPLET_COLUMNS)
    # A pairs.parquet without splits predates split-aware simulate: exporting it would put
    # train components into test data, so it is refused rather than guessed.
    pairs = read_manifest(pair_path, "simulate", require=PAIR_COLUMNS)
    ok_t, ok_p = ok_only(triplets), ok_only(pairs)
    skipped = (len(triplets) - len(ok_t), len(pairs) - len(ok_p))
    if any(skipped):
        log.info("skipping %d triplets and %d pairs whose status is not ok (reasons in their manifests)", *skipped)
    # Tar member mtimes: the fixed clock keeps shards byte-identical; null means "now".
    epoch = params.base.source_date_epoch
    mtime = int(time.time()) if epoch is None else epoch

    # Triplets with a negative always credit its source; all null means an older manifest.
    if len(ok_t) and ok_t["negative_source_url"].isna().all():
        log.warning("%s has no negative_* lineage: %s credits anchors only (re-run `pcbforge triplets`)", trip_path, CREDITS)
    rows: list[dict[str, Any]] = []
    exported: list[Sample] = []
    with staged_dir(out) as tmp:
        exporters = make_exporters(list(ep.formats), tmp, ep.shard_size, mtime)
        samples = [*triplet_samples(ok_t, trip_root), *pair_samples(ok_p, sim_root, component_classes(ok_t))]
        for sample in tqdm(samples, desc="export", unit="sample", disable=None):
            base = {"id": sample.id, "source": sample.source, "split": sample.split}
            if sample.split not in SPLITS:
                why = f"split {sample.split!r} is not one of {sorted(SPLITS)} (re-run the stage that wrote it)"
                log.warning("%s %s not exported: %s", sample.source, sample.id, why)
                rows.append(error_row(why, **base, formats="", notes=""))
                continue
            missing = missing_files(sample, params.root)
            if missing:
                log.warning("%s %s not exported: missing %s", sample.source, sample.id, missing)
                rows.append(error_row(f"missing file(s): {', '.join(missing)}", **base, formats="", notes=""))
                continue
            excluded = excluded_by(sample.sources, ep.exclude)
            if excluded:
                rows.append(rejected_row(excluded, **base, formats="", notes=""))
                continue
            landed, notes = [], []
            for exp in exporters:
                note = exp.write(sample)
                if note is None:
                    landed.append(exp.name)
                else:
                    notes.append(note)
            rows.append(ok_row(**base, formats=",".join(landed), notes="; ".join(notes)))
            if landed:
                exported.append(sample)
        counts = {exp.name: exp.close() for exp in exporters}
        write_manifest(to_frame(rows, stage="export"), tmp / MANIFEST_NAMES["export"], stage="export")
        credits = credit_rows(exported)
        write_text(tmp / CREDITS, format_credits(credits))
        sheet = contact_sheet(sheet_rows(exported))
        if sheet is not None:
            write_png(tmp / CONTACT_SHEET, sheet)
        dedup, review = cleaning_stats(params)
        card = build_card(
            triplets=[{"split": s.split, "class_label": s.meta.get("class_label"), "negative_kind": s.anomaly}
                      for s in exported if s.source == "triplets"],
            pairs=[{"split": s.split, "anomaly": s.anomaly} for s in exported if s.source == "simulate"],
            left_out=Counter(r for r in map(left_out_reason, rows) if r),
            credits=credits,
            exclude=[e.value for e in ep.exclude],
            formats=counts,
            dedup=dedup,
            review=review,
            params=card_params(params),
            inputs={trip_path.name: input_info(trip_path, triplets), pair_path.name: input_info(pair_path, pairs)},
            version=__version__,
            contact_sheet=CONTACT_SHEET if sheet is not None else None,
        )  # fmt: skip
        write_json(tmp / CARD_JSON, card)
        write_text(tmp / CARD_MD, render_markdown(card))
    _check_credits(credits, out / CREDITS)
    for name, c in counts.items():
        log.info("%s: %s", name, ", ".join(f"{k}={v}" for k, v in c.items()))
    n_err = sum(r["status"] == "error" for r in rows)
    n_excl = sum(r["status"] == "rejected" for r in rows)
    errs = f", {n_err} not exported (missing files or no split)" if n_err else ""
    errs += f", {n_excl} left out by export.exclude" if n_excl else ""
    return (
        f"{len(ok_t)} triplets + {len(ok_p)} pairs{errs} -> {', '.join(counts) or 'no formats'} under {out}; "
        f"{len(credits)} source image(s) in {CREDITS}; card in {CARD_MD}"
    )
