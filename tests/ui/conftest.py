"""A real `dii-hpc ui` in a subprocess, and a run that logs while a test watches.

Nothing here sleeps to synchronise: the server's URL is read from its stdout, a logging
run's id from the logger's first line, each with a deadline.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import DII, default_signals

LOGGER = Path(__file__).with_name("logger.py")


def read_line(proc: subprocess.Popen[bytes], timeout: float, what: str) -> str:
    """The first line of a child's stdout, or fail with its stderr after ``timeout`` seconds."""
    assert proc.stdout is not None
    fd, data = proc.stdout.fileno(), b""
    deadline = time.monotonic() + timeout
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        chunk = os.read(fd, 1) if left > 0 and select.select([fd], [], [], left)[0] else b""
        if not chunk:
            if proc.poll() is None:
                proc.kill()
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            pytest.fail(f"{what}: no line within {timeout} s (exit {proc.wait()}): {err[-2000:]}")
        data += chunk
    return data.decode().strip()


def wait_for(check: Any, timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``check()`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(delay)  # polling interval of a wait with a deadline, not a synchronisation
        delay = min(delay * 1.5, 0.5)


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str      # as printed: http://127.0.0.1:PORT/?token=...
    token: str
    port: int

    def request(self, method: str, path: str, token: bool = True,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """One raw HTTP request (the path is sent exactly as given, '..' included)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        hdrs = dict(headers or {})
        if token:
            hdrs.setdefault("Authorization", f"token {self.token}")
        conn.putrequest(method, path, skip_accept_encoding=True, skip_host="Host" in hdrs)
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body

    def get_json(self, path: str) -> Any:
        status, _, body = self.request("GET", path)
        assert status == 200, (path, status, body[:300])
        return json.loads(body)


@contextlib.contextmanager
def serving(store_dir: Path, *args: str) -> Iterator[Server]:
    """`dii-hpc ui --port 0` on ``store_dir`` while the block runs."""
    proc = subprocess.Popen([DII, "ui", "--port", "0", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            env={**os.environ, "DII_HPC_STORE": str(store_dir)},
                            preexec_fn=default_signals)
    try:
        url = read_line(proc, 60, "dii-hpc ui URL")
        parts = urlsplit(url)
        yield Server(proc, url, parts.query.removeprefix("token="), int(parts.port or 0))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture()
def ui_server(store_path: Path) -> Iterator[Server]:
    """`dii-hpc ui` on the test's store (which must exist before the server starts: the
    fixture creates it)."""
    store_path.mkdir(parents=True, exist_ok=True)
    with serving(store_path) as server:
        yield server


@dataclass
class LoggingRun:
    proc: subprocess.Popen[bytes]
    run_id: str
    stop_file: Path

    def stop(self) -> None:
        self.stop_file.touch()
        assert self.proc.wait(timeout=60) == 0


@pytest.fixture()
def logging_run(store_path: Path, tmp_path: Path) -> Iterator[Any]:
    """A factory: start tests/ui/logger.py in ``experiment``; its run logs until stopped."""
    runs: list[LoggingRun] = []

    def start(experiment: str = "live") -> LoggingRun:
        stop = tmp_path / f"stop-{len(runs)}"
        proc = subprocess.Popen([sys.executable, str(LOGGER), str(store_path), experiment,
                                 str(stop)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                preexec_fn=default_signals)
        run = LoggingRun(proc, read_line(proc, 60, "logging run id"), stop)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.stop_file.touch()
        try:
            run.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            run.proc.kill()
            run.proc.wait()
