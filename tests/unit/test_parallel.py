"""The one process pool and the other executors: order and results independent of where the work runs.

The stages on the local pool and on a Dask cluster reached by address: tests/integration/test_executors.py.

That its workers die with the stage: test_triplets_kill.py; the start check they run:
test_crawler_lifetime.py (the same :func:`pcbforge.lifetime.die_with_parent`).
"""

from __future__ import annotations

import os

import pytest

from pcbforge.config import BaseParams
from pcbforge.parallel import Executor, executor, imap_ordered, map_ordered
from pcbforge.vocab import ExecutorKind
from tests.helpers.pool_tasks import power_and_pid


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


def test_executor_from_base_params() -> None:
    assert executor(BaseParams(workers=3)) == Executor(ExecutorKind.LOCAL, 3)
    # Inline is one process whatever base.workers says.
    assert executor(BaseParams(workers=3, executor="inline")) == Executor(ExecutorKind.INLINE, 1)
    ex = executor(BaseParams(workers=4, executor="dask", dask_scheduler="tcp://10.0.0.5:8786"))
    assert ex == Executor(ExecutorKind.DASK, 4, "tcp://10.0.0.5:8786")
    assert ex.at_most(2).workers == 2 and ex.at_most(0).workers == 1 and ex.at_most(9).workers == 4


def test_inline_executor_stays_in_this_process() -> None:
    items = list(range(10))
    out = map_ordered(power_and_pid, items, Executor(ExecutorKind.INLINE, 4), context=2, progress=False)
    assert out == [(x**2, os.getpid()) for x in items]


@pytest.mark.slow
def test_dask_local_cluster_returns_inline_results_in_input_order() -> None:
    pytest.importorskip("distributed")
    items = list(range(30, 0, -1))
    # No scheduler address: a local cluster of 2 worker processes, started and stopped by the map.
    out = map_ordered(power_and_pid, items, Executor(ExecutorKind.DASK, 2), context=3, progress=False, max_chunk=2)
    assert [v for v, _ in out] == [x**3 for x in items]
    assert os.getpid() not in {pid for _, pid in out}  # computed in the cluster's workers
