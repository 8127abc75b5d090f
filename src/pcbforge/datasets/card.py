"""The dataset card written with every export: what the data holds, where it came from, what its licences oblige.

The export stage writes ``CARD.json`` (for tools) and ``CARD.md`` (for people, the same
facts in prose and tables) at the root of ``export.out``, beside ``CREDITS.csv`` and the
formats, plus ``card/contact_sheet.png``. A card holds:

- counts of the exported samples per split, component class and defect kind (triplets) and
  per split and anomaly (SSDS pairs), and how many samples were left out and why;
- the licence mix of the source images those samples show, with the obligations each
  licence carries (:func:`obligations`) stated plainly — attribution, share-alike,
  non-commercial, no-derivatives, unknown — and which obligations ``export.exclude`` removed;
- dedup and review statistics when those stages' manifests are present;
- the params that shaped the data, the pcbforge version, each input manifest's schema
  version and sha256 (the git tag of the repository pins the code and the data together).

Everything here is a pure function of plain values, so the card's bytes follow the data's.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pcbforge.vocab import Obligation

CARD_JSON = "CARD.json"
CARD_MD = "CARD.md"
CONTACT_SHEET = "card/contact_sheet.png"

#: What each obligation asks of whoever ships or uses the data, in plain words.
PLAIN: dict[Obligation, str] = {
    Obligation.ATTRIBUTION: (
        "credit the author and licence of each source image: ship CREDITS.csv with the data "
        "(and with any model card or publication that shows the images)"
    ),
    Obligation.SHARE_ALIKE: (
        "the crops, defects and pairs made from these images are adaptations: if you share them, "
        "or a dataset that contains them, share them under the same licence (or a compatible one)"
    ),
    Obligation.NON_COMMERCIAL: "these images and anything made from them may not be used for commercial purposes",
    Obligation.NO_DERIVATIVES: (
        "crops and synthesized defects are adaptations, which this licence does not allow you to share"
    ),
    Obligation.UNKNOWN: "no licence, or one pcbforge does not recognise: check the terms before you share or use the data",
}


def obligations(licence: str | None) -> frozenset[Obligation]:
    """The obligations a licence id (SPDX-style, as crawl and board sources record them) carries.

    Public-domain dedications (``CC0-1.0``, ``PDM``) carry none; Creative Commons licences
    carry attribution plus one flag per element (``SA``, ``NC``, ``ND``); a missing or unknown
    licence is :attr:`~pcbforge.vocab.Obligation.UNKNOWN`.

    Example:
        >>> sorted(o.value for o in obligations("CC-BY-SA-4.0"))
        ['attribution', 'share_alike']
        >>> sorted(o.value for o in obligations("CC-BY-NC-ND-4.0"))
        ['attribution', 'no_derivatives', 'non_commercial']
        >>> obligations("CC0-1.0"), [o.value for o in obligations(None)]
        (frozenset(), ['unknown'])
    """
    lic = (licence or "").strip().upper().replace("_", "-").replace(" ", "-")
    if not lic:
        return frozenset({Obligation.UNKNOWN})
    if lic.startswith(("CC0", "PDM", "PUBLIC-DOMAIN", "UNLICENSE")):
        return frozenset()
    parts = set(re.split(r"[-.]", lic))
    if lic.startswith("CC-BY"):
        found = {Obligation.ATTRIBUTION}
        found |= {o for flag, o in (("SA", Obligation.SHARE_ALIKE), ("NC", Obligation.NON_COMMERCIAL),
                                    ("ND", Obligation.NO_DERIVATIVES)) if flag in parts}  # fmt: skip
        return frozenset(found)
    if lic in ("MIT", "APACHE-2.0", "BSD-2-CLAUSE", "BSD-3-CLAUSE"):
        return frozenset({Obligation.ATTRIBUTION})
    return frozenset({Obligation.UNKNOWN})


def excluded_by(sources: Iterable[Mapping[str, Any]], exclude: Iterable[Obligation | str]) -> str | None:
    """Why a sample is left out under ``export.exclude``, or ``None`` if none of its sources is excluded.

    Example:
        >>> excluded_by([{"licence": "CC-BY-SA-4.0", "source_url": "http://a/1.jpg"}], ["share_alike"])
        'licence excluded by export.exclude (share_alike): CC-BY-SA-4.0 of http://a/1.jpg'
        >>> excluded_by([{"licence": "CC0-1.0"}], ["share_alike"]) is None
        True
    """
    drop = {Obligation(o) for o in exclude}
    if not drop:
        return None
    for src in sources:
        hit = sorted(o.value for o in obligations(src.get("licence")) & drop)
        if hit:
            return f"licence excluded by export.exclude ({', '.join(hit)}): {src.get('licence')} of {src.get('source_url')}"
    return None


def _counts(values: Iterable[Any]) -> dict[str, int]:
    c = Counter("" if v is None else str(v) for v in values)
    return dict(sorted(c.items()))


def sample_counts(rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> dict[str, Any]:
    """Counts of ``rows`` in total, per each of ``keys`` and per split x each other key."""
    out: dict[str, Any] = {"total": len(rows)}
    for k in keys:
        out[f"by_{k}"] = _counts(r.get(k) for r in rows)
    for k in keys:
        if k != "split":
            out[f"by_split_{k}"] = {
                s: _counts(r.get(k) for r in rows if r.get("split") == s) for s in sorted({str(r.get("split")) for r in rows})
            }
    return out


def licence_table(credits: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per licence of the credited sources: how many sources and sample uses, and its obligations."""
    by: dict[tuple[str, str], dict[str, Any]] = {}
    for c in credits:
        key = (str(c.get("licence") or ""), str(c.get("licence_url") or ""))
        row = by.setdefault(key, {"licence": key[0], "licence_url": key[1], "sources": 0, "samples": 0})
        row["sources"] += 1
        row["samples"] += int(c.get("samples") or 0)
    for row in by.values():
        row["obligations"] = sorted(o.value for o in obligations(row["licence"]))
    return [by[k] for k in sorted(by)]


