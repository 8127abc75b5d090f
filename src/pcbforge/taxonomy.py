"""The component class taxonomy: which classes exist and the facts every stage needs about them.

The taxonomy lives in params.yaml's ``classes`` section (:class:`pcbforge.config.ClassesParams`);
this module holds the pure side: the facts of one class (:class:`ClassInfo`), the set of classes
(:class:`Taxonomy`) and the name folding that maps a foreign label (``"Electrolytic Capacitor"``,
``"SMD-diode"``) onto a class. Stages ask the taxonomy, never a hard-coded list:

* crop maps each source's ``data.yaml`` names onto classes (aliases, then the source's own
  ``class_map``; an unmapped name follows ``classes.unmapped``);
* split checks held-out classes exist;
* defects draw pads by :attr:`ClassInfo.mount` and :attr:`ClassInfo.pads`, and never call a
  turn "good" that the class's :attr:`ClassInfo.polarised` / :attr:`ClassInfo.symmetry` forbid.

Example:
    >>> tax = Taxonomy.default()
    >>> tax.resolve("Electrolytic Capacitor")
    'capacitor'
    >>> tax["smd_diode"].mount.value, tax["smd_diode"].polarised
    ('smd', True)
    >>> tax.resolve("diode", {"diode": "smd_diode"})
    'smd_diode'
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum


class Mount(str, Enum):
    """How a part sits on the board: through-hole (round pads, drill holes) or surface mount (flat lands)."""

    THT = "tht"
    SMD = "smd"


class Symmetry(str, Enum):
    """A part's rotational symmetry seen from above: the smallest turn that leaves it looking the same.

    A turn by a multiple of it is not a visible change unless the class is polarised (then the
    marking, lead or band gives the orientation away and the turn is a defect).
    """

    NONE = "none"
    HALF = "180"
    QUARTER = "90"

    @property
    def degrees(self) -> float | None:
        """The symmetry angle in degrees (None: no symmetry)."""
        return None if self is Symmetry.NONE else float(self.value)


class Unmapped(str, Enum):
    """What crop does with a label name that maps onto no class (``classes.unmapped``)."""

    ERROR = "error"  #: stop with one line naming the name, the file and the valid names
    SKIP = "skip"  #: its boxes become rejected rows with the reason, counted in the summary
    ADD = "add"  #: join the taxonomy with conservative facts (:meth:`ClassInfo.conservative`), with a warning


_FOLD = re.compile(r"[\s\-_./]+")


def fold(name: str) -> str:
    """Fold a class name for matching: lower case, runs of spaces/hyphens/dots/slashes -> ``_``.

    Example:
        >>> fold("  Heat-Sink ")
        'heat_sink'
        >>> fold("SMD/Capacitor")
        'smd_capacitor'
    """
    return _FOLD.sub("_", name.strip().lower()).strip("_")


@dataclass(frozen=True)
class ClassInfo:
    """What the pipeline knows about one component class.

    Attributes:
        name: the class label written in manifests (folded form).
        mount: :class:`Mount` (pads with drill holes for THT, rectangular lands for SMD).
        polarised: a 180-degree turn is a real defect (reversed polarity / orientation).
        symmetry: the part's rotational symmetry seen from above (:class:`Symmetry`).
        pads: pads a removed part leaves on the board (0: none drawn, the footprint is unknown).
        aliases: other names that mean this class (folded when matched).
    """

    name: str
    mount: Mount = Mount.THT
    polarised: bool = True
    symmetry: Symmetry = Symmetry.NONE
    pads: int = 2
    aliases: tuple[str, ...] = ()

    @classmethod
    def conservative(cls, name: str) -> ClassInfo:
        """Facts for a class nobody described (``classes.unmapped: add``).

        Every turn counts as a defect (polarised, no symmetry), and no pads are drawn when it
        is removed: better to teach too little than to invent a footprint.
        """
        return cls(name=fold(name), mount=Mount.SMD, polarised=True, symmetry=Symmetry.NONE, pads=0)

    def turn_is_visible(self, degrees: float, tol: float = 1e-6) -> bool:
        """True when turning the part by ``degrees`` changes what an inspector sees.

        Example:
            >>> ClassInfo("resistor", polarised=False, symmetry=Symmetry.HALF).turn_is_visible(180)
            False
            >>> ClassInfo("diode", polarised=True, symmetry=Symmetry.HALF).turn_is_visible(180)
            True
        """
        step = self.symmetry.degrees
        if step is None or self.polarised:
            return abs(((degrees + 180.0) % 360.0) - 180.0) > tol
        r = degrees % step
        return min(r, step - r) > tol


#: The 12 classes of the PTH study with the rules the pipeline always used (the default taxonomy).
#: Aliases are common names of the same parts in public YOLO exports.
DEFAULT_CLASSES: tuple[ClassInfo, ...] = (
    ClassInfo("capacitor", Mount.THT, True, Symmetry.NONE, 2, ("electrolytic_capacitor", "electrolytic", "cap_electrolytic", "e_cap", "elko")),
    ClassInfo("ceramic_capacitor", Mount.THT, False, Symmetry.HALF, 2, ("ceramic", "disc_capacitor", "mlcc_tht")),
    ClassInfo("converter", Mount.THT, True, Symmetry.NONE, 3, ("dc_dc_converter", "dcdc", "dc_dc", "voltage_regulator_module")),
    ClassInfo("diode", Mount.THT, True, Symmetry.NONE, 2, ("rectifier", "rectifier_diode", "tht_diode")),
    ClassInfo("heat_sink", Mount.THT, False, Symmetry.HALF, 2, ("heatsink",)),
    ClassInfo("crystal_oscillator", Mount.THT, False, Symmetry.HALF, 2, ("crystal", "oscillator", "xtal", "quartz")),
    ClassInfo("relay", Mount.THT, True, Symmetry.NONE, 2, ()),
    ClassInfo("resistor", Mount.THT, False, Symmetry.HALF, 2, ("tht_resistor", "axial_resistor")),
    ClassInfo("smd_capacitor", Mount.SMD, False, Symmetry.HALF, 2, ("chip_capacitor", "capacitor_smd", "smd_cap")),
    ClassInfo("smd_diode", Mount.SMD, True, Symmetry.NONE, 2, ("diode_smd", "schottky_smd")),
    ClassInfo("smd_transistor", Mount.SMD, True, Symmetry.NONE, 3, ("transistor_smd", "sot23", "sot_23")),
    ClassInfo("transistor", Mount.THT, True, Symmetry.NONE, 3, ("tht_transistor", "to92", "to_92", "bjt")),
)  # fmt: skip


class UnknownClassError(KeyError):
    """A name that is neither a class nor an alias (the caller applies ``classes.unmapped``)."""


@dataclass(frozen=True)
class Taxonomy:
    """An ordered set of classes with alias lookup. Immutable and picklable (it travels to workers)."""

    classes: tuple[ClassInfo, ...]
    _index: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, str] = {}
        for info in self.classes:
            for key in (info.name, *info.aliases):
                k = fold(key)
                other = index.get(k)
                if other is not None and other != info.name:
                    raise ValueError(f"class name or alias {key!r} of {info.name!r} already names {other!r}")
                index[k] = info.name
        object.__setattr__(self, "_index", index)

    @classmethod
    def default(cls) -> Taxonomy:
        """The 12 classes of the PTH study (:data:`DEFAULT_CLASSES`)."""
        return cls(DEFAULT_CLASSES)

    def names(self) -> list[str]:
        """Class names in order (the built-in catalog's YOLO index order for the default)."""
        return [c.name for c in self.classes]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(c.name == name for c in self.classes)

    def __getitem__(self, name: str) -> ClassInfo:
        for c in self.classes:
            if c.name == name:
                return c
        raise UnknownClassError(name)

    def __iter__(self) -> Iterator[ClassInfo]:
        return iter(self.classes)

    def __len__(self) -> int:
        return len(self.classes)

    def get(self, name: str) -> ClassInfo | None:
        """The facts of class ``name`` (exact class name), or None."""
        return next((c for c in self.classes if c.name == name), None)

    def facts(self, name: str) -> ClassInfo:
        """The facts of ``name``; a name outside the taxonomy gets :meth:`ClassInfo.conservative` facts.

        For code that must never fail on a label it did not map itself (e.g. a manifest written
        under another taxonomy): the safe answer is "every turn is a defect, draw no pads".
        """
        return self.get(name) or ClassInfo.conservative(name)

    def resolve(self, name: str, class_map: Mapping[str, str] | None = None) -> str:
        """Map a foreign label onto a class name: ``class_map`` first (folded keys), then names and aliases.

        Raises:
            UnknownClassError: neither maps it.
            ValueError: ``class_map`` sends it to something that is not a class.
        """
        key = fold(name)
        if class_map:
            for src, dst in class_map.items():
                if fold(src) == key:
                    target = self._index.get(fold(dst))
                    if target is None:
                        raise ValueError(f"class_map sends {name!r} to {dst!r}, which is not a class ({', '.join(self.names())})")
                    return target
        try:
            return self._index[key]
        except KeyError:
            raise UnknownClassError(name) from None

    def with_class(self, info: ClassInfo) -> Taxonomy:
        """A taxonomy with ``info`` appended (``classes.unmapped: add``)."""
        if info.name in self:
            return self
        return Taxonomy((*self.classes, info))

    def restricted(self, names: Sequence[str]) -> Taxonomy:
        """The classes in ``names`` only, in taxonomy order."""
        keep = set(names)
        return Taxonomy(tuple(c for c in self.classes if c.name in keep))

