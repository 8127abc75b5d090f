"""SIGKILL of a running ``pcbforge triplets``: its pool workers die with it, and a re-run completes
(with the umask honoured: its outputs are 0644 under umask 022).

Real processes: the stage runs as its CLI in a child process with two pool workers; the
test kills the stage process alone (not its process group, as an OOM killer or a
``kill -9 <pid>`` would) and looks in ``/proc`` for the workers it had started.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pcbforge.config import Params
from pcbforge.pipelines import triplets as stage
from tests.helpers.components_fixture import write_components
from tests.helpers.modes import modes_other_than
from tests.helpers.params import tiny_params
from tests.helpers.processes import alive, children, cmdline, wait_for

pytestmark = pytest.mark.slow

#: Enough anchors x triplets that the pool is still busy when the test finds its workers.
OVERRIDES = {"base": {"workers": 2}, "triplets": {"strategy": "hybrid", "per_component": 12}}
CLASSES = {"resistor": "train", "diode": "train", "capacitor": "test"}


def _project(root: Path) -> Params:
    params = tiny_params(root, OVERRIDES)
    write_components(params.path(params.crop.out), params.path(params.split.out), per_class=3, classes=CLASSES)
    return params


def _digest(root: Path) -> dict[str, str]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _cli(params: Params, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pcbforge", "triplets", "--params", str(params.root / "params.yaml")],
            cwd=params.root,
            stdout=out,
            stderr=subprocess.STDOUT,
            # Its own session: nothing sent to the stage can reach pytest's process group.
            start_new_session=True,
            umask=0o022,  # as a shared server would have it: outputs must be readable by the team
        )


def test_sigkill_leaves_no_worker_and_a_rerun_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    params = _project(tmp_path / "killed")
    log = tmp_path / "killed.log"
    proc = _cli(params, log)
    out = params.path(params.triplets.out)
    partial = out.parent / f".{out.name}.partial"
    # Every child of the stage (pool workers and multiprocessing's resource tracker).
    started: set[tuple[int, int]] = set()

    def pool_busy_or_ended() -> bool:
        started.update(children(proc.pid))
        workers = [p for p, _ in started if "spawn_main" in cmdline(p)]
        # With two workers every triplet PNG is written by one of them: files mean they work.
        return (len(workers) >= 2 and any((partial / "images").glob("*.png"))) or proc.poll() is not None

    try:
        busy = wait_for(pool_busy_or_ended, 180)
        assert busy and proc.poll() is None, f"the stage ended or timed out before its pool was seen busy:\n{log.read_text()[-3000:]}"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
        gone = wait_for(lambda: not any(alive(c) for c in started), 5)
        assert gone, f"children of the killed stage still alive: {[cmdline(c[0]) for c in started if alive(c)]}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for child in started:
            if alive(child):
                os.kill(child[0], signal.SIGKILL)  # never leave them behind when an assertion failed

    assert not out.exists(), "a killed stage must not leave a half-written output in place"
    rerun = _cli(params, tmp_path / "rerun.log")
    assert rerun.wait(300) == 0, (tmp_path / "rerun.log").read_text()[-3000:]
    assert not partial.exists()
    assert modes_other_than(out, 0o644, 0o755) == {}

    reference = _project(tmp_path / "uninterrupted")
    stage.run(reference)
    assert _digest(out) == _digest(reference.path(reference.triplets.out))
