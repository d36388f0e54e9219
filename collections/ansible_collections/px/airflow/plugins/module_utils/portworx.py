# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Detects Portworx through the Kubernetes API, without failing when it is absent.

What Portworx looks like from the API (see shared/PORTWORX.md and libopenstorage/operator):
the CSIDriver ``pxd.portworx.com``, the ``storageclusters.core.libopenstorage.org`` CRD with a
StorageCluster whose ``status.phase`` is Running (current operators) or Online (before late
2022), StorageNodes, the ``portworx-api`` Service and Stork's Deployments.
"""

from __future__ import annotations

from ansible_collections.px.airflow.plugins.module_utils.client import api_call
from ansible_collections.px.airflow.plugins.module_utils.errors import ApiFailure

CSI_PROVISIONER = "pxd.portworx.com"
INTREE_PROVISIONER = "kubernetes.io/portworx-volume"
HEALTHY_PHASES = ("Running", "Online")
STC_GROUP, STC_VERSION = "core.libopenstorage.org", "v1"


def _absent_ok(client, what, func, *args, **kwargs):
    """Call the API; 404 (missing object or missing CRD) means "not there", not an error."""
    try:
        return api_call(client, what, func, *args, **kwargs)
    except ApiFailure as exc:
        if exc.status == 404:
            return None
        raise


def _image_version(image):
    if image and ":" in image.rsplit("/", 1)[-1]:
        return image.rsplit(":", 1)[1]
    return None


def _storage_cluster(client, custom):
    listing = _absent_ok(
        client,
        "list Portworx StorageClusters",
        custom.list_cluster_custom_object,
        STC_GROUP,
        STC_VERSION,
        "storageclusters",
    )
    items = (listing or {}).get("items") or []
    if not items:
        return None
    # One StorageCluster per cluster is what the operator supports; prefer a healthy one if more.
    items.sort(key=lambda stc: ((stc.get("status") or {}).get("phase") not in HEALTHY_PHASES, stc["metadata"]["name"]))
    return items[0]


def _storage_nodes(client, custom, namespace):
    listing = _absent_ok(
        client,
        "list Portworx StorageNodes in %s" % namespace,
        custom.list_namespaced_custom_object,
        STC_GROUP,
        STC_VERSION,
        namespace,
        "storagenodes",
    )
    nodes = (listing or {}).get("items") or []
    online = [n for n in nodes if (n.get("status") or {}).get("phase") in ("Online", "Running")]
    return len(nodes), len(online)


def detect(client):
    """Return what the API shows of Portworx as a plain dict (the portworx_info result)."""
    import kubernetes

    storage = kubernetes.client.StorageV1Api(client)
    core = kubernetes.client.CoreV1Api(client)
    apps = kubernetes.client.AppsV1Api(client)
    custom = kubernetes.client.CustomObjectsApi(client)

    csi_driver = _absent_ok(client, "read CSIDriver %s" % CSI_PROVISIONER, storage.read_csi_driver, CSI_PROVISIONER)
    stc = _storage_cluster(client, custom)
    namespace = stc["metadata"]["namespace"] if stc else None
    phase = ((stc or {}).get("status") or {}).get("phase")

    api_services = api_call(
        client,
        "list Services named portworx-api",
        core.list_service_for_all_namespaces,
        field_selector="metadata.name=portworx-api",
    ).items
    if namespace:
        api_services = [s for s in api_services if s.metadata.namespace == namespace] or api_services
    if not namespace and api_services:
        namespace = api_services[0].metadata.namespace

    stork = api_call(
        client,
        "list Deployments named stork",
        apps.list_deployment_for_all_namespaces,
        field_selector="metadata.name=stork",
    ).items

    nodes_total, nodes_online = _storage_nodes(client, custom, namespace) if stc else (0, 0)

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
