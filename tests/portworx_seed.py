"""Make a kubesim cluster show Portworx the way a real one does through the API.

Until kubesim simulates Portworx itself (its `--portworx` flag), tests put the same objects in
place: the CSIDriver, the StorageCluster and StorageNode CRDs with their objects, the
`portworx-api` Service and Stork. Shapes follow libopenstorage/operator.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

PX_NAMESPACE = "portworx"


def _crd(plural: str, kind: str, short: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.core.libopenstorage.org"},
        "spec": {
            "group": "core.libopenstorage.org",
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "shortNames": short},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }


def _ignore_exists(func, *args, **kwargs) -> None:
    try:
        func(*args, **kwargs)
    except ApiException as exc:
        if exc.status != 409:
            raise


def seed_portworx(api: client.ApiClient, phase: str = "Running", nodes: int = 3, stork: bool = True) -> None:
    """Create what an installed Portworx shows; `phase` is the StorageCluster's status.phase."""
    ext = client.ApiextensionsV1Api(api)
    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    for plural, kind, short in (
        ("storageclusters", "StorageCluster", ["stc"]),
        ("storagenodes", "StorageNode", ["sn"]),
    ):
        _ignore_exists(ext.create_custom_resource_definition, _crd(plural, kind, short))
    _ignore_exists(core.create_namespace, {"metadata": {"name": PX_NAMESPACE}})
    _ignore_exists(
        client.StorageV1Api(api).create_csi_driver,
        {"metadata": {"name": "pxd.portworx.com"}, "spec": {"attachRequired": False, "podInfoOnMount": True}},
    )
    group, version = "core.libopenstorage.org", "v1"
    _ignore_exists(
        custom.create_namespaced_custom_object,
        group,
        version,
        PX_NAMESPACE,
        "storageclusters",
        {
            "apiVersion": f"{group}/{version}",
            "kind": "StorageCluster",
            "metadata": {"name": "px-cluster"},
            "spec": {"image": "portworx/oci-monitor:3.2.1"},
        },
    )
    custom.patch_namespaced_custom_object_status(
        group, version, PX_NAMESPACE, "storageclusters", "px-cluster", {"status": {"phase": phase, "version": "3.2.1"}}
    )
    for index in range(nodes):
        name = f"node-{index}"
        _ignore_exists(
            custom.create_namespaced_custom_object,
            group,
            version,
            PX_NAMESPACE,
            "storagenodes",
            {"apiVersion": f"{group}/{version}", "kind": "StorageNode", "metadata": {"name": name}},
        )
        custom.patch_namespaced_custom_object_status(
            group, version, PX_NAMESPACE, "storagenodes", name, {"status": {"phase": "Online"}}
        )
    _ignore_exists(
        core.create_namespaced_service,
        PX_NAMESPACE,
        {
            "metadata": {"name": "portworx-api"},
            "spec": {"selector": {"name": "portworx-api"}, "ports": [{"name": "px-api", "port": 9001}]},
        },
    )
    if stork:
        labels = {"name": "stork"}
        _ignore_exists(
            client.AppsV1Api(api).create_namespaced_deployment,
            PX_NAMESPACE,
            {
                "metadata": {"name": "stork"},
                "spec": {
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"containers": [{"name": "stork", "image": "openstorage/stork:25.2.0"}]},
                    },
                },
            },
        )


def remove_portworx(api: client.ApiClient) -> None:
    """Take Portworx away again (the CSIDriver and the StorageCluster CRD with its objects)."""
    for func, args in (
        (client.StorageV1Api(api).delete_csi_driver, ("pxd.portworx.com",)),
        (
            client.ApiextensionsV1Api(api).delete_custom_resource_definition,
            ("storageclusters.core.libopenstorage.org",),
        ),
        (client.ApiextensionsV1Api(api).delete_custom_resource_definition, ("storagenodes.core.libopenstorage.org",)),
        (client.CoreV1Api(api).delete_namespaced_service, ("portworx-api", PX_NAMESPACE)),
        (client.AppsV1Api(api).delete_namespaced_deployment, ("stork", PX_NAMESPACE)),
    ):
        try:
            func(*args, _preload_content=False)
        except ApiException as exc:
            if exc.status != 404:
                raise
