"""create / get / list / replace semantics: uid, resourceVersion, generation, names, errors.

References: API conventions (metadata, concurrency control and consistency),
https://github.com/kubernetes/community/blob/master/contributors/devel/sig-architecture/api-conventions.md
and the generic registry's behaviour (k8s.io/apiserver/pkg/registry).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from kubernetes.client.rest import ApiException
from simclient import warnings_of

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
    },
}


def _error(exc: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    import json

    return json.loads(exc.value.body)


def test_create_sets_system_metadata(core: Any, ns: str) -> None:
    """Create fills uid, a string resourceVersion and creationTimestamp (RFC 3339, UTC)."""
    cm = core.create_namespaced_config_map(ns, {"metadata": {"name": "a"}, "data": {"k": "v"}})
    assert re.fullmatch(r"[0-9a-f-]{36}", cm.metadata.uid)
    assert cm.metadata.resource_version.isdigit()
    assert cm.metadata.creation_timestamp is not None and cm.metadata.namespace == ns


def test_create_ignores_client_uid(raw: Any, ns: str) -> None:
    """uid is the server's: a uid in the body is replaced (rest.FillObjectMetaSystemFields)."""
    status, cm = raw.json("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "u", "uid": "mine"}})
    assert status == 201 and cm["metadata"]["uid"] != "mine"


def test_response_has_kind_and_api_version(raw: Any, ns: str) -> None:
    """Objects are answered with kind and apiVersion even when the body omitted them (defaulted from the URL)."""
    status, cm = raw.json("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "k"}})
    assert status == 201 and (cm["kind"], cm["apiVersion"]) == ("ConfigMap", "v1")


def test_resource_version_is_monotonic(core: Any, ns: str) -> None:
    """Every write gets a higher resourceVersion (one cluster-wide revision)."""
    a = core.create_namespaced_config_map(ns, {"metadata": {"name": "a"}})
    b = core.create_namespaced_config_map(ns, {"metadata": {"name": "b"}})
    assert int(b.metadata.resource_version) > int(a.metadata.resource_version)


def test_get_missing_is_404(core: Any, ns: str) -> None:
    """GET of a missing object: 404 NotFound with details name/kind."""
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_config_map("nope", ns)
    body = _error(exc)
    assert exc.value.status == 404 and body["reason"] == "NotFound"
    assert body["message"] == 'configmaps "nope" not found'
    assert body["details"] == {"name": "nope", "kind": "configmaps"}


def test_create_existing_is_409_already_exists(core: Any, ns: str) -> None:
    """Creating an existing name is 409 AlreadyExists."""
    core.create_namespaced_config_map(ns, {"metadata": {"name": "dup"}})
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map(ns, {"metadata": {"name": "dup"}})
    assert exc.value.status == 409 and _error(exc)["reason"] == "AlreadyExists"


def test_create_in_missing_namespace_is_404(core: Any) -> None:
    """NamespaceLifecycle admission: creating in a namespace that does not exist is 404 namespaces "x" not found."""
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map("no-such-ns", {"metadata": {"name": "a"}})
    assert exc.value.status == 404 and _error(exc)["message"] == 'namespaces "no-such-ns" not found'


def test_list_in_missing_namespace_is_empty(core: Any) -> None:
    """Listing in a namespace that does not exist is an empty list, not an error."""
    assert core.list_namespaced_config_map("no-such-ns-either").items == []


def test_list_kind_and_resource_version(raw: Any, ns: str) -> None:
    """A list is <Kind>List with metadata.resourceVersion; items carry no kind/apiVersion (typed list encoding)."""
    raw.json("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "x"}})
    status, listing = raw.json("GET", f"/api/v1/namespaces/{ns}/configmaps")
    assert status == 200 and listing["kind"] == "ConfigMapList" and listing["apiVersion"] == "v1"
    assert listing["metadata"]["resourceVersion"].isdigit()
    names = [i["metadata"]["name"] for i in listing["items"]]
    assert names == sorted(names) and "x" in names
    assert "kind" not in listing["items"][0]


def test_list_all_namespaces(core: Any, ns: str) -> None:
    """/api/v1/configmaps lists across namespaces."""
    core.create_namespaced_config_map(ns, {"metadata": {"name": "everywhere"}})
    items = core.list_config_map_for_all_namespaces().items
    assert any(i.metadata.namespace == ns and i.metadata.name == "everywhere" for i in items)


def test_list_limit_and_continue(raw: Any, ns: str) -> None:
    """limit/continue paginate a list (metadata.continue, remainingItemCount)."""
    for i in range(5):
        raw.json("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": f"p{i}"}})
    _, page = raw.json("GET", f"/api/v1/namespaces/{ns}/configmaps?limit=2")
    assert len(page["items"]) == 2 and page["metadata"]["continue"] and page["metadata"]["remainingItemCount"] == 4
    seen = [i["metadata"]["name"] for i in page["items"]]
    while page["metadata"].get("continue"):
        _, page = raw.json("GET", f"/api/v1/namespaces/{ns}/configmaps?limit=2&continue={page['metadata']['continue']}")
        seen += [i["metadata"]["name"] for i in page["items"]]
    assert seen == sorted(seen) and len(seen) == 6  # five plus kube-root-ca.crt


def test_replace_with_stale_resource_version_is_409(core: Any, ns: str) -> None:
    """Optimistic concurrency: PUT with an old resourceVersion is 409 Conflict."""
    cm = core.create_namespaced_config_map(ns, {"metadata": {"name": "c"}, "data": {"a": "1"}})
    cm.data = {"a": "2"}
    core.replace_namespaced_config_map("c", ns, cm)
    cm.data = {"a": "3"}
    with pytest.raises(ApiException) as exc:
        core.replace_namespaced_config_map("c", ns, cm)
    body = _error(exc)
    assert exc.value.status == 409 and body["reason"] == "Conflict"
    assert "the object has been modified; please apply your changes to the latest version" in body["message"]


def test_replace_without_resource_version_is_unconditional(raw: Any, ns: str) -> None:
    """PUT without metadata.resourceVersion is an unconditional update for these kinds."""
    raw.json("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "u"}, "data": {"a": "1"}})
    status, cm = raw.json(
        "PUT", f"/api/v1/namespaces/{ns}/configmaps/u", {"metadata": {"name": "u"}, "data": {"a": "2"}}
    )
    assert status == 200 and cm["data"] == {"a": "2"}


def test_noop_replace_keeps_resource_version(core: Any, ns: str) -> None:
    """An update that changes nothing is not written: same resourceVersion."""
    cm = core.create_namespaced_config_map(ns, {"metadata": {"name": "same"}, "data": {"a": "1"}})
    again = core.replace_namespaced_config_map("same", ns, cm)
    assert again.metadata.resource_version == cm.metadata.resource_version


def test_replace_missing_is_404(raw: Any, ns: str) -> None:
    """PUT of an object that does not exist is 404 (ConfigMaps do not allow create-on-update)."""
    status, body = raw.json("PUT", f"/api/v1/namespaces/{ns}/configmaps/ghost", {"metadata": {"name": "ghost"}})
    assert status == 404 and body["reason"] == "NotFound"


def test_replace_name_mismatch_is_400(raw: Any, ns: str) -> None:
    """The body's name must match the URL's."""
    raw.json("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "n1"}})
    status, body = raw.json("PUT", f"/api/v1/namespaces/{ns}/configmaps/n1", {"metadata": {"name": "n2"}})
    assert status == 400 and "does not match the name on the URL" in body["message"]


def test_generation_bumps_on_spec_change_only(apps: Any, ns: str) -> None:
    """metadata.generation starts at 1 and counts spec changes; label changes do not bump it."""
    d = apps.create_namespaced_deployment(ns, DEPLOYMENT)
    assert d.metadata.generation == 1
    labelled = apps.patch_namespaced_deployment("web", ns, {"metadata": {"labels": {"x": "y"}}})
    assert labelled.metadata.generation == 1
    scaled = apps.patch_namespaced_deployment("web", ns, {"spec": {"replicas": 3}})
    assert scaled.metadata.generation == 2


def test_generation_not_bumped_by_status(apps: Any, ns: str) -> None:
    """A status write never changes generation (status subresource)."""
    apps.create_namespaced_deployment(ns, DEPLOYMENT)
    d = apps.patch_namespaced_deployment_status("web", ns, {"status": {"observedGeneration": 1, "replicas": 1}})
    assert d.metadata.generation == 1 and d.status.replicas == 1


def test_configmaps_have_no_generation(core: Any, ns: str) -> None:
    """Kinds without a spec have no metadata.generation."""
    cm = core.create_namespaced_config_map(ns, {"metadata": {"name": "g"}})
    assert cm.metadata.generation is None


def test_generate_name(core: Any, ns: str) -> None:
    """generateName gets a random 5-character suffix (names.SimpleNameGenerator)."""
    cm = core.create_namespaced_config_map(ns, {"metadata": {"generateName": "gen-"}})
    assert re.fullmatch(r"gen-[bcdfghjklmnpqrstvwxz2456789]{5}", cm.metadata.name)


def test_name_and_generate_name_missing_is_422(raw: Any, ns: str) -> None:
    """Neither name nor generateName: 422 Invalid, metadata.name Required value."""
    status, body = raw.json("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {}})
    assert status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    assert "name or generateName is required" in body["message"]


def test_kind_mismatch_is_400(raw: Any, ns: str) -> None:
    """A body of another kind than the URL's resource is a 400 BadRequest."""
    status, body = raw.json(
        "POST", f"/api/v1/namespaces/{ns}/configmaps", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    )
    assert status == 400 and body["reason"] == "BadRequest" and "cannot be handled as a ConfigMap" in body["message"]


def test_api_version_mismatch_is_400(raw: Any, ns: str) -> None:
    """A body whose apiVersion is not the URL's: "the API version in the data (...) does not match"."""
    body = dict(DEPLOYMENT, apiVersion="apps/v1beta2")
    status, answer = raw.json("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", body)
    assert status == 400
    assert answer["message"] == (
        "the API version in the data (apps/v1beta2) does not match the expected API version (apps/v1)"
    )


def test_namespace_mismatch_is_400(raw: Any, ns: str) -> None:
    """metadata.namespace differing from the URL's namespace is a 400 with the real message."""
    status, body = raw.json(
        "POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "m", "namespace": "other"}}
    )
    assert status == 400
    assert body["message"] == "the namespace of the provided object does not match the namespace sent on the request"


def test_cluster_scoped_objects_have_no_namespace(raw: Any) -> None:
    """Cluster-scoped objects have no namespace, even if the body gives one."""
    body = {"metadata": {"name": "sc-no-ns", "namespace": "default"}, "provisioner": "example.com/x"}
    status, sc = raw.json("POST", "/apis/storage.k8s.io/v1/storageclasses", body)
    assert status == 201 and "namespace" not in sc["metadata"]
    raw.json("DELETE", "/apis/storage.k8s.io/v1/storageclasses/sc-no-ns")


def test_cluster_scoped_resource_under_namespace_is_404(raw: Any, ns: str) -> None:
    """A cluster-scoped resource is not served under /namespaces/<ns>/."""
    assert raw.json("GET", f"/apis/storage.k8s.io/v1/namespaces/{ns}/storageclasses")[0] == 404


def test_create_with_resource_version_fails(raw: Any, ns: str) -> None:
    """resourceVersion must not be set on create: the storage layer answers 500 with that message."""
    status, body = raw.json(
        "POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "rv", "resourceVersion": "12"}}
    )
    assert status == 500 and body["message"] == "resourceVersion should not be set on objects to be created"


def test_secret_string_data_is_merged_into_data(core: Any, ns: str) -> None:
    """Secret stringData is write-only: merged into data as base64 (v1 conversion)."""
    s = core.create_namespaced_secret(
        ns, {"metadata": {"name": "s"}, "stringData": {"user": "admin"}, "data": {"other": "eA=="}}
    )
    assert s.data == {"user": "YWRtaW4=", "other": "eA=="} and s.string_data is None


def test_yaml_body_accepted(raw: Any, ns: str) -> None:
    """application/yaml bodies are accepted like JSON."""
    response = raw(
        "POST",
        f"/api/v1/namespaces/{ns}/configmaps",
        "metadata:\n  name: y\ndata:\n  a: b\n",
        headers={"Content-Type": "application/yaml"},
    )
    assert response.status == 201


def test_protobuf_body_is_415(raw: Any, ns: str) -> None:
    """Only JSON and YAML bodies: anything else is 415 UnsupportedMediaType."""
    response = raw(
        "POST",
        f"/api/v1/namespaces/{ns}/configmaps",
        b"\x00\x01",
        headers={"Content-Type": "application/vnd.kubernetes.protobuf"},
    )
    assert response.status == 415


def test_invalid_json_is_400(raw: Any, ns: str) -> None:
    """A body that is not JSON is a 400 BadRequest."""
    response = raw(
        "POST", f"/api/v1/namespaces/{ns}/configmaps", "{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status == 400


def test_service_gets_cluster_ip(core: Any, ns: str) -> None:
    """A ClusterIP Service is allocated an address from the service CIDR."""
    svc = core.create_namespaced_service(
        ns, {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}], "selector": {"a": "b"}}}
    )
    assert svc.spec.cluster_ip.startswith("10.96.") and svc.spec.cluster_ips == [svc.spec.cluster_ip]


def test_service_cluster_ip_already_allocated_is_422(core: Any, ns: str) -> None:
    """Asking for a clusterIP another Service holds is 422 "provided IP is already allocated"."""
    first = core.create_namespaced_service(ns, {"metadata": {"name": "a"}, "spec": {"ports": [{"port": 80}]}})
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_service(
            ns, {"metadata": {"name": "b"}, "spec": {"clusterIP": first.spec.cluster_ip, "ports": [{"port": 80}]}}
        )
    assert exc.value.status == 422 and "provided IP is already allocated" in _error(exc)["message"]


def test_node_port_allocated(core: Any, ns: str) -> None:
    """NodePort Services get a port from 30000-32767."""
    svc = core.create_namespaced_service(
        ns, {"metadata": {"name": "np"}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}}
    )
    assert 30000 <= svc.spec.ports[0].node_port <= 32767


def test_events_k8s_io_shares_core_events(raw: Any, ns: str) -> None:
    """events.k8s.io/v1 and core/v1 Events are two views of the same objects (regarding = involvedObject)."""
    event = {
        "metadata": {"name": "e1"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": ns},
        "reason": "Tested",
        "message": "hello",
        "type": "Normal",
    }
    assert raw.json("POST", f"/api/v1/namespaces/{ns}/events", event)[0] == 201
    status, seen = raw.json("GET", f"/apis/events.k8s.io/v1/namespaces/{ns}/events/e1")
    assert status == 200 and seen["regarding"]["name"] == "p" and seen["note"] == "hello"
    assert seen["apiVersion"] == "events.k8s.io/v1"


def test_lease_round_trip(raw: Any, ns: str) -> None:
    """coordination.k8s.io/v1 Leases are served."""
    lease = {"metadata": {"name": "l"}, "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}}
    status, created = raw.json("POST", f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases", lease)
    assert status == 201 and created["spec"]["holderIdentity"] == "me"


def test_unknown_field_warns_by_default(raw: Any, ns: str) -> None:
    """fieldValidation defaults to Warn: an unknown field is dropped and reported in a Warning header."""
    response = raw("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "w"}, "bogus": 1})
    assert response.status == 201 and 'unknown field "bogus"' in warnings_of(response)


def test_unknown_field_strict_is_400(raw: Any, ns: str) -> None:
    """fieldValidation=Strict refuses unknown fields with a 400 strict decoding error."""
    status, body = raw.json(
        "POST", f"/api/v1/namespaces/{ns}/configmaps?fieldValidation=Strict", {"metadata": {"name": "s"}, "bogus": 1}
    )
    assert status == 400 and "strict decoding error" in body["message"]


def test_duplicate_field_warns_or_fails(raw: Any, ns: str) -> None:
    """Duplicate JSON fields: a Warning by default, a 400 strict decoding error with fieldValidation=Strict."""
    body = '{"metadata": {"name": "dup"}, "data": {"a": "1"}, "data": {"a": "2"}}'
    headers = {"Content-Type": "application/json"}
    response = raw("POST", f"/api/v1/namespaces/{ns}/configmaps", body, headers=headers)
    assert response.status == 201 and 'duplicate field "data"' in warnings_of(response)
    response = raw(
        "POST",
        f"/api/v1/namespaces/{ns}/configmaps?fieldValidation=Strict",
        body.replace('"dup"', '"dup2"'),
        headers=headers,
    )
    assert response.status == 400


def test_immutable_configmap_rejects_data_change(core: Any, ns: str) -> None:
    """An immutable ConfigMap's data cannot change (422), the update pipeline hands validation the old object."""
    core.create_namespaced_config_map(ns, {"metadata": {"name": "frozen"}, "data": {"a": "1"}, "immutable": True})
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_config_map("frozen", ns, {"data": {"a": "2"}})
    assert exc.value.status == 422
