"""The REST verbs and their semantics: what a kube-apiserver does with each request.

Two layers:

- `Api` is the in-process API with the API server's semantics (create/get/list/update/patch/
  delete/deletecollection/watch, dryRun, status, scale and pods/binding subresources, namespace lifecycle,
  finalizers, garbage collection). Simulated controllers (later parts) call it directly; it
  raises `ApiError` exactly where the HTTP API answers an error Status.
- `Frontend` maps an HTTP-agnostic `Request` on a resource path to `Api` calls and builds the
  `Response` (status code, JSON body or a stream, Warning headers, request-log fields).

The write pipeline follows the real server's order (k8s.io/apiserver handlers + generic registry):
decode (413 over 3 MiB, 400 on bad JSON or a kind/namespace mismatch) → for PATCH apply the patch
to the stored object → strategy (server-managed metadata, status reset or preserved) →
`defaults.apply_defaults` → mutating admission (ServiceAccount, DefaultStorageClass,
StorageObjectInUseProtection) → `validation.validate_write` →
`admission.pod_security` → preconditions/no-op detection → dryRun? answer : store.

Conventions followed (API conventions, https://github.com/kubernetes/community/blob/master/contributors/devel/sig-architecture/api-conventions.md):
resourceVersion is an opaque string from one cluster-wide counter; a no-op update writes nothing
and keeps the resourceVersion; metadata.generation counts spec changes for the kinds that have it.
"""

from __future__ import annotations

import base64
import json
import queue
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import admission, defaults, errors, schemas, storage_admission, validation
from .errors import ApiError
from .patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from .resources import Registry, ResourceInfo
from .selectors import (
    FieldSelector,
    LabelSelector,
    label_selector_to_string,
    parse_field_selector,
    parse_label_selector,
)
from .store import Event, LogBook, Obj, Store, TooOld, clone

MAX_BODY_BYTES = 3 * 1024 * 1024  # apiserver MaxRequestBodyBytes
NAMESPACES = "/namespaces"
SERVICE_ACCOUNTS = "/serviceaccounts"
CONFIGMAPS = "/configmaps"
SERVICES = "/services"
PODS = "/pods"
STORAGE_CLASSES = "storage.k8s.io/storageclasses"
CRDS = "apiextensions.k8s.io/customresourcedefinitions"
CRD_CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
SERVICE_CIDR_BASE = (10 << 24) | (96 << 16)  # 10.96.0.0/12, kubeadm's default service CIDR
SERVICE_CIDR_SIZE = 1 << 20
NODE_PORT_RANGE = range(30000, 32768)
# Kinds whose pods Pod Security admission also checks (warnings only; pods are enforced).
POD_TEMPLATE_KINDS = {
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "ReplicaSet"),
    ("apps", "DaemonSet"),
    ("batch", "Job"),
    ("batch", "CronJob"),
}
# names.SimpleNameGenerator: 5 characters from an alphabet without vowels and confusable digits.
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def parse_bool(value: str | None) -> bool:
    """Query booleans as Go's strconv.ParseBool reads them (the python client sends "True")."""
    return value in ("1", "t", "T", "TRUE", "true", "True")


# Status strategies that let a status update change metadata (all but the labels): the deployment
# controller relies on it for its revision annotation.
STATUS_KEEPS_METADATA = {("apps", "Deployment")}


# Status fields without omitempty in k8s.io/api (apps/v1 types.go): present, as zero, on a new object.
ZERO_STATUS: dict[tuple[str, str], dict[str, int]] = {
    ("apps", "ReplicaSet"): {"replicas": 0},
    ("apps", "StatefulSet"): {"replicas": 0, "availableReplicas": 0},
    ("apps", "DaemonSet"): {
        "currentNumberScheduled": 0,
        "numberMisscheduled": 0,
        "desiredNumberScheduled": 0,
        "numberReady": 0,
    },
}


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def random_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(_NAME_ALPHABET) for _ in range(length))


def _meta(obj: Obj) -> dict[str, Any]:
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    return meta


def _deleting(obj: Obj) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def _unchanged(new: Obj, old: Obj) -> bool:
    """Equal apart from resourceVersion/managedFields: such an update writes nothing."""
    if new.keys() != old.keys():
        return False
    for key, value in new.items():
        if key == "metadata":
            a = {k: v for k, v in value.items() if k not in ("resourceVersion", "managedFields")}
            b = {k: v for k, v in old[key].items() if k not in ("resourceVersion", "managedFields")}
            if a != b:
                return False
        elif value != old[key]:
            return False
    return True


@dataclass
class Outcome:
    """What a verb answers: the body, the HTTP status, and Warning header texts."""

    body: Any
    code: int = 200
    warnings: list[str] = field(default_factory=list)
    changed: bool = True  # False for a dry run or an update that changed nothing (no new resourceVersion)


# ---- conversions between served versions and storage -----------------------------------------------

_EVENT_FIELDS = [  # core/v1 Event field <-> events.k8s.io/v1 Event field
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
]


def _rename(obj: Obj, pairs: list[tuple[str, str]], api_version: str) -> Obj:
    out = {}
    names = dict(pairs)
    for key, value in obj.items():
        out[names.get(key, key)] = value
    out["apiVersion"] = api_version
    return out


def to_external(info: ResourceInfo, stored: Obj) -> Obj:
    """The stored object as `info`'s version presents it (shares unchanged subtrees)."""
    if info.group == "events.k8s.io":
        return _rename(stored, _EVENT_FIELDS, info.api_version)
    if stored.get("apiVersion") != info.api_version:
        return {**stored, "apiVersion": info.api_version}
    return stored


def to_storage(info: ResourceInfo, obj: Obj, storage_api_version: str) -> Obj:
    if info.group == "events.k8s.io":
        return _rename(obj, [(b, a) for a, b in _EVENT_FIELDS], "v1")
    if obj.get("apiVersion") != storage_api_version:
        return {**obj, "apiVersion": storage_api_version}
    return obj


def _with_type(info: ResourceInfo, obj: Obj) -> Obj:
    """kind/apiVersion first, as the API server serializes."""
    return {"kind": info.kind, "apiVersion": info.api_version, **obj}


# ---- quantities for the Pod QoS class ---------------------------------------------------------------


def _qos_class(spec: dict[str, Any]) -> str:
    """Pod QoS class (pkg/apis/core/helper/qos): Guaranteed, Burstable or BestEffort."""
    from . import quantity  # the other helper's quantity parser

    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        requests, limits = res.get("requests") or {}, res.get("limits") or {}
        for name in ("cpu", "memory"):
            if name in requests or name in limits:
                any_set = True
            if name not in limits:
                guaranteed = False
                continue
            if name in requests:
                try:
                    if quantity.value_of(requests[name]) != quantity.value_of(limits[name]):
                        guaranteed = False
                except ValueError:
                    guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


