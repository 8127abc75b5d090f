"""The offline component shop: which products exist (the plan) and their static HTML pages.

The HTML follows a fixed contract that the crawler's built-in source relies on (see
docs/catalog.md): category links ``a.category``, product links ``a.product``, pagination
``a.next[rel=next]``, and on a product page ``h1.title``, one ``img.product-image``,
``span.category[data-slug]``, ``span.licence`` and ``span.author``. ``/private/`` is
disallowed in robots.txt and holds pages a polite crawler must never fetch.

Pages are pure functions of the plan: no dates, no random ordering at render time.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar, overload

import numpy as np

from pcbforge.io import stable_id
from pcbforge.rng import make_rng
from pcbforge.vocab import ComponentClass, JunkKind

LICENCES = ("CC0-1.0", "CC-BY-4.0", "CC-BY-SA-4.0")
#: Where each licence's terms are published (linked from the product page, a ``licence_url``).
LICENCE_URLS = {
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC-BY-SA-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
}
#: Not an open licence: the built-in source's ``licence_allow`` must drop these.
RESERVED = "All-Rights-Reserved"
#: Fraction (at least one) of listed items published under :data:`RESERVED`.
RESERVED_FRACTION = 0.08
#: Items on the robots-disallowed staff page.
PRIVATE_ITEMS = 2

EXT = {"jpeg": "jpg", "png": "png", "webp": "webp"}
T = TypeVar("T")

DISPLAY: dict[ComponentClass, tuple[str, str]] = {
    # class: (category name on the index, product title stem)
    ComponentClass.CAPACITOR: ("Electrolytic capacitors", "Aluminium electrolytic capacitor"),
    ComponentClass.CERAMIC_CAPACITOR: ("Ceramic capacitors", "Ceramic disc capacitor"),
    ComponentClass.CONVERTER: ("DC-DC converters", "Isolated DC-DC converter module"),
    ComponentClass.DIODE: ("Diodes", "Through-hole rectifier diode"),
    ComponentClass.HEAT_SINK: ("Heat sinks", "Finned aluminium heat sink"),
    ComponentClass.CRYSTAL_OSCILLATOR: ("Crystals & oscillators", "Quartz crystal"),
    ComponentClass.RELAY: ("Relays", "PCB power relay"),
    ComponentClass.RESISTOR: ("Resistors", "Through-hole resistor"),
    ComponentClass.SMD_CAPACITOR: ("SMD capacitors", "SMD chip capacitor"),
    ComponentClass.SMD_DIODE: ("SMD diodes", "SMD Schottky diode"),
    ComponentClass.SMD_TRANSISTOR: ("SMD transistors", "SOT-23 transistor"),
    ComponentClass.TRANSISTOR: ("Transistors", "TO-92 transistor"),
}

_SPECS: dict[ComponentClass, list[str]] = {
    ComponentClass.CAPACITOR: ["100µF 25V", "470µF 16V", "1000µF 35V", "10µF 50V", "2200µF 10V", "47µF 63V"],
    ComponentClass.CERAMIC_CAPACITOR: ["100nF 50V", "10nF 1kV", "1nF 50V", "22pF NP0", "4.7nF Y1"],
    ComponentClass.CONVERTER: ["5V 1A", "3.3V 500mA", "12V 250mA", "±15V 2W", "24V→5V 3W"],
    ComponentClass.DIODE: ["1N4007 1A 1000V", "1N5819 Schottky", "1N4148 signal", "UF4007 fast"],
    ComponentClass.HEAT_SINK: ["TO-220 21mm", "25x25x10mm", "40mm extruded", "black anodised 19mm"],
    ComponentClass.CRYSTAL_OSCILLATOR: ["16MHz HC-49", "8MHz HC-49/S", "12MHz", "32.768kHz", "25MHz oscillator"],
    ComponentClass.RELAY: ["5V SPDT 10A", "12V SPDT 10A", "24V DPDT 5A", "5V reed"],
    ComponentClass.RESISTOR: ["10kΩ 1/4W 5%", "220Ω 1/4W 1%", "4.7kΩ 1/2W", "1MΩ 0.6W 1%", "100Ω 1W"],
    ComponentClass.SMD_CAPACITOR: ["0805 100nF", "1206 10µF", "0603 1µF", "tantalum 10µF 16V"],
    ComponentClass.SMD_DIODE: ["SS14 SMA", "M7 SMA 1A", "B340 SMC", "SOD-123 1N4148W"],
    ComponentClass.SMD_TRANSISTOR: ["MMBT3904 NPN", "BSS138 N-MOSFET", "AO3401 P-MOSFET", "BC847 NPN"],
    ComponentClass.TRANSISTOR: ["2N2222 NPN", "BC547 NPN", "2N3906 PNP", "BS170 N-MOSFET"],
}

AUTHORS = (
    "Ada Lindqvist",
    "Bram de Vries",
    "Chen Wei",
    "Dana Okafor",
    "Emil Novak",
    "Farah Haddad",
    "Goran Petrović",
    "Hana Sato",
    "Ines Moreau",
    "João Pereira",
    "Kaisa Virtanen",
    "Luca Bianchi",
    "Maya Krishnan",
    "Nils Berg",
    "Olga Ivanova",
    "Priya Raman",
)


def slug(cls: ComponentClass) -> str:
    """URL slug of a class's category: the class value with ``_`` replaced by ``-``."""
    return ComponentClass(cls).value.replace("_", "-")


