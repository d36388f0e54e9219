"""The scheduler: pods to simulated nodes (kube-scheduler's default plugins, as our workloads meet them).

- A pod whose schedulerName nobody serves stays Pending without events, as on a real cluster
  ("default-scheduler", and "stork" while the simulated Portworx runs Stork).
- PersistentVolumeClaims (the VolumeBinding plugin): a missing or terminating claim, or an unbound
  claim of an Immediate class, makes the pod unschedulable ("pod has unbound immediate
  PersistentVolumeClaims"); for unbound claims of a WaitForFirstConsumer class the scheduler picks
  a node and puts `volume.kubernetes.io/selected-node` on them, and binds the pod once they are bound
  (a no-provisioner class needs a pre-created volume some node can use).
- nodeSelector, required node affinity and bound volumes' node affinity filter the nodes; the least
  loaded one wins.
- Binding is the pods/binding subresource: spec.nodeName and PodScheduled True, and a Scheduled
  event; an unschedulable pod gets PodScheduled False (reason Unschedulable) and a FailedScheduling
  event with the scheduler's message, and is retried.
"""

from __future__ import annotations

from typing import Any

from ..store import Event, Obj, clone
from .base import (
    NODES,
    PODS,
    PVCS,
    PVS,
    STORAGE_CLASSES,
    Context,
    Controller,
    Key,
    deleting,
    meta,
    set_condition,
    spec,
    status,
)
from .events import NORMAL, WARNING
from .nodes import SimNode
from .volumes import NO_PROVISIONER, SELECTED_NODE, find_static_volume

SCHEDULER = "default-scheduler"
UNSCHEDULABLE_RETRY = 15.0
TERMINAL = ("Succeeded", "Failed")


def claim_names(pod: Obj) -> list[str]:
    return [
        v["persistentVolumeClaim"]["claimName"]
        for v in spec(pod).get("volumes") or ()
        if (v.get("persistentVolumeClaim") or {}).get("claimName")
    ]


# ---- node filtering ---------------------------------------------------------------------------------------


def _term_matches(term: dict[str, Any], labels: dict[str, str], fields: dict[str, str]) -> bool:
    for expr in term.get("matchExpressions") or ():
        if not _expression_matches(expr, labels):
            return False
    return all(_expression_matches(expr, fields) for expr in term.get("matchFields") or ())


def _expression_matches(expr: dict[str, Any], labels: dict[str, str]) -> bool:
    key, op, values = expr.get("key", ""), expr.get("operator", ""), list(expr.get("values") or ())
    value = labels.get(key)
    if op == "In":
        return value in values
    if op == "NotIn":
        return value not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op in ("Gt", "Lt") and value is not None and values:
        try:
            return int(value) > int(values[0]) if op == "Gt" else int(value) < int(values[0])
        except ValueError:
            return False
    return False


def node_selector_matches(selector: dict[str, Any] | None, node: Obj) -> bool:
    """A v1.NodeSelector (terms ORed, expressions ANDed)."""
    terms = (selector or {}).get("nodeSelectorTerms") or []
    if not terms:
        return True
    labels = meta(node).get("labels") or {}
    return any(_term_matches(t, labels, {"metadata.name": meta(node)["name"]}) for t in terms)


