# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dag_run module's backend: trigger a DAG run through Airflow's REST API and follow it."""

from __future__ import annotations

import re
from urllib.parse import quote

from ansible_collections.px.airflow.plugins.module_utils.airflow_api import (
    AirflowApiError,
    AirflowClient,
    DirectTransport,
    ProxyTransport,
)
from ansible_collections.px.airflow.plugins.module_utils.connection import build_api_client, require_kubernetes
from ansible_collections.px.airflow.plugins.module_utils.errors import InvalidInput, PxAirflowError
from ansible_collections.px.airflow.plugins.module_utils.waiter import TimedOut, check_wait_options, poll

FINISHED = ("success", "failed")


def transport(module):
    """Airflow's API directly (api_url), or through the Kubernetes API's service proxy (service)."""
    params = module.params
    if params["service"]:
        require_kubernetes(module)
        service = params["service"]
        return ProxyTransport(build_api_client(params), service["namespace"], service["name"], service["port"])
    return DirectTransport(params["api_url"], params["api_validate_certs"])


def validate(params):
    """What the argument spec cannot say (it says that exactly one of api_url and service is given)."""
    check_wait_options(params, ("wait_timeout", "wait_sleep", "dag_wait_timeout"))
    if params["api_url"] and not params["api_url"].startswith(("http://", "https://")):
        raise InvalidInput("api_url must start with http:// or https:// (got %s)" % params["api_url"])


class DagRunBackend:
    def __init__(self, module, airflow):
        self.module = module
        self.params = module.params
        self.api = airflow
        self.dag_path = "/api/v2/dags/%s" % quote(self.params["dag_id"], safe="")

    def _dag(self):
        def known():
            try:
                return self.api.call("GET", self.dag_path)[1]
            except AirflowApiError as exc:
                if exc.status != 404:
                    raise
            return None

        try:
            return poll(known, self.params["dag_wait_timeout"], min(self.params["wait_sleep"], 5))
        except TimedOut:
            raise PxAirflowError(
                "DAG %s is not known to Airflow after %d s%s. Is the file synced to the DAGs volume, and does it "
                "parse?" % (self.params["dag_id"], self.params["dag_wait_timeout"], self._import_errors())
            ) from None

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
        last = {}

        def finished():
            last.update(self.api.call("GET", self._run_path(run_id))[1])
            return dict(last) if last.get("state") in FINISHED else None

        try:
            return poll(finished, self.params["wait_timeout"], self.params["wait_sleep"])
        except TimedOut:
            tasks = self._tasks(run_id)
            raise PxAirflowError(
                "DAG run %s/%s did not finish within %d s (state %s; tasks: %s)"
                % (
                    self.params["dag_id"],
                    run_id,
                    self.params["wait_timeout"],
                    last.get("state"),
                    ", ".join("%s=%s" % (t["task_id"], t["state"]) for t in tasks) or "none started",
                ),
                run_id=run_id,
                state=last.get("state"),
                tasks=tasks,
            ) from None

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
    """Seconds between two of Airflow's ISO 8601 times (any number of fractional digits, Z or an offset)."""
    from datetime import datetime

    def parse(value):
        match = re.match(r"^([^.+Z]+?)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$", value.strip())
        if not match:
            raise ValueError(value)
        head, fraction, zone = match.groups()
        zone = "+00:00" if zone in (None, "Z") else zone
        return datetime.fromisoformat("%s.%s%s" % (head, (fraction or "")[:6].ljust(6, "0"), zone))

    try:
        return round((parse(end) - parse(start)).total_seconds(), 3)
    except ValueError:
        return None


def run(module):
    """Log in to Airflow, then trigger (and wait for) the run; the module's result."""
    validate(module.params)
    airflow = AirflowClient(transport(module))
    token = airflow.login(module.params["airflow_username"], module.params["airflow_password"])
    module.no_log_values.add(token)
    return DagRunBackend(module, airflow).run()