@dataclass(frozen=True)
class Item:
    """One image-bearing page of the shop (ground truth for one row of catalog.parquet)."""

    id: str
    kind: str  # product | duplicate | junk | private
    cls: ComponentClass
    title: str
    licence: str
    author: str
    fmt: str  # jpeg | png | webp
    price: str
    dup_of: str | None = None
    junk_kind: str | None = None

    @property
    def image_file(self) -> str:
        """File name under the image folder (``img/`` or ``private/img/``)."""
        return f"{self.id}.{EXT[self.fmt]}"

    @property
    def image_path(self) -> str:
        """Image path relative to the site root."""
        return f"private/img/{self.image_file}" if self.kind == "private" else f"img/{self.image_file}"

    @property
    def page_path(self) -> str:
        """Page path relative to the site root."""
        return f"private/{self.id}.html" if self.kind == "private" else f"product/{self.id}.html"


KINDS = ("product", "duplicate", "junk", "private")
FORMATS = ("jpeg", "png", "webp")
_JUNK = tuple(JunkKind)
_CLASSES = tuple(ComponentClass)
#: A :class:`Plan`'s ``licence`` code for :data:`RESERVED` (codes below it index :data:`LICENCES`).
_RESERVED_CODE = len(LICENCES)


class Plan(Sequence[Item]):
    """Every product of the shop, as columns: ``plan[i]`` is the :class:`Item` (made on demand).

    A catalog of 100k images keeps ~40 bytes per item here instead of a ~0.4 KiB ``Item``
    each, so ``catalog``'s memory stays flat in its size (benchmarks/bench_memory.py).
    Build one with :meth:`build`; :func:`plan` is its list of items.
    """

    def __init__(self, seed: int, columns: dict[str, np.ndarray]) -> None:
        self.seed = seed
        self.kind = columns["kind"]  # index into KINDS
        self.cls = columns["cls"]  # index into ComponentClass
        self.serial = columns["serial"]  # n of the item's stable_id
        self.spec = columns["spec"]
        self.licence = columns["licence"]  # index into LICENCES, or _RESERVED_CODE
        self.author = columns["author"]
        self.fmt = columns["fmt"]  # index into FORMATS
        self.price = columns["price"]
        self.dup_of = columns["dup_of"]  # index of the original, -1 if none
        self.junk = columns["junk"]  # index into JunkKind, -1 if none
        self.ids = columns["ids"]  # the items' ids, ASCII bytes (sort as the strings do)

    @classmethod
    def build(cls, seed: int, products_per_class: int, duplicate_fraction: float, junk_images: int) -> Plan:
        """Decide every product of the shop: class, title, licence, author, image format, duplicates, junk.

        Args:
            seed: ``base.seed``.
            products_per_class: ordinary products drawn per class.
            duplicate_fraction: duplicates planted, as a fraction of ordinary products (rounded);
                each re-publishes a distinct original's photo on its own page.
            junk_images: junk pages planted; kinds cycle through :class:`JunkKind`.

        Items are in plan order: products by class, then duplicates, junk, private pages.
        """
        rng = make_rng(seed, "catalog", "plan")
        n_products = len(_CLASSES) * products_per_class
        n_dup = min(n_products, int(round(duplicate_fraction * n_products)))
        total = n_products + n_dup + junk_images + PRIVATE_ITEMS
        small = {k: np.full(total, -1, dtype=np.int8) for k in ("kind", "cls", "spec", "licence", "author", "fmt", "junk")}
        serial = np.zeros(total, dtype=np.int32)
        dup_of = np.full(total, -1, dtype=np.int32)
        price = np.zeros(total, dtype=np.float64)
        ids = np.zeros(total, dtype="S12")
        pos = 0

        def new(kind: int, c: int, n: int) -> int:
            nonlocal pos
            specs = _SPECS[_CLASSES[c]]
            small["kind"][pos], small["cls"][pos], serial[pos] = kind, c, n
            small["spec"][pos] = int(rng.integers(len(specs)))
            small["licence"][pos] = int(rng.choice(3, p=[0.3, 0.4, 0.3]))
            small["author"][pos] = int(rng.integers(len(AUTHORS)))
            small["fmt"][pos] = FORMATS.index(str(rng.choice(list(FORMATS), p=[0.5, 0.25, 0.25])))
            price[pos] = rng.uniform(0.05, 25)
            ids[pos] = stable_id("catalog", seed, KINDS[kind], _CLASSES[c].value, n, length=12).encode("ascii")
            pos += 1
            return pos - 1

        for c in range(len(_CLASSES)):
            for i in range(products_per_class):
                new(0, c, i)
        for k, j in enumerate(sorted(rng.choice(n_products, size=n_dup, replace=False).tolist())):
            at = new(1, int(small["cls"][j]), k)
            dup_of[at], small["fmt"][at] = j, FORMATS.index("jpeg")
        for k in range(junk_images):
            junk = k % len(_JUNK)
            at = new(2, int(rng.integers(len(_CLASSES))), k)
            small["junk"][at] = junk
            small["fmt"][at] = FORMATS.index("png" if _JUNK[junk] in (JunkKind.BLANK, JunkKind.ASPECT) else "jpeg")
        for k in range(PRIVATE_ITEMS):
            at = new(3, int(rng.integers(len(_CLASSES))), k)
            small["fmt"][at] = FORMATS.index("png")
        # A few public items are all-rights-reserved: the crawler's licence filter must drop them.
        public = np.flatnonzero(small["kind"] != 3)
        if len(public):
            n_res = max(1, int(round(RESERVED_FRACTION * len(public))))
            small["licence"][rng.choice(public, size=n_res, replace=False)] = _RESERVED_CODE
        return cls(seed, {**small, "serial": serial, "dup_of": dup_of, "price": price, "ids": ids})

    def __len__(self) -> int:
        return len(self.kind)

    @overload
    def __getitem__(self, i: int) -> Item: ...
    @overload
    def __getitem__(self, i: slice) -> list[Item]: ...
    def __getitem__(self, i: int | slice) -> Item | list[Item]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(f"plan index {i} out of range ({len(self)} items)")
        c = _CLASSES[self.cls[i]]
        kind = KINDS[self.kind[i]]
        title = f"{DISPLAY[c][1]} {_SPECS[c][self.spec[i]]}"
        code = int(self.licence[i])
        return Item(
            id=self.ids[i].decode("ascii"),
            kind=kind,
            cls=c,
            title=f"Prototype {title} (staff only)" if kind == "private" else title,
            licence=RESERVED if code == _RESERVED_CODE else LICENCES[code],
            author=AUTHORS[self.author[i]],
            fmt=FORMATS[self.fmt[i]],
            price=f"{self.price[i]:.2f}",
            dup_of=self.ids[self.dup_of[i]].decode("ascii") if self.dup_of[i] >= 0 else None,
            junk_kind=_JUNK[self.junk[i]].value if self.junk[i] >= 0 else None,
        )

    def where(self, *kinds: str) -> np.ndarray:
        """Positions of the items of ``kinds``, in plan order."""
        return np.flatnonzero(np.isin(self.kind, [KINDS.index(k) for k in kinds]))

    def listing(self, c: ComponentClass) -> np.ndarray:
        """Positions of a category's listing: its public items in a seeded shuffle (duplicates and junk mixed in)."""
        own = np.flatnonzero((self.cls == _CLASSES.index(ComponentClass(c))) & (self.kind != KINDS.index("private")))
        ordered = own[np.argsort(self.ids[own], kind="stable")]
        perm = make_rng(self.seed, "catalog", "order", ComponentClass(c).value).permutation(len(ordered))
        return ordered[np.asarray(perm)]

    def by_id(self) -> np.ndarray:
        """Positions of every item, sorted by id."""
        return np.argsort(self.ids, kind="stable")


