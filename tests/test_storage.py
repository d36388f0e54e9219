"""portworx_info, storage_class and the storage role on the local real cluster, read back independently.

Portworx (the stand-in, mode healthy) is shared by every test: the healthy case reads the real
objects, the unhealthy ones patch the StorageCluster's (or a StorageNode's) status.phase for the
length of one run and put it back. Portworx absent cannot be made here without taking it away
from everybody; tests/cluster/test_portworx.py's absent-mode test covers portworx_info's answer
then. Every StorageClass and PersistentVolume has a name unique to this run and is deleted after.

Each module run impersonates a user of its own (system:masters, as px-admin), so the audit log
tells exactly which requests it sent, whatever else runs on the cluster meanwhile. Each module and
the role go through the four steps (check, run, check, run: changed, changed, not changed, not
changed); converged runs send no write.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from cluster.kube import MODULE_AGENT, Kube, unique
from helpers import PlaybookRun, ansible_env, run_playbook

PX_NS = "portworx"
STC = "storageclusters.core.libopenstorage.org"
SN = "storagenodes.core.libopenstorage.org"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}


class Runner:
    """Runs playbooks as an impersonated user of their own; returns the run and the audit events it caused."""

    def __init__(self, kube: Kube, directory: Path) -> None:
        self.kube = kube
        self.directory = directory
        self.count = 0

    def __call__(self, tasks: str, vars_: str = "", *args: str) -> tuple[PlaybookRun, list[dict[str, Any]]]:
        auth = self.kube.module_auth()
        self.count += 1
        path = self.directory / f"play-{self.count}.yml"
        path.write_text(
            f"""
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/px.airflow.k8s:
      kubeconfig: {auth["kubeconfig"]}
      context: {auth["context"]}
  vars:
{vars_ or "    _unused: true"}
  tasks:
{tasks}
"""
        )
        who = unique("px-test-storage")
        mark = self.kube.audit.mark()
        env = ansible_env(K8S_AUTH_IMPERSONATE_USER=who, K8S_AUTH_IMPERSONATE_GROUPS="system:masters")
        result = run_playbook(path, *args, env=env, timeout=300)
        events = [
            e
            for e in self.kube.audit.events(mark, agent=MODULE_AGENT)
            if (e.get("impersonatedUser") or {}).get("username") == who
        ]
        return result, events


def writes(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["verb"] in WRITE_VERBS and "dryRun=All" not in e.get("requestURI", "")]


def verbs(events: list[dict[str, Any]]) -> list[str]:
    return [f"{e['verb']} {e['objectRef']['resource']}/{e['objectRef'].get('name', '')}" for e in writes(events)]


@pytest.fixture(scope="module")
def run(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Runner:
    return Runner(kube, tmp_path_factory.mktemp("storage"))


class Classes:
    """StorageClasses (and PersistentVolumes) with names unique to this run; deleted by the fixture."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.made: list[tuple[str, str]] = []

    def name(self, prefix: str = "t") -> str:
        name = unique(f"px-test-{prefix}")
        self.made.append(("storageclass", name))
        return name

    def read(self, name: str) -> dict[str, Any] | None:
        return self.kube.get("storageclass", name)

    def cleanup(self) -> None:
        for kind, name in self.made:
            self.kube.run("delete", kind, name, "--ignore-not-found", "--wait=false", check=False)


@pytest.fixture
def classes(kube: Kube) -> Iterator[Classes]:
    made = Classes(kube)
    yield made
    made.cleanup()


@pytest.fixture(scope="module")
def module_classes(kube: Kube) -> Iterator[Classes]:
    made = Classes(kube)
    yield made
    made.cleanup()


@contextmanager
def patched_phase(kube: Kube, resource: str, name: str, phase: str) -> Iterator[None]:
    """Sets an object's status.phase through the status subresource; puts the previous one back."""
    before = (kube.json("get", resource, name, "-n", PX_NS).get("status") or {}).get("phase")
    assert before in ("Running", "Online"), f"{resource} {name} is {before}: Portworx is expected healthy here"

    def set_phase(value: str) -> None:
        body = json.dumps({"status": {"phase": value}})
        kube.run("patch", resource, name, "-n", PX_NS, "--subresource=status", "--type=merge", "-p", body)

    set_phase(phase)
    try:
        yield
    finally:
        set_phase(before)


