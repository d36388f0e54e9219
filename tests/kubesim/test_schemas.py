"""kubesim.schemas: the OpenAPI schemas kubernetes-validate ships, per served Kubernetes version.

Strategic merge (patch.py) and validation navigate these; the merge keys and strategies asserted here are
the ones the real API server uses (x-kubernetes-patch-* in the Kubernetes OpenAPI document, see
https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/).
"""

from __future__ import annotations

import time

import pytest
from kubesim import schemas as schemas_module
from kubesim.schemas import (
    Schemas,
    is_closed_object,
    list_map_keys,
    list_type,
    normalize_version,
    patch_merge_key,
    patch_strategy,
    types_of,
)

VERSIONS = ("1.30", "1.33", "1.37")

# Every kind px.airflow sends, with the group/version it is served at.
OUR_KINDS = [
    ("v1", "Namespace"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("v1", "ServiceAccount"),
    ("v1", "PersistentVolumeClaim"),
    ("v1", "PersistentVolume"),
    ("v1", "Pod"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("apps/v1", "ReplicaSet"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
    ("storage.k8s.io/v1", "StorageClass"),
    ("storage.k8s.io/v1", "CSIDriver"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("networking.k8s.io/v1", "Ingress"),
    ("policy/v1", "PodDisruptionBudget"),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
]


@pytest.fixture(scope="module", params=VERSIONS)
def schemas(request: pytest.FixtureRequest) -> Schemas:
    return Schemas(request.param)


@pytest.mark.parametrize(("api_version", "kind"), OUR_KINDS)
def test_every_kind_we_send_has_a_schema(schemas: Schemas, api_version: str, kind: str) -> None:
    node = schemas.kind(api_version, kind)
    assert node is not None
    assert "metadata" in node["properties"]


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [("apps/v1beta1", "Deployment"), ("v1", "Deployment"), ("example.com/v1", "Widget"), ("batch/v1beta1", "CronJob")],
)
def test_kinds_a_version_does_not_serve_have_no_schema(api_version: str, kind: str) -> None:
    # batch/v1beta1 CronJob was removed in 1.25; custom resources have no built-in schema.
    assert Schemas("1.33").kind(api_version, kind) is None


def test_child_resolves_refs_and_navigates_items_and_maps() -> None:
    s = Schemas("1.33")
    deployment = s.kind("apps/v1", "Deployment")
    spec = s.child(deployment, "spec")
    assert spec is not None and "template" in spec["properties"]
    container = s.path(deployment, "spec", "template", "spec", "containers", "[]")
    assert container is not None and "image" in container["properties"]
    # "{}" is a map's value schema: labels are map[string]string.
    assert types_of(s.path(deployment, "metadata", "labels", "{}")) == ("string",)
    # resources.limits values are Quantities (string or number).
    limit = s.path(deployment, "spec", "template", "spec", "containers", "[]", "resources", "limits", "{}")
    assert limit is not None and "oneOf" in limit
    assert s.child(deployment, "nope") is None
    assert s.child(None, "spec") is None
    assert s.path(deployment, "spec", "replicas", "[]") is None


@pytest.mark.parametrize(
    ("path", "strategy", "merge_key"),
    [
        # The merge keys kubectl's strategic merge relies on (types.go patchStrategy/patchMergeKey tags).
        (("spec", "template", "spec", "containers"), ["merge"], "name"),
        (("spec", "template", "spec", "initContainers"), ["merge"], "name"),
        (("spec", "template", "spec", "volumes"), ["merge", "retainKeys"], "name"),
        (("spec", "template", "spec", "containers", "[]", "env"), ["merge"], "name"),
        (("spec", "template", "spec", "containers", "[]", "ports"), ["merge"], "containerPort"),
        (("spec", "template", "spec", "containers", "[]", "volumeMounts"), ["merge"], "mountPath"),
        (("metadata", "finalizers"), ["merge"], None),
        (("metadata", "ownerReferences"), ["merge"], "uid"),
        (("spec", "strategy"), ["retainKeys"], None),
        (("spec", "template", "spec", "tolerations"), [], None),
    ],
)
def test_patch_strategies_survive_ref_resolution(
    path: tuple[str, ...], strategy: list[str], merge_key: str | None
) -> None:
    s = Schemas("1.33")
    node = s.path(s.kind("apps/v1", "Deployment"), *path)
    assert node is not None
    assert patch_strategy(node) == strategy
    assert patch_merge_key(node) == merge_key


def test_list_map_keys_of_service_ports() -> None:
    # ServicePort is a list-map keyed by port and protocol (x-kubernetes-list-map-keys).
    s = Schemas("1.33")
    ports = s.path(s.kind("v1", "Service"), "spec", "ports")
    assert list_type(ports) == "map"
    assert list_map_keys(ports) == ["port", "protocol"]
    assert patch_merge_key(ports) == "port"


def test_strict_flavour_closes_structs_but_not_maps() -> None:
    s = Schemas("1.33")
    meta = s.path(s.kind("v1", "ConfigMap"), "metadata")
    assert is_closed_object(meta)
    assert not is_closed_object(s.path(s.kind("v1", "ConfigMap"), "data"))


@pytest.mark.parametrize(
    ("given", "expected"), [("1.33", "1.33"), ("v1.30", "1.30"), ("1.37.2", "1.37"), (" 1.31 ", "1.31")]
)
def test_normalize_version(given: str, expected: str) -> None:
    assert normalize_version(given) == expected


@pytest.mark.parametrize("version", ["1.99", "2.0"])
def test_unshipped_versions_are_refused(version: str) -> None:
    with pytest.raises(ValueError, match="ships no schemas"):
        Schemas(version)


def test_not_a_version() -> None:
    with pytest.raises(ValueError, match="not a Kubernetes version"):
        Schemas("latest")


def test_definitions_are_loaded_once_per_version_and_shared() -> None:
    first, second = Schemas("1.33"), Schemas("1.33")
    assert first.kind("v1", "Pod") is second.kind("v1", "Pod")  # no per-instance or per-request copies
    assert schemas_module._LOADED["1.33"] is first._loaded


def test_construction_is_lazy_and_loading_is_quick() -> None:
    schemas_module._LOADED.pop("1.31", None)
    started = time.perf_counter()
    s = Schemas("1.31")
    assert "1.31" not in schemas_module._LOADED  # nothing read until first use
    assert s.kind("v1", "Pod") is not None
    assert time.perf_counter() - started < 3.0


def test_descriptions_are_dropped_to_save_memory() -> None:
    s = Schemas("1.33")
    assert "description" not in s.kind("apps/v1", "Deployment")
    assert "description" not in s.path(s.kind("apps/v1", "Deployment"), "spec", "replicas")


def test_bare_references_are_not_cached() -> None:
    # Only immortal schema nodes are cached by id(); a caller's temporary {"$ref"} must not be.
    s = Schemas("1.33")
    before = len(s._loaded.merged)
    for _ in range(100):
        assert s.resolve({"$ref": "#/$defs/io.k8s.api.core.v1.PodSpec"}) is s.definition("io.k8s.api.core.v1.PodSpec")
    assert len(s._loaded.merged) == before
