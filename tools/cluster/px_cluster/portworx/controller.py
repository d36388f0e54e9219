"""The Portworx stand-in's controller, acting as its own user `px:portworx`.

For the CSI driver `pxd.portworx.com` it does what the external-provisioner, external-resizer,
snapshot-controller and csi-snapshotter do, with directories for volumes (storage.py):

- provisioning: a claim that kube-controller-manager handed to `pxd.portworx.com` (annotation
  volume.kubernetes.io/storage-provisioner; with WaitForFirstConsumer only once the scheduler set
  volume.kubernetes.io/selected-node) gets a PV `pvc-<claim uid>` with `spec.hostPath` (type
  DirectoryOrCreate) on its directory, so the kubelet mounts it without a CSI node plugin; the
  PV's claimRef names the claim (kube-controller-manager completes the binding), reclaim policy
  and mountOptions come from the class, access modes from the claim, the capacity is the request
  rounded up to whole GiB as the driver does. What the real PV would carry in spec.csi goes into
  annotations: `px-cluster.portworx/volume-handle` (a numeric volume id) and
  `px-cluster.portworx/volume-attributes` (JSON; a ReadWriteMany claim is sharedv4 there whatever
  the class says, as the driver's resolveSharedSpec makes it). Refusals (params.py: Portworx not
  healthy, parameters the driver cannot parse, `repl` above the online storage nodes) are a
  Warning ProvisioningFailed event on the claim, which stays Pending; it is tried again with
  backoff (5 s doubling to 5 min), and the same event is never recorded twice within 30 s. A claim
  with a dataSource (VolumeSnapshot, or a PersistentVolumeClaim to clone) starts as a copy of it.
- deletion: a Released PV of ours whose policy is Delete loses its directory and is deleted
  (HonorPVReclaimPolicy: such PVs carry the provisioner's finalizer, so deleting the PV first does
  the same); Retain keeps both, the PV staying Released.
- expansion: a bound claim asking for more than its status.capacity (the class allows expansion,
  the API enforces it) grows the PV's capacity, then the claim's status.capacity and
  allocatedResources, its resize conditions cleared (events Resizing, VolumeResizeSuccessful).
- snapshots: a VolumeSnapshot of a bound claim of ours, whose class (named, or the default one for
  the driver) has driver pxd.portworx.com, gets a VolumeSnapshotContent `snapcontent-<uid>` bound
  both ways, a copy of the directory, and readyToUse only once the copy is whole (restoreSize,
  creationTime). A snapshot gone with deletionPolicy Delete takes its content and copy along.
- Portworx's state: at start it sets the StorageCluster's and StorageNodes' status for its mode
  (healthy: Running, all Online; degraded: Degraded, the last node Offline); afterwards health
  follows what the API shows, so a test may patch a phase. Absent (mode "absent", or no
  StorageCluster): nothing is provisioned, snapshotted or resized; claims wait with only the
  persistentvolume-controller's ExternalProvisioning event. Deletions still go through.
- Stork: pods asking for schedulerName `stork` are bound (to a Ready node that fits their
  nodeSelector, required node affinity and taints; WaitForFirstConsumer claims get their
  selected-node first) while the Deployment portworx/stork exists.

Everything is read from watch caches (kube.py); a quiet cluster sees only the watches' renewals.
Each action is one log line.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes.client.exceptions import ApiException

from . import (
    CLUSTER,
    DRIVER,
    GROUP,
    HEALTHY_PHASES,
    IN_TREE,
    NAMESPACE,
    SNAPSHOT_GROUP,
    VERSION,
)
from . import params as px
from .kube import Api, Cache, Key, Obj, Recorder, WorkQueue, annotations, error_text, meta, now_rfc3339, spec, status
from .storage import Store, du

log = logging.getLogger("portworx")

PROVISIONER_KEYS = ("volume.kubernetes.io/storage-provisioner", "volume.beta.kubernetes.io/storage-provisioner")
SELECTED_NODE = "volume.kubernetes.io/selected-node"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
MIGRATED_TO = "pv.kubernetes.io/migrated-to"
PV_FINALIZER = "external-provisioner.volume.kubernetes.io/finalizer"
PV_PROTECTION = "kubernetes.io/pv-protection"
HANDLE = "px-cluster.portworx/volume-handle"
ATTRIBUTES = "px-cluster.portworx/volume-attributes"
DEFAULT_SNAPSHOT_CLASS = "snapshot.storage.kubernetes.io/is-default-class"
RESIZE_CONDITIONS = ("Resizing", "FileSystemResizePending", "ControllerResizeError", "NodeResizeError")
RESYNC = 600.0
EVENT_INTERVAL = 30.0
PROVISIONER_ID = f"{DRIVER}_px-csi-ext-stand-in_{uuid.uuid5(uuid.NAMESPACE_DNS, 'px-csi-ext')}"
RESIZER = f"external-resizer {DRIVER}"
SNAPSHOTTER = "snapshot-controller"
NORMAL, WARNING = "Normal", "Warning"


def volume_id(name: str) -> str:
    """A stable numeric Portworx volume (or snapshot) id for an object name."""
    return str(10**17 + int(hashlib.sha256(name.encode()).hexdigest(), 16) % (9 * 10**17))


def _natural(name: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def _deleting(obj: Obj | None) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


class Controller:
    def __init__(self, api: Api, volumes: Path, mode: str, nodes: int, stork: bool, stop: threading.Event) -> None:
        self.api = api
        self.store = Store(volumes)
        self.mode = mode
        self.nodes = nodes
        self.stork = stork and mode != "absent"
        self.stop = stop
        self.queue = WorkQueue()
        self.recorder = Recorder(api, socket.gethostname(), EVENT_INTERVAL)
        self._attempts: dict[str, int] = {}  # object uid -> failed attempts (backoff)
        self._asserted: set[str] = set()  # uids of StorageCluster/StorageNodes whose status we set
        self._health: tuple[str | None, int, int] | None = None
        self._nodes_cache: tuple[float, list[Obj]] = (0.0, [])

        def cache(name: str, path: str, api_version: str, kind: str, handler: Callable, **kw: Any) -> Cache:
            return Cache(api, name, path, api_version, kind, handler, stop, **kw)

        snap = f"/apis/{SNAPSHOT_GROUP}/v1"
        self.claims = cache(
            "persistentvolumeclaims", "/api/v1/persistentvolumeclaims", "v1", "PersistentVolumeClaim", self._on_claim
        )
        self.pvs = cache("persistentvolumes", "/api/v1/persistentvolumes", "v1", "PersistentVolume", self._on_pv)
        self.classes = cache(
            "storageclasses",
            "/apis/storage.k8s.io/v1/storageclasses",
            "storage.k8s.io/v1",
            "StorageClass",
            self._on_class,
        )
        self.snapshots = cache(
            "volumesnapshots",
            f"{snap}/volumesnapshots",
            f"{SNAPSHOT_GROUP}/v1",
            "VolumeSnapshot",
            self._on_snapshot,
            optional=True,
        )
        self.contents = cache(
            "volumesnapshotcontents",
            f"{snap}/volumesnapshotcontents",
            f"{SNAPSHOT_GROUP}/v1",
            "VolumeSnapshotContent",
            self._on_content,
            optional=True,
        )
        self.snapclasses = cache(
            "volumesnapshotclasses",
            f"{snap}/volumesnapshotclasses",
            f"{SNAPSHOT_GROUP}/v1",
            "VolumeSnapshotClass",
            self._on_snapclass,
            optional=True,
        )
        self.caches = [self.claims, self.pvs, self.classes, self.snapshots, self.contents, self.snapclasses]
        self.clusters: Cache | None = None
        self.storage_nodes: Cache | None = None
        if mode != "absent":
            px_path = f"/apis/{GROUP}/v1/namespaces/{NAMESPACE}"
            self.clusters = cache(
                "storageclusters",
                f"{px_path}/storageclusters",
                f"{GROUP}/v1",
                "StorageCluster",
                self._on_px,
                optional=True,
            )
            self.storage_nodes = cache(
                "storagenodes", f"{px_path}/storagenodes", f"{GROUP}/v1", "StorageNode", self._on_px, optional=True
            )
            self.caches += [self.clusters, self.storage_nodes]
        self.deployments: Cache | None = None
        self.stork_pods: Cache | None = None
        if self.stork:
            self.deployments = cache(
                "deployments",
                f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments",
                "apps/v1",
                "Deployment",
                self._on_deployment,
                field_selector="metadata.name=stork",
            )
            self.stork_pods = cache(
                "stork-pods",
                "/api/v1/pods",
                "v1",
                "Pod",
                self._on_stork_pod,
                field_selector="spec.schedulerName=stork,spec.nodeName=",
            )
            self.caches += [self.deployments, self.stork_pods]

    # ==== running ==========================================================================================
    def run(self) -> None:
        self.store.setup()
        log.info(
            "starting: mode %s, %d storage nodes, volumes in %s, stork scheduler %s",
            self.mode,
            self.nodes,
            self.store.root,
            "on" if self.stork else "off",
        )
        for c in self.caches:
            c.start()
        while not self.stop.is_set() and not all(c.synced.is_set() for c in self.caches):
            self.stop.wait(0.2)
        if self.stop.is_set():
            return
        log.info("caches synced: %s", ", ".join(f"{c.name} {len(c.items())}" for c in self.caches))
        try:
            self._px()  # Portworx's status for the mode first: claims must not meet a status-less cluster
        except Exception as e:
            log.warning("setting Portworx's status failed (%s); will try again", error_text(e))
        self._resync()
        worker = threading.Thread(target=self._work, name="worker", daemon=True)
        worker.start()
        next_resync = time.monotonic() + RESYNC
        while not self.stop.wait(1.0):
            if time.monotonic() >= next_resync:
                next_resync = time.monotonic() + RESYNC
                self._resync()
                self._sweep()

    def _work(self) -> None:
        failures: dict[Key, int] = {}
        while not self.stop.is_set():
            key = self.queue.get(self.stop)
            if key is None:
                continue
            try:
                again = self._reconcile(key)
                failures.pop(key, None)
            except Exception as e:
                n = failures[key] = failures.get(key, 0) + 1
                again = min(60.0, 0.5 * 2**n)
                level = logging.WARNING if n < 5 or n % 10 == 0 else logging.DEBUG
                log.log(level, "%s failed (%s); again in %.0f s", "/".join(key), error_text(e), again)
                if not isinstance(e, ApiException | OSError):
                    log.exception("unexpected error")
            if again is not None and not self.stop.is_set():
                self.queue.add(key, again)

    def _reconcile(self, key: Key) -> float | None:
        kind = key[0]
        if kind == "claim":
            return self._claim(key[1], key[2])
        if kind == "pv":
            return self._pv(key[1])
        if kind == "snapshot":
            return self._snapshot(key[1], key[2])
        if kind == "content":
            return self._content(key[1])
        if kind == "px":
            return self._px()
        if kind == "pod":
            return self._stork_pod(key[1], key[2])
        return None

    def _resync(self) -> None:
        """Every key again (from the caches: no request), as client-go's resync does."""
        self.queue.add(("px",))
        for c in self.claims.items():
            self.queue.add(("claim", meta(c)["namespace"], meta(c)["name"]))
        for v in self.pvs.items():
            self.queue.add(("pv", meta(v)["name"]))
        for s in self.snapshots.items():
            self.queue.add(("snapshot", meta(s)["namespace"], meta(s)["name"]))
        for c in self.contents.items():
            self.queue.add(("content", meta(c)["name"]))
        if self.stork_pods is not None:
            for p in self.stork_pods.items():
                self.queue.add(("pod", meta(p)["namespace"], meta(p)["name"]))
        self.recorder.forget_older_than(3600)

    def _sweep(self) -> None:
        """Snapshot copies whose content is gone (deleted while we were stopped) and stale half-copies."""
        if not self.contents.available:
            return
        with contextlib.suppress(OSError):
            for entry in self.store.snapshots.iterdir():
                if entry.name.endswith(".tmp") or not entry.name.startswith("snapcontent-"):
                    continue
                if self.contents.get(entry.name) is None:
                    self.store.remove(entry)
                    log.info("removed snapshot copy %s (its VolumeSnapshotContent is gone)", entry)
        for entry in self.store.stale_tmp(3600):
            self.store.remove(entry)
            log.info("removed half-made copy %s", entry)

    # ==== what changes lead to ============================================================================
    def _pending_claims(self, namespace: str | None = None) -> list[Key]:
        return [
            ("claim", meta(c)["namespace"], meta(c)["name"])
            for c in self.claims.items(namespace)
            if not spec(c).get("volumeName")
        ]

    def _on_claim(self, kind: str, obj: Obj, old: Obj | None) -> None:
        m = meta(obj)
        ns, name = m.get("namespace") or "", m.get("name") or ""
        if kind != "DELETED":
            self.queue.add(("claim", ns, name))
        else:
            self._attempts.pop(m.get("uid") or "", None)
        if spec(obj).get("volumeName"):
            self.queue.add(("pv", spec(obj)["volumeName"]))
        for s in self.snapshots.items(ns):
            if (spec(s).get("source") or {}).get("persistentVolumeClaimName") == name and not status(s).get(
                "readyToUse"
            ):
                self.queue.add(("snapshot", ns, meta(s)["name"]))
        for c in self.claims.items(ns):  # clones of this claim
            source = spec(c).get("dataSourceRef") or spec(c).get("dataSource") or {}
            if source.get("kind") == "PersistentVolumeClaim" and source.get("name") == name:
                self.queue.add(("claim", ns, meta(c)["name"]))
        if self.stork_pods is not None:
            for p in self.stork_pods.items(ns):
                if name in _claim_names(p):
                    self.queue.add(("pod", ns, meta(p)["name"]))

    def _on_pv(self, kind: str, obj: Obj, old: Obj | None) -> None:
        self.queue.add(("pv", meta(obj)["name"]))
        ref = spec(obj).get("claimRef") or {}
        if ref.get("name"):
            self.queue.add(("claim", ref.get("namespace") or "", ref["name"]))

    def _on_class(self, kind: str, obj: Obj, old: Obj | None) -> None:
        for key in self._pending_claims():
            self.queue.add(key)

    def _on_snapshot(self, kind: str, obj: Obj, old: Obj | None) -> None:
        m = meta(obj)
        ns, name = m.get("namespace") or "", m.get("name") or ""
        if kind == "DELETED":
            self._attempts.pop(m.get("uid") or "", None)
            self.queue.add(("content", status(obj).get("boundVolumeSnapshotContentName") or f"snapcontent-{m['uid']}"))
        else:
            self.queue.add(("snapshot", ns, name))
        for c in self.claims.items(ns):  # restores waiting for it
            source = spec(c).get("dataSourceRef") or spec(c).get("dataSource") or {}
            if source.get("kind") == "VolumeSnapshot" and source.get("name") == name and not spec(c).get("volumeName"):
                self.queue.add(("claim", ns, meta(c)["name"]))

    def _on_content(self, kind: str, obj: Obj, old: Obj | None) -> None:
        self.queue.add(("content", meta(obj)["name"]))
        ref = spec(obj).get("volumeSnapshotRef") or {}
        if ref.get("name") and kind != "DELETED":
            self.queue.add(("snapshot", ref.get("namespace") or "", ref["name"]))

    def _on_snapclass(self, kind: str, obj: Obj, old: Obj | None) -> None:
        for s in self.snapshots.items():
            if not status(s).get("readyToUse"):
                self.queue.add(("snapshot", meta(s)["namespace"], meta(s)["name"]))

    def _on_px(self, kind: str, obj: Obj, old: Obj | None) -> None:
        self.queue.add(("px",))

    def _on_deployment(self, kind: str, obj: Obj, old: Obj | None) -> None:
        if self.stork_pods is not None:
            for p in self.stork_pods.items():
                self.queue.add(("pod", meta(p)["namespace"], meta(p)["name"]))

    def _on_stork_pod(self, kind: str, obj: Obj, old: Obj | None) -> None:
        if kind != "DELETED":
            self.queue.add(("pod", meta(obj)["namespace"], meta(obj)["name"]))

    # ==== Portworx's own state ============================================================================
    def health(self) -> tuple[str | None, int, int]:
        """(StorageCluster phase, or None when there is none; online storage nodes; storage nodes)."""
        if self.clusters is None or self.storage_nodes is None or not self.clusters.available:
            return None, 0, 0
        stc = self.clusters.get(CLUSTER, NAMESPACE) or next(iter(self.clusters.items()), None)
        if stc is None:
            return None, 0, 0
        nodes = self.storage_nodes.items(NAMESPACE)
        online = sum(1 for n in nodes if status(n).get("phase") == "Online")
        return status(stc).get("phase") or "Initializing", online, len(nodes)

    def _px(self) -> float | None:
        if self.clusters is None or self.storage_nodes is None:
            return None
        degraded = self.mode == "degraded"
        for stc in self.clusters.items(NAMESPACE):
            uid = meta(stc).get("uid") or ""
            if uid in self._asserted or _deleting(stc):
                continue
            phase = "Degraded" if degraded else "Running"
            body = {
                "status": {
                    "phase": phase,
                    "version": VERSION,
                    "clusterName": meta(stc)["name"],
                    "clusterUid": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"px-cluster-{meta(stc)['name']}")),
                    "conditions": [
                        {
                            "source": "Portworx",
                            "type": "RuntimeState",
                            "status": "Degraded" if degraded else "Online",
                            "lastTransitionTime": now_rfc3339(),
                        }
                    ],
                }
            }
            self._put(self.clusters, self.api.patch(self._px_path("storageclusters", meta(stc)["name"]), body))
            self._asserted.add(uid)
            log.info("StorageCluster %s/%s: status phase %s (mode %s)", NAMESPACE, meta(stc)["name"], phase, self.mode)
        nodes = sorted(self.storage_nodes.items(NAMESPACE), key=lambda n: _natural(meta(n)["name"]))
        for index, node in enumerate(nodes):
            uid = meta(node).get("uid") or ""
            if uid in self._asserted or _deleting(node):
                continue
            offline = degraded and len(nodes) > 1 and index == len(nodes) - 1
            phase = "Offline" if offline else "Online"
            ip = _node_ip()
            body = {
                "status": {
                    "phase": phase,
                    "nodeUid": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"px-{meta(node)['name']}")),
                    "network": {"dataIP": ip, "mgmtIP": ip},
                    "storage": {"totalSize": "150Gi", "usedSize": "2Gi"},
                    "nodeAttributes": {"storage": True, "kvdb": True},
                    "conditions": [
                        {"type": "NodeState", "status": phase, "lastTransitionTime": now_rfc3339()},
                    ],
                }
            }
            self._put(self.storage_nodes, self.api.patch(self._px_path("storagenodes", meta(node)["name"]), body))
            self._asserted.add(uid)
            log.info("StorageNode %s/%s: status phase %s", NAMESPACE, meta(node)["name"], phase)
        health = self.health()
        if health != self._health:
            if self._health is not None:
                log.info("Portworx health now %s (%d of %d storage nodes online)", *health)
            self._health = health
            # Waiting claims, snapshots and resizes try again.
            for c in self.claims.items():
                self.queue.add(("claim", meta(c)["namespace"], meta(c)["name"]))
            self._on_snapclass("MODIFIED", {}, None)
        return None

    @staticmethod
    def _px_path(plural: str, name: str) -> str:
        return f"/apis/{GROUP}/v1/namespaces/{NAMESPACE}/{plural}/{name}/status"

    @staticmethod
    def _put(cache: Cache, obj: Obj) -> Obj:
        if obj.get("metadata"):
            cache.put(obj)
        return obj

    # ==== claims: provisioning and expansion ==============================================================
    def _claim(self, ns: str, name: str) -> float | None:
        claim = self.claims.get(name, ns)
        if claim is None or _deleting(claim):
            return None
        if spec(claim).get("volumeName"):
            return self._expand(claim)
        return self._provision(claim)

    def _ours(self, claim: Obj) -> Obj | None:
        """The claim's class when the claim is ours to provision now, else None."""
        ann = annotations(claim)
        if not any(ann.get(k) == DRIVER for k in PROVISIONER_KEYS):
            return None  # kube-controller-manager hands a claim over once it is time (WaitForFirstConsumer)
        sc = self.classes.get(spec(claim).get("storageClassName") or "")
        if sc is None or sc.get("provisioner") not in (DRIVER, IN_TREE):
            return None
        if sc.get("volumeBindingMode") == "WaitForFirstConsumer" and not ann.get(SELECTED_NODE):
            return None
        return sc

    def _provision(self, claim: Obj) -> float | None:
        sc = self._ours(claim)
        if sc is None:
            return None
        m = meta(claim)
        uid = m["uid"]
        pv_name = f"pvc-{uid}"
        if self.pvs.get(pv_name) is not None:
            return None
        phase, online, total = self.health()
        if phase is None:
            return None  # no Portworx: nobody answers, the claim waits
        sc_name = meta(sc)["name"]
        params = {k: str(v) for k, v in (sc.get("parameters") or {}).items()}
        attempts = self._attempts.get(uid, 0)
        if attempts == 0:
            self._event(
                claim,
                NORMAL,
                "Provisioning",
                f'External provisioner is provisioning volume for claim "{m["namespace"]}/{m["name"]}"',
                PROVISIONER_ID,
            )
        try:
            px.check_create(claim, params, phase, online, total)
            source = self._data_source(claim)
            requested = px.to_bytes(((spec(claim).get("resources") or {}).get("requests") or {}).get("storage") or 0)
            size = px.round_up_gib(requested)
            if source is not None and source[1] > size:
                kind_name, limit = source[2], source[1]
                raise ValueError(
                    f"requested volume size {size} is less than the size {limit} for the source {kind_name}"
                )
        except (px.Refusal, ValueError) as e:
            n = self._attempts[uid] = attempts + 1
            delay = min(300.0, 5.0 * 2 ** (n - 1))
            message = px.provisioning_failed(sc_name, e)
            self._event(claim, WARNING, "ProvisioningFailed", message, PROVISIONER_ID)
            log.info(
                "claim %s/%s: not provisioned (attempt %d, again in %.0f s): %s",
                m["namespace"],
                m["name"],
                n,
                delay,
                str(e).strip(),
            )
            return delay
        path = self.store.create(pv_name, source[0] if source else None)
        pv = self._pv_object(claim, sc, pv_name, size, path, params)
        try:
            created = self.api.create("/api/v1/persistentvolumes", pv)
        except ApiException as e:
            if e.status != 409:
                raise
            return None  # made by an earlier attempt; its watch event is on the way
        self.pvs.put(created)
        self._attempts.pop(uid, None)
        self._event(
            claim, NORMAL, "ProvisioningSucceeded", f"Successfully provisioned volume {pv_name}", PROVISIONER_ID
        )
        log.info(
            "claim %s/%s: created PV %s (%s, %s, %s%s)",
            m["namespace"],
            m["name"],
            pv_name,
            px.format_bytes(size),
            ",".join(pv["spec"]["accessModes"]),
            pv["spec"]["persistentVolumeReclaimPolicy"],
            f", from {source[2]}" if source else "",
        )
        return None

    def _data_source(self, claim: Obj) -> tuple[Path, int, str] | None:
        """(directory to copy, its size in bytes, what it is) for a claim with a dataSource, None without;
        ValueError with the external-provisioner's words when the source is not usable (yet)."""
        source = spec(claim).get("dataSourceRef") or spec(claim).get("dataSource")
        if not source:
            return None
        ns = meta(claim)["namespace"]
        kind, name = source.get("kind"), source.get("name") or ""
        if kind == "VolumeSnapshot" and source.get("apiGroup") == SNAPSHOT_GROUP:
            prefix = f"error getting handle for DataSource Type VolumeSnapshot by Name {name}: "
            snapshot = self.snapshots.get(name, ns)
            if snapshot is None:
                raise ValueError(
                    f'{prefix}error getting snapshot {name} from api server: volumesnapshots.{SNAPSHOT_GROUP} "{name}" '
                    "not found"
                )
            if not status(snapshot).get("readyToUse") or _deleting(snapshot):
                raise ValueError(f"{prefix}snapshot {name} is not Ready")
            content_name = status(snapshot).get("boundVolumeSnapshotContentName") or ""
            content = self.contents.get(content_name)
            if content is None or spec(content).get("driver") != DRIVER:
                raise ValueError(f"{prefix}snapshot {name} is not Ready")
            path = self.store.snapshot(content_name)
            if not path.is_dir():
                raise ValueError(f"{prefix}snapshot {name}: its data ({path}) is gone")
            return path, int(status(content).get("restoreSize") or 0), f"snapshot {name}"
        if kind == "PersistentVolumeClaim" and not source.get("apiGroup"):
            error = (
                f"error getting handle for DataSource Type PersistentVolumeClaim by Name {name}: "
                "claim in dataSource not bound or invalid"
            )
            other = self.claims.get(name, ns)
            pv = self.pvs.get(spec(other).get("volumeName") or "") if other else None
            if other is None or status(other).get("phase") != "Bound" or pv is None or not self._our_pv(pv):
                raise ValueError(error)
            if (spec(other).get("storageClassName") or "") != (spec(claim).get("storageClassName") or ""):
                raise ValueError(
                    f"the source PVC and destination PVCs must be in the same storage class for cloning.  "
                    f"Source is in {spec(other).get('storageClassName')}, but new PVC is in "
                    f"{spec(claim).get('storageClassName')}"
                )
            size = px.to_bytes((spec(pv).get("capacity") or {}).get("storage") or 0)
            return Path(spec(pv)["hostPath"]["path"]), size, f"claim {name}"
        raise ValueError(f"the data source {kind}/{name} is not one the Portworx driver can copy from")

    def _pv_object(self, claim: Obj, sc: Obj, pv_name: str, size: int, path: Path, params: dict[str, str]) -> Obj:
        cm = meta(claim)
        policy = sc.get("reclaimPolicy") or "Delete"
        ann = {
            PROVISIONED_BY: sc.get("provisioner") or DRIVER,
            "volume.kubernetes.io/provisioner-deletion-secret-name": "",
            "volume.kubernetes.io/provisioner-deletion-secret-namespace": "",
            HANDLE: volume_id(pv_name),
            ATTRIBUTES: json.dumps(px.volume_attributes(claim, params), sort_keys=True),
        }
        if sc.get("provisioner") == IN_TREE:
            ann[MIGRATED_TO] = DRIVER
        pv_spec: dict[str, Any] = {
            "accessModes": list(spec(claim).get("accessModes") or ["ReadWriteOnce"]),
            "capacity": {"storage": px.format_bytes(size)},
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": cm["namespace"],
                "name": cm["name"],
                "uid": cm["uid"],
                "resourceVersion": cm.get("resourceVersion") or "",
            },
            "persistentVolumeReclaimPolicy": policy,
            "storageClassName": meta(sc)["name"],
            "volumeMode": "Filesystem",
            "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
        }
        if sc.get("mountOptions"):
            pv_spec["mountOptions"] = list(sc["mountOptions"])
        return {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {
                "name": pv_name,
                "annotations": ann,
                "finalizers": [PV_FINALIZER] if policy == "Delete" else [],
            },
            "spec": pv_spec,
        }

    def _expand(self, claim: Obj) -> float | None:
        if status(claim).get("phase") != "Bound":
            return None
        pv = self.pvs.get(spec(claim).get("volumeName") or "")
        if pv is None or not self._our_pv(pv):
            return None
        try:
            requested = px.to_bytes(((spec(claim).get("resources") or {}).get("requests") or {}).get("storage") or 0)
            current = px.to_bytes((status(claim).get("capacity") or {}).get("storage") or 0)
        except ValueError:
            return None
        if requested <= current:
            return None
        sc = self.classes.get(spec(claim).get("storageClassName") or "")
        if sc is not None and not sc.get("allowVolumeExpansion"):
            return None
        phase, _, _ = self.health()
        if phase is None:
            return None  # no resizer runs
        m = meta(claim)
        pv_name = meta(pv)["name"]
        if phase not in HEALTHY_PHASES:
            n = self._attempts[m["uid"]] = self._attempts.get(m["uid"], 0) + 1
            self._event(claim, WARNING, "VolumeResizeFailed", px.resize_failed(pv_name, phase), RESIZER)
            log.info("claim %s/%s: not resized (Portworx is %s)", m["namespace"], m["name"], phase)
            return min(300.0, 5.0 * 2 ** (n - 1))
        self._event(claim, NORMAL, "Resizing", f"External resizer is resizing volume {pv_name}", RESIZER)
        size = px.round_up_gib(requested)
        text = px.format_bytes(size)
        if px.to_bytes((spec(pv).get("capacity") or {}).get("storage") or 0) < size:
            self.pvs.put(
                self.api.patch(f"/api/v1/persistentvolumes/{pv_name}", {"spec": {"capacity": {"storage": text}}})
            )
        conditions = [c for c in status(claim).get("conditions") or [] if c.get("type") not in RESIZE_CONDITIONS]
        body = {
            "status": {
                "capacity": {"storage": text},
                "allocatedResources": {"storage": text},
                "allocatedResourceStatuses": None,
                "conditions": conditions or None,
            }
        }
        path = f"/api/v1/namespaces/{m['namespace']}/persistentvolumeclaims/{m['name']}/status"
        self.claims.put(self.api.patch(path, body))
        self._attempts.pop(m["uid"], None)
        self._event(claim, NORMAL, "VolumeResizeSuccessful", "Resize volume succeeded", RESIZER)
        log.info("claim %s/%s: resized PV %s to %s", m["namespace"], m["name"], pv_name, text)
        return None

    # ==== volumes: reclaim =================================================================================
    def _our_pv(self, pv: Obj) -> bool:
        by = annotations(pv).get(PROVISIONED_BY)
        path = (spec(pv).get("hostPath") or {}).get("path")
        return by in (DRIVER, IN_TREE) and bool(path) and self.store.owns(path)

    def _pv(self, name: str) -> float | None:
        pv = self.pvs.get(name)
        if pv is None or not self._our_pv(pv):
            return None
        finalizers = meta(pv).get("finalizers") or []
        policy = spec(pv).get("persistentVolumeReclaimPolicy") or "Retain"
        path = Path(spec(pv)["hostPath"]["path"])
        if _deleting(pv):
            # Deleted as an object first (HonorPVReclaimPolicy): the volume goes once nothing protects it.
            if PV_FINALIZER in finalizers and PV_PROTECTION not in finalizers:
                if policy == "Delete" and self.store.remove(path):
                    log.info("PV %s: deleted its directory %s (PV deleted)", name, path)
                self._drop_finalizer(pv)
            return None
        if status(pv).get("phase") != "Released":
            return None
        if policy != "Delete":
            return None  # Retain: the directory and the Released PV stay for an administrator
        if self.store.remove(path):
            log.info("PV %s: deleted its directory %s (Released, policy Delete)", name, path)
        if PV_FINALIZER in finalizers:
            self._drop_finalizer(pv)
        try:
            answer = self.api.delete(f"/api/v1/persistentvolumes/{name}")
        except ApiException as e:
            if e.status != 404:
                raise
            answer = {}
        if answer.get("kind") == "PersistentVolume":
            self.pvs.put(answer)  # still there (another finalizer): now marked deleted
        else:
            self.pvs.forget(pv)
        log.info("PV %s: deleted", name)
        return None

    def _drop_finalizer(self, pv: Obj) -> None:
        finalizers = [f for f in meta(pv).get("finalizers") or [] if f != PV_FINALIZER]
        body = {"metadata": {"finalizers": finalizers or None, "resourceVersion": meta(pv).get("resourceVersion")}}
        try:
            self.pvs.put(self.api.patch(f"/api/v1/persistentvolumes/{meta(pv)['name']}", body))
        except ApiException as e:
            if e.status != 404:
                raise

    # ==== snapshots =======================================================================================
    def _snapshot(self, ns: str, name: str) -> float | None:
        snapshot = self.snapshots.get(name, ns)
        if snapshot is None or _deleting(snapshot) or status(snapshot).get("readyToUse"):
            return None
        source = spec(snapshot).get("source") or {}
        if source.get("volumeSnapshotContentName"):
            return self._pre_provisioned(snapshot, source["volumeSnapshotContentName"])
        claim = self.claims.get(source.get("persistentVolumeClaimName") or "", ns)
        pv = self.pvs.get(spec(claim).get("volumeName") or "") if claim else None
        if pv is not None and not self._our_pv(pv):
            return None  # another driver's volume
        snapshot_class = self._snapshot_class(snapshot)
        if isinstance(snapshot_class, dict) and snapshot_class.get("driver") != DRIVER:
            return None  # another driver's class
        phase, _, _ = self.health()
        if phase is None:
            return None  # no Portworx: the snapshot waits
        if claim is None or status(claim).get("phase") != "Bound" or pv is None:
            return self._snapshot_failed(
                snapshot,
                "SnapshotContentCreationFailed",
                f"Failed to create snapshot content with error snapshot controller failed to update {ns}/{name} on "
                f"API server: the PVC {source.get('persistentVolumeClaimName')} is not yet bound to a PV, will not "
                "attempt to take a snapshot",
            )
        if isinstance(snapshot_class, str):
            return self._snapshot_failed(snapshot, "SnapshotContentCreationFailed", snapshot_class)
        if phase not in HEALTHY_PHASES:
            return self._snapshot_failed(
                snapshot, "SnapshotCreationFailed", px.snapshot_failed(meta(pv)["name"], phase)
            )
        m = meta(snapshot)
        first = m["uid"] not in self._attempts
        self._attempts.setdefault(m["uid"], 0)
        if first:
            self._event(
                snapshot,
                NORMAL,
                "CreatingSnapshot",
                f"Waiting for a snapshot {ns}/{name} to be created by the CSI driver.",
                SNAPSHOTTER,
            )
        content = self._content_for(snapshot, snapshot_class, pv, claim)
        content_name = meta(content)["name"]
        size = px.to_bytes((spec(pv).get("capacity") or {}).get("storage") or 0)
        if not status(content).get("readyToUse"):
            started = time.monotonic()
            path = self.store.take_snapshot(meta(pv)["name"], content_name)
            handle = volume_id(content_name)
            body = {
                "status": {
                    "creationTime": time.time_ns(),
                    "readyToUse": True,
                    "restoreSize": size,
                    "snapshotHandle": handle,
                }
            }
            self.contents.put(
                self.api.patch(f"/apis/{SNAPSHOT_GROUP}/v1/volumesnapshotcontents/{content_name}/status", body)
            )
            log.info(
                "snapshot %s/%s: copied PV %s to %s (%d bytes of files, %.1f s)",
                ns,
                name,
                meta(pv)["name"],
                path,
                du(path),
                time.monotonic() - started,
            )
        body = {
            "status": {
                "boundVolumeSnapshotContentName": content_name,
                "creationTime": now_rfc3339(),
                "readyToUse": True,
                "restoreSize": px.format_bytes(size),
                "error": None,
            }
        }
        self.snapshots.put(
            self.api.patch(f"/apis/{SNAPSHOT_GROUP}/v1/namespaces/{ns}/volumesnapshots/{name}/status", body)
        )
        self._attempts.pop(m["uid"], None)
        self._event(
            snapshot,
            NORMAL,
            "SnapshotCreated",
            f"Snapshot {ns}/{name} was successfully created by the CSI driver.",
            SNAPSHOTTER,
        )
        self._event(snapshot, NORMAL, "SnapshotReady", f"Snapshot {ns}/{name} is ready to use.", SNAPSHOTTER)
        log.info("snapshot %s/%s: ready (content %s, restoreSize %s)", ns, name, content_name, px.format_bytes(size))
        return None

    def _snapshot_class(self, snapshot: Obj) -> Obj | str:
        """The snapshot's class (named, or the driver's default), or the snapshot-controller's error."""
        wanted = spec(snapshot).get("volumeSnapshotClassName")
        if wanted:
            found = self.snapclasses.get(wanted)
            if found is None:
                return (
                    f'Failed to get snapshot class with error volumesnapshotclass.{SNAPSHOT_GROUP} "{wanted}" not found'
                )
            return found
        defaults = [
            c
            for c in self.snapclasses.items()
            if c.get("driver") == DRIVER and annotations(c).get(DEFAULT_SNAPSHOT_CLASS) == "true"
        ]
        if not defaults:
            return "Failed to set default snapshot class with error cannot find default snapshot class"
        if len(defaults) > 1:
            return f"Failed to set default snapshot class with error default snapshot class: {DRIVER} is not unique"
        return defaults[0]

    def _content_for(self, snapshot: Obj, snapshot_class: Obj, pv: Obj, claim: Obj) -> Obj:
        m = meta(snapshot)
        name = f"snapcontent-{m['uid']}"
        existing = self.contents.get(name)
        if existing is not None:
            return existing
        content = {
            "apiVersion": f"{SNAPSHOT_GROUP}/v1",
            "kind": "VolumeSnapshotContent",
            "metadata": {"name": name},
            "spec": {
                "deletionPolicy": snapshot_class.get("deletionPolicy") or "Delete",
                "driver": DRIVER,
                "source": {"volumeHandle": annotations(pv).get(HANDLE) or volume_id(meta(pv)["name"])},
                "sourceVolumeMode": spec(claim).get("volumeMode") or "Filesystem",
                "volumeSnapshotClassName": meta(snapshot_class)["name"],
                "volumeSnapshotRef": {
                    "apiVersion": f"{SNAPSHOT_GROUP}/v1",
                    "kind": "VolumeSnapshot",
                    "name": m["name"],
                    "namespace": m["namespace"],
                    "uid": m["uid"],
                    "resourceVersion": m.get("resourceVersion") or "",
                },
            },
        }
        try:
            created = self.api.create(f"/apis/{SNAPSHOT_GROUP}/v1/volumesnapshotcontents", content)
        except ApiException as e:
            if e.status != 409:
                raise
            created = self.api.request("GET", f"/apis/{SNAPSHOT_GROUP}/v1/volumesnapshotcontents/{name}")
        self.contents.put(created)
        # snapshot-controller binds the snapshot to its content at once (readyToUse comes later).
        body = {"status": {"boundVolumeSnapshotContentName": name, "readyToUse": False}}
        path = f"/apis/{SNAPSHOT_GROUP}/v1/namespaces/{m['namespace']}/volumesnapshots/{m['name']}/status"
        self.snapshots.put(self.api.patch(path, body))
        log.info("snapshot %s/%s: created VolumeSnapshotContent %s", m["namespace"], m["name"], name)
        return created

    def _pre_provisioned(self, snapshot: Obj, content_name: str) -> float | None:
        """A snapshot of an existing content of ours: ready once the content is."""
        content = self.contents.get(content_name)
        if content is None or spec(content).get("driver") != DRIVER:
            return None
        ref = spec(content).get("volumeSnapshotRef") or {}
        m = meta(snapshot)
        if ref.get("name") != m["name"] or ref.get("namespace") != m["namespace"]:
            return None
        if not status(content).get("readyToUse") or not self.store.snapshot(content_name).is_dir():
            return None
        body = {
            "status": {
                "boundVolumeSnapshotContentName": content_name,
                "creationTime": now_rfc3339(),
                "readyToUse": True,
                "restoreSize": px.format_bytes(int(status(content).get("restoreSize") or 0)),
            }
        }
        path = f"/apis/{SNAPSHOT_GROUP}/v1/namespaces/{m['namespace']}/volumesnapshots/{m['name']}/status"
        self.snapshots.put(self.api.patch(path, body))
        log.info("snapshot %s/%s: ready (pre-provisioned content %s)", m["namespace"], m["name"], content_name)
        return None

    def _snapshot_failed(self, snapshot: Obj, reason: str, message: str) -> float:
        m = meta(snapshot)
        n = self._attempts[m["uid"]] = self._attempts.get(m["uid"], 0) + 1
        self._event(snapshot, WARNING, reason, message, SNAPSHOTTER)
        if (status(snapshot).get("error") or {}).get("message") != message:
            body = {"status": {"readyToUse": False, "error": {"message": message, "time": now_rfc3339()}}}
            path = f"/apis/{SNAPSHOT_GROUP}/v1/namespaces/{m['namespace']}/volumesnapshots/{m['name']}/status"
            with contextlib.suppress(ApiException):
                self.snapshots.put(self.api.patch(path, body))
            log.info("snapshot %s/%s: not taken: %s", m["namespace"], m["name"], message)
        return min(300.0, 5.0 * 2 ** (n - 1))

    def _content(self, name: str) -> float | None:
        """A content of ours whose snapshot is gone: deleted with its copy when its policy says Delete."""
        content = self.contents.get(name)
        path = self.store.snapshot(name)
        if content is None:
            if self.contents.available and name.startswith("snapcontent-") and self.store.remove(path):
                log.info("VolumeSnapshotContent %s gone: removed its copy %s", name, path)
            return None
        if spec(content).get("driver") != DRIVER:
            return None
        ref = spec(content).get("volumeSnapshotRef") or {}
        if not ref.get("uid"):
            return None  # pre-provisioned, waiting for its snapshot
        snapshot = self.snapshots.get(ref.get("name") or "", ref.get("namespace") or "")
        if snapshot is not None and meta(snapshot).get("uid") == ref.get("uid"):
            return None
        if spec(content).get("deletionPolicy") != "Delete":
            return None  # Retain: the content and its copy stay
        if self.store.remove(path):
            log.info("VolumeSnapshotContent %s: removed its copy %s (snapshot deleted)", name, path)
        if not _deleting(content):
            try:
                answer = self.api.delete(f"/apis/{SNAPSHOT_GROUP}/v1/volumesnapshotcontents/{name}")
            except ApiException as e:
                if e.status != 404:
                    raise
                answer = {}
            if answer.get("kind") == "VolumeSnapshotContent":
                self.contents.put(answer)
            else:
                self.contents.forget(content)
            log.info(
                "VolumeSnapshotContent %s: deleted (its snapshot %s/%s is gone)",
                name,
                ref.get("namespace"),
                ref.get("name"),
            )
        return None

    # ==== Stork's scheduler ===============================================================================
    def _stork_running(self) -> bool:
        return self.deployments is not None and self.deployments.get("stork", NAMESPACE) is not None

    def _node_list(self) -> list[Obj]:
        fetched, nodes = self._nodes_cache
        if time.monotonic() - fetched > 30:
            nodes = self.api.request("GET", "/api/v1/nodes").get("items") or []
            self._nodes_cache = (time.monotonic(), nodes)
        return nodes

    def _stork_pod(self, ns: str, name: str) -> float | None:
        if self.stork_pods is None:
            return None
        pod = self.stork_pods.get(name, ns)
        if pod is None or spec(pod).get("nodeName") or _deleting(pod) or not self._stork_running():
            return None
        nodes = self._node_list()
        fits = [n for n in nodes if _fits(pod, n)]
        if not fits:
            self._event(
                pod,
                WARNING,
                "FailedScheduling",
                f"0/{len(nodes)} nodes are available: {len(nodes)} node(s) didn't match the pod's requirements.",
                "stork",
            )
            return 30.0
        node = meta(sorted(fits, key=lambda n: meta(n)["name"])[0])["name"]
        waiting = False
        for claim_name in _claim_names(pod):
            claim = self.claims.get(claim_name, ns)
            if claim is None:
                self._event(
                    pod, WARNING, "FailedScheduling", f'persistentvolumeclaim "{claim_name}" not found', "stork"
                )
                return 30.0
            if spec(claim).get("volumeName"):
                continue
            waiting = True
            sc = self.classes.get(spec(claim).get("storageClassName") or "")
            if (sc or {}).get("volumeBindingMode") == "WaitForFirstConsumer" and not annotations(claim).get(
                SELECTED_NODE
            ):
                path = f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{claim_name}"
                self.claims.put(self.api.patch(path, {"metadata": {"annotations": {SELECTED_NODE: node}}}))
                log.info("stork: claim %s/%s: selected node %s for pod %s", ns, claim_name, node, name)
        if waiting:
            return 5.0  # claims bind first; their events bring the pod back sooner
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": ns},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        try:
            self.api.create(f"/api/v1/namespaces/{ns}/pods/{name}/binding", body)
        except ApiException as e:
            if e.status in (404, 409):
                return None  # gone, or bound meanwhile
            raise
        self._event(pod, NORMAL, "Scheduled", f"Successfully assigned {ns}/{name} to {node}", "stork")
        log.info("stork: bound pod %s/%s to node %s", ns, name, node)
        return None

    # ==== events ==========================================================================================
    def _event(self, obj: Obj, kind: str, reason: str, message: str, component: str) -> None:
        self.recorder.event(obj, kind, reason, message, component)


