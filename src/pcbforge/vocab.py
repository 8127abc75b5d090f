"""Fixed vocabularies shared by every stage, as str Enums (values are what lands in manifests)."""

from __future__ import annotations

from enum import Enum


class ComponentClass(str, Enum):
    """The 12 component classes of the PTH study; the value is the YOLO/class-label name."""

    CAPACITOR = "capacitor"
    CERAMIC_CAPACITOR = "ceramic_capacitor"
    CONVERTER = "converter"
    DIODE = "diode"
    HEAT_SINK = "heat_sink"
    CRYSTAL_OSCILLATOR = "crystal_oscillator"
    RELAY = "relay"
    RESISTOR = "resistor"
    SMD_CAPACITOR = "smd_capacitor"
    SMD_DIODE = "smd_diode"
    SMD_TRANSISTOR = "smd_transistor"
    TRANSISTOR = "transistor"

    @classmethod
    def names(cls) -> list[str]:
        """Class names in YOLO index order."""
        return [c.value for c in cls]


# Parts whose 180-degree rotation is a real defect (reversed polarity / wrong orientation).
POLARISED: frozenset[ComponentClass] = frozenset(
    {
        ComponentClass.CAPACITOR,
        ComponentClass.DIODE,
        ComponentClass.SMD_DIODE,
        ComponentClass.TRANSISTOR,
        ComponentClass.SMD_TRANSISTOR,
        ComponentClass.CONVERTER,
        ComponentClass.RELAY,
    }
)


class DefectType(str, Enum):
    """Synthetic defect kinds; ``NONE`` marks a good (positive) sample."""

    NONE = "none"
    GRAY_PATCH = "gray_patch"
    ROTATION = "rotation"
    SHIFT = "shift"
    MISSING = "missing"
    WRONG_PART = "wrong_part"
    LIFTED = "lifted"
    SIMULATED_SHAPE = "simulated_shape"


class Split(str, Enum):
    """Dataset split of a component (and of every triplet built from it)."""

    TRAIN = "train"
    VAL = "val"
    TEST = "test"


#: The ``split`` values a manifest may hold (anything else is a stale or broken manifest).
SPLITS: frozenset[str] = frozenset(s.value for s in Split)


class Status(str, Enum):
    """Row status in every manifest: a bad sample is a row with a reason, never silently gone."""

    OK = "ok"
    REJECTED = "rejected"
    ERROR = "error"
