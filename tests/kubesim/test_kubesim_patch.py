"""PATCH: JSON patch, merge patch and strategic merge patch (merge keys and directives from the schemas).

References: https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/ and
https://github.com/kubernetes/community/blob/master/contributors/devel/sig-api-machinery/strategic-merge-patch.md
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

SMP = {"Content-Type": "application/strategic-merge-patch+json"}
MERGE = {"Content-Type": "application/merge-patch+json"}
JSONPATCH = {"Content-Type": "application/json-patch+json"}

POD_TEMPLATE_DEPLOYMENT = {
    "metadata": {"name": "web", "finalizers": ["example.com/a"]},
    "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "a",
                        "image": "nginx:1",
                        "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
                    },
                    {"name": "b", "image": "busybox:1"},
                ],
                "volumes": [{"name": "data", "emptyDir": {}}],
            },
        },
    },
}


@pytest.fixture
def deploy(raw: Any, ns: str) -> str:
    status, _ = raw.json("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", copy.deepcopy(POD_TEMPLATE_DEPLOYMENT))
    assert status == 201
    return f"/apis/apps/v1/namespaces/{ns}/deployments/web"


def _patch(raw: Any, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    return raw.json("PATCH", path, body, headers=headers)


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return obj["spec"]["template"]["spec"]["containers"]


def test_smp_merges_containers_by_name(raw: Any, deploy: str) -> None:
    """containers has patchMergeKey name / patchStrategy merge: patching one container keeps the other."""
    status, obj = _patch(
        raw, deploy, {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "nginx:2"}]}}}}, SMP
    )
    assert status == 200
    assert [(c["name"], c["image"]) for c in _containers(obj)] == [("a", "nginx:2"), ("b", "busybox:1")]
    assert [e["name"] for e in _containers(obj)[0]["env"]] == ["X", "Y"]


def test_merge_patch_replaces_lists(raw: Any, deploy: str) -> None:
    """JSON merge patch (RFC 7386) replaces lists wholesale."""
    status, obj = _patch(
        raw, deploy, {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "nginx:2"}]}}}}, MERGE
    )
    assert status == 200 and [c["name"] for c in _containers(obj)] == ["a"]


def test_smp_delete_directive_in_list(raw: Any, deploy: str) -> None:
    """$patch: delete on a list item removes the item with that merge key."""
    body = {"spec": {"template": {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}}}
    status, obj = _patch(raw, deploy, body, SMP)
    assert status == 200 and [c["name"] for c in _containers(obj)] == ["a"]


def test_smp_replace_directive_in_list(raw: Any, deploy: str) -> None:
    """A {"$patch": "replace"} item replaces the whole list with the patch's items."""
    body = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "alpine"}, {"$patch": "replace"}]}}}}
    status, obj = _patch(raw, deploy, body, SMP)
    assert status == 200 and [c["name"] for c in _containers(obj)] == ["c"]


def test_smp_replace_directive_in_map(raw: Any, deploy: str) -> None:
    """$patch: replace in a map replaces the map instead of merging it."""
    body = {"spec": {"template": {"metadata": {"labels": {"app": "web", "$patch": "replace"}}}}}
    raw.json("PATCH", deploy, {"spec": {"template": {"metadata": {"labels": {"extra": "1"}}}}}, headers=SMP)
    status, obj = _patch(raw, deploy, body, SMP)
    assert status == 200 and obj["spec"]["template"]["metadata"]["labels"] == {"app": "web"}


def test_smp_null_deletes_field(raw: Any, deploy: str) -> None:
    """null deletes a field in a strategic merge patch too."""
    status, obj = _patch(raw, deploy, {"spec": {"revisionHistoryLimit": None}}, SMP)
    assert status == 200 and obj["spec"]["revisionHistoryLimit"] == 10  # deleted, then defaulted again


def test_smp_primitive_list_merge_and_delete(raw: Any, deploy: str) -> None:
    """finalizers (patchStrategy merge, primitives) are unioned; $deleteFromPrimitiveList removes entries."""
    status, obj = _patch(raw, deploy, {"metadata": {"finalizers": ["example.com/b"]}}, SMP)
    assert obj["metadata"]["finalizers"] == ["example.com/a", "example.com/b"]
    status, obj = _patch(
        raw, deploy, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/a", "example.com/b"]}}, SMP
    )
    assert status == 200 and not obj["metadata"].get("finalizers")


def test_smp_retain_keys(raw: Any, deploy: str) -> None:
    """$retainKeys (deployment strategy, volumes) clears the keys it does not list."""
    body = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    status, obj = _patch(raw, deploy, body, SMP)
    assert status == 200 and obj["spec"]["strategy"] == {"type": "Recreate"}


