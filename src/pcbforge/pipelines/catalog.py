"""``pcbforge catalog``: generate the built-in offline catalog (component shop + labelled boards).

Reads ``base`` and ``catalog`` params; writes ``catalog.out`` whole through a staged
directory, so a killed run leaves the previous catalog (or none), never half of one:

* ``site/``: the static shop the crawler harvests on 127.0.0.1 (docs/catalog.md),
* ``boards/``: ``images/*.png``, YOLO ``labels/*.txt`` and ``data.yaml`` for the crop stage,
* ``catalog.parquet``: the ground truth of every generated image.
"""

from __future__ import annotations

import logging

from pcbforge.catalog.build import build_catalog
from pcbforge.config import Params
from pcbforge.io import staged_dir
from pcbforge.rng import workers

log = logging.getLogger(__name__)


def run(params: Params, **options: object) -> str:
    """Generate the catalog into ``catalog.out``; return a one-line summary."""
    out = params.path(params.catalog.out)
    n_workers = workers(params.base.workers)
    with staged_dir(out) as tmp:
        kinds = build_catalog(tmp, params.base.seed, params.catalog, workers=n_workers)
    return (
        f"{kinds['product']} products, {kinds['duplicate']} duplicates, "
        f"{kinds['junk']} junk, {kinds['board']} boards ({kinds['labelled_parts']} labelled parts) "
        f"-> {out} (view: python -m http.server -d {out / 'site'})"
    )
