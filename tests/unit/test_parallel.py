"""The one process pool: order and results independent of the worker count.

That its workers die with the stage: test_triplets_kill.py; the start check they run:
test_crawler_lifetime.py (the same :func:`pcbforge.lifetime.die_with_parent`).
"""

from __future__ import annotations

from pcbforge.parallel import map_ordered


def test_pool_with_context_returns_inline_results_in_input_order() -> None:
    items = list(range(40, 0, -1))
    inline = map_ordered(pow, items, 1, context=3, progress=False)
    pooled = map_ordered(pow, items, 2, context=3, progress=False, max_chunk=3)
    assert pooled == inline == [3**i for i in items]