def test_smp_set_element_order_tolerated(raw: Any, deploy: str) -> None:
    """$setElementOrder (sent by kubectl apply) is accepted and orders the merged list."""
    body = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                    "containers": [{"name": "a", "image": "nginx:3"}],
                }
            }
        }
    }
    status, obj = _patch(raw, deploy, body, SMP)
    assert status == 200 and [c["name"] for c in _containers(obj)] == ["b", "a"]
    assert _containers(obj)[1]["image"] == "nginx:3"


def test_smp_missing_merge_key_fails(raw: Any, deploy: str) -> None:
    """An item of a merge list without its merge key cannot be merged: the patch fails."""
    status, body = _patch(raw, deploy, {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}, SMP)
    assert status >= 400 and "merge key" in body["message"]


def test_json_patch_ops(raw: Any, deploy: str) -> None:
    """RFC 6902 add/replace/remove/test."""
    ops = [
        {"op": "test", "path": "/spec/replicas", "value": 1},
        {"op": "replace", "path": "/spec/replicas", "value": 4},
        {"op": "add", "path": "/metadata/labels", "value": {"a": "b"}},
        {"op": "remove", "path": "/spec/template/spec/containers/1"},
    ]
    status, obj = _patch(raw, deploy, ops, JSONPATCH)
    assert status == 200 and obj["spec"]["replicas"] == 4 and obj["metadata"]["labels"] == {"a": "b"}
    assert [c["name"] for c in _containers(obj)] == ["a"]


def test_json_patch_failed_test_is_422(raw: Any, deploy: str) -> None:
    """A failing "test" op (or a path that does not exist) makes the patch fail with 422."""
    status, body = _patch(raw, deploy, [{"op": "test", "path": "/spec/replicas", "value": 9}], JSONPATCH)
    assert status == 422 and body["reason"] == "Invalid"
    status, _ = _patch(raw, deploy, [{"op": "remove", "path": "/metadata/annotations/nope"}], JSONPATCH)
    assert status == 422


def test_json_patch_not_a_list_is_400(raw: Any, deploy: str) -> None:
    """A JSON patch must be an array of operations."""
    assert _patch(raw, deploy, {"op": "add"}, JSONPATCH)[0] == 400


def test_noop_patch_keeps_resource_version(raw: Any, deploy: str) -> None:
    """A patch that changes nothing writes nothing: the resourceVersion stays."""
    _, before = raw.json("GET", deploy)
    status, after = _patch(raw, deploy, {"spec": {"replicas": 1}}, SMP)
    assert status == 200 and after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_patch_with_stale_resource_version_is_409(raw: Any, deploy: str) -> None:
    """A resourceVersion in the patch is a precondition: stale means 409 Conflict."""
    status, body = _patch(raw, deploy, {"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 2}}, MERGE)
    assert status == 409 and body["reason"] == "Conflict"


def test_apply_patch_is_refused_honestly(raw: Any, deploy: str) -> None:
    """Server-side apply is not simulated: kubesim answers 415 and says so rather than pretend."""
    response = raw("PATCH", deploy, "spec:\n  replicas: 2\n", headers={"Content-Type": "application/apply-patch+yaml"})
    assert response.status == 415 and b"server-side apply" in response.data


def test_unknown_patch_type_is_415(raw: Any, deploy: str) -> None:
    """A PATCH with an unknown content type is 415 listing the accepted media types."""
    response = raw("PATCH", deploy, "{}", headers={"Content-Type": "application/json"})
    assert response.status == 415 and b"application/strategic-merge-patch+json" in response.data


def test_patch_missing_object_is_404(raw: Any, ns: str) -> None:
    """PATCH of a missing object is 404."""
    assert _patch(raw, f"/api/v1/namespaces/{ns}/configmaps/nope", {"data": {"a": "b"}}, MERGE)[0] == 404


def test_patch_cannot_rename(raw: Any, deploy: str) -> None:
    """A patch that changes metadata.name is rejected (400: name does not match the URL)."""
    assert _patch(raw, deploy, {"metadata": {"name": "other"}}, MERGE)[0] == 400


def test_smp_on_service_ports_merges_by_port(raw: Any, ns: str) -> None:
    """Service spec.ports merge on "port"."""
    svc = {"metadata": {"name": "s"}, "spec": {"ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]}}
    raw.json("POST", f"/api/v1/namespaces/{ns}/services", svc)
    status, obj = _patch(
        raw, f"/api/v1/namespaces/{ns}/services/s", {"spec": {"ports": [{"port": 443, "targetPort": 8443}]}}, SMP
    )
    assert status == 200 and [p["port"] for p in obj["spec"]["ports"]] == [80, 443]
    assert obj["spec"]["ports"][1]["targetPort"] == 8443
