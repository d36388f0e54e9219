"""The kinds kubesim serves and the discovery documents that describe them.

Each served resource is a `ResourceInfo` (group, version, kind, plural, scope, verbs, subresources,
shortNames, categories) plus the storage behaviour the request pipeline needs (which storage key
holds its objects, whether it has metadata.generation, a status subresource, ...). The values
follow what a kube-apiserver 1.33 publishes in discovery (`kubectl api-resources -o wide`).

Custom resources are registered here when their CustomResourceDefinition is created, so they
show up in /apis discovery and are served at their group/version, as on a real cluster.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

# The verbs of an ordinary resource, sorted as the API server publishes them.
STANDARD_VERBS: tuple[str, ...] = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
# Namespaces and a few others have no deletecollection.
NO_COLLECTION_DELETE: tuple[str, ...] = ("create", "delete", "get", "list", "patch", "update", "watch")

# Field selectors every resource accepts (apimachinery DefaultMetaV1FieldSelectorConversion).
META_FIELDS: tuple[str, ...] = ("metadata.name", "metadata.namespace")


@dataclass(frozen=True)
class ResourceInfo:
    """One served resource (group/version/plural) and how its objects are stored and treated."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = STANDARD_VERBS
    # Subresources served under /<plural>/<name>/<sub>: "status", "scale", "log", "finalize", "binding".
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    # metadata.generation is set to 1 on create and bumped on spec change (strategy PrepareForUpdate).
    has_generation: bool = False
    # Nodes keep the status given on create; other kinds with a status subresource reset it.
    keep_status_on_create: bool = False
    # PUT on a missing object creates it (strategy AllowCreateOnUpdate): endpoints, events.
    allow_create_on_update: bool = False
    # DELETE answers the deleted object instead of a Status (registry ReturnDeletedObject). Set, as in
    # k8s.io/kubernetes pkg/registry/<group>/<resource>/storage/storage.go, for pods, services,
    # serviceaccounts, persistentvolumeclaims, persistentvolumes, storageclasses, csidrivers, csinodes;
    # the others (configmaps, secrets, nodes, endpoints, events, apps, batch, rbac, networking, policy,
    # coordination, discovery, custom resources) answer a Success Status.
    return_deleted_object: bool = False
    # Extra field selectors on top of metadata.name / metadata.namespace.
    field_selectors: tuple[str, ...] = ()
    # A Warning header sent with every request on this resource (API deprecation).
    deprecation: str = ""
    # Objects of several served versions (events v1 / events.k8s.io v1, CR versions) share storage.
    storage_key: str = ""
    # Custom resources: the CRD name and the OpenAPI schema of this version.
    crd_name: str = ""
    crd_schema: dict[str, Any] | None = field(default=None, compare=False, hash=False, repr=False)
    # Custom resources: the scale subresource paths (specReplicasPath, statusReplicasPath, labelSelectorPath).
    scale_paths: dict[str, str] | None = field(default=None, compare=False, hash=False)
    storage_version: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def key(self) -> str:
        """Where the objects live in the store (shared by versions of the same resource)."""
        return self.storage_key or f"{self.group}/{self.plural}"

    @property
    def is_custom(self) -> bool:
        return bool(self.crd_name)

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def allowed_field_selectors(self) -> tuple[str, ...]:
        return META_FIELDS + self.field_selectors

    def discovery_entries(self) -> list[dict[str, Any]]:
        """The APIResource entries for this resource and its subresources."""
        main: dict[str, Any] = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.short_names:
            main["shortNames"] = list(self.short_names)
        if self.categories:
            main["categories"] = list(self.categories)
        entries = [main]
        for sub in self.subresources:
            entries.append(self._subresource_entry(sub))
        return entries

    def _subresource_entry(self, sub: str) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": f"{self.plural}/{sub}",
            "singularName": "",
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": ["get", "patch", "update"],
        }
        if sub == "scale":
            entry.update(group="autoscaling", version="v1", kind="Scale")
        elif sub == "log":
            entry["verbs"] = ["get"]
        elif sub == "binding":
            entry.update(kind="Binding", verbs=["create"])
        elif sub == "finalize":
            entry["verbs"] = ["update"]
        return entry


