"""A Portworx stand-in for the local cluster: Portworx as the Kubernetes API shows it, and a provisioner.

Portworx itself cannot run here, so the cluster gets what an operator-installed Portworx puts in the
API (libopenstorage/operator; see shared/PORTWORX.md) and a small controller of ours that does, for
the CSI driver `pxd.portworx.com`, what the CSI sidecars and the snapshot controller do:

- install.py: the CRDs (StorageCluster, StorageNode; the CSI snapshot CRDs from
  kubernetes-csi/external-snapshotter), the objects per mode (healthy, degraded, absent), the RBAC of
  the controller's own user `px:portworx`, and the controller's command line;
- controller.py: provisioning (PV `spec.hostPath` on a directory under the volumes folder, so the
  kubelet mounts it without a CSI node plugin), deletion, expansion, snapshots and restores, the
  StorageCluster's and StorageNodes' status, and Stork's scheduler name `stork`;
- kube.py: the API plumbing (watch caches with resourceVersion resumption, a work queue, events).

It plays what Portworx shows through the Kubernetes API and does to volumes, so the storage role's
tests keep their meaning on a real cluster.
"""

from __future__ import annotations

DRIVER = "pxd.portworx.com"
IN_TREE = "kubernetes.io/portworx-volume"
NAMESPACE = "portworx"
CLUSTER = "px-cluster"
VERSION = "3.2.1"
GROUP = "core.libopenstorage.org"
SNAPSHOT_GROUP = "snapshot.storage.k8s.io"
SNAPSHOT_CLASS = "px-csi-snapclass"
USER = "px:portworx"
MODES = ("healthy", "degraded", "absent")
HEALTHY_PHASES = ("Running", "Online")  # operators before late 2022 reported Online
STORAGE_NODE_PREFIX = "px-node-"


def storage_node_names(nodes: int) -> list[str]:
    """The StorageNode names of an N-node stand-in (the real ones carry the Kubernetes node names;
    this cluster has one node, the stand-in shows N storage nodes)."""
    return [f"{STORAGE_NODE_PREFIX}{i}" for i in range(1, nodes + 1)]
