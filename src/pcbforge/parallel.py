"""The one ordered process pool of every map-style stage; its workers die with their parent.

Results come back in input order whatever the worker count, so a stage that derives its
randomness per item (:func:`pcbforge.rng.make_rng`) writes the same bytes with 1 or 16
workers. Small inputs run inline: starting processes would cost more than the work.

Where the work runs is an :class:`Executor` (``base.executor``, docs/scaling.md): in the
stage's own process, this process pool, or a Dask distributed cluster. A stage builds one with
:func:`executor` and passes it where a worker count goes; it never names the backend. Every
backend returns the same results in the same order, so outputs are the same bytes: an item's
randomness comes from the item (:func:`pcbforge.rng.make_rng`), never from the worker.

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
import contextlib
import dataclasses
import functools
import logging
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from tqdm import tqdm

from pcbforge.errors import ConfigError
from pcbforge.lifetime import die_with_parent
from pcbforge.logs import configure as configure_logging
from pcbforge.rng import workers as resolve_workers
from pcbforge.vocab import ExecutorKind

if TYPE_CHECKING:
    from pcbforge.config import BaseParams

T = TypeVar("T")
R = TypeVar("R")

#: A worker's shared state, set once per worker process by :func:`_start_worker`.
_CONTEXT: Any = None

_NO_CONTEXT: Any = object()


@dataclasses.dataclass(frozen=True)
class Executor:
    """Where a map runs: pass one wherever :func:`map_ordered` takes a worker count.

    Attributes:
        kind: inline, the local process pool, or Dask distributed.
        workers: Processes of the local pool, or of the local Dask cluster started when
            ``scheduler`` is None; a cluster at ``scheduler`` brings its own.
        scheduler: ``dask`` only: the address of a running scheduler (``tcp://host:port``).

    Example:
        >>> Executor(ExecutorKind.LOCAL, 8).at_most(2)
        Executor(kind=<ExecutorKind.LOCAL: 'local'>, workers=2, scheduler=None)
    """

    kind: ExecutorKind = ExecutorKind.LOCAL
    workers: int = 1
    scheduler: str | None = None

    def at_most(self, n: int) -> Executor:
        """The same executor with at most ``n`` (at least 1) workers: for a stage whose work is
        too small to keep them all busy."""
        return dataclasses.replace(self, workers=max(1, min(self.workers, n)))


def executor(base: BaseParams) -> Executor:
    """The executor ``base`` selects (``executor``, ``workers`` with 0 = all cores, ``dask_scheduler``)."""
    if base.executor is ExecutorKind.INLINE:
        return Executor(ExecutorKind.INLINE, 1)
    return Executor(base.executor, resolve_workers(base.workers), base.dask_scheduler)


def _one_thread_opencv() -> None:
    cv2 = sys.modules.get("cv2")
    if cv2 is not None:
        cv2.setNumThreads(1)  # one process per core already; OpenCV threads would oversubscribe


def _start_worker(parent: int, fn: Callable[..., Any], context: Any, log_level: int) -> None:
    # ``fn`` is here only so that unpickling it has imported its module (and OpenCV with it)
    # before the check below.
    global _CONTEXT
    die_with_parent(parent)
    configure_logging(log_level)  # a spawned interpreter has no handler: log as the stage does
    _one_thread_opencv()
    _CONTEXT = context


def _with_context(fn: Callable[[Any, T], R], item: T) -> R:
    return fn(_CONTEXT, item)


def map_ordered(
    fn: Callable[..., R],
    items: Sequence[T],
    workers: int | Executor = 1,
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
        workers: Where to run: an :class:`Executor` (see :func:`executor`), or a number of
            local processes (1 runs inline).
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


def _run_dask_chunk(fn: Callable[..., R], with_context: bool, context: Any, chunk: list[T]) -> list[R]:
    # Runs in a Dask worker; ``context`` arrives resolved from the future scattered once per worker.
    _one_thread_opencv()
    call = functools.partial(fn, context) if with_context else fn
    return [call(x) for x in chunk]


class _Result(Protocol[R]):
    def result(self) -> R: ...


#: Submits one chunk of items and returns what will hold its results.
_Submit = Callable[[list[Any]], _Result[list[Any]]]


@contextlib.contextmanager
def _local_pool(n: int, fn: Callable[..., Any], context: Any) -> Iterator[tuple[_Submit, int]]:
    task = fn if context is _NO_CONTEXT else functools.partial(_with_context, fn)
    pool = ProcessPoolExecutor(
        max_workers=n,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(os.getpid(), fn, None if context is _NO_CONTEXT else context, logging.getLogger().getEffectiveLevel()),
    )
    try:
        yield functools.partial(pool.submit, _run_chunk, task), n
    except BaseException:
        # A failed task, Ctrl-C or a consumer that stopped: do not run the rest of the queue.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


@contextlib.contextmanager
def _dask_client(ex: Executor, fn: Callable[..., Any], context: Any) -> Iterator[tuple[_Submit, int]]:
    # Imported here: only a stage that asks for Dask pays for importing it.
    from dask.distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        if ex.scheduler is None:
            # Processes, one thread each, as the local pool: the per-image work holds the GIL.
            # Its workers are children of this process and exit when it dies (Dask's nannies watch it).
            cluster = stack.enter_context(
                LocalCluster(n_workers=ex.workers, threads_per_worker=1, processes=True, dashboard_address=None)
            )
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(ex.scheduler, timeout="30s"))
            except OSError as e:
                raise ConfigError(
                    f"base.dask_scheduler: no Dask scheduler answers at {ex.scheduler} ({e}); "
                    "start one (`dask scheduler`, then `dask worker ADDRESS` on each machine) or set dask_scheduler: null"
                ) from e
        slots = max(1, sum(client.nthreads().values()))
        # Sent to each worker once, not with every chunk (the local pool's initializer does the same).
        with_context = context is not _NO_CONTEXT
        shared = client.scatter(context, broadcast=True, hash=False) if with_context else None
        # pure=False: two equal chunks are still two tasks, each with its own results.
        yield (lambda chunk: client.submit(_run_dask_chunk, fn, with_context, shared, chunk, pure=False)), slots
        # Leaving the client releases every future: the scheduler drops work not yet run.


def imap_ordered(
    fn: Callable[..., R],
    items: Sequence[T],
    workers: int | Executor = 1,
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
    ex = workers if isinstance(workers, Executor) else Executor(ExecutorKind.LOCAL, workers)
    own = bar is None
    if bar is None:
        bar = tqdm(total=len(items), desc=desc, unit=unit, leave=False, disable=not progress or not items)
    try:
        if ex.kind is ExecutorKind.INLINE or ex.workers <= 1 or len(items) < max(2, min_parallel):
            call = fn if context is _NO_CONTEXT else functools.partial(fn, context)
            for item in items:
                result = call(item)
                bar.update()
                yield result
            return
        backend = _dask_client(ex, fn, context) if ex.kind is ExecutorKind.DASK else _local_pool(ex.workers, fn, context)
        with backend as (submit, slots):
            size = max(1, min(max_chunk, len(items) // (slots * 8)))
            chunks = (list(items[i : i + size]) for i in range(0, len(items), size))
            pending: collections.deque[_Result[list[R]]] = collections.deque()
            for chunk in chunks:
                pending.append(submit(chunk))
                if len(pending) >= slots * max(1, ahead):
                    break
            while pending:
                done = pending.popleft().result()
                nxt = next(chunks, None)
                if nxt is not None:
                    pending.append(submit(nxt))
                for result in done:
                    bar.update()
                    yield result
                del done
    finally:
        if own:
            bar.close()
