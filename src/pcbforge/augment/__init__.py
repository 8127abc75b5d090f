"""Synthetic negatives and positives for training, and SSDS-style simulated pairs.

Used by the ``triplets`` stage (defects and positives, through :mod:`pcbforge.datasets.triplets`)
and the ``simulate`` stage (:mod:`pcbforge.augment.ssds`, through :mod:`pcbforge.datasets.pairs`).

* :mod:`pcbforge.augment.scene` -- a component in its surroundings and how to edit it
  (part mask, inpainting, pads, blending);
* :mod:`pcbforge.augment.functional` -- the six defects, applying concrete parameters, and
  :func:`~pcbforge.augment.functional.replay` of a recorded ``defect_params`` row;
* :mod:`pcbforge.augment.transforms` -- samplers drawing those parameters, ``RandomDefect``
  and ``PositiveAugment``;
* :mod:`pcbforge.augment.ssds` -- random shapes pasted under a small pose change.
"""
