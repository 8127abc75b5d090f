"""Cleaning the crawled images: duplicates, quality flags and the human review.

Used by the ``dedup`` stage (:mod:`~pcbforge.clean.dedup`, :mod:`~pcbforge.clean.hashing`,
:mod:`~pcbforge.clean.neighbors`), the ``quality`` stage (:mod:`~pcbforge.clean.quality`) and
the ``review`` stage (:mod:`~pcbforge.clean.review`; :mod:`~pcbforge.clean.fiftyone_review`
only for ``review --build/--launch/--pull``).
"""
