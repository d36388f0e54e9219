"""The cluster's network set-up on the host, and its removal.

Nothing leaves this machine: the node IP lives on a bridge with no ports, pods live on their own
bridge with no masquerading, blackhole routes catch the pod range and a route sends the service
range into the port-less bridge, and a guard chain drops any forwarded packet from or to a pod that
is not for another pod. Sysctls changed here are recorded and restored on teardown.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

from .config import NODE_BRIDGE, NODE_IP, POD_BRIDGE, POD_CIDR, SERVICE_CIDR

GUARD = "PX-CLUSTER-GUARD"
SYSCTLS = {
    "net/ipv4/ip_forward": "1",
    "net/bridge/bridge-nf-call-iptables": "1",
}


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(args), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(args)}` failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def link_exists(name: str) -> bool:
    return _run("ip", "link", "show", name, check=False).returncode == 0


def _route_exists(spec: list[str]) -> bool:
    out = _run("ip", "route", "show", *spec, check=False).stdout
    return bool(out.strip())


def _guard_rules() -> list[list[str]]:
    return [
        ["-i", POD_BRIDGE, "-o", POD_BRIDGE, "-j", "RETURN"],
        ["-i", POD_BRIDGE, "-j", "DROP"],
        ["-s", POD_CIDR, "-j", "DROP"],
        ["-d", POD_CIDR, "!", "-o", POD_BRIDGE, "-j", "DROP"],
        ["-d", SERVICE_CIDR, "-j", "DROP"],
    ]


def ensure_guard() -> None:
    """The guard chain, jumped to first in FORWARD (re-asserted after kube-proxy adds its own jumps)."""
    if _run("iptables", "-w", "-n", "-L", GUARD, check=False).returncode != 0:
        _run("iptables", "-w", "-N", GUARD)
    _run("iptables", "-w", "-F", GUARD)
    for rule in _guard_rules():
        _run("iptables", "-w", "-A", GUARD, *rule)
    rules = _run("iptables", "-w", "-S", "FORWARD").stdout.splitlines()
    jumps = [r for r in rules if r.startswith("-A FORWARD") and f"-j {GUARD}" in r]
    first = next((r for r in rules if r.startswith("-A FORWARD")), None)
    if jumps and first == jumps[0] and len(jumps) == 1:
        return
    while _run("iptables", "-w", "-D", "FORWARD", "-j", GUARD, check=False).returncode == 0:
        pass
    _run("iptables", "-w", "-I", "FORWARD", "1", "-j", GUARD)


def _sysctl_path(key: str) -> Path:
    return Path("/proc/sys") / key


def setup(state_file: Path) -> None:
    if not _sysctl_path("net/bridge/bridge-nf-call-iptables").exists():
        raise RuntimeError(
            "br_netfilter is not loaded (/proc/sys/net/bridge is missing): load the kernel module br_netfilter"
        )
    saved = json.loads(state_file.read_text()) if state_file.exists() else {}
    for key, want in SYSCTLS.items():
        path = _sysctl_path(key)
        current = path.read_text().strip()
        saved.setdefault(key, current)
        if current != want:
            path.write_text(want)
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps(saved))
    if not link_exists(NODE_BRIDGE):
        _run("ip", "link", "add", NODE_BRIDGE, "type", "bridge")
    if NODE_IP not in _run("ip", "-4", "addr", "show", "dev", NODE_BRIDGE).stdout:
        _run("ip", "addr", "add", f"{NODE_IP}/32", "dev", NODE_BRIDGE)
    _run("ip", "link", "set", NODE_BRIDGE, "up")
    if not _route_exists(["type", "blackhole", POD_CIDR]):
        _run("ip", "route", "add", "blackhole", POD_CIDR)
    if not _route_exists([SERVICE_CIDR, "dev", NODE_BRIDGE]):
        _run("ip", "route", "replace", SERVICE_CIDR, "dev", NODE_BRIDGE)
    _run("mount", "--make-rshared", "/")
    ensure_guard()


def _iptables_chains(table: str) -> list[str]:
    out = _run("iptables", "-w", "-t", table, "-S", check=False).stdout
    return [line.split()[1] for line in out.splitlines() if line.startswith("-N ")]


def teardown(state_file: Path, kube_proxy: Path | None) -> list[str]:
    """Removes every interface, route, rule and sysctl change of ours; returns what it removed."""
    removed: list[str] = []
    # kube-proxy's own clean-up removes its KUBE-* chains and jumps.
    ours = any(c.startswith("KUBE-") for t in ("nat", "filter") for c in _iptables_chains(t))
    if ours and kube_proxy is not None and kube_proxy.exists():
        _run(str(kube_proxy), "--cleanup", check=False)
        removed.append("kube-proxy iptables rules")
    for table in ("filter", "nat", "mangle"):
        # What kube-proxy's clean-up leaves (canary chains) and our guard.
        for chain in _iptables_chains(table):
            if chain.startswith(("KUBE-", GUARD)):
                for rule in _run("iptables", "-w", "-t", table, "-S").stdout.splitlines():
                    parts = shlex.split(rule)
                    if parts[:1] == ["-A"] and "-j" in parts and parts[parts.index("-j") + 1] == chain:
                        _run("iptables", "-w", "-t", table, "-D", *parts[1:], check=False)
                _run("iptables", "-w", "-t", table, "-F", chain, check=False)
        for chain in _iptables_chains(table):
            deleted = (
                chain.startswith(("KUBE-", GUARD))
                and _run("iptables", "-w", "-t", table, "-X", chain, check=False).returncode == 0
            )
            if deleted:
                removed.append(f"iptables {table} chain {chain}")
    for spec, args in (
        (["type", "blackhole", POD_CIDR], ["blackhole", POD_CIDR]),
        ([SERVICE_CIDR, "dev", NODE_BRIDGE], [SERVICE_CIDR, "dev", NODE_BRIDGE]),
    ):
        if _route_exists(spec):
            _run("ip", "route", "del", *args, check=False)
            removed.append(f"route {' '.join(args)}")
    for link in (POD_BRIDGE, NODE_BRIDGE):
        if link_exists(link):
            _run("ip", "link", "del", link, check=False)
            removed.append(f"interface {link}")
    # Pod veth ends left by a killed run go with their network namespaces; any named after our bridge too.
    if state_file.exists():
        for key, value in json.loads(state_file.read_text()).items():
            path = _sysctl_path(key)
            if path.exists() and path.read_text().strip() != value:
                path.write_text(value)
                removed.append(f"sysctl {key} restored to {value}")
        state_file.unlink()
    return removed
