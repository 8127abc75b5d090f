"""The one process pool: order and results independent of the worker count.

That its workers die with the stage: test_triplets_kill.py; the start check they run:
test_crawler_lifetime.py (the same :func:`pcbforge.lifetime.die_with_parent`).
"""

from __future__ import annotations

from pcbforge.parallel import imap_ordered, map_ordered


def test_pool_with_context_returns_inline_results_in_input_order() -> None:
    items = list(range(40, 0, -1))
    inline = map_ordered(pow, items, 1, context=3, progress=False)
    pooled = map_ordered(pow, items, 2, context=3, progress=False, max_chunk=3)
    assert pooled == inline == [3**i for i in items]


def test_imap_runs_only_a_bounded_window_ahead_of_its_consumer(tmp_path) -> None:
    # A stage that writes each result and drops it must not have every task run (and every
    # result held) before it takes the first: that made catalog's memory grow with its size.
    from tests.helpers.pool_tasks import mark_started

    results = imap_ordered(mark_started, range(200), 2, context=str(tmp_path), progress=False, max_chunk=1, ahead=2)
    assert next(results) == 0
    started = len(list(tmp_path.iterdir()))
    # 2 workers x 2 chunks queued, plus the one submitted when the first was taken.
    assert started <= 5
    assert [0, *results] == list(range(200))


def test_pool_workers_log_in_the_stage_format_at_the_stage_level(capfd) -> None:
    import logging

    from pcbforge.logs import configure
    from tests.helpers.pool_tasks import warn_and_double

    root = logging.getLogger()
    old_handlers, old_level = root.handlers[:], root.level
    root.handlers = []
    try:
        configure(logging.INFO)
        assert map_ordered(warn_and_double, [1, 2, 3, 4], 2, progress=False, max_chunk=1) == [2, 4, 6, 8]
    finally:
        root.handlers, root.level = old_handlers, old_level
    err = capfd.readouterr().err
    # Spawned workers write to the inherited stderr, formatted and filtered like the parent.
    for x in (1, 2, 3, 4):
        assert f"pcbforge.test.pool WARNING: worker warning {x}" in err
        assert f"pcbforge.test.pool INFO: worker info {x}" in err
