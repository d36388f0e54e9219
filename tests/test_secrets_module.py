"""px.airflow.secrets against kubesim: generate once, never overwrite, rotate only where safe."""

from __future__ import annotations

import base64
import json

import pytest
from helpers import ansible_env, run_playbook
from kubernetes import client
from kubesim_harness import start_kubesim

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    instance = start_kubesim(tmp_path_factory.mktemp("secrets-sim"))
    instance.client = instance.api_client()
    client.CoreV1Api(instance.client).create_namespace({"metadata": {"name": "airflow"}})
    yield instance
    instance.stop()


def secrets_play(**options):
    base = {"name": "af-airflow-secrets", "namespace": "airflow", "kubeconfig": "{{ lookup('env', 'SIM_KUBECONFIG') }}"}
    base.update(options)
    task = {"name": "secret", "px.airflow.secrets": base, "register": "__s", "ignore_errors": True}
    return json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [task]}])


KEYS = [
    {"name": "fernet-key", "kind": "fernet"},
    {"name": "jwt-secret", "kind": "token", "length": 64},
    {"name": "admin-password", "kind": "password", "length": 20},
    {"name": "db-password", "kind": "db_password"},
]


def run(sim, playbook, *args, **options):
    before = sim.mark()
    result = run_playbook(playbook(secrets_play(**options)), *args, env=ansible_env(SIM_KUBECONFIG=str(sim.kubeconfig)))
    writes = [r for r in sim.requests(before) if r["method"] in WRITE_METHODS and not r.get("dryRun")]
    return result, result.result("secret"), writes


def read(sim, name="af-airflow-secrets"):
    secret = client.CoreV1Api(sim.client).read_namespaced_secret(name, "airflow")
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


def test_four_steps_generate_once_and_never_change_again(sim, playbook):
    outcomes = []
    for args in (("--check", "--diff"), (), ("--check",), ()):
        result, outcome, writes = run(sim, playbook, *args, keys=KEYS)
        assert not outcome.get("failed"), outcome.get("msg")
        outcomes.append((outcome["changed"], len(writes)))
        if args == ("--check", "--diff"):
            assert outcome["diff"]["after"]["keys"] == sorted(k["name"] for k in KEYS)
    assert outcomes == [(True, 0), (True, 1), (False, 0), (False, 0)]
    values = read(sim)
    assert sorted(values) == sorted(k["name"] for k in KEYS)
    assert len(base64.urlsafe_b64decode(values["fernet-key"])) == 32
    assert len(values["admin-password"]) == 20 and values["admin-password"].isalnum()
    # No value ever appears in the output, not even in diff mode.
    result, _outcome, _ = run(sim, playbook, "--diff", "-vvv", keys=KEYS)
    for value in values.values():
        assert value not in result.stdout and value not in result.stderr


def test_a_missing_key_is_added_and_existing_values_stay(sim, playbook):
    before = read(sim)
    _result, outcome, writes = run(sim, playbook, keys=[*KEYS, {"name": "api-secret-key", "kind": "token"}])
    assert outcome["changed"] and outcome["added"] == ["api-secret-key"] and len(writes) == 1
    after = read(sim)
    assert {k: after[k] for k in before} == before and "api-secret-key" in after


def test_fernet_rotation_prepends_and_keeps_the_old_key(sim, playbook):
    old = read(sim)["fernet-key"]
    _result, outcome, _ = run(sim, playbook, keys=KEYS, rotate=["fernet-key"])
    assert outcome["rotated"] == ["fernet-key"]
    new, kept = read(sim)["fernet-key"].split(",", 1)
    assert kept == old and new != old


def test_database_password_rotation_is_refused_without_any_request(sim, playbook):
    before = read(sim)
    _result, outcome, writes = run(sim, playbook, keys=KEYS, rotate=["db-password"])
    assert outcome["failed"] and "ALTER ROLE" in outcome["msg"] and writes == []
    assert read(sim) == before


def test_a_given_value_replaces_the_stored_one(sim, playbook):
    keys = [{"name": "connection", "kind": "value", "value": "postgresql://a"}]
    run(sim, playbook, name="af-airflow-metadata", keys=keys)
    _result, outcome, _ = run(sim, playbook, name="af-airflow-metadata", keys=[{**keys[0], "value": "postgresql://b"}])
    assert outcome["updated"] == ["connection"] and read(sim, "af-airflow-metadata") == {"connection": "postgresql://b"}
