"""portworx_info, storage_class and the storage role against kubesim, read back independently.

Each module and the role go through the four steps (check, run, check, run: changed, changed,
not changed, not changed); converged runs send no write (kubesim's request log).
"""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest
from helpers import ansible_env, run_playbook
from kubernetes import client
from kubernetes.client.rest import ApiException
from kubesim_harness import start_kubesim
from portworx_seed import PX_NAMESPACE, remove_portworx, seed_portworx

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A kubesim of this module's own: Portworx comes and goes here, other tests never see it.

    kubesim's own simulated Portworx is off (--portworx absent): these tests put each state in place.
    """
    instance = start_kubesim(tmp_path_factory.mktemp("storage-sim"), "--portworx", "absent")
    instance.client = instance.api_client()
    yield instance
    instance.stop()


def play(tasks: str, vars_: str = "") -> str:
    return f"""
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/px.airflow.k8s:
      kubeconfig: "{{{{ lookup('env', 'SIM_KUBECONFIG') }}}}"
      context: kubesim
    group/kubernetes.core.k8s:
      kubeconfig: "{{{{ lookup('env', 'SIM_KUBECONFIG') }}}}"
      context: kubesim
  vars:
{vars_ or "    _unused: true"}
  tasks:
{tasks}
"""


@pytest.fixture
def run(cluster, playbook):
    """Run a playbook against the storage tests' kubesim; return the run and the writes it sent."""

    def go(text: str, *args: str):
        before = len(cluster.requests())
        result = run_playbook(playbook(text), *args, env=ansible_env(SIM_KUBECONFIG=cluster.kubeconfig))
        writes = [r for r in cluster.requests()[before:] if r["method"] in WRITE_METHODS and not r.get("dryRun")]
        return result, writes

    return go


@pytest.fixture
def storage_api(cluster):
    return client.StorageV1Api(cluster.client)


