"""site.yml and teardown.yml on kubesim, with the demo run by a real Airflow (the main job's wiring).

One stack for the module: kubesim (healthy Portworx, pods that really run), site.yml, then a real
local Airflow behind the api-server Service whose DAGs folder is the synced DAGs volume.
"""

from __future__ import annotations

import json
import sys
import time
import xml.etree.ElementTree as ET
from datetime import datetime

import pytest
from helpers import ROOT, run_playbook
from kubernetes import client, config

sys.path.insert(0, str(ROOT / "tools"))
from main_job import KubesimStack, playbook

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
NS = "airflow"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = KubesimStack(tmp_path_factory.mktemp("site") / "stack")
    stack.start_cluster()
    try:
        assert stack.deploy() == 0
        stack.start_airflow()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def api(stack):
    return config.new_client_from_config(str(stack.kubeconfig))


def requests(stack, since=0):
    lines = (stack.workdir / "requests.jsonl").read_text().splitlines()[since:]
    return [json.loads(line) for line in lines if line.strip()]


def mark(stack):
    return len((stack.workdir / "requests.jsonl").read_text().splitlines())


def when(entry):
    return datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp()


def test_the_demo_passes_and_its_token_really_crosses_the_volume(stack, tmp_path):
    report = tmp_path / "junit.xml"
    before = mark(stack)
    assert stack.demo("-e", f"demo_junit_path={report}") == 0
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite.get("failures") == "0"
    assert [case.get("name") for case in suite.iter("testcase")] == [
        "create_claim",
        "write",
        "read",
        "cleanup",
        "no claims left behind",
    ]
    entries = requests(stack, before)
    claims = [e for e in entries if "/persistentvolumeclaims" in e["path"] and e["method"] in ("POST", "DELETE")]
    assert [e["method"] for e in claims][:1] == ["POST"] and "DELETE" in [e["method"] for e in claims]
    ran = (stack.workdir / "kubesim.log").read_text()
    assert "px-demo-write" in ran and "px-demo-read" in ran and "runs for real" in ran
    logs = stack.workdir / "airflow" / "logs"
    written = next(iter(logs.rglob("task_id=write/*.log"))).read_text()
    token = written.split("wrote token ")[1][:32]
    assert f"read token {token}" in next(iter(logs.rglob("task_id=read/*.log"))).read_text()
    assert (
        client.CoreV1Api(api_client(stack))
        .list_namespaced_persistent_volume_claim(NS, label_selector="px.airflow/demo=true")
        .items
        == []
    )


def api_client(stack):
    return config.new_client_from_config(str(stack.kubeconfig))


def test_the_sync_job_wrote_the_volume_before_airflow_parsed_it(stack):
    entries = requests(stack)
    # The sync Job is read while it runs and deleted once it succeeded; the version is recorded after.
    sync_job = [e for e in entries if "/jobs/af-dags-sync-" in e["path"]]
    recorded = [
        e for e in entries if e["method"] in ("POST", "PUT") and "configmaps" in e["path"] and e["status"] in (200, 201)
    ]
    assert sync_job and any(e["method"] == "DELETE" for e in sync_job)
    airflow_started = float((stack.workdir / "airflow-started").read_text())
    assert max(when(e) for e in sync_job if e["method"] == "DELETE") < airflow_started
    assert recorded and min(when(e) for e in recorded) < airflow_started
    # Airflow reads the version the Job wrote: current -> versions/<version> on the DAGs volume.
    assert stack.airflow.dags_folder.resolve().parent.name == "versions"
    assert (stack.airflow.dags_folder / "portworx_demo.py").exists()


def dag_run(stack, tmp_path, **options):
    params = {
        "dag_id": "portworx-demo",
        "service": {"namespace": NS, "name": "af-api-server", "port": "8080"},
        "kubeconfig": str(stack.kubeconfig),
        "context": "kubesim",
        "airflow_password": stack.airflow.admin_password,
        "unpause": True,
        "timeout": 300,
        **options,
    }
    task = {"name": "run", "px.airflow.dag_run": params, "register": "__r", "ignore_errors": True}
    path = tmp_path / "run.yml"
    path.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [task]}]))
    result = run_playbook(path, timeout=900)
    return result, result.result("run")


