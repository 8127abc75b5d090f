"""Manifests, splits and the dataset-building jobs of the later stages.

* :mod:`~pcbforge.datasets.manifest` -- reading and writing the Parquet manifests: every stage;
* :mod:`~pcbforge.datasets.schemas` -- the declared schema of each manifest: every stage;
* :mod:`~pcbforge.datasets.split` -- the ``split`` stage, and the split join of ``triplets`` and ``simulate``;
* :mod:`~pcbforge.datasets.triplets` -- the ``triplets`` stage's per-anchor job;
* :mod:`~pcbforge.datasets.pairs` -- the ``simulate`` stage's per-pair job;
* :mod:`~pcbforge.datasets.loaders` -- triplet loading for the ``train`` and ``evaluate`` stages;
* :mod:`~pcbforge.datasets.export` -- the ``export`` stage's exporters.
"""