def healthy_portworx(kube: Kube) -> dict[str, Any]:
    """What the API shows of the shared Portworx, once it is healthy (another test may patch it briefly)."""

    def seen() -> dict[str, Any] | None:
        stc = kube.json("get", STC, "px-cluster", "-n", PX_NS)
        nodes = kube.json("get", SN, "-n", PX_NS)["items"]
        online = [n for n in nodes if (n.get("status") or {}).get("phase") == "Online"]
        if (stc.get("status") or {}).get("phase") != "Running" or len(online) != len(nodes):
            return None
        return {"stc": stc, "nodes": len(nodes), "stork": kube.get("deployment", "stork", PX_NS) is not None}

    return kube.wait_for("Portworx healthy", seen, 60)


INFO_TASK = """
    - name: info
      px.airflow.portworx_info:
"""


def test_portworx_info_reports_a_healthy_cluster(kube: Kube, run: Runner) -> None:
    shown = healthy_portworx(kube)
    result, events = run(INFO_TASK)
    info = result.result("info")
    assert result.rc == 0, result.stdout[-3000:]
    assert info["installed"] and info["healthy"] and info["csi"] and info["api_service"]
    assert info["stork"] is shown["stork"]
    assert info["provisioners"] == ["pxd.portworx.com", "kubernetes.io/portworx-volume"]
    assert info["storage_cluster"] == {"name": "px-cluster", "namespace": PX_NS, "phase": "Running"}
    assert info["storage_nodes"] == info["nodes_total"] == shown["nodes"] >= 1
    assert info["version"] == shown["stc"]["status"]["version"] and info["namespace"] == PX_NS
    assert info["changed"] is False
    assert events and writes(events) == [], verbs(events)


@pytest.mark.parametrize("phase, healthy", [("Online", True), ("Degraded", False), ("Initializing", False)])
def test_portworx_info_phase_decides_health(kube: Kube, run: Runner, phase: str, healthy: bool) -> None:
    healthy_portworx(kube)
    with patched_phase(kube, STC, "px-cluster", phase):
        result, events = run(INFO_TASK)
    info = result.result("info")
    assert result.rc == 0, result.stdout[-3000:]
    assert info["installed"] is True and info["phase"] == phase and info["healthy"] is healthy
    assert info["storage_cluster"]["phase"] == phase and writes(events) == []


