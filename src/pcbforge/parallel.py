"""The one ordered process pool of every map-style stage; its workers die with their parent.

Results come back in input order whatever the worker count, so a stage that derives its
randomness per item (:func:`pcbforge.rng.make_rng`) writes the same bytes with 1 or 16
workers. Small inputs run inline: starting processes would cost more than the work.

State every task needs (a stage's settings, candidate pools, search tables) is handed over
once per worker as ``context`` rather than pickled with every task: ``fn`` is then called as
``fn(context, item)``, inline and in workers alike, so no stage keeps module globals for it.

How the pool starts and why its workers cannot outlive the stage:

- Workers are spawned (a fresh interpreter each), not forked. A forked child inherits the
  parent's memory but not its threads, so a lock or condition another thread was using is
  left as it was at the fork:
  with OpenCV's thread pool already used in the parent (a test process that ran a stage
  before, a stage that drew with OpenCV first), a forked worker hung for good in
  ``cv2.setNumThreads``. Spawning costs each worker its imports once per map (a second or
  two for torch, in parallel); ``context`` is pickled once per worker, not per task.
- A pool worker blocks on its task queue, and every worker holds that queue's write end, so
  after a SIGKILL of the stage process none of them ever reads end-of-file: they wait forever
  (a killed ``triplets`` run used to leave ~1.4 GB of them). Each worker starts with
  :func:`pcbforge.lifetime.die_with_parent`, as crawl workers do: the kernel SIGKILLs it when
  the process that started the pool dies (``prctl(PR_SET_PDEATHSIG)``, immediate, no thread,
  works while the worker is busy in C code), and a worker whose parent died before that
  kills itself at once. The signal follows the thread that started the worker: the thread
  that called :func:`map_ordered` (ProcessPoolExecutor starts workers from ``submit``), which
  waits there until the pool has shut down.
- Not forkserver: a forkserver worker's parent is the fork server, which stays alive as long
  as any of its workers holds the server's "alive" pipe (every worker does), so the death
  signal would never fire and a watchdog thread per worker would have to stand in.
"""

from __future__ import annotations

import collections
import functools
import logging
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

from tqdm import tqdm

from pcbforge.lifetime import die_with_parent
from pcbforge.logs import configure as configure_logging

T = TypeVar("T")
R = TypeVar("R")

#: A worker's shared state, set once per worker process by :func:`_start_worker`.
_CONTEXT: Any = None

_NO_CONTEXT: Any = object()


def _start_worker(parent: int, fn: Callable[..., Any], context: Any, log_level: int) -> None:
    # ``fn`` is here only so that unpickling it has imported its module (and OpenCV with it)
    # before the check below.
    global _CONTEXT
    die_with_parent(parent)
    configure_logging(log_level)  # a spawned interpreter has no handler: log as the stage does
    cv2 = sys.modules.get("cv2")
    if cv2 is not None:
        cv2.setNumThreads(1)  # one process per core already; OpenCV threads would oversubscribe
    _CONTEXT = context


def _with_context(fn: Callable[[Any, T], R], item: T) -> R:
    return fn(_CONTEXT, item)


def map_ordered(
    fn: Callable[..., R],
    items: Sequence[T],
    workers: int = 1,
    *,
    context: Any = _NO_CONTEXT,
    desc: str = "",
    unit: str = "it",
    progress: bool = True,
    min_parallel: int = 2,
    max_chunk: int = 64,
    bar: tqdm | None = None,
) -> list[R]:
    """``[fn(x) for x in items]`` (``fn(context, x)`` with a context), in ``workers`` processes
    when there are enough items.

    Args:
        fn: A picklable (module-level or ``functools.partial``) function of one item, or of
            ``(context, item)`` when ``context`` is given. Workers import its module afresh,
            so it must not depend on state set up at run time in the parent.
        items: The work, in the order results are returned.
        workers: Processes (resolve ``base.workers`` with :func:`pcbforge.rng.workers` first);
            1 runs inline.
        context: State every call needs (picklable), sent to each worker once rather
            than with every task, and passed to ``fn`` as its first argument.
        desc: Progress bar label.
        unit: Progress bar unit.
        progress: Show a tqdm bar on stderr (ignored when ``bar`` is given).
        min_parallel: Fewer items than this run inline.
        max_chunk: Upper bound of the items sent to a worker at once (smaller balances
            uneven tasks better).
        bar: An open bar to advance instead of a new one (when the caller counts more work).

    Returns:
        The results in the order of ``items``.

    Example:
        >>> map_ordered(abs, [-2, 1, -3], workers=1, progress=False)
        [2, 1, 3]
        >>> map_ordered(pow, [1, 2, 3], workers=1, context=2, progress=False)
        [2, 4, 8]
    """
    return list(
        imap_ordered(
            fn, items, workers, context=context, desc=desc, unit=unit, progress=progress,
            min_parallel=min_parallel, max_chunk=max_chunk, bar=bar,
        )
    )


def _run_chunk(task: Callable[[T], R], chunk: list[T]) -> list[R]:
    return [task(x) for x in chunk]


def imap_ordered(
    fn: Callable[..., R],
    items: Sequence[T],
    workers: int = 1,
    *,
    context: Any = _NO_CONTEXT,
    desc: str = "",
    unit: str = "it",
    progress: bool = True,
    min_parallel: int = 2,
    max_chunk: int = 64,
    bar: tqdm | None = None,
    ahead: int = 4,
) -> Iterator[R]:
    """:func:`map_ordered` as a generator: results are yielded in input order as they come,
    and at most ``ahead`` chunks per worker are queued or finished but not yet taken.

    A stage that writes each result to disk and drops it keeps its memory flat in the
    number of items (``Executor.map`` would submit every task at once, and the results of
    a slow consumer would pile up in their futures). Arguments as for :func:`map_ordered`;
    closing the generator early cancels the queued work and shuts the pool down.

    Example:
        >>> list(imap_ordered(abs, [-2, 1, -3], workers=1, progress=False))
        [2, 1, 3]
    """
    own = bar is None
    if bar is None:
        bar = tqdm(total=len(items), desc=desc, unit=unit, leave=False, disable=not progress or not items)
    try:
        if workers <= 1 or len(items) < max(2, min_parallel):
            call = fn if context is _NO_CONTEXT else functools.partial(fn, context)
            for item in items:
                result = call(item)
                bar.update()
                yield result
            return
        task = fn if context is _NO_CONTEXT else functools.partial(_with_context, fn)
        shared = None if context is _NO_CONTEXT else context
        size = max(1, min(max_chunk, len(items) // (workers * 8)))
        chunks = (list(items[i : i + size]) for i in range(0, len(items), size))
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(os.getpid(), fn, shared, logging.getLogger().getEffectiveLevel()),
        )
        pending: collections.deque[Future[list[R]]] = collections.deque()
        try:
            for chunk in chunks:
                pending.append(pool.submit(_run_chunk, task, chunk))
                if len(pending) >= workers * max(1, ahead):
                    break
            while pending:
                done = pending.popleft().result()
                nxt = next(chunks, None)
                if nxt is not None:
                    pending.append(pool.submit(_run_chunk, task, nxt))
                for result in done:
                    bar.update()
                    yield result
                del done
        except BaseException:
            # A failed task, Ctrl-C or a consumer that stopped: do not run the rest of the queue.
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    finally:
        if own:
            bar.close()
