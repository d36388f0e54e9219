"""Discovery: /api, /apis, groups, resource lists (verbs, shortNames, namespaced, subresources).

What kube-apiserver 1.33 publishes (`kubectl api-resources -o wide`, `kubectl get --raw /apis`).
"""

from __future__ import annotations

from typing import Any

import pytest

GROUPS = [
    "apps",
    "batch",
    "storage.k8s.io",
    "rbac.authorization.k8s.io",
    "networking.k8s.io",
    "policy",
    "apiextensions.k8s.io",
    "events.k8s.io",
    "coordination.k8s.io",
]


def _resources(raw: Any, path: str) -> dict[str, dict[str, Any]]:
    status, doc = raw.json("GET", path)
    assert status == 200 and doc["kind"] == "APIResourceList"
    return {r["name"]: r for r in doc["resources"]}


def test_api_versions(raw: Any) -> None:
    """GET /api is an APIVersions listing v1."""
    status, doc = raw.json("GET", "/api")
    assert status == 200 and doc["kind"] == "APIVersions" and doc["versions"] == ["v1"]
    assert doc["serverAddressByClientCIDRs"]


def test_api_group_list(raw: Any) -> None:
    """GET /apis is an APIGroupList naming every served group with its preferred version."""
    status, doc = raw.json("GET", "/apis")
    assert status == 200 and doc["kind"] == "APIGroupList"
    groups = {g["name"]: g for g in doc["groups"]}
    for name in GROUPS:
        assert groups[name]["preferredVersion"] == {"groupVersion": f"{name}/v1", "version": "v1"}


def test_aggregated_discovery_request_gets_plain_form(raw: Any) -> None:
    """Asked for aggregated discovery (apidiscovery.k8s.io/v2) kubesim honestly answers the plain APIGroupList
    with Content-Type application/json; clients check the content type and fall back."""
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    response = raw("GET", "/apis", headers={"Accept": accept})
    assert response.status == 200 and response.headers["Content-Type"] == "application/json"


def test_api_group(raw: Any) -> None:
    """GET /apis/<group> is an APIGroup."""
    status, doc = raw.json("GET", "/apis/apps")
    assert status == 200 and doc["kind"] == "APIGroup" and doc["name"] == "apps"


def test_core_resources(raw: Any) -> None:
    """Core v1 resources with scope, short names and verbs."""
    res = _resources(raw, "/api/v1")
    assert res["configmaps"]["shortNames"] == ["cm"] and res["configmaps"]["namespaced"] is True
    assert res["namespaces"]["namespaced"] is False and "deletecollection" not in res["namespaces"]["verbs"]
    assert res["persistentvolumes"]["namespaced"] is False
    assert set(res["pods"]["verbs"]) == {
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    }
    for name in ("secrets", "services", "serviceaccounts", "persistentvolumeclaims", "events", "endpoints"):
        assert res[name]["kind"]


@pytest.mark.parametrize(
    "sub,verbs",
    [("pods/log", ["get"]), ("pods/status", ["get", "patch", "update"]), ("namespaces/finalize", ["update"])],
)
def test_core_subresources(raw: Any, sub: str, verbs: list[str]) -> None:
    """Subresources are listed as <resource>/<sub> entries with their own verbs."""
    assert _resources(raw, "/api/v1")[sub]["verbs"] == verbs


def test_apps_scale_subresource(raw: Any) -> None:
    """deployments/scale is served as autoscaling/v1 Scale."""
    res = _resources(raw, "/apis/apps/v1")
    scale = res["deployments/scale"]
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    assert res["deployments"]["shortNames"] == ["deploy"] and "daemonsets/status" in res
    assert "daemonsets/scale" not in res


@pytest.mark.parametrize(
    "path,name,kind,namespaced",
    [
        ("/apis/batch/v1", "cronjobs", "CronJob", True),
        ("/apis/storage.k8s.io/v1", "storageclasses", "StorageClass", False),
        ("/apis/storage.k8s.io/v1", "csidrivers", "CSIDriver", False),
        ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", "ClusterRoleBinding", False),
        ("/apis/networking.k8s.io/v1", "networkpolicies", "NetworkPolicy", True),
        ("/apis/policy/v1", "poddisruptionbudgets", "PodDisruptionBudget", True),
        ("/apis/apiextensions.k8s.io/v1", "customresourcedefinitions", "CustomResourceDefinition", False),
        ("/apis/coordination.k8s.io/v1", "leases", "Lease", True),
        ("/apis/events.k8s.io/v1", "events", "Event", True),
    ],
)
def test_group_resources(raw: Any, path: str, name: str, kind: str, namespaced: bool) -> None:
    """Each group/version lists its resources with kind and scope."""
    entry = _resources(raw, path)[name]
    assert entry["kind"] == kind and entry["namespaced"] is namespaced


def test_unknown_group_version_is_404(raw: Any) -> None:
    """A group or version that is not served is 404."""
    assert raw.json("GET", "/apis/apps/v1beta1")[0] == 404
    assert raw.json("GET", "/apis/nosuch")[0] == 404


def test_dynamic_client_resolves_kinds(dyn: Any) -> None:
    """The DynamicClient finds resources by apiVersion/kind through discovery."""
    deploy = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    assert deploy.name == "deployments" and deploy.namespaced and "scale" in deploy.subresources
    sc = dyn.resources.get(api_version="storage.k8s.io/v1", kind="StorageClass")
    assert not sc.namespaced
