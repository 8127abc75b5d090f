"""Anchor/positive/negative triplets from split components.

For every ``ok`` component and ``k`` in ``range(per_component)`` (``eval_per_component`` in val/test when set):

* **anchor**: the component crop, copied into the triplets folder (self-contained for
  ``dvc get``/``dvc import``), once per component.
* **positive**: :class:`~pcbforge.augment.transforms.PositiveAugment` of the anchor, or, with
  probability ``instance_positive_fraction``, of *another* component of the anchor's class in
  the anchor's split (its id in ``positive_params["instance_id"]``). Positives made only from
  the anchor's own pixels teach "same pixels"; on real parts of held-out classes only positives
  from other instances beat the untrained backbone (docs/defects.md, "Positives").
  With probability ``matched_positive_fraction`` it is instead *artifact-matched*: the anchor
  with a patch of bare board beside the part re-filled by the negatives' removal machinery
  (:func:`~pcbforge.augment.functional.refill_board`), so fill artifacts alone do not say "negative".
* **negative**, by strategy: ``other_class`` (a crop of another class from the *same split*),
  ``defect`` (a synthetic defect of the anchor, or with ``instance_negatives`` of the instance the
  positive shows), ``hybrid`` (a defect with probability
  ``defect_fraction``, else another class; falls back to a defect when the split has one class).

Defects and positives follow the anchor's class facts from the project's taxonomy
(``params.taxonomy()``, handed to :func:`build_anchor`): the pads a removed part leaves, which
turns are defects and which turn a positive may take (:mod:`pcbforge.taxonomy`).

Every random choice of a triplet comes from ``make_rng(seed, "triplets", anchor_id, k)``
and candidate pools are sorted by id, so the output does not depend on row order or on the
number of workers. :func:`build_anchor` is the per-item job a stage maps over processes: it
takes plain values, writes its PNGs, and returns manifest rows (errors become rows).
"""

from __future__ import annotations

import array
import bisect
import functools
import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np
from PIL import Image

from pcbforge.augment.scene import Scene
from pcbforge.augment.transforms import PositiveAugment, RandomDefect, artifact_matched_positive
from pcbforge.config import TripletsParams
from pcbforge.datasets.manifest import LINEAGE_COLUMNS, error_row, error_text, ok_row, rejected_row, relative_message
from pcbforge.io import encode_png, stable_id, write_bytes
from pcbforge.rng import make_rng
from pcbforge.taxonomy import ClassInfo, Taxonomy
from pcbforge.vocab import DefectType, Split, TripletStrategy

log = logging.getLogger(__name__)

OTHER_CLASS = TripletStrategy.OTHER_CLASS.value


@dataclass(frozen=True)
class Component:
    """What a triplet job needs to know about one component (absolute paths)."""

    id: str
    class_label: str
    split: str
    crop_path: Path
    context_path: Path | None = None
    context_box: tuple[float, float, float, float] | None = None
    view_margin: float = 0.0
    origin: str = "board"
    source_url: str | None = None
    licence: str | None = None
    image_url: str | None = None
    licence_url: str | None = None
    author: str | None = None
    attribution: str | None = None

    def lineage(self, prefix: str = "") -> dict[str, str | None]:
        """The lineage fields, keys prefixed with ``prefix`` (e.g. ``"negative_"``)."""
        return {f"{prefix}{k}": getattr(self, k) for k in LINEAGE_COLUMNS}


@dataclass
class Timings:
    """Seconds spent per phase in one job (summed by the stage for the profile log)."""

    read: float = 0.0
    generate: float = 0.0
    encode: float = 0.0
    write: float = 0.0

    def add(self, other: Timings) -> None:
        self.read += other.read
        self.generate += other.generate
        self.encode += other.encode
        self.write += other.write


def triplet_id(anchor_id: str, k: int) -> str:
    """Stable id of the ``k``-th triplet of ``anchor_id``."""
    return stable_id("triplet", anchor_id, k)


def triplets_per_component(settings: TripletsParams, split: str) -> int:
    """How many triplets a component of ``split`` gets: ``eval_per_component`` in val/test when set.

    Example:
        >>> s = TripletsParams(per_component=2, eval_per_component=6)
        >>> triplets_per_component(s, "train"), triplets_per_component(s, "test")
        (2, 6)
    """
    if split == Split.TRAIN.value or settings.eval_per_component is None:
        return settings.per_component
    return settings.eval_per_component


