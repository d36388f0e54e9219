"""A small kubectl-based client for tests on the local real cluster (px-cluster)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = ROOT / ".venv" / "bin" / "kubectl"
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
CLUSTER_DIR = Path(os.environ.get("PX_CLUSTER_DIR", ROOT / "out" / "cluster"))
PX_CLUSTER = ROOT / ".venv" / "bin" / "px-cluster"
MODULE_AGENT = "px.airflow"  # the User-Agent px.airflow's modules send (module_utils/transport.py)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


class KubectlError(RuntimeError):
    pass


@dataclass
class Audit:
    """The kube-apiserver's audit log (one JSON event per line, Metadata level, every request).

    `mark()` is a byte offset; `events(since)` reads only what was logged after it, so a test counts
    the requests and writes of what it ran (filtered by User-Agent, user or namespace).
    """

    path: Path

    def mark(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def events(
        self,
        since: int = 0,
        *,
        agent: str | None = None,
        user: str | None = None,
        namespace: str | None = None,
        impersonated: str | None = None,
    ) -> list[dict[str, Any]]:
        """Completed requests logged after `since`; `agent` matches the User-Agent's start.

        `impersonated` keeps the requests made as that user (K8S_AUTH_IMPERSONATE_USER): a run that
        impersonates a user of its own is told apart from everything else on the shared cluster.
        """
        found = []
        with open(self.path, "rb") as log:
            log.seek(since)
            data = log.read()
        for line in data.split(b"\n"):
            try:
                event = json.loads(line)
            except ValueError:
                continue  # empty, or the line being written
            if event.get("stage") not in ("ResponseComplete", "Panic"):
                continue
            if agent is not None and not (event.get("userAgent") or "").startswith(agent):
                continue
            if user is not None and event.get("user", {}).get("username") != user:
                continue
            if namespace is not None and (event.get("objectRef") or {}).get("namespace") != namespace:
                continue
            if impersonated is not None and (event.get("impersonatedUser") or {}).get("username") != impersonated:
                continue
            found.append(event)
        return found

    def requests(self, since: int = 0, **filters: Any) -> list[dict[str, Any]]:
        return self.events(since, **filters)

    def writes(self, since: int = 0, **filters: Any) -> list[dict[str, Any]]:
        """Write requests (create, update, patch, delete) after `since`, dry runs left out."""
        return [
            e
            for e in self.events(since, **filters)
            if e["verb"] in WRITE_VERBS and "dryRun=All" not in e.get("requestURI", "")
        ]

    @staticmethod
    def describe(events: list[dict[str, Any]]) -> list[str]:
        """One line per event, for assertion messages."""
        return [f"{e['verb']} {e.get('requestURI', '')} -> {e.get('responseStatus', {}).get('code')}" for e in events]


@dataclass
class Kube:
    kubeconfig: Path
    context: str = "px-local"

    @property
    def audit(self) -> Audit:
        return Audit(self.kubeconfig.parent / "audit.log")

    def module_auth(self) -> dict[str, str]:
        """px.airflow / kubernetes.core connection options for this cluster's admin (client certificate)."""
        return {"kubeconfig": str(self.kubeconfig), "context": self.context}

    def run(self, *args: str, input: str | None = None, timeout: float = 60, check: bool = True) -> str:
        cmd = [str(KUBECTL), "--kubeconfig", str(self.kubeconfig), "--context", self.context, *args]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise KubectlError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout if check else proc.stdout + proc.stderr

    def json(self, *args: str, timeout: float = 60) -> dict[str, Any]:
        return json.loads(self.run(*args, "-o", "json", timeout=timeout))

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        args = ["get", kind, name, "--ignore-not-found"] + (["-n", namespace] if namespace else [])
        out = self.run(*args, "-o", "json")
        return json.loads(out) if out.strip() else None

    def apply(self, *objects: dict[str, Any], namespace: str | None = None) -> None:
        docs = yaml.safe_dump_all(list(objects))
        self.run("apply", "-f", "-", *(["-n", namespace] if namespace else []), input=docs)

    def create(self, *objects: dict[str, Any], namespace: str | None = None, check: bool = True) -> str:
        docs = yaml.safe_dump_all(list(objects))
        return self.run("create", "-f", "-", *(["-n", namespace] if namespace else []), input=docs, check=check)

    def delete(self, kind: str, name: str, namespace: str | None = None, wait: bool = True) -> None:
        args = ["delete", kind, name, "--ignore-not-found", f"--wait={'true' if wait else 'false'}"]
        self.run(*args, *(["-n", namespace] if namespace else []), timeout=180)

    def wait_for(self, what: str, probe: Callable[[], Any], timeout: float = 120, interval: float = 1.0) -> Any:
        """Polls probe until it returns something truthy; fails naming what was awaited."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = probe()
            except (KubectlError, subprocess.TimeoutExpired) as exc:
                last = exc
            else:
                if last:
                    return last
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {last!r}")

    def create_namespace(self, name: str, labels: dict[str, str] | None = None, timeout: float = 120) -> None:
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}
        self.create(ns)
        # Pods can only be created once the namespace's default ServiceAccount exists.
        self.wait_for(f"ServiceAccount default in {name}", lambda: self.get("serviceaccount", "default", name), timeout)

    def pod_phase(self, name: str, namespace: str) -> str | None:
        pod = self.get("pod", name, namespace)
        return pod["status"].get("phase") if pod else None

    def wait_pod_done(self, name: str, namespace: str, timeout: float = 180) -> str:
        """Waits for a pod to finish; returns its phase (Succeeded or Failed)."""
        return self.wait_for(
            f"pod {namespace}/{name} to finish",
            lambda: p if (p := self.pod_phase(name, namespace)) in ("Succeeded", "Failed") else None,
            timeout,
        )

    def logs(self, name: str, namespace: str, container: str | None = None) -> str:
        return self.run("logs", name, "-n", namespace, *(["-c", container] if container else []))


def claim(name: str, sc: str, size: str = "1Gi", modes: tuple[str, ...] = ("ReadWriteOnce",), **extra: Any) -> dict:
    """A PersistentVolumeClaim of class sc."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {
            "storageClassName": sc,
            "accessModes": list(modes),
            "resources": {"requests": {"storage": size}},
            **extra,
        },
    }


def site_playbook(cluster_dir: Path, *args: str, name: str = "site.yml") -> subprocess.CompletedProcess:
    """playbooks/NAME against the local cluster, with its settings (inventory/px-cluster.yml)."""
    cmd = [
        str(ROOT / ".venv" / "bin" / "ansible-playbook"),
        str(ROOT / "playbooks" / name),
        "-e",
        f"@{ROOT / 'inventory' / 'px-cluster.yml'}",
        "-e",
        f"px_kubeconfig={cluster_dir / 'kubeconfig'}",
        "-e",
        "px_context=px-local",
        *args,
    ]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1500)


def pod(
    name: str,
    command: list[str],
    image: str = "localhost/px-airflow/busybox:1.35",
    volumes: dict[str, str] | None = None,
    restart: str = "Never",
    **spec: Any,
) -> dict[str, Any]:
    """A pod that satisfies the restricted Pod Security profile; volumes maps claim name to mount path."""
    volumes = volumes or {}
    container = {
        "name": "main",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": f"v{i}", "mountPath": path} for i, path in enumerate(volumes.values())],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": restart,
            "terminationGracePeriodSeconds": 1,
            "containers": [container],
            "volumes": [
                {"name": f"v{i}", "persistentVolumeClaim": {"claimName": claim}} for i, claim in enumerate(volumes)
            ],
            **spec,
        },
    }
