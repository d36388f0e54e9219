"""Bad input gets a clear error, naming the input and what to do, before anything is written.

On the local real cluster: the cases are batched into one playbook run (each task ignore_errors),
and the API server's audit log shows that the whole run wrote nothing. The playbook connects as
px-admin impersonating a user of its own, so its requests (px.airflow's modules and
kubernetes.core's alike) are told apart from those of tests running at the same time. A namespace
being deleted is a real Terminating namespace, held by a ConfigMap with a finalizer of ours.
"""

from __future__ import annotations

import json

import pytest
from cluster.kube import MODULE_AGENT, Kube, unique
from helpers import ansible_env, run_playbook

# (task name, module or role, arguments, text the message must contain)
CASES = [
    ("class repl out of range", "px.airflow.storage_class", {"name": "c", "repl": 5}, "repl"),
    (
        "class unknown io_profile",
        "px.airflow.storage_class",
        {"name": "c", "io_profile": "fastest"},
        "io_profile=fastest is not a Portworx I/O profile; use one of db_remote",
    ),
    (
        "class svc type without sharedv4",
        "px.airflow.storage_class",
        {"name": "c", "sharedv4_svc_type": "ClusterIP"},
        "sharedv4_svc_type only applies to sharedv4 volumes: set sharedv4=true",
    ),
    (
        "class secret without secure",
        "px.airflow.storage_class",
        {"name": "c", "secret": {"name": "k", "namespace": "n"}},
        "needs secure=true",
    ),
    (
        "class aggregation level",
        "px.airflow.storage_class",
        {"name": "c", "aggregation_level": "7"},
        "aggregation_level=7 is invalid; use 1, 2, 3 or auto",
    ),
    ("class reclaim policy", "px.airflow.storage_class", {"name": "c", "reclaim_policy": "Keep"}, "reclaim_policy"),
    (
        "class extra parameter clash",
        "px.airflow.storage_class",
        {"name": "c", "repl": 2, "extra_parameters": {"repl": "3"}},
        "extra_parameters.repl is also set by a typed option",
    ),
    ("class wrong type", "px.airflow.storage_class", {"name": "c", "repl": "three"}, "repl"),
    ("class missing name", "px.airflow.storage_class", {"repl": 1}, "missing required arguments: name"),
    (
        "class snapshot type",
        "px.airflow.storage_class",
        {"name": "c", "snapshot_schedule": {"name": "s", "policy": "p", "type": "tape"}},
        "type",
    ),
    (
        "secret rotate db password",
        "px.airflow.secrets",
        {"name": "s", "namespace": "NS", "keys": [{"name": "p", "kind": "db_password"}], "rotate": ["p"]},
        "ALTER ROLE",
    ),
    (
        "secret value missing",
        "px.airflow.secrets",
        {"name": "s", "namespace": "NS", "keys": [{"name": "v", "kind": "value"}]},
        "keys.v has kind=value but no value",
    ),
    (
        "secret duplicate key",
        "px.airflow.secrets",
        {"name": "s", "namespace": "NS", "keys": [{"name": "a"}, {"name": "a"}]},
        "keys lists a more than once",
    ),
    (
        "secret short password",
        "px.airflow.secrets",
        {"name": "s", "namespace": "NS", "keys": [{"name": "p", "kind": "password", "length": 4}]},
        "length must be at least 12",
    ),
    (
        "secret unknown kind",
        "px.airflow.secrets",
        {"name": "s", "namespace": "NS", "keys": [{"name": "p", "kind": "rsa"}]},
        "kind",
    ),
    (
        "sync missing src",
        "px.airflow.dag_sync",
        {"src": "/nonexistent/dags", "namespace": "NS", "pvc": "af-dags"},
        "src /nonexistent/dags is not a directory",
    ),
    (
        "sync keep zero",
        "px.airflow.dag_sync",
        {"src": "SRC_OK", "namespace": "NS", "pvc": "af-dags", "keep_versions": 0},
        "keep_versions must be at least 1",
    ),
    (
        "sync file limit too big",
        "px.airflow.dag_sync",
        {"src": "SRC_OK", "namespace": "NS", "pvc": "af-dags", "max_file_size": 5000000},
        "max_file_size must be between 1 and",
    ),
    (
        "sync empty image",
        "px.airflow.dag_sync",
        {"src": "SRC_OK", "namespace": "NS", "pvc": "af-dags", "image": " "},
        "image must name an image with python3",
    ),
    (
        "sync dag with syntax error",
        "px.airflow.dag_sync",
        {"src": "SRC_BROKEN", "namespace": "NS", "pvc": "af-dags", "validate": True},
        "broken.py",
    ),
    (
        "sync oversized file",
        "px.airflow.dag_sync",
        {"src": "SRC_BIG", "namespace": "NS", "pvc": "af-dags"},
        "big.csv is 600000 bytes, above the limit of 524288 bytes",
    ),
    (
        "sync symlink outside",
        "px.airflow.dag_sync",
        {"src": "SRC_LINK", "namespace": "NS", "pvc": "af-dags"},
        "outside src",
    ),
    (
        "run url and service",
        "px.airflow.dag_run",
        {
            "dag_id": "d",
            "airflow_password": "pw-123456",
            "api_url": "http://x",
            "service": {"namespace": "a", "name": "b"},
        },
        "mutually exclusive",
    ),
    (
        "run url without scheme",
        "px.airflow.dag_run",
        {"dag_id": "d", "airflow_password": "pw-123456", "api_url": "localhost:8080"},
        "api_url must start with http:// or https://",
    ),
    (
        "run zero timeout",
        "px.airflow.dag_run",
        {"dag_id": "d", "airflow_password": "pw-123456", "api_url": "http://127.0.0.1:9", "timeout": 0},
        "timeout must be at least 1 second",
    ),
    (
        "apply without kind",
        "px.airflow.apply",
        {"definitions": [{"apiVersion": "v1", "metadata": {"name": "x"}}]},
        "definitions[0] needs apiVersion and kind",
    ),
    (
        "apply without name",
        "px.airflow.apply",
        {"definitions": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}]},
        "definitions[0] (ConfigMap) needs metadata.name",
    ),
    (
        "apply unknown kind",
        "px.airflow.apply",
        {"definitions": [{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}]},
        "does not serve example.com/v1 Widget",
    ),
    (
        "missing kubeconfig",
        "px.airflow.portworx_info",
        {"kubeconfig": "/nonexistent/kubeconfig", "context": "x"},
        "/nonexistent/kubeconfig",
    ),
    ("unknown context", "px.airflow.portworx_info", {"context": "no-such-context"}, "context no-such-context"),
]
ROLE_CASES = [
    (
        "role unknown storage backend",
        "storage",
        {"storage_backend": "ceph"},
        "storage_backend must be one of: portworx, generic, got: ceph",
    ),
    (
        "role empty airflow image",
        "airflow",
        {"airflow_image_tag": ""},
        "airflow_image_tag: 'apache/airflow:' is not a valid image reference",
    ),
    (
        "role malformed dags size",
        "airflow",
        {"airflow_dags_size": "5 gigs"},
        "airflow_dags_size: '5 gigs' is not a Kubernetes quantity",
    ),
    (
        "role secret in airflow config",
        "airflow",
        {"airflow_config": {"core": {"fernet_key": "x"}}},
        "airflow_config.core.fernet_key: '(hidden)' is a secret",
    ),
    (
        "role malformed database size",
        "postgres",
        {"postgres_storage_size": "lots"},
        "postgres_storage_size: 'lots' is not a Kubernetes quantity",
    ),
    (
        "role external db without host",
        "postgres",
        {"postgres_mode": "external"},
        "external mode needs postgres_external_host",
    ),
    (
        "role zero replicas",
        "airflow",
        {"airflow_replicas": {"api_server": 0, "scheduler": 1, "dag_processor": 1, "triggerer": 1}},
        "airflow_replicas.api_server: 0 is less than 1",
    ),
    (
        "role wrong type",
        "postgres",
        {"postgres_wait_timeout": "soon"},
        "argument 'postgres_wait_timeout' is of type str and we were unable to convert to int",
    ),
]