class Api:
    """The API server's semantics, in process. Thread-safe: writes serialize on the store lock."""

    def __init__(self, store: Store, registry: Registry, kubernetes_version: str, ca_pem: str = "") -> None:
        self.store = store
        self.registry = registry
        self.kubernetes_version = kubernetes_version
        self.minor = int(kubernetes_version.split(".")[1])
        self.schemas = schemas.Schemas(kubernetes_version)
        self.ca_pem = ca_pem
        self.logs = LogBook()
        self.closing = threading.Event()
        self.controllers = _ControlPlane(self)
        for crd in store.list(CRDS):
            registry.register_crd(crd)

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Bootstrap a fresh cluster's objects and start the built-in controllers."""
        self._bootstrap()
        self.controllers.start()

    def close(self) -> None:
        self.closing.set()
        self.controllers.stop()
        self.logs.wake()
        self.store.close()

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        """Change events for controllers (called under the store lock: only enqueue work)."""
        self.store.subscribe(callback)

    def _bootstrap(self) -> None:
        """What kubeadm leaves in a new cluster: system namespaces and the kubernetes Service."""
        ns_info = self.info("v1", "Namespace")
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            if self.store.get(NAMESPACES, "", name) is None:
                self.create(ns_info, {"metadata": {"name": name}})
            else:
                self._namespace_defaults(name)
        if self.store.get(SERVICES, "default", "kubernetes") is None:
            service = {
                "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {
                    "type": "ClusterIP",
                    "clusterIP": "10.96.0.1",
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
                    "sessionAffinity": "None",
                },
            }
            self.create(self.info("v1", "Service"), service, "default")

    # ---- lookups -------------------------------------------------------------------------------
    def info(self, api_version: str, kind: str) -> ResourceInfo:
        """The served resource for apiVersion/kind (404 like a discovery miss)."""
        found = self.registry.by_kind(api_version, kind)
        if found is None:
            raise errors.not_found_path()
        return found

    def _storage_api_version(self, info: ResourceInfo) -> str:
        if info.is_custom and info.storage_version:
            return f"{info.group}/{info.storage_version}"
        if info.group == "events.k8s.io":
            return "v1"
        return info.api_version

    def _external(self, info: ResourceInfo, stored: Obj) -> Obj:
        """`stored` as `info` presents it: a deep copy, so callers in process may change it freely."""
        return _with_type(
            info, {k: clone(v) for k, v in to_external(info, stored).items() if k not in ("kind", "apiVersion")}
        )

    # ---- reads ---------------------------------------------------------------------------------
    def get(self, info: ResourceInfo, namespace: str, name: str) -> Obj:
        stored = self.store.get(info.key, namespace if info.namespaced else "", name)
        if stored is None:
            raise errors.not_found(info.plural, name, info.group)
        return self._external(info, stored)

    def list(
        self,
        info: ResourceInfo,
        namespace: str | None = None,
        label_selector: str | LabelSelector | None = None,
        field_selector: str | FieldSelector | None = None,
        limit: int = 0,
        continue_token: str = "",
        copy: bool = True,
    ) -> Obj:
        """A <Kind>List; items carry no kind/apiVersion (as the API server encodes typed lists).

        With copy=False the items share structure with the store (read-only: the HTTP front end
        serializes them at once and saves the copying).
        """
        labels = label_selector if isinstance(label_selector, LabelSelector) else parse_label_selector(label_selector)
        fields = (
            field_selector
            if isinstance(field_selector, FieldSelector)
            else parse_field_selector(field_selector, info.allowed_field_selectors())
        )
        ns = namespace if info.namespaced else None
        ns = fields.exact("metadata.namespace") if ns is None and fields.exact("metadata.namespace") else ns
        with self.store.lock:
            revision = self.store.revision
            stored = self.store.list(info.key, ns)
        start = _decode_continue(continue_token) if continue_token else None
        items: list[Obj] = []
        remaining = 0
        for obj in stored:
            meta = obj["metadata"]
            if start is not None and (meta.get("namespace") or "", meta["name"]) <= start:
                continue
            external = to_external(info, obj)
            if not labels.matches(meta.get("labels")) or not fields.matches(external):
                continue
            if limit and len(items) >= limit:
                remaining += 1
                continue
            items.append(
                external if info.is_custom else {k: v for k, v in external.items() if k not in ("kind", "apiVersion")}
            )
        list_meta: dict[str, Any] = {"resourceVersion": str(revision)}
        if remaining:
            last = items[-1]["metadata"]
            list_meta["continue"] = _encode_continue(revision, last.get("namespace") or "", last["name"])
            list_meta["remainingItemCount"] = remaining
        if info.is_custom:
            items = [_with_type(info, {k: v for k, v in i.items() if k not in ("kind", "apiVersion")}) for i in items]
        if copy:
            items = clone(items)
        return {"kind": info.list_kind, "apiVersion": info.api_version, "metadata": list_meta, "items": items}

    # ---- create --------------------------------------------------------------------------------
    def create(
        self,
        info: ResourceInfo,
        obj: Obj,
        namespace: str | None = None,
        *,
        dry_run: bool = False,
        field_validation: str = "Strict",
    ) -> Outcome:
        """POST a new object (the caller keeps `obj`). 201 with the stored (or would-be) object."""
        obj = self._accept_body(info, clone(obj), namespace or (obj.get("metadata") or {}).get("namespace") or "")
        with self.store.lock:
            return self._create_locked(info, obj, dry_run=dry_run, field_validation=field_validation)

    def _create_locked(self, info: ResourceInfo, obj: Obj, *, dry_run: bool, field_validation: str) -> Outcome:
        meta = _meta(obj)
        self._prepare_create_meta(info, obj)
        self._admit_namespace(info, obj)
        self._prepare_create_strategy(info, obj)
        self._convert_secret(info, obj)
        self._apply_defaults(obj, None)
        self._after_defaults(info, obj, None)
        self._admit_service_account(info, obj)
        self._admit_storage(info, obj)
        warnings = self._validate(info, obj, None, field_validation)
        warnings += self._pod_security(info, obj)
        self._finish_crd(info, obj, None)
        if meta.get("resourceVersion"):
            # etcd3 store: a plain error, answered as a 500 with no reason.
            raise errors.unknown_error(500, "resourceVersion should not be set on objects to be created")
        self._claim_name(info, obj)
        if dry_run:
            meta.pop("resourceVersion", None)
            return Outcome(self._external(info, obj), 201, warnings, changed=False)
        stored = self.store.put(info.key, to_storage(info, obj, self._storage_api_version(info)))
        self._after_create(info, stored)
        return Outcome(self._external(info, stored), 201, warnings)

    def _prepare_create_meta(self, info: ResourceInfo, obj: Obj) -> None:
        """rest.BeforeCreate: system fields are the server's; name or generateName is required."""
        meta = _meta(obj)
        if not meta.get("name") and not meta.get("generateName"):
            raise errors.invalid(
                info.kind,
                "",
                [
                    {
                        "reason": "FieldValueRequired",
                        "message": "Required value: name or generateName is required",
                        "field": "metadata.name",
                    }
                ],
                info.group,
            )
        if not meta.get("name"):
            base = meta["generateName"][:58]  # maxGeneratedNameLength = 63 - 5
            meta["name"] = base + random_suffix()
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        for key in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "managedFields"):
            meta.pop(key, None)
        if info.has_generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)

    def _claim_name(self, info: ResourceInfo, obj: Obj) -> None:
        """409 AlreadyExists; a generated name is retried, as the API server does (RetryGenerateName)."""
        meta = obj["metadata"]
        ns = meta.get("namespace") or ""
        for _ in range(8):
            if self.store.get(info.key, ns, meta["name"]) is None:
                return
            if not meta.get("generateName"):
                break
            meta["name"] = meta["generateName"][:58] + random_suffix()
        raise errors.already_exists(info.plural, meta["name"], info.group)

    def _admit_namespace(self, info: ResourceInfo, obj: Obj) -> None:
        """NamespaceLifecycle admission: 404 for a missing namespace, 403 while it terminates."""
        if not info.namespaced:
            return
        meta = obj["metadata"]
        ns_name = meta.get("namespace") or ""
        ns = self.store.get(NAMESPACES, "", ns_name)
        if ns is None:
            raise errors.not_found("namespaces", ns_name)
        if _deleting(ns) or (ns.get("status") or {}).get("phase") == "Terminating":
            raise errors.forbidden(
                info.plural,
                meta.get("name") or "",
                f"unable to create new content in namespace {ns_name} because it is being terminated",
                info.group,
                causes=[
                    {
                        "reason": "NamespaceTerminating",
                        "message": f"namespace {ns_name} is being terminated",
                        "field": "metadata.namespace",
                    }
                ],
            )

    def _prepare_create_strategy(self, info: ResourceInfo, obj: Obj) -> None:
        """Strategy PrepareForCreate: status is the server's (reset), namespaces get their finalizer."""
        if info.is_custom:
            if info.has_status:
                obj.pop("status", None)
            return
        if info.has_status and not info.keep_status_on_create:
            # The zero status serializes its fields that have no omitempty (k8s.io/api apps/v1 types.go),
            # so a real server answers a new ReplicaSet with {"replicas": 0}, not {}.
            obj["status"] = dict(ZERO_STATUS.get((info.group, info.kind), {}))
        kind = (info.group, info.kind)
        if kind == ("", "Service"):
            obj["status"] = {"loadBalancer": {}}
        elif kind == ("", "Pod"):
            obj["status"] = {"phase": "Pending"}
        elif kind == ("", "Namespace"):
            obj["status"] = {"phase": "Active"}
            spec = obj.setdefault("spec", {})
            finalizers = list(spec.get("finalizers") or [])
            if "kubernetes" not in finalizers:
                finalizers.append("kubernetes")
            spec["finalizers"] = finalizers
        elif kind == ("apiextensions.k8s.io", "CustomResourceDefinition"):
            finalizers = list(_meta(obj).get("finalizers") or [])
            if CRD_CLEANUP_FINALIZER not in finalizers:
                finalizers.append(CRD_CLEANUP_FINALIZER)
            obj["metadata"]["finalizers"] = finalizers

    def _convert_secret(self, info: ResourceInfo, obj: Obj) -> None:
        """Secret stringData is write-only: merged into data, base64-encoded (v1 conversion)."""
        if (info.group, info.kind) != ("", "Secret") or "stringData" not in obj:
            return
        string_data = obj.pop("stringData") or {}
        if not isinstance(string_data, dict):
            raise errors.bad_request(
                'Secret in version "v1" cannot be handled as a Secret: json: cannot unmarshal into Go struct '
                "field Secret.stringData of type map[string]string"
            )
        data = dict(obj.get("data") or {})
        for key, value in string_data.items():
            text = value if isinstance(value, str) else json.dumps(value)
            data[key] = base64.b64encode(text.encode()).decode()
        obj["data"] = data

    def _apply_defaults(self, obj: Obj, old: Obj | None) -> None:
        # Node ports are allocated in _check_service_allocations (it also checks requested ones).
        defaults.apply_defaults(obj, old=old, allocate_cluster_ip=self._allocate_cluster_ip)

    def _after_defaults(self, info: ResourceInfo, obj: Obj, old: Obj | None) -> None:
        """Server-side fields computed from the defaulted object."""
        kind = (info.group, info.kind)
        if kind == ("", "Pod") and old is None:
            obj["status"]["qosClass"] = _qos_class(obj.get("spec") or {})
        elif kind == ("", "Service"):
            self._check_service_allocations(obj, old)

    def _validate(self, info: ResourceInfo, obj: Obj, old: Obj | None, field_validation: str) -> list[str]:
        expansion = None
        if (info.group, info.kind) == ("", "PersistentVolumeClaim") and old is not None:
            sc_name = (old.get("spec") or {}).get("storageClassName") or ""
            sc = self.store.get(STORAGE_CLASSES, "", sc_name) if sc_name else None
            expansion = bool(sc and sc.get("allowVolumeExpansion"))
        # A CRD's customresourcecleanup.apiextensions.k8s.io finalizer needs no exception: CRDs are validated by
        # apimachinery's ValidateObjectMeta (qualified names only), not core's validateKubeFinalizerName.
        return validation.validate_write(
            obj,
            old=old,
            schemas=self.schemas,
            field_validation=field_validation,
            crd_schema=info.crd_schema if info.is_custom else None,
            pvc_expansion_allowed=expansion,
        )

    def _pod_security(self, info: ResourceInfo, obj: Obj, old: Obj | None = None) -> list[str]:
        if (info.group, info.kind) != ("", "Pod") and (info.group, info.kind) not in POD_TEMPLATE_KINDS:
            return []
        ns = self.store.get(NAMESPACES, "", obj["metadata"].get("namespace") or "")
        labels = dict(((ns or {}).get("metadata") or {}).get("labels") or {})
        return admission.pod_security(obj, labels, old=old, kubernetes_version=self.kubernetes_version)

    # ---- ServiceAccount admission (mutating) ---------------------------------------------------
    def _admit_service_account(self, info: ResourceInfo, obj: Obj) -> None:
        """ServiceAccount admission, the part that needs the store: the pod's service account must exist.

        defaults.py already named the account ("default") and mounted its token; when the account
        itself says automountServiceAccountToken: false (and the pod does not decide), the mount goes.
        """
        if (info.group, info.kind) != ("", "Pod"):
            return
        spec = obj.setdefault("spec", {})
        meta = obj["metadata"]
        ns = meta.get("namespace") or ""
        sa_name = spec.get("serviceAccountName") or "default"
        sa = self.store.get(SERVICE_ACCOUNTS, ns, sa_name)
        if sa is None:
            raise errors.forbidden(
                "pods",
                meta.get("name") or "",
                f'error looking up service account {ns}/{sa_name}: serviceaccount "{sa_name}" not found',
            )
        if spec.get("automountServiceAccountToken") is None and sa.get("automountServiceAccountToken") is False:
            _unmount_token(spec)

    # ---- storage admission (mutating, on create) ------------------------------------------------
    def _admit_storage(self, info: ResourceInfo, obj: Obj) -> None:
        """DefaultStorageClass and StorageObjectInUseProtection, in the API server's plugin order."""
        if info.group != "" or info.kind not in ("PersistentVolumeClaim", "PersistentVolume"):
            return
        if info.kind == "PersistentVolumeClaim":
            storage_admission.admit_default_class(obj, self.store.list(STORAGE_CLASSES))
        storage_admission.admit_protection(info.kind, obj)

    # ---- Services: IP and port allocation (the service REST storage) ----------------------------
    def _service_ips(self, exclude_uid: str = "") -> set[str]:
        used: set[str] = set()
        for svc in self.store.list(SERVICES):
            if svc["metadata"].get("uid") == exclude_uid:
                continue
            used.update((svc.get("spec") or {}).get("clusterIPs") or [])
            ip = (svc.get("spec") or {}).get("clusterIP")
            if ip and ip != "None":
                used.add(ip)
        return used

    def _allocate_cluster_ip(self) -> str:
        used = self._service_ips()
        for offset in range(10, SERVICE_CIDR_SIZE - 1):
            n = SERVICE_CIDR_BASE + offset
            ip = f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
            if ip not in used:
                return ip
        raise errors.internal_error("range is full")

    def _check_service_allocations(self, obj: Obj, old: Obj | None) -> None:
        spec = obj.get("spec") or {}
        meta = obj["metadata"]
        causes = []
        ip = spec.get("clusterIP")
        if ip and ip != "None" and (old is None or (old.get("spec") or {}).get("clusterIP") != ip):
            if ip in self._service_ips(exclude_uid=meta.get("uid", "")):
                causes.append(
                    {
                        "reason": "FieldValueInvalid",
                        "message": f'Invalid value: []string{{"{ip}"}}: failed to allocate IP {ip}: '
                        "provided IP is already allocated",
                        "field": "spec.clusterIPs",
                    }
                )
            elif not _in_service_cidr(ip):
                causes.append(
                    {
                        "reason": "FieldValueInvalid",
                        "message": f'Invalid value: []string{{"{ip}"}}: failed to allocate IP {ip}: provided IP ({ip}) '
                        "is not in the valid range. The range of valid IPs is 10.96.0.0/12",
                        "field": "spec.clusterIPs",
                    }
                )
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            causes += self._allocate_node_ports(spec, meta.get("uid", ""))
        if causes:
            raise errors.invalid("Service", meta.get("name") or "", causes)

    def _allocate_node_ports(self, spec: dict[str, Any], uid: str) -> list[dict[str, str]]:
        used: set[int] = set()
        for svc in self.store.list(SERVICES):
            if svc["metadata"].get("uid") != uid:
                used.update(p.get("nodePort") for p in (svc.get("spec") or {}).get("ports") or [] if p.get("nodePort"))
        causes = []
        for i, port in enumerate(spec.get("ports") or []):
            wanted = port.get("nodePort")
            if wanted:
                if wanted in used:
                    causes.append(
                        {
                            "reason": "FieldValueInvalid",
                            "field": f"spec.ports[{i}].nodePort",
                            "message": f"Invalid value: {wanted}: provided port is already allocated",
                        }
                    )
                elif wanted not in NODE_PORT_RANGE:
                    causes.append(
                        {
                            "reason": "FieldValueInvalid",
                            "field": f"spec.ports[{i}].nodePort",
                            "message": f"Invalid value: {wanted}: provided port is not in the valid range. "
                            "The range of valid ports is 30000-32767",
                        }
                    )
                used.add(wanted)
                continue
            free = next((p for p in NODE_PORT_RANGE if p not in used), None)
            if free is not None:
                port["nodePort"] = free
                used.add(free)
        return causes

    # ---- CRDs ----------------------------------------------------------------------------------
    def _finish_crd(self, info: ResourceInfo, obj: Obj, old: Obj | None) -> None:
        """The apiextensions controllers' status: names accepted, Established, storedVersions."""
        if (info.group, info.kind) != ("apiextensions.k8s.io", "CustomResourceDefinition"):
            return
        spec = obj.get("spec") or {}
        names = dict(spec.get("names") or {})
        group = spec.get("group", "")
        causes = []
        if obj["metadata"].get("name") != f"{names.get('plural', '')}.{group}":
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "field": "metadata.name",
                    "message": f'Invalid value: "{obj["metadata"].get("name")}": '
                    'must be spec.names.plural+"."+spec.group',
                }
            )
        versions = spec.get("versions") or []
        if sum(1 for v in versions if v.get("storage")) != 1:
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "field": "spec.versions",
                    "message": "Invalid value: ...: must have exactly one version marked as storage version",
                }
            )
        if causes:
            raise errors.invalid(
                "CustomResourceDefinition", obj["metadata"].get("name") or "", causes, "apiextensions.k8s.io"
            )
        names.setdefault("singular", names.get("kind", "").lower())
        names.setdefault("listKind", names.get("kind", "") + "List")
        storage = next(v["name"] for v in versions if v.get("storage"))
        stored_versions = list(((old or {}).get("status") or {}).get("storedVersions") or [])
        if storage not in stored_versions:
            stored_versions.append(storage)
        now = now_rfc3339()
        old_conditions = {c.get("type"): c for c in ((old or {}).get("status") or {}).get("conditions") or []}

        def condition(kind: str, reason: str, message: str) -> dict[str, str]:
            previous = old_conditions.get(kind)
            stamp = previous.get("lastTransitionTime", now) if previous and previous.get("status") == "True" else now
            return {"type": kind, "status": "True", "lastTransitionTime": stamp, "reason": reason, "message": message}

        obj["status"] = {
            "conditions": [
                condition("NamesAccepted", "NoConflicts", "no conflicts found"),
                condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
            ],
            "acceptedNames": names,
            "storedVersions": stored_versions,
        }

    # ---- update --------------------------------------------------------------------------------
    def update(
        self,
        info: ResourceInfo,
        obj: Obj,
        namespace: str | None = None,
        name: str | None = None,
        *,
        subresource: str = "",
        dry_run: bool = False,
        field_validation: str = "Strict",
    ) -> Outcome:
        """PUT (replace) an object or its status/finalize subresource."""
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        ns = namespace if namespace is not None else (meta.get("namespace") or "")
        name = name if name is not None else (meta.get("name") or "")
        obj = self._accept_body(info, clone(obj), ns, name)
        with self.store.lock:
            stored = self.store.get(info.key, ns if info.namespaced else "", name)
            if stored is None:
                if info.allow_create_on_update and not subresource:
                    obj["metadata"].pop("resourceVersion", None)
                    return self._create_locked(info, obj, dry_run=dry_run, field_validation=field_validation)
                raise errors.not_found(info.plural, name, info.group)
            old = to_external(info, stored)
            return self._update_locked(info, obj, old, subresource, dry_run, field_validation)

    def _update_locked(
        self, info: ResourceInfo, obj: Obj, old: Obj, subresource: str, dry_run: bool, field_validation: str
    ) -> Outcome:
        self._check_preconditions(info, obj, old)
        new = self._prepare_update(info, obj, old, subresource)
        self._convert_secret(info, new)
        if subresource == "finalize":
            # defaults.py keeps a namespace's spec.finalizers from `old`: /finalize is the one way to change them.
            self._apply_defaults(
                new, {**old, "spec": {**(old.get("spec") or {}), "finalizers": new["spec"]["finalizers"]}}
            )
        else:
            self._apply_defaults(new, old)
        self._after_defaults(info, new, old)
        warnings = self._validate(info, new, old, field_validation)
        self._check_finalizers(info, new, old)
        if not subresource:
            self._bump_generation(info, new, old)  # the main resource's strategy; subresources keep the generation
        if self._spec_changed(info, new, old):
            warnings += self._pod_security(info, new, old)
        self._finish_crd(info, new, old)
        if _unchanged(new, old):
            return Outcome(self._external(info, old), 200, warnings, changed=False)
        new["metadata"]["resourceVersion"] = old["metadata"].get("resourceVersion")
        if dry_run:
            return Outcome(self._external(info, new), 200, warnings, changed=False)
        if self._delete_during_update(info, new, old):
            # The last finalizer is gone: the object is deleted instead of updated (registry
            # shouldDeleteDuringUpdate); watchers see one DELETED event, as from etcd.
            final = self.store.remove(info.key, new["metadata"].get("namespace") or "", new["metadata"]["name"])
            self._after_delete(info, final or new)
            return Outcome(self._external(info, final or new), 200, warnings)
        stored = self.store.put(info.key, to_storage(info, new, self._storage_api_version(info)))
        self._after_update(info, stored)
        return Outcome(self._external(info, stored), 200, warnings)

    def _delete_during_update(self, info: ResourceInfo, new: Obj, old: Obj) -> bool:
        """shouldDeleteDuringUpdate: no finalizer left on an object being deleted with no grace period left.

        A pod in its grace period stays (the kubelet ends it with a delete of grace 0); a namespace also
        waits for its spec.finalizers.
        """
        if not _deleting(new) or new["metadata"].get("finalizers") or self._namespace_finalizers(info, new):
            return False
        return not old["metadata"].get("deletionGracePeriodSeconds")

    def _check_preconditions(self, info: ResourceInfo, obj: Obj, old: Obj) -> None:
        meta, old_meta = obj["metadata"], old["metadata"]
        rv = meta.get("resourceVersion")
        if rv and rv != old_meta.get("resourceVersion"):
            raise errors.conflict(info.plural, old_meta["name"], info.group)
        uid = meta.get("uid")
        if uid and uid != old_meta.get("uid"):
            raise errors.conflict(
                info.plural,
                old_meta["name"],
                info.group,
                f"Precondition failed: UID in precondition: {uid}, UID in object meta: {old_meta.get('uid')}",
            )

    def _prepare_update(self, info: ResourceInfo, obj: Obj, old: Obj, subresource: str) -> Obj:
        """Strategy PrepareForUpdate: server-managed metadata from the stored object; status rules."""
        if subresource == "status":
            return self._prepare_status_update(info, obj, old)
        if subresource == "finalize":
            new = clone(old)
            new.setdefault("spec", {})["finalizers"] = list((obj.get("spec") or {}).get("finalizers") or [])
            return new
        new = obj
        _keep_server_metadata(new["metadata"], old["metadata"])
        if info.has_status:
            if "status" in old:
                new["status"] = clone(old["status"])
            else:
                new.pop("status", None)
        if (info.group, info.kind) == ("", "Namespace"):
            new["spec"] = {
                **(new.get("spec") or {}),
                "finalizers": list((old.get("spec") or {}).get("finalizers") or []),
            }
            new["status"] = clone(old.get("status") or {})
        return new

    def _prepare_status_update(self, info: ResourceInfo, obj: Obj, old: Obj) -> Obj:
        """The status strategy: only the status changes, except for kinds whose strategy keeps metadata.

        pkg/registry/apps/deployment/strategy.go deploymentStatusStrategy.PrepareForUpdate resets only spec
        and labels, so the deployment controller writes its revision annotation with UpdateStatus (no
        generation bump: that is the main resource's strategy).
        """
        new = clone(old)
        if "status" in obj:
            new["status"] = obj["status"]
        else:
            new.pop("status", None)
        if (info.group, info.kind) in STATUS_KEEPS_METADATA:
            meta = clone(obj["metadata"])
            _keep_server_metadata(meta, old["metadata"])
            _copy_key(old["metadata"], meta, "labels")
            new["metadata"] = meta
        return new

    def _check_finalizers(self, info: ResourceInfo, new: Obj, old: Obj) -> None:
        """No new finalizers once deletion started (ValidateObjectMetaUpdate)."""
        if not _deleting(old):
            return
        added = set(new["metadata"].get("finalizers") or []) - set(old["metadata"].get("finalizers") or [])
        if added:
            raise errors.invalid(
                info.kind,
                old["metadata"]["name"],
                [
                    {
                        "reason": "FieldValueForbidden",
                        "field": "metadata.finalizers",
                        "message": "Forbidden: no new finalizers can be added if the object is being deleted, "
                        f"found new finalizers []string{{{', '.join(json.dumps(f) for f in sorted(added))}}}",
                    }
                ],
                info.group,
            )

    def _spec_changed(self, info: ResourceInfo, new: Obj, old: Obj) -> bool:
        if info.is_custom:
            # Custom resources: any change outside metadata and status (apiextensions strategy).
            return {k: v for k, v in new.items() if k not in ("metadata", "status")} != {
                k: v for k, v in old.items() if k not in ("metadata", "status")
            }
        return new.get("spec") != old.get("spec")

    def _bump_generation(self, info: ResourceInfo, new: Obj, old: Obj) -> None:
        if not info.has_generation:
            return
        changed = self._spec_changed(info, new, old)
        if (info.group, info.kind) == ("apps", "Deployment"):
            # Deployment strategy: annotation changes bump too (they are copied to ReplicaSets).
            changed = changed or new["metadata"].get("annotations") != old["metadata"].get("annotations")
        generation = old["metadata"].get("generation") or 0
        new["metadata"]["generation"] = generation + 1 if changed else generation

    def _namespace_finalizers(self, info: ResourceInfo, obj: Obj) -> list[str]:
        if (info.group, info.kind) != ("", "Namespace"):
            return []
        return list((obj.get("spec") or {}).get("finalizers") or [])

    # ---- patch ---------------------------------------------------------------------------------
    def patch(
        self,
        info: ResourceInfo,
        name: str,
        namespace: str,
        patch_type: str,
        body: Any,
        *,
        subresource: str = "",
        dry_run: bool = False,
        field_validation: str = "Strict",
    ) -> Outcome:
        """PATCH: apply the patch to the stored object, then the update pipeline."""
        ns = namespace if info.namespaced else ""
        with self.store.lock:
            stored = self.store.get(info.key, ns, name)
            if stored is None:
                raise errors.not_found(info.plural, name, info.group)
            old = self._external(info, stored)
            if subresource == "scale":
                return self._patch_scale(info, old, patch_type, body, dry_run, field_validation)
            patched = self._apply_patch(
                info, clone(old), patch_type, body, self.schemas.kind(info.api_version, info.kind)
            )
            if not isinstance(patched, dict):
                raise errors.bad_request("the patched object is not a JSON object")
            patched = self._accept_body(info, patched, ns, name)
            return self._update_locked(info, patched, old, subresource, dry_run, field_validation)

    def _apply_patch(self, info: ResourceInfo, doc: Obj, patch_type: str, body: Any, node: dict | None) -> Any:
        try:
            if patch_type == "json":
                return json_patch(doc, body)
            if patch_type == "merge":
                return merge_patch(doc, body)
            if patch_type == "strategic":
                if info.is_custom or node is None:
                    raise _unsupported_patch(info)
                return strategic_merge_patch(doc, body, self.schemas, node)
        except PatchError as e:
            if e.code == 400:
                raise errors.bad_request(e.message) from e
            if e.code == 422:
                raise ApiError(422, "Invalid", e.message) from e
            raise errors.unknown_error(e.code, e.message) from e
        raise _unsupported_patch(info)

    # ---- scale subresource ---------------------------------------------------------------------
    def _scale_paths(self, info: ResourceInfo) -> tuple[list[str], list[str], list[str]]:
        if info.scale_paths:

            def split(path: str) -> list[str]:
                return [p for p in (path or "").lstrip(".").split(".") if p]

            return (
                split(info.scale_paths.get("specReplicasPath", "")),
                split(info.scale_paths.get("statusReplicasPath", "")),
                split(info.scale_paths.get("labelSelectorPath", "")),
            )
        return ["spec", "replicas"], ["status", "replicas"], []

    def scale_of(self, info: ResourceInfo, obj: Obj) -> Obj:
        """The autoscaling/v1 Scale view of a Deployment/StatefulSet/ReplicaSet (or a CR with scale)."""
        spec_path, status_path, selector_path = self._scale_paths(info)
        meta = obj["metadata"]
        replicas = _dig(obj, spec_path)
        if info.is_custom:
            selector = _dig(obj, selector_path) or ""
        else:
            selector = label_selector_to_string((obj.get("spec") or {}).get("selector"))
        scale_meta = {
            k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta
        }
        status: dict[str, Any] = {"replicas": _dig(obj, status_path) or 0}
        if selector:
            status["selector"] = selector
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": scale_meta,
            "spec": {"replicas": replicas or 0} if replicas else {},
            "status": status,
        }

    def get_scale(self, info: ResourceInfo, namespace: str, name: str) -> Obj:
        return self.scale_of(info, self.get(info, namespace, name))

    def update_scale(
        self,
        info: ResourceInfo,
        namespace: str,
        name: str,
        scale: Obj,
        *,
        dry_run: bool = False,
        field_validation: str = "Strict",
    ) -> Outcome:
        if scale.get("kind") not in (None, "Scale") or scale.get("apiVersion") not in (None, "autoscaling/v1"):
            raise errors.bad_request(
                f'{scale.get("kind")} in version "{scale.get("apiVersion")}" cannot be handled as a Scale: '
                "no kind is registered for the type"
            )
        with self.store.lock:
            old = self.get(info, namespace, name)
            return self._write_scale(info, old, scale, dry_run, field_validation)

    def _patch_scale(
        self, info: ResourceInfo, old: Obj, patch_type: str, body: Any, dry_run: bool, field_validation: str
    ) -> Outcome:
        """PATCH on /scale patches the Scale view (a built-in type, so strategic merge works for CRs too)."""
        node = self.schemas.kind("autoscaling/v1", "Scale")
        current = self.scale_of(info, old)
        if patch_type == "strategic":
            patched = self._strategic_scale(current, body, node)
        else:
            patched = self._apply_patch(info, current, patch_type, body, node)
        return self._write_scale(info, old, patched, dry_run, field_validation)

    def _strategic_scale(self, current: Obj, body: Any, node: dict | None) -> Obj:
        try:
            return strategic_merge_patch(current, body, self.schemas, node)
        except PatchError as e:
            raise errors.bad_request(e.message) from e

    def _write_scale(self, info: ResourceInfo, old: Obj, scale: Obj, dry_run: bool, field_validation: str) -> Outcome:
        meta = scale.get("metadata") or {}
        if meta.get("resourceVersion") and meta["resourceVersion"] != old["metadata"].get("resourceVersion"):
            raise errors.conflict(info.plural, old["metadata"]["name"], info.group)
        replicas = (scale.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid(
                "Scale",
                old["metadata"]["name"],
                [
                    {
                        "reason": "FieldValueInvalid",
                        "field": "spec.replicas",
                        "message": f"Invalid value: {replicas}: must be greater than or equal to 0",
                    }
                ],
                "autoscaling",
            )
        new = clone(old)
        spec_path, _, _ = self._scale_paths(info)
        _set_path(new, spec_path, replicas)
        outcome = self._update_locked(info, new, old, "", dry_run, field_validation)
        outcome.body = self.scale_of(info, outcome.body)
        return outcome

    # ---- pods/binding subresource -------------------------------------------------------------
    def bind_pod(self, namespace: str, name: str, binding: Any, *, dry_run: bool = False) -> Outcome:
        """POST pods/NAME/binding: assign the pod to a node (what the scheduler does).

        pkg/registry/core/pod/storage/storage.go BindingREST.Create + setPodNodeAndMetadata: a v1 Binding
        named like the pod; uid/resourceVersion in its metadata are preconditions; a pod being deleted,
        already assigned or with scheduling gates is a 409 Conflict on pods/binding; the write sets
        spec.nodeName, merges the Binding's annotations and sets PodScheduled True, in storage (no
        strategy: no validation, no generation). Answers 201 with a Success Status.
        """
        binding = self._accept_binding(binding, namespace, name)
        info = self.info("v1", "Pod")
        with self.store.lock:
            stored = self.store.get(info.key, namespace, name)
            if stored is None:
                raise errors.not_found("pods", name)
            _binding_preconditions(binding, stored)
            pod = clone(stored)
            _assign_pod(pod, binding)
            if not dry_run:
                self._after_update(info, self.store.put(info.key, pod))
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
        return Outcome(status, 201, changed=not dry_run)

    def _accept_binding(self, binding: Any, namespace: str, name: str) -> Obj:
        """Decode-time checks and ValidatePodBinding (pkg/apis/core/validation)."""
        if not isinstance(binding, dict):
            raise errors.bad_request("the object provided is unrecognized (must be of type Binding)")
        kind, api_version = binding.get("kind") or "Binding", binding.get("apiVersion") or "v1"
        if (kind, api_version) != ("Binding", "v1"):
            raise errors.bad_request(
                f'{kind} in version "{api_version.rpartition("/")[2]}" cannot be handled as a Binding: '
                f'no kind "{kind}" is registered for version "{api_version}"'
            )
        meta = binding.get("metadata") if isinstance(binding.get("metadata"), dict) else {}
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        if meta.get("name") != name:
            raise errors.bad_request("name in URL does not match name in Binding object")
        target = binding.get("target") if isinstance(binding.get("target"), dict) else {}
        problems = []
        if target.get("kind") not in (None, "", "Node"):
            problems.append(f'target.kind: Unsupported value: "{target["kind"]}": supported values: "Node", "<empty>"')
        if not target.get("name"):
            problems.append("target.name: Required value")
        if problems:
            # errs.ToAggregate() is no StatusError: the handler answers 500 with reason Unknown.
            text = problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"
            raise errors.unknown_error(500, text)
        return {"metadata": meta, "target": target}

    # ---- delete --------------------------------------------------------------------------------
    def delete(
        self,
        info: ResourceInfo,
        name: str,
        namespace: str = "",
        *,
        options: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> Outcome:
        """DELETE: immediate, or deletionTimestamp + finalizers (foreground/orphan/namespace)."""
        options = options or {}
        ns = namespace if info.namespaced else ""
        with self.store.lock:
            stored = self.store.get(info.key, ns, name)
            if stored is None:
                raise errors.not_found(info.plural, name, info.group)
            return self._delete_locked(info, stored, options, dry_run)

    def _delete_locked(self, info: ResourceInfo, stored: Obj, options: dict[str, Any], dry_run: bool) -> Outcome:
        """registry Store.Delete: graceful deletion and finalizers keep the object (deletionTimestamp set)."""
        name = stored["metadata"]["name"]
        self._check_delete_preconditions(info, stored, options)
        if (info.group, info.kind) == ("", "Namespace") and name in PROTECTED_NAMESPACES:
            raise errors.forbidden("namespaces", name, "this namespace may not be deleted")
        policy, warnings = self._propagation_policy(info, options)
        if _deleting(stored):
            return self._delete_again(info, stored, options, dry_run, warnings)
        obj = clone(stored)
        finalizers = _gc_finalizers(obj, policy)
        grace = _grace_period(info, stored, options)
        if finalizers or (info.group, info.kind) == ("", "Namespace") or grace:
            return self._mark_deleting(info, obj, finalizers, grace or 0, dry_run, warnings)
        if grace == 0:
            # A graceful kind deleted gracelessly: the object is marked deleting, then removed (two watch events).
            _set_deletion(obj["metadata"], 0)
            return self._remove(info, obj, dry_run, warnings, mark_first=True)
        return self._remove(info, stored, dry_run, warnings)

    def _delete_again(
        self, info: ResourceInfo, stored: Obj, options: dict[str, Any], dry_run: bool, warnings: list[str]
    ) -> Outcome:
        """rest.BeforeDelete on an object already being deleted: only a shorter grace period changes anything."""
        meta = stored["metadata"]
        current = meta.get("deletionGracePeriodSeconds") or 0
        requested = _requested_grace(options)
        if not current or requested is None or requested >= current:
            return Outcome(self._external(info, stored), 200, warnings, changed=False)
        obj = clone(stored)
        started = _parse_rfc3339(meta["deletionTimestamp"]) - current
        _set_deletion(obj["metadata"], requested, started)
        if requested or obj["metadata"].get("finalizers"):
            return self._write_deleting(info, obj, dry_run, warnings)
        return self._remove(info, obj, dry_run, warnings, mark_first=True)

    def _mark_deleting(
        self, info: ResourceInfo, obj: Obj, finalizers: list[str], grace: int, dry_run: bool, warnings: list[str]
    ) -> Outcome:
        """BeforeDelete: deletionTimestamp (now + grace period), deletionGracePeriodSeconds, finalizers."""
        meta = obj["metadata"]
        _set_deletion(meta, grace)
        if finalizers:
            meta["finalizers"] = finalizers
        if meta.get("generation"):
            meta["generation"] += 1  # rest.BeforeDelete bumps generation when it is set
        if (info.group, info.kind) == ("", "Namespace"):
            obj["status"] = {**(obj.get("status") or {}), "phase": "Terminating"}
        return self._write_deleting(info, obj, dry_run, warnings)

    def _write_deleting(self, info: ResourceInfo, obj: Obj, dry_run: bool, warnings: list[str]) -> Outcome:
        """A delete that keeps the object: 200 with the object as stored (any kind, not only ReturnDeletedObject)."""
        if dry_run:
            return Outcome(self._external(info, obj), 200, warnings, changed=False)
        stored = self.store.put(info.key, obj)
        return Outcome(self._external(info, stored), 200, warnings)

    def _remove(
        self, info: ResourceInfo, obj: Obj, dry_run: bool, warnings: list[str], *, mark_first: bool = False
    ) -> Outcome:
        """Delete from storage; the answer is the deleted object or a Status (finalizeDelete)."""
        if dry_run:
            return Outcome(self._deleted_answer(info, obj), 200, warnings, changed=False)
        meta = obj["metadata"]
        if mark_first:
            obj = self.store.put(info.key, obj)
        final = self.store.remove(info.key, meta.get("namespace") or "", meta["name"]) or obj
        self._after_delete(info, final)
        return Outcome(self._deleted_answer(info, final), 200, warnings)

    def _deleted_answer(self, info: ResourceInfo, obj: Obj) -> Obj:
        """The deleted object where the registry sets ReturnDeletedObject (resources.py), else a Success Status
        (registry finalizeDelete)."""
        if info.return_deleted_object:
            return self._external(info, obj)
        details: dict[str, Any] = {"name": obj["metadata"]["name"]}
        if info.group:
            details["group"] = info.group
        details["kind"] = info.plural
        details["uid"] = obj["metadata"].get("uid")
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    def _check_delete_preconditions(self, info: ResourceInfo, stored: Obj, options: dict[str, Any]) -> None:
        pre = options.get("preconditions") or {}
        meta = stored["metadata"]
        if pre.get("uid") and pre["uid"] != meta.get("uid"):
            raise errors.conflict(
                info.plural,
                meta["name"],
                info.group,
                f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {meta.get('uid')}",
            )
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta.get("resourceVersion"):
            raise errors.conflict(
                info.plural,
                meta["name"],
                info.group,
                f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                f"ResourceVersion in object meta: {meta.get('resourceVersion')}",
            )

    def _propagation_policy(self, info: ResourceInfo, options: dict[str, Any]) -> tuple[str, list[str]]:
        policy = options.get("propagationPolicy")
        orphan = options.get("orphanDependents")
        if policy and orphan is not None:
            raise errors.invalid_options(
                "DeleteOptions",
                [
                    {
                        "reason": "FieldValueInvalid",
                        "field": "propagationPolicy",
                        "message": "Invalid value: ...: orphanDependents and deletionPropagation cannot be both set",
                    }
                ],
            )
        if policy and policy not in ("Foreground", "Background", "Orphan"):
            raise errors.invalid_options(
                "DeleteOptions",
                [
                    {
                        "reason": "FieldValueNotSupported",
                        "field": "propagationPolicy",
                        "message": f'Unsupported value: "{policy}": '
                        'supported values: "Foreground", "Background", "Orphan"',
                    }
                ],
            )
        if orphan is not None:
            return ("Orphan" if orphan else "Background"), []
        if policy:
            return policy, []
        if (info.group, info.kind) == ("batch", "Job"):
            # batch/v1 Jobs orphan their pods by default, and the API server says so.
            return "Orphan", [
                "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to "
                "remove them or set propagationPolicy=Orphan to suppress this warning"
            ]
        return "Background", []

    def delete_collection(
        self,
        info: ResourceInfo,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        options: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> Outcome:
        """DELETE on a collection: deletes what the selectors match; answers the list of deleted items."""
        listing = self.list(info, namespace, label_selector, field_selector)
        deleted: list[Obj] = []
        warnings: list[str] = []
        with self.store.lock:
            for item in listing["items"]:
                meta = item["metadata"]
                stored = self.store.get(info.key, meta.get("namespace") or "", meta["name"])
                if stored is None:
                    continue
                outcome = self._delete_locked(info, stored, options or {}, dry_run)
                warnings = outcome.warnings
                body = outcome.body if outcome.body.get("kind") != "Status" else self._external(info, stored)
                deleted.append({k: v for k, v in body.items() if k not in ("kind", "apiVersion")})
        listing["items"] = deleted
        return Outcome(listing, 200, warnings, changed=bool(deleted) and not dry_run)

    # ---- side effects of writes ----------------------------------------------------------------
    def _after_create(self, info: ResourceInfo, stored: Obj) -> None:
        kind = (info.group, info.kind)
        if kind == ("", "Namespace"):
            self._namespace_defaults(stored["metadata"]["name"])
        elif kind == ("apiextensions.k8s.io", "CustomResourceDefinition"):
            self.registry.register_crd(stored)

    def _after_update(self, info: ResourceInfo, stored: Obj) -> None:
        if (info.group, info.kind) == ("apiextensions.k8s.io", "CustomResourceDefinition"):
            self.registry.register_crd(stored)
        elif (info.group, info.kind) == ("", "Pod"):
            self.logs.wake()  # a followed log ends as soon as its container terminates

    def _after_delete(self, info: ResourceInfo, final: Obj) -> None:
        kind = (info.group, info.kind)
        if kind == ("apiextensions.k8s.io", "CustomResourceDefinition"):
            self.registry.unregister_crd(final["metadata"]["name"])
        elif kind == ("", "Pod"):
            self.logs.forget(final["metadata"].get("namespace") or "", final["metadata"]["name"])

    def _namespace_defaults(self, ns: str) -> None:
        """What the serviceaccount and root-ca-cert-publisher controllers put in every namespace."""
        if self.store.get(SERVICE_ACCOUNTS, ns, "default") is None:
            self.create(self.info("v1", "ServiceAccount"), {"metadata": {"name": "default"}}, ns)
        if self.store.get(CONFIGMAPS, ns, "kube-root-ca.crt") is None:
            cm = {
                "metadata": {
                    "name": "kube-root-ca.crt",
                    "annotations": {
                        "kubernetes.io/description": "Contains a CA bundle that can be used to "
                        "verify the kube-apiserver when using internal endpoints such as the "
                        "internal service IP or kubernetes.default.svc. No other usage is "
                        "guaranteed across distributions of Kubernetes clusters."
                    },
                },
                "data": {"ca.crt": self.ca_pem},
            }
            self.create(self.info("v1", "ConfigMap"), cm, ns)

    # ---- body checks ---------------------------------------------------------------------------
    def _accept_body(self, info: ResourceInfo, obj: Any, namespace: str, name: str | None = None) -> Obj:
        """Decode-time checks: an object of this kind and version, in this namespace, with this name."""
        if not isinstance(obj, dict):
            raise errors.bad_request(
                f"the object provided is unrecognized (must be of type {info.kind}): "
                "couldn't get version/kind; json parse error: expected an object"
            )
        kind = obj.get("kind") or info.kind
        api_version = obj.get("apiVersion") or info.api_version
        if kind != info.kind:
            raise errors.bad_request(
                f'{kind} in version "{api_version.rpartition("/")[2]}" cannot be handled as a {info.kind}: '
                f'no kind "{kind}" is registered for the resource "{info.plural}"'
            )
        if api_version != info.api_version:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({info.api_version})"
            )
        obj["kind"], obj["apiVersion"] = kind, api_version
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise errors.bad_request(
                f'{kind} in version "{api_version.rpartition("/")[2]}" cannot be handled as a {info.kind}: '
                "json: cannot unmarshal into Go struct field .metadata of type v1.ObjectMeta"
            )
        if info.namespaced:
            if meta.get("namespace") and namespace and meta["namespace"] != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace or meta.get("namespace") or ""
            if not meta["namespace"]:
                raise errors.bad_request("an empty namespace may not be set during creation")
        else:
            meta.pop("namespace", None)
        if name is not None and meta.get("name") != name:
            raise errors.bad_request(
                f"the name of the object ({meta.get('name', '')}) does not match the name on the URL ({name})"
            )
        return obj

    # ---- watch ---------------------------------------------------------------------------------
    def watch(
        self,
        info: ResourceInfo,
        namespace: str | None,
        *,
        resource_version: str = "",
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout: float = 1800.0,
        bookmarks: bool = False,
        send_initial_events: bool | None = None,
    ) -> Iterator[Obj | None]:
        """Watch events as dicts ({"type", "object"}); None is an idle tick (lets callers check liveness).

        resourceVersion "" or "0" (or sendInitialEvents) starts with ADDED events for the current
        state; a specific resourceVersion replays what happened after it (410 Expired as an ERROR
        event when the history no longer has it).
        """
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector, info.allowed_field_selectors())
        ns = namespace if info.namespaced else None
        initial = send_initial_events if send_initial_events is not None else resource_version in ("", "0")
        since = None if initial else _parse_rv(resource_version)
        try:
            with self.store.lock:
                watcher, backlog = self.store.watch(info.key, ns, since)
                snapshot = self.store.list(info.key, ns) if initial else []
                revision = self.store.revision
        except TooOld as e:
            return iter([{"type": "ERROR", "object": errors.gone(str(e)).to_status()}])
        return self._watch_stream(
            info, watcher, backlog, snapshot, revision, labels, fields, timeout, bookmarks, bool(send_initial_events)
        )

    def _watch_stream(
        self,
        info: ResourceInfo,
        watcher: Any,
        backlog: list[Event],
        snapshot: list[Obj],
        revision: int,
        labels: LabelSelector,
        fields: FieldSelector,
        timeout: float,
        bookmarks: bool,
        initial_end: bool,
    ) -> Iterator[Obj | None]:
        deadline = time.monotonic() + timeout
        last_bookmark = time.monotonic()
        try:
            for obj in snapshot:
                external = self._external(info, obj)
                if labels.matches(obj["metadata"].get("labels")) and fields.matches(external):
                    yield {"type": "ADDED", "object": external}
            if initial_end and bookmarks:
                yield self._bookmark(info, revision, initial_end=True)
            for event in backlog:
                out = self._translate(info, event, labels, fields)
                if out is not None:
                    yield out
            while not self.closing.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                event = watcher.get(timeout=min(1.0, remaining))
                if event is None:
                    if bookmarks and time.monotonic() - last_bookmark > 60:
                        last_bookmark = time.monotonic()
                        yield self._bookmark(info, self.store.revision)
                    else:
                        yield None
                    continue
                out = self._translate(info, event, labels, fields)
                if out is not None:
                    yield out
        finally:
            self.store.unwatch(watcher)

    def _bookmark(self, info: ResourceInfo, revision: int, initial_end: bool = False) -> Obj:
        meta: dict[str, Any] = {"resourceVersion": str(revision)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {"type": "BOOKMARK", "object": {"kind": info.kind, "apiVersion": info.api_version, "metadata": meta}}

    def _translate(self, info: ResourceInfo, event: Event, labels: LabelSelector, fields: FieldSelector) -> Obj | None:
        """A store event as the watcher sees it: entering/leaving the selection is ADDED/DELETED."""
        new = self._external(info, event.obj)
        now_in = labels.matches(new["metadata"].get("labels")) and fields.matches(new)
        was_in = False
        if event.old is not None:
            old = to_external(info, event.old)
            was_in = labels.matches(old["metadata"].get("labels")) and fields.matches(old)
        if event.type == "DELETED":
            return {"type": "DELETED", "object": new} if was_in or now_in else None
        if event.type == "ADDED":
            return {"type": "ADDED", "object": new} if now_in else None
        if now_in and was_in:
            return {"type": "MODIFIED", "object": new}
        if now_in:
            return {"type": "ADDED", "object": new}
        if was_in:
            return {"type": "DELETED", "object": new}
        return None

    # ---- pod logs ------------------------------------------------------------------------------
    def pod_log(self, namespace: str, name: str, params: dict[str, str]) -> Iterator[bytes | None]:
        """GET pods/log: the container's lines (tailLines, sinceSeconds, timestamps), following if asked."""
        pod = self.get(self.info("v1", "Pod"), namespace, name)
        container = self._log_container(pod, params.get("container") or "")
        if parse_bool(params.get("previous")):
            raise errors.bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
        self._check_container_started(pod, container)
        follow = parse_bool(params.get("follow"))
        timestamps = parse_bool(params.get("timestamps"))
        since = _since(params)
        tail = _int_param(params, "tailLines")
        limit = _int_param(params, "limitBytes")
        uid = pod["metadata"].get("uid")
        return self._log_stream(namespace, name, uid, container, follow, timestamps, since, tail, limit)

    def _log_container(self, pod: Obj, wanted: str) -> str:
        spec = pod.get("spec") or {}
        names = [c.get("name") for c in spec.get("containers") or []]
        init = [c.get("name") for c in spec.get("initContainers") or []]
        ephemeral = [c.get("name") for c in spec.get("ephemeralContainers") or []]
        name = pod["metadata"]["name"]
        if not wanted:
            if len(names) == 1:
                return names[0]
            message = f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]"
            if init:
                message += f" or one of the init containers: [{' '.join(init)}]"
            raise errors.bad_request(message)
        if wanted not in names + init + ephemeral:
            raise errors.bad_request(f"container {wanted} is not valid for pod {name}")
        return wanted

    def _check_container_started(self, pod: Obj, container: str) -> None:
        meta = pod["metadata"]
        if self.logs.has(meta.get("namespace") or "", meta["name"], container):
            return
        status = pod.get("status") or {}
        statuses = (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or [])
        mine = next((s for s in statuses if s.get("name") == container), None)
        state = (mine or {}).get("state") or {}
        if (mine is None and status.get("phase") in (None, "Pending")) or "waiting" in state:
            reason = (state.get("waiting") or {}).get("reason") or "ContainerCreating"
            raise errors.bad_request(f'container "{container}" in pod "{meta["name"]}" is waiting to start: {reason}')

    def _log_stream(
        self,
        namespace: str,
        name: str,
        uid: str | None,
        container: str,
        follow: bool,
        timestamps: bool,
        since: float | None,
        tail: int | None,
        limit: int | None,
    ) -> Iterator[bytes | None]:
        lines = self.logs.lines(namespace, name, container)
        position = len(lines)
        if since is not None:
            lines = [entry for entry in lines if entry[0] >= since]
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        sent = 0
        for stamp, text in lines:
            chunk = _log_line(stamp, text, timestamps)
            if limit is not None and sent + len(chunk) > limit:
                yield chunk[: limit - sent]
                return
            sent += len(chunk)
            yield chunk
        while follow and not self.closing.is_set():
            with self.logs.cond:
                self.logs.cond.wait(timeout=1.0)
            fresh = self.logs.lines(namespace, name, container, position)
            position += len(fresh)
            for stamp, text in fresh:
                yield _log_line(stamp, text, timestamps)
            if not fresh:
                if self._log_finished(namespace, name, uid, container):
                    return
                yield None

    def _log_finished(self, namespace: str, name: str, uid: str | None, container: str) -> bool:
        """A followed log ends when the container terminates or the pod is gone."""
        pod = self.store.get(PODS, namespace, name)
        if pod is None or pod["metadata"].get("uid") != uid:
            return True
        status = pod.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            return True
        for s in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
            if s.get("name") == container and "terminated" in (s.get("state") or {}):
                return True
        return False


def _gc_finalizers(obj: Obj, policy: str) -> list[str]:
    """The object's finalizers plus the garbage collector's for Foreground/Orphan propagation."""
    finalizers = list(obj["metadata"].get("finalizers") or [])
    wanted = {"Foreground": "foregroundDeletion", "Orphan": "orphan"}.get(policy)
    if wanted and wanted not in finalizers:
        finalizers.append(wanted)
    return finalizers


def _requested_grace(options: dict[str, Any]) -> int | None:
    """DeleteOptions.gracePeriodSeconds (query or body); negative values count as 1 (rest.BeforeDelete)."""
    value = options.get("gracePeriodSeconds")
    if value is None or value == "":
        return None
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        raise errors.bad_request(f'gracePeriodSeconds: Invalid value: "{value}": must be an integer') from None
    return 1 if seconds < 0 else seconds


def _grace_period(info: ResourceInfo, pod: Obj, options: dict[str, Any]) -> int | None:
    """podStrategy.CheckGracefulDelete (pkg/registry/core/pod/strategy.go); None for kinds without graceful deletion.

    The request's gracePeriodSeconds, else spec.terminationGracePeriodSeconds (defaulted to 30); 0 for a
    pod that was never scheduled or has already terminated; a negative value counts as 1.
    """
    if (info.group, info.kind) != ("", "Pod"):
        return None
    requested = _requested_grace(options)
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    period = requested if requested is not None else int(spec.get("terminationGracePeriodSeconds") or 0)
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        return 0
    return 1 if period < 0 else period


def _set_deletion(meta: dict[str, Any], grace: int, start: float | None = None) -> None:
    """deletionTimestamp is when the grace period ends (now + grace), with the grace period beside it."""
    moment = (time.time() if start is None else start) + grace
    meta["deletionTimestamp"] = datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta["deletionGracePeriodSeconds"] = grace


def _parse_rfc3339(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def _binding_preconditions(binding: Obj, stored: Obj) -> None:
    """The Binding's uid/resourceVersion are storage preconditions: a mismatch is a 409 on pods."""
    want, have = binding["metadata"], stored["metadata"]
    for key, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
        if want.get(key) and want[key] != have.get(key):
            raise errors.conflict(
                "pods",
                have["name"],
                "",
                f"Precondition failed: {label} in precondition: {want[key]}, {label} in object meta: {have.get(key)}",
            )


def _assign_pod(pod: Obj, binding: Obj) -> None:
    """setPodNodeAndMetadata's update of the stored pod (409 Conflict on pods/binding when it may not)."""
    meta, spec = pod["metadata"], pod.setdefault("spec", {})
    name = meta["name"]
    refusal = ""
    if meta.get("deletionTimestamp"):
        refusal = f"pod {name} is being deleted, cannot be assigned to a host"
    elif spec.get("nodeName"):
        refusal = f'pod {name} is already assigned to node "{spec["nodeName"]}"'
    elif spec.get("schedulingGates"):
        refusal = f"pod {name} has non-empty .spec.schedulingGates"
    if refusal:
        raise errors.conflict("pods/binding", name, "", refusal)
    spec["nodeName"] = binding["target"]["name"]
    annotations = (binding["metadata"] or {}).get("annotations") or {}
    if annotations:
        meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
    status = pod.setdefault("status", {})
    status["conditions"] = _pod_scheduled(list(status.get("conditions") or []))


def _pod_scheduled(conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """podutil.UpdatePodCondition(PodScheduled=True): a new transition time only when the status changes."""
    current = next((c for c in conditions if c.get("type") == "PodScheduled"), None)
    if current is not None and current.get("status") == "True":
        return conditions
    condition = {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now_rfc3339()}
    if current is None:
        return [*conditions, condition]
    return [condition if c is current else c for c in conditions]


_SERVER_METADATA = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "name",
    "namespace",
    "selfLink",
)


def _keep_server_metadata(meta: dict[str, Any], old_meta: dict[str, Any]) -> None:
    """rest.BeforeUpdate and the strategies: fields only the server sets come from the stored object."""
    for key in _SERVER_METADATA:
        _copy_key(old_meta, meta, key)
    meta.pop("managedFields", None)


def _copy_key(source: dict[str, Any], target: dict[str, Any], key: str) -> None:
    if key in source:
        target[key] = source[key]
    else:
        target.pop(key, None)


def _unmount_token(spec: dict[str, Any]) -> None:
    """Remove the kube-api-access-xxxxx volume and its mounts (the account opts out of automounting)."""
    names = {v.get("name") for v in spec.get("volumes") or [] if str(v.get("name", "")).startswith("kube-api-access-")}
    if not names:
        return
    spec["volumes"] = [v for v in spec["volumes"] if v.get("name") not in names]
    if not spec["volumes"]:
        del spec["volumes"]
    for group in ("containers", "initContainers"):
        for c in spec.get(group) or []:
            mounts = [m for m in c.get("volumeMounts") or [] if m.get("name") not in names]
            if mounts:
                c["volumeMounts"] = mounts
            else:
                c.pop("volumeMounts", None)


def _in_service_cidr(ip: str) -> bool:
    parts = ip.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
        return False
    n = (int(parts[0]) << 24) | (int(parts[1]) << 16) | (int(parts[2]) << 8) | int(parts[3])
    return SERVICE_CIDR_BASE <= n < SERVICE_CIDR_BASE + SERVICE_CIDR_SIZE


def _unsupported_patch(info: ResourceInfo) -> ApiError:
    accepted = "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    if not info.is_custom:
        accepted += ", application/strategic-merge-patch+json"
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: {accepted}",
    )


def _dig(obj: Any, path: list[str]) -> Any:
    for part in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _set_path(obj: Obj, path: list[str], value: Any) -> None:
    for part in path[:-1]:
        obj = obj.setdefault(part, {})
    obj[path[-1]] = value


def _parse_rv(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise errors.bad_request(f'invalid resource version "{text}"') from None
    if value < 0:
        raise errors.bad_request(f'invalid resource version "{text}"')
    return value


def _encode_continue(revision: int, namespace: str, name: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": [namespace, name]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[str, str]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        namespace, name = raw["start"]
        return str(namespace), str(name)
    except (ValueError, KeyError, TypeError):
        raise errors.bad_request("continue key is not valid: invalid continue token") from None


def _int_param(params: dict[str, str], name: str) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise errors.bad_request(f'{name}: Invalid value: "{value}": must be an integer') from None


def _since(params: dict[str, str]) -> float | None:
    seconds = _int_param(params, "sinceSeconds")
    if seconds is not None:
        if seconds < 1:
            raise errors.invalid(
                "PodLogOptions",
                "",
                [
                    {
                        "reason": "FieldValueInvalid",
                        "field": "sinceSeconds",
                        "message": "Invalid value: ...: must be greater than 0",
                    }
                ],
            )
        return time.time() - seconds
    stamp = params.get("sinceTime")
    if stamp:
        try:
            return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
        except ValueError:
            raise errors.bad_request(f'sinceTime: Invalid value: "{stamp}": must be RFC3339') from None
    return None


def _log_line(stamp: float, text: str, timestamps: bool) -> bytes:
    if timestamps:
        moment = datetime.fromtimestamp(stamp, UTC)
        prefix = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}000Z "
        return (prefix + text + "\n").encode()
    return (text + "\n").encode()


# ---- control plane: garbage collector, namespace and CRD finalization -------------------------------


class _ControlPlane:
    """The controllers part 1 needs: garbage collector, namespace lifecycle, CRD cleanup.

    Store events enqueue small tasks; one worker thread runs them through `Api`, so they see
    the same semantics as clients do (a dependent with finalizers lingers, a namespace waits for
    its content). Later parts add their controllers next to these.
    """

    def __init__(self, api: Api) -> None:
        self.api = api
        self.tasks: queue.Queue[tuple[str, ...] | None] = queue.Queue()
        self.thread: threading.Thread | None = None
        self._pending: set[tuple[str, ...]] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        self.api.store.subscribe(self._on_event)
        self.thread = threading.Thread(target=self._run, name="kubesim-controllers", daemon=True)
        self.thread.start()
        # Work left over from before a restart: terminating namespaces, objects being finalized.
        for key, obj in list(self.api.store.iter_all()):
            self._on_event(Event(0, "MODIFIED", key, obj, None))

    def stop(self) -> None:
        self.tasks.put(None)
        if self.thread is not None:
            self.thread.join(timeout=5)

    def _enqueue(self, task: tuple[str, ...]) -> None:
        with self._lock:
            if task in self._pending:
                return
            self._pending.add(task)
        self.tasks.put(task)

    def _on_event(self, event: Event) -> None:
        meta = event.obj.get("metadata") or {}
        ns = meta.get("namespace") or ""
        if event.type == "DELETED":
            if meta.get("uid"):
                self._enqueue(("dependents", meta["uid"]))
            # An owner in foreground deletion waits for this dependent: look at it again.
            for ref in meta.get("ownerReferences") or ():
                owner = self.api.store.by_uid(ref.get("uid", ""))
                if owner is not None:
                    self._enqueue(("finalize", *owner))
        else:
            if event.key == NAMESPACES and meta.get("deletionTimestamp"):
                self._enqueue(("namespace", meta["name"]))
            finalizers = meta.get("finalizers") or []
            if meta.get("deletionTimestamp") and ("foregroundDeletion" in finalizers or "orphan" in finalizers):
                self._enqueue(("finalize", event.key, ns, meta["name"]))
            if event.key == CRDS and meta.get("deletionTimestamp"):
                self._enqueue(("crd", meta["name"]))
            if meta.get("ownerReferences") and event.type == "ADDED":
                self._enqueue(("owners", event.key, ns, meta["name"]))
        if ns:
            namespace = self.api.store.get(NAMESPACES, "", ns)
            if namespace is not None and _deleting(namespace):
                self._enqueue(("namespace", ns))

    def _run(self) -> None:
        while True:
            task = self.tasks.get()
            if task is None:
                return
            with self._lock:
                self._pending.discard(task)
            try:
                getattr(self, f"_task_{task[0]}")(*task[1:])
            except ApiError:
                pass  # the object changed under us; the next event brings the task back
            except Exception:
                import traceback

                traceback.print_exc()

    def _info_for(self, key: str) -> ResourceInfo | None:
        return self.api.registry.storage_info(key)

    def _update(self, key: str, obj: Obj) -> None:
        info = self._info_for(key)
        if info is not None:
            self.api.update(info, obj, obj["metadata"].get("namespace") or "", obj["metadata"]["name"])

    def _delete(self, key: str, ns: str, name: str, policy: str = "Background") -> None:
        info = self._info_for(key)
        if info is not None:
            self.api.delete(info, name, ns, options={"propagationPolicy": policy})

    # garbage collector ----------------------------------------------------------------------------
    def _task_dependents(self, owner_uid: str) -> None:
        """An owner is gone: dependents with no owner left are deleted, others lose the dangling reference."""
        for key, ns, name in self.api.store.dependents(owner_uid):
            self._task_owners(key, ns, name)

    def _task_owners(self, key: str, ns: str, name: str) -> None:
        with self.api.store.lock:
            obj = self.api.store.get(key, ns, name)
            if obj is None:
                return
            refs = obj["metadata"].get("ownerReferences") or []
            alive = [r for r in refs if self.api.store.by_uid(r.get("uid", "")) is not None]
            if len(alive) == len(refs):
                return
            if alive:
                new = clone(obj)
                new["metadata"]["ownerReferences"] = alive
                self._update(key, new)
            elif not _deleting(obj):
                self._delete(key, ns, name)

    def _task_finalize(self, key: str, ns: str, name: str) -> None:
        """Foreground: delete dependents, then drop the finalizer. Orphan: release dependents, then drop it."""
        with self.api.store.lock:
            obj = self.api.store.get(key, ns, name)
            if obj is None or not _deleting(obj):
                return
            uid = obj["metadata"].get("uid", "")
            finalizers = list(obj["metadata"].get("finalizers") or [])
            dependents = self.api.store.dependents(uid)
            if "orphan" in finalizers:
                for dkey, dns, dname in dependents:
                    dep = self.api.store.get(dkey, dns, dname)
                    if dep is None:
                        continue
                    new = clone(dep)
                    new["metadata"]["ownerReferences"] = [
                        r for r in dep["metadata"].get("ownerReferences") or [] if r.get("uid") != uid
                    ]
                    self._update(dkey, new)
                finalizers.remove("orphan")
            elif "foregroundDeletion" in finalizers:
                pending = False
                for dkey, dns, dname in dependents:
                    dep = self.api.store.get(dkey, dns, dname)
                    if dep is None:
                        continue
                    pending = True
                    if not _deleting(dep):
                        self._delete(dkey, dns, dname, "Foreground")
                if pending and self.api.store.dependents(uid):
                    return  # their deletion events bring this task back
                finalizers.remove("foregroundDeletion")
            else:
                return
            new = clone(obj)
            new["metadata"]["finalizers"] = finalizers
            self._update(key, new)

    # namespace controller ------------------------------------------------------------------------
    def _task_namespace(self, name: str) -> None:
        """Delete everything in a terminating namespace, report what remains, then finalize it."""
        with self.api.store.lock:
            ns = self.api.store.get(NAMESPACES, "", name)
            if ns is None or not _deleting(ns):
                return
            remaining: dict[str, int] = {}
            finalizers: dict[str, int] = {}
            for key in self.api.registry.storage_keys(namespaced=True):
                for obj in self.api.store.list(key, name):
                    meta = obj["metadata"]
                    if not _deleting(obj):
                        self._delete(key, name, meta["name"])
                    current = self.api.store.get(key, name, meta["name"])
                    if current is not None:
                        resource = key.split("/", 1)[1] + ("." + key.split("/", 1)[0] if key.split("/", 1)[0] else "")
                        remaining[resource] = remaining.get(resource, 0) + 1
                        for f in current["metadata"].get("finalizers") or []:
                            finalizers[f] = finalizers.get(f, 0) + 1
            ns = self.api.store.get(NAMESPACES, "", name)
            if ns is None:
                return
            info = self.api.info("v1", "Namespace")
            if remaining:
                self._namespace_conditions(info, ns, remaining, finalizers)
                return
            spec_finalizers = [f for f in (ns.get("spec") or {}).get("finalizers") or [] if f != "kubernetes"]
            if spec_finalizers != list((ns.get("spec") or {}).get("finalizers") or []):
                new = clone(ns)
                new["spec"]["finalizers"] = spec_finalizers
                self.api.update(info, new, "", name, subresource="finalize")

    def _namespace_conditions(
        self, info: ResourceInfo, ns: Obj, remaining: dict[str, int], finalizers: dict[str, int]
    ) -> None:
        """The conditions the namespace controller reports while content remains."""
        now = now_rfc3339()
        old = {c.get("type"): c for c in (ns.get("status") or {}).get("conditions") or []}

        def cond(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
            previous = old.get(kind)
            if previous and previous.get("status") == status and previous.get("message") == message:
                return previous
            c = {"type": kind, "status": status, "lastTransitionTime": now, "reason": reason}
            if message:
                c["message"] = message
            return c

        content = ", ".join(f"{r} has {n} resource instances" for r, n in sorted(remaining.items()))
        fins = ", ".join(f"{f} in {n} resource instances" for f, n in sorted(finalizers.items()))
        conditions = [
            cond(
                "NamespaceDeletionDiscoveryFailure",
                "False",
                "ResourcesDiscovered",
                "All resources successfully discovered",
            ),
            cond(
                "NamespaceDeletionGroupVersionParsingFailure",
                "False",
                "ParsedGroupVersions",
                "All legacy kube types successfully parsed",
            ),
            cond(
                "NamespaceDeletionContentFailure",
                "False",
                "ContentDeleted",
                "All content successfully deleted, may be waiting on finalization",
            ),
            cond(
                "NamespaceContentRemaining", "True", "SomeResourcesRemain", f"Some resources are remaining: {content}"
            ),
            cond(
                "NamespaceFinalizersRemaining",
                "True" if fins else "False",
                "SomeFinalizersRemain" if fins else "ContentHasNoFinalizers",
                f"Some content in the namespace has finalizers remaining: {fins}"
                if fins
                else "All content-preserving finalizers finished",
            ),
        ]
        new = clone(ns)
        new["status"] = {**(new.get("status") or {}), "conditions": conditions}
        self.api.update(info, new, "", ns["metadata"]["name"], subresource="status")

    # CRD cleanup ------------------------------------------------------------------------------------
    def _task_crd(self, name: str) -> None:
        """A deleted CRD takes its custom resources with it, then drops its cleanup finalizer."""
        with self.api.store.lock:
            crd = self.api.store.get(CRDS, "", name)
            if crd is None or not _deleting(crd):
                return
            versions = self.api.registry.custom_for(name)
            if versions:
                info = versions[0]
                for obj in self.api.store.list(info.key):
                    meta = obj["metadata"]
                    if not _deleting(obj):
                        self.api.delete(info, meta["name"], meta.get("namespace") or "")
                if self.api.store.count(info.key):
                    return
            new = clone(crd)
            new["metadata"]["finalizers"] = [
                f for f in crd["metadata"].get("finalizers") or [] if f != CRD_CLEANUP_FINALIZER
            ]
            self.api.update(self.api.info("apiextensions.k8s.io/v1", "CustomResourceDefinition"), new, "", name)


# ---- HTTP-agnostic front end ----------------------------------------------------------------------


@dataclass
class Request:
    """An HTTP request as the front end needs it (the server parses the wire format)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any  # case-insensitive mapping (http.client.HTTPMessage)
    body: bytes = b""
    user: str = "kubesim-admin"

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()


@dataclass
class Response:
    """What the server writes: a JSON body, raw bytes, or a stream of chunks (None = idle tick)."""

    status: int
    body: Any = None
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: Iterator[bytes | None] | None = None
    warnings: list[str] = field(default_factory=list)
    log: dict[str, Any] = field(default_factory=dict)


@dataclass
class Route:
    """A resource URL: /api/v1/... or /apis/<group>/<version>/..."""

    group: str
    version: str
    namespace: str | None
    plural: str
    name: str = ""
    subresource: str = ""
    subpath: str = ""


def parse_resource_path(parts: list[str], group: str, version: str) -> Route | None:
    """The segments after the group/version prefix, as a Route (None when not a resource URL)."""
    if not parts:
        return None
    if parts[0] == "namespaces" and len(parts) >= 3 and parts[2] not in ("status", "finalize"):
        ns, rest = parts[1], parts[2:]
    else:
        ns, rest = None, parts
    route = Route(group, version, ns, rest[0])
    if len(rest) > 1:
        route.name = rest[1]
    if len(rest) > 2:
        route.subresource = rest[2]
        route.subpath = "/".join(rest[3:])
    elif len(rest) > 3:
        return None
    return route


_PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+cbor": "apply",
}


SubresourceHandler = Callable[[Request, Route, ResourceInfo], Response]


class Frontend:
    """Resource requests → `Api` calls → `Response`s.

    `subresource_handlers[(group, plural, subresource)]` serves extra subresources (any method,
    any sub-path, streaming allowed), e.g. a later part's services/proxy.
    """

    def __init__(self, api: Api) -> None:
        self.api = api
        self.subresource_handlers: dict[tuple[str, str, str], SubresourceHandler] = {}

    def handle(self, request: Request, route: Route) -> Response:
        log: dict[str, Any] = {
            "resource": route.plural,
            "namespace": route.namespace,
            "name": route.name or None,
            "subresource": route.subresource or None,
        }
        extra = self.subresource_handlers.get((route.group, route.plural, route.subresource))
        if extra is not None and route.name:
            info = self.api.registry.lookup(route.group, route.version, route.plural)
            if info is None:
                raise errors.not_found_path()
            response = extra(request, route, info)
            response.log = {**log, "verb": request.method.lower(), "dryRun": False, **response.log}
            return response
        info = self.api.registry.lookup(route.group, route.version, route.plural)
        if info is None or (route.namespace is not None and not info.namespaced):
            raise errors.not_found_path()
        if info.namespaced and route.namespace is None and route.name:
            raise errors.not_found_path()
        verb = self._verb(request, route, info)
        log["verb"] = verb
        log["dryRun"] = self._dry_run(request, verb)
        response = self._dispatch(request, route, info, verb, log)
        response.log.update(log)
        if info.deprecation:
            response.warnings.insert(0, info.deprecation)
        return response

    # ---- verbs ---------------------------------------------------------------------------------
    def _verb(self, request: Request, route: Route, info: ResourceInfo) -> str:
        method = request.method
        if route.subresource:
            if route.subresource not in info.subresources:
                raise errors.not_found_path()
            allowed = {
                "status": ("GET", "PUT", "PATCH"),
                "scale": ("GET", "PUT", "PATCH"),
                "log": ("GET",),
                "finalize": ("PUT",),
                "binding": ("POST",),
            }[route.subresource]
            if method not in allowed or route.subpath:
                raise _method_not_allowed()
            return {"GET": "get", "PUT": "update", "PATCH": "patch", "POST": "create"}[method]
        if route.name:
            verb = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method)
        else:
            watch = parse_bool(request.param("watch"))
            verb = {"GET": "watch" if watch else "list", "POST": "create", "DELETE": "deletecollection"}.get(method)
        if verb is None or verb not in info.verbs:
            raise _method_not_allowed()
        if info.namespaced and route.namespace is None and verb not in ("list", "watch"):
            raise _method_not_allowed()  # the all-namespaces path serves list and watch only
        return verb

    def _dry_run(self, request: Request, verb: str) -> bool:
        values = request.query.get("dryRun") or []
        for value in values:
            if value != "All":
                kind = {"create": "CreateOptions", "update": "UpdateOptions", "patch": "PatchOptions"}.get(
                    verb, "DeleteOptions"
                )
                raise errors.invalid_options(
                    kind,
                    [
                        {
                            "reason": "FieldValueNotSupported",
                            "field": "dryRun",
                            "message": f'Unsupported value: "{value}": supported values: "All"',
                        }
                    ],
                )
        return bool(values)

    def _dispatch(self, request: Request, route: Route, info: ResourceInfo, verb: str, log: dict[str, Any]) -> Response:
        ns = route.namespace or ""
        dry_run = bool(log["dryRun"])
        fv = request.param("fieldValidation") or ""
        sub = route.subresource
        if sub == "log":
            params = {k: v[-1] for k, v in request.query.items()}
            return Response(200, stream=self.api.pod_log(ns, route.name, params), content_type="text/plain")
        if sub == "scale":
            return self._scale(request, route, info, verb, dry_run, fv)
        if sub == "binding":
            binding = _decode_json(request, "Binding")
            return self._outcome(self.api.bind_pod(ns, route.name, binding, dry_run=dry_run))
        if verb == "get":
            return Response(200, self.api.get(info, ns, route.name))
        if verb == "list":
            return Response(
                200,
                self.api.list(
                    info,
                    route.namespace,
                    request.param("labelSelector"),
                    request.param("fieldSelector"),
                    _int_query(request, "limit"),
                    request.param("continue") or "",
                    copy=False,
                ),
            )
        if verb == "watch":
            return self._watch(request, route, info)
        if verb == "create":
            body, notes = decode_body(request, info)
            return self._outcome(self.api.create(info, body, ns, dry_run=dry_run, field_validation=fv), notes)
        if verb == "update":
            body, notes = decode_body(request, info)
            return self._outcome(
                self.api.update(info, body, ns, route.name, subresource=sub, dry_run=dry_run, field_validation=fv),
                notes,
            )
        if verb == "patch":
            patch_type, body = decode_patch(request, info)
            return self._outcome(
                self.api.patch(
                    info, route.name, ns, patch_type, body, subresource=sub, dry_run=dry_run, field_validation=fv
                )
            )
        options = self._delete_options(request, verb)
        dry_run = log["dryRun"] = dry_run or bool(options.pop("dryRun", None))
        if verb == "delete":
            return self._outcome(self.api.delete(info, route.name, ns, options=options, dry_run=dry_run))
        return self._outcome(
            self.api.delete_collection(
                info,
                route.namespace,
                label_selector=request.param("labelSelector"),
                field_selector=request.param("fieldSelector"),
                options=options,
                dry_run=dry_run,
            )
        )

    def _outcome(self, outcome: Outcome, decode_warnings: list[str] | None = None) -> Response:
        # "changed" in the request log: did this write store anything (benchmarks count real writes)?
        warnings = list(decode_warnings or []) + list(outcome.warnings)
        return Response(outcome.code, outcome.body, warnings=warnings, log={"changed": outcome.changed})

    def _scale(self, request: Request, route: Route, info: ResourceInfo, verb: str, dry_run: bool, fv: str) -> Response:
        ns = route.namespace or ""
        if verb == "get":
            return Response(200, self.api.get_scale(info, ns, route.name))
        if verb == "update":
            scale = _decode_json(request, "Scale")
            return self._outcome(
                self.api.update_scale(info, ns, route.name, scale, dry_run=dry_run, field_validation=fv)
            )
        patch_type, body = decode_patch(request, info, scale=True)
        return self._outcome(
            self.api.patch(
                info, route.name, ns, patch_type, body, subresource="scale", dry_run=dry_run, field_validation=fv
            )
        )

    def _watch(self, request: Request, route: Route, info: ResourceInfo) -> Response:
        timeout = _int_query(request, "timeoutSeconds")
        events = self.api.watch(
            info,
            route.namespace,
            resource_version=request.param("resourceVersion") or "",
            label_selector=request.param("labelSelector"),
            field_selector=request.param("fieldSelector"),
            timeout=float(timeout) if timeout else 1800.0,
            bookmarks=parse_bool(request.param("allowWatchBookmarks")),
            send_initial_events=_bool_query(request, "sendInitialEvents"),
        )

        def frames() -> Iterator[bytes | None]:
            for event in events:
                yield None if event is None else json.dumps(event, separators=(",", ":")).encode() + b"\n"

        return Response(200, stream=frames(), content_type="application/json")

    def _delete_options(self, request: Request, verb: str) -> dict[str, Any]:
        options: dict[str, Any] = {}
        for name in ("propagationPolicy", "gracePeriodSeconds"):
            if request.param(name) is not None:
                options[name] = request.param(name)
        if request.param("orphanDependents") is not None:
            options["orphanDependents"] = parse_bool(request.param("orphanDependents"))
        if request.body.strip():
            body = _decode_json(request, "DeleteOptions")
            if not isinstance(body, dict):
                raise errors.bad_request("the body of the request was in an unknown format")
            options.update({k: v for k, v in body.items() if k not in ("kind", "apiVersion")})
            for value in options.get("dryRun") or []:
                if value != "All":
                    raise errors.invalid_options(
                        "DeleteOptions",
                        [
                            {
                                "reason": "FieldValueNotSupported",
                                "field": "dryRun",
                                "message": f'Unsupported value: "{value}": supported values: "All"',
                            }
                        ],
                    )
        return options


def _method_not_allowed() -> ApiError:
    return errors.method_not_allowed("the server does not allow this method on the requested resource")


def _int_query(request: Request, name: str) -> int:
    value = request.param(name)
    if not value:
        return 0
    try:
        return int(value)
    except ValueError:
        raise errors.bad_request(f'{name}: Invalid value: "{value}": must be an integer') from None


def _bool_query(request: Request, name: str) -> bool | None:
    value = request.param(name)
    if value is None or value == "":
        return None
    return parse_bool(value)


def _decode_json(request: Request, what: str) -> Any:
    try:
        return json.loads(request.body or b"null")
    except ValueError as e:
        raise errors.bad_request(f"couldn't get version/kind; json parse error: {e}") from None


class _DuplicateTracker:
    """object_pairs_hook that records duplicate keys (strict decoding reports them)."""

    def __init__(self) -> None:
        self.duplicates: list[str] = []

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                self.duplicates.append(key)
            out[key] = value
        return out


def decode_body(request: Request, info: ResourceInfo) -> tuple[Obj, list[str]]:
    """The request body as an object: JSON (or YAML), and the warnings about duplicate fields.

    Duplicate fields follow fieldValidation (KEP-2885): Strict refuses them (400), Warn (the
    default) warns, Ignore says nothing; the last value wins, as in Go's decoder.
    """
    warnings: list[str] = []
    ctype = request.content_type or "application/json"
    if ctype in ("application/yaml", "application/x-yaml"):
        import yaml

        try:
            obj = yaml.safe_load(request.body)
        except yaml.YAMLError as e:
            raise errors.bad_request(f"error converting YAML to JSON: {e}") from None
    elif ctype == "application/json":
        tracker = _DuplicateTracker()
        try:
            obj = json.loads(request.body or b"null", object_pairs_hook=tracker)
        except ValueError as e:
            raise errors.bad_request(f"couldn't get version/kind; json parse error: {e}") from None
        mode = request.param("fieldValidation") or "Warn"
        if tracker.duplicates and mode == "Strict":
            dupes = ", ".join(f'duplicate field "{d}"' for d in tracker.duplicates)
            raise errors.bad_request(
                f'{info.kind} in version "{info.version}" cannot be handled as a {info.kind}: '
                f"strict decoding error: {dupes}"
            )
        if mode == "Warn":
            warnings = [f'duplicate field "{d}"' for d in tracker.duplicates]
    else:
        raise errors.unsupported_media_type(ctype)
    if not isinstance(obj, dict):
        raise errors.bad_request(
            f"the object provided is unrecognized (must be of type {info.kind}): couldn't get version/kind; "
            "json parse error: json: cannot unmarshal into Go value of type struct"
        )
    return obj, warnings


def decode_patch(request: Request, info: ResourceInfo, scale: bool = False) -> tuple[str, Any]:
    patch_type = _PATCH_TYPES.get(request.content_type)
    if patch_type is None or (patch_type == "strategic" and info.is_custom and not scale):
        raise _unsupported_patch(info)
    if patch_type == "apply":
        raise ApiError(
            415,
            "UnsupportedMediaType",
            "server-side apply (application/apply-patch+yaml) is not supported by kubesim, a simulated "
            "API server; use client-side apply (a strategic merge or merge patch)",
        )
    try:
        return patch_type, json.loads(request.body or b"null")
    except ValueError as e:
        raise errors.bad_request(f"error decoding patch: {e}") from None
