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
  - px.airflow.wait
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
    default: 600
  wait_sleep:
    version_added: 0.2.0
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
from ansible_collections.px.airflow.plugins.module_utils.module import run_backend
from ansible_collections.px.airflow.plugins.module_utils.module_backends.objects_info import ObjectsInfoBackend

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
    "wait_sleep": {"type": "int", "default": 2},
}


def module_kwargs():
    """AnsibleModule's arguments; the action plugin validates with the same when it runs the code in-process."""
    return dict(argument_spec=auth_argument_spec(ARGUMENT_SPEC), supports_check_mode=True)


def execute(module):
    run_backend(module, ObjectsInfoBackend)


def main():
    execute(AnsibleModule(**module_kwargs()))


if __name__ == "__main__":
    main()