def plan(seed: int, products_per_class: int, duplicate_fraction: float, junk_images: int) -> list[Item]:
    """:meth:`Plan.build`'s items as a list (arguments as there)."""
    return list(Plan.build(seed, products_per_class, duplicate_fraction, junk_images))


# ----------------------------------------------------------------------------- HTML

CSS = """body{font-family:system-ui,sans-serif;margin:0;background:#f4f5f7;color:#222}
header{background:#17324d;color:#fff;padding:12px 24px}header a{color:#fff;text-decoration:none}
main{max-width:960px;margin:24px auto;padding:0 16px}
ul.grid{list-style:none;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:12px}
ul.grid li{background:#fff;border:1px solid #dde;border-radius:6px;padding:12px}
img.product-image{max-width:100%;border:1px solid #dde;background:#fff}
nav.pages a{margin-right:12px}dl{display:grid;grid-template-columns:120px 1fr}
footer{color:#777;font-size:12px;text-align:center;margin:32px}
"""


def _e(s: str) -> str:
    return html.escape(s, quote=True)


def _page(title: str, body: str, root: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<title>{_e(title)} · PartsBin</title>\n<link rel="stylesheet" href="{root}style.css">\n</head>\n<body>\n'
        f'<header><a href="{root}index.html">PartsBin electronic components</a></header>\n<main>\n{body}</main>\n'
        "<footer>PartsBin is a generated demo shop (pcbforge catalog); every photo is synthetic.</footer>\n"
        "</body>\n</html>\n"
    )


