"""A simulated Portworx, as the Kubernetes API shows it (`--portworx healthy|degraded|absent`).

What an operator-installed Portworx puts in a cluster (libopenstorage/operator; see
shared/PORTWORX.md), and how its CSI driver answers claims:

- the CSIDriver `pxd.portworx.com` (and its entry in every CSINode);
- the CRDs storageclusters.core.libopenstorage.org (short name stc) and storagenodes (sn), both
  namespaced with a status subresource; the StorageCluster `px-cluster` in namespace `portworx`
  (spec.image portworx/oci-monitor:3.2.1, status.phase Running -- or Degraded --, version 3.2.1)
  and one StorageNode per node (status.phase Online; in a degraded cluster the last one Offline);
- the `portworx-api` Service (9001 px-api, 9020 px-sdk, 9021 px-rest-gateway), the Stork
  Deployments `stork` and `stork-scheduler` (the "stork" scheduler name is then served), the
  Portworx pods labelled name=portworx, one per node, whose readiness follows the node's state;
- the VolumeSnapshotClass `px-csi-snapclass` (driver pxd.portworx.com, deletionPolicy Delete).

Absent: none of it (the snapshot CRDs are the snapshotter's and stay). Claims of Portworx classes
then wait: the persistentvolume-controller's ExternalProvisioning event is all that happens.

Provisioning (`pxd.portworx.com`, and `kubernetes.io/portworx-volume`, migrated to CSI from 1.31)
follows the cluster's live state, so a test may also patch the StorageCluster's phase:
- healthy (phase Running or Online): a PV with spec.csi (driver pxd.portworx.com, a numeric
  volumeHandle, fsType from `fs`, volumeAttributes from the class parameters). ReadWriteMany claims
  are provisioned as sharedv4 even when the class does not ask (openstorage csi/controller.go
  resolveSharedSpec): volumeAttributes sharedv4 "true". A class whose `repl` exceeds the online
  storage nodes is refused (ProvisioningFailed, saying repl and the node count);
- any other phase: ProvisioningFailed, Portworx is not healthy.
"""

from __future__ import annotations

import random
import sys
import uuid
from typing import Any

from .controllers.base import PODS, PVCS, STORAGE_CLASSES, Context, Controller, Key, controller_ref, meta, spec, status
from .controllers.volumes import Provisioned, class_failure
from .errors import ApiError
from .store import Event, Obj, clone

CSI_DRIVER = "pxd.portworx.com"
IN_TREE = "kubernetes.io/portworx-volume"
NAMESPACE = "portworx"
CLUSTER = "px-cluster"
VERSION = "3.2.1"
GROUP = "core.libopenstorage.org"
CLUSTERS = f"{GROUP}/storageclusters"
STORAGE_NODES = f"{GROUP}/storagenodes"
SNAPSHOT_CLASS = "px-csi-snapclass"
HEALTHY_PHASES = ("Running", "Online")  # operators before late 2022 reported Online
STORK_IMAGE = "openstorage/stork:25.2.0"
CSI_REGISTRAR_IMAGE = "registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.12.0"
MODES = ("healthy", "degraded", "absent")


def _crd(plural: str, kind: str, short: str, columns: list[dict[str, Any]]) -> dict[str, Any]:
    open_object = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
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
                                "spec": open_object,
                                "status": open_object,
                            },
                        }
                    },
                }
            ],
        },
    }


def portworx_crds() -> list[dict[str, Any]]:
    age = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    return [
        _crd(
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
        ),
        _crd(
            "storagenodes",
            "StorageNode",
            "sn",
            [
                {"name": "ID", "type": "string", "jsonPath": ".status.nodeUid"},
                {"name": "Status", "type": "string", "jsonPath": ".status.phase"},
                {"name": "Version", "type": "string", "jsonPath": ".spec.version"},
                age,
            ],
        ),
    ]