def anchor_rel(anchor_id: str) -> str:
    """Path of the anchor copy relative to ``triplets.out``."""
    return f"images/{anchor_id}_anchor.png"


#: :class:`Component` fields a :class:`ClassPool` keeps as codes into a table of distinct values.
_TABLED = ("id", "class_label", "split", "crop_path", "context_path", "origin", *LINEAGE_COLUMNS)


class ClassPool(Sequence[Component]):
    """Components sorted by id, stored as columns: one class of one split (a candidate pool),
    or every component of the stage (its anchors, see :func:`pools_by_split`).

    Every pool worker receives every pool once, so what a component weighs here is memory per
    worker that grows with the dataset: as :class:`Component` objects ~2 KiB each (103 MB per
    worker at 50,000 components); here a code per field into a table of distinct values (a
    board's context path, a shop's licence are stored once) and the box as floats, a few
    hundred bytes. Items are rebuilt on access and equal the components given. ``components``
    may be any iterable: it is read once, and never held as a list.
    """

    def __init__(self, components: Iterable[Component]) -> None:
        index: dict[str, dict[Any, int]] = {name: {} for name in _TABLED}
        codes: dict[str, array.array[int]] = {name: array.array("i") for name in _TABLED}
        box, margin = array.array("d"), array.array("d")
        for c in components:
            for name in _TABLED:
                v = getattr(c, name)
                v = str(v) if isinstance(v, Path) else v
                codes[name].append(index[name].setdefault(v, len(index[name])))
            box.extend(c.context_box if c.context_box is not None else (np.nan,) * 4)
            margin.append(c.view_margin)
        self._n = len(margin)
        self._tables = {name: list(index[name]) for name in _TABLED}
        del index
        ids = self._tables["id"]
        if len(ids) < self._n:
            seen = np.bincount(np.frombuffer(codes["id"], np.int32), minlength=len(ids))
            twice = [ids[k] for k in np.flatnonzero(seen > 1)[:5]]
            raise ValueError(f"a candidate pool lists components more than once: {twice}")
        # Sorted by id, and the id table too, so a row's id code is its row (see ``without``).
        order = np.argsort(np.array(ids, dtype=object), kind="stable") if ids else np.zeros(0, np.intp)
        rank = np.empty(len(order), np.int32)
        rank[order] = np.arange(len(order), dtype=np.int32)
        self._tables["id"] = [ids[k] for k in order]
        self._codes = {name: np.frombuffer(codes[name], np.int32)[order] for name in _TABLED}
        self._codes["id"] = rank[self._codes["id"]]
        self._box = np.frombuffer(box, np.float64).reshape(self._n, 4)[order]
        self._margin = np.frombuffer(margin, np.float64)[order]

    def take(self, rows: np.ndarray) -> ClassPool:
        """The pool of ``rows`` (increasing positions), sharing this pool's tables of values."""
        rows = np.asarray(rows)
        if rows.dtype == bool or not np.issubdtype(rows.dtype, np.integer) and rows.size:
            raise ValueError(f"ClassPool.take needs integer rows, got {rows.dtype}")
        rows = rows.astype(np.intp)
        if len(rows) and (rows.min() < 0 or rows.max() >= self._n):
            raise IndexError(f"ClassPool.take: rows must be in 0..{self._n - 1}")
        if len(rows) > 1 and not (np.diff(rows) > 0).all():
            raise ValueError("ClassPool.take needs increasing rows (the pool stays sorted by id)")
        sub = ClassPool.__new__(ClassPool)
        sub._n, sub._tables = len(rows), self._tables
        sub._codes = {name: codes[rows] for name, codes in self._codes.items()}
        sub._box, sub._margin = self._box[rows], self._margin[rows]
        return sub

    def __len__(self) -> int:
        return self._n

    def _value(self, name: str, i: int) -> Any:
        return self._tables[name][self._codes[name][i]]

    @overload
    def __getitem__(self, i: int) -> Component: ...
    @overload
    def __getitem__(self, i: slice) -> list[Component]: ...
    def __getitem__(self, i: int | slice) -> Component | list[Component]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        if not -self._n <= i < self._n:
            raise IndexError(i)
        i %= self._n
        context = self._value("context_path", i)
        box = self._box[i]
        return Component(
            id=self._value("id", i),
            class_label=self._value("class_label", i),
            split=self._value("split", i),
            crop_path=Path(self._value("crop_path", i)),
            context_path=None if context is None else Path(context),
            context_box=None if np.isnan(box[0]) else tuple(float(v) for v in box),  # type: ignore[arg-type]
            view_margin=float(self._margin[i]),
            origin=self._value("origin", i),
            **{k: self._value(k, i) for k in LINEAGE_COLUMNS},
        )

    def groups(self, *names: str) -> dict[tuple[Any, ...], np.ndarray]:
        """Rows by their values of ``names`` (e.g. ``"split", "class_label"``), keys sorted."""
        if not self._n:
            return {}
        keys = np.stack([self._codes[name] for name in names], axis=1)
        distinct, inverse = np.unique(keys, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        out = {
            tuple(self._tables[name][code] for name, code in zip(names, row)): np.flatnonzero(inverse == k)
            for k, row in enumerate(distinct.tolist())
        }
        return dict(sorted(out.items()))

    def without(self, component_id: str) -> Sequence[Component]:
        """The pool less the component ``component_id`` (the same pool if it is not in it), in order."""
        ids = self._tables["id"]  # distinct and sorted: an id's position is its code
        code = bisect.bisect_left(ids, component_id)
        if code == len(ids) or ids[code] != component_id:
            return self
        at = int(np.searchsorted(self._codes["id"], code))
        return _Without(self, at) if at < self._n and self._codes["id"][at] == code else self


class _Without(Sequence[Component]):
    """A :class:`ClassPool` with row ``skip`` left out, without copying it."""

    def __init__(self, pool: ClassPool, skip: int) -> None:
        self._pool, self._skip = pool, skip

    def __len__(self) -> int:
        return len(self._pool) - 1

    def __getitem__(self, i: int) -> Component:  # type: ignore[override]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i %= len(self)
        return self._pool[i + (i >= self._skip)]


def pools_by_split(components: Iterable[Component]) -> dict[str, dict[str, ClassPool]]:
    """split -> class -> components sorted by id: the only place negatives are drawn from.

    Given a :class:`ClassPool` (the stage's anchors), the pools share its tables of values.
    """
    pool = components if isinstance(components, ClassPool) else ClassPool(components)
    out: dict[str, dict[str, ClassPool]] = {}
    for (split, cls), rows in pool.groups("split", "class_label").items():
        out.setdefault(split, {})[cls] = pool.take(rows)
    return out


def _load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def load_scene(c: Component, info: ClassInfo | None = None) -> Scene:
    """Read a component's view (and context when present) into a :class:`Scene` with its class facts.

    ``info`` is the facts of ``c.class_label`` in the project's taxonomy (None: the default
    taxonomy's, see :attr:`~pcbforge.augment.scene.Scene.facts`).
    """
    view = _load_rgb(c.crop_path)
    if view.shape[0] != view.shape[1]:
        raise ValueError(f"crop {c.crop_path} is {view.shape[1]}x{view.shape[0]}, expected a square")
    context = None
    if c.context_path is not None and c.context_box is not None and c.context_path.is_file():
        context = _load_rgb(c.context_path)
    return Scene(
        view=view,
        class_label=c.class_label,
        context=context,
        context_box=c.context_box if context is not None else None,
        view_margin=c.view_margin,
        origin=c.origin,
        info=info,
    )


def _pick_other(
    anchor: Component, pool: dict[str, ClassPool], rng: np.random.Generator
) -> Component | None:
    """A component of another class in the anchor's split: class uniform, then member uniform."""
    classes = sorted(k for k in pool if k != anchor.class_label)
    if not classes:
        return None
    members = pool[classes[int(rng.integers(len(classes)))]]
    return members[int(rng.integers(len(members)))]


@functools.lru_cache(maxsize=1)
def _positive_augment() -> PositiveAugment:
    """One :class:`PositiveAugment` per process: building its albumentations pipeline cost
    more than a triplet's positive, and each call reseeds it from the item's rng, so sharing
    it changes no output."""
    return PositiveAugment()


def _png(img: np.ndarray) -> bytes:
    return encode_png(Image.fromarray(img))


def build_anchor(
    anchor: Component,
    pool: dict[str, ClassPool],
    settings: TripletsParams,
    out_dir: Path,
    seed: int,
    root: Path | None = None,
    taxonomy: Taxonomy | None = None,
) -> tuple[list[dict[str, Any]], Timings]:
    """All triplets of one anchor: write their PNGs under ``out_dir``, return manifest rows.

    Args:
        anchor: the component.
        pool: class -> components of the anchor's split (negatives come only from here).
        settings: ``params.triplets`` (strategy, counts, defect kinds; ``out`` is not read).
        out_dir: the triplets output directory (``images/`` and ``masks/`` go under it).
        seed: ``base.seed``.
        root: the project root: error rows name files relative to it (None: as they are).
        taxonomy: ``params.taxonomy()``: the class facts the defects and positives follow
            (mount and pads, polarity and symmetry); None: the default taxonomy.
    """
    taxonomy = taxonomy if taxonomy is not None else Taxonomy.default()
    t = Timings()
    lineage = {
        "split": anchor.split,
        "class_label": anchor.class_label,
        "anchor_id": anchor.id,
        **anchor.lineage(),
    }
    ids = [triplet_id(anchor.id, k) for k in range(triplets_per_component(settings, anchor.split))]
    t0 = time.perf_counter()
    try:
        anchor_bytes = anchor.crop_path.read_bytes()
        scene = load_scene(anchor, taxonomy.facts(anchor.class_label))
    except (OSError, ValueError) as exc:
        reason = f"anchor unreadable: {error_text(exc, anchor.crop_path, root)}"
        return [error_row(reason, id=i, k=k, **lineage) for k, i in enumerate(ids)], t
    t.read += time.perf_counter() - t0
    t0 = time.perf_counter()
    a_rel = anchor_rel(anchor.id)
    # The anchor is copied byte for byte: it is the crop stage's PNG, already deterministic.
    write_bytes(out_dir / a_rel, anchor_bytes)
    t.write += time.perf_counter() - t0

    positive = _positive_augment()
    defects = RandomDefect(settings.defects) if settings.defects else None
    rows = []
    for k, tid in enumerate(ids):
        rng = make_rng(seed, "triplets", anchor.id, k)
        try:
            row, files, tk = _one_triplet(anchor, scene, pool, settings, rng, positive, defects, tid, k, taxonomy)
        except Exception as exc:  # noqa: BLE001 - one bad item is a row, never the batch's end
            # Logged with the traceback: an unexpected error here is more likely a bug than bad data.
            log.warning("triplet %s of %s failed", tid, anchor.id, exc_info=not isinstance(exc, (OSError, ValueError)))
            reason = f"{type(exc).__name__}: {relative_message(exc, root)}"
            rows.append(error_row(reason, id=tid, k=k, anchor_path=a_rel, **lineage))
            continue
        t.read += tk.read
        t.generate += tk.generate
        if row["status"] == "ok":
            for rel, img in files.items():
                t0 = time.perf_counter()
                data = img if isinstance(img, bytes) else _png(img)
                t.encode += time.perf_counter() - t0
                t0 = time.perf_counter()
                write_bytes(out_dir / rel, data)
                t.write += time.perf_counter() - t0
        else:
            # Nothing was written for a rejected triplet: its row must not point at files.
            row = {**row, "positive_path": None, "positive_params": None}
        rows.append({**row, "id": tid, "k": k, "anchor_path": a_rel, **lineage})
    return rows, t


def _one_triplet(
    anchor: Component,
    scene: Scene,
    pool: dict[str, ClassPool],
    settings: TripletsParams,
    rng: np.random.Generator,
    positive: PositiveAugment,
    defects: RandomDefect | None,
    tid: str,
    k: int,
    taxonomy: Taxonomy,
) -> tuple[dict[str, Any], dict[str, np.ndarray | bytes], Timings]:
    """One triplet: (row fields, {relative path: image or PNG bytes}, timings)."""
    t = Timings()
    t0 = time.perf_counter()
    # Fixed order of draws: instance coin (only when instance positives are on, so a run
    # without them draws as before), positive, matched coin, strategy coin, negative.
    # Changing it changes outputs.
    pos_scene, instance = scene, None
    if settings.instance_positive_fraction > 0:
        members = pool.get(anchor.class_label)
        same = members.without(anchor.id) if members is not None else ()
        if same and rng.random() < settings.instance_positive_fraction:
            instance = same[int(rng.integers(len(same)))]
            t1 = time.perf_counter()
            pos_scene = load_scene(instance, scene.info)
            t.read += time.perf_counter() - t1
    pos, pos_params = positive(pos_scene.view, pos_scene.facts, rng)
    if instance is not None:
        pos_params = {**pos_params, "instance_id": instance.id}
    # Drawn only when configured, so a fraction of 0 leaves every other draw where it was.
    matched = False
    if settings.matched_positive_fraction > 0 and rng.random() < settings.matched_positive_fraction:
        # Artifact-matched: the negatives' fill on bare board; no recapture change, as negatives have none.
        matched_img, matched_mask, matched_params = artifact_matched_positive(scene, rng)
        if matched_mask.any():
            pos, pos_params, matched = matched_img, {"artifact_matched": True, **matched_params}, True
    has_other = any(c != anchor.class_label for c in pool)
    if settings.strategy is TripletStrategy.OTHER_CLASS:
        use_defect = False
    elif settings.strategy is TripletStrategy.DEFECT:
        use_defect = True
    else:
        use_defect = bool(rng.random() < settings.defect_fraction) or not has_other
    files: dict[str, np.ndarray | bytes] = {f"images/{tid}_pos.png": pos}
    fields: dict[str, Any] = {
        "positive_path": f"images/{tid}_pos.png",
        "positive_params": json.dumps(pos_params, sort_keys=True),
        "negative_mask_path": None,
        "defect_params": None,
        "negative_id": None,
    }
    if not use_defect:
        other = _pick_other(anchor, pool, rng)
        if other is None:
            t.generate += time.perf_counter() - t0
            reason = f"no other class in split {anchor.split!r} for an other_class negative"
            return rejected_row(reason, **fields), {}, t
        t1 = time.perf_counter()
        files[f"images/{tid}_neg.png"] = other.crop_path.read_bytes()
        t.read += time.perf_counter() - t1
        fields.update(
            negative_path=f"images/{tid}_neg.png",
            negative_kind=OTHER_CLASS,
            negative_class=other.class_label,
            negative_id=other.id,
            **other.lineage("negative_"),
        )
        t.generate += time.perf_counter() - t0 - t.read
        return ok_row(**fields), files, t
    if defects is None:
        return rejected_row("strategy needs defects but triplets.defects is empty", **fields), {}, t
    kinds = [d for d in defects.kinds if d is not DefectType.WRONG_PART or has_other]
    if not kinds:
        return rejected_row(f"only wrong_part configured and no other class in split {anchor.split!r}", **fields), {}, t
    kind = kinds[int(rng.integers(len(kinds)))]
    # The part the defect is made on: the positive's instance when that is what the positive
    # shows (the pair then differs by the defect alone), else the anchor.
    part = instance if instance is not None and settings.instance_negatives and not matched else anchor
    if part is not anchor:
        scene = pos_scene
    donor = None
    if kind is DefectType.WRONG_PART:
        donor = _pick_other(anchor, pool, rng)
        assert donor is not None  # has_other
        t1 = time.perf_counter()
        dscene = load_scene(donor, taxonomy.facts(donor.class_label))
        t.read += time.perf_counter() - t1
        scene = scene.with_donor(dscene, donor.id)
    neg, mask, params = defects(scene, rng, kind=kind)
    files[f"images/{tid}_neg.png"] = neg
    files[f"masks/{tid}_neg.png"] = mask
    fields.update(
        negative_path=f"images/{tid}_neg.png",
        negative_kind=kind.value,
        negative_class=donor.class_label if donor is not None else anchor.class_label,
        negative_id=donor.id if donor is not None else part.id,
        negative_mask_path=f"masks/{tid}_neg.png",
        defect_params=json.dumps(params, sort_keys=True),
        **(donor if donor is not None else part).lineage("negative_"),
    )
    t.generate += time.perf_counter() - t0 - t.read
    return ok_row(**fields), files, t
