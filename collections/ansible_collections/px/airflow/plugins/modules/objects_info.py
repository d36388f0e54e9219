#!/usr/bin/python
# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: objects_info
short_description: Read several Kubernetes objects or lists in one task, optionally waiting until they are ready
version_added: 0.1.0
description:
  - Answers each query in O(queries), in order, with the objects found, in one module run (one
    C(kubernetes.core.k8s_info) task per query costs a module start each).
  - A query that names an object and sets O(queries[].wait=true) waits until the object exists and
    is ready (a Deployment, StatefulSet or DaemonSet with all replicas ready, a Job complete, a claim
    bound, a Pod ready). Waits overlap. On a timeout or a failure it reports the object's
    conditions, its pods' states with their last log lines, and the namespace's recent events.
    Waits are skipped in check mode. A VolumeSnapshot is ready when it is ready to use.
  - A kind the cluster does not serve (its CRD is not installed) is not an error; its result has
    RV(results[].api_found=false) and no resources.
  - The values of Secrets are never returned (their C(data) and C(stringData), and the
    last-applied annotations that may copy them, are left out); use M(px.airflow.secrets) to
    manage them.
author:
  - px.airflow contributors (@px-airflow)
extends_documentation_fragment:
  - px.airflow.k8s_auth
  - px.airflow.attributes
  - px.airflow.attributes.INFO_MODULE
options:
  queries:
    description: What to read.
    type: list
    elements: dict
    required: true
    suboptions:
      api_version:
        description: API version of the kind, for example C(apps/v1).
        type: str
        default: v1
      kind:
        description: Kind, for example C(StatefulSet).
        type: str
        required: true
      name:
        description: Name of one object; without it, the query lists the kind.
        type: str
      namespace:
        description: Namespace of namespaced kinds; without it, a list spans all namespaces.
        type: str
      label_selectors:
        description: Label selectors a listed object must match, for example C(app=web).
        type: list
        elements: str
        default: []
      wait:
        description: Wait until the named object exists and is ready. Needs O(queries[].name).
        type: bool
        default: false
  wait_timeout:
    description: Seconds to wait for the objects of all queries with O(queries[].wait=true), together.
    type: int
    default: 600
seealso:
  - module: kubernetes.core.k8s_info
  - module: px.airflow.apply
"""

EXAMPLES = r"""
- name: Wait for the database, and find the migration Jobs and the snapshot class, in one task
  px.airflow.objects_info:
    queries:
      - {api_version: apps/v1, kind: StatefulSet, namespace: airflow, name: af-postgresql, wait: true}
      - {api_version: batch/v1, kind: Job, namespace: airflow, label_selectors: [app.kubernetes.io/component=migrate]}
      - {api_version: snapshot.storage.k8s.io/v1, kind: VolumeSnapshotClass, name: px-airflow-snapshots}
    wait_timeout: 300
  register: __found

- name: Names of the migration Jobs
  ansible.builtin.debug:
    msg: "{{ __found.results[1].resources | map(attribute='metadata.name') | list }}"
"""

RETURN = r"""
results:
  description: One entry per query, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: The query's kind.
      type: str
    api_version:
      description: The query's API version.
      type: str
    api_found:
      description: Whether the cluster serves this kind.
      type: bool
    resources:
      description: The objects found, as the API sends them (Secrets without their values).
      type: list
      elements: dict
  sample: [{kind: StatefulSet, api_version: apps/v1, api_found: true, resources: [{metadata: {name: af-postgresql}}]}]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.px.airflow.plugins.module_utils.args import auth_argument_spec
from ansible_collections.px.airflow.plugins.module_utils.client import build_api_client
from ansible_collections.px.airflow.plugins.module_utils.errors import InvalidInput
from ansible_collections.px.airflow.plugins.module_utils.module import run_module
from ansible_collections.px.airflow.plugins.module_utils.objects import KindNotServed, Objects, label

ARGUMENT_SPEC = {
    "queries": {
        "type": "list",
        "elements": "dict",
        "required": True,
        "options": {
            "api_version": {"type": "str", "default": "v1"},
            "kind": {"type": "str", "required": True},
            "name": {"type": "str"},
            "namespace": {"type": "str"},
            "label_selectors": {"type": "list", "elements": "str", "default": []},
            "wait": {"type": "bool", "default": False},
        },
    },
    "wait_timeout": {"type": "int", "default": 600},
}
SECRET_VALUES = ("data", "stringData")
# kubectl's annotation keeps a Secret's values in clear; ours keeps digests, left out all the same.
LAST_APPLIED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration", "px.airflow/last-applied")


def validate(params):
    if params["wait_timeout"] < 1:
        raise InvalidInput("wait_timeout must be at least 1 second")
    for index, query in enumerate(params["queries"]):
        if query["wait"] and not query["name"]:
            raise InvalidInput(
                "queries[%d] (%s) sets wait=true without a name: name the object to wait for" % (index, query["kind"])
            )
        if query["name"] and query["label_selectors"]:
            raise InvalidInput(
                "queries[%d] (%s) gives both name and label_selectors: give one of them" % (index, query["kind"])
            )


def _without_secret_values(obj):
    """A Secret without its values, including the copies last-applied annotations keep of them."""
    if obj.get("kind") != "Secret":
        return obj
    kept = {key: value for key, value in obj.items() if key not in SECRET_VALUES}
    annotations = (kept.get("metadata") or {}).get("annotations")
    if annotations:
        kept["metadata"] = dict(
            kept["metadata"],
            annotations={k: v for k, v in annotations.items() if k not in LAST_APPLIED_ANNOTATIONS},
        )
    return kept


class Reader(Objects):
    def answer(self, query, latest):
        found = {"kind": query["kind"], "api_version": query["api_version"], "api_found": True, "resources": []}
        try:
            path = self.collection_path(query["api_version"], query["kind"], query["namespace"])
        except KindNotServed:
            found["api_found"] = False
            return found
        if query["name"]:
            stub = self._stub(query)
            obj = latest[label(stub)] if label(stub) in latest else self.read(stub)
            items = [obj] if obj else []
        else:
            items = self.list(path, ",".join(query["label_selectors"]) or None)
        for item in items:
            item.setdefault("apiVersion", query["api_version"])
            item.setdefault("kind", query["kind"])
        found["resources"] = [_without_secret_values(item) for item in items]
        return found

    @staticmethod
    def _stub(query):
        return {
            "apiVersion": query["api_version"],
            "kind": query["kind"],
            "metadata": {"name": query["name"], "namespace": query["namespace"]},
        }

    def run(self, params, check_mode):
        waits = [self._stub(q) for q in params["queries"] if q["wait"]]
        latest = {}
        if waits and not check_mode:
            for obj in waits:
                self.resource(obj["apiVersion"], obj["kind"])  # a kind that is not served is an error here
            latest = self.wait(waits, params["wait_timeout"])
        return {"changed": False, "results": [self.answer(query, latest) for query in params["queries"]]}


def _body(module):
    validate(module.params)
    return Reader(build_api_client(module.params)).run(module.params, module.check_mode)


def main():
    module = AnsibleModule(argument_spec=auth_argument_spec(ARGUMENT_SPEC), supports_check_mode=True)
    run_module(module, _body)


if __name__ == "__main__":
    main()
