#!/usr/bin/python
# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: apply
short_description: Apply Kubernetes manifests, sending no write when nothing changed, and wait for them together
version_added: 0.1.0
description:
  - Creates or updates each object in O(definitions). An object is left alone, with one read and no
    write, when every field given is already in the live object with the same value and the last
    configuration applied (kept in the C(px.airflow/last-applied) annotation) is the same; what the
    API server adds (defaults, status) is not a difference. Otherwise one JSON merge patch sends
    the given fields, with nulls for fields applied last time and no longer given.
  - This is what the roles use instead of C(kubernetes.core.k8s) with C(apply=true), which
    re-sends every list it has no merge key for, so converged workloads still get a PATCH.
  - With O(wait=true) it waits for every Deployment, StatefulSet, DaemonSet, Job, claim and Pod
    among the objects at the same time (independent waits overlap); on a timeout or a failure it
    reports each object's conditions, its pods' states and the namespace's recent events.
author:
  - px.airflow contributors (@px-airflow)
extends_documentation_fragment:
  - px.airflow.k8s_auth
  - px.airflow.attributes
  - px.airflow.attributes.FULL
options:
  definitions:
    description: The objects, each a complete manifest with C(apiVersion), C(kind) and C(metadata.name).
    type: list
    elements: dict
    required: true
  namespace:
    description: Namespace for namespaced objects that do not name one.
    type: str
  wait:
    description: Wait until the workloads among the objects are ready (Jobs complete, claims bound).
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 600
seealso:
  - module: kubernetes.core.k8s
"""

EXAMPLES = r"""
- name: Configuration and workloads, waiting for all of them together
  px.airflow.apply:
    definitions: "{{ lookup('ansible.builtin.template', 'components.yml.j2') | from_yaml_all | list }}"
    wait: true
    wait_timeout: 600
"""

RETURN = r"""
objects:
  description: Each object with what was done (created, updated, unchanged).
  returned: always
  type: list
  elements: dict
  sample: [{kind: Deployment, name: af-scheduler, namespace: airflow, action: unchanged}]
