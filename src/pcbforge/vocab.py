"""Fixed vocabularies shared by every stage, as str Enums (values are what lands in manifests)."""

from __future__ import annotations

from enum import Enum, IntEnum


class ComponentClass(str, Enum):
    """The 12 classes the built-in catalog paints (the PTH study's); the value is the class label.

    Not the list of classes the pipeline accepts: that is params' ``classes`` taxonomy
    (:mod:`pcbforge.taxonomy`), whose default holds these 12 with their facts.
    """

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


class PairLabel(IntEnum):
    """The label of a pair of images, one convention for the pairs export and evaluation.

    ``1`` means the right image does not conform to the left one (a defect, another part):
    the positive class of a detector, scored by the embedding distance, as in evaluation's
    ROC/PR. ``0`` means it conforms (same part, no defect; a pose change alone is no defect).
    """

    SAME = 0
    DIFFERENT = 1


class Obligation(str, Enum):
    """What a source image's licence obliges a dataset user to do (``export.exclude``, the dataset card)."""

    ATTRIBUTION = "attribution"
    SHARE_ALIKE = "share_alike"
    NON_COMMERCIAL = "non_commercial"
    NO_DERIVATIVES = "no_derivatives"
    UNKNOWN = "unknown"


class Spider(str, Enum):
    """Spiders a crawl source can use (``crawl.sources[].spider``), by their Scrapy name."""

    CATALOG = "catalog"
    COMMONS = "commons"
    URLS = "urls"


class LabelConflict(str, Enum):
    """What a crawl does with one image found under several class labels (``crawl.label_conflict``)."""

    #: Reject the image (every URL of it) with reason ``label_conflict``: it is not stored.
    REJECT = "reject"
    #: Keep it with the label seen at the smallest (image URL, page URL); the others are dropped.
    FIRST = "first"


class QualityFlag(str, Enum):
    """Why the quality stage flags an image (``quality.parquet`` ``flags``, ``review.drop_quality_flags``).

    Listed in the order an image's ``flags`` are written.
    """

    UNREADABLE = "unreadable"
    TOO_SMALL = "too_small"
    BLANK = "blank"
    BLURRY = "blurry"
    ASPECT = "aspect"
    GRAYSCALE = "grayscale"


class JunkKind(str, Enum):
    """Junk photos the built-in catalog plants for the quality stage (``catalog.parquet`` ``junk_kind``)."""

    BLANK = "blank"
    TINY = "tiny"
    BLURRY = "blurry"
    ASPECT = "aspect"


class TripletStrategy(str, Enum):
    """Where a triplet's negative comes from (``triplets.strategy``).

    ``OTHER_CLASS`` is also the ``negative_kind`` of such a negative; a defect negative's
    ``negative_kind`` is its :class:`DefectType`.
    """

    OTHER_CLASS = "other_class"
    DEFECT = "defect"
    HYBRID = "hybrid"


class HashKind(str, Enum):
    """Perceptual hashes the dedup stage can compute (``dedup.hashes``)."""

    PHASH = "phash"
    DHASH = "dhash"
    AHASH = "ahash"
    WHASH = "whash"


class KeepRule(str, Enum):
    """Rules of ``dedup.keep_policy``: which member of a duplicate group is kept, first rule first."""

    #: Not an upscaled or re-encoded copy of another member (``dedup.upscale_margin``, ``recompress_margin``).
    ORIGINAL = "original"
    RESOLUTION = "resolution"
    LICENCE = "licence"
    EARLIEST = "earliest"


class Pretrained(str, Enum):
    """Weights the train stage can start from (``train.pretrained``), shipped in installed packages."""

    NONE = "none"
    EFFICIENTNET_LITE0 = "efficientnet_lite0"


class Device(str, Enum):
    """Where training and evaluation run (``train.device``); ``AUTO`` takes CUDA when visible."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


class ExportFormat(str, Enum):
    """Dataset formats the export stage writes (``export.formats``); the value is the folder name."""

    PAIRS = "pairs"
    MVTEC = "mvtec"
    WEBDATASET = "webdataset"


class SceneMode(str, Enum):
    """What a ``simulate`` pair shows (``simulate.mode``).

    ``SHAPES`` is the SSDS paper's fully random scene of shapes on a textured background;
    ``BOARD`` is a component crop, seen through its larger context patch.
    """

    SHAPES = "shapes"
    BOARD = "board"


class PosePreset(str, Enum):
    """Named pose ranges of ``simulate.preset`` (the values are in :data:`pcbforge.config.POSE_PRESETS`).

    ``PAPER`` is the SSDS paper's misalignment (shift ±50 px, rotation [0°, 180°), scale
    [0.8, 1.2]); ``SMALL`` is a nearly registered camera (±2 px, ±2°, no scale).
    """

    PAPER = "paper"
    SMALL = "small"


class PairDefect(str, Enum):
    """How a simulated defected image differs from its template (``simulate.defects``)."""

    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


class ShapeKind(str, Enum):
    """Random shapes the simulator draws (``simulate.shape_kinds``)."""

    POLYGON = "polygon"
    ELLIPSE = "ellipse"
    BLOB = "blob"
    SCRATCH = "scratch"


class Texture(str, Enum):
    """Fills of shapes and backgrounds (``simulate.textures``, ``simulate.backgrounds``)."""

    FLAT = "flat"
    NOISE = "noise"
    GRADIENT = "gradient"
    STRIPES = "stripes"


class ExecutorKind(str, Enum):
    """Where map-style per-image work runs (``base.executor``, docs/scaling.md)."""

    INLINE = "inline"  # in the stage's own process, one item after another
    LOCAL = "local"  # the stage's process pool, ``base.workers`` processes
    DASK = "dask"  # a Dask distributed cluster: ``base.dask_scheduler``, or a local one started for the stage
