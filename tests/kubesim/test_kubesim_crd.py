"""CustomResourceDefinitions: a created CRD serves its resources (discovery, scope, status subresource).

Reference: https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kubesim_harness import wait_for


def _crd(group: str, scope: str = "Namespaced", status: bool = True) -> dict[str, Any]:
    version: dict[str, Any] = {
        "name": "v1",
        "served": True,
        "storage": True,
        "schema": {
            "openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "spec": {
                        "type": "object",
                        "properties": {"size": {"type": "integer"}, "replicas": {"type": "integer"}},
                    },
                    "status": {
                        "type": "object",
                        "properties": {"phase": {"type": "string"}, "replicas": {"type": "integer"}},
                    },
                },
            }
        },
    }
    if status:
        version["subresources"] = {
            "status": {},
            "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"},
        }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": scope,
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [version],
        },
    }


@pytest.fixture
def crd(raw: Any) -> Any:
    created: list[str] = []

    def make(scope: str = "Namespaced", status: bool = True) -> str:
        group = f"g{uuid.uuid4().hex[:8]}.example.com"
        code, body = raw.json(
            "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", _crd(group, scope, status)
        )
        assert code == 201, body
        created.append(body["metadata"]["name"])
        return group

    yield make
    for name in created:
        raw.json("DELETE", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")


def test_crd_is_established(raw: Any, crd: Any) -> None:
    """A new CRD reports NamesAccepted and Established conditions and its storedVersions."""
    group = crd()
    _, body = raw.json("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.{group}")
    conditions = {c["type"]: c["status"] for c in body["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert body["status"]["storedVersions"] == ["v1"] and body["status"]["acceptedNames"]["kind"] == "Widget"


def test_crd_served_in_discovery(raw: Any, crd: Any) -> None:
    """The CRD's group appears in /apis and its version lists the resource with shortNames and subresources."""
    group = crd()
    _, groups = raw.json("GET", "/apis")
    assert group in {g["name"] for g in groups["groups"]}
    _, resources = raw.json("GET", f"/apis/{group}/v1")
    names = {r["name"]: r for r in resources["resources"]}
    assert names["widgets"]["kind"] == "Widget" and names["widgets"]["shortNames"] == ["wd"]
    assert "widgets/status" in names and "widgets/scale" in names


def test_custom_resource_crud(raw: Any, ns: str, crd: Any) -> None:
    """Custom resources: create (generation 1), get, list with items carrying kind, update bumps generation."""
    group = crd()
    base = f"/apis/{group}/v1/namespaces/{ns}/widgets"
    status, obj = raw.json(
        "POST", base, {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}}
    )
    assert status == 201 and obj["metadata"]["generation"] == 1
    _, listing = raw.json("GET", base)
    assert listing["kind"] == "WidgetList" and listing["items"][0]["kind"] == "Widget"
    obj["spec"]["size"] = 2
    status, obj = raw.json("PUT", f"{base}/w", obj)
    assert status == 200 and obj["metadata"]["generation"] == 2


def test_custom_resource_status_subresource(raw: Any, ns: str, crd: Any) -> None:
    """With the status subresource, the main resource ignores status and /status changes only status."""
    group = crd()
    base = f"/apis/{group}/v1/namespaces/{ns}/widgets"
    _, obj = raw.json(
        "POST",
        base,
        {
            "apiVersion": f"{group}/v1",
            "kind": "Widget",
            "metadata": {"name": "w"},
            "spec": {"size": 1},
            "status": {"phase": "Ignored"},
        },
    )
    assert "status" not in obj
    obj["status"] = {"phase": "Ready"}
    _, after = raw.json("PUT", f"{base}/w/status", obj)
    assert after["status"] == {"phase": "Ready"} and after["metadata"]["generation"] == 1


def test_custom_resource_scale(raw: Any, ns: str, crd: Any) -> None:
    """The scale subresource maps specReplicasPath."""
    group = crd()
    base = f"/apis/{group}/v1/namespaces/{ns}/widgets"
    raw.json(
        "POST",
        base,
        {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"replicas": 1}},
    )
    status, scale = raw.json(
        "PATCH", f"{base}/w/scale", {"spec": {"replicas": 4}}, headers={"Content-Type": "application/merge-patch+json"}
    )
    assert status == 200 and scale["spec"]["replicas"] == 4
    assert raw.json("GET", f"{base}/w")[1]["spec"]["replicas"] == 4


def test_cluster_scoped_custom_resource(raw: Any, crd: Any) -> None:
    """scope: Cluster serves the resource without namespaces."""
    group = crd(scope="Cluster")
    status, obj = raw.json(
        "POST", f"/apis/{group}/v1/widgets", {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "c"}}
    )
    assert status == 201 and "namespace" not in obj["metadata"]
    assert raw.json("GET", f"/apis/{group}/v1/namespaces/default/widgets")[0] == 404


def test_strategic_merge_on_custom_resource_is_415(raw: Any, ns: str, crd: Any) -> None:
    """Custom resources accept JSON and merge patches, not strategic merge (415)."""
    group = crd()
    base = f"/apis/{group}/v1/namespaces/{ns}/widgets"
    raw.json("POST", base, {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w"}})
    response = raw("PATCH", f"{base}/w", "{}", headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert response.status == 415


def test_deleting_crd_removes_resources_and_endpoint(raw: Any, ns: str) -> None:
    """Deleting a CRD deletes its custom resources, then the CRD, and its URLs stop being served."""
    group = f"g{uuid.uuid4().hex[:8]}.example.com"
    assert raw.json("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", _crd(group))[0] == 201
    base = f"/apis/{group}/v1/namespaces/{ns}/widgets"
    raw.json("POST", base, {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w"}})
    status, _ = raw.json("DELETE", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.{group}")
    assert status == 200
    wait_for(
        lambda: raw.json("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.{group}")[0] == 404,
        message="CRD to go",
    )
    assert raw.json("GET", base)[0] == 404


def test_crd_name_must_match_names(raw: Any) -> None:
    """metadata.name must be <plural>.<group>: 422 otherwise."""
    body = _crd("bad.example.com")
    body["metadata"]["name"] = "wrong.bad.example.com"
    status, _ = raw.json("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body)
    assert status == 422


def test_dynamic_client_finds_new_crd(dyn: Any, crd: Any, ns: str) -> None:
    """The DynamicClient discovers a CRD created after it started (cache miss → rediscovery)."""
    group = crd()
    widgets = dyn.resources.get(api_version=f"{group}/v1", kind="Widget")
    created = widgets.create(
        namespace=ns, body={"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "d"}}
    )
    assert created.metadata.name == "d"
