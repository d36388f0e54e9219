"""ReplicaSets: keep spec.replicas pods alive (pkg/controller/replicaset/replica_set.go).

Pods are created from the template through the API (so Pod Security admission applies; a refusal
is a FailedCreate event and a ReplicaFailure condition, retried with backoff), named
`<replicaset>-<random>`, owned by the ReplicaSet. Surplus pods go in the controller's order:
unscheduled, pending, not ready, newest first. Status: replicas, fullyLabeledReplicas,
readyReplicas, availableReplicas (Ready for minReadySeconds), observedGeneration.
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import ApiError
from ..store import Obj, clone
from .base import (
    PODS,
    REPLICASETS,
    Key,
    OwnerController,
    drop_empty,
    meta,
    set_condition,
    spec,
    status,
)
from .events import NORMAL, WARNING
from .pods import is_pod_ready_for, matches_selector, pod_active, pod_from_template, pod_ready

COMPONENT = "replicaset-controller"
CREATE_BACKOFF_START = 1.0
CREATE_BACKOFF_MAX = 60.0


def deletion_rank(pod: Obj) -> tuple[Any, ...]:
    """controller.ActivePodsWithRanks order: the first pods in this order are deleted first."""
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(status(pod).get("phase", "Pending"), 0)
    created = meta(pod).get("creationTimestamp", "")
    return (bool(spec(pod).get("nodeName")), phase_rank, pod_ready(pod), _negate(created))


def _negate(stamp: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in stamp)


class ReplicaSetController(OwnerController):
    name = "replicasets"
    owner_key, owner_kind, owned_key = REPLICASETS, "ReplicaSet", PODS

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self._failures: dict[Key, int] = {}
        self._retry_at: dict[Key, float] = {}

    def reconcile(self, key: Key) -> float | None:
        ns, name = key
        rs = self.client.get(REPLICASETS, ns, name)
        if rs is None:
            self._failures.pop(key, None)
            return None
        active = [p for p in self.client.owned(rs, PODS) if pod_active(p)]
        desired = spec(rs).get("replicas", 1)
        error: ApiError | None = None
        wait = self._retry_at.get(key, 0.0) - time.monotonic()
        if not meta(rs).get("deletionTimestamp"):
            if len(active) < desired and wait > 0:
                return wait  # backing off after a failed create (the rate-limited requeue)
            if len(active) < desired:
                error = self._create(rs, desired - len(active))
            elif len(active) > desired:
                self._delete(rs, sorted(active, key=deletion_rank)[: len(active) - desired])
        self._write_status(rs, error)
        if error is not None:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
            delay = min(CREATE_BACKOFF_START * 2 ** min(failures, 16), CREATE_BACKOFF_MAX)
            self._retry_at[key] = time.monotonic() + delay
            return delay
        self._failures.pop(key, None)
        self._retry_at.pop(key, None)
        return self._next_availability(rs)

    def _create(self, rs: Obj, count: int) -> ApiError | None:
        template = spec(rs).get("template") or {}
        for _ in range(count):
            pod = pod_from_template(rs, template, generate_name=f"{meta(rs)['name']}-")
            try:
                created = self.client.create(pod)
            except ApiError as e:
                self.ctx.recorder.event(rs, WARNING, "FailedCreate", f"Error creating: {e.message}", COMPONENT)
                return e
            self.ctx.recorder.event(
                rs, NORMAL, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}", COMPONENT
            )
        return None

    def _delete(self, rs: Obj, pods: list[Obj]) -> None:
        for pod in pods:
            self.client.delete(pod)
            self.ctx.recorder.event(rs, NORMAL, "SuccessfulDelete", f"Deleted pod: {meta(pod)['name']}", COMPONENT)

    def _write_status(self, rs: Obj, error: ApiError | None) -> None:
        rs = self.client.get(REPLICASETS, meta(rs)["namespace"], meta(rs)["name"]) or rs
        active = [p for p in self.client.owned(rs, PODS) if pod_active(p)]
        min_ready = spec(rs).get("minReadySeconds", 0)
        labels = ((spec(rs).get("template") or {}).get("metadata") or {}).get("labels") or {}
        conditions = [c for c in status(rs).get("conditions") or [] if c.get("type") != "ReplicaFailure"]
        if error is not None:
            conditions = set_condition(
                list(status(rs).get("conditions") or []), "ReplicaFailure", "True", "FailedCreate", error.message
            )
        wanted: dict[str, Any] = {"replicas": len(active)}
        wanted.update(
            drop_empty(
                {
                    "fullyLabeledReplicas": sum(1 for p in active if matches_selector(p, {"matchLabels": labels})),
                    "readyReplicas": sum(1 for p in active if pod_ready(p)),
                    "availableReplicas": sum(1 for p in active if is_pod_ready_for(p, min_ready)),
                }
            )
        )
        wanted["observedGeneration"] = meta(rs).get("generation", 1)
        if conditions:
            wanted["conditions"] = conditions
        if wanted != status(rs):
            updated = clone(rs)
            updated["status"] = wanted
            self.client.update_status(updated)

    def _next_availability(self, rs: Obj) -> float | None:
        """With minReadySeconds, look again when the next ready pod becomes available."""
        from .base import parse_time

        min_ready = spec(rs).get("minReadySeconds", 0)
        if not min_ready:
            return None
        waits = []
        for pod in self.client.owned(rs, PODS):
            if pod_ready(pod) and not is_pod_ready_for(pod, min_ready):
                cond = next(c for c in status(pod).get("conditions") or () if c.get("type") == "Ready")
                since = parse_time(cond.get("lastTransitionTime")) or time.time()
                waits.append(since + min_ready - time.time() + 0.05)
        return min(waits) if waits else None