def test_dag_run_through_the_service_proxy_succeeds(stack, tmp_path):
    _result, outcome = dag_run(stack, tmp_path)
    assert not outcome.get("failed"), outcome.get("msg")
    assert outcome["state"] == "success"
    assert {t["task_id"]: t["state"] for t in outcome["tasks"]} == {
        "create_claim": "success",
        "write": "success",
        "read": "success",
        "cleanup": "success",
    }


def test_a_reader_that_finds_the_wrong_token_fails_the_run_and_leaks_nothing(stack, tmp_path):
    _result, outcome = dag_run(stack, tmp_path, conf={"expect_token": "not-the-token"})
    assert outcome["failed"] and outcome["state"] == "failed"
    assert "read=failed" in outcome["msg"] and "token mismatch" in outcome["msg"]
    claims = client.CoreV1Api(api_client(stack)).list_namespaced_persistent_volume_claim(
        NS, label_selector="px.airflow/demo=true"
    )
    assert claims.items == []


def test_dag_run_through_the_proxy_reports_bad_credentials_and_timeouts(stack, tmp_path):
    _result, outcome = dag_run(stack, tmp_path, airflow_password="definitely-wrong-pw")
    assert outcome["failed"] and "rejected the username 'admin' and password (401)" in outcome["msg"]
    assert "through the Kubernetes API" in outcome["msg"]
    _result, outcome = dag_run(stack, tmp_path, timeout=1, poll_interval=1)
    assert outcome["failed"] and "did not finish within 1 s" in outcome["msg"]
    wait_until_no_run_is_active(stack)


def wait_until_no_run_is_active(stack, timeout=180):
    """The run dag_run stopped waiting for goes on; later tests must not see its pods."""
    import urllib.request

    def call(path, body=None, token=None):
        request = urllib.request.Request(
            stack.airflow.url + path,
            data=json.dumps(body).encode() if body else None,
            headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    token = call("/auth/token", {"username": "admin", "password": stack.airflow.admin_password})["access_token"]
    deadline = time.monotonic() + timeout
    while call("/api/v2/dags/portworx-demo/dagRuns?state=running&state=queued", token=token)["total_entries"]:
        assert time.monotonic() < deadline, "a demo run is still active"
        time.sleep(1)


def test_site_twice_changes_nothing_outside_the_demo(stack):
    before = mark(stack)
    assert stack.deploy() == 0
    writes = [e for e in requests(stack, before) if e["method"] in WRITES]
    assert writes == [], [(w["method"], w["path"]) for w in writes]


def test_check_mode_writes_nothing(stack):
    before = mark(stack)
    assert playbook(stack.kubeconfig, "--check", "--skip-tags", "demo") == 0
    assert [e for e in requests(stack, before) if e["method"] in WRITES and not e.get("dryRun")] == []


def test_teardown_keeps_the_database_volume_and_secrets_then_site_finds_them(stack):
    core = client.CoreV1Api(api_client(stack))
    volume = core.read_namespaced_persistent_volume_claim("data-af-postgresql-0", NS).spec.volume_name
    secrets = {s.metadata.name: s.data for s in core.list_namespaced_secret(NS).items}
    assert playbook(stack.kubeconfig, name="teardown.yml") == 0
    apps = client.AppsV1Api(api_client(stack))
    assert apps.list_namespaced_deployment(NS).items == [] and apps.list_namespaced_stateful_set(NS).items == []
    assert core.read_namespaced_persistent_volume_claim("data-af-postgresql-0", NS).spec.volume_name == volume
    assert stack.deploy() == 0
    assert core.read_namespaced_persistent_volume_claim("data-af-postgresql-0", NS).spec.volume_name == volume
    assert {s.metadata.name: s.data for s in core.list_namespaced_secret(NS).items} == secrets
    deadline = time.monotonic() + 30
    while apps.read_namespaced_stateful_set("af-postgresql", NS).status.ready_replicas != 1:
        assert time.monotonic() < deadline
        time.sleep(0.5)
