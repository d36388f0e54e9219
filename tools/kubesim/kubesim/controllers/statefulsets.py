"""StatefulSets: ordinal pods, their claims, revisions and rolling updates (pkg/controller/statefulset).

- Pods are `<set>-0`, `<set>-1`, ... with labels controller-revision-hash,
  statefulset.kubernetes.io/pod-name and apps.kubernetes.io/pod-index, hostname and subdomain
  (serviceName). OrderedReady creates pod N only when pods 0..N-1 are Running and Ready and removes
  the highest ordinal first, one at a time; Parallel does everything at once.
- Each volumeClaimTemplate gives claim `<template>-<set>-<ordinal>` labelled with the selector's
  matchLabels, created before the pod and mounted by it. Claims are kept when the set is deleted or
  scaled down (persistentVolumeClaimRetentionPolicy Retain, the default); with whenDeleted: Delete
  they are owned by the set (so the garbage collector removes them), with whenScaled: Delete by
  their pod's set on scale-down.
- Revisions are ControllerRevisions `<set>-<hash>` (label controller.kubernetes.io/hash, data the
  template patch, revision number). RollingUpdate replaces pods not at updateRevision, highest
  ordinal first, down to the partition, waiting for each to be Ready; OnDelete leaves it to users.
- Status: observedGeneration, replicas, readyReplicas, currentReplicas, updatedReplicas,
  availableReplicas, currentRevision, updateRevision, collisionCount.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import ApiError
from ..store import Obj, clone
from .base import (
    CONTROLLER_REVISIONS,
    PODS,
    PVCS,
    STATEFULSETS,
    Key,
    OwnerController,
    controller_ref,
    meta,
    spec,
    status,
    template_hash,
)
from .events import NORMAL, WARNING
from .pods import is_pod_ready_for, pod_from_template, pod_ready

COMPONENT = "statefulset-controller"
REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
HASH_LABEL = "controller.kubernetes.io/hash"


def ordinal_of(set_name: str, pod_name: str) -> int | None:
    match = re.fullmatch(re.escape(set_name) + r"-(\d+)", pod_name)
    return int(match.group(1)) if match else None


def claim_name(template: dict[str, Any], set_name: str, ordinal: int) -> str:
    return f"{(template.get('metadata') or {}).get('name', '')}-{set_name}-{ordinal}"


class StatefulSetController(OwnerController):
    name = "statefulsets"
    owner_key, owner_kind, owned_key = STATEFULSETS, "StatefulSet", PODS

    def reconcile(self, key: Key) -> float | None:
        ns, name = key
        sts = self.client.get(STATEFULSETS, ns, name)
        if sts is None or meta(sts).get("deletionTimestamp"):
            return None
        current_rev, update_rev = self._revisions(sts)
        pods = self._pods(sts)
        if self._sync_pods(sts, pods, update_rev):
            pods = self._pods(sts)
        return self._write_status(sts, pods, current_rev, update_rev)

    def _pods(self, sts: Obj) -> dict[int, Obj]:
        out: dict[int, Obj] = {}
        for pod in self.client.owned(sts, PODS):
            ordinal = ordinal_of(meta(sts)["name"], meta(pod)["name"])
            if ordinal is not None:
                out[ordinal] = pod
        return out

    # ---- revisions ---------------------------------------------------------------------------------
    def _revisions(self, sts: Obj) -> tuple[str, str]:
        """The ControllerRevision for the current template (created if new); (currentRevision, updateRevision)."""
        template = spec(sts).get("template") or {}
        data = {"spec": {"template": {**clone(template), "$patch": "replace"}}}
        revisions = self.client.owned(sts, CONTROLLER_REVISIONS)
        match = next((r for r in revisions if r.get("data") == data), None)
        if match is None:
            number = max([r.get("revision", 0) for r in revisions] + [0]) + 1
            digest = template_hash(data, status(sts).get("collisionCount", 0))
            labels = dict(((spec(sts).get("selector") or {}).get("matchLabels")) or {})
            labels[HASH_LABEL] = digest
            revision = {
                "apiVersion": "apps/v1",
                "kind": "ControllerRevision",
                "metadata": {
                    "name": f"{meta(sts)['name']}-{digest}",
                    "namespace": meta(sts)["namespace"],
                    "labels": labels,
                    "ownerReferences": [controller_ref(sts)],
                },
                "data": data,
                "revision": number,
            }
            match = self.client.create(revision)
        update_rev = meta(match)["name"]
        current_rev = status(sts).get("currentRevision") or update_rev
        return current_rev, update_rev

    # ---- pods and claims ----------------------------------------------------------------------------
    def _sync_pods(self, sts: Obj, pods: dict[int, Obj], update_rev: str) -> bool:
        """One step towards the spec; True when something was written."""
        replicas = spec(sts).get("replicas", 1)
        ordered = spec(sts).get("podManagementPolicy", "OrderedReady") == "OrderedReady"
        for ordinal, pod in sorted(pods.items()):
            if status(pod).get("phase") == "Failed" and not meta(pod).get("deletionTimestamp") and ordinal < replicas:
                self._delete_pod(sts, pod)  # a failed pod is recreated (restartPolicy is Always, so rarely)
                return True
        changed = False
        for ordinal in range(replicas):
            pod = pods.get(ordinal)
            if pod is None:
                if not self._create_pod(sts, ordinal, update_rev):
                    return changed
                changed = True
                if ordered:
                    return True
            elif ordered and not (status(pod).get("phase") == "Running" and pod_ready(pod)):
                return changed  # OrderedReady: wait for this pod before the next
        surplus = sorted((o for o in pods if o >= replicas), reverse=True)
        for ordinal in surplus:
            pod = pods[ordinal]
            if not meta(pod).get("deletionTimestamp"):
                self._delete_pod(sts, pod)
                self._scaled_down_claims(sts, ordinal)
                changed = True
            if ordered:
                return changed
        if changed or surplus:
            return changed
        return self._rolling_update(sts, pods, update_rev)

    def _rolling_update(self, sts: Obj, pods: dict[int, Obj], update_rev: str) -> bool:
        strategy = spec(sts).get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return False
        partition = (strategy.get("rollingUpdate") or {}).get("partition", 0)
        for ordinal in sorted(pods, reverse=True):
            pod = pods[ordinal]
            if ordinal < partition:
                break
            if (meta(pod).get("labels") or {}).get(REVISION_LABEL) != update_rev:
                if not meta(pod).get("deletionTimestamp"):
                    self._delete_pod(sts, pod)
                return True
            if not pod_ready(pod):
                return False  # wait for the updated pod to be Ready before the next one
        return False

    def _create_pod(self, sts: Obj, ordinal: int, revision: str) -> bool:
        set_name = meta(sts)["name"]
        pod_name = f"{set_name}-{ordinal}"
        if not self._create_claims(sts, ordinal, pod_name):
            return False
        template = clone(spec(sts).get("template") or {})
        pod_spec = template.setdefault("spec", {})
        pod_spec["hostname"] = pod_name
        if spec(sts).get("serviceName"):
            pod_spec["subdomain"] = spec(sts)["serviceName"]
        volumes = [
            v
            for v in pod_spec.get("volumes") or []
            if v.get("name") not in {(t.get("metadata") or {}).get("name") for t in self._templates(sts)}
        ]
        for t in self._templates(sts):
            tname = (t.get("metadata") or {}).get("name", "")
            volumes.append({"name": tname, "persistentVolumeClaim": {"claimName": claim_name(t, set_name, ordinal)}})
        if volumes:
            pod_spec["volumes"] = volumes
        labels = {REVISION_LABEL: revision, POD_NAME_LABEL: pod_name}
        if self.client.minor >= 28:
            labels[POD_INDEX_LABEL] = str(ordinal)
        pod = pod_from_template(sts, template, name=pod_name, labels=labels)
        try:
            self.client.create(pod)
        except ApiError as e:
            if e.code == 409:
                return False
            self.ctx.recorder.event(
                sts,
                WARNING,
                "FailedCreate",
                f"create Pod {pod_name} in StatefulSet {set_name} failed error: {e.message}",
                COMPONENT,
            )
            raise
        self.ctx.recorder.event(
            sts, NORMAL, "SuccessfulCreate", f"create Pod {pod_name} in StatefulSet {set_name} successful", COMPONENT
        )
        return True

    def _templates(self, sts: Obj) -> list[dict[str, Any]]:
        return list(spec(sts).get("volumeClaimTemplates") or [])

    def _create_claims(self, sts: Obj, ordinal: int, pod_name: str) -> bool:
        set_name, ns = meta(sts)["name"], meta(sts)["namespace"]
        retention = spec(sts).get("persistentVolumeClaimRetentionPolicy") or {}
        selector_labels = (spec(sts).get("selector") or {}).get("matchLabels") or {}
        for template in self._templates(sts):
            name = claim_name(template, set_name, ordinal)
            if self.client.get(PVCS, ns, name) is not None:
                continue
            tmeta = template.get("metadata") or {}
            claim_meta: dict[str, Any] = {
                "name": name,
                "namespace": ns,
                "labels": {**(tmeta.get("labels") or {}), **selector_labels},
            }
            if tmeta.get("annotations"):
                claim_meta["annotations"] = dict(tmeta["annotations"])
            if retention.get("whenDeleted") == "Delete":
                # stateful_set_utils setOwnerRef: a plain (non-controller) reference to the set.
                claim_meta["ownerReferences"] = [
                    {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": set_name, "uid": meta(sts)["uid"]}
                ]
            claim = {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": claim_meta,
                "spec": clone(template.get("spec") or {}),
            }
            try:
                self.client.create(claim)
            except ApiError as e:
                if e.code == 409:
                    continue
                self.ctx.recorder.event(
                    sts,
                    WARNING,
                    "FailedCreate",
                    f"create Claim {name} for Pod {pod_name} in StatefulSet {set_name} failed error: {e.message}",
                    COMPONENT,
                )
                raise
            self.ctx.recorder.event(
                sts,
                NORMAL,
                "SuccessfulCreate",
                f"create Claim {name} Pod {pod_name} in StatefulSet {set_name} success",
                COMPONENT,
            )
        return True

    def _scaled_down_claims(self, sts: Obj, ordinal: int) -> None:
        """whenScaled: Delete: the claims of a removed ordinal go with it."""
        retention = spec(sts).get("persistentVolumeClaimRetentionPolicy") or {}
        if retention.get("whenScaled") != "Delete":
            return
        for template in self._templates(sts):
            claim = self.client.get(PVCS, meta(sts)["namespace"], claim_name(template, meta(sts)["name"], ordinal))
            if claim is not None:
                self.client.delete(claim)

    def _delete_pod(self, sts: Obj, pod: Obj) -> None:
        self.client.delete(pod)
        self.ctx.recorder.event(
            sts,
            NORMAL,
            "SuccessfulDelete",
            f"delete Pod {meta(pod)['name']} in StatefulSet {meta(sts)['name']} successful",
            COMPONENT,
        )

    # ---- status -------------------------------------------------------------------------------------
    def _write_status(self, sts: Obj, pods: dict[int, Obj], current_rev: str, update_rev: str) -> float | None:
        sts = self.client.get(STATEFULSETS, meta(sts)["namespace"], meta(sts)["name"]) or sts
        replicas = spec(sts).get("replicas", 1)
        live = [p for p in pods.values() if not meta(p).get("deletionTimestamp")]
        min_ready = spec(sts).get("minReadySeconds", 0)

        def at(revision: str) -> int:
            return sum(1 for p in live if (meta(p).get("labels") or {}).get(REVISION_LABEL) == revision)

        updated_count = at(update_rev)
        if updated_count == replicas and len(live) == replicas and all(pod_ready(p) for p in live):
            current_rev = update_rev  # the rollout is complete
        wanted: dict[str, Any] = {"observedGeneration": meta(sts).get("generation", 1), "replicas": len(live)}
        ready = sum(1 for p in live if pod_ready(p))
        if ready:
            wanted["readyReplicas"] = ready
        if at(current_rev):
            wanted["currentReplicas"] = at(current_rev)
        if updated_count:
            wanted["updatedReplicas"] = updated_count
        wanted["currentRevision"] = current_rev
        wanted["updateRevision"] = update_rev
        wanted["collisionCount"] = status(sts).get("collisionCount", 0)
        wanted["availableReplicas"] = sum(1 for p in live if is_pod_ready_for(p, min_ready))
        if status(sts).get("conditions"):
            wanted["conditions"] = status(sts)["conditions"]
        if wanted != status(sts):
            updated = clone(sts)
            updated["status"] = wanted
            self.client.update_status(updated)
        if min_ready and wanted["availableReplicas"] < ready:
            return 1.0
        return None
