"""The built-in offline catalog: procedural component photos, a static shop site and labelled boards.

Used by the ``catalog`` stage (:mod:`pcbforge.pipelines.catalog`) only; the crawl reads what
it renders over HTTP, never this package. One module per job:

* :mod:`pcbforge.catalog.paint` -- drawing primitives (colour picks, shaded fills, masked paint, text);
* :mod:`pcbforge.catalog.parts` -- product-photo sprites of the 12 component classes;
* :mod:`pcbforge.catalog.photo` -- catalogue photos: a sprite on a background with shadow and light;
* :mod:`pcbforge.catalog.junk` -- duplicates and junk images for dedup and quality to find;
* :mod:`pcbforge.catalog.topview` -- parts seen from above at a physical size, for boards;
* :mod:`pcbforge.catalog.boards` -- populated PCBs with exact YOLO labels;
* :mod:`pcbforge.catalog.site` -- the shop plan and its HTML (the crawler's contract);
* :mod:`pcbforge.catalog.build` -- renders it all into a directory and returns the ground truth.

All drawings are pure functions of a seeded generator; see docs/catalog.md.
"""
