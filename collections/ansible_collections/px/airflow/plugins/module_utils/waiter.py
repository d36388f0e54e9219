# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one waiter: readiness rules for every kind px.airflow waits on, one polling loop, and
failures that explain themselves.

Used by the apply and objects_info modules (and so by every role), by dag_sync for its Job, and
(through ``poll``) by dag_run for Airflow's runs. A wait that fails says what a person would look
at: the object's conditions, its pods' states with their last log lines, recent events, and the
nodes that are not Ready.
"""

from __future__ import annotations

import time

from ansible_collections.px.airflow.plugins.module_utils.errors import InvalidInput, PxAirflowError
from ansible_collections.px.airflow.plugins.module_utils.service import label

WAITABLE = ("Deployment", "StatefulSet", "DaemonSet", "Job", "PersistentVolumeClaim", "Pod", "VolumeSnapshot")


WAIT_OPTIONS = ("wait_timeout", "wait_sleep")


def check_wait_options(params, options=WAIT_OPTIONS):
    """Refuse a wait option below 1 second, naming it (the shared vocabulary: doc_fragments/wait.py)."""
    for option in options:
        if params.get(option) is not None and params[option] < 1:
            raise InvalidInput("%s must be at least 1 second (got %d)" % (option, params[option]))


class TimedOut(PxAirflowError):
    """A poll ran out of time."""


def poll(check, timeout, sleep=2.0, first=0.25, clock=time.time, pause=time.sleep):
    """Call ``check()`` until it answers something other than None; raise TimedOut after ``timeout`` s.

    The pause between calls starts at ``first`` and grows by half up to ``sleep``. ``check`` may
    raise to end the wait with its own error.
    """
    deadline = clock() + timeout
    delay = min(first, sleep)
    while True:
        answer = check()
        if answer is not None:
            return answer
        if clock() > deadline:
            raise TimedOut("timed out after %d s" % timeout)
        pause(delay)
        delay = min(delay * 1.5, sleep)


def readiness(obj):
    """(ready, failed_reason) of a workload as the API shows it; kinds without readiness are ready."""
    kind = obj.get("kind")
    status = obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    replicas = (obj.get("spec") or {}).get("replicas", 1)
    if kind == "Deployment":
        conditions = {c.get("type"): c for c in status.get("conditions") or []}
        progressing = conditions.get("Progressing") or {}
        if progressing.get("reason") == "ProgressDeadlineExceeded":
            return False, "ProgressDeadlineExceeded: %s" % progressing.get("message", "")
        ready = (
            observed is not None
            and observed >= (generation or 0)
            and status.get("updatedReplicas", 0) == replicas
            and status.get("availableReplicas", 0) == replicas
            and status.get("readyReplicas", 0) == replicas
            and status.get("replicas", 0) == replicas
        )
        return ready, None
    if kind == "StatefulSet":
        ready = (
            observed is not None
            and observed >= (generation or 0)
            and status.get("readyReplicas", 0) == replicas
            and status.get("updatedReplicas", 0) == replicas
            and status.get("currentRevision") == status.get("updateRevision")
        )
        return ready, None
    if kind == "DaemonSet":
        desired = status.get("desiredNumberScheduled", 0)
        return observed is not None and status.get("numberReady", 0) == desired and desired > 0, None
    if kind == "Job":
        conditions = {c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"}
        if "Failed" in conditions:
            failed = conditions["Failed"]
            return False, "%s: %s" % (failed.get("reason", "Failed"), failed.get("message", ""))
        return "Complete" in conditions, None
    if kind == "PersistentVolumeClaim":
        return status.get("phase") == "Bound", None
    if kind == "VolumeSnapshot":
        error = status.get("error") or {}
        if error.get("message") and not status.get("readyToUse"):
            return False, "snapshot error: %s" % error["message"]
        return status.get("readyToUse") is True, None
    if kind == "Pod":
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        if status.get("phase") == "Failed":
            return False, "pod failed"
        return conditions.get("Ready") == "True" or status.get("phase") == "Succeeded", None
    return True, None


class Waiter:
    """Waits on Kubernetes objects through a KubeService, and explains a wait that fails."""

    def __init__(self, service, sleep=2.0):
        self.service = service
        self.sleep = sleep

    def wait(self, objects, timeout, what=None, known=None):
        """Wait until every workload among ``objects`` is ready; raise with an explanation if not.

        All of them are polled in each round, so independent waits overlap. An object that does
        not exist yet is waited for like one that is not ready. Answers the last state read of
        each, by label. ``what`` prefixes a failure's message. ``known`` maps labels to objects
        the caller read a moment ago and did not write since: the first round judges those as
        read instead of reading them again.
        """
        pending = [obj for obj in objects if obj["kind"] in WAITABLE]
        latest = {}
        fresh = dict(known or {})

        def check():
            still = []
            for obj in pending:
                live = fresh.pop(label(obj), None) or self.service.get(obj) or {}
                latest[label(obj)] = live
                ready, failure = readiness(dict(live, kind=obj["kind"])) if live else (False, None)
                if failure:
                    raise PxAirflowError(
                        "%s%s failed: %s.\n%s" % (what or "", label(obj), failure, self.explain(obj, live))
                    )
                if not ready:
                    still.append(obj)
            pending[:] = still
            return latest if not pending else None

        if not pending:
            return latest
        try:
            return poll(check, timeout, self.sleep)
        except TimedOut:
            details = [self.explain(obj, latest.get(label(obj)) or {}) for obj in pending]
            raise PxAirflowError(
                "%sTimed out after %d s waiting for %s.\n%s"
                % (what or "", timeout, ", ".join(label(o) for o in pending), "\n".join(details + self._node_lines()))
            ) from None

    def _list_quietly(self, kind, namespace=None, selector=None):
        try:
            return self.service.list("v1", kind, namespace, selector)
        except PxAirflowError:
            return []

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
            pods = self._list_quietly("Pod", namespace, ",".join("%s=%s" % kv for kv in sorted(selector.items())))
            for pod in pods[:10]:
                lines.extend(self._pod_lines(namespace, pod))
        if namespace:
            events = self._list_quietly("Event", namespace)
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
        for node in self._list_quietly("Node"):
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
            return self.service.pod_log(namespace, name, lines).splitlines()[-lines:]
        except PxAirflowError:
            return []
