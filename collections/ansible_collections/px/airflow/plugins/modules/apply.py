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
  - px.airflow.wait
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
    default: 600
  wait_sleep:
    version_added: 0.2.0
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

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.px.airflow.plugins.module_utils.args import auth_argument_spec
from ansible_collections.px.airflow.plugins.module_utils.module import run_backend
from ansible_collections.px.airflow.plugins.module_utils.module_backends.apply import ApplyBackend

ARGUMENT_SPEC = {
    "definitions": {"type": "list", "elements": "dict", "required": True},
    "namespace": {"type": "str"},
    "wait": {"type": "bool", "default": False},
    "wait_timeout": {"type": "int", "default": 600},
    "wait_sleep": {"type": "int", "default": 2},
    "sequential": {"type": "bool", "default": False},
}


def module_kwargs():
    """AnsibleModule's arguments; the action plugin validates with the same when it runs the code in-process."""
    return dict(argument_spec=auth_argument_spec(ARGUMENT_SPEC), supports_check_mode=True)


def execute(module):
    run_backend(module, ApplyBackend)


def main():
    execute(AnsibleModule(**module_kwargs()))


if __name__ == "__main__":
    main()