def class_task(name: str, *extra: str) -> str:
    lines = [
        "    - name: class",
        "      px.airflow.storage_class:",
        f"        name: {name}",
        "        repl: 3",
        "        io_profile: db_remote",
        "        priority_io: high",
        "        reclaim_policy: Retain",
        "        allow_volume_expansion: true",
        "        labels: {app.kubernetes.io/part-of: airflow}",
    ]
    for change in extra:
        key = change.split(":")[0]
        lines = [line for line in lines if not line.strip().startswith(key + ":")]
        lines.append(f"        {change}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def class_steps(run: Runner, module_classes: Classes) -> dict[str, Any]:
    """The four steps of storage_class on a class of its own, and what the API held after the first."""
    name = module_classes.name("db")
    steps = []
    after_check = None
    for args in (("--check", "--diff"), (), ("--check",), ()):
        steps.append(run(class_task(name), "", *args))
        if after_check is None:
            after_check = module_classes.read(name) or {}
    return {"name": name, "steps": steps, "after_check": after_check, "live": module_classes.read(name)}


def test_storage_class_four_steps_and_no_write_when_converged(class_steps: dict[str, Any]) -> None:
    outcomes = []
    for result, events in class_steps["steps"]:
        assert result.rc == 0, result.stdout[-3000:]
        outcomes.append((result.result("class")["changed"], verbs(events)))
    created = [f"create storageclasses/{class_steps['name']}"]
    assert outcomes == [(True, []), (True, created), (False, []), (False, [])]
    live = class_steps["live"]
    assert live["provisioner"] == "pxd.portworx.com"
    assert live["parameters"] == {"repl": "3", "io_profile": "db_remote", "priority_io": "high"}
    assert live["reclaimPolicy"] == "Retain" and live["volumeBindingMode"] == "Immediate"
    assert live["allowVolumeExpansion"] is True
    assert live["metadata"]["labels"] == {"app.kubernetes.io/part-of": "airflow"}


def test_storage_class_check_mode_diff_shows_the_change(class_steps: dict[str, Any]) -> None:
    result, events = class_steps["steps"][0]
    diff = result.result("class")["diff"]
    assert diff["before"] == {} and diff["after"]["parameters"]["repl"] == "3"
    assert writes(events) == [] and class_steps["after_check"] == {}


@pytest.fixture(scope="module")
def class_changes(run: Runner, module_classes: Classes) -> dict[str, Any]:
    """One class through its changes: created, an immutable change refused then recreated, a mutable one
    patched, removed, removed again. Each step's run, audit events and the live object after it."""
    name = module_classes.name("db")
    absent = f"\n    - name: class\n      px.airflow.storage_class:\n        name: {name}\n        state: absent\n"
    steps = {}
    for step, tasks in (
        ("create", class_task(name)),
        ("immutable", class_task(name, "repl: 2")),
        ("recreate", class_task(name, "repl: 2", "recreate: true")),
        ("mutable", class_task(name, "repl: 2", "allow_volume_expansion: false")),
        ("absent", absent),
        ("absent again", absent),
    ):
        result, events = run(tasks)
        steps[step] = {"result": result, "events": events, "live": module_classes.read(name)}
    assert steps["create"]["result"].rc == 0, steps["create"]["result"].stdout[-3000:]
    return {"name": name, **steps}


def test_storage_class_immutable_change_fails_unless_recreate(class_changes: dict[str, Any]) -> None:
    name = class_changes["name"]
    created, refused, recreated = (class_changes[step] for step in ("create", "immutable", "recreate"))
    failure = refused["result"].result("class")
    assert failure["failed"] and writes(refused["events"]) == [], verbs(refused["events"])
    assert "parameters" in failure["msg"] and "recreate=true" in failure["msg"]
    assert "'repl': '3'" in failure["msg"] and "'repl': '2'" in failure["msg"]
    assert refused["live"]["parameters"]["repl"] == "3"
    assert refused["live"]["metadata"]["uid"] == created["live"]["metadata"]["uid"]

    outcome = recreated["result"].result("class")
    assert outcome["changed"] and outcome["operation"] == "recreated"
    assert recreated["live"]["parameters"]["repl"] == "2"
    assert recreated["live"]["metadata"]["uid"] != created["live"]["metadata"]["uid"]
    assert verbs(recreated["events"]) == [f"delete storageclasses/{name}", f"create storageclasses/{name}"]


def test_storage_class_mutable_change_is_patched_in_place(class_changes: dict[str, Any]) -> None:
    before, patched = class_changes["recreate"], class_changes["mutable"]
    assert patched["result"].result("class")["operation"] == "updated"
    assert verbs(patched["events"]) == [f"patch storageclasses/{class_changes['name']}"]
    assert before["live"]["allowVolumeExpansion"] is True and patched["live"]["allowVolumeExpansion"] is False
    assert patched["live"]["metadata"]["uid"] == before["live"]["metadata"]["uid"]


def test_storage_class_absent_removes_it_once(class_changes: dict[str, Any]) -> None:
    removed, again = class_changes["absent"], class_changes["absent again"]
    assert removed["result"].result("class")["changed"] is True
    assert verbs(removed["events"]) == [f"delete storageclasses/{class_changes['name']}"]
    assert removed["live"] is None
    assert again["result"].result("class")["changed"] is False and writes(again["events"]) == []
    assert again["events"]  # it did look


ROLE_TASK = """
    - name: storage role
      ansible.builtin.include_role:
        name: px.airflow.storage
"""


def role_vars(names: dict[str, str], extra: str = "") -> str:
    return "".join(f"    storage_{key}_class: {{name: {name}}}\n" for key, name in names.items()) + extra


def role_names(made: Classes) -> dict[str, str]:
    return {key: made.name(key) for key in ("db", "shared", "scratch")}


def changed_tasks(result: PlaybookRun) -> list[str]:
    return [
        task["task"]["name"]
        for play_ in result.data.get("plays", [])
        for task in play_["tasks"]
        if any(host.get("changed") for host in task["hosts"].values())
    ]


@pytest.fixture(scope="module")
def role_steps(kube: Kube, run: Runner, module_classes: Classes) -> dict[str, Any]:
    """The storage role's four steps with classes of their own names."""
    healthy_portworx(kube)
    names = role_names(module_classes)
    steps = [run(ROLE_TASK, role_vars(names), *args) for args in (("--check",), (), ("--check",), ())]
    return {"names": names, "steps": steps, "live": {key: module_classes.read(n) for key, n in names.items()}}


def test_storage_role_four_steps_creates_the_three_classes(role_steps: dict[str, Any]) -> None:
    outcomes = []
    for result, events in role_steps["steps"]:
        assert result.rc == 0, result.stdout[-3000:]
        outcomes.append((bool(changed_tasks(result)), sorted(verbs(events))))
    created = sorted(f"create storageclasses/{name}" for name in role_steps["names"].values())
    assert outcomes == [(True, []), (True, created), (False, []), (False, [])]
    db, shared, scratch = (role_steps["live"][key] for key in ("db", "shared", "scratch"))
    assert db["provisioner"] == shared["provisioner"] == scratch["provisioner"] == "pxd.portworx.com"
    assert db["parameters"] == {"repl": "3", "io_profile": "db_remote", "priority_io": "high"}
    assert db["reclaimPolicy"] == "Retain" and db["allowVolumeExpansion"] is True
    assert shared["parameters"] == {"repl": "2", "sharedv4": "true"} and shared["reclaimPolicy"] == "Retain"
    assert scratch["parameters"] == {"repl": "1"} and scratch["volumeBindingMode"] == "Immediate"
    assert scratch["reclaimPolicy"] == "Delete"


@pytest.mark.parametrize("version", ["1.30.0", "1.33.0", "1.37.0"])
def test_storage_role_classes_validate_strictly(role_steps: dict[str, Any], version: str) -> None:
    for live in role_steps["live"].values():
        obj = dict(live, metadata={k: v for k, v in live["metadata"].items() if k in ("name", "labels", "annotations")})
        kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize(
    "setup, message",
    [
        ("Degraded", "Portworx is not healthy: StorageCluster portworx/px-cluster is in phase Degraded"),
        ("two-nodes", "StorageClass {db} asks for repl=3 but Portworx has {online} storage node(s) online"),
    ],
)
def test_storage_role_preflight_fails_before_creating_anything(
    kube: Kube, run: Runner, classes: Classes, setup: str, message: str
) -> None:
    shown = healthy_portworx(kube)
    names = role_names(classes)
    if setup == "Degraded":
        patch = patched_phase(kube, STC, "px-cluster", "Degraded")
    else:
        assert shown["nodes"] == 3, "this case takes one of three storage nodes offline"
        node = sorted(n["metadata"]["name"] for n in kube.json("get", SN, "-n", PX_NS)["items"])[-1]
        patch = patched_phase(kube, SN, node, "Offline")
    with patch:
        result, events = run(ROLE_TASK, role_vars(names))
    assert result.rc != 0
    expected = message.format(db=names["db"], online=shown["nodes"] - 1)
    assert expected in result.stdout, result.stdout[-3000:]
    assert "Nothing was created" in result.stdout
    assert events and writes(events) == [], verbs(events)
    assert all(classes.read(name) is None for name in names.values())


def test_storage_role_refuses_an_unknown_backend_before_any_request(run: Runner, classes: Classes) -> None:
    names = role_names(classes)
    result, events = run(ROLE_TASK, role_vars(names, "    storage_backend: ceph\n"))
    assert result.rc != 0
    assert "storage_backend" in result.stdout and "ceph" in result.stdout
    assert events == [], [e["requestURI"] for e in events]
    assert all(classes.read(name) is None for name in names.values())


def test_storage_role_generic_backend_is_idempotent(kube: Kube, run: Runner, classes: Classes, namespace: str) -> None:
    names = role_names(classes)
    pv = unique("px-test-dags")
    classes.made.append(("pv", pv))
    volumes = json.dumps([{"name": pv, "namespace": namespace, "claim": "af-dags", "size": "1Gi"}])
    extra = f"    storage_backend: generic\n    storage_generic_rwx_volumes: {volumes}\n"
    first, events = run(ROLE_TASK, role_vars(names, extra))
    assert first.rc == 0, first.stdout[-3000:]
    assert changed_tasks(first)
    expected = sorted([f"create storageclasses/{n}" for n in names.values()] + [f"create persistentvolumes/{pv}"])
    assert sorted(verbs(events)) == expected
    second, events = run(ROLE_TASK, role_vars(names, extra))
    assert second.rc == 0, second.stdout[-3000:]
    assert not changed_tasks(second) and writes(events) == [], verbs(events)
    assert classes.read(names["shared"])["provisioner"] == "kubernetes.io/no-provisioner"
    assert classes.read(names["db"])["provisioner"] == "rancher.io/local-path"
    live = kube.get("pv", pv)
    assert live["spec"]["accessModes"] == ["ReadWriteMany"] and live["spec"]["claimRef"]["name"] == "af-dags"
    assert live["spec"]["claimRef"]["namespace"] == namespace
    assert live["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert live["spec"]["storageClassName"] == names["shared"]
