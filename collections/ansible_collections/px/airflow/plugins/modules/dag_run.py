#!/usr/bin/python
# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: dag_run
short_description: Trigger an Airflow DAG run over Airflow 3's REST API and wait for its outcome
version_added: 0.1.0
description:
  - Triggers a run of a DAG (with O(conf) and an optional O(run_id)), waits for it to finish
    within O(wait_timeout), and returns the run's state and each task's state and duration. A failed
    run fails the task, with the failed tasks' log tails in the message.
  - Reaches the API either at O(api_url), or through the Kubernetes API's service proxy
    (O(service), using the Kubernetes connection options), which needs no port-forward or
    ingress. The kube-apiserver does not pass the caller's C(Authorization) header through the
    proxy, so there the Airflow token travels as the C(_token) cookie, which Airflow 3 also reads.
  - Authenticates to Airflow with O(airflow_username) and O(airflow_password) (a token from C(/auth/token)).
author:
  - px.airflow contributors (@px-airflow)
extends_documentation_fragment:
  - px.airflow.k8s_auth
  - px.airflow.attributes
  - px.airflow.wait
attributes:
  check_mode:
    support: full
    details:
      - Says that it would trigger a run, without triggering it.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details:
      - A run is a change by nature. With O(run_id), a run that already succeeded is not triggered
        again and is reported unchanged.
options:
  dag_id:
    description: The DAG to run.
    type: str
    required: true
  conf:
    description: The run's configuration (C(dag_run.conf)).
    type: dict
    default: {}
  run_id:
    description: The run's id; Airflow makes one when not given.
    type: str
  unpause:
    description: Unpause the DAG first if it is paused (new DAGs start paused).
    type: bool
    default: false
  wait:
    description: Wait for the run to finish.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the run to finish.
      - C(timeout) is its earlier name, still accepted.
    aliases: [timeout]
    default: 900
    version_added: 0.2.0
  dag_wait_timeout:
    description: Seconds to wait for the DAG to appear (the dag-processor parses new files periodically).
    type: int
    default: 180
  wait_sleep:
    description:
      - The longest pause, in seconds, between two polls of the run's state (and of the DAG's
        appearance, at most 5 s there).
      - C(poll_interval) is its earlier name, still accepted.
    aliases: [poll_interval]
    default: 3
    version_added: 0.2.0
  log_tail_lines:
    description: Lines of each failed task's log to include on failure.
    type: int
    default: 40
  api_url:
    description:
      - Base URL of Airflow's api-server, for example C(http://localhost:8080).
      - Give exactly one of O(api_url) and O(service).
    type: str
  service:
    description: The api-server's Service, reached through the Kubernetes API's service proxy.
    type: dict
    suboptions:
      namespace:
        description: Namespace of the Service.
        type: str
        required: true
      name:
        description: Name of the Service.
        type: str
        required: true
      port:
        description: Port (number or name) of the Service.
        type: str
        default: "8080"
  airflow_username:
    description:
      - Airflow user that logs in to Airflow's API (C(POST /auth/token)).
      - Named apart from the Kubernetes connection options O(username) and O(password), which
        authenticate to the Kubernetes API; Airflow's credentials go only to Airflow.
    type: str
    default: admin
  airflow_password:
    description:
      - Password of O(airflow_username). It travels only in the body of C(POST /auth/token) to
        Airflow (directly, or through the service proxy), never in a header to the Kubernetes API.
    type: str
    required: true
  api_validate_certs:
    description: Verify the TLS certificate of O(api_url).
    type: bool
    default: true
seealso:
  - module: px.airflow.dag_sync
  - name: Airflow REST API
    description: Airflow 3's stable REST API reference.
    link: https://airflow.apache.org/docs/apache-airflow/stable/stable-rest-api-ref.html
"""

EXAMPLES = r"""
- name: Run the demo DAG through the Kubernetes API's service proxy
  px.airflow.dag_run:
    dag_id: portworx-demo
    service: {namespace: airflow, name: af-api-server, port: "8080"}
    airflow_username: admin
    airflow_password: "{{ admin_password }}"
    unpause: true
    wait_timeout: 600
  register: __demo
"""

RETURN = r"""
run_id:
  description: The run's id.
  returned: always
  type: str
state:
  description: The run's state (success, failed, running, queued; would-trigger in check mode).
  returned: always
  type: str
tasks:
  description: Each task instance with its state, duration in seconds and try number.
  returned: when the run was looked at
  type: list
  elements: dict
  sample: [{task_id: write, state: success, duration: 4.2, try_number: 1}]
failed_tasks:
  description: The failed tasks with the tail of their logs.
  returned: when tasks failed
  type: list
  elements: dict
duration:
  description: Seconds the run took, where Airflow reports start and end.
  returned: when the run finished
  type: float
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.px.airflow.plugins.module_utils.args import auth_argument_spec
from ansible_collections.px.airflow.plugins.module_utils.module import run_module
from ansible_collections.px.airflow.plugins.module_utils.module_backends.dag_run import run

ARGUMENT_SPEC = {
    "dag_id": {"type": "str", "required": True},
    "conf": {"type": "dict", "default": {}},
    "run_id": {"type": "str"},
    "unpause": {"type": "bool", "default": False},
    "wait": {"type": "bool", "default": True},
    "wait_timeout": {"type": "int", "default": 900, "aliases": ["timeout"]},
    "dag_wait_timeout": {"type": "int", "default": 180},
    "wait_sleep": {"type": "int", "default": 3, "aliases": ["poll_interval"]},
    "log_tail_lines": {"type": "int", "default": 40},
    "api_url": {"type": "str"},
    "service": {
        "type": "dict",
        "options": {
            "namespace": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "port": {"type": "str", "default": "8080"},
        },
    },
    "airflow_username": {"type": "str", "default": "admin"},
    "airflow_password": {"type": "str", "required": True, "no_log": True},
    "api_validate_certs": {"type": "bool", "default": True},
}


def module_kwargs():
    """AnsibleModule's arguments; the action plugin validates with the same when it runs the code in-process."""
    return dict(
        argument_spec=auth_argument_spec(ARGUMENT_SPEC),
        mutually_exclusive=[("api_url", "service")],
        required_one_of=[("api_url", "service")],
        supports_check_mode=True,
    )


def execute(module):
    run_module(module, run, needs_kubernetes=False)


def main():
    execute(AnsibleModule(**module_kwargs()))


if __name__ == "__main__":
    main()