def _claim_names(pod: Obj) -> list[str]:
    return [
        v["persistentVolumeClaim"]["claimName"]
        for v in spec(pod).get("volumes") or []
        if (v.get("persistentVolumeClaim") or {}).get("claimName")
    ]


def _node_ip() -> str:
    try:
        from ..config import NODE_IP

        return str(NODE_IP)
    except (ImportError, AttributeError):
        return "127.0.0.1"


def _tolerated(taint: Obj, tolerations: list[Obj]) -> bool:
    for t in tolerations:
        if t.get("effect") and t.get("effect") != taint.get("effect"):
            continue
        if t.get("operator") == "Exists":
            if not t.get("key") or t.get("key") == taint.get("key"):
                return True
        elif t.get("key") == taint.get("key") and (t.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def _expression(expr: Obj, labels: dict[str, str]) -> bool:
    key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
    if op == "In":
        return labels.get(key) in values
    if op == "NotIn":
        return labels.get(key) not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op in ("Gt", "Lt"):
        try:
            have, want = int(labels.get(key, "")), int(values[0])
        except (ValueError, IndexError):
            return False
        return have > want if op == "Gt" else have < want
    return False


def _fits(pod: Obj, node: Obj) -> bool:
    """Ready, schedulable, the pod's nodeSelector and required node affinity, NoSchedule/NoExecute taints."""
    if not any(c.get("type") == "Ready" and c.get("status") == "True" for c in status(node).get("conditions") or []):
        return False
    tolerations = spec(pod).get("tolerations") or []
    if spec(node).get("unschedulable") and not _tolerated(
        {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}, tolerations
    ):
        return False
    labels = meta(node).get("labels") or {}
    if any(labels.get(k) != v for k, v in (spec(pod).get("nodeSelector") or {}).items()):
        return False
    required = ((spec(pod).get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    if required:
        terms = required.get("nodeSelectorTerms") or []
        if not any(all(_expression(e, labels) for e in t.get("matchExpressions") or []) for t in terms):
            return False
    for taint in spec(node).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerated(taint, tolerations):
            return False
    return True
