"""The built-in offline catalog: procedural component photos, a static shop site and labelled boards.

* :mod:`pcbforge.catalog.draw` -- photo and top-view drawings of the 12 component classes,
  duplicates and junk images (pure functions of a seeded generator);
* :mod:`pcbforge.catalog.boards` -- populated PCBs with exact YOLO labels;
* :mod:`pcbforge.catalog.site` -- the shop plan and its HTML (the crawler's contract);
* :mod:`pcbforge.catalog.build` -- renders it all into a directory and returns the ground truth.

The stage entry point is :mod:`pcbforge.pipelines.catalog`; see docs/catalog.md.
"""
