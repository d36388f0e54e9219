"""kubesim behaves as the kube-apiserver and kube-controller-manager do where part 2 had shortcuts.

- PVC updates may set an unset spec.volumeName / storageClassName once (ValidatePersistentVolumeClaimUpdate);
- the pods/binding subresource, and the scheduler binds through it;
- a Deployment's revision annotation is written with UpdateStatus (deployment status strategy);
- DefaultStorageClass and StorageObjectInUseProtection admission; the protection finalizers' lifecycle;
- DELETE answers the object for registries with ReturnDeletedObject, a Status for the others;
- graceful pod deletion (deletionTimestamp + grace period; the kubelet ends it with grace 0);
- unqualified finalizers: 422 on built-in kinds, a warning on custom resources.

Pure API behaviour runs on a fresh in-process `rest.Api` (isolated: cluster-scoped StorageClasses of
other tests cannot interfere) or on the session kubesim over HTTPS; the controllers' side on an
in-process `SimCluster`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from kubesim import errors
from kubesim.resources import Registry
from kubesim.rest import Api
from kubesim.store import Event, Store
from simcluster import SimCluster, claim, deployment, storage_class, wait_for

DEFAULT = "storageclass.kubernetes.io/is-default-class"
REVISION = "deployment.kubernetes.io/revision"


# ---- fixtures and helpers ----------------------------------------------------------------------------------


@pytest.fixture
def api() -> Iterator[Api]:
    """A fresh API server in process (no simulated controllers)."""
    instance = Api(Store(), Registry(33), "1.33")
    instance.start()
    yield instance
    instance.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimCluster]:
    sim = SimCluster(tmp_path_factory.mktemp("fidelity"))
    yield sim
    sim.stop()


def create(api: Api, api_version: str, kind: str, body: dict[str, Any], ns: str | None = None) -> dict[str, Any]:
    return api.create(api.info(api_version, kind), body, ns).body


def invalid_causes(call: Callable[[], Any]) -> list[tuple[str, str]]:
    with pytest.raises(errors.ApiError) as refused:
        call()
    assert refused.value.code == 422, refused.value.message
    return [(c["field"], c["reason"]) for c in refused.value.details["causes"]]


def pod_body(name: str, node: str = "", grace: int | None = None, **meta: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "nginx:1.27"}]}
    if node:
        spec["nodeName"] = node
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"metadata": {"name": name, **meta}, "spec": spec}


def seconds_from_now(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp() - time.time()


def gone(read: Callable[[], Any]) -> bool:
    try:
        read()
    except ApiException as e:
        return e.status == 404
    return False


# ---- 1. PVC updates: volumeName and storageClassName may be set once ---------------------------------------


def test_claim_volume_name_and_class_may_be_set_once(api: Api) -> None:
    info = api.info("v1", "PersistentVolumeClaim")
    pvc = create(api, "v1", "PersistentVolumeClaim", claim("data", "gold"), "default")
    pvc["spec"]["volumeName"] = "pv-1"
    pvc = api.update(info, pvc, "default").body  # unset -> set: allowed once
    assert pvc["spec"]["volumeName"] == "pv-1"
    pvc["spec"]["volumeName"] = "pv-2"
    assert invalid_causes(lambda: api.update(info, pvc, "default")) == [("spec", "FieldValueForbidden")]

    # No default class in this cluster: the claim keeps no class, and one may be set later (never "").
    plain = create(api, "v1", "PersistentVolumeClaim", claim("plain", None), "default")
    assert "storageClassName" not in plain["spec"]
    plain["spec"]["storageClassName"] = ""
    assert invalid_causes(lambda: api.update(info, plain, "default")) == [("spec", "FieldValueForbidden")]
    plain["spec"]["storageClassName"] = "gold"
    plain = api.update(info, plain, "default").body
    plain["spec"]["storageClassName"] = "silver"
    assert invalid_causes(lambda: api.update(info, plain, "default")) == [("spec", "FieldValueForbidden")]


def test_claim_class_may_follow_the_beta_annotation(api: Api) -> None:
    info = api.info("v1", "PersistentVolumeClaim")
    body = claim("legacy", None)
    body["metadata"]["annotations"] = {"volume.beta.kubernetes.io/storage-class": "gold"}
    pvc = create(api, "v1", "PersistentVolumeClaim", body, "default")
    pvc["spec"]["storageClassName"] = "silver"  # not the annotation's class
    assert invalid_causes(lambda: api.update(info, pvc, "default")) == [("spec", "FieldValueForbidden")]
    pvc["spec"]["storageClassName"] = "gold"
    assert api.update(info, pvc, "default").body["spec"]["storageClassName"] == "gold"


# ---- 4. DefaultStorageClass admission ----------------------------------------------------------------------


def test_default_storage_class_admission_picks_the_newest_default(api: Api) -> None:
    sc, classes = "storage.k8s.io/v1", "storage.k8s.io/storageclasses"
    pvc = create(api, "v1", "PersistentVolumeClaim", claim("before", None), "default")
    assert "storageClassName" not in pvc["spec"]  # no default class: the claim keeps none

    def default_class(name: str) -> None:
        annotations = {DEFAULT: "true"}
        create(
            api,
            sc,
            "StorageClass",
            storage_class(name, "a.csi.example.com", metadata={"name": name, "annotations": annotations}),
        )

    default_class("zzz-old")
    stored = api.store.get(classes, "", "zzz-old")
    api.store.put(classes, {**stored, "metadata": {**stored["metadata"], "creationTimestamp": "2020-01-01T00:00:00Z"}})
    default_class("bbb-new")
    default_class("aaa-new")
    # GetDefaultClass: the newest first, then the name in ascending order (aaa-new and bbb-new share a second).
    classless = create(api, "v1", "PersistentVolumeClaim", claim("classless", None), "default")
    assert classless["spec"]["storageClassName"] == "aaa-new"
    assert create(api, "v1", "PersistentVolumeClaim", claim("empty", ""), "default")["spec"]["storageClassName"] == ""
    beta = claim("beta", None)
    beta["metadata"]["annotations"] = {"volume.beta.kubernetes.io/storage-class": "zzz-old"}
    assert "storageClassName" not in create(api, "v1", "PersistentVolumeClaim", beta, "default")["spec"]


# ---- 5. StorageObjectInUseProtection admission -------------------------------------------------------------


def test_claims_and_volumes_get_protection_finalizers(api: Api) -> None:
    pvc = create(api, "v1", "PersistentVolumeClaim", claim("data", "gold"), "default")
    assert pvc["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    body = claim("again", "gold")
    body["metadata"]["finalizers"] = ["example.com/keep", "kubernetes.io/pvc-protection"]
    again = create(api, "v1", "PersistentVolumeClaim", body, "default")
    assert again["metadata"]["finalizers"] == ["example.com/keep", "kubernetes.io/pvc-protection"]
    pv = {
        "metadata": {"name": "pv-a"},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/x"}},
    }
    assert create(api, "v1", "PersistentVolume", pv)["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]
    # Deleting a protected claim leaves it Terminating until the finalizer goes.
    answer = api.delete(api.info("v1", "PersistentVolumeClaim"), "data", "default").body
    assert answer["kind"] == "PersistentVolumeClaim" and answer["metadata"]["deletionTimestamp"]
    assert api.get(api.info("v1", "PersistentVolumeClaim"), "default", "data")["metadata"]["deletionTimestamp"]


# ---- 6. DELETE answers -------------------------------------------------------------------------------------


def test_delete_answers_the_object_where_the_registry_returns_it(api: Api) -> None:
    storage = "storage.k8s.io/v1"
    create(api, storage, "StorageClass", storage_class("gold", "a.csi.example.com"))
    create(api, storage, "CSIDriver", {"metadata": {"name": "a.csi.example.com"}, "spec": {}})
    create(api, "v1", "ServiceAccount", {"metadata": {"name": "robot"}}, "default")
    create(api, "v1", "ConfigMap", {"metadata": {"name": "cm"}}, "default")
    pv_info = api.info("v1", "PersistentVolume")
    pv = create(
        api,
        "v1",
        "PersistentVolume",
        {
            "metadata": {"name": "pv-b"},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/x"}},
        },
    )
    pv["metadata"]["finalizers"] = []
    api.update(pv_info, pv)
    cases = [
        (storage, "StorageClass", "gold", ""),
        (storage, "CSIDriver", "a.csi.example.com", ""),
        ("v1", "ServiceAccount", "robot", "default"),
        ("v1", "PersistentVolume", "pv-b", ""),
    ]
    for api_version, kind, name, ns in cases:
        body = api.delete(api.info(api_version, kind), name, ns).body
        assert (body["kind"], body["apiVersion"], body["metadata"]["name"]) == (kind, api_version, name)
        assert "deletionTimestamp" not in body["metadata"]
    status = api.delete(api.info("v1", "ConfigMap"), "cm", "default").body
    assert (status["kind"], status["status"], status["details"]["kind"]) == ("Status", "Success", "configmaps")


def test_the_typed_client_deletes_storage_classes(api_client: Any) -> None:
    storage = client.StorageV1Api(api_client)
    name = f"sc-{uuid.uuid4().hex[:8]}"
    storage.create_storage_class(storage_class(name, "a.csi.example.com"))
    deleted = storage.delete_storage_class(name)  # a V1StorageClass, no _preload_content=False needed
    assert isinstance(deleted, client.V1StorageClass) and deleted.metadata.name == name


# ---- 2. pods/binding ---------------------------------------------------------------------------------------


def test_pods_binding_subresource(raw: Any, core: Any, ns: str) -> None:
    core.create_namespaced_pod(ns, pod_body("web"))
    path = f"/api/v1/namespaces/{ns}/pods/web/binding"
    binding = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": "web"},
        "target": {"kind": "Node", "name": "node-a"},
    }
    code, body = raw.json("POST", path, binding)
    assert (code, body) == (
        201,
        {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201},
    )
    pod = core.read_namespaced_pod("web", ns)
    assert pod.spec.node_name == "node-a"
    assert [(c.type, c.status) for c in pod.status.conditions] == [("PodScheduled", "True")]
    code, body = raw.json("POST", path, {**binding, "target": {"name": "node-b"}})
    assert (code, body["reason"]) == (409, "Conflict")
    assert (
        body["message"]
        == 'Operation cannot be fulfilled on pods/binding "web": pod web is already assigned to node "node-a"'
    )
    code, body = raw.json("POST", path, {**binding, "metadata": {"name": "other"}})
    assert (code, body["message"]) == (400, "name in URL does not match name in Binding object")
    core.create_namespaced_pod(ns, pod_body("idle"))
    code, body = raw.json(
        "POST", f"/api/v1/namespaces/{ns}/pods/idle/binding", {"metadata": {"name": "idle"}, "target": {}}
    )
    assert (code, body["message"]) == (500, "target.name: Required value")
    code, body = raw.json(
        "POST", f"/api/v1/namespaces/{ns}/pods/none/binding", {**binding, "metadata": {"name": "none"}}
    )
    assert code == 404
    code, discovery = raw.json("GET", "/api/v1")
    entry = next(r for r in discovery["resources"] if r["name"] == "pods/binding")
    assert (entry["kind"], entry["verbs"]) == ("Binding", ["create"])


# ---- 3. Deployment status strategy -------------------------------------------------------------------------


def test_deployment_status_updates_keep_metadata_but_not_labels_or_generation(api: Api) -> None:
    info = api.info("apps/v1", "Deployment")
    created = create(api, "apps/v1", "Deployment", deployment("web"), "default")
    created["metadata"]["annotations"] = {REVISION: "1"}
    created["metadata"]["labels"] = {"changed": "yes"}
    created["status"] = {"observedGeneration": 1}
    written = api.update(info, created, "default", subresource="status").body
    assert written["metadata"]["annotations"] == {REVISION: "1"}
    assert "labels" not in written["metadata"]  # deploymentStatusStrategy resets the labels
    assert written["metadata"]["generation"] == 1 and written["status"] == {"observedGeneration": 1}
    # On the main resource an annotation change does bump the generation (deploymentStrategy.PrepareForUpdate).
    written["metadata"]["annotations"]["note"] = "x"
    assert api.update(info, written, "default").body["metadata"]["generation"] == 2


# ---- 7. graceful pod deletion (API side) -------------------------------------------------------------------


def test_pod_deletion_is_graceful_for_scheduled_pods(api: Api) -> None:
    info = api.info("v1", "Pod")
    seen: list[Event] = []
    api.subscribe(lambda e: seen.append(e) if e.key == "/pods" else None)
    create(api, "v1", "Pod", pod_body("slow", node="node-1", grace=45), "default")
    answer = api.delete(info, "slow", "default").body
    assert answer["kind"] == "Pod" and answer["metadata"]["deletionGracePeriodSeconds"] == 45
    assert 40 < seconds_from_now(answer["metadata"]["deletionTimestamp"]) <= 46  # when the grace period ends
    kept = api.get(info, "default", "slow")
    kept["status"] = {**kept["status"], "phase": "Running"}
    api.update(info, kept, "default", subresource="status")  # an update in the grace period keeps the pod
    shorter = api.delete(info, "slow", "default", options={"gracePeriodSeconds": 10}).body
    assert shorter["metadata"]["deletionGracePeriodSeconds"] == 10
    assert 5 < seconds_from_now(shorter["metadata"]["deletionTimestamp"]) <= 11
    longer = api.delete(info, "slow", "default", options={"gracePeriodSeconds": "20"}).body  # only shorter counts
    assert longer["metadata"]["deletionGracePeriodSeconds"] == 10
    final = api.delete(info, "slow", "default", options={"gracePeriodSeconds": 0}).body
    assert final["metadata"]["deletionGracePeriodSeconds"] == 0
    with pytest.raises(errors.ApiError):
        api.get(info, "default", "slow")
    assert [e.type for e in seen][-2:] == ["MODIFIED", "DELETED"]


def test_pod_deletion_defaults_and_immediate_cases(api: Api) -> None:
    info = api.info("v1", "Pod")
    create(api, "v1", "Pod", pod_body("default-grace", node="node-1"), "default")
    answer = api.delete(info, "default-grace", "default").body
    assert answer["metadata"]["deletionGracePeriodSeconds"] == 30  # terminationGracePeriodSeconds' default
    create(api, "v1", "Pod", pod_body("negative", node="node-1"), "default")
    assert (
        api.delete(info, "negative", "default", options={"gracePeriodSeconds": -5}).body["metadata"][
            "deletionGracePeriodSeconds"
        ]
        == 1
    )
    create(api, "v1", "Pod", pod_body("pending"), "default")  # never scheduled: removed at once
    assert api.delete(info, "pending", "default").body["metadata"]["deletionGracePeriodSeconds"] == 0
    assert api.store.get("/pods", "default", "pending") is None
    create(api, "v1", "Pod", pod_body("kept", node="node-1", finalizers=["example.com/keep"]), "default")
    held = api.delete(info, "kept", "default", options={"gracePeriodSeconds": 0}).body
    assert held["metadata"]["deletionGracePeriodSeconds"] == 0 and held["metadata"]["finalizers"] == [
        "example.com/keep"
    ]
    assert api.store.get("/pods", "default", "kept") is not None  # finalizers hold it


# ---- 8. finalizer names ------------------------------------------------------------------------------------


def test_unqualified_finalizers_warn_on_custom_resources_only(api: Api) -> None:
    crd_info = api.info("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    crd = {
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }
    created = api.create(crd_info, crd).body
    assert created["metadata"]["finalizers"] == ["customresourcecleanup.apiextensions.k8s.io"]
    created["metadata"]["labels"] = {"tier": "x"}
    api.update(crd_info, created)  # the server's own finalizer passes validation on update too
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "finalizers": ["cleanup", "cleanup.example.com", "example.com/ok"]},
    }
    outcome = api.create(api.info("example.com/v1", "Widget"), widget, "default")
    assert outcome.warnings == [
        'metadata.finalizers: "cleanup": prefer a domain-qualified finalizer name to avoid accidental conflicts '
        "with other finalizer writers",
        'metadata.finalizers: "cleanup.example.com": prefer a domain-qualified finalizer name including a path (/) '
        "to avoid accidental conflicts with other finalizer writers",
    ]
    configmap = {"metadata": {"name": "cm", "finalizers": ["cleanup"]}}
    assert invalid_causes(lambda: api.create(api.info("v1", "ConfigMap"), configmap, "default")) == [
        ("metadata.finalizers[0]", "FieldValueInvalid")
    ]


# ---- the controllers, through the API ----------------------------------------------------------------------


def test_controllers_have_no_way_around_the_api(cluster: SimCluster) -> None:
    from kubesim.controllers.base import Client

    assert not hasattr(Client, "put_direct")


def test_claims_bind_and_pods_schedule_through_the_api(cluster: SimCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    ns = cluster.namespace()
    bindings: list[tuple[str, str]] = []
    claim_writes: list[str] = []
    real_bind, real_update = cluster.api.bind_pod, cluster.api.update

    def bind(namespace: str, name: str, binding: Any, **kw: Any) -> Any:
        if namespace == ns:
            bindings.append((name, binding["target"]["name"]))
        return real_bind(namespace, name, binding, **kw)

    def update(info: Any, obj: Any, *args: Any, **kw: Any) -> Any:
        if (
            info.kind == "PersistentVolumeClaim"
            and obj["metadata"].get("namespace") == ns
            and obj["spec"].get("volumeName")
        ):
            claim_writes.append(obj["metadata"]["name"])
        return real_update(info, obj, *args, **kw)

    monkeypatch.setattr(cluster.api, "bind_pod", bind)
    monkeypatch.setattr(cluster.api, "update", update)
    sc = f"fast-{ns}"
    cluster.storage.create_storage_class(storage_class(sc, "fast.csi.example.com"))
    cluster.core.create_namespaced_persistent_volume_claim(ns, claim("data", sc))
    volume = {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}
    body = pod_body("app")
    body["spec"]["volumes"] = [volume]
    cluster.core.create_namespaced_pod(ns, body)
    pod = wait_for(
        lambda: (lambda p: p if p.status.phase == "Running" else None)(cluster.core.read_namespaced_pod("app", ns))
    )
    assert bindings == [("app", pod.spec.node_name)]
    assert "data" in claim_writes
    bound = cluster.core.read_namespaced_persistent_volume_claim("data", ns)
    assert bound.metadata.annotations["pv.kubernetes.io/bind-completed"] == "yes" and bound.spec.volume_name
    cluster.storage.delete_storage_class(sc)


def test_a_classless_claim_gets_a_default_class_that_appears_later(cluster: SimCluster) -> None:
    ns = cluster.namespace()
    cluster.core.create_namespaced_persistent_volume_claim(ns, claim("late", None))
    cluster.settle()
    assert cluster.core.read_namespaced_persistent_volume_claim("late", ns).spec.storage_class_name is None
    name = f"default-{ns}"
    cluster.storage.create_storage_class(
        storage_class(name, "late.csi.example.com", metadata={"name": name, "annotations": {DEFAULT: "true"}})
    )
    try:
        c = wait_for(
            lambda: (lambda c: c if c.status.phase == "Bound" else None)(
                cluster.core.read_namespaced_persistent_volume_claim("late", ns)
            ),
            message="claim bound",
        )
        assert c.spec.storage_class_name == name  # RetroactiveDefaultStorageClass, through an update
    finally:
        cluster.storage.delete_storage_class(name)


def test_the_deployment_revision_is_written_with_update_status(
    cluster: SimCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    ns = cluster.namespace()
    writes: list[str] = []
    real_update = cluster.api.update

    def update(info: Any, obj: Any, *args: Any, subresource: str = "", **kw: Any) -> Any:
        if info.kind == "Deployment" and REVISION in (obj["metadata"].get("annotations") or {}):
            old = cluster.api.store.get("apps/deployments", ns, obj["metadata"]["name"]) or {}
            if REVISION not in (old.get("metadata", {}).get("annotations") or {}):
                writes.append(subresource)
        return real_update(info, obj, *args, subresource=subresource, **kw)

    monkeypatch.setattr(cluster.api, "update", update)
    cluster.apps.create_namespaced_deployment(ns, deployment("web"))
    d = wait_for(
        lambda: (lambda d: d if (d.metadata.annotations or {}).get(REVISION) else None)(
            cluster.apps.read_namespaced_deployment("web", ns)
        ),
        message="revision annotation",
    )
    assert d.metadata.annotations[REVISION] == "1" and d.metadata.generation == 1
    assert writes == ["status"]
    wait_for(lambda: cluster.apps.read_namespaced_deployment("web", ns).status.observed_generation == 1)


def test_a_claim_in_use_stays_terminating_until_its_pod_is_gone(cluster: SimCluster) -> None:
    ns = cluster.namespace()
    sc = f"prot-{ns}"
    cluster.storage.create_storage_class(storage_class(sc, "prot.csi.example.com"))
    cluster.core.create_namespaced_persistent_volume_claim(ns, claim("data", sc))
    body = pod_body("user")
    body["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    cluster.core.create_namespaced_pod(ns, body)
    wait_for(lambda: cluster.core.read_namespaced_pod("user", ns).status.phase == "Running", message="Running")
    pv_name = cluster.core.read_namespaced_persistent_volume_claim("data", ns).spec.volume_name
    assert cluster.core.read_persistent_volume(pv_name).metadata.finalizers == ["kubernetes.io/pv-protection"]
    cluster.core.delete_namespaced_persistent_volume_claim("data", ns)
    cluster.settle()
    terminating = cluster.core.read_namespaced_persistent_volume_claim("data", ns)
    assert terminating.metadata.deletion_timestamp and terminating.metadata.finalizers == [
        "kubernetes.io/pvc-protection"
    ]
    cluster.core.delete_namespaced_pod("user", ns)
    wait_for(
        lambda: gone(lambda: cluster.core.read_namespaced_persistent_volume_claim("data", ns)), message="claim gone"
    )
    wait_for(lambda: gone(lambda: cluster.core.read_persistent_volume(pv_name)), message="volume reclaimed")
    cluster.storage.delete_storage_class(sc)


def test_the_kubelet_ends_a_graceful_deletion_quickly(cluster: SimCluster) -> None:
    ns = cluster.namespace()
    cluster.core.create_namespaced_pod(ns, pod_body("web", grace=60))
    wait_for(lambda: cluster.core.read_namespaced_pod("web", ns).status.phase == "Running", message="Running")
    started = time.monotonic()
    answer = cluster.core.delete_namespaced_pod("web", ns)
    assert answer.metadata.deletion_timestamp and answer.metadata.deletion_grace_period_seconds == 60
    wait_for(lambda: gone(lambda: cluster.core.read_namespaced_pod("web", ns)), timeout=5, interval=0.005)
    assert time.monotonic() - started < 0.5
    killing = cluster.events(ns, "web", "Killing")
    assert [(e.message, e.source.component) for e in killing] == [("Stopping container c", "kubelet")]
    cluster.core.create_namespaced_pod(ns, pod_body("now"))
    wait_for(lambda: cluster.core.read_namespaced_pod("now", ns).status.phase == "Running", message="Running")
    cluster.core.delete_namespaced_pod("now", ns, grace_period_seconds=0)
    assert gone(lambda: cluster.core.read_namespaced_pod("now", ns))  # grace 0: gone at once
