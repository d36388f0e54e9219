"""Volumes: the PersistentVolume controller, dynamic provisioning, expansion and reclaim.

What kube-controller-manager's persistentvolume-controller (pkg/controller/volume/persistentvolume/
pv_controller.go) and the CSI sidecars (external-provisioner, external-resizer) do, as the API
shows it (https://kubernetes.io/docs/concepts/storage/persistent-volumes/):

- binding: a claim binds to an Available PV that matches it (class, access modes, size, volume
  mode, selector, a claimRef or volumeName naming it); both ends are written: PV claimRef and
  phase Bound; claim spec.volumeName, annotations pv.kubernetes.io/bind-completed and
  bound-by-controller, status phase Bound with capacity and accessModes;
- a claim created without storageClassName got the default class from the DefaultStorageClass
  admission plugin (storage_admission.py); one created while there was none gets it once a default
  exists and no volume matched (RetroactiveDefaultStorageClass, GA in 1.28);
- every write goes through the API: spec.volumeName and an unset storageClassName are the fields
  ValidatePersistentVolumeClaimUpdate lets the controller set once;
- protection: admission puts kubernetes.io/pvc-protection and pv-protection on new claims and
  volumes; the controller removes them once no scheduled pod names the claim, or the volume is
  no longer Bound;
- WaitForFirstConsumer: nothing happens (event WaitForFirstConsumer) until the scheduler puts
  `volume.kubernetes.io/selected-node` on the claim;
- dynamic provisioning by the class's provisioner: the claim is annotated with
  volume.kubernetes.io/storage-provisioner (and the beta key), the controller reports
  ExternalProvisioning and the provisioner creates a PV named pvc-<claim uid> (events
  Provisioning, ProvisioningSucceeded or ProvisioningFailed). `kubernetes.io/no-provisioner` only
  binds pre-created volumes; Portworx provisioners are served by portworx.py; any other name is a
  working external provisioner (`GenericProvisioner`);
- expansion: a bound claim asking for more than its capacity grows the PV and the claim's
  status.capacity (the class must allow it: the API refuses otherwise);
- reclaim: when its claim is gone a PV is Released; Delete removes it (the provisioner deletes
  the volume), Retain keeps it Released with its claimRef.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from .. import quantity
from ..selectors import label_selector_from_dict
from ..storage_admission import PV_PROTECTION, PVC_PROTECTION, claim_has_class, default_class
from ..store import Event, Obj, clone
from .base import (
    PVCS,
    PVS,
    STORAGE_CLASSES,
    Controller,
    Key,
    deleting,
    meta,
    now_rfc3339,
    spec,
    status,
)
from .events import NORMAL, WARNING

PV_CONTROLLER = "persistentvolume-controller"
NO_PROVISIONER = "kubernetes.io/no-provisioner"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
PROVISIONER_KEYS = ("volume.beta.kubernetes.io/storage-provisioner", "volume.kubernetes.io/storage-provisioner")
BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
MIGRATED_TO = "pv.kubernetes.io/migrated-to"
SNAPSHOT_GROUP = "snapshot.storage.k8s.io"
PROVISION_RETRY = 10.0
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


# ---- provisioners ---------------------------------------------------------------------------------------


@dataclass
class Provisioned:
    """A provisioner's answer: a volume source for the PV, or an error for ProvisioningFailed."""

    source: dict[str, Any] | None = None
    error: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    node_affinity: dict[str, Any] | None = None


class Provisioner(Protocol):
    """A storage provisioner. `provision` returns None while it is not running (claims wait)."""

    name: str

    def identity(self) -> str: ...

    def provision(self, claim: Obj, sc: Obj, pv_name: str, node: str | None) -> Provisioned | None: ...

    def expand(self, pv: Obj, size: str) -> str | None: ...  # an error message, or None on success

    def delete(self, pv: Obj) -> str | None: ...


def csi_driver_name(name: str) -> bool:
    """A valid CSI driver name (DNS-1123 subdomain, at most 63 characters)."""
    return len(name) <= 63 and bool(_DNS_SUBDOMAIN.match(name))