def _r(group: str, kind: str, plural: str, namespaced: bool = True, **kw: Any) -> ResourceInfo:
    version = kw.pop("version", "v1")
    return ResourceInfo(group=group, version=version, kind=kind, plural=plural, namespaced=namespaced, **kw)


_STATUS = ("status",)
_STATUS_SCALE = ("status", "scale")
_ALL = ("all",)
_EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)
_POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)


def builtin_resources(kubernetes_minor: int) -> list[ResourceInfo]:
    """The built-in resources kubesim serves (a subset of what kube-apiserver serves)."""
    endpoints_deprecation = (
        "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice" if kubernetes_minor >= 33 else ""
    )
    return [
        # core/v1
        _r(
            "",
            "Namespace",
            "namespaces",
            False,
            short_names=("ns",),
            verbs=NO_COLLECTION_DELETE,
            subresources=("status", "finalize"),
            field_selectors=("status.phase",),
        ),
        _r("", "ConfigMap", "configmaps", short_names=("cm",)),
        _r("", "Secret", "secrets", field_selectors=("type",)),
        _r(
            "",
            "Service",
            "services",
            short_names=("svc",),
            subresources=_STATUS,
            categories=_ALL,
            return_deleted_object=True,
        ),
        _r("", "ServiceAccount", "serviceaccounts", short_names=("sa",), return_deleted_object=True),
        _r(
            "",
            "Pod",
            "pods",
            short_names=("po",),
            subresources=("binding", "log", "status"),
            categories=_ALL,
            return_deleted_object=True,
            field_selectors=_POD_FIELDS,
            has_generation=kubernetes_minor >= 34,
        ),
        _r(
            "",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            short_names=("pvc",),
            subresources=_STATUS,
            return_deleted_object=True,
        ),
        _r(
            "",
            "PersistentVolume",
            "persistentvolumes",
            False,
            short_names=("pv",),
            subresources=_STATUS,
            return_deleted_object=True,
        ),
        _r("", "Event", "events", short_names=("ev",), allow_create_on_update=True, field_selectors=_EVENT_FIELDS),
        _r(
            "",
            "Endpoints",
            "endpoints",
            short_names=("ep",),
            allow_create_on_update=True,
            deprecation=endpoints_deprecation,
        ),
        _r(
            "",
            "Node",
            "nodes",
            False,
            short_names=("no",),
            subresources=_STATUS,
            keep_status_on_create=True,
            field_selectors=("spec.unschedulable",),
        ),
        # apps/v1
        _r(
            "apps",
            "Deployment",
            "deployments",
            short_names=("deploy",),
            subresources=_STATUS_SCALE,
            categories=_ALL,
            has_generation=True,
        ),
        _r(
            "apps",
            "StatefulSet",
            "statefulsets",
            short_names=("sts",),
            subresources=_STATUS_SCALE,
            categories=_ALL,
            has_generation=True,
        ),
        _r(
            "apps",
            "ReplicaSet",
            "replicasets",
            short_names=("rs",),
            subresources=_STATUS_SCALE,
            categories=_ALL,
            has_generation=True,
            field_selectors=("status.replicas",),
        ),
        _r(
            "apps",
            "DaemonSet",
            "daemonsets",
            short_names=("ds",),
            subresources=_STATUS,
            categories=_ALL,
            has_generation=True,
        ),
        _r("apps", "ControllerRevision", "controllerrevisions"),
        # batch/v1
        _r(
            "batch",
            "Job",
            "jobs",
            subresources=_STATUS,
            categories=_ALL,
            has_generation=True,
            field_selectors=("status.successful",),
        ),
        _r(
            "batch",
            "CronJob",
            "cronjobs",
            short_names=("cj",),
            subresources=_STATUS,
            categories=_ALL,
            has_generation=True,
        ),
        # storage.k8s.io/v1
        _r("storage.k8s.io", "StorageClass", "storageclasses", False, short_names=("sc",), return_deleted_object=True),
        _r("storage.k8s.io", "CSIDriver", "csidrivers", False, return_deleted_object=True),
        _r("storage.k8s.io", "CSINode", "csinodes", False, return_deleted_object=True),
        # rbac.authorization.k8s.io/v1
        _r("rbac.authorization.k8s.io", "Role", "roles"),
        _r("rbac.authorization.k8s.io", "RoleBinding", "rolebindings"),
        _r("rbac.authorization.k8s.io", "ClusterRole", "clusterroles", False),
        _r("rbac.authorization.k8s.io", "ClusterRoleBinding", "clusterrolebindings", False),
        # networking.k8s.io/v1
        _r("networking.k8s.io", "NetworkPolicy", "networkpolicies", short_names=("netpol",), has_generation=True),
        _r(
            "networking.k8s.io", "Ingress", "ingresses", short_names=("ing",), subresources=_STATUS, has_generation=True
        ),
        _r("networking.k8s.io", "IngressClass", "ingressclasses", False),
        # policy/v1
        _r(
            "policy",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            short_names=("pdb",),
            subresources=_STATUS,
            has_generation=True,
        ),
        # apiextensions.k8s.io/v1
        _r(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            False,
            short_names=("crd", "crds"),
            subresources=_STATUS,
            has_generation=True,
        ),
        # events.k8s.io/v1 shares storage with core v1 events (a different representation).
        _r("events.k8s.io", "Event", "events", short_names=("ev",), allow_create_on_update=True, storage_key="/events"),
        # coordination.k8s.io/v1
        _r("coordination.k8s.io", "Lease", "leases"),
        # discovery.k8s.io/v1
        _r("discovery.k8s.io", "EndpointSlice", "endpointslices"),
    ]


