"""Faults through kubesim --faults: retried with backoff, or reported with what a person needs.

Each case writes the faults file (kubesim re-reads it when it changes) and heals it afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
import yaml
from helpers import ROOT, VENV_BIN, ansible_env, run_playbook
from kubernetes import client
from kubesim_harness import start_kubesim

K8S = {"kubeconfig": "{{ lookup('env', 'SIM_KUBECONFIG') }}", "context": "kubesim"}


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    directory = tmp_path_factory.mktemp("faults-sim")
    faults = directory / "faults.yml"
    faults.write_text("requests: []\n")
    instance = start_kubesim(directory, "--portworx", "healthy", "--run-pods", "--faults", str(faults))
    instance.faults = faults
    instance.client = instance.api_client()
    client.CoreV1Api(instance.client).create_namespace({"metadata": {"name": "rel"}})
    yield instance
    instance.stop()


def set_faults(sim, rules: dict) -> None:
    temp = sim.faults.with_suffix(".tmp")
    temp.write_text(yaml.safe_dump(rules))
    os.replace(temp, sim.faults)
    time.sleep(0.6)  # kubesim polls the file's mtime every 0.2 s


def play(sim, playbook, tasks, *args):
    text = json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}])
    before = sim.mark()
    result = run_playbook(playbook(text), *args, env=ansible_env(SIM_KUBECONFIG=str(sim.kubeconfig)), timeout=600)
    return result, sim.requests(before)


def test_bursts_of_429_and_500_are_retried_then_succeed(sim, playbook):
    set_faults(
        sim,
        {
            "requests": [
                {
                    "id": "throttle",
                    "method": "GET",
                    "path": "/apis/storage.k8s.io/v1/storageclasses/*",
                    "count": 2,
                    "error": 429,
                    "retryAfter": 1,
                },
                {
                    "id": "boom",
                    "method": "POST",
                    "path": "/apis/storage.k8s.io/v1/storageclasses",
                    "count": 2,
                    "error": 500,
                },
            ]
        },
    )
    try:
        result, entries = play(
            sim, playbook, [{"name": "class", "px.airflow.storage_class": {**K8S, "name": "rel-class", "repl": 1}}]
        )
    finally:
        set_faults(sim, {"requests": []})
    assert result.rc == 0 and result.result("class")["changed"], result.stdout[-3000:]
    statuses = [e["status"] for e in entries if "storageclasses" in e["path"]]
    assert statuses.count(429) == 2 and statuses.count(500) == 2 and statuses[-1] == 201
    assert client.StorageV1Api(sim.client).read_storage_class("rel-class").parameters == {"repl": "1"}


def test_a_conflict_is_read_again_and_retried(sim, playbook):
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "rel-cm", "namespace": "rel"},
        "data": {"a": "1"},
    }
    play(sim, playbook, [{"name": "cm", "px.airflow.apply": {**K8S, "definitions": [cm]}}])
    set_faults(
        sim,
        {
            "requests": [
                {
                    "id": "conflict",
                    "method": "PATCH",
                    "path": "/api/v1/namespaces/rel/configmaps/rel-cm",
                    "count": 1,
                    "error": 409,
                }
            ]
        },
    )
    try:
        changed = {**cm, "data": {"a": "2"}}
        result, entries = play(sim, playbook, [{"name": "cm", "px.airflow.apply": {**K8S, "definitions": [changed]}}])
    finally:
        set_faults(sim, {"requests": []})
    assert result.rc == 0, result.stdout[-3000:]
    assert [e["status"] for e in entries if e["method"] == "PATCH"] == [409, 200]
    assert client.CoreV1Api(sim.client).read_namespaced_config_map("rel-cm", "rel").data == {"a": "2"}


def test_a_claim_that_never_binds_times_out_with_its_events(sim, playbook):
    set_faults(sim, {"claimsNeverBind": [{"namespace": "rel", "name": "stuck-*"}]})
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "stuck-1", "namespace": "rel"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "rel-class",
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    try:
        result, _ = play(
            sim,
            playbook,
            [
                {
                    "name": "claim",
                    "px.airflow.apply": {**K8S, "definitions": [claim], "wait": True, "wait_timeout": 3},
                    "ignore_errors": True,
                }
            ],
        )
    finally:
        set_faults(sim, {"requests": []})
    message = result.result("claim")["msg"]
    assert "Timed out after 3 s waiting for PersistentVolumeClaim rel/stuck-1" in message
    assert "phase Pending" in message and "event" in message


def test_an_image_that_cannot_be_pulled_is_named(sim, playbook):
    set_faults(sim, {"imagePullErrors": [{"namespace": "rel", "name": "*", "image": "registry.invalid/nope:*"}]})
    labels = {"app": "nope"}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "nope", "namespace": "rel"},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "registry.invalid/nope:1"}]},
            },
        },
    }
    try:
        result, _ = play(
            sim,
            playbook,
            [
                {
                    "name": "deploy",
                    "px.airflow.apply": {**K8S, "definitions": [deployment], "wait": True, "wait_timeout": 4},
                    "ignore_errors": True,
                }
            ],
        )
    finally:
        set_faults(sim, {"requests": []})
    message = result.result("deploy")["msg"]
    assert "Deployment rel/nope" in message and "registry.invalid/nope:1" in message
    assert "ErrImagePull" in message or "ImagePullBackOff" in message


def test_a_run_killed_half_way_then_rerun_converges_and_keeps_the_secrets(sim, tmp_path):
    site = ROOT / "playbooks" / "site.yml"
    env = ansible_env(
        K8S_AUTH_KUBECONFIG=str(sim.kubeconfig), K8S_AUTH_CONTEXT="kubesim", ANSIBLE_STDOUT_CALLBACK="default"
    )
    args = [str(VENV_BIN / "ansible-playbook"), str(site), "--skip-tags", "dags,demo"]
    process = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    secrets_seen = False
    deadline = time.monotonic() + 120
    core = client.CoreV1Api(sim.client)
    while time.monotonic() < deadline and not secrets_seen:
        secrets_seen = (
            any(s.metadata.name == "af-airflow-secrets" for s in core.list_namespaced_secret("airflow").items)
            if any(n.metadata.name == "airflow" for n in core.list_namespace().items)
            else False
        )
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # half-way: the secrets exist, the rollout has not finished
    process.wait(timeout=30)
    assert secrets_seen
    before = core.read_namespaced_secret("af-airflow-secrets", "airflow").data
    rerun = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert rerun.returncode == 0, rerun.stdout[-4000:]
    assert core.read_namespaced_secret("af-airflow-secrets", "airflow").data == before
    ready = (
        client.AppsV1Api(sim.client).read_namespaced_deployment("af-api-server", "airflow").status.available_replicas
    )
    assert ready == 1


def _job(name, script):
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "rel"},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox:1.36", "command": ["sh", "-c", script]}],
                }
            },
        },
    }


def test_a_failing_job_is_reported_with_its_pod_state_and_last_log_lines(sim, playbook):
    job = _job("boom", "echo boom-marker-42; exit 3")
    result, _ = play(
        sim,
        playbook,
        [
            {
                "name": "job",
                "px.airflow.apply": {**K8S, "definitions": [job], "wait": True, "wait_timeout": 60},
                "ignore_errors": True,
            }
        ],
    )
    message = result.result("job")["msg"]
    assert "Job rel/boom failed: BackoffLimitExceeded" in message
    assert "terminated" in message and "log: boom-marker-42" in message


def test_sequential_jobs_run_one_after_another_and_a_failure_stops_the_rest(sim, playbook):
    batch = client.BatchV1Api(sim.client)
    options = {**K8S, "wait": True, "sequential": True, "wait_timeout": 60}
    ordered = [_job("seq-first", "sleep 1"), _job("seq-second", "true")]
    result, _ = play(sim, playbook, [{"name": "jobs", "px.airflow.apply": {**options, "definitions": ordered}}])
    assert result.result("jobs")["changed"] is True
    first, second = batch.read_namespaced_job("seq-first", "rel"), batch.read_namespaced_job("seq-second", "rel")
    assert first.status.succeeded == 1 and second.status.succeeded == 1
    # The second Job was created only once the first had completed.
    assert second.metadata.creation_timestamp >= first.status.completion_time

    failing = [_job("seq-fails", "exit 4"), _job("seq-never", "true")]
    definitions = {**options, "definitions": failing}
    result, _ = play(sim, playbook, [{"name": "jobs", "px.airflow.apply": definitions, "ignore_errors": True}])
    assert "Job rel/seq-fails failed: BackoffLimitExceeded" in result.result("jobs")["msg"]
    names = [job.metadata.name for job in batch.list_namespaced_job("rel").items]
    assert "seq-never" not in names and "seq-fails" in names
