"""How well the defects' part mask covers real parts: the vendored real boards (``realsets/``).

Every labelled box of every vendored board photo is cut the way the crop stage cuts it
(:func:`pcbforge.annotate.crops.component_views` with ``base.image_size``, ``crop.margin`` and
``crop.context_scale`` from the params), made into the :class:`~pcbforge.augment.scene.Scene`
the triplets stage builds from a board crop, and then:

- **part-mask coverage**: the share of the labelled box (in view pixels) that
  :func:`pcbforge.augment.scene.part_mask` marks as part. The ``missing`` defect removes this
  mask, so a part whose box is covered 57 % keeps ~43 % of itself in the "missing" negative.
- **removed-area coverage**: the same share for the mask ``missing`` returns (the part mask
  grown by :func:`~pcbforge.augment.scene.hole_pad`, what is actually filled in), and its
  spill: the removed area outside the box, as a share of the box.
- **pads**: how many ``missing`` negatives get pads drawn, and how many of those get round
  lands with drill holes although the source calls the part SMD (``MOUNTS`` below: what the
  source's parts really are, against what the params' taxonomy says of their names).
  Class names are passed as each source spells them, as a user's foreign names would arrive;
  the scene gets the facts of the class the taxonomy maps the name to, or the conservative
  facts of ``classes.unmapped: add`` (no pads drawn) when it maps to none.

``--catalog N`` measures N boards drawn by the built-in catalog the same way, for comparison
(the demo's boards: their classes are the built-in ones, so their pads follow the mount).

Boxes with a side under ``--min-box-px`` (default ``crop.min_box_px``) are skipped, as the crop
stage rejects them, and counted. The report ends with what the params' class taxonomy
(``classes``) makes of each source's class names, against the mount the source's parts have.

With ``--sheets DIR`` it also writes one contact sheet per defect kind on real boards
(``DIR/realsets_<kind>.png``): per sample the anchor with its labelled box (red), the negative,
and the negative with the changed region outlined (green); and one of the artifact-matched
positive (``realsets_artifact_matched.png``: board beside the part re-filled, the part untouched).

Prints the figures; records nothing. Figures of a run are kept in docs/realsets.md.

Usage:
    python benchmarks/bench_masks.py --catalog 12
    python benchmarks/bench_masks.py --sheets docs/img --per-sheet 8
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pcbforge.annotate.crops import component_views, load_rgb  # noqa: E402
from pcbforge.annotate.yolo import to_pixels  # noqa: E402
from pcbforge.augment.functional import missing  # noqa: E402
from pcbforge.augment.scene import Scene, part_mask  # noqa: E402
from pcbforge.augment.transforms import artifact_matched_positive, make_defect, sample_missing  # noqa: E402
from pcbforge.catalog.boards import draw_board  # noqa: E402
from pcbforge.config import Params, load_params  # noqa: E402
from pcbforge.rng import make_rng  # noqa: E402
from pcbforge.taxonomy import ClassInfo, Mount, Taxonomy, UnknownClassError  # noqa: E402
from pcbforge.vocab import DefectType  # noqa: E402
from tests.helpers.realsets import REALSETS, read_all  # noqa: E402

#: Mount type of each vendored source's classes, as the source's own pages describe the boards
#: ("*" = every class of the source). The board of ``olegofriendz-one-board`` is all SMD.
MOUNTS: dict[str, dict[str, str]] = {
    "olegofriendz-one-board": {"*": "smd"},
}

#: The extra contact sheet of the artifact-matched positive (not a defect kind).
ARTIFACT_MATCHED = "artifact_matched"

#: Coverage bins the distribution is printed in (upper edges, %).
BINS = (25, 50, 75, 85, 95, 100.01)


@dataclass
class Sample:
    """One labelled box, cut and measured."""

    source: str
    cls: str
    mount: str
    photo: str
    scene: Scene
    coverage: float  # part_mask inside the box / box area
    mask_spill: float  # part_mask outside the box / box area
    removed: float  # missing's mask inside the box / box area
    spill: float  # missing's mask outside the box / box area
    pads: bool
    drill: bool  # pads drawn as through-hole lands (with drill holes)


def mount_of(source: str, cls: str) -> str:
    table = MOUNTS.get(source, {})
    return table.get(cls, table.get("*", "unknown"))


def box_in_view(scene: Scene) -> tuple[int, int, int, int]:
    """The labelled box in whole view pixels (pixel centres inside the float box)."""
    bx = scene.part_box()
    assert bx is not None
    s = scene.view.shape[0]
    x0, y0, x1, y1 = (int(round(v)) for v in bx)
    return max(0, x0), max(0, y0), min(s, max(x1, x0 + 1)), min(s, max(y1, y0 + 1))


def shares(mask: np.ndarray, box: tuple[int, int, int, int]) -> tuple[float, float]:
    """(mask inside box / box area, mask outside box / box area)."""
    x0, y0, x1, y1 = box
    on = mask > 0
    area = max(1, (x1 - x0) * (y1 - y0))
    inside = int(on[y0:y1, x0:x1].sum())
    return inside / area, (int(on.sum()) - inside) / area


def facts_of(tax: Taxonomy, class_label: str) -> ClassInfo:
    """The facts the triplets stage would give a part so named: its class's if the taxonomy
    maps the name (aliases), else the conservative facts ``classes.unmapped: add`` gives it."""
    try:
        return tax[tax.resolve(class_label)]
    except UnknownClassError:
        return ClassInfo.conservative(class_label)


def draws_drill(info: ClassInfo) -> bool:
    """Whether ``draw_pads`` draws round lands with drill holes for a class with these facts."""
    return info.mount is Mount.THT and info.pads > 0


def measure(
    image: np.ndarray,
    box: tuple[float, float, float, float],
    cls: str,
    *,
    source: str,
    mount: str,
    photo: str,
    params: Params,
    rng: np.random.Generator,
) -> Sample:
    """Cut one box as the crop stage does, build the triplets stage's scene, measure its masks."""
    margin = params.crop.margin
    views = component_views(image, box, params.base.image_size, params.crop.context_scale, margin)
    info = facts_of(params.taxonomy(), cls)
    scene = Scene(
        view=np.asarray(views.crop),
        class_label=cls,
        context=np.asarray(views.context),
        context_box=tuple(float(v) for v in views.context_box),
        view_margin=margin,
        origin="board",
        info=info,
    )
    vbox = box_in_view(scene)
    cov, mask_spill = shares(part_mask(scene), vbox)
    _, mask, p = missing(scene, **sample_missing(scene, rng))
    removed, spill = shares(mask, vbox)
    pads = bool(p["pads"])
    return Sample(source, cls, mount, photo, scene, cov, mask_spill, removed, spill, pads, pads and draws_drill(info))


