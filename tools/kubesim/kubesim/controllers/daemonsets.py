"""DaemonSets: one pod per eligible node (pkg/controller/daemon).

Each pod is `<daemonset>-<random>`, owned by the DaemonSet, labelled controller-revision-hash and
pod-template-generation, and pinned to its node with required node affinity on metadata.name (the
default scheduler then binds it, as since 1.12). A template change replaces pods node by node
(RollingUpdate) or waits for users (OnDelete). Status: desiredNumberScheduled,
currentNumberScheduled, numberMisscheduled, numberReady, numberAvailable, numberUnavailable,
updatedNumberScheduled, observedGeneration.
"""

from __future__ import annotations

from typing import Any

from ..errors import ApiError
from ..store import Obj, clone
from .base import DAEMONSETS, NODES, PODS, Key, OwnerController, meta, spec, status, template_hash
from .events import NORMAL, WARNING
from .pods import is_pod_ready_for, pod_active, pod_from_template, pod_ready
from .scheduler import pod_fits

COMPONENT = "daemonset-controller"


def pinned_node(pod: Obj) -> str | None:
    """The node a daemon pod is pinned to (its matchFields metadata.name term), or spec.nodeName."""
    affinity = ((spec(pod).get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    for term in affinity.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("values"):
                return str(field["values"][0])
    return spec(pod).get("nodeName")


class DaemonSetController(OwnerController):
    name = "daemonsets"
    owner_key, owner_kind, owned_key = DAEMONSETS, "DaemonSet", PODS

    def reconcile(self, key: Key) -> float | None:
        ns, name = key
        ds = self.client.get(DAEMONSETS, ns, name)
        if ds is None or meta(ds).get("deletionTimestamp"):
            return None
        revision = template_hash(spec(ds).get("template") or {})
        nodes = [
            n for n in self.client.list(NODES) if pod_fits({"spec": (spec(ds).get("template") or {}).get("spec")}, n)
        ]
        pods = [p for p in self.client.owned(ds, PODS) if pod_active(p)]
        by_node: dict[str, list[Obj]] = {}
        for pod in pods:
            by_node.setdefault(pinned_node(pod) or "", []).append(pod)
        eligible = {meta(n)["name"] for n in nodes}
        for node in sorted(eligible - set(by_node)):
            self._create(ds, node, revision)
        for node, node_pods in by_node.items():
            extra = node_pods[1:] if node in eligible else node_pods
            for pod in extra:
                self._delete(ds, pod)
        self._roll(ds, by_node, eligible, revision)
        self._write_status(ds, eligible, revision)
        return None

    def _create(self, ds: Obj, node: str, revision: str) -> None:
        template = clone(spec(ds).get("template") or {})
        pod_spec = template.setdefault("spec", {})
        affinity = pod_spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
        affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]
        }
        # The DaemonSet controller adds these tolerations so daemons survive node conditions.
        tolerations = list(pod_spec.get("tolerations") or [])
        for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
            if not any(t.get("key") == key for t in tolerations):
                tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute"})
        pod_spec["tolerations"] = tolerations
        labels = {"controller-revision-hash": revision, "pod-template-generation": str(meta(ds).get("generation", 1))}
        pod = pod_from_template(ds, template, generate_name=f"{meta(ds)['name']}-", labels=labels)
        try:
            created = self.client.create(pod)
        except ApiError as e:
            self.ctx.recorder.event(ds, WARNING, "FailedCreate", f"Error creating: {e.message}", COMPONENT)
            raise
        self.ctx.recorder.event(
            ds, NORMAL, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}", COMPONENT
        )

    def _delete(self, ds: Obj, pod: Obj) -> None:
        self.client.delete(pod)
        self.ctx.recorder.event(ds, NORMAL, "SuccessfulDelete", f"Deleted pod: {meta(pod)['name']}", COMPONENT)

    def _roll(self, ds: Obj, by_node: dict[str, list[Obj]], eligible: set[str], revision: str) -> None:
        """RollingUpdate with maxUnavailable 1: replace one outdated pod when every pod is ready."""
        if (spec(ds).get("updateStrategy") or {}).get("type", "RollingUpdate") != "RollingUpdate":
            return
        current = [pods[0] for node, pods in by_node.items() if node in eligible and pods]
        if len(current) < len(eligible) or not all(pod_ready(p) for p in current):
            return
        outdated = [p for p in current if (meta(p).get("labels") or {}).get("controller-revision-hash") != revision]
        if outdated:
            self._delete(ds, sorted(outdated, key=lambda p: meta(p)["name"])[0])

    def _write_status(self, ds: Obj, eligible: set[str], revision: str) -> None:
        ds = self.client.get(DAEMONSETS, meta(ds)["namespace"], meta(ds)["name"]) or ds
        pods = [p for p in self.client.owned(ds, PODS) if pod_active(p)]
        scheduled = [p for p in pods if pinned_node(p) in eligible]
        min_ready = spec(ds).get("minReadySeconds", 0)
        available = sum(1 for p in scheduled if is_pod_ready_for(p, min_ready))
        wanted: dict[str, Any] = {
            "currentNumberScheduled": len({pinned_node(p) for p in scheduled}),
            "numberMisscheduled": len([p for p in pods if pinned_node(p) not in eligible]),
            "desiredNumberScheduled": len(eligible),
            "numberReady": sum(1 for p in scheduled if pod_ready(p)),
            "observedGeneration": meta(ds).get("generation", 1),
        }
        updated = sum(1 for p in scheduled if (meta(p).get("labels") or {}).get("controller-revision-hash") == revision)
        if updated:
            wanted["updatedNumberScheduled"] = updated
        if available:
            wanted["numberAvailable"] = available
        if len(eligible) - available > 0:
            wanted["numberUnavailable"] = len(eligible) - available
        if wanted != status(ds):
            new = clone(ds)
            new["status"] = wanted
            self.client.update_status(new)
