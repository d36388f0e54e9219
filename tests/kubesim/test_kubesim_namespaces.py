"""Namespace lifecycle: defaults, termination, the NamespaceLifecycle admission, protected namespaces.

References: https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces/ and the
namespace controller (pkg/controller/namespace), NamespaceLifecycle admission
(plugin/pkg/admission/namespace/lifecycle).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from kubernetes.client.rest import ApiException
from kubesim_harness import wait_for


def _fresh(core: Any) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    core.create_namespace({"metadata": {"name": name}})
    return name


def _gone(core: Any, name: str) -> bool:
    try:
        core.read_namespace(name)
    except ApiException as e:
        return e.status == 404
    return False


def test_new_namespace_defaults(core: Any) -> None:
    """A new namespace is Active, has the kubernetes finalizer and the kubernetes.io/metadata.name label."""
    name = _fresh(core)
    ns = core.read_namespace(name)
    assert ns.status.phase == "Active" and ns.spec.finalizers == ["kubernetes"]
    assert ns.metadata.labels["kubernetes.io/metadata.name"] == name
    core.delete_namespace(name)


def test_new_namespace_gets_default_service_account_and_root_ca(core: Any, ns: str) -> None:
    """Controllers put a "default" ServiceAccount and the kube-root-ca.crt ConfigMap in every namespace."""
    assert core.read_namespaced_service_account("default", ns).metadata.name == "default"
    assert "BEGIN CERTIFICATE" in core.read_namespaced_config_map("kube-root-ca.crt", ns).data["ca.crt"]


def test_system_namespaces_exist(core: Any) -> None:
    """A cluster starts with default, kube-system, kube-public and kube-node-lease."""
    names = {n.metadata.name for n in core.list_namespace().items}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names


def test_kubernetes_service_in_default(core: Any) -> None:
    """The default namespace holds the kubernetes Service at the first service IP."""
    svc = core.read_namespaced_service("kubernetes", "default")
    assert svc.spec.cluster_ip == "10.96.0.1" and svc.spec.ports[0].port == 443


def test_delete_namespace_terminates_then_disappears(core: Any, raw: Any) -> None:
    """Deleting a namespace answers it Terminating with deletionTimestamp; its content goes, then the namespace."""
    name = _fresh(core)
    core.create_namespaced_config_map(name, {"metadata": {"name": "x"}})
    status, answer = raw.json("DELETE", f"/api/v1/namespaces/{name}")
    assert status == 200 and answer["kind"] == "Namespace"
    assert answer["status"]["phase"] == "Terminating" and answer["metadata"]["deletionTimestamp"]
    assert answer["spec"]["finalizers"] == ["kubernetes"]
    wait_for(lambda: _gone(core, name), message=f"namespace {name} to disappear")
    assert core.list_namespaced_config_map(name).items == []


def test_create_in_terminating_namespace_is_403(core: Any) -> None:
    """While a namespace terminates, creating in it is 403 "... because it is being terminated"."""
    name = _fresh(core)
    # A finalizer on content keeps the namespace Terminating until it is removed.
    core.create_namespaced_config_map(name, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    core.delete_namespace(name)
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map(name, {"metadata": {"name": "late"}})
    body = json.loads(exc.value.body)
    assert exc.value.status == 403 and body["reason"] == "Forbidden"
    assert body["message"] == (
        f'configmaps "late" is forbidden: unable to create new content in namespace {name} '
        "because it is being terminated"
    )
    assert body["details"]["causes"][0]["reason"] == "NamespaceTerminating"
    core.patch_namespaced_config_map("held", name, {"metadata": {"finalizers": None}})
    wait_for(lambda: _gone(core, name), message=f"namespace {name} to disappear")


def test_terminating_namespace_reports_remaining_content(core: Any) -> None:
    """The namespace controller reports NamespaceContentRemaining / NamespaceFinalizersRemaining conditions."""
    name = _fresh(core)
    core.create_namespaced_config_map(name, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    core.delete_namespace(name)

    def conditions() -> dict[str, Any] | None:
        found = {c.type: c for c in core.read_namespace(name).status.conditions or []}
        return found if "NamespaceFinalizersRemaining" in found else None

    found = wait_for(conditions, message="namespace conditions")
    assert found["NamespaceContentRemaining"].status == "True"
    assert "example.com/hold" in found["NamespaceFinalizersRemaining"].message
    core.patch_namespaced_config_map("held", name, {"metadata": {"finalizers": None}})
    wait_for(lambda: _gone(core, name), message=f"namespace {name} to disappear")


def test_update_in_terminating_namespace_allowed(core: Any) -> None:
    """Only creation is refused in a terminating namespace; existing objects can still be updated."""
    name = _fresh(core)
    core.create_namespaced_config_map(name, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    core.delete_namespace(name)
    patched = core.patch_namespaced_config_map("held", name, {"data": {"a": "b"}})
    assert patched.data == {"a": "b"}
    core.patch_namespaced_config_map("held", name, {"metadata": {"finalizers": None}})
    wait_for(lambda: _gone(core, name), message=f"namespace {name} to disappear")


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
def test_system_namespaces_cannot_be_deleted(core: Any, name: str) -> None:
    """default, kube-system and kube-public "may not be deleted" (403)."""
    with pytest.raises(ApiException) as exc:
        core.delete_namespace(name)
    assert exc.value.status == 403 and "this namespace may not be deleted" in json.loads(exc.value.body)["message"]


def test_namespace_spec_finalizers_change_only_via_finalize(core: Any, raw: Any) -> None:
    """spec.finalizers of a namespace is kept on update; only the finalize subresource changes it."""
    name = _fresh(core)
    ns = core.read_namespace(name)
    ns.spec.finalizers = []
    assert core.replace_namespace(name, ns).spec.finalizers == ["kubernetes"]
    body = raw.json("GET", f"/api/v1/namespaces/{name}")[1]
    body["spec"]["finalizers"] = ["example.com/extra", "kubernetes"]
    status, out = raw.json("PUT", f"/api/v1/namespaces/{name}/finalize", body)
    assert status == 200 and out["spec"]["finalizers"] == ["example.com/extra", "kubernetes"]
    core.delete_namespace(name)