def cut_samples(params: Params, min_box_px: float, seed: int, limit: int | None) -> tuple[list[Sample], dict[str, int]]:
    """Cut and measure every labelled box of every vendored set."""
    samples: list[Sample] = []
    counts: dict[str, int] = defaultdict(int)
    for rs in read_all(REALSETS):
        for board in rs.boards:
            counts["photos"] += 1
            counts["label issues"] += len(board.issues)
            image = np.asarray(load_rgb(board.image))
            h, w = image.shape[:2]
            for line, yb in board.boxes:
                box = to_pixels(yb, w, h)
                if min(box[2] - box[0], box[3] - box[1]) < min_box_px:  # as the crop stage rejects them
                    counts["skipped (small)"] += 1
                    continue
                cls = rs.names[yb.cls]
                rng = make_rng(seed, "bench_masks", rs.name, board.image.name, line)
                mount = mount_of(rs.name, cls)
                where = {"source": rs.name, "mount": mount, "photo": board.photo}
                samples.append(measure(image, box, cls, **where, params=params, rng=rng))
                if limit is not None and len(samples) >= limit:
                    return samples, counts
    return samples, counts


def catalog_samples(params: Params, boards: int, seed: int) -> list[Sample]:
    """The same measures on ``boards`` boards drawn by the built-in catalog (the demo's boards)."""
    cp = params.catalog
    out = []
    for b in range(boards):
        rng = make_rng(seed, "bench_masks", "catalog", b)
        img, placements = draw_board(rng, cp.board_size, cp.components_per_board)
        image = np.asarray(img.convert("RGB"))
        for j, pl in enumerate(placements):
            mount = params.taxonomy().facts(pl.cls.value).mount.value
            rng = make_rng(seed, "bench_masks", "catalog", b, j)
            box = tuple(float(v) for v in pl.box)
            where = {"source": "built-in catalog", "mount": mount, "photo": str(b)}
            out.append(measure(image, box, pl.cls.value, **where, params=params, rng=rng))
    return out


