"""What the Portworx stand-in puts in the cluster, per mode, and how its controller is started.

Interface (called by cluster.py; everything returned is applied server-side by the bootstrap admin):

- `crds(mode="healthy")`: the CRDs, to apply first and wait for (Established). StorageCluster and
  StorageNode (core.libopenstorage.org/v1, namespaced, status subresource, names, short names and
  printer columns as libopenstorage/operator's deploy/crds; the schema types what the operator's does
  for the fields shown here and keeps the rest), and the CSI snapshot CRDs VolumeSnapshot,
  VolumeSnapshotContent and VolumeSnapshotClass exactly as kubernetes-csi/external-snapshotter ships
  them (the Go module github.com/kubernetes-csi/external-snapshotter/client/v8, config/crd/, fetched
  with `go mod download` into px-cluster's Go module cache; nothing is kept in the repo). With mode
  "absent" only the snapshot CRDs (they are the snapshotter's, not Portworx's).
- `objects(mode, nodes, stork)`: everything else. In every mode: the ClusterRole and
  ClusterRoleBinding of the controller's user `px:portworx`. Unless the mode is "absent": namespace
  `portworx` (with a Role for reading Stork's Deployments), the CSIDriver `pxd.portworx.com`, the
  StorageCluster `portworx/px-cluster`, N StorageNodes `px-node-1..N`, the `portworx-api` Service
  (9001 px-api, 9020 px-sdk, 9021 px-rest-gateway), the VolumeSnapshotClass `px-csi-snapclass`
  (driver pxd.portworx.com, deletionPolicy Delete) and, with `stork`, Stork's Deployments `stork`
  and `stork-scheduler` (one replica each; their pods run busybox `sleep`). Statuses are not part of
  it: the controller sets the StorageCluster's and StorageNodes' status (subresource) for its mode
  when it starts (healthy: Running, all nodes Online; degraded: Degraded, the last node Offline).
- `remove_for_mode(mode, stork=None)`: `(api_version, kind, name, namespace)` tuples to delete
  (namespace None for cluster-scoped objects) before applying `objects(mode, ...)`, so that what an
  earlier mode created goes: for "absent" every Portworx object above, the namespace and the two
  Portworx CRDs (the RBAC stays); with `stork=False` Stork's Deployments; nothing otherwise.
- `controller_command(kubeconfig, volumes, mode, nodes, stork=True)`: the controller's argv, run as
  a background process until SIGTERM/SIGINT.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from . import (
    CLUSTER,
    DRIVER,
    GROUP,
    MODES,
    NAMESPACE,
    SNAPSHOT_CLASS,
    SNAPSHOT_GROUP,
    USER,
    VERSION,
    storage_node_names,
)

SNAPSHOTTER_MODULE = "github.com/kubernetes-csi/external-snapshotter/client/v8"
SNAPSHOTTER_VERSION = "v8.2.0"
SNAPSHOT_CRD_FILES = (
    "snapshot.storage.k8s.io_volumesnapshotclasses.yaml",
    "snapshot.storage.k8s.io_volumesnapshotcontents.yaml",
    "snapshot.storage.k8s.io_volumesnapshots.yaml",
)
BUSYBOX = "localhost/px-airflow/busybox:1.35"
RBAC_NAME = "px:portworx"
STORK_DEPLOYMENTS = ("stork", "stork-scheduler")
PART_OF = {"app.kubernetes.io/part-of": "px-cluster-portworx"}


class InstallError(RuntimeError):
    """The snapshot CRDs could not be fetched."""


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"Portworx mode {mode!r}: must be one of {', '.join(MODES)}")


# ---- CRDs ----------------------------------------------------------------------------------------------


def crds(mode: str = "healthy") -> list[dict[str, Any]]:
    """The CRDs to apply (and wait for) before `objects()`; see the module docstring."""
    _check_mode(mode)
    found = snapshot_crds()
    if mode != "absent":
        found = portworx_crds() + found
    return found


def snapshot_crds() -> list[dict[str, Any]]:
    """The snapshot.storage.k8s.io CRDs, as external-snapshotter's client module ships them."""
    folder = _module_dir(SNAPSHOTTER_MODULE, SNAPSHOTTER_VERSION) / "config" / "crd"
    out = []
    for name in SNAPSHOT_CRD_FILES:
        doc = yaml.safe_load((folder / name).read_text())
        if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
            raise InstallError(f"{folder / name}: not a CustomResourceDefinition")
        out.append(doc)
    return out