# Real clusters publish groups in a fixed priority order; core-ish groups first.
_GROUP_ORDER = [
    "apps",
    "events.k8s.io",
    "batch",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "apiextensions.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
]


class Registry:
    """The served resources, built-in and CRD-defined; lookups by URL and by apiVersion/kind.

    Mutations (CRD registration) happen under the store lock; readers see a consistent snapshot
    because every change swaps in new dicts instead of editing them in place.
    """

    def __init__(self, kubernetes_minor: int) -> None:
        self._lock = threading.Lock()
        self._builtin = builtin_resources(kubernetes_minor)
        self._custom: dict[str, list[ResourceInfo]] = {}  # CRD name -> its served versions
        self._rebuild()

    def _rebuild(self) -> None:
        infos = list(self._builtin)
        for versions in self._custom.values():
            infos.extend(versions)
        by_path: dict[tuple[str, str, str], ResourceInfo] = {}
        by_kind: dict[tuple[str, str], ResourceInfo] = {}
        for info in infos:
            by_path[(info.group, info.version, info.plural)] = info
            by_kind.setdefault((info.api_version, info.kind), info)
        self._infos = infos
        self._by_path = by_path
        self._by_kind = by_kind

    # ---- lookups -------------------------------------------------------------------------------
    def all(self) -> list[ResourceInfo]:
        return list(self._infos)

    def lookup(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        return self._by_path.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceInfo | None:
        return self._by_kind.get((api_version, kind))

    def storage_keys(self, namespaced: bool | None = None) -> list[str]:
        """Distinct storage keys (one per resource, whatever the number of served versions)."""
        keys: dict[str, None] = {}
        for info in self._infos:
            if namespaced is None or info.namespaced == namespaced:
                keys.setdefault(info.key, None)
        return list(keys)

    def storage_info(self, key: str) -> ResourceInfo | None:
        """The info whose version is the storage version of `key`."""
        for info in self._infos:
            storage_version = not info.storage_version or info.version == info.storage_version
            if info.key == key and storage_version and info.group != "events.k8s.io":
                return info
        return None

    def group_versions(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for info in self._infos:
            versions = groups.setdefault(info.group, [])
            if info.version not in versions:
                versions.append(info.version)
        return groups

    # ---- custom resources ------------------------------------------------------------------------
    def register_crd(self, crd: dict[str, Any]) -> None:
        """Serve the versions of a CRD (idempotent; replaces an earlier registration)."""
        infos = crd_resource_infos(crd)
        with self._lock:
            self._custom[crd["metadata"]["name"]] = infos
            self._rebuild()

    def unregister_crd(self, name: str) -> None:
        with self._lock:
            if self._custom.pop(name, None) is not None:
                self._rebuild()

    def custom_for(self, crd_name: str) -> list[ResourceInfo]:
        return list(self._custom.get(crd_name, []))

    # ---- discovery documents ---------------------------------------------------------------------
    def api_versions(self, server_address: str) -> dict[str, Any]:
        """GET /api"""
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
        }

    def api_group(self, name: str) -> dict[str, Any] | None:
        versions = self.group_versions().get(name)
        if not name or not versions:
            return None
        ordered = sorted(versions, key=_version_priority, reverse=True)
        entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in ordered]
        return {"name": name, "versions": entries, "preferredVersion": entries[0]}

    def api_group_list(self) -> dict[str, Any]:
        """GET /apis"""
        names = [g for g in self.group_versions() if g]
        names.sort(key=lambda g: (_GROUP_ORDER.index(g) if g in _GROUP_ORDER else len(_GROUP_ORDER), g))
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [self.api_group(n) for n in names]}

    def api_group_doc(self, name: str) -> dict[str, Any] | None:
        """GET /apis/<group>"""
        group = self.api_group(name)
        if group is None:
            return None
        return {"kind": "APIGroup", "apiVersion": "v1", **group}

    def resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        """GET /api/v1 or /apis/<group>/<version>"""
        infos = [i for i in self._infos if i.group == group and i.version == version]
        if not infos:
            return None
        resources: list[dict[str, Any]] = []
        for info in sorted(infos, key=lambda i: i.plural):
            resources.extend(info.discovery_entries())
        doc: dict[str, Any] = {"kind": "APIResourceList", "groupVersion": f"{group}/{version}" if group else version}
        if group:
            doc["apiVersion"] = "v1"
        doc["resources"] = resources
        return doc


