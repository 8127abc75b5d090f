"""Child processes that never outlive the process that started them.

Used by every process pcbforge starts for a stage: the crawl workers
(:mod:`pcbforge.crawler.runner`) and the workers of the map-style stages' process pool
(:mod:`pcbforge.parallel`). A SIGKILLed stage process cleans nothing up, so each child must
notice its parent's death itself; see :func:`die_with_parent` for how and why.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

log = logging.getLogger(__name__)

#: ``prctl`` option: the signal this process gets when its parent dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1

#: Environment variable through which a stage tells the child it starts its own pid. The
#: environment, not a config file: a config file may be run by hand (another shell, another
#: machine), and that worker has no stage to die with.
PARENT_PID_ENV = "PCBFORGE_PARENT_PID"


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child that must die with this process: ``env`` (default: this
    process's) plus :data:`PARENT_PID_ENV` naming this process.

    Example:
        >>> child_env({"A": "1"}) == {"A": "1", PARENT_PID_ENV: str(os.getpid())}
        True
    """
    return {**(os.environ if env is None else env), PARENT_PID_ENV: str(os.getpid())}


def parent_pid_from_env() -> int | None:
    """The pid a stage put in :data:`PARENT_PID_ENV` (see :func:`child_env`), or None: started
    by hand, no parent to die with. Removed from the environment, so that a process this one
    starts does not take it for its own parent.
    """
    value = os.environ.pop(PARENT_PID_ENV, "").strip()
    return int(value) if value else None


def die_with_parent(parent_pid: int | None, poll: float = 0.5) -> None:
    """Make this process die (SIGKILL) as soon as ``parent_pid``, the process that started it, dies.

    Why: a child left running after a SIGKILL of the stage alone (not its process group)
    does harm or wastes memory. A crawl worker crawled a dead site ("connection refused"
    rows), finished "gracefully" with a Scrapy JOBDIR whose dupe filter marked the failed
    pages as visited, so the resumed crawl never saw their images and exited 0 with rows
    missing; it also raced the resumed worker on the same journal. A process-pool worker
    blocks forever on its task queue (every worker holds the queue's write end, so none
    reads end-of-file): a killed ``triplets`` run left ~1.4 GB of them.

    How: on Linux the kernel does it: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, called through
    ctypes here, after ``exec`` (a ``preexec_fn`` is unsafe in a threaded stage process),
    kills the child the moment its parent exits, even while the child is busy in C code,
    with no thread or pipe to keep. The parent may have died before the ``prctl`` call:
    then ``getppid()`` no longer names it and the child kills itself at once. Elsewhere
    (no ``prctl``), a daemon thread polls ``getppid()`` every ``poll`` seconds. The child
    is killed, not asked to stop: a graceful Scrapy stop would keep crawling the dead site.

    Caveat: the kernel sends the signal when the parent *thread* that started the child
    ends, so a child must be started by the thread that waits for it (as
    :meth:`pcbforge.crawler.runner.CrawlJob.run` and :func:`pcbforge.parallel.map_ordered`
    do), never from a short-lived thread.

    Args:
        parent_pid: pid of the stage process (``None``: started by hand, no parent to watch).
        poll: seconds between checks where ``prctl`` is unavailable.
    """
    if parent_pid is None:
        return
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0:
            if os.getppid() != parent_pid:
                os.kill(os.getpid(), signal.SIGKILL)
            return
        log.warning("prctl(PR_SET_PDEATHSIG) failed (errno %d): watching the parent by polling", ctypes.get_errno())

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll)
        os.kill(os.getpid(), signal.SIGKILL)

    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGKILL)
    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()
