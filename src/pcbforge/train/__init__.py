"""The Siamese model, its training loop and its evaluation.

Used by the ``train`` stage (:mod:`~pcbforge.train.model`, :mod:`~pcbforge.train.loop`) and
the ``evaluate`` stage (the same two plus :mod:`~pcbforge.train.evaluate`).
"""