def pod_fits(pod: Obj, node: Obj) -> bool:
    labels = meta(node).get("labels") or {}
    for key, value in (spec(pod).get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = ((spec(pod).get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    return node_selector_matches(required, node)


def unschedulable_message(nodes: int, reason: str) -> str:
    return (
        f"0/{nodes} nodes are available: {reason}. preemption: 0/{nodes} nodes are available: "
        f"{nodes} Preemption is not helpful for scheduling."
    )


# ---- the controller -----------------------------------------------------------------------------------------


class SchedulerController(Controller):
    name = "scheduler"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.nodes: list[SimNode] = ctx.settings["nodes"]

    def keys_for(self, event: Event) -> list[Key]:
        m = meta(event.obj)
        ns = m.get("namespace") or ""
        if event.key == PODS:
            return [] if event.type == "DELETED" or spec(event.obj).get("nodeName") else [(ns, m["name"])]
        if event.key == PVCS:
            name = m["name"]
            return [
                (ns, meta(p)["name"])
                for p in self.client.list(PODS, ns)
                if not spec(p).get("nodeName") and name in claim_names(p)
            ]
        return []

    def resync_keys(self) -> list[Key]:
        return [
            (meta(p)["namespace"], meta(p)["name"])
            for p in self.client.list(PODS)
            if not spec(p).get("nodeName") and not deleting(p)
        ]

    def reconcile(self, key: Key) -> float | None:
        pod = self.client.get(PODS, *key)
        if pod is None or deleting(pod) or spec(pod).get("nodeName") or status(pod).get("phase") in TERMINAL:
            return None
        return self._schedule(pod)

    def _schedulers(self) -> set[str]:
        return {SCHEDULER, *self.ctx.services.get("schedulers", ())}

    def _schedule(self, pod: Obj) -> float | None:
        if spec(pod).get("schedulerName", SCHEDULER) not in self._schedulers():
            return None  # nobody schedules it: Pending forever, no events (as with a missing scheduler)
        nodes = [self.client.get(NODES, "", n.name) for n in self.nodes]
        candidates = [n for n in nodes if n is not None and pod_fits(pod, n)]
        total = len([n for n in nodes if n is not None])
        if not candidates:
            return self._unschedulable(
                pod, unschedulable_message(total, f"{total} node(s) didn't match Pod's node affinity/selector")
            )
        verdict = self._check_claims(pod, candidates, total)
        if isinstance(verdict, str):
            return self._unschedulable(pod, verdict)
        if verdict is None:
            return None  # waiting for a WaitForFirstConsumer claim to be provisioned and bound
        node = self._least_loaded(verdict)
        return self._bind(pod, node)

    def _check_claims(self, pod: Obj, candidates: list[Obj], total: int) -> list[Obj] | str | None:
        """Nodes the pod's claims allow; a message when unschedulable; None while binding is pending."""
        ns = meta(pod)["namespace"]
        waiting: list[Obj] = []
        for claim_name in claim_names(pod):
            claim = self.client.get(PVCS, ns, claim_name)
            if claim is None:
                return unschedulable_message(total, f'persistentvolumeclaim "{claim_name}" not found')
            if deleting(claim):
                return unschedulable_message(total, f'persistentvolumeclaim "{claim_name}" is being deleted')
            volume_name = spec(claim).get("volumeName")
            if volume_name and status(claim).get("phase") == "Bound":
                pv = self.client.get(PVS, "", volume_name)
                affinity = (spec(pv or {}).get("nodeAffinity") or {}).get("required")
                candidates = [n for n in candidates if node_selector_matches(affinity, n)]
                if not candidates:
                    return unschedulable_message(total, f"{total} node(s) had volume node affinity conflict")
                continue
            sc = self.client.get(STORAGE_CLASSES, "", spec(claim).get("storageClassName") or "")
            if sc is None or sc.get("volumeBindingMode") != "WaitForFirstConsumer":
                return unschedulable_message(total, "pod has unbound immediate PersistentVolumeClaims")
            if sc.get("provisioner") == NO_PROVISIONER:
                # Only pre-created volumes can serve it: some node must be able to use one of them.
                fits = [n for n in candidates if find_static_volume(self.client, claim, sc, n) is not None]
                if not fits:
                    return unschedulable_message(
                        total, f"{total} node(s) didn't find available persistent volumes to bind"
                    )
                candidates = fits
            waiting.append(claim)
        if not waiting:
            return candidates
        self._select_node(waiting, candidates)
        return None

    def _select_node(self, claims: list[Obj], candidates: list[Obj]) -> None:
        """VolumeBinding PreBind: tell the provisioner where the first consumer runs."""
        chosen = next(
            (
                meta(c).get("annotations", {}).get(SELECTED_NODE)
                for c in claims
                if (meta(c).get("annotations") or {}).get(SELECTED_NODE)
            ),
            None,
        )
        names = {meta(n)["name"] for n in candidates}
        if chosen not in names:
            chosen = meta(self._least_loaded(candidates))["name"]
        for claim in claims:
            annotations = dict(meta(claim).get("annotations") or {})
            if annotations.get(SELECTED_NODE) == chosen:
                continue
            annotations[SELECTED_NODE] = chosen
            updated = clone(claim)
            updated["metadata"]["annotations"] = annotations
            self.client.update(updated)

    def _least_loaded(self, candidates: list[Obj]) -> Obj:
        load = {meta(n)["name"]: 0 for n in candidates}
        for pod in self.client.list(PODS):
            node = spec(pod).get("nodeName")
            if node in load and status(pod).get("phase") not in TERMINAL:
                load[node] += 1
        return min(candidates, key=lambda n: (load[meta(n)["name"]], meta(n)["name"]))

    def _unschedulable(self, pod: Obj, message: str) -> float:
        st = clone(status(pod))
        conditions = set_condition(
            list(st.get("conditions") or []), "PodScheduled", "False", "Unschedulable", message, probe_time=True
        )
        if conditions != st.get("conditions"):
            updated = clone(pod)
            updated["status"] = {**st, "conditions": conditions}
            self.client.update_status(updated)
        self.ctx.recorder.event(pod, WARNING, "FailedScheduling", message, SCHEDULER)
        return UNSCHEDULABLE_RETRY

    def _bind(self, pod: Obj, node: Obj) -> float | None:
        """DefaultBinder: POST pods/NAME/binding (spec.nodeName and PodScheduled True), then the Scheduled event."""
        node_name = meta(node)["name"]
        self.client.bind(pod, node_name)
        m = meta(pod)
        self.ctx.recorder.event(
            pod, NORMAL, "Scheduled", f"Successfully assigned {m['namespace']}/{m['name']} to {node_name}", SCHEDULER
        )
        return None
