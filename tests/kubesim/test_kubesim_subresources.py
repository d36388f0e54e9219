"""Status and scale subresources, and dryRun.

References: API conventions "spec and status" (status is written through /status),
https://kubernetes.io/docs/reference/using-api/api-concepts/#dry-run and the Scale subresource
(autoscaling/v1 Scale).
"""

from __future__ import annotations

import copy
from typing import Any

from test_kubesim_crud import DEPLOYMENT

MERGE = {"Content-Type": "application/merge-patch+json"}


def _deploy(raw: Any, ns: str) -> str:
    status, _ = raw.json("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", copy.deepcopy(DEPLOYMENT))
    assert status == 201
    return f"/apis/apps/v1/namespaces/{ns}/deployments/web"


def test_status_reset_on_create(raw: Any, ns: str) -> None:
    """Status given on create is dropped for kinds with a status subresource (PrepareForCreate)."""
    body = copy.deepcopy(DEPLOYMENT)
    body["status"] = {"replicas": 7}
    _, obj = raw.json("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", body)
    assert obj["status"] == {}


def test_main_resource_ignores_status(raw: Any, ns: str) -> None:
    """PUT/PATCH on the main resource ignores status changes."""
    path = _deploy(raw, ns)
    status, obj = raw.json(
        "PATCH", path, {"status": {"replicas": 5}, "metadata": {"labels": {"a": "b"}}}, headers=MERGE
    )
    assert status == 200 and obj["status"] == {} and obj["metadata"]["labels"] == {"a": "b"}


def test_status_subresource_changes_only_status(raw: Any, ns: str) -> None:
    """PUT/PATCH on /status changes only status: spec and labels in the body are ignored."""
    path = _deploy(raw, ns)
    body = {"status": {"replicas": 2}, "spec": {"replicas": 9}, "metadata": {"labels": {"x": "y"}}}
    status, obj = raw.json("PATCH", path + "/status", body, headers=MERGE)
    assert status == 200 and obj["status"]["replicas"] == 2 and obj["spec"]["replicas"] == 1
    assert "labels" not in obj["metadata"]
    _, current = raw.json("GET", path + "/status")
    current["status"]["readyReplicas"] = 2
    status, obj = raw.json("PUT", path + "/status", current)
    assert status == 200 and obj["status"]["readyReplicas"] == 2


def test_status_subresource_missing_for_configmaps(raw: Any, ns: str) -> None:
    """Kinds without a status subresource have no /status URL."""
    raw.json("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "c"}})
    assert raw.json("GET", f"/api/v1/namespaces/{ns}/configmaps/c/status")[0] == 404


def test_pod_status_starts_pending(core: Any, ns: str) -> None:
    """A new Pod is Pending with its QoS class computed."""
    pod = core.create_namespaced_pod(
        ns, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    )
    assert pod.status.phase == "Pending" and pod.status.qos_class == "BestEffort"


def test_scale_get_and_update(raw: Any, ns: str) -> None:
    """/scale reads and writes spec.replicas as an autoscaling/v1 Scale with a selector string."""
    path = _deploy(raw, ns)
    status, scale = raw.json("GET", path + "/scale")
    assert status == 200 and scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"]["replicas"] == 1 and scale["status"]["selector"] == "app=web"
    scale["spec"]["replicas"] = 3
    status, scale = raw.json("PUT", path + "/scale", scale)
    assert status == 200 and scale["spec"]["replicas"] == 3
    _, obj = raw.json("GET", path)
    assert obj["spec"]["replicas"] == 3 and obj["metadata"]["generation"] == 2


def test_scale_patch(apps: Any, raw: Any, ns: str) -> None:
    """PATCH /scale (what `kubectl scale` and the python client do)."""
    _deploy(raw, ns)
    scale = apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 2}})
    assert scale.spec.replicas == 2


def test_dry_run_create_not_persisted(core: Any, ns: str) -> None:
    """dryRun=All runs defaulting and validation, answers the would-be object and stores nothing."""
    svc = core.create_namespaced_service(
        ns, {"metadata": {"name": "dry"}, "spec": {"ports": [{"port": 80}]}}, dry_run="All"
    )
    assert svc.spec.type == "ClusterIP" and svc.metadata.uid
    assert svc.metadata.resource_version is None
    assert "dry" not in {s.metadata.name for s in core.list_namespaced_service(ns).items}


def test_dry_run_create_still_validates(raw: Any, ns: str) -> None:
    """dryRun=All still rejects invalid objects (422)."""
    status, body = raw.json(
        "POST", f"/api/v1/namespaces/{ns}/configmaps?dryRun=All", {"metadata": {"name": "Bad_Name"}}
    )
    assert status == 422 and body["reason"] == "Invalid"


def test_dry_run_update_not_persisted(raw: Any, ns: str) -> None:
    """dryRun=All on PATCH answers the patched object but keeps the stored one."""
    raw.json("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "c"}, "data": {"a": "1"}})
    status, obj = raw.json(
        "PATCH", f"/api/v1/namespaces/{ns}/configmaps/c?dryRun=All", {"data": {"a": "2"}}, headers=MERGE
    )
    assert status == 200 and obj["data"] == {"a": "2"}
    assert raw.json("GET", f"/api/v1/namespaces/{ns}/configmaps/c")[1]["data"] == {"a": "1"}


def test_bad_dry_run_value_rejected(raw: Any, ns: str) -> None:
    """dryRun accepts only "All"."""
    status, body = raw.json("POST", f"/api/v1/namespaces/{ns}/configmaps?dryRun=Some", {"metadata": {"name": "c"}})
    assert status == 422 and 'supported values: "All"' in body["message"]
