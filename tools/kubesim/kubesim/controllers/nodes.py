"""Simulated nodes: Node objects (and their CSINode) as a kubelet registers them.

The kubelet registers its Node with labels (kubernetes.io/hostname, os, arch), addresses,
capacity and allocatable, the pressure conditions and Ready (reason KubeletReady), and nodeInfo
(https://kubernetes.io/docs/reference/node/node-status/). It also creates a CSINode of the same
name, owned by the Node, listing the CSI drivers registered on it. Nothing else about nodes is
simulated: they are always Ready and never tainted.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from typing import Any

from ..errors import ApiError
from .base import NODES, Controller, now_rfc3339

CSINODES = "storage.k8s.io/csinodes"


@dataclass(frozen=True)
class SimNode:
    name: str
    index: int

    @property
    def internal_ip(self) -> str:
        return f"172.18.0.{self.index + 2}"

    @property
    def pod_cidr(self) -> str:
        return f"10.244.{self.index}.0/24"


def sim_nodes(count: int) -> list[SimNode]:
    return [SimNode(f"kubesim-node-{i + 1}", i) for i in range(max(1, count))]


def node_object(node: SimNode, minor: int) -> dict[str, Any]:
    now = now_rfc3339()

    def condition(kind: str, cond_status: str, reason: str, message: str) -> dict[str, str]:
        return {
            "type": kind,
            "status": cond_status,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        }

    resources = {
        "cpu": "8",
        "ephemeral-storage": "102350Mi",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": "32Gi",
        "pods": "110",
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": node.name,
                "kubernetes.io/os": "linux",
            },
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                "kubesim.io/simulated": "true",
            },
        },
        "spec": {"podCIDR": node.pod_cidr, "podCIDRs": [node.pod_cidr], "providerID": f"kubesim://{node.name}"},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": node.internal_ip},
                {"type": "Hostname", "address": node.name},
            ],
            "allocatable": dict(resources),
            "capacity": dict(resources),
            "conditions": [
                condition(
                    "MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"
                ),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": str(uuid.uuid5(uuid.NAMESPACE_DNS, node.name + ".boot")),
                "containerRuntimeVersion": "containerd://1.7.24",
                "kernelVersion": "6.1.0-kubesim",
                "kubeProxyVersion": "" if minor >= 33 else f"v1.{minor}.0",
                "kubeletVersion": f"v1.{minor}.0",
                "machineID": uuid.uuid5(uuid.NAMESPACE_DNS, node.name).hex,
                "operatingSystem": "linux",
                "osImage": "kubesim simulated node (nothing runs here)",
                "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, node.name + ".system")),
            },
        },
    }


class NodeController(Controller):
    """Registers the simulated nodes at start; CSI drivers are added to their CSINodes on request."""

    name = "nodes"

    def bootstrap(self) -> None:
        for node in self.ctx.settings["nodes"]:
            if self.client.get(NODES, "", node.name) is None:
                created = self.client.create(node_object(node, self.client.minor))
            else:
                created = self.client.get(NODES, "", node.name)
            if created is not None and self.client.get(CSINODES, "", node.name) is None:
                self.client.create(
                    {
                        "apiVersion": "storage.k8s.io/v1",
                        "kind": "CSINode",
                        "metadata": {
                            "name": node.name,
                            "ownerReferences": [
                                {
                                    "apiVersion": "v1",
                                    "kind": "Node",
                                    "name": node.name,
                                    "uid": created["metadata"]["uid"],
                                }
                            ],
                        },
                        "spec": {"drivers": []},
                    }
                )

    def register_csi_driver(self, driver: str) -> None:
        """What the CSI node-driver-registrar does on every node when a driver's node plugin starts."""
        for node in self.ctx.settings["nodes"]:
            current = self.client.get(CSINODES, "", node.name)
            if current is None:
                continue
            drivers = list(current["spec"].get("drivers") or [])
            if any(d.get("name") == driver for d in drivers):
                continue
            updated = {**current, "spec": {"drivers": [*drivers, {"name": driver, "nodeID": node.name}]}}
            with contextlib.suppress(ApiError):  # a concurrent change: the next start registers it
                self.client.update(dict(updated, metadata=dict(current["metadata"])))

    def reconcile(self, key: tuple[str, ...]) -> float | None:
        return None