def render_index(counts: dict[ComponentClass, int]) -> str:
    """``/index.html``: one ``a.category`` per class (to its first listing page) and the staff link."""
    lis = "".join(
        f'<li><a class="category" href="category/{slug(c)}/page-1.html">{_e(DISPLAY[c][0])}</a>'
        f" <small>({counts.get(c, 0)} products)</small></li>\n"
        for c in ComponentClass
    )
    body = (
        '<h1>Shop by category</h1>\n<ul class="grid">\n' + lis + "</ul>\n"
        '<p><a class="staff" href="private/index.html">Staff area: prototypes</a></p>\n'
    )
    return _page("Categories", body, "")


def render_category(cls: ComponentClass, items: Sequence[Item], page: int, n_pages: int) -> str:
    """``/category/<slug>/page-<n>.html``: ``a.product`` links and ``a.next[rel=next]`` pagination."""
    lis = "".join(
        f'<li><a class="product" href="../../product/{it.id}.html">{_e(it.title)}</a>'
        f'<br><span class="price">€{it.price}</span></li>\n'
        for it in items
    )
    nav = []
    if page > 1:
        nav.append(f'<a class="prev" rel="prev" href="page-{page - 1}.html">« previous</a>')
    nav.append(f'<span class="page">page {page} of {n_pages}</span>')
    if page < n_pages:
        nav.append(f'<a class="next" rel="next" href="page-{page + 1}.html">next »</a>')
    body = f'<h1>{_e(DISPLAY[cls][0])}</h1>\n<ul class="grid">\n{lis}</ul>\n<nav class="pages">{" ".join(nav)}</nav>\n'
    return _page(f"{DISPLAY[cls][0]} (page {page})", body, "../../")