def _module_dir(module: str, version: str) -> Path:
    """`go mod download -json module@version` in px-cluster's Go environment: the module's folder."""
    from ..build import go_env

    env = go_env()
    work = Path(env["GOMODCACHE"]).parent
    work.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(
            ["go", "mod", "download", "-json", f"{module}@{version}"],
            cwd=work,
            env={**env, "GO111MODULE": "on"},
            capture_output=True,
            text=True,
            timeout=600,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise InstallError(f"go mod download {module}@{version}: {e}") from e
    try:
        info = json.loads(proc.stdout)
    except json.JSONDecodeError:
        info = {}
    if proc.returncode != 0 or not info.get("Dir") or info.get("Error"):
        detail = info.get("Error") or (proc.stderr or proc.stdout).strip()[-2000:]
        raise InstallError(f"go mod download {module}@{version} failed: {detail}")
    return Path(info["Dir"])


def _object_schema(properties: dict[str, Any], description: str) -> dict[str, Any]:
    # Typed where the operator types these fields; the rest is kept (the operator's schema is far larger).
    return {
        "type": "object",
        "description": description,
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": properties,
    }


def _conditions(extra: tuple[str, ...] = ()) -> dict[str, Any]:
    fields = ("source", "type", "status", "reason", "message", *extra)
    props: dict[str, Any] = {k: {"type": "string"} for k in fields}
    props["lastTransitionTime"] = {"type": "string", "format": "date-time"}
    return {"type": "array", "items": {"type": "object", "properties": props}}


def _portworx_crd(plural: str, kind: str, short: str, columns: list[dict], spec: dict, status: dict) -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}", "labels": dict(PART_OF)},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "plural": plural,
                "singular": kind.lower(),
                "kind": kind,
                "listKind": f"{kind}List",
                "shortNames": [short],
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": status,
                            },
                        }
                    },
                }
            ],
        },
    }


def portworx_crds() -> list[dict[str, Any]]:
    """storageclusters and storagenodes.core.libopenstorage.org, shaped as libopenstorage/operator's."""
    age = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    string = {"type": "string"}
    cluster = _portworx_crd(
        "storageclusters",
        "StorageCluster",
        "stc",
        [
            {"name": "Cluster Name", "type": "string", "jsonPath": ".status.clusterName"},
            {"name": "Cluster UID", "type": "string", "jsonPath": ".status.clusterUid"},
            {"name": "Status", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Version", "type": "string", "jsonPath": ".status.version"},
            age,
        ],
        _object_schema(
            {
                "image": string,
                "version": string,
                "imagePullPolicy": string,
                "secretsProvider": string,
                "kvdb": {
                    "type": "object",
                    "properties": {"internal": {"type": "boolean"}, "endpoints": {"type": "array", "items": string}},
                },
                "storage": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "properties": {"useAll": {"type": "boolean"}, "devices": {"type": "array", "items": string}},
                },
                "csi": {"type": "object", "properties": {"enabled": {"type": "boolean"}}},
                "stork": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "properties": {"enabled": {"type": "boolean"}, "image": string},
                },
            },
            "The desired behavior of the storage cluster.",
        ),
        _object_schema(
            {
                "clusterName": string,
                "clusterUid": string,
                "phase": string,
                "version": string,
                "conditions": _conditions(),
            },
            "Most recently observed status of the storage cluster.",
        ),
    )
    node = _portworx_crd(
        "storagenodes",
        "StorageNode",
        "sn",
        [
            {"name": "ID", "type": "string", "jsonPath": ".status.nodeUid"},
            {"name": "Status", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Version", "type": "string", "jsonPath": ".spec.version"},
            age,
        ],
        _object_schema(
            {"version": string, "cloudStorage": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            "The desired behavior of the storage node.",
        ),
        _object_schema(
            {
                "nodeUid": string,
                "phase": string,
                "network": {"type": "object", "properties": {"dataIP": string, "mgmtIP": string}},
                "storage": {"type": "object", "properties": {"totalSize": string, "usedSize": string}},
                "nodeAttributes": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "conditions": _conditions(),
            },
            "Most recently observed status of the storage node.",
        ),
    )
    return [cluster, node]


# ---- RBAC ----------------------------------------------------------------------------------------------


def _rule(group: str, resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": [group], "resources": resources, "verbs": verbs}


WATCH = ["list", "watch"]  # reads come from watch caches; no single GETs


def cluster_rules() -> list[dict[str, Any]]:
    """Exactly what the controller does, cluster-wide (a ClusterRole for User px:portworx)."""
    return [
        # external-provisioner, -resizer: volumes and claims; the claim's status after a resize;
        # a claim's selected-node annotation (Stork's scheduler).
        _rule("", ["persistentvolumes"], [*WATCH, "create", "patch", "delete"]),
        _rule("", ["persistentvolumeclaims"], [*WATCH, "patch"]),
        _rule("", ["persistentvolumeclaims/status"], ["patch"]),
        _rule("storage.k8s.io", ["storageclasses"], WATCH),
        _rule("", ["events"], ["create", "patch"]),
        # snapshot-controller and csi-snapshotter for the driver's snapshots.
        _rule(SNAPSHOT_GROUP, ["volumesnapshotclasses", "volumesnapshots"], WATCH),
        _rule(SNAPSHOT_GROUP, ["volumesnapshots/status"], ["patch"]),
        _rule(SNAPSHOT_GROUP, ["volumesnapshotcontents"], ["get", *WATCH, "create", "delete"]),
        _rule(SNAPSHOT_GROUP, ["volumesnapshotcontents/status"], ["patch"]),
        # Portworx's own objects: their status follows the stand-in's mode.
        _rule(GROUP, ["storageclusters", "storagenodes"], WATCH),
        _rule(GROUP, ["storageclusters/status", "storagenodes/status"], ["patch"]),
        # Stork's scheduler name "stork": unscheduled pods that ask for it, the nodes, the binding.
        _rule("", ["pods"], WATCH),
        _rule("", ["pods/binding"], ["create"]),
        _rule("", ["nodes"], ["list"]),
    ]


def rbac() -> list[dict[str, Any]]:
    labels = dict(PART_OF)
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": RBAC_NAME, "labels": labels},
            "rules": cluster_rules(),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": RBAC_NAME, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": RBAC_NAME},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}],
        },
    ]


