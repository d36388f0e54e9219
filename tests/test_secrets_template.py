"""px.airflow.secrets keys of kind=template against kubesim: a URI built from another Secret's password.

The rendered value is read back from the API; the password never passes through Ansible's output.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import unquote, urlsplit

import pytest
from helpers import ansible_env, run_playbook
from kubernetes import client
from kubernetes.client.rest import ApiException
from kubesim_harness import start_kubesim

NS = "airflow"
SOURCE = "af-postgresql"
TARGET = "af-airflow-metadata"

USER = "air+flow"  # inserted as it is (encode defaults to none)
PASSWORD = "Pg/7@h:q%41 z+Y?#&=k"
PASSWORD_ENCODED = "Pg%2F7%40h%3Aq%2541%20z%2BY%3F%23%26%3Dk"
NEW_PASSWORD = "N3w/p@ss:w%rd-2"
NEW_PASSWORD_ENCODED = "N3w%2Fp%40ss%3Aw%25rd-2"

TEMPLATE = "postgresql+psycopg2://${user}:${password}@af-postgresql:5432/airflow?cost=$$5"
KEY = {
    "name": "connection",
    "kind": "template",
    "value": TEMPLATE,
    "refs": {
        "user": {"secret": SOURCE, "key": "username"},
        "password": {"secret": SOURCE, "key": "password", "encode": "url"},
    },
}


def uri(encoded_password: str) -> str:
    return f"postgresql+psycopg2://air+flow:{encoded_password}@af-postgresql:5432/airflow?cost=$5"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def forms(value: str) -> list[str]:
    """How a value could show in the output: as it is, JSON-escaped, base64."""
    return [value, json.dumps(value)[1:-1], b64(value)]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    directory = tmp_path_factory.mktemp("secrets-template-sim")
    instance = start_kubesim(directory, "--no-controllers")
    instance.client = instance.api_client()
    instance.directory = directory
    core = client.CoreV1Api(instance.client)
    core.create_namespace({"metadata": {"name": NS}})
    core.create_namespaced_secret(
        NS, {"metadata": {"name": SOURCE}, "data": {"username": b64(USER), "password": b64(PASSWORD)}}
    )
    yield instance
    instance.stop()


def secret_task(task_name="secret", name=TARGET, keys=(KEY,), **extra):
    options = {"name": name, "namespace": NS, "keys": list(keys), "kubeconfig": "{{ lookup('env', 'SIM_KUBECONFIG') }}"}
    return {"name": task_name, "px.airflow.secrets": options, "ignore_errors": True, **extra}


def play(sim, path, tasks, *args):
    """Run the tasks; the result and every POST/PUT/PATCH/DELETE sent during the run."""
    path.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    before = sim.mark()
    result = run_playbook(path, *args, env=ansible_env(SIM_KUBECONFIG=str(sim.kubeconfig)), timeout=300)
    return result, sim.write_requests(before)


def read(sim, name=TARGET):
    """(decoded data, resourceVersion) of a Secret, or None when it does not exist."""
    try:
        secret = client.CoreV1Api(sim.client).read_namespaced_secret(name, NS)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    data = {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
    return data, secret.metadata.resource_version


def assert_not_shown(result, *values):
    assert result.data.get("plays"), result.stdout[-2000:]  # there is output to search
    for value in values:
        for shown in forms(value):
            assert shown not in result.stdout, f"{shown!r} is in the playbook's stdout"
            assert shown not in result.stderr, f"{shown!r} is in the playbook's stderr"


@pytest.fixture(scope="module")
def first(sim):
    """The first run (-vvv --diff): the target Secret does not exist yet."""
    assert read(sim) is None
    result, writes = play(sim, sim.directory / "first.json", [secret_task()], "-vvv", "--diff")
    return result, result.result("secret"), writes, read(sim)


def test_the_rendered_value_is_the_template_with_the_password_percent_encoded(first):
    _result, outcome, writes, stored = first
    assert not outcome.get("failed"), outcome.get("msg")
    assert outcome["changed"] is True
    assert outcome["keys"] == ["connection"] and outcome["added"] == ["connection"]
    assert unquote(PASSWORD_ENCODED) == PASSWORD  # the expectation below is right
    data, _version = stored
    assert data == {"connection": uri(PASSWORD_ENCODED)}
    parsed = urlsplit(data["connection"])
    assert parsed.hostname == "af-postgresql" and parsed.port == 5432 and parsed.path == "/airflow"
    assert unquote(parsed.password) == PASSWORD and parsed.username == USER
    assert [(w["method"], w["path"]) for w in writes] == [("POST", f"/api/v1/namespaces/{NS}/secrets")]
    assert outcome["diff"]["after"]["keys"] == ["connection"]


def test_resource_version_is_the_secrets_resource_version(first):
    _result, outcome, _writes, stored = first
    assert not outcome.get("failed"), outcome.get("msg")
    _data, version = stored
    assert version and outcome["resource_version"] == version


def test_the_source_password_never_appears_in_the_output(first):
    result, outcome, _writes, _stored = first
    assert not outcome.get("failed"), outcome.get("msg")
    assert "<localhost> ESTABLISH LOCAL CONNECTION" in result.stdout  # -vvv was in effect
    assert_not_shown(result, PASSWORD, PASSWORD_ENCODED, uri(PASSWORD_ENCODED))


def test_a_rerun_is_unchanged_and_writes_nothing(sim, first):
    before = read(sim)
    result, writes = play(sim, sim.directory / "rerun.json", [secret_task()], "-vvv")
    outcome = result.result("secret")
    assert not outcome.get("failed"), outcome.get("msg")
    assert outcome["changed"] is False
    assert outcome["added"] == [] and outcome["updated"] == []
    assert writes == [], writes
    assert read(sim) == before
    assert outcome["resource_version"] == before[1]
    assert_not_shown(result, PASSWORD, PASSWORD_ENCODED)


def test_a_changed_source_password_is_rendered_again(sim, first):
    _data, version_before = read(sim)
    client.CoreV1Api(sim.client).patch_namespaced_secret(SOURCE, NS, {"data": {"password": b64(NEW_PASSWORD)}})
    assert unquote(NEW_PASSWORD_ENCODED) == NEW_PASSWORD
    result, writes = play(sim, sim.directory / "changed.json", [secret_task()], "-vvv", "--diff")
    outcome = result.result("secret")
    assert not outcome.get("failed"), outcome.get("msg")
    assert outcome["changed"] is True and outcome["updated"] == ["connection"] and outcome["added"] == []
    data, version = read(sim)
    assert data == {"connection": uri(NEW_PASSWORD_ENCODED)}
    assert [(w["method"], w["path"]) for w in writes] == [("PATCH", f"/api/v1/namespaces/{NS}/secrets/{TARGET}")]
    assert version != version_before and outcome["resource_version"] == version
    assert_not_shown(result, PASSWORD, NEW_PASSWORD, NEW_PASSWORD_ENCODED, uri(NEW_PASSWORD_ENCODED))


def _missing(secret, key):
    return {**KEY, "refs": {**KEY["refs"], "password": {"secret": secret, "key": key, "encode": "url"}}}


def test_a_missing_source_fails_naming_the_secret_and_key_and_writes_nothing(sim):
    tasks = [
        secret_task("no secret", name="af-target-1", keys=[_missing("af-nowhere", "password")]),
        secret_task("no key", name="af-target-2", keys=[_missing(SOURCE, "no-such-key")]),
    ]
    result, writes = play(sim, sim.directory / "missing.json", tasks)
    no_secret, no_key = result.result("no secret"), result.result("no key")
    assert no_secret.get("failed") is True and no_key.get("failed") is True
    assert f"key password of Secret {NS}/af-nowhere" in no_secret["msg"], no_secret["msg"]
    assert "does not exist" in no_secret["msg"]
    assert f"key no-such-key of Secret {NS}/{SOURCE}" in no_key["msg"], no_key["msg"]
    assert writes == [], writes
    assert read(sim, "af-target-1") is None and read(sim, "af-target-2") is None


def test_check_mode_with_the_source_missing_reports_changed_and_writes_nothing(sim, first):
    existing = read(sim)
    tasks = [
        secret_task("new", name="af-target-3", keys=[_missing("af-nowhere", "password")]),
        secret_task("existing", keys=[_missing("af-nowhere", "password")]),
    ]
    result, writes = play(sim, sim.directory / "check.json", tasks, "--check")
    for name in ("new", "existing"):
        outcome = result.result(name)
        assert not outcome.get("failed"), (name, outcome.get("msg"))
        assert outcome["changed"] is True, name
        assert outcome["resource_version"] == "", name
    assert writes == [], writes
    assert read(sim, "af-target-3") is None
    assert read(sim) == existing
