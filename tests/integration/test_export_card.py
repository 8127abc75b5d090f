"""The dataset card the export writes: counts checked against the manifests, licence obligations, exclusion."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
from PIL import Image

from pcbforge.config import Params
from pcbforge.datasets.manifest import write_manifest
from pcbforge.pipelines import export
from tests.helpers.fake_project import write_rows
from tests.integration.test_export_stage import prepare


def card(params: Params) -> dict:
    return json.loads((params.path(params.export.out) / "CARD.json").read_text())


def test_card_counts_match_the_manifests(params: Params) -> None:
    prepare(params)
    export.run(params)
    out = params.path(params.export.out)
    c = card(params)
    manifest = pd.read_parquet(out / "export.parquet")
    exported = manifest[(manifest["status"] == "ok") & (manifest["formats"] != "")]
    trip = pd.read_parquet(params.path(params.triplets.out) / "triplets.parquet").set_index("id")
    t = exported[exported["source"] == "triplets"].join(trip[["class_label", "negative_kind"]], on="id")
    counts = c["counts"]["triplets"]
    assert counts["total"] == len(t) == 7
    assert counts["by_split"] == dict(Counter(t["split"]))
    assert counts["by_class_label"] == dict(sorted(Counter(t["class_label"]).items()))
    assert counts["by_negative_kind"] == dict(sorted(Counter(t["negative_kind"]).items()))
    for split, per in counts["by_split_class_label"].items():
        assert per == dict(sorted(Counter(t.loc[t["split"] == split, "class_label"]).items()))
    pairs = exported[exported["source"] == "simulate"]
    assert c["counts"]["pairs"]["total"] == len(pairs) == 8
    assert c["counts"]["pairs"]["by_split"] == dict(sorted(Counter(pairs["split"]).items()))
    # Inputs pinned by hash, params and version recorded, the contact sheet beside the card.
    assert c["inputs"]["triplets.parquet"]["rows"] == len(trip)
    assert c["params"]["triplets"]["per_component"] == params.triplets.per_component
    assert c["pcbforge_version"] and c["contact_sheet"] == "card/contact_sheet.png"
    with Image.open(out / c["contact_sheet"]) as im:
        assert im.width == 4 * 96 and im.height % 96 == 0 and im.height >= 96 * 3  # one row per kind at least
    md = (out / "CARD.md").read_text()
    assert "7 triplets, 8 SSDS pairs exported." in md and "![contact sheet](card/contact_sheet.png)" in md
    # Fixture sources are CC BY and CC0: attribution is stated, share-alike is not claimed.
    assert [o["obligation"] for o in c["obligations"]] == ["attribution"]
    assert "ship CREDITS.csv" in md and "share-alike" not in md
    # No dedup or review manifest in this build: said, not invented.
    assert c["dedup"] is None and "no dedup manifest" in md


def _share_alike(params: Params) -> str:
    """Make the first ok triplet's anchor photo CC BY-SA; return that triplet's id."""
    path = params.path(params.triplets.out) / "triplets.parquet"
    df = pd.read_parquet(path)
    first = df[df["status"] == "ok"].sort_values("id").iloc[0]
    same = df["source_url"] == first["source_url"]
    df.loc[same, "licence"] = "CC-BY-SA-4.0"
    write_manifest(df, path, stage="triplets")
    return str(first["id"])


def test_card_states_share_alike_and_exclude_leaves_those_samples_out(tmp_path: Path) -> None:
    from tests.helpers.params import tiny_params

    kept = tiny_params(tmp_path / "kept")
    prepare(kept)
    victim = _share_alike(kept)
    export.run(kept)
    c = card(kept)
    sa = [o for o in c["obligations"] if o["obligation"] == "share_alike"]
    assert sa and sa[0]["licences"] == ["CC-BY-SA-4.0"] and "same licence" in sa[0]["statement"]
    assert "**share-alike** (CC-BY-SA-4.0" in (kept.path(kept.export.out) / "CARD.md").read_text()

    dropped = tiny_params(tmp_path / "dropped", {"export": {"exclude": ["share_alike"]}})
    prepare(dropped)
    _share_alike(dropped)
    summary = export.run(dropped)
    manifest = pd.read_parquet(dropped.path(dropped.export.out) / "export.parquet").set_index("id")
    assert manifest.loc[victim, "status"] == "rejected"
    assert manifest.loc[victim, "error"].startswith("licence excluded by export.exclude (share_alike): CC-BY-SA-4.0")
    c = card(dropped)
    assert c["exclude"] == ["share_alike"] and not [o for o in c["obligations"] if o["obligation"] == "share_alike"]
    assert c["counts"]["left_out"] == {"licence excluded by export.exclude (share_alike)": int((manifest["status"] == "rejected").sum())}
    assert "left out by export.exclude" in summary
    credits = pd.read_csv(dropped.path(dropped.export.out) / "CREDITS.csv")
    assert "CC-BY-SA-4.0" not in set(credits["licence"])


def test_card_reports_dedup_and_review_statistics(params: Params) -> None:
    prepare(params)
    write_rows("dedup", [
        {"id": "a", "keep": True, "cluster": "a"},
        {"id": "b", "keep": False, "cluster": "a", "dup_of": "a", "dup_kind": "exact"},
        {"id": "c", "keep": False, "cluster": "a", "dup_of": "a", "dup_kind": "near"},
        {"id": "d", "keep": True, "cluster": "d"},
    ], params)  # fmt: skip
    write_rows("review", [
        {"id": "a", "decision": "accept"}, {"id": "d", "status": "rejected", "decision": "reject", "error": "junk"},
    ], params)  # fmt: skip
    export.run(params)
    c = card(params)
    assert c["dedup"] == {"images": 4, "kept": 2, "duplicates": 2, "by_dup_kind": {"exact": 1, "near": 1},
                          "clusters_with_duplicates": 1, "not_hashed": 0}  # fmt: skip
    assert c["review"] == {"images": 2, "by_status": {"ok": 1, "rejected": 1}, "by_decision": {"accept": 1, "reject": 1}}
    assert "dedup: 4 images, 2 kept, 2 duplicates (exact 1, near 1)" in (params.path(params.export.out) / "CARD.md").read_text()