"""

import json
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.px.airflow.plugins.module_utils import apply as ap
from ansible_collections.px.airflow.plugins.module_utils.args import auth_argument_spec
from ansible_collections.px.airflow.plugins.module_utils.client import api_call, build_api_client
from ansible_collections.px.airflow.plugins.module_utils.errors import ApiFailure, InvalidInput, PxAirflowError
from ansible_collections.px.airflow.plugins.module_utils.module import run_module

ARGUMENT_SPEC = {
    "definitions": {"type": "list", "elements": "dict", "required": True},
    "namespace": {"type": "str"},
    "wait": {"type": "bool", "default": False},
    "wait_timeout": {"type": "int", "default": 600},
}
MERGE_PATCH = "application/merge-patch+json"


class Applier:
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.discovered = {}

    # ---------------------------------------------------------------- paths

    def _resource(self, api_version, kind):
        known = ap.KNOWN_KINDS.get((api_version, kind))
        if known:
            return known
        if api_version not in self.discovered:
            base = "/api/v1" if api_version == "v1" else "/apis/%s" % api_version
            try:
                self.discovered[api_version] = self._request("GET", base, "discover %s" % api_version) or {}
            except ApiFailure as exc:
                if exc.status != 404:
                    raise
                self.discovered[api_version] = {}
        for resource in self.discovered[api_version].get("resources", []):
            if resource.get("kind") == kind and "/" not in resource.get("name", ""):
                return resource["name"], resource.get("namespaced", False)
        raise InvalidInput("the cluster does not serve %s %s: is its CRD or API group installed?" % (api_version, kind))

    def path(self, obj, name=True):
        api_version, kind = obj["apiVersion"], obj["kind"]
        plural, namespaced = self._resource(api_version, kind)
        base = "/api/v1" if api_version == "v1" else "/apis/%s" % api_version
        if namespaced:
            base += "/namespaces/%s" % obj["metadata"]["namespace"]
        base += "/" + plural
        return base + ("/" + obj["metadata"]["name"] if name else "")

    def _request(self, method, path, what, body=None, content_type=None, query=None):
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        response = api_call(
            self.client,
            what,
            self.client.call_api,
            path,
            method,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
            _preload_content=False,
        )
        raw = response[0].data if isinstance(response, tuple) else response.data
        return json.loads(raw) if raw else None

    @staticmethod
    def label(obj):
        meta = obj["metadata"]
        where = "%s/" % meta["namespace"] if meta.get("namespace") else ""
        return "%s %s%s" % (obj["kind"], where, meta["name"])

    # ---------------------------------------------------------------- apply

    def normalize(self, definitions):
        objects = []
        for index, obj in enumerate(definitions):
            if not isinstance(obj, dict) or not obj.get("apiVersion") or not obj.get("kind"):
                raise InvalidInput("definitions[%d] needs apiVersion and kind" % index)
            if not (obj.get("metadata") or {}).get("name"):
                raise InvalidInput("definitions[%d] (%s) needs metadata.name" % (index, obj["kind"]))
            obj = ap.managed(obj)
            _plural, namespaced = self._resource(obj["apiVersion"], obj["kind"])
            if namespaced:
                obj["metadata"].setdefault("namespace", self.module.params["namespace"])
                if not obj["metadata"]["namespace"]:
                    raise InvalidInput(
                        "%s %s needs a namespace (metadata.namespace or the namespace option)"
                        % (obj["kind"], obj["metadata"]["name"])
                    )
            else:
                obj["metadata"].pop("namespace", None)
            objects.append(obj)
        return objects

    def read(self, obj):
        try:
            return self._request("GET", self.path(obj), "read %s" % self.label(obj))
        except ApiFailure as exc:
            if exc.status == 404:
                return None
            raise

    def apply_one(self, obj):
        """Create or patch one object; on a 409 (someone wrote in between) it is read again and retried."""
        for attempt in range(4):
            try:
                return self._apply_once(obj)
            except ApiFailure as exc:
                if exc.status != 409 or attempt == 3:
                    raise
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _apply_once(self, obj):
        live = self.read(obj)
        if live is None:
            after = obj
            if not self.module.check_mode:
                after = self._request(
                    "POST", self.path(obj, name=False), "create %s" % self.label(obj), ap.with_annotation(obj)
                )
            return "created", None, after
        patch = ap.plan(obj, live)
        if patch is None:
            return "unchanged", live, live
        after = live
        if not self.module.check_mode:
            after = self._request("PATCH", self.path(obj), "update %s" % self.label(obj), patch, MERGE_PATCH)
        return "updated", live, after

    def run(self):
        objects = self.normalize(self.module.params["definitions"])
        results, before_diff, after_diff, touched = [], [], [], []
        for obj in objects:
            action, before, after = self.apply_one(obj)
            results.append(
                {
                    "kind": obj["kind"],
                    "name": obj["metadata"]["name"],
                    "namespace": obj["metadata"].get("namespace"),
                    "action": action,
                }
            )
            if action != "unchanged":
                before_diff.append(ap.shown(before, obj) if before else {})
                after_diff.append(obj)
            touched.append((obj, after))
        changed = any(r["action"] != "unchanged" for r in results)
        result = {"changed": changed, "objects": results}
        if self.module._diff and changed:
            result["diff"] = {"before": before_diff, "after": after_diff}
        if self.module.params["wait"] and not self.module.check_mode:
            self.wait([obj for obj, _after in touched])
        return result

    # ---------------------------------------------------------------- wait

    def wait(self, objects):
        pending = [
            obj
            for obj in objects
            if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job", "PersistentVolumeClaim", "Pod")
        ]
        deadline = time.time() + self.module.params["wait_timeout"]
        delay = 0.25
        latest = {}
        while pending:
            still = []
            for obj in pending:
                live = self.read(obj) or {}
                latest[self.label(obj)] = live
                ready, failure = ap.readiness(dict(live, kind=obj["kind"]))
                if failure:
                    raise PxAirflowError("%s failed: %s.\n%s" % (self.label(obj), failure, self.explain(obj, live)))
                if not ready:
                    still.append(obj)
            pending = still
            if not pending:
                return
            if time.time() > deadline:
                details = "\n".join(self.explain(obj, latest.get(self.label(obj)) or {}) for obj in pending)
                raise PxAirflowError(
                    "Timed out after %d s waiting for %s.\n%s"
                    % (self.module.params["wait_timeout"], ", ".join(self.label(o) for o in pending), details)
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    def explain(self, obj, live):
        """What a person would look at: conditions, the pods' states, the recent events."""
        lines = ["%s:" % self.label(obj)]
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
            pods = self._list(
                "/api/v1/namespaces/%s/pods" % namespace, ",".join("%s=%s" % kv for kv in sorted(selector.items()))
            )
            for pod in pods[:10]:
                states = []
                for cs in (pod.get("status") or {}).get("containerStatuses") or []:
                    for state, detail in (cs.get("state") or {}).items():
                        if state != "running":
                            states.append(
                                "%s %s: %s %s"
                                % (cs.get("name"), state, detail.get("reason", ""), detail.get("message", ""))
                            )
                lines.append(
                    "  pod %s phase %s %s"
                    % (pod["metadata"]["name"], (pod.get("status") or {}).get("phase"), "; ".join(states))
                )
                if states:
                    lines.extend("    log: %s" % line for line in self._log_tail(namespace, pod["metadata"]["name"]))
        if namespace:
            events = self._list("/api/v1/namespaces/%s/events" % namespace)
            names = {obj["metadata"]["name"]}
            relevant = [e for e in events if (e.get("involvedObject") or {}).get("name", "").startswith(tuple(names))]
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

    def _log_tail(self, namespace, name, lines=10):
        """The last log lines of a pod that is not running (empty when there is no log yet)."""
        try:
            response = api_call(
                self.client,
                "read the log of pod %s/%s" % (namespace, name),
                self.client.call_api,
                "/api/v1/namespaces/%s/pods/%s/log" % (namespace, name),
                "GET",
                query_params=[("tailLines", lines)],
                auth_settings=["BearerToken"],
                _preload_content=False,
            )
        except PxAirflowError:
            return []
        raw = (response[0] if isinstance(response, tuple) else response).data
        return raw.decode("utf-8", "replace").splitlines()[-lines:]

    def _list(self, path, selector=None):
        query = [("labelSelector", selector)] if selector else []
        try:
            return (self._request("GET", path, "list %s" % path, query=query) or {}).get("items") or []
        except PxAirflowError:
            return []


def _body(module):
    if module.params["wait_timeout"] < 1:
        raise InvalidInput("wait_timeout must be at least 1 second")
    return Applier(module, build_api_client(module.params)).run()


def main():
    module = AnsibleModule(argument_spec=auth_argument_spec(ARGUMENT_SPEC), supports_check_mode=True)
    run_module(module, _body)


if __name__ == "__main__":
    main()
