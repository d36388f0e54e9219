"""Benchmark kubesim through the official python client; prints `name: value` lines (not a timed test).

Figures:
- create_1000_configmaps_s / get_1000_configmaps_s / create_plus_get_s: 1,000 ConfigMap creates then
  1,000 gets, one client, keep-alive (target: create+get under 10 s).
- rss_mb_idle / rss_mb_10000_objects: kubesim's resident memory before and after holding 10,000
  ConfigMaps (target: under 300 MB).
- list_10000_s: one list of 10,000 ConfigMaps.

Usage: python bench/kubesim_bench.py [--objects 10000] [--ops 1000]
It starts its own kubesim (a free port, a temporary kubeconfig) and stops it by PID.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

KUBESIM_BIN = Path(sys.executable).with_name("kubesim")


def rss_mb(pid: int) -> float:
    """Resident set size of `pid` in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start(directory: Path) -> tuple[subprocess.Popen[bytes], Path]:
    kubeconfig = directory / "kubeconfig"
    process = subprocess.Popen(
        [
            str(KUBESIM_BIN),
            "serve",
            "--kubeconfig",
            str(kubeconfig),
            "--request-log",
            str(directory / "requests.jsonl"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not kubeconfig.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit("kubesim did not start")
        time.sleep(0.05)
    return process, kubeconfig


def stop(process: subprocess.Popen[bytes]) -> None:
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


def configmap(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"bench": "yes"}}, "data": {"key": "value " * 8}}


def bench_create_get(core: Any, namespace: str, ops: int) -> dict[str, float]:
    started = time.perf_counter()
    for i in range(ops):
        core.create_namespaced_config_map(namespace, configmap(f"cm-{i}"))
    created = time.perf_counter()
    for i in range(ops):
        core.read_namespaced_config_map(f"cm-{i}", namespace)
    done = time.perf_counter()
    return {
        f"create_{ops}_configmaps_s": created - started,
        f"get_{ops}_configmaps_s": done - created,
        "create_plus_get_s": done - started,
    }


def fill(kubeconfig: Path, namespace: str, start_at: int, count: int, workers: int = 4) -> float:
    """Create `count` more ConfigMaps with a few clients in parallel (only the end state matters here)."""
    from kubernetes import client, config

    def worker(indexes: range) -> None:
        api = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
        for i in indexes:
            api.create_namespaced_config_map(namespace, configmap(f"cm-{i}"))

    started = time.perf_counter()
    chunks = [range(start_at + w, start_at + count, workers) for w in range(workers)]
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(worker, c) for c in chunks]:
            future.result()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--objects", type=int, default=10000)
    args = parser.parse_args()

    from kubernetes import client, config

    with tempfile.TemporaryDirectory(prefix="kubesim-bench-") as tmp:
        process, kubeconfig = start(Path(tmp))
        try:
            core = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
            core.create_namespace({"metadata": {"name": "bench"}})
            figures: dict[str, float] = {"rss_mb_idle": rss_mb(process.pid)}
            figures.update(bench_create_get(core, "bench", args.ops))
            remaining = max(0, args.objects - args.ops)
            figures[f"fill_to_{args.objects}_objects_s"] = fill(kubeconfig, "bench", args.ops, remaining)
            started = time.perf_counter()
            items = core.list_namespaced_config_map("bench", label_selector="bench=yes").items
            figures[f"list_{len(items)}_s"] = time.perf_counter() - started
            figures[f"rss_mb_{args.objects}_objects"] = rss_mb(process.pid)
        finally:
            stop(process)
    for name, value in figures.items():
        print(f"{name}: {value:.2f}")


if __name__ == "__main__":
    main()