def obligation_statements(licences: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """For each obligation some licence carries: which licences, how many sources, and the plain statement."""
    out = []
    for ob in Obligation:
        hit = [r for r in licences if ob.value in r["obligations"]]
        if hit:
            out.append({
                "obligation": ob.value,
                "licences": [r["licence"] or "(none)" for r in hit],
                "sources": sum(r["sources"] for r in hit),
                "statement": PLAIN[ob],
            })  # fmt: skip
    return out


def build_card(
    *,
    triplets: Sequence[Mapping[str, Any]],
    pairs: Sequence[Mapping[str, Any]],
    left_out: Mapping[str, int],
    credits: Sequence[Mapping[str, Any]],
    exclude: Sequence[str],
    formats: Mapping[str, Mapping[str, int]],
    dedup: Mapping[str, Any] | None,
    review: Mapping[str, Any] | None,
    params: Mapping[str, Any],
    inputs: Mapping[str, Mapping[str, Any]],
    version: str,
    contact_sheet: str | None,
) -> dict[str, Any]:
    """The card as a JSON-ready dict (see the module docstring for what each part means).

    Args:
        triplets: exported triplet rows (``split``, ``class_label``, ``negative_kind``).
        pairs: exported SSDS pair rows (``split``, ``anomaly``).
        left_out: reason -> samples not exported for it.
        credits: :func:`~pcbforge.datasets.export.credit_rows` of the exported samples.
        exclude: ``export.exclude``.
        formats: each exporter's ``close()`` counts.
        dedup, review: statistics of those stages (:func:`dedup_stats`, :func:`review_stats`), or None.
        params: the params sections that shaped the data.
        inputs: input manifest name -> ``{"sha256", "schema_version", "rows"}``.
        version: the pcbforge version that wrote the export.
        contact_sheet: its path relative to the card, or None.
    """
    licences = licence_table(credits)
    return {
        "pcbforge_version": version,
        "counts": {
            "triplets": sample_counts(triplets, ("split", "class_label", "negative_kind")),
            "pairs": sample_counts(pairs, ("split", "anomaly")),
            "left_out": dict(sorted(left_out.items())),
        },
        "formats": {k: dict(v) for k, v in sorted(formats.items())},
        "sources": {"images": len(credits), "credits": "CREDITS.csv", "licences": licences},
        "obligations": obligation_statements(licences),
        "exclude": sorted(str(Obligation(e).value) for e in exclude),
        "dedup": dedup,
        "review": review,
        "params": dict(params),
        "inputs": {k: dict(v) for k, v in sorted(inputs.items())},
        "contact_sheet": contact_sheet,
    }


def dedup_stats(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Images hashed, kept and dropped as duplicates (per duplicate kind), clusters, errors."""
    ok = [r for r in rows if r.get("status") == "ok"]
    dups = [r for r in ok if not r.get("keep")]
    return {
        "images": len(rows),
        "kept": sum(bool(r.get("keep")) for r in ok),
        "duplicates": len(dups),
        "by_dup_kind": _counts(r.get("dup_kind") for r in dups),
        "clusters_with_duplicates": len({r.get("cluster") for r in dups if r.get("cluster")}),
        "not_hashed": len(rows) - len(ok),
    }


def review_stats(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Images reviewed per status and per decision (``accepted.parquet``)."""
    return {
        "images": len(rows),
        "by_status": _counts(r.get("status") for r in rows),
        "by_decision": _counts(r.get("decision") for r in rows),
    }


def _table(head: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return lines


def _by_split(block: Mapping[str, Any], key: str, title: str) -> list[str]:
    per = block.get(f"by_split_{key}", {})
    splits = sorted(per)
    names = sorted({n for s in splits for n in per[s]})
    if not names:
        return []
    rows = [[n, *(per[s].get(n, 0) for s in splits), sum(per[s].get(n, 0) for s in splits)] for n in names]
    return ["", f"{title}:", "", *_table([key, *splits, "total"], rows)]


def render_markdown(card: Mapping[str, Any]) -> str:
    """``CARD.md``: the card's facts for a person, obligations first."""
    c = card["counts"]
    t, p = c["triplets"], c["pairs"]
    md = ["# Dataset card", "", f"Written by pcbforge {card['pcbforge_version']} (`pcbforge export`). "
          "The machine-readable card is `CARD.json`; every source image is credited in `CREDITS.csv`.", ""]  # fmt: skip
    md += ["## Licences and what they oblige you to do", ""]
    if card["obligations"]:
        for ob in card["obligations"]:
            md.append(f"- **{ob['obligation'].replace('_', '-')}** ({', '.join(ob['licences'])}; "
                      f"{ob['sources']} source image(s)): {ob['statement']}.")  # fmt: skip
    else:
        md.append("- No obligations: every source is public domain (or the samples show no source image).")
    excl = ", ".join(card["exclude"]) or "nothing"
    md += ["", f"`export.exclude` left out: {excl}.", ""]
    md += _table(["licence", "terms", "sources", "sample uses", "obligations"],
                 [[r["licence"] or "(none)", r["licence_url"] or "", r["sources"], r["samples"],
                   ", ".join(r["obligations"]) or "none"] for r in card["sources"]["licences"]])  # fmt: skip
    md += ["", "## Counts", "", f"{t['total']} triplets, {p['total']} SSDS pairs exported."]
    md += ["", "Triplets per split:", "", *_table(["split", "triplets"], t["by_split"].items())]
    md += _by_split(t, "class_label", "Triplets per component class and split")
    md += _by_split(t, "negative_kind", "Triplets per negative kind (defect or other class) and split")
    md += _by_split(p, "anomaly", "SSDS pairs per anomaly and split")
    if c["left_out"]:
        md += ["", "Left out:", "", *_table(["reason", "samples"], c["left_out"].items())]
    md += ["", "## Formats", ""]
    for name, counts in card["formats"].items():
        md.append(f"- `{name}/`: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    md += ["", "## Cleaning", ""]
    d, r = card["dedup"], card["review"]
    md.append(f"- dedup: {d['images']} images, {d['kept']} kept, {d['duplicates']} duplicates "
              f"({', '.join(f'{k} {v}' for k, v in d['by_dup_kind'].items()) or 'none'})." if d
              else "- dedup: no dedup manifest in this build.")  # fmt: skip
    md.append(f"- review: {r['images']} images; status " + ", ".join(f"{k} {v}" for k, v in r["by_status"].items())
              + "; decisions " + (", ".join(f"{k or '(none)'} {v}" for k, v in r["by_decision"].items()) or "none") + "."
              if r else "- review: no review manifest in this build.")  # fmt: skip
    md += ["", "## Provenance", "", "Inputs (the git tag of the repository pins these and the code):", ""]
    md += _table(["manifest", "rows", "schema version", "sha256"],
                 [[k, v.get("rows"), v.get("schema_version"), f"`{v.get('sha256')}`"] for k, v in card["inputs"].items()])
    md += ["", "Params that shaped the data are in `CARD.json` (`params`)."]
    if card["contact_sheet"]:
        md += ["", "## Contact sheet", "", "Rows: anchor | positive | negative | negative with its mask in red.", "",
               f"![contact sheet]({card['contact_sheet']})"]  # fmt: skip
    return "\n".join(md) + "\n"


def _tile(path: Path | None, tile: int, mode: str = "RGB") -> np.ndarray:
    if path is None:
        return np.zeros((tile, tile, 3), np.uint8)
    with Image.open(path) as im:
        im = im.convert(mode).resize((tile, tile), Image.Resampling.NEAREST if mode == "L" else Image.Resampling.BILINEAR)
        arr = np.asarray(im)
    return arr if mode == "RGB" else arr > 127


def contact_sheet(rows: Sequence[tuple[Sequence[Path], Path | None]], tile: int = 96) -> Image.Image | None:
    """One image, a row per sample: its images left to right, then the last one with its mask in red.

    Args:
        rows: each sample's image files (anchor, positive, negative or template, defected)
            and the anomalous image's mask (None: no mask, the last tile repeats the image).
        tile: side of each tile in pixels.

    Returns:
        The sheet, or None when there are no rows.
    """
    if not rows:
        return None
    width = max(len(images) for images, _ in rows) + 1
    sheet = Image.new("RGB", (width * tile, len(rows) * tile), (0, 0, 0))
    for i, (images, mask) in enumerate(rows):
        tiles = [_tile(p, tile) for p in images]
        overlay = tiles[-1].copy()
        if mask is not None:
            m = _tile(mask, tile, "L")
            overlay[m] = (0.4 * overlay[m] + 0.6 * np.array([255, 0, 0])).astype(np.uint8)
        tiles += [np.zeros_like(overlay)] * (width - 1 - len(images)) + [overlay]
        sheet.paste(Image.fromarray(np.hstack(tiles)), (0, i * tile))
    return sheet


def sheet_rows(samples: Sequence[Any], per_kind: int = 2, limit: int = 16) -> list[tuple[list[Path], Path | None]]:
    """The contact sheet's samples: the first ``per_kind`` (by id) of each source and anomaly, at most ``limit``.

    Every defect kind shows up, instead of the first ``limit`` ids of the most common one.
    """
    taken: Counter[tuple[str, str]] = Counter()
    rows: list[tuple[list[Path], Path | None]] = []
    for s in sorted(samples, key=lambda s: (s.source != "triplets", s.anomaly, s.id)):  # triplets first
        key = (s.source, s.anomaly)
        if taken[key] < per_kind and len(rows) < limit:
            taken[key] += 1
            rows.append((list(s.images.values()), s.mask))
    return rows