def read_class(storage_api, name):
    try:
        return storage_api.read_storage_class(name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def delete_classes(storage_api, *names):
    for name in names:
        if read_class(storage_api, name) is not None:
            storage_api.delete_storage_class(name, _preload_content=False)


INFO_TASK = """
    - name: info
      px.airflow.portworx_info:
"""


def test_portworx_info_reports_a_healthy_cluster(cluster, run):
    seed_portworx(cluster.client, phase="Running", nodes=3)
    result, writes = run(play(INFO_TASK))
    info = result.result("info")
    assert result.rc == 0, result.stdout[-3000:]
    assert info["installed"] and info["healthy"] and info["csi"] and info["stork"] and info["api_service"]
    assert info["provisioners"] == ["pxd.portworx.com", "kubernetes.io/portworx-volume"]
    assert info["storage_cluster"] == {"name": "px-cluster", "namespace": PX_NAMESPACE, "phase": "Running"}
    assert info["storage_nodes"] == 3 and info["version"] == "3.2.1" and info["changed"] is False
    assert writes == []


@pytest.mark.parametrize("phase, healthy", [("Online", True), ("Degraded", False), ("Initializing", False)])
def test_portworx_info_phase_decides_health(cluster, run, phase, healthy):
    seed_portworx(cluster.client, phase=phase)
    info = run(play(INFO_TASK))[0].result("info")
    assert info["installed"] is True and info["phase"] == phase and info["healthy"] is healthy


def test_portworx_info_does_not_fail_when_portworx_is_absent(cluster, run):
    remove_portworx(cluster.client)
    result, _ = run(play(INFO_TASK))
    info = result.result("info")
    assert result.rc == 0
    assert info["installed"] is False and info["healthy"] is False and info["provisioners"] == []
    assert info["storage_cluster"] is None and info["stork"] is False


CLASS_TASK = """
    - name: class
      px.airflow.storage_class:
        name: px-test-db
        repl: 3
        io_profile: db_remote
        priority_io: high
        reclaim_policy: Retain
        allow_volume_expansion: true
        labels: {app.kubernetes.io/part-of: airflow}
"""


def test_storage_class_four_steps_and_no_write_when_converged(cluster, run, storage_api):
    delete_classes(storage_api, "px-test-db")
    outcomes = []
    for args in (("--check", "--diff"), (), ("--check",), ()):
        result, writes = run(play(CLASS_TASK), *args)
        assert result.rc == 0, result.stdout[-3000:]
        outcomes.append((result.result("class")["changed"], len(writes)))
    assert outcomes == [(True, 0), (True, 1), (False, 0), (False, 0)]
    live = read_class(storage_api, "px-test-db")
    assert live.provisioner == "pxd.portworx.com"
    assert live.parameters == {"repl": "3", "io_profile": "db_remote", "priority_io": "high"}
    assert live.reclaim_policy == "Retain" and live.volume_binding_mode == "Immediate"
    assert live.allow_volume_expansion is True
    assert live.metadata.labels == {"app.kubernetes.io/part-of": "airflow"}


def test_storage_class_check_mode_diff_shows_the_change(cluster, run, storage_api):
    delete_classes(storage_api, "px-test-db")
    result, writes = run(play(CLASS_TASK), "--check", "--diff")
    diff = result.result("class")["diff"]
    assert diff["before"] == {} and diff["after"]["parameters"]["repl"] == "3"
    assert writes == [] and read_class(storage_api, "px-test-db") is None


def test_storage_class_immutable_change_fails_unless_recreate(cluster, run, storage_api):
    delete_classes(storage_api, "px-test-db")
    run(play(CLASS_TASK))
    uid = read_class(storage_api, "px-test-db").metadata.uid
    changed = CLASS_TASK.replace("repl: 3", "repl: 2")
    result, writes = run(play(changed))
    failure = result.result("class")
    assert failure["failed"] and writes == []
    assert "parameters" in failure["msg"] and "recreate=true" in failure["msg"]
    assert "'repl': '3'" in failure["msg"] and "'repl': '2'" in failure["msg"]
    assert read_class(storage_api, "px-test-db").parameters["repl"] == "3"

    result, writes = run(play(changed.replace("repl: 2", "repl: 2\n        recreate: true")))
    outcome = result.result("class")
    assert outcome["changed"] and outcome["operation"] == "recreated"
    live = read_class(storage_api, "px-test-db")
    assert live.parameters["repl"] == "2" and live.metadata.uid != uid
    assert [w["method"] for w in writes] == ["DELETE", "POST"]


def test_storage_class_mutable_change_is_patched_in_place(cluster, run, storage_api):
    delete_classes(storage_api, "px-test-db")
    run(play(CLASS_TASK))
    uid = read_class(storage_api, "px-test-db").metadata.uid
    result, writes = run(play(CLASS_TASK.replace("allow_volume_expansion: true", "allow_volume_expansion: false")))
    assert result.result("class")["operation"] == "updated"
    assert [w["method"] for w in writes] == ["PATCH"]
    live = read_class(storage_api, "px-test-db")
    assert live.allow_volume_expansion is False and live.metadata.uid == uid


def test_storage_class_absent_removes_it_once(cluster, run, storage_api):
    run(play(CLASS_TASK))
    absent = "\n    - name: class\n      px.airflow.storage_class:\n        name: px-test-db\n        state: absent\n"
    assert run(play(absent))[0].result("class")["changed"] is True
    assert read_class(storage_api, "px-test-db") is None
    result, writes = run(play(absent))
    assert result.result("class")["changed"] is False and writes == []


ROLE_VARS = """
    storage_db_class: {name: t-airflow-db}
    storage_shared_class: {name: t-airflow-shared}
    storage_scratch_class: {name: t-airflow-scratch}
"""
ROLE_TASK = """
    - name: storage role
      ansible.builtin.include_role:
        name: px.airflow.storage
"""
ROLE_CLASSES = ("t-airflow-db", "t-airflow-shared", "t-airflow-scratch")


def changed_tasks(result) -> list[str]:
    return [
        task["task"]["name"]
        for play_ in result.data.get("plays", [])
        for task in play_["tasks"]
        if any(host.get("changed") for host in task["hosts"].values())
    ]


def test_storage_role_four_steps_creates_the_three_classes(cluster, run, storage_api):
    seed_portworx(cluster.client, phase="Running", nodes=3)
    delete_classes(storage_api, *ROLE_CLASSES)
    outcomes = []
    for args in (("--check",), (), ("--check",), ()):
        result, writes = run(play(ROLE_TASK, ROLE_VARS), *args)
        assert result.rc == 0, result.stdout[-3000:]
        outcomes.append((bool(changed_tasks(result)), len(writes)))
    assert outcomes == [(True, 0), (True, 3), (False, 0), (False, 0)]
    db, shared, scratch = (read_class(storage_api, name) for name in ROLE_CLASSES)
    assert db.parameters == {"repl": "3", "io_profile": "db_remote", "priority_io": "high"}
    assert db.reclaim_policy == "Retain" and db.allow_volume_expansion is True
    assert shared.parameters == {"repl": "2", "sharedv4": "true"} and shared.reclaim_policy == "Retain"
    assert scratch.parameters == {"repl": "1"} and scratch.volume_binding_mode == "Immediate"
    assert scratch.reclaim_policy == "Delete"


@pytest.mark.parametrize("version", ["1.30.0", "1.33.0", "1.37.0"])
def test_storage_role_classes_validate_strictly(cluster, run, storage_api, version):
    seed_portworx(cluster.client, phase="Running", nodes=3)
    run(play(ROLE_TASK, ROLE_VARS))
    for name in ROLE_CLASSES:
        obj = copy.deepcopy(cluster.client.sanitize_for_serialization(read_class(storage_api, name)))
        obj["metadata"] = {k: v for k, v in obj["metadata"].items() if k in ("name", "labels", "annotations")}
        kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize(
    "setup, message",
    [
        ("absent", "Portworx is not installed in this cluster"),
        ("Degraded", "Portworx is not healthy: StorageCluster portworx/px-cluster is in phase Degraded"),
        ("two-nodes", "StorageClass t-airflow-db asks for repl=3 but Portworx has 2 storage node(s) online"),
    ],
)
def test_storage_role_preflight_fails_before_creating_anything(cluster, run, storage_api, setup, message):
    delete_classes(storage_api, *ROLE_CLASSES)
    remove_portworx(cluster.client)
    custom = client.CustomObjectsApi(cluster.client)
    if setup == "Degraded":
        seed_portworx(cluster.client, phase="Degraded")
    elif setup == "two-nodes":
        seed_portworx(cluster.client, nodes=3)
        custom.delete_namespaced_custom_object(
            "core.libopenstorage.org", "v1", PX_NAMESPACE, "storagenodes", "node-2", _preload_content=False
        )
    result, writes = run(play(ROLE_TASK, ROLE_VARS))
    assert result.rc != 0
    assert message in result.stdout, result.stdout[-3000:]
    assert writes == []
    assert all(read_class(storage_api, name) is None for name in ROLE_CLASSES)
    seed_portworx(cluster.client, nodes=3)


def test_storage_role_refuses_an_unknown_backend_before_any_request(cluster, run):
    result, writes = run(play(ROLE_TASK, ROLE_VARS + "    storage_backend: ceph\n"))
    assert result.rc != 0
    assert "storage_backend" in result.stdout and "ceph" in result.stdout
    assert writes == []


GENERIC_VARS = (
    ROLE_VARS
    + """
    storage_backend: generic
    storage_generic_rwx_volumes:
      - {name: t-airflow-dags, namespace: airflow, claim: af-dags, size: 1Gi}
"""
)


def test_storage_role_generic_backend_is_idempotent(cluster, run, storage_api):
    delete_classes(storage_api, *ROLE_CLASSES)
    first, writes = run(play(ROLE_TASK, GENERIC_VARS))
    assert first.rc == 0, first.stdout[-3000:]
    assert changed_tasks(first) and writes
    second, writes = run(play(ROLE_TASK, GENERIC_VARS))
    assert not changed_tasks(second) and writes == []
    assert read_class(storage_api, "t-airflow-shared").provisioner == "kubernetes.io/no-provisioner"
    assert read_class(storage_api, "t-airflow-db").provisioner == "rancher.io/local-path"
    pv = client.CoreV1Api(cluster.client).read_persistent_volume("t-airflow-dags")
    assert pv.spec.access_modes == ["ReadWriteMany"] and pv.spec.claim_ref.name == "af-dags"
    assert pv.spec.persistent_volume_reclaim_policy == "Retain"
    client.CoreV1Api(cluster.client).delete_persistent_volume("t-airflow-dags", _preload_content=False)
    delete_classes(storage_api, *ROLE_CLASSES)
