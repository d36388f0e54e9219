# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Raw-JSON access to any Kubernetes object: paths, reads, lists, and waits that explain themselves.

Shared by the apply and objects_info modules. Objects are plain dicts as the API sends them (the
typed models drop fields they do not know), and a wait that fails says what a person would look
at: the object's conditions, its pods' states with their last log lines, and recent events.
"""

from __future__ import annotations

import time

from ansible_collections.px.airflow.plugins.module_utils.apply import KNOWN_KINDS, readiness
from ansible_collections.px.airflow.plugins.module_utils.client import api_base, read_pod_log, request_json
from ansible_collections.px.airflow.plugins.module_utils.errors import ApiFailure, InvalidInput, PxAirflowError

WAITABLE = ("Deployment", "StatefulSet", "DaemonSet", "Job", "PersistentVolumeClaim", "Pod", "VolumeSnapshot")


class KindNotServed(InvalidInput):
    """The cluster does not serve this apiVersion and kind (its CRD or API group is missing)."""


def label(obj):
    meta = obj["metadata"]
    where = "%s/" % meta["namespace"] if meta.get("namespace") else ""
    return "%s %s%s" % (obj["kind"], where, meta["name"])


class Objects:
    def __init__(self, client):
        self.client = client
        self.discovered = {}

    # ---------------------------------------------------------------- paths

    def resource(self, api_version, kind):
        """(plural, namespaced) of a kind, from the known table or the cluster's discovery."""
        known = KNOWN_KINDS.get((api_version, kind))
        if known:
            return known
        if api_version not in self.discovered:
            try:
                path = api_base(api_version)
                self.discovered[api_version] = self.request("GET", path, "discover %s" % api_version) or {}
            except ApiFailure as exc:
                if exc.status != 404:
                    raise
                self.discovered[api_version] = {}
        for resource in self.discovered[api_version].get("resources", []):
            if resource.get("kind") == kind and "/" not in resource.get("name", ""):
                return resource["name"], resource.get("namespaced", False)
        raise KindNotServed(
            "the cluster does not serve %s %s: is its CRD or API group installed?" % (api_version, kind)
        )

    def collection_path(self, api_version, kind, namespace=None):
        plural, namespaced = self.resource(api_version, kind)
        base = api_base(api_version)
        if namespaced and namespace:
            base += "/namespaces/%s" % namespace
        return base + "/" + plural

    def path(self, obj, name=True):
        path = self.collection_path(obj["apiVersion"], obj["kind"], obj["metadata"].get("namespace"))
        return path + ("/" + obj["metadata"]["name"] if name else "")

    # ---------------------------------------------------------------- requests

    def request(self, method, path, what, body=None, content_type=None, query=None):
        return request_json(self.client, method, path, what, body=body, query=query, content_type=content_type)

    def read(self, obj):
        """The live object, or None when it (or its namespace) does not exist."""
        try:
            return self.request("GET", self.path(obj), "read %s" % label(obj))
        except ApiFailure as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, path, selector=None, what=None):
        query = [("labelSelector", selector)] if selector else []
        return (self.request("GET", path, what or "list %s" % path, query=query) or {}).get("items") or []

    def _list_quietly(self, path, selector=None):
        try:
            return self.list(path, selector)
        except PxAirflowError:
            return []

    # ---------------------------------------------------------------- wait

    def wait(self, objects, timeout):
        """Wait until every workload among ``objects`` is ready; raise with an explanation if not.

        An object that does not exist yet is waited for like one that is not ready. Answers the
        last state read of each, by label.
        """
        pending = [obj for obj in objects if obj["kind"] in WAITABLE]
        deadline = time.time() + timeout
        delay = 0.25
        latest = {}
        while pending:
            still = []
            for obj in pending:
                live = self.read(obj) or {}
                latest[label(obj)] = live
                ready, failure = readiness(dict(live, kind=obj["kind"])) if live else (False, None)
                if failure:
                    raise PxAirflowError("%s failed: %s.\n%s" % (label(obj), failure, self.explain(obj, live)))
                if not ready:
                    still.append(obj)
            pending = still
            if not pending:
                break
            if time.time() > deadline:
                details = [self.explain(obj, latest.get(label(obj)) or {}) for obj in pending]
                raise PxAirflowError(
                    "Timed out after %d s waiting for %s.\n%s"
                    % (timeout, ", ".join(label(o) for o in pending), "\n".join(details + self._node_lines()))
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)
        return latest

    def explain(self, obj, live):
        """What a person would look at: conditions, the pods' states, the recent events."""
        lines = ["%s:%s" % (label(obj), "" if live else " not found")]
        status = live.get("status") or {}
        for condition in status.get("conditions") or []:
            lines.append(
                "  condition %s=%s %s %s"
                % (
                    condition.get("type"),
                    condition.get("status"),
                    condition.get("reason", ""),
                    condition.get("message", ""),
                )
            )
        if obj["kind"] == "PersistentVolumeClaim":
            lines.append("  phase %s" % status.get("phase"))
        namespace = obj["metadata"].get("namespace")
        selector = ((live.get("spec") or {}).get("selector") or {}).get("matchLabels")
        if namespace and selector:
            pods = self._list_quietly(
                "/api/v1/namespaces/%s/pods" % namespace, ",".join("%s=%s" % kv for kv in sorted(selector.items()))
            )
            for pod in pods[:10]:
                lines.extend(self._pod_lines(namespace, pod))
        if namespace:
            events = self._list_quietly("/api/v1/namespaces/%s/events" % namespace)
            name = obj["metadata"]["name"]
            relevant = [e for e in events if (e.get("involvedObject") or {}).get("name", "").startswith(name)]
            for event in relevant[-8:]:
                lines.append(
                    "  event %s %s %s: %s"
                    % (
                        event.get("type"),
                        event.get("reason"),
                        (event.get("involvedObject") or {}).get("name"),
                        event.get("message"),
                    )
                )
        return "\n".join(lines)

    def _pod_lines(self, namespace, pod):
        status = pod.get("status") or {}
        states = []
        for cs in status.get("containerStatuses") or []:
            for state, detail in (cs.get("state") or {}).items():
                if state != "running":
                    states.append(
                        "%s %s: %s %s" % (cs.get("name"), state, detail.get("reason", ""), detail.get("message", ""))
                    )
        conditions = {c.get("type"): c for c in status.get("conditions") or []}
        scheduled, ready = conditions.get("PodScheduled") or {}, conditions.get("Ready") or {}
        notes = list(states)
        if scheduled.get("status") == "False":
            notes.append("not scheduled: %s %s" % (scheduled.get("reason", ""), scheduled.get("message", "")))
        # Running but not Ready (a readiness probe that fails): its log says why as often as a crash's does.
        unready = status.get("phase") == "Running" and ready.get("status") == "False"
        if unready and not states:
            notes.append("not ready: %s %s" % (ready.get("reason", ""), ready.get("message", "")))
        lines = ["  pod %s phase %s %s" % (pod["metadata"]["name"], status.get("phase"), "; ".join(notes))]
        if states or unready:
            lines.extend("    log: %s" % line for line in self._log_tail(namespace, pod["metadata"]["name"]))
        return lines

    def _node_lines(self):
        """The nodes that are not Ready (a stopped kubelet, a node out of resources): pods wait for them."""
        lines = []
        for node in self._list_quietly("/api/v1/nodes"):
            conditions = {c.get("type"): c for c in (node.get("status") or {}).get("conditions") or []}
            ready = conditions.get("Ready") or {}
            if ready.get("status") != "True":
                taints = [
                    "%s:%s" % (t.get("key"), t.get("effect")) for t in (node.get("spec") or {}).get("taints") or []
                ]
                lines.append(
                    "node %s NotReady: %s %s%s"
                    % (
                        node["metadata"]["name"],
                        ready.get("reason", "no Ready condition"),
                        ready.get("message", ""),
                        " (taints: %s)" % ", ".join(taints) if taints else "",
                    )
                )
        return lines

    def _log_tail(self, namespace, name, lines=10):
        """The last log lines of a pod that is not running (empty when there is no log yet)."""
        try:
            return read_pod_log(self.client, namespace, name, lines).splitlines()[-lines:]
        except PxAirflowError:
            return []