def taxonomy_mapping(params: Params, samples: Sequence[Sample]) -> None:
    """How the params' class taxonomy (``classes``) maps each source name, against the source's own mount."""
    tax = params.classes.build()
    print("\nWhat the crop stage's taxonomy (params `classes`, no class_map) makes of each real class name:")
    for source, cls, mount in sorted({(s.source, s.cls, s.mount) for s in samples}):
        try:
            name = tax.resolve(cls)
            info = tax[name]
            got = f"{name} ({info.mount.value}, {info.pads} pads)"
            flag = "" if info.mount.value == mount else f"  <- the part is {mount}"
        except UnknownClassError:
            got, flag = f"unmapped (classes.unmapped: {params.classes.unmapped.value})", ""
        print(f"  {source}:{cls:16s} -> {got}{flag}")


def quantiles(values: Sequence[float]) -> str:
    q = np.percentile(np.asarray(values) * 100, [10, 25, 50, 75, 90])
    return " ".join(f"{v:5.1f}" for v in q)


def histogram(values: Sequence[float]) -> str:
    v = np.asarray(values) * 100
    lo, cells = 0.0, []
    for hi in BINS:
        n = int(((v >= lo) & (v < hi)).sum())
        cells.append(f"{n / max(1, len(v)) * 100:4.0f}%")
        lo = hi
    return " ".join(cells)


def report(samples: Sequence[Sample], counts: dict[str, int], builtin: Sequence[Sample] = ()) -> None:
    """Print the coverage table (all real boxes, per source and mount, per class), spill and pads."""
    print(
        f"real sets: {counts['photos']} photos, {len(samples)} boxes measured, "
        f"{counts['skipped (small)']} skipped as smaller than --min-box-px, {counts['label issues']} label issues"
        + (f"; built-in catalog: {len(builtin)} boxes (comparison)" if builtin else "")
    )
    quants = "p10   p25   p50   p75   p90"
    head = f"{'group':52s} {'n':>5s}  {'median':>6s}  {quants:29s}  <25  <50  <75  <85  <95  <=100"
    bins = "bins: share of boxes whose coverage is in [0,25) [25,50) [50,75) [75,85) [85,95) [95,100] %"

    def rows(title: str, key: Callable[[Sample], str]) -> None:
        print(f"\n{title}\n{bins}\n{head}")
        groups: dict[str, list[Sample]] = defaultdict(list)
        groups["all real boxes"] = list(samples)
        for s in [*samples, *builtin]:
            groups[key(s)].append(s)
        for name, ss in groups.items():
            for what, vals in (("part mask", [s.coverage for s in ss]), ("removed", [s.removed for s in ss])):
                print(
                    f"{name + ' / ' + what:52s} {len(vals):5d}  {np.median(vals) * 100:5.1f}%  "
                    f"{quantiles(vals):29s}  {histogram(vals)}"
                )

    rows("Coverage of the labelled box, per source and mount", lambda s: f"{s.source} [{s.mount}]")
    rows("Coverage of the labelled box, per class", lambda s: f"{s.source}:{s.cls}")
    print()
    for source in sorted({s.source for s in [*samples, *builtin]}):
        ss = [s for s in [*samples, *builtin] if s.source == source]
        spill = [s.spill for s in ss]
        mspill = [s.mask_spill for s in ss]
        smd = [s for s in ss if s.mount == "smd"]
        print(
            f"{source}: part mask outside the box (share of box area) median {np.median(mspill) * 100:.1f}%, "
            f"p90 {np.percentile(mspill, 90) * 100:.1f}%; "
            f"removed area outside the box median {np.median(spill) * 100:.1f}%, "
            f"p90 {np.percentile(spill, 90) * 100:.1f}%; pads drawn on {sum(s.pads for s in ss)}/{len(ss)} 'missing' "
            f"negatives; SMD parts with round through-hole lands and drill holes: "
            f"{sum(s.drill for s in smd)}/{len(smd)}"
        )
        for name in sorted({s.cls for s in smd}):
            cs = [s for s in smd if s.cls == name]
            print(f"  {name:20s} {sum(s.drill for s in cs):4d}/{len(cs):4d} SMD with drill holes")


def pick(samples: Sequence[Sample], n: int) -> list[Sample]:
    """``n`` samples spread over sources and classes, each a mid-sized box (stable order)."""
    by: dict[tuple[str, str], list[Sample]] = defaultdict(list)
    for s in samples:
        by[(s.source, s.cls)].append(s)
    for ss in by.values():
        # Mid-coverage first: the sheet should show typical parts, not only the easy ones.
        mid = float(np.median([t.coverage for t in ss]))
        ss.sort(key=lambda s: abs(s.coverage - mid))
    out: list[Sample] = []
    keys = sorted(by)
    i = 0
    while len(out) < n and any(by[k] for k in keys):
        k = keys[i % len(keys)]
        if by[k]:
            out.append(by[k].pop(0))
        i += 1
    return out