def _namespaced_rbac() -> list[dict[str, Any]]:
    """Stork's Deployments (does Stork run?) are read in namespace portworx only."""
    labels = dict(PART_OF)
    meta = {"name": RBAC_NAME, "namespace": NAMESPACE, "labels": labels}
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": dict(meta),
            "rules": [_rule("apps", ["deployments"], ["list", "watch"])],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": dict(meta),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": RBAC_NAME},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}],
        },
    ]


# ---- objects -------------------------------------------------------------------------------------------


def objects(mode: str, nodes: int, stork: bool) -> list[dict[str, Any]]:
    """Everything but the CRDs, for `mode` (see the module docstring)."""
    _check_mode(mode)
    if nodes < 1:
        raise ValueError(f"a Portworx cluster has at least one storage node, not {nodes}")
    out = rbac()
    if mode == "absent":
        return out
    out.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": dict(PART_OF)}})
    out += _namespaced_rbac()
    out.append(csi_driver())
    out.append(storage_cluster())
    out += [storage_node(name) for name in storage_node_names(nodes)]
    out.append(api_service())
    out.append(snapshot_class())
    if stork:
        out += stork_objects()
    return out


def csi_driver() -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "CSIDriver",
        "metadata": {"name": DRIVER, "labels": {"operator.libopenstorage.org/driver": "portworx", **PART_OF}},
        "spec": {
            "attachRequired": False,
            "podInfoOnMount": True,
            "fsGroupPolicy": "File",
            "volumeLifecycleModes": ["Persistent", "Ephemeral"],
            "requiresRepublish": False,
            "storageCapacity": False,
        },
    }


def storage_cluster() -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "StorageCluster",
        "metadata": {
            "name": CLUSTER,
            "namespace": NAMESPACE,
            "labels": dict(PART_OF),
            "annotations": {"portworx.io/install-source": "px-cluster (Portworx stand-in)"},
        },
        "spec": {
            "image": f"portworx/oci-monitor:{VERSION}",
            "imagePullPolicy": "IfNotPresent",
            "kvdb": {"internal": True},
            "storage": {"useAll": True},
            "csi": {"enabled": True},
            "stork": {"enabled": True},
            "secretsProvider": "k8s",
        },
    }


def storage_node(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "StorageNode",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {"name": "portworx", "operator.libopenstorage.org/name": CLUSTER, **PART_OF},
        },
        "spec": {"version": VERSION, "cloudStorage": {}},
    }


def api_service() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "portworx-api", "namespace": NAMESPACE, "labels": {"name": "portworx-api", **PART_OF}},
        "spec": {
            "type": "ClusterIP",
            "selector": {"name": "portworx-api"},
            "ports": [
                {"name": "px-api", "port": 9001, "protocol": "TCP", "targetPort": 9001},
                {"name": "px-sdk", "port": 9020, "protocol": "TCP", "targetPort": 9020},
                {"name": "px-rest-gateway", "port": 9021, "protocol": "TCP", "targetPort": 9021},
            ],
        },
    }


