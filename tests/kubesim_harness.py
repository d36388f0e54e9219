"""Start and stop kubesim, the simulated Kubernetes API server, for tests (shared by every test tree).

`start_kubesim(dir, *args)` starts `kubesim serve` (the console script next to the Python running
the tests), waits (bounded) for the kubeconfig it writes once serving, and returns a
`KubesimInstance` that is stopped by PID.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

KUBESIM_BIN = Path(sys.executable).with_name("kubesim")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


@dataclass
class KubesimInstance:
    """A running kubesim subprocess (stop it by PID; never by name)."""

    process: subprocess.Popen[bytes]
    kubeconfig: Path
    request_log: Path
    state_dir: Path | None
    stdout: Path
    url: str = ""
    token: str = ""
    ca_data: str = ""
    args: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        """The request-log entries (from line `since` on: see `mark`)."""
        if not self.request_log.exists():
            return []
        lines = self.request_log.read_text().splitlines()[since:]
        return [json.loads(line) for line in lines if line.strip()]

    def mark(self) -> int:
        """The number of request-log lines so far: pass it to `requests(since=...)` later."""
        if not self.request_log.exists():
            return 0
        return len(self.request_log.read_text().splitlines())

    def writes(self, since: int = 0) -> list[dict[str, Any]]:
        """Logged requests that changed something: writes minus dry runs and no-op updates (`changed` false)."""
        return [
            r
            for r in self.requests(since)
            if r["method"] in ("POST", "PUT", "PATCH", "DELETE") and not r["dryRun"] and r.get("changed", True)
        ]

    def write_requests(self, since: int = 0) -> list[dict[str, Any]]:
        """Every logged POST/PUT/PATCH/DELETE, whether or not it changed anything."""
        return [r for r in self.requests(since) if r["method"] in ("POST", "PUT", "PATCH", "DELETE")]

    def api_client(self) -> Any:
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM by PID and wait (bounded); returns the exit status."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                return self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout)
                raise AssertionError(f"kubesim (pid {self.process.pid}) ignored SIGTERM for {timeout} s") from None
        return self.process.returncode


def start_kubesim(
    directory: Path, *extra: str, state_dir: Path | None = None, port: int = 0, timeout: float = START_TIMEOUT
) -> KubesimInstance:
    """Start `kubesim serve` and wait (bounded) for its kubeconfig, which it writes once serving."""
    directory.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    kubeconfig = directory / f"kubeconfig-{tag}"
    request_log = directory / f"requests-{tag}.jsonl"
    stdout = directory / f"kubesim-{tag}.out"
    args = [
        str(KUBESIM_BIN),
        "serve",
        "--kubeconfig",
        str(kubeconfig),
        "--request-log",
        str(request_log),
        "--port",
        str(port),
    ]
    if state_dir is not None:
        args += ["--state-dir", str(state_dir)]
    args += list(extra)
    with stdout.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    instance = KubesimInstance(process, kubeconfig, request_log, state_dir, stdout, args=args)
    deadline = time.monotonic() + timeout
    while not kubeconfig.exists():
        if process.poll() is not None:
            raise AssertionError(f"kubesim exited with {process.returncode}: {stdout.read_text()}")
        if time.monotonic() > deadline:
            instance.stop()
            raise AssertionError(f"kubesim wrote no kubeconfig within {timeout} s: {stdout.read_text()}")
        time.sleep(0.05)
    config = yaml.safe_load(kubeconfig.read_text())
    instance.url = config["clusters"][0]["cluster"]["server"]
    instance.ca_data = config["clusters"][0]["cluster"]["certificate-authority-data"]
    instance.token = config["users"][0]["user"]["token"]
    return instance


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.05, message: str = "condition") -> Any:
    """Poll until `predicate()` is truthy (bounded); returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)