class PortworxProvisioner:
    """The Portworx CSI controller (and the in-tree name, which CSI migration hands to it)."""

    def __init__(self, px: PortworxController, name: str) -> None:
        self.px = px
        self.name = name
        self._identity = f"{int(random.random() * 10**13)}-{random.randint(1000, 9999)}-{CSI_DRIVER}"

    def identity(self) -> str:
        return f"{CSI_DRIVER}_px-csi-ext-5f85c7ddfd-k2d7x_{uuid.uuid5(uuid.NAMESPACE_DNS, 'px-csi-ext')}"

    def provision(self, claim: Obj, sc: Obj, pv_name: str, node: str | None) -> Provisioned | None:
        phase, online, total = self.px.health()
        if phase is None:
            return None  # no Portworx: nobody answers, the claim waits
        sc_name = meta(sc)["name"]
        if phase not in HEALTHY_PHASES:
            return Provisioned(
                error=class_failure(
                    sc_name,
                    "Unavailable",
                    f"Failed to create volume: Portworx is not healthy: StorageCluster "
                    f"{NAMESPACE}/{CLUSTER} is {phase} ({online} of {total} storage nodes online)",
                )
            )
        params = {k: str(v) for k, v in (sc.get("parameters") or {}).items()}
        repl = _int(params.get("repl"), 1)
        if repl > online:
            return Provisioned(
                error=class_failure(
                    sc_name,
                    "Internal",
                    "Failed to create volume: could not find enough nodes to provision volume: "
                    f'the class asks for repl "{repl}" ({repl} replicas, each on a different node) but only '
                    f"{online} of {total} Portworx storage nodes are online",
                )
            )
        volume_id = str(random.randint(10**17, 10**18 - 1))
        fs_type = params.get("fs") or params.get("csi.storage.k8s.io/fstype") or "ext4"
        if sc.get("provisioner") == IN_TREE:
            return Provisioned({"portworxVolume": {"volumeID": volume_id, "fsType": fs_type}})
        attributes = {k: v for k, v in params.items() if not k.startswith("csi.storage.k8s.io/")}
        if "ReadWriteMany" in (spec(claim).get("accessModes") or []) and attributes.get("shared") != "true":
            attributes["sharedv4"] = "true"  # resolveSharedSpec: RWX defaults to sharedv4
        attributes["storage.kubernetes.io/csiProvisionerIdentity"] = self._identity
        return Provisioned(
            {
                "csi": {
                    "driver": CSI_DRIVER,
                    "volumeHandle": volume_id,
                    "fsType": fs_type,
                    "volumeAttributes": attributes,
                }
            }
        )

    def expand(self, pv: Obj, size: str) -> str | None:
        phase, _, _ = self.px.health()
        if phase not in HEALTHY_PHASES:
            return f"Failed to resize volume: Portworx is not healthy (StorageCluster {NAMESPACE}/{CLUSTER}: {phase})"
        return None

    def delete(self, pv: Obj) -> str | None:
        return None


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        return default


