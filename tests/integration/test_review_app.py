"""`pcbforge review --launch` serves the App on 127.0.0.1 and headless Chromium shows the samples.

Everything is real: the CLI in a subprocess (bundled mongod, database in a temp dir), the
FiftyOne App server, Debian's ``chromium`` driven through ``chromedriver``'s W3C WebDriver
HTTP API (plain JSON over HTTP, so no Selenium). Ctrl-C (SIGINT) must stop the App cleanly.
(Opening a saved view by its ``?view=<slug>`` URL races with the session's own state in
FiftyOne 1.22, so the saved views are checked through the App server's GraphQL API instead.)
The screenshot lands in ``$PCBFORGE_ARTIFACTS`` (default ``<repo>/artifacts``).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pcbforge.clean.fiftyone_review import VIEW_CLUSTERS, VIEW_LOW_QUALITY
from pcbforge.config import Params
from tests.helpers.params import REPO_ROOT, tiny_params
from tests.helpers.review_inputs import write_review_inputs

pytestmark = pytest.mark.slow

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,900",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http(method: str, url: str, body: Any = None, timeout: float = 60) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


def _wait_for(what: str, probe, timeout: float, proc: subprocess.Popen | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: process exited with {proc.returncode}")
        try:
            value = probe()
            if value:
                return value
        except (OSError, urllib.error.URLError, ValueError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


class WebDriver:
    """The few W3C WebDriver calls the test needs, against a chromedriver we started."""

    def __init__(self, base: str, user_data_dir: Path) -> None:
        self.base = base
        caps = {
            "capabilities": {
                "alwaysMatch": {
                    "goog:chromeOptions": {
                        "binary": shutil.which("chromium"),
                        "args": [*CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}"],
                    }
                }
            }
        }
        self.sid = _http("POST", f"{base}/session", caps, timeout=120)["value"]["sessionId"]

    def go(self, url: str) -> None:
        _http("POST", f"{self.base}/session/{self.sid}/url", {"url": url}, timeout=120)

    def js(self, script: str) -> Any:
        return _http("POST", f"{self.base}/session/{self.sid}/execute/sync", {"script": script, "args": []})["value"]

    def screenshot(self) -> bytes:
        return base64.b64decode(_http("GET", f"{self.base}/session/{self.sid}/screenshot")["value"])

    def quit(self) -> None:
        _http("DELETE", f"{self.base}/session/{self.sid}")


@pytest.fixture()
def driver(tmp_path: Path) -> Iterator[WebDriver]:
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and chromedriver, "install the Debian packages chromium and chromium-driver (`make test` does)"
    port = _free_port()
    proc = subprocess.Popen(
        [chromedriver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for("chromedriver", lambda: _http("GET", f"{base}/status")["value"]["ready"], 30, proc)
        wd = WebDriver(base, tmp_path / "chromium-profile")
        try:
            yield wd
        finally:
            wd.quit()
    finally:
        _stop(proc)


def _canvases(wd: WebDriver) -> int:
    # The App draws each sample of the grid into its own <canvas>.
    return int(wd.js("return document.querySelectorAll('canvas').length"))


def test_launch_serves_dataset_to_headless_chromium(tmp_path: Path, driver: WebDriver) -> None:
    port = _free_port()
    name = f"pcbforge-app-{port}"
    params = tiny_params(tmp_path / "project", {"review": {"port": port, "dataset_name": name}})
    write_review_inputs(params)
    env = {k: v for k, v in os.environ.items() if k not in ("FIFTYONE_DATABASE_DIR", "FIFTYONE_PRIVATE_DATABASE_PORT")}
    env["FIFTYONE_DO_NOT_TRACK"] = "true"
    log_path = tmp_path / "launch.log"
    with open(log_path, "wb") as log:
        app = subprocess.Popen(
            [sys.executable, "-m", "pcbforge.cli", "review", "--launch", "--params", str(params.root / "params.yaml")],
            cwd=params.root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, like a command typed in a terminal
            # A runner started in the background may ignore SIGINT, and children inherit that.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for("the App server", lambda: _http("GET", f"{url}/fiftyone", timeout=5)["version"], 240, app)

        driver.go(f"{url}/datasets/{name}")
        _wait_for("7 samples in the grid", lambda: _canvases(driver) == 7, 90)
        text = driver.js("return document.body.innerText")
        assert "pcb_id" in text and "dup_distance" in text and "quality_flags" in text
        assert driver.js("return location.pathname") == f"/datasets/{name}"
        shot = driver.screenshot()
        assert shot.startswith(b"\x89PNG") and len(shot) > 10_000
        artifacts = Path(os.environ.get("PCBFORGE_ARTIFACTS", REPO_ROOT / "artifacts"))
        artifacts.mkdir(parents=True, exist_ok=True)
        (artifacts / "review-app.png").write_bytes(shot)

        # The App's server offers the saved views to the view selector.
        query = f'query {{ dataset(name: "{name}") {{ estimatedSampleCount savedViews {{ name slug }} }} }}'
        ds = _http("POST", f"{url}/graphql", {"query": query})["data"]["dataset"]
        assert ds["estimatedSampleCount"] == 7
        views = {v["name"]: v["slug"] for v in ds["savedViews"]}
        assert views[VIEW_CLUSTERS] == "near-duplicate-clusters-to-confirm" and VIEW_LOW_QUALITY in views
        assert len(views) == 2 + len(Params().taxonomy())  # one view per taxonomy class

        # Ctrl-C (SIGINT to the process group) stops the App, its server and mongod.
        os.killpg(app.pid, signal.SIGINT)
        assert app.wait(90) == 0, log_path.read_text()
        _wait_for("the App's processes to exit", lambda: not _group_alive(app.pid), 60)
        out = log_path.read_text()
        assert "review: 4 of 7 images accepted" in out and f"App was served at {url}" in out
        assert f"FiftyOne dataset {name!r}: 7 samples, {2 + len(Params().taxonomy())} saved views" in out
    finally:
        if _group_alive(app.pid):
            os.killpg(app.pid, signal.SIGKILL)
        app.wait(30)