def run_as(kube: Kube) -> tuple[str, dict]:
    """px-admin's connection options, impersonating a user of this run's own (in system:masters, so
    nothing is refused for want of rights): the audit log tells its requests from other tests'."""
    name = unique("bad-inputs")
    return name, {**kube.module_auth(), "impersonate_user": name, "impersonate_groups": ["system:masters"]}


def sources(tmp_path):
    ok = tmp_path / "ok"
    ok.mkdir()
    (ok / "a.py").write_text("X = 1\n")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "broken.py").write_text("from airflow.sdk import dag\ndef oops(:\n")
    big = tmp_path / "big"
    big.mkdir()
    (big / "big.csv").write_text("x" * 600_000)
    link = tmp_path / "link"
    link.mkdir()
    (link / "escape.py").symlink_to("/etc/hostname")
    return {"SRC_OK": str(ok), "SRC_BROKEN": str(broken), "SRC_BIG": str(big), "SRC_LINK": str(link)}


def test_bad_inputs_fail_clearly_and_write_nothing(kube: Kube, namespace: str, playbook, tmp_path):
    identity, auth = run_as(kube)
    paths = {**sources(tmp_path), "NS": namespace}
    tasks = []
    for name, module, args, _expected in CASES:
        args = {k: paths.get(v, v) if isinstance(v, str) else v for k, v in args.items()}
        if module != "px.airflow.portworx_info" or "kubeconfig" not in args:
            args = {**auth, **args} if module != "px.airflow.dag_run" else args
        tasks.append({"name": name, module: args, "ignore_errors": True})
    for name, role, role_vars, _expected in ROLE_CASES:
        # A role stops at its first failure, as it does for a user: block/rescue lets the next case run.
        include = {"name": f"{name} (role)", "ansible.builtin.include_role": {"name": f"px.airflow.{role}"}}
        include["vars"] = role_vars
        rescue = {"name": f"{name} (stopped as expected)", "ansible.builtin.debug": {"msg": "stopped"}}
        tasks.append({"name": name, "block": [include], "rescue": [rescue]})
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "module_defaults": {"group/px.airflow.k8s": auth, "group/kubernetes.core.k8s": auth},
            # Should a role get past its checks, it would write to this test's namespace only.
            "vars": {"airflow_namespace": namespace, "postgres_namespace": namespace},
            "tasks": tasks,
        }
    ]
    before = kube.audit.mark()
    result = run_playbook(playbook(json.dumps(play)), env=ansible_env(), timeout=900)
    failures, all_messages = {}, []
    for play_ in result.data["plays"]:
        for task in play_["tasks"]:
            host = task["hosts"].get("localhost", {})
            if host.get("failed"):
                failures.setdefault(task["task"]["name"], host.get("msg", ""))
                all_messages.append(str(host.get("msg", "")))
            # An included role's failing task has its own name: attribute it to the case being run.
    problems = []
    for name, _module, _args, expected in CASES:
        message = failures.get(name)
        if message is None or expected not in message:
            problems.append(f"{name}: expected {expected!r} in {message!r}")
    role_messages = " ".join(all_messages)
    for name, _role, _vars, expected in ROLE_CASES:
        if expected not in role_messages:
            problems.append(f"{name}: expected {expected!r} in some failure")
    assert problems == [], "\n".join(problems)
    assert len(CASES) + len(ROLE_CASES) >= 30
    # The run did reach the cluster (discovery for the unknown kind, reads), and wrote nothing there.
    sent = kube.audit.requests(before, impersonated=identity)
    assert {e["userAgent"].split("/")[0] for e in sent} >= {MODULE_AGENT}, "no request of px.airflow logged"
    writes = kube.audit.writes(before, impersonated=identity)
    assert writes == [], kube.audit.describe(writes)
    assert "pw-123456" not in result.stdout


