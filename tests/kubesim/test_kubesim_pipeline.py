"""The write pipeline end to end over HTTP: defaulting, admission and validation are wired in, in the
real server's order (decode → defaults → mutating admission → validation → validating admission).

References: https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/ (ServiceAccount,
NamespaceLifecycle, PodSecurity) and https://kubernetes.io/docs/concepts/security/pod-security-admission/
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes.client.rest import ApiException
from simclient import warnings_of

POD = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def test_pod_gets_defaults_and_token_volume(core: Any, ns: str) -> None:
    """A new Pod is defaulted (restartPolicy, dnsPolicy, ...) and gets its service account and token volume."""
    pod = core.create_namespaced_pod(ns, POD)
    assert pod.spec.restart_policy == "Always" and pod.spec.dns_policy == "ClusterFirst"
    assert pod.spec.service_account_name == "default"
    assert any(v.name.startswith("kube-api-access-") for v in pod.spec.volumes)
    mounts = pod.spec.containers[0].volume_mounts
    assert any(m.mount_path == "/var/run/secrets/kubernetes.io/serviceaccount" and m.read_only for m in mounts)


def test_pod_with_missing_service_account_is_403(core: Any, ns: str) -> None:
    """ServiceAccount admission: a pod naming an account that does not exist is refused (403)."""
    body = json.loads(json.dumps(POD))
    body["spec"]["serviceAccountName"] = "nobody"
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_pod(ns, body)
    assert exc.value.status == 403
    assert "error looking up service account" in json.loads(exc.value.body)["message"]


def test_service_account_opting_out_of_automount(core: Any, ns: str) -> None:
    """automountServiceAccountToken: false on the account means no token volume for its pods."""
    core.create_namespaced_service_account(ns, {"metadata": {"name": "quiet"}, "automountServiceAccountToken": False})
    body = json.loads(json.dumps(POD))
    body["spec"]["serviceAccountName"] = "quiet"
    pod = core.create_namespaced_pod(ns, body)
    assert not any(v.name.startswith("kube-api-access-") for v in pod.spec.volumes or [])


def test_pod_security_enforce_restricted(core: Any, raw: Any, ns: str) -> None:
    """A namespace labelled pod-security.kubernetes.io/enforce=restricted refuses a non-compliant pod (403)."""
    core.patch_namespace(ns, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})
    status, body = raw.json("POST", f"/api/v1/namespaces/{ns}/pods", POD)
    assert status == 403 and "violates PodSecurity" in body["message"]


def test_pod_security_warns_for_workloads(raw: Any, core: Any, ns: str) -> None:
    """Workloads (pod templates) are checked against the warn level only: created, with a Warning header."""
    core.patch_namespace(ns, {"metadata": {"labels": {"pod-security.kubernetes.io/warn": "restricted"}}})
    deployment = {
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            },
        },
    }
    response = raw("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", deployment)
    assert response.status == 201
    assert any("would violate PodSecurity" in w for w in warnings_of(response))


def test_validation_runs_on_create(raw: Any, ns: str) -> None:
    """Invalid objects are refused with 422 Invalid and causes naming the field."""
    status, body = raw.json("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "UPPER"}})
    assert status == 422 and body["details"]["causes"][0]["field"] == "metadata.name"


def test_validation_sees_old_object_on_update(apps: Any, ns: str) -> None:
    """Immutable fields are checked against the stored object: a Deployment's selector cannot change."""
    deployment = {
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b", "c": "d"}},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
        },
    }
    apps.create_namespaced_deployment(ns, deployment)
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment("d", ns, {"spec": {"selector": {"matchLabels": {"c": "d"}}}})
    assert exc.value.status == 422 and "field is immutable" in exc.value.body
