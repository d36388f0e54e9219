"""Deployments: ReplicaSets per pod template, rollouts and status (pkg/controller/deployment).

- The ReplicaSet for the current template is `<deployment>-<pod-template-hash>`, with the
  pod-template-hash label on itself, its selector and its template, the Deployment's annotations
  plus deployment.kubernetes.io/revision, desired-replicas and max-replicas, and a controller
  ownerReference.
- A template change is a rollout: a new ReplicaSet (next revision) is scaled up and the old ones
  are scaled down as new pods become available (RollingUpdate), or the old ones go to zero first
  (Recreate). Every scaling is a ScalingReplicaSet event ("Scaled up replica set x from 0 to 3").
  Old ReplicaSets beyond revisionHistoryLimit are deleted.
- Status as syncRolloutStatus computes it: observedGeneration, replicas, updatedReplicas,
  readyReplicas, availableReplicas, unavailableReplicas; conditions Available
  (MinimumReplicasAvailable / MinimumReplicasUnavailable) and Progressing (NewReplicaSetCreated,
  ReplicaSetUpdated, NewReplicaSetAvailable, ProgressDeadlineExceeded), ReplicaFailure copied from
  the new ReplicaSet.
"""

from __future__ import annotations

import math
import time
from typing import Any

from ..errors import ApiError
from ..store import Obj, clone
from .base import (
    DEPLOYMENTS,
    REPLICASETS,
    Key,
    OwnerController,
    controller_ref,
    drop_empty,
    get_condition,
    meta,
    now_rfc3339,
    parse_time,
    set_condition,
    spec,
    status,
    template_hash,
)
from .events import NORMAL

COMPONENT = "deployment-controller"
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
# Annotations the controller does not copy to ReplicaSets (deployment/util skipCopyAnnotation).
_SKIP_COPY = {
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    DESIRED,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
}


