"""One ordered process-pool map with a progress bar, shared by every map-style stage.

Results come back in input order whatever the worker count, so a stage that derives its
randomness per item (:func:`pcbforge.rng.make_rng`) writes the same bytes with 1 or 16
workers. Small inputs run inline: starting processes would cost more than the work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")


def map_ordered(
    fn: Callable[[T], R],
    items: Sequence[T],
    workers: int = 1,
    *,
    desc: str = "",
    unit: str = "it",
    progress: bool = True,
    min_parallel: int = 2,
    max_chunk: int = 64,
    bar: tqdm | None = None,
) -> list[R]:
    """``[fn(x) for x in items]``, in ``workers`` processes when there are enough items.

    Args:
        fn: A picklable (module-level or ``functools.partial``) function of one item.
        items: The work, in the order results are returned.
        workers: Processes (resolve ``base.workers`` with :func:`pcbforge.rng.workers` first);
            1 runs inline.
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
    """
    own = bar is None
    if bar is None:
        bar = tqdm(total=len(items), desc=desc, unit=unit, leave=False, disable=not progress or not items)
    out: list[R] = []
    try:
        if workers <= 1 or len(items) < max(2, min_parallel):
            for item in items:
                out.append(fn(item))
                bar.update()
        else:
            chunk = max(1, min(max_chunk, len(items) // (workers * 8)))
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for result in pool.map(fn, items, chunksize=chunk):
                    out.append(result)
                    bar.update()
    finally:
        if own:
            bar.close()
    return out
