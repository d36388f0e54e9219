"""px.airflow.secrets on the local cluster: generate once, never overwrite, rotate only where safe.

Every test works on a Secret of its own (unique name) in the module's namespace; values are read
back through the API, writes and requests counted in the API server's audit log.
"""

from __future__ import annotations

import base64
import json
import os

import pytest
from cluster.kube import MODULE_AGENT, Kube, unique
from helpers import run_playbook

KEYS = [
    {"name": "fernet-key", "kind": "fernet"},
    {"name": "jwt-secret", "kind": "token", "length": 64},
    {"name": "admin-password", "kind": "password", "length": 20},
    {"name": "db-password", "kind": "db_password"},
]


@pytest.fixture
def secret_name() -> str:
    return unique("af-secrets")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def run(kube: Kube, ns: str, playbook, *args, **options):
    """Runs px.airflow.secrets once; (playbook run, task result, module writes, module requests)."""
    params = {"namespace": ns, **kube.module_auth(), **options}
    task = {"name": "secret", "px.airflow.secrets": params, "register": "__s", "ignore_errors": True}
    path = playbook(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [task]}]))
    mark = kube.audit.mark()
    result = run_playbook(path, *args, timeout=300)
    requests = kube.audit.requests(mark, agent=MODULE_AGENT, namespace=ns)
    writes = kube.audit.writes(mark, agent=MODULE_AGENT, namespace=ns)
    return result, result.result("secret"), writes, requests


def read(kube: Kube, ns: str, name: str) -> dict[str, str] | None:
    secret = kube.get("secret", name, ns)
    if secret is None:
        return None
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


def existing(kube: Kube, ns: str, name: str) -> dict[str, str]:
    """A Secret holding every key of KEYS, made with kubectl (known values); returns them."""
    values = {
        "fernet-key": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "jwt-secret": "jwt-" + os.urandom(8).hex(),
        "admin-password": "Admin" + os.urandom(6).hex(),
        "db-password": "Db" + os.urandom(6).hex(),
    }
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "Opaque"}
    kube.create({**secret, "data": {k: b64(v) for k, v in values.items()}}, namespace=ns)
    return values


def test_four_steps_generate_once_and_never_change_again(kube, module_namespace, secret_name, playbook):
    ns = module_namespace
    outcomes = []
    for args in (("--check", "--diff"), (), ("--check",), ()):
        _result, outcome, writes, _requests = run(kube, ns, playbook, *args, name=secret_name, keys=KEYS)
        assert not outcome.get("failed"), outcome.get("msg")
        outcomes.append((outcome["changed"], len(writes)))
        if args == ("--check", "--diff"):
            assert outcome["diff"]["after"]["keys"] == sorted(k["name"] for k in KEYS)
            assert read(kube, ns, secret_name) is None  # check mode made nothing
    assert outcomes == [(True, 0), (True, 1), (False, 0), (False, 0)]
    values = read(kube, ns, secret_name)
    assert sorted(values) == sorted(k["name"] for k in KEYS)
    assert len(base64.urlsafe_b64decode(values["fernet-key"])) == 32
    assert len(values["admin-password"]) == 20 and values["admin-password"].isalnum()
    assert len(values["db-password"]) == 32 and values["db-password"].isalnum()
    assert len(base64.urlsafe_b64decode(values["jwt-secret"] + "==")) == 64
    # No value ever appears in the output, not even in diff mode.
    result, _outcome, writes, _ = run(kube, ns, playbook, "--diff", "-vvv", name=secret_name, keys=KEYS)
    # -vvv was in effect (it says where the module ran: in the controller's process here)
    assert writes == [] and "px.airflow.secrets: runs in the controller's process" in result.stdout
    for value in values.values():
        assert value not in result.stdout and value not in result.stderr
    assert read(kube, ns, secret_name) == values


def test_a_missing_key_is_added_and_existing_values_stay(kube, module_namespace, secret_name, playbook):
    ns = module_namespace
    before = existing(kube, ns, secret_name)
    keys = [*KEYS, {"name": "api-secret-key", "kind": "token"}]
    _result, outcome, writes, _ = run(kube, ns, playbook, name=secret_name, keys=keys)
    assert not outcome.get("failed"), outcome.get("msg")
    assert outcome["changed"] and outcome["added"] == ["api-secret-key"], outcome
    assert [(w["verb"], w["objectRef"]["name"]) for w in writes] == [("patch", secret_name)], kube.audit.describe(
        writes
    )
    after = read(kube, ns, secret_name)
    assert {k: after[k] for k in before} == before and after["api-secret-key"]


def test_fernet_rotation_prepends_and_keeps_the_old_key(kube, module_namespace, secret_name, playbook):
    ns = module_namespace
    old = existing(kube, ns, secret_name)
    _result, outcome, writes, _ = run(kube, ns, playbook, name=secret_name, keys=KEYS, rotate=["fernet-key"])
    assert not outcome.get("failed"), outcome.get("msg")
    assert outcome["rotated"] == ["fernet-key"] and len(writes) == 1
    after = read(kube, ns, secret_name)
    new, kept = after["fernet-key"].split(",", 1)
    assert kept == old["fernet-key"] and new != kept
    assert len(base64.urlsafe_b64decode(new)) == 32
    assert {k: v for k, v in after.items() if k != "fernet-key"} == {k: v for k, v in old.items() if k != "fernet-key"}


def test_database_password_rotation_is_refused_without_any_request(kube, module_namespace, secret_name, playbook):
    ns = module_namespace
    before = existing(kube, ns, secret_name)
    _result, outcome, writes, requests = run(kube, ns, playbook, name=secret_name, keys=KEYS, rotate=["db-password"])
    assert outcome["failed"] and "ALTER ROLE" in outcome["msg"], outcome.get("msg")
    assert writes == [] and requests == [], kube.audit.describe(requests)
    assert read(kube, ns, secret_name) == before


def test_a_given_value_replaces_the_stored_one(kube, module_namespace, secret_name, playbook):
    ns = module_namespace
    keys = [{"name": "connection", "kind": "value", "value": "postgresql://a"}]
    _result, outcome, writes, _ = run(kube, ns, playbook, name=secret_name, keys=keys)
    assert outcome["added"] == ["connection"] and len(writes) == 1, outcome.get("msg")
    assert read(kube, ns, secret_name) == {"connection": "postgresql://a"}
    _result, outcome, writes, _ = run(
        kube, ns, playbook, name=secret_name, keys=[{**keys[0], "value": "postgresql://b"}]
    )
    assert not outcome.get("failed"), outcome.get("msg")
    assert outcome["updated"] == ["connection"] and outcome["changed"] and len(writes) == 1
    assert read(kube, ns, secret_name) == {"connection": "postgresql://b"}