def _version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes version priority: GA > beta > alpha, then by number (v2 > v1, v1beta2 > v1beta1)."""
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not m:
        return (-1, 0, 0)
    level = {"alpha": 0, "beta": 1, None: 2}[m.group(2)]
    return (level, int(m.group(1)), int(m.group(3) or 0))


def crd_resource_infos(crd: dict[str, Any]) -> list[ResourceInfo]:
    """ResourceInfos for the served versions of a CRD (apiextensions.k8s.io/v1)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group", "")
    plural = names.get("plural", "")
    kind = names.get("kind", "")
    namespaced = spec.get("scope", "Namespaced") == "Namespaced"
    versions = spec.get("versions") or []
    storage = next((v.get("name") for v in versions if v.get("storage")), versions[0].get("name") if versions else "")
    infos = []
    for v in versions:
        if not v.get("served", True):
            continue
        sub = v.get("subresources") or {}
        subresources: tuple[str, ...] = ()
        if "status" in sub:
            subresources += ("status",)
        scale = sub.get("scale")
        if scale:
            subresources += ("scale",)
        schema = ((v.get("schema") or {}).get("openAPIV3Schema")) or None
        infos.append(
            ResourceInfo(
                group=group,
                version=v.get("name", ""),
                kind=kind,
                plural=plural,
                namespaced=namespaced,
                short_names=tuple(names.get("shortNames") or ()),
                subresources=subresources,
                categories=tuple(names.get("categories") or ()),
                has_generation=True,
                crd_name=crd["metadata"]["name"],
                crd_schema=schema,
                scale_paths=dict(scale) if scale else None,
                storage_version=storage,
            )
        )
    return infos