def _licence_link(licence: str) -> str:
    url = LICENCE_URLS.get(licence)
    return f' (<a class="licence-url" rel="license" href="{_e(url)}">terms</a>)' if url else ""


def render_product(item: Item) -> str:
    """A product page: ``h1.title``, one ``img.product-image``, ``span.category``, licence and author."""
    private = item.kind == "private"
    root = "../"
    img_src = f"img/{item.image_file}" if private else f"../img/{item.image_file}"
    back = "index.html" if private else f"../category/{slug(item.cls)}/page-1.html"
    sku = item.id[:8].upper()
    body = (
        f'<p class="breadcrumb"><a href="{root}index.html">Home</a> › <a href="{back}">{_e(DISPLAY[item.cls][0])}</a></p>\n'
        f'<h1 class="title">{_e(item.title)}</h1>\n'
        f'<img class="product-image" src="{img_src}" alt="{_e(item.title)}">\n'
        "<dl>\n"
        f'<dt>Category</dt><dd><span class="category" data-slug="{slug(item.cls)}">{_e(DISPLAY[item.cls][0])}</span></dd>\n'
        f"<dt>SKU</dt><dd>{sku}</dd>\n"
        f"<dt>Price</dt><dd>€{item.price}</dd>\n"
        f'<dt>Photo licence</dt><dd><span class="licence">{_e(item.licence)}</span>{_licence_link(item.licence)}</dd>\n'
        f'<dt>Photo by</dt><dd><span class="author">{_e(item.author)}</span></dd>\n'
        "</dl>\n"
    )
    return _page(item.title, body, root)


def render_private_index(items: Sequence[Item]) -> str:
    """``/private/index.html``: staff-only prototypes (disallowed by robots.txt)."""
    lis = "".join(
        f'<li><a class="product" href="{it.id}.html">{_e(it.title)}</a>'
        f'<br><img class="product-image" src="img/{it.image_file}" alt="" width="96"></li>\n'
        for it in items
    )
    return _page("Staff area", f'<h1>Staff area</h1>\n<ul class="grid">\n{lis}</ul>\n', "../")


def paginate(items: Sequence[T], per_page: int) -> list[list[T]]:
    """Split a listing (items, or their positions in a :class:`Plan`) into pages of ``per_page``
    (at least one page, possibly empty)."""
    n = max(1, math.ceil(len(items) / per_page))
    return [list(items[i * per_page : (i + 1) * per_page]) for i in range(n)]


ROBOTS = "User-agent: *\nDisallow: /private/\nSitemap: /sitemap.xml\n"


def render_sitemap(items: Iterable[Item]) -> Iterator[str]:
    """``/sitemap.xml``, in pieces: every public product page of ``items`` by its root-relative
    URL (``/product/<id>.html``), in the order given (the catalog gives them by id)."""
    yield '<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
    for it in items:
        if it.kind != "private":
            yield f"  <url><loc>/{it.page_path}</loc></url>\n"
    yield "</urlset>\n"
