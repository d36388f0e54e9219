"""Deletion: finalizers, propagation policies and garbage collection, preconditions, deletecollection.

References: https://kubernetes.io/docs/concepts/architecture/garbage-collection/ ,
https://kubernetes.io/docs/concepts/overview/working-with-objects/finalizers/ and the generic
registry's Delete/DeleteCollection (k8s.io/apiserver/pkg/registry/generic/registry/store.go).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes.client.rest import ApiException
from kubesim_harness import wait_for


def _exists(read: Any, *args: Any) -> bool:
    try:
        read(*args)
        return True
    except ApiException as e:
        if e.status == 404:
            return False
        raise


def _owner_ref(owner: Any, kind: str = "ConfigMap", api_version: str = "v1", **extra: Any) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "name": owner.metadata.name, "uid": owner.metadata.uid, **extra}


def test_delete_answers_status_success(raw: Any, ns: str) -> None:
    """Deleting a ConfigMap answers a Success Status with details (name, kind = resource, uid)."""
    _, cm = raw.json("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "d"}})
    status, body = raw.json("DELETE", f"/api/v1/namespaces/{ns}/configmaps/d")
    assert status == 200 and body["kind"] == "Status" and body["status"] == "Success"
    assert body["details"] == {"name": "d", "kind": "configmaps", "uid": cm["metadata"]["uid"]}


def test_delete_pod_answers_the_object(raw: Any, ns: str) -> None:
    """Pods are answered as the deleted object, not a Status (registry ReturnDeletedObject)."""
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    assert raw.json("POST", f"/api/v1/namespaces/{ns}/pods", pod)[0] == 201
    status, body = raw.json("DELETE", f"/api/v1/namespaces/{ns}/pods/p")
    assert status == 200 and body["kind"] == "Pod"


def test_delete_missing_is_404(core: Any, ns: str) -> None:
    """Deleting what does not exist is 404."""
    with pytest.raises(ApiException) as exc:
        core.delete_namespaced_config_map("ghost", ns)
    assert exc.value.status == 404


def test_finalizer_keeps_object_until_removed(core: Any, ns: str) -> None:
    """An object with finalizers gets deletionTimestamp and stays until they are removed; then it is gone."""
    core.create_namespaced_config_map(ns, {"metadata": {"name": "f", "finalizers": ["example.com/x"]}})
    core.delete_namespaced_config_map("f", ns)
    held = core.read_namespaced_config_map("f", ns)
    assert held.metadata.deletion_timestamp is not None and held.metadata.finalizers == ["example.com/x"]
    core.patch_namespaced_config_map("f", ns, {"metadata": {"finalizers": None}})
    assert not _exists(core.read_namespaced_config_map, "f", ns)


def test_no_new_finalizers_while_deleting(core: Any, ns: str) -> None:
    """Once deletion started, finalizers can only be removed (422 Forbidden otherwise)."""
    core.create_namespaced_config_map(ns, {"metadata": {"name": "f", "finalizers": ["example.com/x"]}})
    core.delete_namespaced_config_map("f", ns)
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_config_map("f", ns, {"metadata": {"finalizers": ["example.com/x", "example.com/y"]}})
    assert exc.value.status == 422
    core.patch_namespaced_config_map("f", ns, {"metadata": {"finalizers": None}})


def test_deletion_bumps_generation(apps: Any, ns: str) -> None:
    """Setting deletionTimestamp bumps metadata.generation for kinds that have it (rest.BeforeDelete)."""
    from test_kubesim_crud import DEPLOYMENT

    body = json.loads(json.dumps(DEPLOYMENT))
    body["metadata"]["finalizers"] = ["example.com/x"]
    apps.create_namespaced_deployment(ns, body)
    apps.delete_namespaced_deployment("web", ns)
    assert apps.read_namespaced_deployment("web", ns).metadata.generation == 2
    apps.patch_namespaced_deployment("web", ns, {"metadata": {"finalizers": None}})


def test_background_propagation_deletes_dependents(core: Any, ns: str) -> None:
    """Background (the default): the owner goes at once, the garbage collector deletes its dependents."""
    owner = core.create_namespaced_config_map(ns, {"metadata": {"name": "owner"}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "dep", "ownerReferences": [_owner_ref(owner)]}})
    core.delete_namespaced_config_map("owner", ns)
    wait_for(lambda: not _exists(core.read_namespaced_config_map, "dep", ns), message="dependent to be collected")


def test_foreground_propagation(core: Any, raw: Any, ns: str) -> None:
    """Foreground: the owner waits (foregroundDeletion finalizer) until dependents are gone, then goes."""
    owner = core.create_namespaced_config_map(ns, {"metadata": {"name": "owner"}})
    core.create_namespaced_config_map(
        ns,
        {
            "metadata": {
                "name": "dep",
                "finalizers": ["example.com/hold"],
                "ownerReferences": [_owner_ref(owner, blockOwnerDeletion=True)],
            }
        },
    )
    status, answer = raw.json("DELETE", f"/api/v1/namespaces/{ns}/configmaps/owner?propagationPolicy=Foreground")
    assert status == 200 and answer["metadata"]["finalizers"] == ["foregroundDeletion"]
    wait_for(
        lambda: core.read_namespaced_config_map("dep", ns).metadata.deletion_timestamp, message="dependent deleting"
    )
    assert _exists(core.read_namespaced_config_map, "owner", ns)
    core.patch_namespaced_config_map("dep", ns, {"metadata": {"finalizers": None}})
    wait_for(lambda: not _exists(core.read_namespaced_config_map, "owner", ns), message="owner to go")


def test_orphan_propagation(core: Any, ns: str) -> None:
    """Orphan: dependents stay and lose their ownerReference; the owner goes."""
    owner = core.create_namespaced_config_map(ns, {"metadata": {"name": "owner"}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "dep", "ownerReferences": [_owner_ref(owner)]}})
    core.delete_namespaced_config_map("owner", ns, propagation_policy="Orphan")
    wait_for(lambda: not _exists(core.read_namespaced_config_map, "owner", ns), message="owner to go")
    assert not core.read_namespaced_config_map("dep", ns).metadata.owner_references


def test_dependent_with_another_owner_survives(core: Any, ns: str) -> None:
    """A dependent with a remaining owner is kept; only the dangling reference is removed."""
    a = core.create_namespaced_config_map(ns, {"metadata": {"name": "a"}})
    b = core.create_namespaced_config_map(ns, {"metadata": {"name": "b"}})
    core.create_namespaced_config_map(
        ns, {"metadata": {"name": "dep", "ownerReferences": [_owner_ref(a), _owner_ref(b)]}}
    )
    core.delete_namespaced_config_map("a", ns)
    refs = wait_for(
        lambda: (lambda r: r if len(r) == 1 else None)(
            core.read_namespaced_config_map("dep", ns).metadata.owner_references or []
        ),
        message="dangling ref removed",
    )
    assert refs[0].name == "b"


def test_dependent_of_missing_owner_is_collected(core: Any, ns: str) -> None:
    """An object whose owners do not exist is garbage collected."""
    core.create_namespaced_config_map(
        ns,
        {
            "metadata": {
                "name": "orphaned",
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "name": "never",
                        "uid": "00000000-0000-0000-0000-000000000000",
                    }
                ],
            }
        },
    )
    wait_for(lambda: not _exists(core.read_namespaced_config_map, "orphaned", ns), message="collection")


def test_job_delete_orphans_pods_by_default_with_warning(raw: Any, ns: str) -> None:
    """batch/v1 Jobs default to orphaning their pods, and the API server warns about it."""
    job = {
        "metadata": {"name": "j"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}},
    }
    assert raw.json("POST", f"/apis/batch/v1/namespaces/{ns}/jobs", job)[0] == 201
    response = raw("DELETE", f"/apis/batch/v1/namespaces/{ns}/jobs/j")
    assert response.status == 200
    assert "child pods are preserved by default when jobs are deleted" in response.headers.get("Warning", "")


def test_uid_precondition_conflict(raw: Any, ns: str) -> None:
    """DeleteOptions.preconditions.uid that does not match: 409 Conflict "Precondition failed"."""
    raw.json("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "p"}})
    status, body = raw.json(
        "DELETE",
        f"/api/v1/namespaces/{ns}/configmaps/p",
        {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "other"}},
    )
    assert status == 409 and "Precondition failed: UID in precondition: other" in body["message"]


def test_invalid_propagation_policy_is_422(raw: Any, ns: str) -> None:
    """An unknown propagationPolicy is rejected."""
    raw.json("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "p"}})
    status, _ = raw.json("DELETE", f"/api/v1/namespaces/{ns}/configmaps/p?propagationPolicy=Sideways")
    assert status == 422


def test_delete_collection_with_label_selector(core: Any, ns: str) -> None:
    """deletecollection deletes what the selector matches and nothing else."""
    for name, tier in (("a", "x"), ("b", "x"), ("c", "y")):
        core.create_namespaced_config_map(ns, {"metadata": {"name": name, "labels": {"tier": tier}}})
    core.delete_collection_namespaced_config_map(ns, label_selector="tier=x")
    left = {c.metadata.name for c in core.list_namespaced_config_map(ns).items}
    assert left == {"c", "kube-root-ca.crt"}


def test_dry_run_delete_keeps_object(core: Any, ns: str) -> None:
    """dryRun=All on delete answers as if deleted but keeps the object."""
    core.create_namespaced_config_map(ns, {"metadata": {"name": "kept"}})
    core.delete_namespaced_config_map("kept", ns, dry_run="All")
    assert _exists(core.read_namespaced_config_map, "kept", ns)
