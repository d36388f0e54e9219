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
  - With O(wait=true) it waits for every Deployment, StatefulSet, DaemonSet, Job, claim, Pod and
    VolumeSnapshot among the objects at the same time (independent waits overlap); on a timeout or a failure it
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
    description: >-
      Wait until the workloads among the objects are ready (Jobs complete, claims bound, snapshots
      ready to use).
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait (for all the objects together, or for each in turn with O(sequential=true)).
    type: int
    default: 600
  sequential:
    description:
      - With O(wait=true), apply each object and wait for it before applying the next, in the order
        given; for Jobs that must run one after another (migrations, then the admin user). A failure
        stops the sequence, and the objects after it are not applied.
    type: bool
    default: false
seealso:
  - module: kubernetes.core.k8s
"""

EXAMPLES = r"""
- name: Run the migrations, then create the admin user (each Job to completion, in order)
  px.airflow.apply:
    definitions: "{{ lookup('ansible.builtin.template', 'migrate.yml.j2') | from_yaml_all | list }}"
    wait: true
    sequential: true

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

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.px.airflow.plugins.module_utils import apply as ap
from ansible_collections.px.airflow.plugins.module_utils.args import auth_argument_spec
from ansible_collections.px.airflow.plugins.module_utils.client import MERGE_PATCH, build_api_client
from ansible_collections.px.airflow.plugins.module_utils.errors import ApiFailure, InvalidInput
from ansible_collections.px.airflow.plugins.module_utils.module import run_module
from ansible_collections.px.airflow.plugins.module_utils.objects import Objects, label

ARGUMENT_SPEC = {
    "definitions": {"type": "list", "elements": "dict", "required": True},
    "namespace": {"type": "str"},
    "wait": {"type": "bool", "default": False},
    "wait_timeout": {"type": "int", "default": 600},
    "sequential": {"type": "bool", "default": False},
}


class Applier(Objects):
    def __init__(self, module, client):
        super().__init__(client)
        self.module = module

    def normalize(self, definitions):
        objects = []
        for index, obj in enumerate(definitions):
            if not isinstance(obj, dict) or not obj.get("apiVersion") or not obj.get("kind"):
                raise InvalidInput("definitions[%d] needs apiVersion and kind" % index)
            if not (obj.get("metadata") or {}).get("name"):
                raise InvalidInput("definitions[%d] (%s) needs metadata.name" % (index, obj["kind"]))
            obj = ap.managed(obj)
            _plural, namespaced = self.resource(obj["apiVersion"], obj["kind"])
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
                after = self.request(
                    "POST", self.path(obj, name=False), "create %s" % label(obj), ap.with_annotation(obj)
                )
            return "created", None, after
        patch = ap.plan(obj, live)
        if patch is None:
            return "unchanged", live, live
        after = live
        if not self.module.check_mode:
            after = self.request("PATCH", self.path(obj), "update %s" % label(obj), patch, MERGE_PATCH)
        return "updated", live, after

    def run(self):
        params = self.module.params
        waiting = params["wait"] and not self.module.check_mode
        objects = self.normalize(params["definitions"])
        results, before_diff, after_diff = [], [], []
        for obj in objects:
            action, before, _after = self.apply_one(obj)
            if waiting and params["sequential"]:
                self.wait([obj], params["wait_timeout"])
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
        changed = any(r["action"] != "unchanged" for r in results)
        result = {"changed": changed, "objects": results}
        if self.module._diff and changed:
            result["diff"] = {"before": before_diff, "after": after_diff}
        if waiting and not params["sequential"]:
            self.wait(objects, params["wait_timeout"])
        return result


def _body(module):
    if module.params["wait_timeout"] < 1:
        raise InvalidInput("wait_timeout must be at least 1 second")
    return Applier(module, build_api_client(module.params)).run()


def main():
    module = AnsibleModule(argument_spec=auth_argument_spec(ARGUMENT_SPEC), supports_check_mode=True)
    run_module(module, _body)


if __name__ == "__main__":
    main()
