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
    within O(timeout), and returns the run's state and each task's state and duration. A failed
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
  timeout:
    description: Seconds to wait for the run to finish.
    type: int
    default: 900
  dag_wait_timeout:
    description: Seconds to wait for the DAG to appear (the dag-processor parses new files periodically).
    type: int
    default: 180
  poll_interval:
    description: Seconds between polls of the run's state.
    type: int
    default: 3
  log_tail_lines:
    description: Lines of each failed task's log to include on failure.
    type: int
    default: 40
  api_url:
    description:
      - Base URL of Airflow's api-server, for example C(http://localhost:8080).
      - Mutually exclusive with O(service).
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
    timeout: 600
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

import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.six.moves.urllib.parse import quote
from ansible_collections.px.airflow.plugins.module_utils.airflow_api import (
    AirflowApiError,
    AirflowClient,
    DirectTransport,
    ProxyTransport,
)
from ansible_collections.px.airflow.plugins.module_utils.args import auth_argument_spec
from ansible_collections.px.airflow.plugins.module_utils.client import build_api_client, require_kubernetes
from ansible_collections.px.airflow.plugins.module_utils.errors import InvalidInput, PxAirflowError
from ansible_collections.px.airflow.plugins.module_utils.module import run_module

ARGUMENT_SPEC = {
    "dag_id": {"type": "str", "required": True},
    "conf": {"type": "dict", "default": {}},
    "run_id": {"type": "str"},
    "unpause": {"type": "bool", "default": False},
    "wait": {"type": "bool", "default": True},
    "timeout": {"type": "int", "default": 900},
    "dag_wait_timeout": {"type": "int", "default": 180},
    "poll_interval": {"type": "int", "default": 3},
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
FINISHED = ("success", "failed")


def _transport(module):
    params = module.params
    if params["service"]:
        require_kubernetes(module)
        service = params["service"]
        return ProxyTransport(build_api_client(params), service["namespace"], service["name"], service["port"])
    return DirectTransport(params["api_url"], params["api_validate_certs"])


def _validate(params):
    if bool(params["api_url"]) == bool(params["service"]):
        raise InvalidInput(
            "give exactly one of api_url (a URL of Airflow's api-server) or service (its Kubernetes Service)"
        )
    for option in ("timeout", "poll_interval", "dag_wait_timeout"):
        if params[option] < 1:
            raise InvalidInput("%s must be at least 1 second (got %d)" % (option, params[option]))
    if params["api_url"] and not params["api_url"].startswith(("http://", "https://")):
        raise InvalidInput("api_url must start with http:// or https:// (got %s)" % params["api_url"])


class DagRunner:
    def __init__(self, module, airflow):
        self.module = module
        self.params = module.params
        self.api = airflow
        self.dag_path = "/api/v2/dags/%s" % quote(self.params["dag_id"], safe="")

    def _dag(self):
        deadline = time.time() + self.params["dag_wait_timeout"]
        while True:
            try:
                return self.api.call("GET", self.dag_path)[1]
            except AirflowApiError as exc:
                if exc.status != 404:
                    raise
            if time.time() > deadline:
                raise PxAirflowError(
                    "DAG %s is not known to Airflow after %d s%s. Is the file synced to the DAGs volume, and does it "
                    "parse?" % (self.params["dag_id"], self.params["dag_wait_timeout"], self._import_errors())
                )
            time.sleep(min(self.params["poll_interval"], 5))

    def _import_errors(self):
        try:
            errors = self.api.call("GET", "/api/v2/importErrors?limit=20")[1].get("import_errors") or []
        except (AirflowApiError, AttributeError):
            return ""
        if not errors:
            return ""
        return "; import errors: " + "; ".join(
            "%s: %s" % (e.get("filename"), (e.get("stack_trace") or "").strip().splitlines()[-1:]) for e in errors
        )

    def _run_path(self, run_id):
        return "%s/dagRuns/%s" % (self.dag_path, quote(run_id, safe=""))

    def _existing(self, run_id):
        try:
            return self.api.call("GET", self._run_path(run_id))[1]
        except AirflowApiError as exc:
            if exc.status == 404:
                return None
            raise

    def run(self):
        params = self.params
        dag = self._dag()
        run = self._existing(params["run_id"]) if params["run_id"] else None
        if run is not None and run.get("state") == "success":
            return self._finish(run, changed=False)
        if run is None and self.module.check_mode:
            return {"changed": True, "state": "would-trigger", "run_id": params["run_id"]}
        changed = False
        if dag.get("is_paused"):
            if not params["unpause"]:
                raise PxAirflowError(
                    "DAG %s is paused, so a run would never start; set unpause=true or unpause it in the UI"
                    % params["dag_id"]
                )
            if not self.module.check_mode:
                self.api.call("PATCH", self.dag_path, {"is_paused": False})
            changed = True
        if run is None:
            body = {"logical_date": None, "conf": params["conf"]}
            if params["run_id"]:
                body["dag_run_id"] = params["run_id"]
            run = self.api.call("POST", self.dag_path + "/dagRuns", body, ok=(200, 201))[1]
            changed = True
        if params["wait"] and run.get("state") not in FINISHED:
            run = self._wait(run["dag_run_id"])
        return self._finish(run, changed)

    def _wait(self, run_id):
        deadline = time.time() + self.params["timeout"]
        while True:
            run = self.api.call("GET", self._run_path(run_id))[1]
            if run.get("state") in FINISHED:
                return run
            if time.time() > deadline:
                tasks = self._tasks(run_id)
                raise PxAirflowError(
                    "DAG run %s/%s did not finish within %d s (state %s; tasks: %s)"
                    % (
                        self.params["dag_id"],
                        run_id,
                        self.params["timeout"],
                        run.get("state"),
                        ", ".join("%s=%s" % (t["task_id"], t["state"]) for t in tasks) or "none started",
                    ),
                    run_id=run_id,
                    state=run.get("state"),
                    tasks=tasks,
                )
            time.sleep(self.params["poll_interval"])

    def _tasks(self, run_id):
        body = self.api.call("GET", self._run_path(run_id) + "/taskInstances?limit=1000")[1] or {}
        return [
            {
                "task_id": ti.get("task_id"),
                "map_index": ti.get("map_index", -1),
                "state": ti.get("state"),
                "duration": ti.get("duration"),
                "try_number": ti.get("try_number"),
            }
            for ti in body.get("task_instances", [])
        ]

    def _log_tail(self, run_id, task):
        path = "%s/taskInstances/%s/logs/%s?full_content=true" % (
            self._run_path(run_id),
            quote(task["task_id"], safe=""),
            max(task.get("try_number") or 1, 1),
        )
        if task.get("map_index", -1) not in (-1, None):
            path += "&map_index=%d" % task["map_index"]
        try:
            body = self.api.call("GET", path)[1] or {}
        except AirflowApiError as exc:
            return ["(log unavailable: %s)" % exc.msg]
        content = body.get("content")
        lines = []
        if isinstance(content, list):
            for entry in content:
                if isinstance(entry, dict):
                    text = entry.get("event") or entry.get("message") or ""
                    if entry.get("timestamp") and text:
                        text = "%s %s" % (entry["timestamp"], text)
                    lines.extend(str(text).splitlines())
                else:
                    lines.extend(str(entry).splitlines())
        elif content:
            lines = str(content).splitlines()
        return lines[-self.params["log_tail_lines"] :]

    def _finish(self, run, changed):
        run_id = run["dag_run_id"]
        tasks = self._tasks(run_id)
        result = {"changed": changed, "run_id": run_id, "state": run.get("state"), "tasks": tasks}
        start, end = run.get("start_date"), run.get("end_date")
        if start and end:
            result["duration"] = _seconds_between(start, end)
        if run.get("state") == "failed":
            failed = [
                dict(task, log=self._log_tail(run_id, task))
                for task in tasks
                if task["state"] in ("failed", "upstream_failed")
            ]
            result["failed_tasks"] = failed
            details = "\n".join(
                "--- task %s (%s), last log lines:\n%s" % (t["task_id"], t["state"], "\n".join(t["log"]))
                for t in failed
            )
            raise PxAirflowError(
                "DAG run %s/%s failed: %s\n%s"
                % (
                    self.params["dag_id"],
                    run_id,
                    ", ".join("%s=%s" % (t["task_id"], t["state"]) for t in tasks),
                    details,
                ),
                **{k: v for k, v in result.items() if k != "changed"},
            )
        return result


def _seconds_between(start, end):
    from datetime import datetime

    def parse(value):
        value = value.replace("Z", "+00:00")
        if "." in value:
            head, tail = value.split(".", 1)
            digits = "".join(ch for ch in tail if ch.isdigit())
            zone = tail[len(digits) :]
            value = "%s.%s%s" % (head, digits[:6].ljust(6, "0"), zone)
        return datetime.fromisoformat(value)

    try:
        return round((parse(end) - parse(start)).total_seconds(), 3)
    except ValueError:
        return None


def _body(module):
    _validate(module.params)
    airflow = AirflowClient(_transport(module))
    token = airflow.login(module.params["airflow_username"], module.params["airflow_password"])
    module.no_log_values.add(token)
    return DagRunner(module, airflow).run()


def main():
    module = AnsibleModule(
        argument_spec=auth_argument_spec(ARGUMENT_SPEC),
        mutually_exclusive=[("api_url", "service")],
        supports_check_mode=True,
    )
    run_module(module, _body, needs_kubernetes=False)


if __name__ == "__main__":
    main()
