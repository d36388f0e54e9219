"""px.airflow.dag_run against a real local Airflow 3 api-server (LocalExecutor, real PostgreSQL)."""

from __future__ import annotations

import json
import secrets
import sys

import pytest
from helpers import ROOT, run_playbook

sys.path.insert(0, str(ROOT / "tools"))
from local_airflow import LocalAirflow, Postgres

FIXTURE_DAGS = ROOT / "tests" / "fixture_dags"


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    base = tmp_path_factory.mktemp("local-airflow")
    postgres = Postgres.start()  # under /tmp: the postgres user must reach it
    password = secrets.token_urlsafe(16)
    conn = postgres.create_database("airflow", "airflow", secrets.token_hex(12))
    stack = LocalAirflow(home=base / "home", dags_folder=FIXTURE_DAGS, sql_alchemy_conn=conn, admin_password=password)
    try:
        stack.prepare()
        stack.start()
        yield stack
    finally:
        stack.stop()
        postgres.stop()


def dag_run_play(playbook, **options):
    task = {"px.airflow.dag_run": options, "name": "run", "register": "__run", "ignore_errors": True}
    return playbook(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [task]}]))


def run(playbook, *args, **options):
    result = run_playbook(dag_run_play(playbook, **options), *args, timeout=900)
    return result, result.result("run")


def test_a_successful_run_reports_each_task(airflow, playbook):
    result, outcome = run(
        playbook,
        dag_id="px-test-ok",
        api_url=airflow.url,
        airflow_password=airflow.admin_password,
        unpause=True,
        timeout=300,
    )
    assert not outcome.get("failed"), outcome.get("msg")
    assert outcome["changed"] and outcome["state"] == "success"
    assert [t["task_id"] for t in outcome["tasks"]] == ["hello"]
    assert outcome["tasks"][0]["state"] == "success" and outcome["tasks"][0]["duration"] >= 0
    assert airflow.admin_password not in result.stdout + result.stderr


def test_a_given_run_id_that_succeeded_is_not_run_again(airflow, playbook):
    options = dict(dag_id="px-test-ok", api_url=airflow.url, airflow_password=airflow.admin_password, unpause=True)
    _result, first = run(playbook, run_id="px-fixed-run-1", **options)
    assert first["state"] == "success" and first["changed"]
    _result, second = run(playbook, run_id="px-fixed-run-1", **options)
    assert second["state"] == "success" and second["changed"] is False and second["run_id"] == "px-fixed-run-1"


def test_check_mode_triggers_nothing(airflow, playbook):
    _result, outcome = run(
        playbook,
        "--check",
        dag_id="px-test-ok",
        api_url=airflow.url,
        airflow_password=airflow.admin_password,
        run_id="px-check-only",
        unpause=True,
    )
    assert outcome["changed"] and outcome["state"] == "would-trigger"
    _result, again = run(
        playbook,
        "--check",
        dag_id="px-test-ok",
        api_url=airflow.url,
        airflow_password=airflow.admin_password,
        run_id="px-check-only",
        unpause=True,
    )
    assert again["state"] == "would-trigger"  # still never triggered


def test_a_failing_dag_fails_with_the_task_log_tail(airflow, playbook):
    _result, outcome = run(
        playbook,
        dag_id="px-test-fail",
        api_url=airflow.url,
        airflow_password=airflow.admin_password,
        unpause=True,
        timeout=300,
    )
    assert outcome["failed"]
    assert "DAG run px-test-fail/" in outcome["msg"] and "failed: boom=failed" in outcome["msg"]
    assert "px-marker-7d1f" in outcome["msg"] or "failed on purpose" in outcome["msg"]
    assert outcome["failed_tasks"][0]["task_id"] == "boom"


def test_a_run_that_does_not_finish_in_time_says_so(airflow, playbook):
    _result, outcome = run(
        playbook,
        dag_id="px-test-slow",
        api_url=airflow.url,
        airflow_password=airflow.admin_password,
        unpause=True,
        timeout=5,
        poll_interval=1,
    )
    assert outcome["failed"] and "did not finish within 5 s" in outcome["msg"]


def test_bad_credentials_are_reported_clearly(airflow, playbook):
    result, outcome = run(playbook, dag_id="px-test-ok", api_url=airflow.url, airflow_password="wrong-password-123")
    assert outcome["failed"] and "rejected the username 'admin' and password (401)" in outcome["msg"]
    assert "wrong-password-123" not in result.stdout


def test_a_paused_dag_without_unpause_is_refused(airflow, playbook):
    _result, outcome = run(
        playbook, dag_id="px-test-paused", api_url=airflow.url, airflow_password=airflow.admin_password
    )
    assert outcome["failed"] and "DAG px-test-paused is paused" in outcome["msg"] and "unpause=true" in outcome["msg"]


def test_an_unknown_dag_names_itself(airflow, playbook):
    _result, outcome = run(
        playbook, dag_id="no-such-dag", api_url=airflow.url, airflow_password=airflow.admin_password, dag_wait_timeout=2
    )
    assert outcome["failed"] and "DAG no-such-dag is not known to Airflow after 2 s" in outcome["msg"]


def test_unreachable_api_names_the_url(playbook):
    _result, outcome = run(playbook, dag_id="x", api_url="http://127.0.0.1:9", airflow_password="not-the-password")
    assert outcome["failed"] and "Cannot reach Airflow's API at http://127.0.0.1:9" in outcome["msg"]