def scaled_value(value: Any, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent."""
    if isinstance(value, int):
        return value
    text = str(value or "0")
    if text.endswith("%"):
        exact = int(text[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(text)


def surge_and_unavailable(deployment: Obj) -> tuple[int, int]:
    """deploymentutil.ResolveFenceposts: maxSurge rounds up, maxUnavailable down; never both 0."""
    strategy = spec(deployment).get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0, 0
    rolling = strategy.get("rollingUpdate") or {}
    replicas = spec(deployment).get("replicas", 1)
    surge = scaled_value(rolling.get("maxSurge", "25%"), replicas, True)
    unavailable = scaled_value(rolling.get("maxUnavailable", "25%"), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def without_hash(template: dict[str, Any]) -> dict[str, Any]:
    """The template with the pod-template-hash label removed (EqualIgnoreHash)."""
    copy = clone(template)
    labels = (copy.get("metadata") or {}).get("labels")
    if labels and HASH_LABEL in labels:
        del labels[HASH_LABEL]
        if not labels:
            del copy["metadata"]["labels"]
    return copy


def revision_of(rs: Obj) -> int:
    try:
        return int((meta(rs).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


class DeploymentController(OwnerController):
    name = "deployments"
    owner_key, owner_kind, owned_key = DEPLOYMENTS, "Deployment", REPLICASETS

    def reconcile(self, key: Key) -> float | None:
        ns, name = key
        deployment = self.client.get(DEPLOYMENTS, ns, name)
        if deployment is None or meta(deployment).get("deletionTimestamp"):
            return None
        replica_sets = self.client.owned(deployment, REPLICASETS)
        template = spec(deployment).get("template") or {}
        new_rs = next((rs for rs in replica_sets if without_hash(spec(rs).get("template") or {}) == template), None)
        old = [rs for rs in replica_sets if rs is not new_rs]
        created = False
        if new_rs is None and not spec(deployment).get("paused"):
            new_rs = self._create_replica_set(deployment, old)
            if new_rs is None:
                return None  # a hash collision was recorded in the status: the next pass uses a new name
            created = True
        elif new_rs is not None:
            new_rs = self._sync_revision(deployment, new_rs, old)
        if not spec(deployment).get("paused") and new_rs is not None:
            self._scale(deployment, new_rs, old)
            self._cleanup(deployment, old)
        return self._write_status(deployment, new_rs, created)

    # ---- replica sets --------------------------------------------------------------------------------
    def _create_replica_set(self, deployment: Obj, old: list[Obj]) -> Obj | None:
        collisions = status(deployment).get("collisionCount", 0)
        template = clone(spec(deployment).get("template") or {})
        pod_hash = template_hash(template, collisions)
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
        selector = clone(spec(deployment).get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        replicas = spec(deployment).get("replicas", 1)
        surge, _ = surge_and_unavailable(deployment)
        revision = max([revision_of(rs) for rs in old] + [0]) + 1
        annotations = {k: v for k, v in (meta(deployment).get("annotations") or {}).items() if k not in _SKIP_COPY}
        annotations.update({DESIRED: str(replicas), MAX_REPLICAS: str(replicas + surge), REVISION: str(revision)})
        # Recreate scales old ReplicaSets to zero first; otherwise start at the full size (kubesim simplification
        # of NewRSNewReplicas, which respects maxSurge: the old ones only go down as new pods become available).
        start = 0 if self._old_pods_remain(deployment, old) else replicas
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{meta(deployment)['name']}-{pod_hash}",
                "namespace": meta(deployment)["namespace"],
                "labels": dict(template["metadata"]["labels"]),
                "annotations": annotations,
                "ownerReferences": [controller_ref(deployment)],
            },
            "spec": {"replicas": start, "selector": selector, "template": template},
        }
        if spec(deployment).get("minReadySeconds"):
            rs["spec"]["minReadySeconds"] = spec(deployment)["minReadySeconds"]
        try:
            created = self.client.create(rs)
        except ApiError as e:
            if e.code != 409:
                raise
            updated = clone(deployment)
            updated["status"] = {**status(deployment), "collisionCount": collisions + 1}
            self.client.update_status(updated)
            return None
        self.ctx.recorder.event(
            deployment,
            NORMAL,
            "ScalingReplicaSet",
            f"Scaled up replica set {created['metadata']['name']} from 0 to {start}",
            COMPONENT,
        )
        self._set_revision(deployment, revision)
        return created

    def _old_pods_remain(self, deployment: Obj, old: list[Obj]) -> bool:
        strategy = (spec(deployment).get("strategy") or {}).get("type", "RollingUpdate")
        return strategy == "Recreate" and any(spec(rs).get("replicas") or status(rs).get("replicas") for rs in old)

    def _sync_revision(self, deployment: Obj, new_rs: Obj, old: list[Obj]) -> Obj:
        """A rolled-back template makes an old ReplicaSet new again: it gets the next revision."""
        highest_old = max([revision_of(rs) for rs in old] + [0])
        revision = revision_of(new_rs)
        if revision <= highest_old:
            revision = highest_old + 1
            updated = clone(new_rs)
            updated["metadata"].setdefault("annotations", {})[REVISION] = str(revision)
            new_rs = self.client.update(updated)
        if (meta(deployment).get("annotations") or {}).get(REVISION) != str(revision):
            self._set_revision(deployment, revision)
        return new_rs

    def _set_revision(self, deployment: Obj, revision: int) -> None:
        """The revision annotation on the Deployment, written with UpdateStatus as the controller does
        (sync.go getNewReplicaSet: SetDeploymentRevision, then UpdateStatus): the status strategy keeps
        metadata changes, and a status update does not bump metadata.generation."""
        current = self.client.get(DEPLOYMENTS, meta(deployment)["namespace"], meta(deployment)["name"])
        if current is None:
            return
        updated = clone(current)
        updated["metadata"].setdefault("annotations", {})[REVISION] = str(revision)
        self.client.update_status(updated)

    def _scale(self, deployment: Obj, new_rs: Obj, old: list[Obj]) -> None:
        desired = spec(deployment).get("replicas", 1)
        strategy = (spec(deployment).get("strategy") or {}).get("type", "RollingUpdate")
        if strategy == "Recreate":
            for rs in old:
                self._scale_rs(deployment, rs, 0)
            if any(status(rs).get("replicas") for rs in old):
                return  # wait for the old pods to be gone
            self._scale_rs(deployment, new_rs, desired)
            return
        self._scale_rs(deployment, new_rs, desired)
        available = status(new_rs).get("availableReplicas", 0)
        remaining = max(desired - available, 0)
        for rs in sorted(old, key=revision_of):
            target = min(spec(rs).get("replicas", 0), remaining)
            remaining -= target
            self._scale_rs(deployment, rs, target)

    def _scale_rs(self, deployment: Obj, rs: Obj, replicas: int) -> None:
        current = spec(rs).get("replicas", 0)
        annotations = meta(rs).get("annotations") or {}
        surge, _ = surge_and_unavailable(deployment)
        desired = spec(deployment).get("replicas", 1)
        wanted_annotations = {**annotations, DESIRED: str(desired), MAX_REPLICAS: str(desired + surge)}
        if current == replicas and annotations == wanted_annotations:
            return
        updated = clone(rs)
        updated["spec"]["replicas"] = replicas
        updated["metadata"]["annotations"] = wanted_annotations
        self.client.update(updated)
        if current != replicas:
            direction = "up" if replicas > current else "down"
            self.ctx.recorder.event(
                deployment,
                NORMAL,
                "ScalingReplicaSet",
                f"Scaled {direction} replica set {meta(rs)['name']} from {current} to {replicas}",
                COMPONENT,
            )

    def _cleanup(self, deployment: Obj, old: list[Obj]) -> None:
        """Old, empty ReplicaSets beyond revisionHistoryLimit are deleted (oldest first)."""
        limit = spec(deployment).get("revisionHistoryLimit", 10)
        empty = [
            rs
            for rs in old
            if not spec(rs).get("replicas") and not status(rs).get("replicas") and not meta(rs).get("deletionTimestamp")
        ]
        for rs in sorted(empty, key=revision_of)[: max(len(empty) - limit, 0)]:
            self.client.delete(rs)

    # ---- status --------------------------------------------------------------------------------------
    def _write_status(self, deployment: Obj, new_rs: Obj | None, created: bool) -> float | None:
        current = self.client.get(DEPLOYMENTS, meta(deployment)["namespace"], meta(deployment)["name"])
        if current is None:
            return None
        replica_sets = self.client.owned(current, REPLICASETS)
        new_rs = next(
            (rs for rs in replica_sets if new_rs is not None and meta(rs)["uid"] == meta(new_rs)["uid"]), None
        )
        total_spec = sum(spec(rs).get("replicas", 0) for rs in replica_sets)
        available = sum(status(rs).get("availableReplicas", 0) for rs in replica_sets)
        counts = drop_empty(
            {
                "replicas": sum(status(rs).get("replicas", 0) for rs in replica_sets),
                "updatedReplicas": status(new_rs).get("replicas", 0) if new_rs else 0,
                "readyReplicas": sum(status(rs).get("readyReplicas", 0) for rs in replica_sets),
                "availableReplicas": available,
                "unavailableReplicas": max(total_spec - available, 0),
            }
        )
        old_status = status(current)
        wanted: dict[str, Any] = {"observedGeneration": meta(current).get("generation", 1), **counts}
        if old_status.get("collisionCount"):
            wanted["collisionCount"] = old_status["collisionCount"]
        conditions, retry = self._conditions(current, new_rs, counts, replica_sets, created)
        wanted["conditions"] = conditions
        if wanted != old_status:
            updated = clone(current)
            updated["status"] = wanted
            self.client.update_status(updated)
        return retry

    def _conditions(
        self, deployment: Obj, new_rs: Obj | None, counts: dict[str, int], replica_sets: list[Obj], created: bool
    ) -> tuple[list[dict[str, Any]], float | None]:
        conditions = list(status(deployment).get("conditions") or [])
        now = now_rfc3339()
        desired = spec(deployment).get("replicas", 1)
        _, max_unavailable = surge_and_unavailable(deployment)
        if counts.get("availableReplicas", 0) >= desired - max_unavailable:
            conditions = set_condition(
                conditions,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                now=now,
                update_time=True,
            )
        else:
            conditions = set_condition(
                conditions,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                now=now,
                update_time=True,
            )
        retry = None
        if new_rs is not None:
            conditions, retry = self._progressing(deployment, new_rs, counts, replica_sets, created, conditions, now)
        failure = get_condition(new_rs, "ReplicaFailure") if new_rs else None
        if failure is not None:
            conditions = set_condition(
                conditions,
                "ReplicaFailure",
                failure["status"],
                failure.get("reason", ""),
                failure.get("message", ""),
                now=now,
                update_time=True,
            )
        else:
            conditions = [c for c in conditions if c.get("type") != "ReplicaFailure"]
        return conditions, retry

    def _progressing(
        self,
        deployment: Obj,
        new_rs: Obj,
        counts: dict[str, int],
        replica_sets: list[Obj],
        created: bool,
        conditions: list[dict[str, Any]],
        now: str,
    ) -> tuple[list[dict[str, Any]], float | None]:
        name = meta(new_rs)["name"]
        desired = spec(deployment).get("replicas", 1)
        old_pods = sum(status(rs).get("replicas", 0) for rs in replica_sets if meta(rs)["uid"] != meta(new_rs)["uid"])
        complete = (
            counts.get("updatedReplicas", 0) == desired
            and counts.get("replicas", 0) == desired
            and counts.get("availableReplicas", 0) == desired
            and not old_pods
        )
        current = next((c for c in conditions if c.get("type") == "Progressing"), None)
        if complete:
            return set_condition(
                conditions,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{name}" has successfully progressed.',
                now=now,
                update_time=True,
            ), None
        if created:
            return set_condition(
                conditions,
                "Progressing",
                "True",
                "NewReplicaSetCreated",
                f'Created new replica set "{name}"',
                now=now,
                update_time=True,
            ), None
        deadline = spec(deployment).get("progressDeadlineSeconds")
        if current is not None and current.get("reason") == "ProgressDeadlineExceeded":
            return conditions, None
        progressed = (
            status(deployment).get("updatedReplicas", 0) != counts.get("updatedReplicas", 0)
            or status(deployment).get("availableReplicas", 0) != counts.get("availableReplicas", 0)
            or current is None
            or current.get("reason") == "NewReplicaSetAvailable"
        )
        if progressed:
            # ReplicaSetUpdated refreshes lastUpdateTime at every step of progress.
            kept = [c for c in conditions if c.get("type") != "Progressing"]
            condition = {
                "type": "Progressing",
                "status": "True",
                "lastUpdateTime": now,
                "lastTransitionTime": (current or {}).get("lastTransitionTime", now)
                if (current or {}).get("status") == "True"
                else now,
                "reason": "ReplicaSetUpdated",
                "message": f'ReplicaSet "{name}" is progressing.',
            }
            return [*kept, condition], float(deadline) if deadline else None
        if deadline:
            last = parse_time((current or {}).get("lastUpdateTime")) or time.time()
            left = last + deadline - time.time()
            if left <= 0:
                return set_condition(
                    conditions,
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    f'ReplicaSet "{name}" has timed out progressing.',
                    now=now,
                    update_time=True,
                ), None
            return conditions, left + 0.5
        return conditions, None
