# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Detects Portworx through the Kubernetes API, without failing when it is absent.

What Portworx looks like from the API (see shared/PORTWORX.md and libopenstorage/operator):
the CSIDriver ``pxd.portworx.com``, the ``storageclusters.core.libopenstorage.org`` CRD with a
StorageCluster whose ``status.phase`` is Running (current operators) or Online (before late
2022), StorageNodes, the ``portworx-api`` Service and Stork's Deployments.
"""

from __future__ import annotations

from ansible_collections.px.airflow.plugins.module_utils.service import ref

CSI_PROVISIONER = "pxd.portworx.com"
INTREE_PROVISIONER = "kubernetes.io/portworx-volume"
HEALTHY_PHASES = ("Running", "Online")
STC_API = "core.libopenstorage.org/v1"


def _image_version(image):
    if image and ":" in image.rsplit("/", 1)[-1]:
        return image.rsplit(":", 1)[1]
    return None


def _storage_cluster(service):
    # A 404 (the CRD is not installed) answers []: no StorageCluster.
    items = service.list(STC_API, "StorageCluster", what="list Portworx StorageClusters")
    if not items:
        return None
    # One StorageCluster per cluster is what the operator supports; prefer a healthy one if more.
    items.sort(key=lambda stc: ((stc.get("status") or {}).get("phase") not in HEALTHY_PHASES, stc["metadata"]["name"]))
    return items[0]


def _storage_nodes(service, namespace):
    nodes = service.list(STC_API, "StorageNode", namespace, what="list Portworx StorageNodes in %s" % namespace)
    online = [n for n in nodes if (n.get("status") or {}).get("phase") in ("Online", "Running")]
    return len(nodes), len(online)


def _named_everywhere(service, api_version, kind, name):
    return service.list(
        api_version, kind, field_selector="metadata.name=%s" % name, what="list %ss named %s" % (kind, name)
    )


class PortworxInfoBackend:
    """The portworx_info module's backend: what the API shows of Portworx, never a failure for its absence."""

    def __init__(self, module, service):
        self.service = service

    def run(self):
        return dict(detect(self.service), changed=False)


def detect(service):
    """Return what the API shows of Portworx as a plain dict (the portworx_info result)."""
    csi_driver = service.get(ref("storage.k8s.io/v1", "CSIDriver", CSI_PROVISIONER))
    stc = _storage_cluster(service)
    namespace = stc["metadata"]["namespace"] if stc else None
    phase = ((stc or {}).get("status") or {}).get("phase")

    api_services = _named_everywhere(service, "v1", "Service", "portworx-api")
    if namespace:
        api_services = [s for s in api_services if s["metadata"]["namespace"] == namespace] or api_services
    if not namespace and api_services:
        namespace = api_services[0]["metadata"]["namespace"]

    stork = _named_everywhere(service, "apps/v1", "Deployment", "stork")

    nodes_total, nodes_online = _storage_nodes(service, namespace) if stc else (0, 0)

    provisioners = []
    if csi_driver is not None:
        provisioners.append(CSI_PROVISIONER)
    if stc is not None or api_services:
        # The in-tree plugin talks to the portworx-api Service; from Kubernetes 1.31 it is
        # migrated to the CSI driver, which must then be installed too.
        provisioners.append(INTREE_PROVISIONER)

    installed = csi_driver is not None or stc is not None
    version = None
    if stc:
        version = (stc.get("status") or {}).get("version") or _image_version((stc.get("spec") or {}).get("image"))

    return {
        "installed": installed,
        "healthy": bool(installed and phase in HEALTHY_PHASES),
        "provisioners": provisioners,
        "csi": csi_driver is not None,
        "storage_cluster": {"name": stc["metadata"]["name"], "namespace": namespace, "phase": phase} if stc else None,
        "phase": phase,
        "storage_nodes": nodes_online,
        "nodes_total": nodes_total,
        "version": version,
        "api_service": bool(api_services),
        "stork": bool(stork),
        "namespace": namespace,
    }
