"""Helpers for kubesim part 2's tests: an in-process kubesim with its simulation, and waiting.

`SimCluster` starts the HTTPS API server (server.Kubesim) and `sim.start` on its `rest.Api` in this
process, writes a kubeconfig and hands out official `kubernetes` clients. Tests use one shared
healthy cluster per module (namespaces keep them apart) and start their own only for other flags.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubesim import sim
from kubesim.server import Kubesim, ServeOptions

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


class SimCluster:
    """A kubesim API server and its simulation, in this process."""

    def __init__(
        self, directory: Path, *flags: str, kubernetes_version: str = "1.33", state_dir: Path | None = None
    ) -> None:
        parser = argparse.ArgumentParser()
        sim.add_arguments(parser)
        self.args = parser.parse_args(list(flags))
        directory.mkdir(parents=True, exist_ok=True)
        self.kubeconfig = directory / f"kubeconfig-{uuid.uuid4().hex[:8]}"
        options = ServeOptions(
            kubeconfig=str(self.kubeconfig),
            kubernetes_version=kubernetes_version,
            state_dir=str(state_dir) if state_dir else None,
        )
        self._stop_sim: Any = None
        # The simulation starts in the server's setup hook, as `kubesim serve` wires it: before the first request.
        self.server = Kubesim(options, setup=self._start_simulation)
        self.url = self.server.start()
        assert self.server.httpd is not None
        self.api = self.server.httpd.app.api
        self.manager = getattr(self._stop_sim, "__self__", None)
        self.client = config.new_client_from_config(config_file=str(self.kubeconfig))
        self.core = client.CoreV1Api(self.client)
        self.apps = client.AppsV1Api(self.client)
        self.batch = client.BatchV1Api(self.client)
        self.storage = client.StorageV1Api(self.client)
        self.custom = client.CustomObjectsApi(self.client)

    def _start_simulation(self, app: Any) -> None:
        self._stop_sim = sim.start(app.api, self.args)

    def settle(self, timeout: float = 5.0) -> None:
        """Wait until the controllers have nothing left to do right now."""
        if self.manager is not None:
            time.sleep(0.01)
            self.manager.wait_idle(timeout)

    def namespace(self, labels: dict[str, str] | None = None) -> str:
        name = f"t-{uuid.uuid4().hex[:10]}"
        body: dict[str, Any] = {"metadata": {"name": name}}
        if labels:
            body["metadata"]["labels"] = labels
        self.core.create_namespace(body)
        return name

    def events(self, namespace: str, name: str | None = None, reason: str | None = None) -> list[Any]:
        found = self.core.list_namespaced_event(namespace).items
        return [
            e
            for e in found
            if (name is None or e.involved_object.name == name) and (reason is None or e.reason == reason)
        ]

    def stop(self) -> None:
        self._stop_sim()
        self.client.close()
        self.server.stop()


def wait_for(
    predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02, message: str = "condition"
) -> Any:
    """Poll until `predicate()` is truthy (bounded); returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def run_playbook(cluster: SimCluster, playbook: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run a playbook against `cluster` with the repo's kubernetes.core (as users run ansible-playbook)."""
    path = tmp_path / f"play-{uuid.uuid4().hex[:6]}.yml"
    path.write_text(playbook)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K8S_AUTH_", "ANSIBLE_"))}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
        K8S_AUTH_KUBECONFIG=str(cluster.kubeconfig),
    )
    return subprocess.run(
        [
            str(VENV_BIN / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            str(path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def deployment(
    name: str, replicas: int = 1, image: str = "nginx:1.27", labels: dict[str, str] | None = None, **pod_spec: Any
) -> dict[str, Any]:
    labels = labels or {"app": name}
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": image}], **pod_spec},
            },
        },
    }


def statefulset(
    name: str, replicas: int = 2, storage_class: str | None = None, size: str = "1Gi", **extra: Any
) -> dict[str, Any]:
    labels = {"app": name}
    body: dict[str, Any] = {
        "metadata": {"name": name},
        "spec": {
            "serviceName": name,
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": "postgres:16",
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                        }
                    ]
                },
            },
            **extra,
        },
    }
    claim_spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class:
        claim_spec["storageClassName"] = storage_class
    body["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": claim_spec}]
    return body


def job(name: str, image: str = "busybox:1.36", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": image, "command": ["true"]}],
                }
            },
            **spec,
        },
    }


def claim(
    name: str, storage_class: str | None, size: str = "1Gi", modes: tuple[str, ...] = ("ReadWriteOnce",), **spec: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {"name": name},
        "spec": {"accessModes": list(modes), "resources": {"requests": {"storage": size}}, **spec},
    }
    if storage_class is not None:
        body["spec"]["storageClassName"] = storage_class
    return body


def storage_class(name: str, provisioner: str, **fields: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "provisioner": provisioner, **fields}