class PortworxController(Controller):
    name = "portworx"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.mode: str = ctx.settings.get("portworx", "healthy")
        provisioners = ctx.services.setdefault("provisioners", {})
        provisioners[CSI_DRIVER] = PortworxProvisioner(self, CSI_DRIVER)
        provisioners[IN_TREE] = provisioners[CSI_DRIVER]
        ctx.services.setdefault("csi_migration", {})[IN_TREE] = CSI_DRIVER
        ctx.services.setdefault("snapshot_drivers", {})[CSI_DRIVER] = self._snapshot_verdict
        ctx.services.setdefault("probes", []).append(self._probe)

    # ---- health, as the API shows it --------------------------------------------------------------------
    def health(self) -> tuple[str | None, int, int]:
        """(StorageCluster phase or None when absent, online storage nodes, storage nodes)."""
        cluster = self.client.get(CLUSTERS, NAMESPACE, CLUSTER)
        if cluster is None:
            return None, 0, 0
        nodes = self.client.list(STORAGE_NODES, NAMESPACE)
        online = sum(1 for n in nodes if status(n).get("phase") == "Online")
        return status(cluster).get("phase") or "Initializing", online, len(nodes)

    def _snapshot_verdict(self, claim: Obj, pv: Obj) -> str | bool | None:
        phase, _, _ = self.health()
        if phase is None:
            return False
        if phase not in HEALTHY_PHASES:
            return (
                f"Failed to create snapshot: failed to take snapshot of the volume {meta(pv)['name']}: rpc error: "
                f"code = Unavailable desc = Portworx is not healthy (StorageCluster {NAMESPACE}/{CLUSTER}: {phase})"
            )
        return None

    def _probe(self, pod: Obj, container: str) -> bool | None:
        """The readiness probe of the Portworx pods: their node's StorageNode must be Online."""
        if meta(pod).get("namespace") != NAMESPACE or (meta(pod).get("labels") or {}).get("name") != "portworx":
            return None
        if container != "portworx":
            return True
        phase, _, _ = self.health()
        node = self.client.get(STORAGE_NODES, NAMESPACE, spec(pod).get("nodeName", ""))
        return phase is not None and node is not None and status(node).get("phase") == "Online"

    # ---- install ------------------------------------------------------------------------------------------
    def bootstrap(self) -> None:
        if self.mode == "absent":
            return
        self._ensure("/namespaces", "", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        for crd in portworx_crds():
            self._ensure("apiextensions.k8s.io/customresourcedefinitions", "", crd)
        self._ensure(
            "storage.k8s.io/csidrivers",
            "",
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "CSIDriver",
                "metadata": {"name": CSI_DRIVER, "labels": {"operator.libopenstorage.org/driver": "portworx"}},
                "spec": {
                    "attachRequired": False,
                    "podInfoOnMount": True,
                    "fsGroupPolicy": "File",
                    "volumeLifecycleModes": ["Persistent", "Ephemeral"],
                    "requiresRepublish": False,
                    "storageCapacity": False,
                },
            },
        )
        self.ctx.services["nodes_controller"].register_csi_driver(CSI_DRIVER)
        cluster = self._cluster()
        if cluster is None:
            return  # reported; without its StorageCluster nothing else of Portworx makes sense
        self._storage_nodes(cluster)
        for account in ("portworx", "stork", "stork-scheduler", "px-csi"):
            self._ensure(
                "/serviceaccounts",
                NAMESPACE,
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account, "namespace": NAMESPACE}},
            )
        self._service()
        self._stork(cluster)
        self._api_daemonset(cluster)
        self._pods(cluster)
        self._snapshot_class()
        self.ctx.services.setdefault("schedulers", set()).add("stork")

    def _ensure(self, key: str, ns: str, obj: Obj) -> Obj | None:
        """Create `obj` unless it exists (a restart with --state-dir); a refusal is reported, not fatal."""
        existing = self.client.get(key, ns, obj["metadata"]["name"])
        if existing is not None:
            return existing
        try:
            return self.client.create(obj, ns or None)
        except ApiError as e:
            print(
                f"kubesim: portworx: cannot create {obj['kind']} {obj['metadata']['name']}: {e.message}",
                file=sys.stderr,
            )
            return None

    def _cluster(self) -> Obj | None:
        cluster = self._ensure(
            CLUSTERS,
            NAMESPACE,
            {
                "apiVersion": f"{GROUP}/v1",
                "kind": "StorageCluster",
                "metadata": {
                    "name": CLUSTER,
                    "namespace": NAMESPACE,
                    "annotations": {"portworx.io/install-source": "kubesim (simulated Portworx)"},
                },
                "spec": {
                    "image": f"portworx/oci-monitor:{VERSION}",
                    "imagePullPolicy": "Always",
                    "kvdb": {"internal": True},
                    "storage": {"useAll": True},
                    "csi": {"enabled": True},
                    "stork": {"enabled": True},
                    "secretsProvider": "k8s",
                },
            },
        )
        phase = "Running" if self.mode == "healthy" else "Degraded"
        if cluster is not None and not status(cluster).get("phase"):
            updated = clone(cluster)
            updated["status"] = {
                "phase": phase,
                "version": VERSION,
                "clusterName": CLUSTER,
                "clusterUid": str(uuid.uuid5(uuid.NAMESPACE_DNS, "kubesim-px-cluster")),
                "conditions": [
                    {
                        "source": "Portworx",
                        "type": "RuntimeState",
                        "status": "Online" if phase == "Running" else "Degraded",
                    }
                ],
            }
            cluster = self.client.update_status(updated)
        return cluster

    def _storage_nodes(self, cluster: Obj) -> None:
        nodes = self.ctx.settings["nodes"]
        for node in nodes:
            obj = self._ensure(
                STORAGE_NODES,
                NAMESPACE,
                {
                    "apiVersion": f"{GROUP}/v1",
                    "kind": "StorageNode",
                    "metadata": {
                        "name": node.name,
                        "namespace": NAMESPACE,
                        "ownerReferences": [controller_ref(cluster)],
                    },
                    "spec": {"version": VERSION, "cloudStorage": {}},
                },
            )
            if obj is None or status(obj).get("phase"):
                continue
            offline = self.mode == "degraded" and node is nodes[-1] and len(nodes) > 1
            updated = clone(obj)
            updated["status"] = {
                "phase": "Offline" if offline else "Online",
                "nodeUid": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"px-{node.name}")),
                "network": {"dataIP": node.internal_ip, "mgmtIP": node.internal_ip},
                "storage": {"totalSize": "150Gi", "usedSize": "2Gi"},
                "nodeAttributes": {"storage": True, "kvdb": True},
                "conditions": [{"type": "NodeState", "status": "Offline" if offline else "Online"}],
            }
            self.client.update_status(updated)

    def _service(self) -> None:
        self._ensure(
            "/services",
            NAMESPACE,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "portworx-api", "namespace": NAMESPACE, "labels": {"name": "portworx-api"}},
                "spec": {
                    "type": "ClusterIP",
                    "selector": {"name": "portworx-api"},
                    "ports": [
                        {"name": "px-api", "port": 9001, "protocol": "TCP", "targetPort": 9001},
                        {"name": "px-sdk", "port": 9020, "protocol": "TCP", "targetPort": 9020},
                        {"name": "px-rest-gateway", "port": 9021, "protocol": "TCP", "targetPort": 9021},
                    ],
                },
            },
        )

    def _stork(self, cluster: Obj) -> None:
        minor = self.client.minor
        for name, labels, image, command in (
            (
                "stork",
                {"name": "stork", "tier": "control-plane"},
                STORK_IMAGE,
                [
                    "/stork",
                    "--driver=pxd",
                    "--verbose",
                    "--leader-elect=true",
                    "--health-monitor-interval=120",
                    "--webhook-controller=true",
                ],
            ),
            (
                "stork-scheduler",
                {"component": "scheduler", "name": "stork-scheduler", "tier": "control-plane"},
                f"registry.k8s.io/kube-scheduler-amd64:v1.{minor}.0",
                [
                    "/usr/local/bin/kube-scheduler",
                    "--leader-elect=true",
                    "--leader-elect-resource-name=stork-scheduler",
                    "--scheduler-name=stork",
                    "--v=2",
                ],
            ),
        ):
            self._ensure(
                "apps/deployments",
                NAMESPACE,
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {
                        "name": name,
                        "namespace": NAMESPACE,
                        "labels": dict(labels),
                        "ownerReferences": [controller_ref(cluster)],
                    },
                    "spec": {
                        "replicas": 3,
                        "selector": {"matchLabels": dict(labels)},
                        "template": {
                            "metadata": {"labels": dict(labels)},
                            "spec": {
                                "serviceAccountName": name,
                                "containers": [
                                    {
                                        "name": name,
                                        "image": image,
                                        "command": command,
                                        "resources": {"requests": {"cpu": "100m"}},
                                    }
                                ],
                            },
                        },
                    },
                },
            )

    def _api_daemonset(self, cluster: Obj) -> None:
        """portworx-api: the DaemonSet behind the portworx-api Service (a pause container per node)."""
        labels = {"name": "portworx-api"}
        self._ensure(
            "apps/daemonsets",
            NAMESPACE,
            {
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "metadata": {
                    "name": "portworx-api",
                    "namespace": NAMESPACE,
                    "ownerReferences": [controller_ref(cluster)],
                },
                "spec": {
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": dict(labels)},
                        "spec": {
                            "hostNetwork": True,
                            "serviceAccountName": "portworx",
                            "containers": [{"name": "portworx-api", "image": "registry.k8s.io/pause:3.1"}],
                        },
                    },
                },
            },
        )

    def _pods(self, cluster: Obj) -> None:
        existing = {
            spec(p).get("nodeName")
            for p in self.client.list(PODS, NAMESPACE)
            if (meta(p).get("labels") or {}).get("name") == "portworx"
        }
        for node in self.ctx.settings["nodes"]:
            if node.name in existing:
                continue
            self.client.create(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "generateName": f"{CLUSTER}-",
                        "namespace": NAMESPACE,
                        "labels": {
                            "name": "portworx",
                            "operator.libopenstorage.org/driver": "portworx",
                            "operator.libopenstorage.org/name": CLUSTER,
                        },
                        "ownerReferences": [controller_ref(cluster)],
                    },
                    "spec": {
                        "nodeName": node.name,
                        "hostNetwork": True,
                        "serviceAccountName": "portworx",
                        "containers": [
                            {
                                "name": "portworx",
                                "image": f"portworx/oci-monitor:{VERSION}",
                                "args": ["-c", CLUSTER, "-x", "kubernetes"],
                                "securityContext": {"privileged": True},
                                "readinessProbe": {
                                    "httpGet": {"host": "127.0.0.1", "path": "/health", "port": 17015},
                                    "periodSeconds": 10,
                                },
                            },
                            {
                                "name": "csi-node-driver-registrar",
                                "image": CSI_REGISTRAR_IMAGE,
                                "args": [
                                    "--v=5",
                                    "--csi-address=$(ADDRESS)",
                                    "--kubelet-registration-path=/var/lib/kubelet/csi-plugins/pxd.portworx.com/csi.sock",
                                ],
                                "securityContext": {"privileged": True},
                            },
                        ],
                    },
                }
            )

    def _snapshot_class(self) -> None:
        self._ensure(
            "snapshot.storage.k8s.io/volumesnapshotclasses",
            "",
            {
                "apiVersion": "snapshot.storage.k8s.io/v1",
                "kind": "VolumeSnapshotClass",
                "metadata": {"name": SNAPSHOT_CLASS},
                "driver": CSI_DRIVER,
                "deletionPolicy": "Delete",
            },
        )

    # ---- reacting to the cluster's state --------------------------------------------------------------------
    def keys_for(self, event: Event) -> list[Key]:
        if event.key in (CLUSTERS, STORAGE_NODES):
            return [("refresh",)]
        return []

    def reconcile(self, key: Key) -> float | None:
        """Health changed: pods re-probe, waiting claims and snapshots try again."""
        for pod in self.client.list(PODS, NAMESPACE):
            if (meta(pod).get("labels") or {}).get("name") == "portworx":
                self.enqueue((NAMESPACE, meta(pod)["name"]), controller="pods")
        px_classes = {
            meta(sc)["name"]
            for sc in self.client.list(STORAGE_CLASSES)
            if sc.get("provisioner") in (CSI_DRIVER, IN_TREE)
        }
        for claim in self.client.list(PVCS):
            if spec(claim).get("storageClassName") in px_classes and status(claim).get("phase") != "Bound":
                self.enqueue(("claim", meta(claim)["namespace"], meta(claim)["name"]), controller="volumes")
        snapshots = self.ctx.manager.controllers.get("snapshots")
        if snapshots is not None:
            for snapshot_key in snapshots.pending():  # type: ignore[attr-defined]
                self.enqueue(snapshot_key, controller="snapshots")
        return None