def class_failure(sc_name: str, grpc_code: str, text: str) -> str:
    """The external-provisioner's ProvisioningFailed message for a CSI CreateVolume error."""
    return f'failed to provision volume with StorageClass "{sc_name}": rpc error: code = {grpc_code} desc = {text}'


class GenericProvisioner:
    """Any provisioner kubesim does not simulate specifically: it works and provisions at once.

    A provisioner name that is a valid CSI driver name gets a CSI volume source (volumeHandle,
    fsType, volumeAttributes from the class parameters, as external-provisioner copies them);
    other names (rancher.io/local-path, ...) get a hostPath volume, as local-path provisioners do.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._identity = f"{int(time.time() * 1000)}-{uuid.uuid4().int % 10000}-{name}"

    def identity(self) -> str:
        host = "kubesim-" + self.name.replace("/", "-").replace(".", "-")[:40]
        return f"{self.name}_{host}_{uuid.uuid5(uuid.NAMESPACE_DNS, self.name)}"

    def provision(self, claim: Obj, sc: Obj, pv_name: str, node: str | None) -> Provisioned | None:
        params = {k: str(v) for k, v in (sc.get("parameters") or {}).items()}
        if csi_driver_name(self.name):
            attributes = {k: v for k, v in params.items() if not k.startswith("csi.storage.k8s.io/")}
            attributes["storage.kubernetes.io/csiProvisionerIdentity"] = self._identity
            source = {
                "driver": self.name,
                "volumeHandle": f"{self.name}-{uuid.uuid4()}",
                "fsType": params.get("csi.storage.k8s.io/fstype", "ext4"),
                "volumeAttributes": attributes,
            }
            return Provisioned({"csi": source})
        affinity = None
        if node:
            affinity = {
                "required": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}
                    ]
                }
            }
        return Provisioned(
            {"hostPath": {"path": f"/var/lib/kubesim/volumes/{pv_name}", "type": "DirectoryOrCreate"}},
            node_affinity=affinity,
        )

    def expand(self, pv: Obj, size: str) -> str | None:
        return None

    def delete(self, pv: Obj) -> str | None:
        return None


# ---- matching pre-created volumes ------------------------------------------------------------------------


def _size(text: Any) -> Any:
    try:
        return quantity.value_of(text)
    except (ValueError, TypeError):
        return 0


def claim_request(claim: Obj) -> str:
    return ((spec(claim).get("resources") or {}).get("requests") or {}).get("storage") or "0"


def claim_class(claim: Obj) -> str:
    return spec(claim).get("storageClassName") or ""


def volume_matches(pv: Obj, claim: Obj, node: Obj | None = None) -> bool:
    """pkg/controller/volume/persistentvolume/util.FindMatchingVolume, for one volume."""
    from .scheduler import node_selector_matches

    ps, cs = spec(pv), spec(claim)
    ref = ps.get("claimRef")
    cm = meta(claim)
    if deleting(pv):
        return False
    if ref:
        if ref.get("namespace") != cm.get("namespace") or ref.get("name") != cm.get("name"):
            return False
        if ref.get("uid") and ref.get("uid") != cm.get("uid"):
            return False
    elif status(pv).get("phase", "Available") not in ("Available", "Pending"):
        return False
    if cs.get("volumeName") and cs["volumeName"] != meta(pv)["name"]:
        return False
    if (ps.get("storageClassName") or "") != claim_class(claim):
        return False
    if not set(cs.get("accessModes") or []) <= set(ps.get("accessModes") or []):
        return False
    if (ps.get("volumeMode") or "Filesystem") != (cs.get("volumeMode") or "Filesystem"):
        return False
    if _size((ps.get("capacity") or {}).get("storage")) < _size(claim_request(claim)):
        return False
    if cs.get("selector") and not label_selector_from_dict(cs["selector"]).matches(meta(pv).get("labels")):
        return False
    return node is None or node_selector_matches((ps.get("nodeAffinity") or {}).get("required"), node)


def find_static_volume(client: Any, claim: Obj, sc: Obj | None, node: Obj | None = None) -> Obj | None:
    """The best pre-created volume for `claim`: one reserved for it first, then the smallest that fits."""
    matches = [pv for pv in client.list(PVS) if volume_matches(pv, claim, node)]
    if not matches:
        return None
    matches.sort(
        key=lambda pv: (
            not spec(pv).get("claimRef"),
            _size((spec(pv).get("capacity") or {}).get("storage")),
            meta(pv)["name"],
        )
    )
    return matches[0]


# ---- the controller ----------------------------------------------------------------------------------------


class VolumeController(Controller):
    name = "volumes"

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.provisioners: dict[str, Provisioner] = ctx.services.setdefault("provisioners", {})
        self._due: dict[str, float] = {}  # claim uid -> when its bind delay is over (monotonic)

    # ---- events -> keys ------------------------------------------------------------------------
    def keys_for(self, event: Event) -> list[Key]:
        m = meta(event.obj)
        if event.key == PVCS:
            keys: list[Key] = [("claim", m.get("namespace") or "", m["name"])]
            if spec(event.obj).get("volumeName") and event.type == "DELETED":
                keys.append(("volume", spec(event.obj)["volumeName"]))  # its volume is Released now
            return keys
        if event.key == PVS:
            keys = [("volume", m["name"])]
            for obj in (event.obj, event.old):
                ref = spec(obj or {}).get("claimRef")
                if ref:
                    keys.append(("claim", ref.get("namespace", ""), ref.get("name", "")))
            if event.type == "DELETED" or status(event.obj).get("phase") == "Available":
                keys += self._pending_claims()  # a volume became available (or went away)
            return keys
        if event.key == STORAGE_CLASSES:
            return self._pending_claims()
        if event.key == "/pods" and (
            event.type == "DELETED" or status(event.obj).get("phase") in ("Succeeded", "Failed")
        ):
            from .scheduler import claim_names  # a claim being deleted may now lose its pvc-protection finalizer

            return [("claim", m.get("namespace") or "", c) for c in claim_names(event.obj)]
        return []

    def _pending_claims(self) -> list[Key]:
        return [
            ("claim", meta(c)["namespace"], meta(c)["name"])
            for c in self.client.list(PVCS)
            if status(c).get("phase") != "Bound"
        ]

    def resync_keys(self) -> list[Key]:
        claims = [("claim", meta(c)["namespace"], meta(c)["name"]) for c in self.client.list(PVCS)]
        return claims + [("volume", meta(v)["name"]) for v in self.client.list(PVS)]

    def reconcile(self, key: Key) -> float | None:
        if key[0] == "claim":
            return self._claim(key[1], key[2])
        return self._volume(key[1])

    def provisioner_for(self, name: str) -> Provisioner:
        found = self.provisioners.get(name)
        if found is None:
            found = self.provisioners[name] = GenericProvisioner(name)
        return found

    # ---- claims --------------------------------------------------------------------------------------
    def _claim(self, ns: str, name: str) -> float | None:
        claim = self.client.get(PVCS, ns, name)
        if claim is None:
            return None
        if deleting(claim):
            self._release_protection(claim)
            return None
        if spec(claim).get("volumeName"):
            return self._bound_claim(claim)
        return self._unbound_claim(claim)

    def _unbound_claim(self, claim: Obj) -> float | None:
        sc_name = claim_class(claim)
        sc = self.client.get(STORAGE_CLASSES, "", sc_name) if sc_name else None
        if sc_name and sc is None:
            static = find_static_volume(self.client, claim, None)
            if static is not None:
                return self._bind(static, claim)
            self._event(claim, WARNING, "ProvisioningFailed", f'storageclass.storage.k8s.io "{sc_name}" not found')
            return None
        annotations = meta(claim).get("annotations") or {}
        node_name = annotations.get(SELECTED_NODE)
        if sc is not None and sc.get("volumeBindingMode") == "WaitForFirstConsumer" and not node_name:
            self._event(
                claim, NORMAL, "WaitForFirstConsumer", "waiting for first consumer to be created before binding"
            )
            return None
        if self._never_binds(claim):
            if sc is not None and sc.get("provisioner") != NO_PROVISIONER:
                self._external_provisioning(claim, self._external_name(sc))
            return None
        node = self.client.get("/nodes", "", node_name) if node_name else None
        static = find_static_volume(self.client, claim, sc, node)
        if static is not None:
            return self._bind(static, claim)
        if sc is None:
            if self._assign_default_class(claim):
                return None  # the update's event brings the claim back, now with a class
            self._event(
                claim,
                NORMAL,
                "FailedBinding",
                "no persistent volumes available for this claim and no storage class is set",
            )
            return None
        if sc.get("provisioner") == NO_PROVISIONER:
            if sc.get("volumeBindingMode") != "WaitForFirstConsumer":
                self._event(claim, WARNING, "ProvisioningFailed", f"no volume plugin matched name: {NO_PROVISIONER}")
            return None
        return self._provision(claim, sc, node_name)

    def _assign_default_class(self, claim: Obj) -> bool:
        """RetroactiveDefaultStorageClass (GA in 1.28, pv_controller.go assignDefaultStorageClass): a claim without
        a class that no volume matched gets the default class once one exists (at create time the
        DefaultStorageClass admission plugin already did it, storage_admission.py)."""
        if claim_has_class(claim):
            return False
        chosen = default_class(self.client.list(STORAGE_CLASSES))
        if chosen is None:
            return False
        updated = clone(claim)
        updated["spec"]["storageClassName"] = meta(chosen)["name"]
        self.client.update(updated)  # ValidatePersistentVolumeClaimUpdate lets an unset class be set
        return True

    def _external_name(self, sc: Obj) -> str:
        """The provisioner that really serves a class (in-tree Portworx is migrated to CSI from 1.31)."""
        name = sc.get("provisioner", "")
        migrated = self.ctx.services.get("csi_migration", {})
        return migrated.get(name, name) if self.client.minor >= 31 else name

    def _provision(self, claim: Obj, sc: Obj, node: str | None) -> float | None:
        provisioner_name = self._external_name(sc)
        annotations = dict(meta(claim).get("annotations") or {})
        wanted = {k: provisioner_name for k in PROVISIONER_KEYS}
        if provisioner_name != sc.get("provisioner"):
            wanted[MIGRATED_TO] = provisioner_name
        if any(annotations.get(k) != v for k, v in wanted.items()):
            updated = clone(claim)
            updated["metadata"]["annotations"] = {**annotations, **wanted}
            self.client.update(updated)
            return None  # the update's event brings us back
        self._external_provisioning(claim, provisioner_name)
        wait = self._bind_delay(claim, sc)
        if wait:
            return wait
        provisioner = self.provisioner_for(provisioner_name)
        source_error = self._data_source_error(claim)
        if source_error:
            self._event(claim, WARNING, "ProvisioningFailed", source_error, provisioner.identity())
            return PROVISION_RETRY
        pv_name = f"pvc-{meta(claim)['uid']}"
        if self.client.get(PVS, "", pv_name) is not None:
            return None
        result = provisioner.provision(claim, sc, pv_name, node)
        if result is None:
            return None  # the provisioner is not running: the claim waits (it re-queues claims when it starts)
        identity = provisioner.identity()
        m = meta(claim)
        self._event(
            claim,
            NORMAL,
            "Provisioning",
            f'External provisioner is provisioning volume for claim "{m["namespace"]}/{m["name"]}"',
            identity,
        )
        if result.error:
            self._event(claim, WARNING, "ProvisioningFailed", result.error, identity)
            return PROVISION_RETRY
        self.client.create(self._pv_object(claim, sc, pv_name, provisioner_name, result))
        self._event(claim, NORMAL, "ProvisioningSucceeded", f"Successfully provisioned volume {pv_name}", identity)
        return None

    def _external_provisioning(self, claim: Obj, provisioner: str) -> None:
        self._event(
            claim,
            NORMAL,
            "ExternalProvisioning",
            f"Waiting for a volume to be created either by the external provisioner '{provisioner}' or "
            "manually by the system administrator. If volume creation is delayed, please verify that the "
            "provisioner is running and correctly registered.",
        )

    def _never_binds(self, claim: Obj) -> bool:
        """Part 3's faults can hold a claim Pending (claimsNeverBind)."""
        faults = self.ctx.services.get("faults")
        return bool(faults is not None and faults.claim_blocked(claim))

    def _bind_delay(self, claim: Obj, sc: Obj) -> float:
        delay = self.ctx.delays.lookup(
            "bind", [("PersistentVolumeClaim", meta(claim)["name"]), ("StorageClass", meta(sc)["name"])]
        )
        if delay <= 0:
            return 0.0
        due = self._due.setdefault(meta(claim)["uid"], time.monotonic() + delay)
        return max(due - time.monotonic(), 0.0)

    def _data_source_error(self, claim: Obj) -> str:
        """external-provisioner's checks of spec.dataSource (snapshot restore or clone)."""
        source = spec(claim).get("dataSourceRef") or spec(claim).get("dataSource")
        if not source:
            return ""
        kind, name = source.get("kind"), source.get("name", "")
        ns = meta(claim)["namespace"]
        if kind == "VolumeSnapshot" and source.get("apiGroup") == SNAPSHOT_GROUP:
            snapshot = self.client.get(f"{SNAPSHOT_GROUP}/volumesnapshots", ns, name)
            prefix = f"error getting handle for DataSource Type VolumeSnapshot by Name {name}: "
            if snapshot is None:
                return (
                    prefix + f"error getting snapshot {name} from api server: "
                    f'volumesnapshots.{SNAPSHOT_GROUP} "{name}" not found'
                )
            if not status(snapshot).get("readyToUse"):
                return prefix + f"snapshot {name} is not Ready"
            return ""
        if kind == "PersistentVolumeClaim" and not source.get("apiGroup"):
            source_claim = self.client.get(PVCS, ns, name)
            if source_claim is None or status(source_claim).get("phase") != "Bound":
                return (
                    f"error getting handle for DataSource Type PersistentVolumeClaim by Name {name}: "
                    "claim in dataSource not bound or invalid"
                )
        return ""

    def _pv_object(self, claim: Obj, sc: Obj, pv_name: str, provisioner: str, result: Provisioned) -> Obj:
        cm = meta(claim)
        pv_spec: dict[str, Any] = {
            "accessModes": list(spec(claim).get("accessModes") or []),
            "capacity": {"storage": claim_request(claim)},
            "claimRef": {
                "kind": "PersistentVolumeClaim",
                "namespace": cm["namespace"],
                "name": cm["name"],
                "uid": cm["uid"],
                "apiVersion": "v1",
                "resourceVersion": cm.get("resourceVersion", ""),
            },
            "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
            "storageClassName": meta(sc)["name"],
            "volumeMode": spec(claim).get("volumeMode") or "Filesystem",
            **(result.source or {}),
        }
        if sc.get("mountOptions"):
            pv_spec["mountOptions"] = list(sc["mountOptions"])
        if result.node_affinity:
            pv_spec["nodeAffinity"] = result.node_affinity
        annotations = {PROVISIONED_BY: sc.get("provisioner", provisioner), **result.annotations}
        if "csi" in pv_spec:
            # external-provisioner records where the deletion secret is (empty without one).
            annotations.setdefault("volume.kubernetes.io/provisioner-deletion-secret-name", "")
            annotations.setdefault("volume.kubernetes.io/provisioner-deletion-secret-namespace", "")
        if provisioner != sc.get("provisioner"):
            annotations[MIGRATED_TO] = provisioner
        return {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": pv_name, "annotations": annotations},
            "spec": pv_spec,
        }

    # ---- binding -------------------------------------------------------------------------------------
    def _bind(self, pv: Obj, claim: Obj) -> float | None:
        """bind(): claimRef and phase on the volume, volumeName, annotations and phase on the claim."""
        cm = meta(claim)
        ref = spec(pv).get("claimRef") or {}
        if ref.get("uid") != cm["uid"] or ref.get("name") != cm["name"]:
            updated = clone(pv)
            updated["spec"]["claimRef"] = {
                "kind": "PersistentVolumeClaim",
                "namespace": cm["namespace"],
                "name": cm["name"],
                "uid": cm["uid"],
                "apiVersion": "v1",
                "resourceVersion": cm.get("resourceVersion", ""),
            }
            annotations = dict(meta(pv).get("annotations") or {})
            if not ref:
                annotations[BOUND_BY_CONTROLLER] = "yes"
                updated["metadata"]["annotations"] = annotations
            pv = self.client.update(updated)
        if status(pv).get("phase") != "Bound":
            updated = clone(pv)
            updated["status"] = {"phase": "Bound", "lastPhaseTransitionTime": now_rfc3339()}
            pv = self.client.update_status(updated)
        annotations = dict(cm.get("annotations") or {})
        if spec(claim).get("volumeName") != meta(pv)["name"] or annotations.get(BIND_COMPLETED) != "yes":
            updated = clone(claim)
            if spec(claim).get("volumeName") != meta(pv)["name"]:
                annotations[BOUND_BY_CONTROLLER] = "yes"
            annotations[BIND_COMPLETED] = "yes"
            updated["metadata"]["annotations"] = annotations
            updated["spec"]["volumeName"] = meta(pv)["name"]
            # ValidatePersistentVolumeClaimUpdate lets an unset volumeName be set once.
            claim = self.client.update(updated)
        return self._claim_status_bound(claim, pv)

    def _claim_status_bound(self, claim: Obj, pv: Obj) -> None:
        wanted = dict(status(claim))
        wanted.update(
            phase="Bound",
            accessModes=list(spec(pv).get("accessModes") or []),
            capacity=dict(spec(pv).get("capacity") or {}),
        )
        if wanted != status(claim):
            updated = clone(claim)
            updated["status"] = wanted
            self.client.update_status(updated)
        return None

    def _bound_claim(self, claim: Obj) -> float | None:
        pv = self.client.get(PVS, "", spec(claim)["volumeName"])
        ref = spec(pv or {}).get("claimRef") or {}
        if pv is None or (ref.get("uid") and ref.get("uid") != meta(claim)["uid"]):
            if status(claim).get("phase") == "Bound" and pv is None:
                updated = clone(claim)
                updated["status"] = {**status(claim), "phase": "Lost"}
                self.client.update_status(updated)
                self._event(
                    claim,
                    WARNING,
                    "ClaimLost",
                    "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
                )
            return None
        if status(claim).get("phase") != "Bound" or status(pv).get("phase") != "Bound":
            return self._bind(pv, claim)
        return self._expand(claim, pv)

    # ---- expansion -----------------------------------------------------------------------------------
    def _expand(self, claim: Obj, pv: Obj) -> float | None:
        requested = claim_request(claim)
        current = (status(claim).get("capacity") or {}).get("storage")
        if current is None or _size(requested) <= _size(current):
            return None
        provisioner_name = (
            (meta(pv).get("annotations") or {}).get(MIGRATED_TO)
            or (spec(pv).get("csi") or {}).get("driver")
            or (meta(pv).get("annotations") or {}).get(PROVISIONED_BY, "")
        )
        provisioner = self.provisioner_for(provisioner_name)
        resizer = f"external-resizer {provisioner_name}"
        self._event(claim, NORMAL, "Resizing", f"External resizer is resizing volume {meta(pv)['name']}", resizer)
        error = provisioner.expand(pv, requested)
        if error:
            self._event(
                claim,
                WARNING,
                "VolumeResizeFailed",
                f'resize volume "{meta(pv)["name"]}" by resizer '
                f'"{provisioner_name}" failed: rpc error: code = Internal desc = {error}',
                resizer,
            )
            return PROVISION_RETRY
        if _size((spec(pv).get("capacity") or {}).get("storage")) < _size(requested):
            updated = clone(pv)
            updated["spec"]["capacity"] = {**(spec(pv).get("capacity") or {}), "storage": requested}
            self.client.update(updated)
        updated = clone(claim)
        updated["status"] = {
            **status(claim),
            "capacity": {**(status(claim).get("capacity") or {}), "storage": requested},
            "allocatedResources": {"storage": requested},
        }
        updated["status"].pop("conditions", None)
        self.client.update_status(updated)
        self._event(claim, NORMAL, "VolumeResizeSuccessful", "Resize volume succeeded", resizer)
        return None

    # ---- volumes -------------------------------------------------------------------------------------
    def _volume(self, name: str) -> float | None:
        pv = self.client.get(PVS, "", name)
        if pv is None:
            return None
        if deleting(pv):
            self._release_pv_protection(pv)
            return None
        ref = spec(pv).get("claimRef")
        phase = status(pv).get("phase")
        if not ref:
            return self._set_pv_phase(pv, "Available")
        claim = self.client.get(PVCS, ref.get("namespace", ""), ref.get("name", ""))
        if claim is not None and (not ref.get("uid") or ref.get("uid") == meta(claim)["uid"]):
            if spec(claim).get("volumeName") == name:
                return self._set_pv_phase(pv, "Bound")
            if not ref.get("uid"):
                return self._set_pv_phase(pv, "Available")  # reserved for a claim that has not bound yet
            self.enqueue(("claim", ref["namespace"], ref["name"]))
            return None
        if not ref.get("uid"):
            return self._set_pv_phase(pv, "Available")
        if phase != "Released":
            self._set_pv_phase(pv, "Released")
            return None
        return self._reclaim(pv)

    def _set_pv_phase(self, pv: Obj, phase: str) -> None:
        if status(pv).get("phase") != phase:
            updated = clone(pv)
            updated["status"] = {"phase": phase, "lastPhaseTransitionTime": now_rfc3339()}
            self.client.update_status(updated)
        return None

    def _reclaim(self, pv: Obj) -> float | None:
        policy = spec(pv).get("persistentVolumeReclaimPolicy", "Retain")
        if policy != "Delete":
            return None  # Retain: the volume stays Released, its data and claimRef kept for an administrator
        annotations = meta(pv).get("annotations") or {}
        provisioned_by = annotations.get(MIGRATED_TO) or annotations.get(PROVISIONED_BY)
        if provisioned_by:
            error = self.provisioner_for(provisioned_by).delete(pv)
            if error:
                self._event(pv, WARNING, "VolumeFailedDelete", error, provisioned_by)
                return PROVISION_RETRY
        self.client.delete(pv)
        return None

    # ---- protection finalizers (added by admission; released here) -------------------------------------
    def _release_protection(self, claim: Obj) -> None:
        """pvc-protection controller: the finalizer goes once no pod uses the claim.

        pkg/controller/volume/pvcprotection podUsesPVC: a pod uses the claim when it is scheduled (spec.nodeName)
        and names it in a persistentVolumeClaim volume, whatever its phase: a Terminating pod, or a Completed
        one that is still there, keeps the claim Terminating until the pod is gone.
        """
        finalizers = meta(claim).get("finalizers") or []
        if PVC_PROTECTION not in finalizers:
            return
        from .scheduler import claim_names

        ns = meta(claim)["namespace"]
        pods = self.client.list("/pods", ns)
        if any(spec(p).get("nodeName") and meta(claim)["name"] in claim_names(p) for p in pods):
            return
        updated = clone(claim)
        updated["metadata"]["finalizers"] = [f for f in finalizers if f != PVC_PROTECTION]
        self.client.update(updated)

    def _release_pv_protection(self, pv: Obj) -> None:
        """pv-protection controller: the finalizer goes once the volume is not bound."""
        finalizers = meta(pv).get("finalizers") or []
        if PV_PROTECTION in finalizers and status(pv).get("phase") != "Bound":
            updated = clone(pv)
            updated["metadata"]["finalizers"] = [f for f in finalizers if f != PV_PROTECTION]
            self.client.update(updated)

    def _event(self, obj: Obj, kind: str, reason: str, message: str, component: str = PV_CONTROLLER) -> None:
        self.ctx.recorder.event(obj, kind, reason, message, component)
