"""px-cluster's life cycle: down/up keeps the objects, a killed run is recovered, purge leaves nothing.

These tests stop and restart the session's cluster; each leaves it running again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import pytest
from px_cluster.procs import processes_mentioning

from .kube import PX_CLUSTER, Kube, unique

pytestmark = pytest.mark.slow


def _px(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([str(PX_CLUSTER), *args], capture_output=True, text=True, timeout=timeout)


def _ours(cluster_dir: Path) -> list[int]:
    """PIDs of processes whose command line names the cluster dir."""
    return processes_mentioning(str(cluster_dir))


def _footprint(cluster_dir: Path) -> dict[str, object]:
    """What a cluster could leave on the machine: processes, mounts, interfaces, routes, rules, sysctls."""

    def out(*cmd: str) -> str:
        return subprocess.run(list(cmd), capture_output=True, text=True, check=True).stdout

    rules = [
        line.split(" [")[0]  # a chain's packet counters are not a footprint
        for table in ("filter", "nat", "mangle", "raw")
        for line in out("iptables-save", "-t", table).splitlines()
        if line.startswith(("-A", ":"))
    ]
    return {
        "processes": _ours(cluster_dir),
        "mounts": sorted(
            line.split()[4]
            for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if str(cluster_dir) in line.split()[4]
        ),
        "links": sorted(line.split(":")[1].strip().split("@")[0] for line in out("ip", "-o", "link").splitlines()),
        "routes": sorted(out("ip", "route", "show", "table", "all").splitlines()),
        "iptables": sorted(rules),
        "sysctl": {
            k: Path("/proc/sys", k).read_text().strip()
            for k in ("net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables")
        },
        "dir": cluster_dir.exists(),
    }


def test_down_then_up_keeps_the_objects(kube: Kube, cluster_dir: Path):
    name = unique("keep")
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default"},
            "data": {"k": name},
        }
    )
    uid = kube.json("get", "configmap", name, "-n", "default")["metadata"]["uid"]
    try:
        down = _px("down", "--dir", str(cluster_dir))
        assert down.returncode == 0, down.stderr
        assert _ours(cluster_dir) == []
        assert _px("status", "--dir", str(cluster_dir)).returncode == 3
        up = _px("up", "--dir", str(cluster_dir))
        assert up.returncode == 0, up.stdout + up.stderr
        cm = kube.json("get", "configmap", name, "-n", "default")
        assert (cm["metadata"]["uid"], cm["data"]["k"]) == (uid, name)
        # A second up on a running cluster returns at once and says so.
        again = _px("up", "--dir", str(cluster_dir))
        assert again.returncode == 0 and "already runs" in again.stdout
    finally:
        _px("up", "--dir", str(cluster_dir))
        kube.run("delete", "configmap", name, "-n", "default", "--ignore-not-found", check=False)


def test_up_recovers_from_a_killed_run(kube: Kube, cluster_dir: Path):
    for pidfile in (cluster_dir / "run").glob("*.pid"):
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)
    # What a killed run leaves: container processes, mounts, bridges, routes, iptables rules.
    assert _px("status", "--dir", str(cluster_dir)).returncode != 0
    up = _px("up", "--dir", str(cluster_dir))
    assert up.returncode == 0, up.stdout + up.stderr
    assert "left behind" in up.stdout
    assert _px("status", "--dir", str(cluster_dir)).returncode == 0
    name = unique("alive")
    kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}})
    kube.run("delete", "configmap", name, "-n", "default")


def test_purge_leaves_nothing_of_ours(kube: Kube, cluster_dir: Path):
    try:
        purge = _px("down", "--dir", str(cluster_dir), "--purge")
        assert purge.returncode == 0, purge.stderr
        before = _footprint(cluster_dir)
        assert before["dir"] is False and before["processes"] == []
        up = _px("up", "--dir", str(cluster_dir))
        assert up.returncode == 0, up.stdout + up.stderr
        during = _footprint(cluster_dir)
        assert during != before  # the comparison can see a cluster
        assert {"pxc-node0", "pxc-br0"} <= set(during["links"]) or "pxc-node0" in during["links"]
        purge = _px("down", "--dir", str(cluster_dir), "--purge")
        assert purge.returncode == 0, purge.stderr
        assert _footprint(cluster_dir) == before
    finally:
        _px("up", "--dir", str(cluster_dir))