def snapshot_class() -> dict[str, Any]:
    return {
        "apiVersion": f"{SNAPSHOT_GROUP}/v1",
        "kind": "VolumeSnapshotClass",
        "metadata": {"name": SNAPSHOT_CLASS, "labels": dict(PART_OF)},
        "driver": DRIVER,
        "deletionPolicy": "Delete",
    }


def stork_objects() -> list[dict[str, Any]]:
    """Stork's Deployments (stork, stork-scheduler) with their ServiceAccounts; the pods only sleep:
    the scheduler name `stork` is served by the stand-in's controller."""
    out: list[dict[str, Any]] = []
    for name, labels in (
        ("stork", {"name": "stork", "tier": "control-plane"}),
        ("stork-scheduler", {"component": "scheduler", "name": "stork-scheduler", "tier": "control-plane"}),
    ):
        out.append(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": name, "namespace": NAMESPACE, "labels": dict(PART_OF)},
                "automountServiceAccountToken": False,
            }
        )
        out.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": NAMESPACE, "labels": {**labels, **PART_OF}},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": dict(labels)},
                    "template": {
                        "metadata": {"labels": dict(labels)},
                        "spec": {
                            "serviceAccountName": name,
                            "automountServiceAccountToken": False,
                            "terminationGracePeriodSeconds": 5,
                            "securityContext": {
                                "runAsNonRoot": True,
                                "runAsUser": 65534,
                                "runAsGroup": 65534,
                                "seccompProfile": {"type": "RuntimeDefault"},
                            },
                            "containers": [
                                {
                                    "name": name,
                                    "image": BUSYBOX,
                                    "imagePullPolicy": "IfNotPresent",
                                    "command": [
                                        "sh",
                                        "-c",
                                        'trap "exit 0" TERM INT; while :; do sleep 3600 & wait; done',
                                    ],
                                    "resources": {
                                        "requests": {"cpu": "5m", "memory": "8Mi"},
                                        "limits": {"memory": "32Mi"},
                                    },
                                    "securityContext": {
                                        "allowPrivilegeEscalation": False,
                                        "capabilities": {"drop": ["ALL"]},
                                        "readOnlyRootFilesystem": True,
                                    },
                                }
                            ],
                        },
                    },
                },
            }
        )
    return out


def remove_for_mode(mode: str, stork: bool | None = None) -> list[tuple[str, str, str, str | None]]:
    """(api_version, kind, name, namespace or None) of what an earlier mode created and `mode` must not
    have: delete them before applying `objects(mode, ...)`. `stork=False` also removes Stork (None:
    leave Stork as it is)."""
    _check_mode(mode)
    out: list[tuple[str, str, str, str | None]] = []
    if mode == "absent" or stork is False:
        for name in STORK_DEPLOYMENTS:
            out.append(("apps/v1", "Deployment", name, NAMESPACE))
            out.append(("v1", "ServiceAccount", name, NAMESPACE))
    if mode != "absent":
        return out
    out += [
        ("storage.k8s.io/v1", "CSIDriver", DRIVER, None),
        (f"{SNAPSHOT_GROUP}/v1", "VolumeSnapshotClass", SNAPSHOT_CLASS, None),
        ("v1", "Service", "portworx-api", NAMESPACE),
        ("rbac.authorization.k8s.io/v1", "RoleBinding", RBAC_NAME, NAMESPACE),
        ("rbac.authorization.k8s.io/v1", "Role", RBAC_NAME, NAMESPACE),
        # Deleting the CRDs deletes the StorageCluster and the StorageNodes with them.
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition", f"storageclusters.{GROUP}", None),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition", f"storagenodes.{GROUP}", None),
        ("v1", "Namespace", NAMESPACE, None),
    ]
    return out


# ---- the controller process ------------------------------------------------------------------------------


def controller_command(kubeconfig: Path, volumes: Path, mode: str, nodes: int, stork: bool = True) -> list[str]:
    """argv of the controller (`python -m px_cluster.portworx`); it runs until SIGTERM or SIGINT.

    `stork=False` turns its `stork` scheduler off; with it on, pods asking for schedulerName `stork`
    are only scheduled while Stork's Deployment `portworx/stork` exists.
    """
    _check_mode(mode)
    argv = [
        sys.executable,
        "-m",
        "px_cluster.portworx",
        "--kubeconfig",
        os.fspath(kubeconfig),
        "--context",
        "px-local",
        "--volumes",
        os.fspath(volumes),
        "--mode",
        mode,
        "--nodes",
        str(nodes),
    ]
    if not stork:
        argv.append("--no-stork")
    return argv
