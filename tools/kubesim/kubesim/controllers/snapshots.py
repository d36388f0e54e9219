"""CSI volume snapshots: the snapshot.storage.k8s.io/v1 CRDs and what the snapshot controllers do.

The CRDs (VolumeSnapshotClass, VolumeSnapshotContent cluster-scoped, VolumeSnapshot namespaced,
status subresources) come from kubernetes-csi/external-snapshotter (client/config/crd); they belong
to the snapshotter, not to a storage vendor, so kubesim serves them whatever `--portworx` says.

A VolumeSnapshot of a bound claim, with a class (named, or the one annotated
snapshot.storage.kubernetes.io/is-default-class for the volume's driver) whose driver serves the
volume, gets a VolumeSnapshotContent `snapcontent-<snapshot uid>` and status readyToUse true with
boundVolumeSnapshotContentName, creationTime and restoreSize; events CreatingSnapshot,
SnapshotCreated, SnapshotReady (snapshot-controller). A driver that is not running leaves it
pending; one that fails reports SnapshotCreationFailed. Deleting the snapshot deletes its content
when the deletionPolicy is Delete.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from typing import Any

from .. import quantity
from ..errors import ApiError
from ..store import Event, Obj, clone
from .base import PVCS, PVS, Controller, Key, meta, now_rfc3339, spec, status
from .events import NORMAL, WARNING

GROUP = "snapshot.storage.k8s.io"
SNAPSHOTS = f"{GROUP}/volumesnapshots"
CONTENTS = f"{GROUP}/volumesnapshotcontents"
CLASSES = f"{GROUP}/volumesnapshotclasses"
DEFAULT_CLASS = "snapshot.storage.kubernetes.io/is-default-class"
COMPONENT = "snapshot-controller"
RETRY = 10.0

# A driver hook: (claim, pv) -> None when the snapshot can be cut, an error text, or False while not running.
SnapshotDriver = Callable[[Obj, Obj], "str | bool | None"]

_QUANTITY = {
    "anyOf": [{"type": "integer"}, {"type": "string"}],
    "pattern": r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$",
    "x-kubernetes-int-or-string": True,
}
_ERROR = {
    "type": "object",
    "properties": {"message": {"type": "string"}, "time": {"type": "string", "format": "date-time"}},
}


def _crd(
    plural: str,
    kind: str,
    scope: str,
    short: list[str],
    schema: dict[str, Any],
    columns: list[dict[str, Any]],
    status_subresource: bool = True,
) -> dict[str, Any]:
    version: dict[str, Any] = {
        "name": "v1",
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": schema},
        "additionalPrinterColumns": columns,
    }
    if status_subresource:
        version["subresources"] = {"status": {}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{GROUP}",
            "annotations": {
                "api-approved.kubernetes.io": "https://github.com/kubernetes-csi/external-snapshotter/pull/814",
                "controller-gen.kubebuilder.io/version": "v0.15.0",
            },
        },
        "spec": {
            "group": GROUP,
            "scope": scope,
            "versions": [version],
            "names": {
                "plural": plural,
                "singular": kind.lower(),
                "kind": kind,
                "listKind": f"{kind}List",
                "shortNames": short,
            },
        },
    }


def snapshot_crds() -> list[dict[str, Any]]:
    """The three CRDs, with the schemas' main fields (required ones as upstream requires them)."""
    meta_schema = {"type": "object"}
    classes = _crd(
        "volumesnapshotclasses",
        "VolumeSnapshotClass",
        "Cluster",
        ["vsclass", "vsclasses"],
        {
            "type": "object",
            "required": ["deletionPolicy", "driver"],
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": meta_schema,
                "deletionPolicy": {"type": "string", "enum": ["Delete", "Retain"]},
                "driver": {"type": "string"},
                "parameters": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        [
            {"name": "Driver", "type": "string", "jsonPath": ".driver"},
            {"name": "DeletionPolicy", "type": "string", "jsonPath": ".deletionPolicy"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
        status_subresource=False,
    )
    contents = _crd(
        "volumesnapshotcontents",
        "VolumeSnapshotContent",
        "Cluster",
        ["vsc", "vscs"],
        {
            "type": "object",
            "required": ["spec"],
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": meta_schema,
                "spec": {
                    "type": "object",
                    "required": ["deletionPolicy", "driver", "source", "volumeSnapshotRef"],
                    "properties": {
                        "deletionPolicy": {"type": "string", "enum": ["Delete", "Retain"]},
                        "driver": {"type": "string"},
                        "source": {
                            "type": "object",
                            "properties": {"snapshotHandle": {"type": "string"}, "volumeHandle": {"type": "string"}},
                        },
                        "sourceVolumeMode": {"type": "string"},
                        "volumeSnapshotClassName": {"type": "string"},
                        "volumeSnapshotRef": {
                            "type": "object",
                            "x-kubernetes-map-type": "atomic",
                            "properties": {
                                k: {"type": "string"}
                                for k in (
                                    "apiVersion",
                                    "fieldPath",
                                    "kind",
                                    "name",
                                    "namespace",
                                    "resourceVersion",
                                    "uid",
                                )
                            },
                        },
                    },
                },
                "status": {
                    "type": "object",
                    "properties": {
                        "creationTime": {"type": "integer", "format": "int64"},
                        "error": _ERROR,
                        "readyToUse": {"type": "boolean"},
                        "restoreSize": {"type": "integer", "format": "int64", "minimum": 0},
                        "snapshotHandle": {"type": "string"},
                        "volumeGroupSnapshotHandle": {"type": "string"},
                    },
                },
            },
        },
        [
            {"name": "ReadyToUse", "type": "boolean", "jsonPath": ".status.readyToUse"},
            {"name": "RestoreSize", "type": "integer", "jsonPath": ".status.restoreSize"},
            {"name": "DeletionPolicy", "type": "string", "jsonPath": ".spec.deletionPolicy"},
            {"name": "Driver", "type": "string", "jsonPath": ".spec.driver"},
            {"name": "VolumeSnapshotClass", "type": "string", "jsonPath": ".spec.volumeSnapshotClassName"},
            {"name": "VolumeSnapshot", "type": "string", "jsonPath": ".spec.volumeSnapshotRef.name"},
            {"name": "VolumeSnapshotNamespace", "type": "string", "jsonPath": ".spec.volumeSnapshotRef.namespace"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )
    snapshots = _crd(
        "volumesnapshots",
        "VolumeSnapshot",
        "Namespaced",
        ["vs"],
        {
            "type": "object",
            "required": ["spec"],
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": meta_schema,
                "spec": {
                    "type": "object",
                    "required": ["source"],
                    "properties": {
                        "source": {
                            "type": "object",
                            "properties": {
                                "persistentVolumeClaimName": {"type": "string"},
                                "volumeSnapshotContentName": {"type": "string"},
                            },
                            "x-kubernetes-validations": [
                                {
                                    "rule": "!has(oldSelf.persistentVolumeClaimName) || "
                                    "has(self.persistentVolumeClaimName)",
                                    "message": "persistentVolumeClaimName is required once set",
                                }
                            ],
                        },
                        "volumeSnapshotClassName": {"type": "string"},
                    },
                },
                "status": {
                    "type": "object",
                    "properties": {
                        "boundVolumeSnapshotContentName": {"type": "string"},
                        "creationTime": {"type": "string", "format": "date-time"},
                        "error": _ERROR,
                        "readyToUse": {"type": "boolean"},
                        "restoreSize": _QUANTITY,
                        "volumeGroupSnapshotName": {"type": "string"},
                    },
                },
            },
        },
        [
            {"name": "ReadyToUse", "type": "boolean", "jsonPath": ".status.readyToUse"},
            {"name": "SourcePVC", "type": "string", "jsonPath": ".spec.source.persistentVolumeClaimName"},
            {"name": "SourceSnapshotContent", "type": "string", "jsonPath": ".spec.source.volumeSnapshotContentName"},
            {"name": "RestoreSize", "type": "string", "jsonPath": ".status.restoreSize"},
            {"name": "SnapshotClass", "type": "string", "jsonPath": ".spec.volumeSnapshotClassName"},
            {"name": "SnapshotContent", "type": "string", "jsonPath": ".status.boundVolumeSnapshotContentName"},
            {"name": "CreationTime", "type": "date", "jsonPath": ".status.creationTime"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )
    return [classes, contents, snapshots]


class SnapshotController(Controller):
    name = "snapshots"

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.drivers: dict[str, SnapshotDriver] = ctx.services.setdefault("snapshot_drivers", {})

    def bootstrap(self) -> None:
        for crd in snapshot_crds():
            if self.client.get("apiextensions.k8s.io/customresourcedefinitions", "", crd["metadata"]["name"]) is None:
                self.client.create(crd)

    def keys_for(self, event: Event) -> list[Key]:
        m = meta(event.obj)
        if event.key == SNAPSHOTS:
            if event.type == "DELETED":
                return [("content", f"snapcontent-{m['uid']}")]
            return [("snapshot", m.get("namespace") or "", m["name"])]
        if event.key == CONTENTS:
            ref = spec(event.obj).get("volumeSnapshotRef") or {}
            return [("content", m["name"]), ("snapshot", ref.get("namespace", ""), ref.get("name", ""))]
        if event.key in (PVCS, CLASSES):
            return self.pending()
        return []

    def pending(self) -> list[Key]:
        return [
            ("snapshot", meta(s)["namespace"], meta(s)["name"])
            for s in self.client.list(SNAPSHOTS)
            if not status(s).get("readyToUse")
        ]

    def resync_keys(self) -> list[Key]:
        return [("snapshot", meta(s)["namespace"], meta(s)["name"]) for s in self.client.list(SNAPSHOTS)] + [
            ("content", meta(c)["name"]) for c in self.client.list(CONTENTS)
        ]

    def reconcile(self, key: Key) -> float | None:
        if key[0] == "content":
            return self._content(key[1])
        return self._snapshot(key[1], key[2])

    # ---- snapshots ------------------------------------------------------------------------------------
    def _snapshot(self, ns: str, name: str) -> float | None:
        snapshot = self.client.get(SNAPSHOTS, ns, name)
        if snapshot is None or meta(snapshot).get("deletionTimestamp") or status(snapshot).get("readyToUse"):
            return None
        source = spec(snapshot).get("source") or {}
        if source.get("volumeSnapshotContentName"):
            return self._pre_provisioned(snapshot, source["volumeSnapshotContentName"])
        claim = self.client.get(PVCS, ns, source.get("persistentVolumeClaimName") or "")
        if claim is None or status(claim).get("phase") != "Bound":
            return self._failed(
                snapshot,
                f"Failed to create snapshot content with error snapshot controller failed to "
                f"update {ns}/{name} on API server: the PVC {source.get('persistentVolumeClaimName')} is "
                "not yet bound to a PV, will not attempt to take a snapshot",
                "SnapshotContentCreationFailed",
            )
        pv = self.client.get(PVS, "", spec(claim).get("volumeName") or "")
        driver = ((spec(pv or {}).get("csi") or {}).get("driver")) or (
            (meta(pv or {}).get("annotations") or {}).get("pv.kubernetes.io/migrated-to", "")
        )
        snapshot_class = self._class(snapshot, driver)
        if isinstance(snapshot_class, str):
            return self._failed(snapshot, snapshot_class, "SnapshotContentCreationFailed")
        hook = self.drivers.get(driver)
        verdict = hook(claim, pv) if hook and pv else None
        if verdict is False:
            return None  # the driver is not running: the snapshot waits
        self._event(
            snapshot, NORMAL, "CreatingSnapshot", f"Waiting for a snapshot {ns}/{name} to be created by the CSI driver."
        )
        if isinstance(verdict, str):
            return self._failed(snapshot, verdict, "SnapshotCreationFailed")
        content = self._create_content(snapshot, snapshot_class, pv or {}, claim)
        self._ready(snapshot, content, (status(claim).get("capacity") or {}).get("storage", "0"))
        return None

    def _class(self, snapshot: Obj, driver: str) -> Obj | str:
        wanted = spec(snapshot).get("volumeSnapshotClassName")
        classes = self.client.list(CLASSES)
        if wanted:
            found = next((c for c in classes if meta(c)["name"] == wanted), None)
            if found is None:
                return f'Failed to get snapshot class with error volumesnapshotclass.{GROUP} "{wanted}" not found'
            if found.get("driver") != driver:
                return (
                    f"Failed to create snapshot: snapshot class {wanted} driver {found.get('driver')} does not "
                    f"match the volume's driver {driver}"
                )
            return found
        defaults = [
            c
            for c in classes
            if c.get("driver") == driver and (meta(c).get("annotations") or {}).get(DEFAULT_CLASS) == "true"
        ]
        if not defaults:
            return "Failed to set default snapshot class with error cannot find default snapshot class"
        if len(defaults) > 1:
            return f"Failed to set default snapshot class with error default snapshot class: {driver} is not unique"
        return defaults[0]

    def _create_content(self, snapshot: Obj, snapshot_class: Obj, pv: Obj, claim: Obj) -> Obj:
        m = meta(snapshot)
        name = f"snapcontent-{m['uid']}"
        existing = self.client.get(CONTENTS, "", name)
        if existing is not None:
            return existing
        content = {
            "apiVersion": f"{GROUP}/v1",
            "kind": "VolumeSnapshotContent",
            "metadata": {"name": name},
            "spec": {
                "deletionPolicy": snapshot_class.get("deletionPolicy", "Delete"),
                "driver": snapshot_class.get("driver", ""),
                "source": {
                    "volumeHandle": (spec(pv).get("csi") or {}).get("volumeHandle")
                    or (spec(pv).get("portworxVolume") or {}).get("volumeID", "")
                },
                "sourceVolumeMode": spec(claim).get("volumeMode", "Filesystem"),
                "volumeSnapshotClassName": meta(snapshot_class)["name"],
                "volumeSnapshotRef": {
                    "apiVersion": f"{GROUP}/v1",
                    "kind": "VolumeSnapshot",
                    "name": m["name"],
                    "namespace": m["namespace"],
                    "uid": m["uid"],
                    "resourceVersion": m.get("resourceVersion", ""),
                },
            },
        }
        created = self.client.create(content)
        size = (status(claim).get("capacity") or {}).get("storage", "0")
        updated = clone(created)
        updated["status"] = {
            "creationTime": time.time_ns(),
            "readyToUse": True,
            "restoreSize": int(quantity.value_of(size)),
            "snapshotHandle": str(uuid.uuid4().int % 10**18),
        }
        return self.client.update_status(updated)

    def _ready(self, snapshot: Obj, content: Obj, size: str) -> None:
        m = meta(snapshot)
        updated = clone(snapshot)
        updated["status"] = {
            "boundVolumeSnapshotContentName": meta(content)["name"],
            "creationTime": now_rfc3339(),
            "readyToUse": True,
            "restoreSize": size,
        }
        self.client.update_status(updated)
        ns, name = m["namespace"], m["name"]
        self._event(
            snapshot, NORMAL, "SnapshotCreated", f"Snapshot {ns}/{name} was successfully created by the CSI driver."
        )
        self._event(snapshot, NORMAL, "SnapshotReady", f"Snapshot {ns}/{name} is ready to use.")

    def _pre_provisioned(self, snapshot: Obj, content_name: str) -> float | None:
        content = self.client.get(CONTENTS, "", content_name)
        if content is None or not status(content).get("readyToUse"):
            return RETRY
        size = status(content).get("restoreSize", 0)
        self._ready(snapshot, content, quantity.canonical(str(size)))
        return None

    def _failed(self, snapshot: Obj, message: str, reason: str) -> float:
        self._event(snapshot, WARNING, reason, message)
        wanted = {**status(snapshot), "readyToUse": False, "error": {"message": message, "time": now_rfc3339()}}
        if status(snapshot).get("error", {}).get("message") != message:
            updated = clone(snapshot)
            updated["status"] = wanted
            with contextlib.suppress(ApiError):  # changed meanwhile: the next pass reports again
                self.client.update_status(updated)
        return RETRY

    # ---- contents -------------------------------------------------------------------------------------
    def _content(self, name: str) -> float | None:
        """A content whose snapshot is gone is deleted when its deletionPolicy says Delete."""
        content = self.client.get(CONTENTS, "", name)
        if content is None:
            return None
        ref = spec(content).get("volumeSnapshotRef") or {}
        if not ref.get("uid"):
            return None  # pre-provisioned: waiting for its snapshot
        snapshot = self.client.get(SNAPSHOTS, ref.get("namespace", ""), ref.get("name", ""))
        if snapshot is not None and meta(snapshot)["uid"] == ref.get("uid"):
            return None
        if spec(content).get("deletionPolicy") == "Delete":
            self.client.delete(content)
        return None

    def _event(self, obj: Obj, kind: str, reason: str, message: str) -> None:
        self.ctx.recorder.event(obj, kind, reason, message, COMPONENT)