def outline(img: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    out = img.copy()
    cnts, _ = cv2.findContours((mask > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, cnts, -1, colour, 1)
    return out


def sheets(samples: Sequence[Sample], out: Path, per_sheet: int, tile: int, seed: int) -> list[Path]:
    """One contact sheet per defect kind: rows anchor+box / negative / negative+mask outline."""
    out.mkdir(parents=True, exist_ok=True)
    chosen = pick(samples, per_sheet)
    written = []
    kinds: list[DefectType | str] = [k for k in DefectType if k not in (DefectType.NONE, DefectType.SIMULATED_SHAPE)]
    # Not a defect: the artifact-matched positive (board beside the part re-filled), for comparison.
    kinds.append(ARTIFACT_MATCHED)
    for kind in kinds:
        cols = []
        for j, s in enumerate(chosen):
            scene = s.scene
            if kind is DefectType.WRONG_PART:
                donor = next((d for d in chosen[j + 1 :] + chosen[:j] if d.cls != s.cls), None)
                if donor is None:
                    continue
                scene = replace(scene, donor=donor.scene, donor_id=donor.cls)
            name = kind.value if isinstance(kind, DefectType) else kind
            rng = make_rng(seed, "bench_masks", "sheet", name, j)
            if kind == ARTIFACT_MATCHED:
                neg, mask, _ = artifact_matched_positive(scene, rng)
            else:
                neg, mask, _ = make_defect(kind, scene, rng)
            anchor = s.scene.view.copy()
            x0, y0, x1, y1 = box_in_view(s.scene)
            cv2.rectangle(anchor, (x0, y0), (x1 - 1, y1 - 1), (230, 40, 40), 1)
            col = [anchor, neg, outline(neg, mask, (40, 230, 40))]
            tiles = [cv2.resize(c, (tile, tile), interpolation=cv2.INTER_AREA) for c in col]
            cols.append(np.concatenate(tiles, axis=0))
        if not cols:
            continue
        grid = np.concatenate(cols, axis=1)
        canvas = Image.new("RGB", (grid.shape[1], grid.shape[0] + 14), "white")
        canvas.paste(Image.fromarray(grid), (0, 14))
        what = "positive" if kind == ARTIFACT_MATCHED else "negative"
        title = f"{name} on real boards: anchor+box / {what} / changed region"
        ImageDraw.Draw(canvas).text((2, 1), title, fill="black")
        path = out / f"realsets_{name}.png"
        # A palette keeps the sheet small enough to commit (~100 KB) and still shows the artifacts.
        canvas.quantize(colors=128).save(path, optimize=True)
        written.append(path)
    return written


def main(argv: Iterable[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml", help="params file (crop/base settings)")
    ap.add_argument(
        "--min-box-px", type=float, default=None, help="skip boxes with a shorter side (default crop.min_box_px)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="measure only the first N boxes (a quick look)")
    ap.add_argument("--catalog", type=int, default=0, help="also measure N built-in catalog boards (comparison)")
    ap.add_argument("--sheets", type=Path, default=None, help="write a contact sheet per defect kind into this folder")
    ap.add_argument("--per-sheet", type=int, default=8)
    ap.add_argument("--tile", type=int, default=96, help="side of one image on a contact sheet (px)")
    args = ap.parse_args(list(argv) if argv is not None else None)
    params = load_params(args.params)
    min_box = params.crop.min_box_px if args.min_box_px is None else args.min_box_px
    t0 = time.perf_counter()
    samples, counts = cut_samples(params, min_box, args.seed, args.limit)
    if not samples:
        raise SystemExit(f"no labelled box found under {REALSETS}")
    builtin = catalog_samples(params, args.catalog, args.seed) if args.catalog else []
    report(samples, counts, builtin)
    taxonomy_mapping(params, samples)
    took = time.perf_counter() - t0
    size, margin = params.base.image_size, params.crop.margin
    print(f"\n(image_size {size}, crop.margin {margin}, min box {min_box:g} px; {took:.1f} s)")
    if args.sheets is not None:
        for path in sheets(samples, args.sheets, args.per_sheet, args.tile, args.seed):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
