"""px.airflow.secrets keys of kind=template on the local cluster: a URI built from another Secret's password.

The rendered value is read back from the API; the password never passes through Ansible's output.
Writes are counted in the API server's audit log (px.airflow's User-Agent, the module's namespace).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from cluster.kube import MODULE_AGENT, WRITE_VERBS, Kube
from helpers import run_playbook

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


@dataclass
class Env:
    kube: Kube
    ns: str
    directory: Path

    def task(self, task_name="secret", name=TARGET, keys=(KEY,)):
        options = {"name": name, "namespace": self.ns, "keys": list(keys), **self.kube.module_auth()}
        return {"name": task_name, "px.airflow.secrets": options, "ignore_errors": True}

    def play(self, file_name, tasks, *args):
        """Run the tasks; the result and each (verb, path) px.airflow wrote in the namespace, dry runs too."""
        path = self.directory / file_name
        path.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
        mark = self.kube.audit.mark()
        result = run_playbook(path, *args, timeout=300)
        events = self.kube.audit.requests(mark, agent=MODULE_AGENT, namespace=self.ns)
        return result, [(e["verb"], e["requestURI"].split("?")[0]) for e in events if e["verb"] in WRITE_VERBS]

    def read(self, name=TARGET):
        """(decoded data, resourceVersion) of a Secret, or None when it does not exist."""
        secret = self.kube.get("secret", name, self.ns)
        if secret is None:
            return None
        data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        return data, secret["metadata"]["resourceVersion"]


@pytest.fixture(scope="module")
def env(kube, module_namespace, tmp_path_factory) -> Env:
    """The module's namespace, holding the source Secret (username and password)."""
    source = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": SOURCE}, "type": "Opaque"}
    kube.create({**source, "data": {"username": b64(USER), "password": b64(PASSWORD)}}, namespace=module_namespace)
    return Env(kube, module_namespace, tmp_path_factory.mktemp("secrets-template"))


def assert_not_shown(result, *values):
    assert result.data.get("plays"), result.stdout[-2000:]  # there is output to search
    for value in values:
        for shown in forms(value):
            assert shown not in result.stdout, f"{shown!r} is in the playbook's stdout"
            assert shown not in result.stderr, f"{shown!r} is in the playbook's stderr"


@pytest.fixture(scope="module")
def first(env):
    """The first run (-vvv --diff): the target Secret does not exist yet."""
    assert env.read() is None
    result, writes = env.play("first.json", [env.task()], "-vvv", "--diff")
    return result, result.result("secret"), writes, env.read()


def test_the_rendered_value_is_the_template_with_the_password_percent_encoded(env, first):
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
    assert writes == [("create", f"/api/v1/namespaces/{env.ns}/secrets")]
    assert outcome["diff"]["after"]["keys"] == ["connection"]


def test_resource_version_is_the_secrets_resource_version(first):
    _result, outcome, _writes, stored = first
    assert not outcome.get("failed"), outcome.get("msg")
    _data, version = stored
    assert version and outcome["resource_version"] == version


def test_the_source_password_never_appears_in_the_output(first):
    result, outcome, _writes, _stored = first
    assert not outcome.get("failed"), outcome.get("msg")
    # -vvv was in effect (it says where the module ran: in the controller's process here)
    assert "px.airflow.secrets: runs in the controller's process" in result.stdout
    assert_not_shown(result, PASSWORD, PASSWORD_ENCODED, uri(PASSWORD_ENCODED))


def test_a_rerun_is_unchanged_and_writes_nothing(env, first):
    before = env.read()
    result, writes = env.play("rerun.json", [env.task()], "-vvv")
    outcome = result.result("secret")
    assert not outcome.get("failed"), outcome.get("msg")
    assert outcome["changed"] is False
    assert outcome["added"] == [] and outcome["updated"] == []
    assert writes == [], writes
    assert env.read() == before
    assert outcome["resource_version"] == before[1]
    assert_not_shown(result, PASSWORD, PASSWORD_ENCODED)


def test_a_changed_source_password_is_rendered_again(env, first):
    _data, version_before = env.read()
    env.kube.run("patch", "secret", SOURCE, "-n", env.ns, "-p", json.dumps({"data": {"password": b64(NEW_PASSWORD)}}))
    assert unquote(NEW_PASSWORD_ENCODED) == NEW_PASSWORD
    result, writes = env.play("changed.json", [env.task()], "-vvv", "--diff")
    outcome = result.result("secret")
    assert not outcome.get("failed"), outcome.get("msg")
    assert outcome["changed"] is True and outcome["updated"] == ["connection"] and outcome["added"] == []
    data, version = env.read()
    assert data == {"connection": uri(NEW_PASSWORD_ENCODED)}
    assert writes == [("patch", f"/api/v1/namespaces/{env.ns}/secrets/{TARGET}")]
    assert version != version_before and outcome["resource_version"] == version
    assert_not_shown(result, PASSWORD, NEW_PASSWORD, NEW_PASSWORD_ENCODED, uri(NEW_PASSWORD_ENCODED))


def _missing(secret, key):
    return {**KEY, "refs": {**KEY["refs"], "password": {"secret": secret, "key": key, "encode": "url"}}}


def test_a_missing_source_fails_naming_the_secret_and_key_and_writes_nothing(env):
    tasks = [
        env.task("no secret", name="af-target-1", keys=[_missing("af-nowhere", "password")]),
        env.task("no key", name="af-target-2", keys=[_missing(SOURCE, "no-such-key")]),
    ]
    result, writes = env.play("missing.json", tasks)
    no_secret, no_key = result.result("no secret"), result.result("no key")
    assert no_secret.get("failed") is True and no_key.get("failed") is True
    assert f"key password of Secret {env.ns}/af-nowhere" in no_secret["msg"], no_secret["msg"]
    assert "does not exist" in no_secret["msg"]
    assert f"key no-such-key of Secret {env.ns}/{SOURCE}" in no_key["msg"], no_key["msg"]
    assert writes == [], writes
    assert env.read("af-target-1") is None and env.read("af-target-2") is None


def test_check_mode_with_the_source_missing_reports_changed_and_writes_nothing(env, first):
    existing = env.read()
    tasks = [
        env.task("new", name="af-target-3", keys=[_missing("af-nowhere", "password")]),
        env.task("existing", keys=[_missing("af-nowhere", "password")]),
    ]
    result, writes = env.play("check.json", tasks, "--check")
    for name in ("new", "existing"):
        outcome = result.result(name)
        assert not outcome.get("failed"), (name, outcome.get("msg"))
        assert outcome["changed"] is True, name
        assert outcome["resource_version"] == "", name
    assert writes == [], writes
    assert env.read("af-target-3") is None
    assert env.read() == existing