@pytest.fixture
def terminating(kube: Kube):
    """A namespace held in Terminating by a ConfigMap with a finalizer; the finalizer goes afterwards."""
    name = unique("leaving")
    kube.create_namespace(name)
    held = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "held", "namespace": name, "finalizers": ["px.airflow.test/hold"]},
    }
    kube.create(held)
    try:
        kube.delete("namespace", name, wait=False)
        kube.wait_for(
            f"namespace {name} Terminating, its ConfigMap marked for deletion",
            lambda: (
                (kube.get("namespace", name) or {}).get("status", {}).get("phase") == "Terminating"
                and (kube.get("configmap", "held", name) or {}).get("metadata", {}).get("deletionTimestamp")
            ),
            60,
        )
        yield name
    finally:
        kube.run("patch", "configmap", "held", "-n", name, "--type=merge", "-p", '{"metadata":{"finalizers":null}}',
                 check=False)  # fmt: skip
        kube.wait_for(f"namespace {name} to be gone", lambda: kube.get("namespace", name) is None, 120)


def test_a_namespace_being_deleted_is_reported_by_name(kube: Kube, terminating: str, playbook):
    task = {
        "name": "apply",
        "px.airflow.apply": {
            **kube.module_auth(),
            "definitions": [
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "x", "namespace": terminating},
                    "data": {"a": "b"},
                }
            ],
        },
        "ignore_errors": True,
    }
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [task]}]
    before = kube.audit.mark()
    result = run_playbook(playbook(json.dumps(play)), env=ansible_env())
    message = result.result("apply")["msg"]
    assert f"create ConfigMap {terminating}/x" in message, message
    assert "403" in message and "being terminated" in message, message
    # The API server refused the create: nothing landed in the namespace.
    refused = kube.audit.writes(before, agent=MODULE_AGENT, user="px-admin", namespace=terminating)
    assert [e["responseStatus"]["code"] for e in refused] == [403], kube.audit.describe(refused)
    assert kube.get("configmap", "x", terminating) is None
