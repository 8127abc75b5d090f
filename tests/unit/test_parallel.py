"""The one process pool: order and results independent of the worker count; the start check."""

from __future__ import annotations

import subprocess
import sys

from pcbforge.parallel import map_ordered


def test_pool_with_context_returns_inline_results_in_input_order() -> None:
    items = list(range(40, 0, -1))
    inline = map_ordered(pow, items, 1, context=3, progress=False)
    pooled = map_ordered(pow, items, 2, context=3, progress=False, max_chunk=3)
    assert pooled == inline == [3**i for i in items]


def test_worker_whose_parent_is_not_the_pool_owner_exits_at_once() -> None:
    # The parent of this child is pytest, not pid 1: as if the pool owner had died before
    # the death signal was armed, the child must leave without running any task.
    code = "from pcbforge.parallel import die_with_parent; die_with_parent(1); print('ran a task')"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and "ran a task" not in res.stdout, (res.stdout, res.stderr)
