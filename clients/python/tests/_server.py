"""A real flagops server for the tests: the Go binary, built once per test
run, started on 127.0.0.1 with a temporary data directory.

``FLAGOPS_BIN`` names a binary to use instead of building one.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import List, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

import flagops  # noqa: E402

REPO = HERE.parents[2]
# Reconnection tests stop servers on purpose; the client logs every failed
# refresh at WARNING, which is noise here.
logging.getLogger("flagops").setLevel(logging.ERROR)
_bin: Optional[str] = None
_tmp = tempfile.mkdtemp(prefix="flagops-pytest-")
atexit.register(shutil.rmtree, _tmp, True)


def binary() -> str:
    """The flagops binary: $FLAGOPS_BIN, or built once with go build."""
    global _bin
    if _bin:
        return _bin
    env = os.environ.get("FLAGOPS_BIN")
    if env:
        _bin = env
        return _bin
    out = os.path.join(_tmp, "flagops")
    start = time.monotonic()
    subprocess.run(["go", "build", "-o", out, "./cmd/flagops"], cwd=REPO, check=True)
    print(f"\n[flagops tests] built {out} in {time.monotonic() - start:.1f}s", file=sys.stderr)
    _bin = out
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One ``flagops serve`` process. ``stop()`` and ``start()`` again
    restart it on the same port and data directory."""

    def __init__(self, *args: str):
        self.args: List[str] = list(args)
        self.data_dir = tempfile.mkdtemp(prefix="data-", dir=_tmp)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = os.path.join(self.data_dir, "server.log")
        self.admin_token = ""

    def start(self) -> "Server":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [binary(), "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.data_dir, "--log-level", "warn", *self.args],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"flagops serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"flagops serve did not become ready:\n{self.log()}")
            time.sleep(0.05)
        with open(os.path.join(self.data_dir, "admin.token")) as f:
            self.admin_token = f.read().strip()
        return self

    def stop(self) -> None:
        p, self.proc = self.proc, None
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def admin(self) -> flagops.Client:
        return flagops.Client(self.url, self.admin_token)


def wait_for(pred, timeout: float = 10.0, interval: float = 0.005, what: str = "condition"):
    """Poll ``pred`` until it returns a truthy value; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
