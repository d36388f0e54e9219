"""px.airflow.objects_info against kubesim: reads what is there, waits that explain themselves, writes nothing.

Every play is run once (module-scoped fixtures) and several tests read its outcome; each test asserts
what the module answered against what the API holds, read back with the Python client.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from urllib.parse import parse_qs

import pytest
from helpers import ansible_env, run_playbook
from kubernetes import client
from kubesim_harness import start_kubesim

K8S = {"kubeconfig": "{{ lookup('env', 'SIM_KUBECONFIG') }}", "context": "kubesim"}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
NS = "oi"
OTHER_NS = "oi-other"

PASSWORD = "Pw-7f3e9c2a-objects-info"
TOKEN = "Tk-51b0d8e4-objects-info"
APPLIED_TOKEN = "Ap-c93a11f6-last-applied"
PX_APPLIED_TOKEN = "Px-0e6d27b5-last-applied"
SECRET_VALUES = (PASSWORD, TOKEN)

READY_DELAY = 4  # seconds from running to Ready for slow-web and slow-db (kubesim --delays)
NEVER_TIMEOUT = 3  # wait_timeout for never-web, whose pods never become Ready (kubesim --faults)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def play(sim, path, tasks, *args):
    """Run a JSON playbook of `tasks`; the result and the request-log entries made during the run."""
    path.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    before = sim.mark()
    result = run_playbook(path, *args, env=ansible_env(SIM_KUBECONFIG=str(sim.kubeconfig)), timeout=300)
    return result, sim.requests(before)


def info(name, queries, **options):
    return {"name": name, "px.airflow.objects_info": {**K8S, "queries": queries, **options}, "ignore_errors": True}


def task_seconds(result, name) -> float:
    for p in result.data["plays"]:
        for task in p["tasks"]:
            if task["task"]["name"] == name:
                duration = task["task"]["duration"]
                start = datetime.fromisoformat(duration["start"].replace("Z", "+00:00"))
                end = datetime.fromisoformat(duration["end"].replace("Z", "+00:00"))
                return (end - start).total_seconds()
    raise AssertionError(f"task {name!r} did not run")


def names(found: dict) -> list[str]:
    return sorted(
        f"{r['metadata'].get('namespace', '')}/{r['metadata']['name']}".lstrip("/") for r in found["resources"]
    )


def _configmap(name, namespace, labels, data):
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels}, "data": data}


def _workload(kind, name, replicas, image):
    """A Deployment or StatefulSet of `replicas` pods labelled app=<name>."""
    labels = {"app": name}
    body = {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": image.split(":")[0], "image": image}]},
            },
        },
    }
    if kind == "StatefulSet":
        body["spec"]["serviceName"] = name
    return body


def _deployment(name, replicas):
    return _workload("Deployment", name, replicas, "nginx:1.27")


def _statefulset(name, replicas):
    return _workload("StatefulSet", name, replicas, "postgres:16")


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    directory = tmp_path_factory.mktemp("objects-info-sim")
    faults = directory / "faults.yml"
    faults.write_text(json.dumps({"podsNeverReady": [{"namespace": NS, "name": "never-*"}]}))
    delays = directory / "delays.yml"
    delays.write_text(json.dumps({"ready": {"Deployment/slow-web": READY_DELAY, "StatefulSet/slow-db": READY_DELAY}}))
    instance = start_kubesim(
        directory,
        *("--portworx", "absent", "--portworx-nodes", "1"),
        *("--faults", str(faults), "--delays", str(delays)),
    )
    instance.client = instance.api_client()
    instance.directory = directory
    core = client.CoreV1Api(instance.client)
    for namespace in (NS, OTHER_NS):
        core.create_namespace({"metadata": {"name": namespace}})
    for name, namespace, labels in (
        ("cm-a", NS, {"app": "web", "tier": "front"}),
        ("cm-b", NS, {"app": "web", "tier": "back"}),
        ("cm-c", NS, {"app": "db"}),
        ("cm-d", OTHER_NS, {"app": "web"}),
    ):
        core.create_namespaced_config_map(namespace, _configmap(name, namespace, labels, {"key": f"value-of-{name}"}))
    core.create_namespaced_secret(
        NS,
        {
            "metadata": {"name": "creds", "labels": {"app": "web"}},
            "type": "Opaque",
            "data": {"password": b64(PASSWORD)},
            "stringData": {"token": TOKEN},
        },
    )
    core.create_namespaced_secret(NS, {"metadata": {"name": "plain", "labels": {"app": "db"}}, "data": {}})
    # A Secret as `kubectl apply -f` leaves it: its manifest, values included, in an annotation; and
    # one with such a copy in px.airflow/last-applied (as px.airflow.apply wrote it before it kept digests).
    for name, annotation, token, dump in (
        ("applied-creds", "kubectl.kubernetes.io/last-applied-configuration", APPLIED_TOKEN, json.dumps),
        ("px-applied-creds", "px.airflow/last-applied", PX_APPLIED_TOKEN, canonical_json),
    ):
        manifest = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": NS},
            "stringData": {"token": token},
        }
        core.create_namespaced_secret(
            NS,
            {"metadata": {"name": name, "annotations": {annotation: dump(manifest)}}, "stringData": {"token": token}},
        )
    yield instance
    instance.stop()


def canonical_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


@pytest.fixture(scope="module")
def reads(sim):
    """One play (with -vvv) of read-only queries: named objects, selectors, Secrets, mixed kinds in order."""
    tasks = [
        info(
            "read",
            [
                {"kind": "ConfigMap", "namespace": NS, "name": "cm-a"},  # 0
                {"kind": "ConfigMap", "namespace": NS, "label_selectors": ["app=web"]},  # 1
                {"kind": "ConfigMap", "namespace": NS, "label_selectors": ["app=web", "tier=front"]},  # 2
                {"kind": "ConfigMap", "label_selectors": ["app=web"]},  # 3: every namespace
                {"kind": "ConfigMap", "namespace": NS, "label_selectors": ["app in (db)"]},  # 4: set-based
                {"kind": "ConfigMap", "namespace": NS, "name": "no-such-map"},  # 5
            ],
        ),
        info(
            "secrets",
            [
                {"kind": "Secret", "namespace": NS, "name": "creds"},
                {"kind": "Secret", "namespace": NS},
                {"kind": "Secret", "label_selectors": ["app=web"]},
            ],
        ),
        info(
            "applied secrets",
            [
                {"kind": "Secret", "namespace": NS, "name": "applied-creds"},
                {"kind": "Secret", "namespace": NS, "name": "px-applied-creds"},
            ],
        ),
        info(
            "order",
            [
                {"kind": "Namespace", "name": OTHER_NS},
                {"kind": "ConfigMap", "namespace": NS, "name": "cm-c"},
                {"api_version": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "namespace": NS},
                {"api_version": "apps/v1", "kind": "Deployment", "namespace": OTHER_NS},
                {"kind": "Secret", "namespace": NS, "name": "plain"},
                {"kind": "ConfigMap", "namespace": OTHER_NS, "name": "cm-d"},
            ],
        ),
    ]
    return play(sim, sim.directory / "reads.json", tasks, "-vvv")


@pytest.fixture(scope="module")
def waits(sim):
    """Create two workloads that get ready after READY_DELAY s and one that never does, then wait in one play."""
    apps = client.AppsV1Api(sim.client)
    apps.create_namespaced_deployment(NS, _deployment("slow-web", 2))
    apps.create_namespaced_stateful_set(NS, _statefulset("slow-db", 2))
    apps.create_namespaced_deployment(NS, _deployment("never-web", 1))
    tasks = [
        info(
            "ready",
            [
                {"api_version": "apps/v1", "kind": "Deployment", "namespace": NS, "name": "slow-web", "wait": True},
                {"api_version": "apps/v1", "kind": "StatefulSet", "namespace": NS, "name": "slow-db", "wait": True},
                {"kind": "ConfigMap", "namespace": NS, "name": "cm-a"},
            ],
            wait_timeout=60,
        ),
        info(
            "never",
            [{"api_version": "apps/v1", "kind": "Deployment", "namespace": NS, "name": "never-web", "wait": True}],
            wait_timeout=NEVER_TIMEOUT,
        ),
        {
            **info(
                "never in check mode",
                [{"api_version": "apps/v1", "kind": "Deployment", "namespace": NS, "name": "never-web", "wait": True}],
                wait_timeout=60,
            ),
            "check_mode": True,
        },
    ]
    return play(sim, sim.directory / "waits.json", tasks)


@pytest.fixture(scope="module")
def bad_queries(sim):
    tasks = [
        info(
            "wait without a name",
            [
                {"kind": "ConfigMap", "namespace": NS, "name": "cm-a"},
                {"api_version": "apps/v1", "kind": "Deployment", "namespace": NS, "wait": True},
            ],
        ),
        info(
            "name and selectors",
            [{"kind": "ConfigMap", "namespace": NS, "name": "cm-a", "label_selectors": ["app=web"]}],
        ),
    ]
    return play(sim, sim.directory / "bad.json", tasks)


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    """A kubesim without controllers: no CRD is installed, the snapshot CRDs included."""
    directory = tmp_path_factory.mktemp("objects-info-bare")
    instance = start_kubesim(directory, "--no-controllers")
    client.CoreV1Api(instance.api_client()).create_namespace({"metadata": {"name": NS}})
    snap = "snapshot.storage.k8s.io/v1"
    tasks = [
        info(
            "crds",
            [
                {"api_version": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "namespace": NS},
                {"api_version": snap, "kind": "VolumeSnapshotClass", "name": "px-airflow-snapshots"},
                {"kind": "Namespace", "name": NS},
            ],
        ),
        info(
            "snapshots",
            [
                {"api_version": snap, "kind": "VolumeSnapshot", "namespace": NS},
                {"api_version": snap, "kind": "VolumeSnapshot", "namespace": NS, "name": "nightly"},
            ],
        ),
    ]
    yield play(instance, directory / "crds.json", tasks)
    instance.stop()


# ---------------------------------------------------------------- reads


def test_a_named_object_is_read_back_with_its_fields(sim, reads):
    result, _ = reads
    outcome = result.result("read")
    assert not outcome.get("failed"), outcome.get("msg")
    assert outcome["changed"] is False
    found = outcome["results"][0]
    assert (found["kind"], found["api_version"], found["api_found"]) == ("ConfigMap", "v1", True)
    assert len(found["resources"]) == 1
    obj = found["resources"][0]
    live = client.CoreV1Api(sim.client).read_namespaced_config_map("cm-a", NS)
    assert obj["kind"] == "ConfigMap" and obj["apiVersion"] == "v1"
    assert obj["metadata"]["name"] == "cm-a" and obj["metadata"]["namespace"] == NS
    assert obj["metadata"]["uid"] == live.metadata.uid
    assert obj["metadata"]["resourceVersion"] == live.metadata.resource_version
    assert obj["metadata"]["labels"] == {"app": "web", "tier": "front"} == live.metadata.labels
    assert obj["data"] == {"key": "value-of-cm-a"} == live.data
    # A name that does not exist is found nowhere, and that is not a failure.
    missing = outcome["results"][5]
    assert missing["api_found"] is True and missing["resources"] == []


def test_a_list_by_label_selector_returns_exactly_the_matching_objects(sim, reads):
    result, entries = reads
    outcome = result.result("read")
    assert not outcome.get("failed"), outcome.get("msg")
    results = outcome["results"]
    assert names(results[1]) == [f"{NS}/cm-a", f"{NS}/cm-b"]
    assert names(results[2]) == [f"{NS}/cm-a"]
    assert names(results[3]) == sorted([f"{NS}/cm-a", f"{NS}/cm-b", f"{OTHER_NS}/cm-d"])
    assert names(results[4]) == [f"{NS}/cm-c"]
    # The same selectors, asked of the API directly, answer the same objects.
    core = client.CoreV1Api(sim.client)
    direct = core.list_config_map_for_all_namespaces(label_selector="app=web").items
    assert names(results[3]) == sorted(f"{m.metadata.namespace}/{m.metadata.name}" for m in direct)
    for listed in results[1]["resources"] + results[3]["resources"]:
        assert listed["kind"] == "ConfigMap" and listed["metadata"]["labels"]["app"] == "web"
    # The selectors were sent to the API server, not applied after listing everything.
    sent = [parse_qs(e["query"]).get("labelSelector") for e in entries if e["path"].endswith("/configmaps")]
    assert ["app=web,tier=front"] in sent and ["app in (db)"] in sent, sent


def test_several_queries_in_one_task_answer_in_order(sim, reads):
    result, _ = reads
    outcome = result.result("order")
    assert not outcome.get("failed"), outcome.get("msg")
    answered = [(r["kind"], r["api_version"], r["api_found"], names(r)) for r in outcome["results"]]
    assert answered == [
        ("Namespace", "v1", True, [OTHER_NS]),
        ("ConfigMap", "v1", True, [f"{NS}/cm-c"]),
        ("ServiceMonitor", "monitoring.coreos.com/v1", False, []),
        ("Deployment", "apps/v1", True, []),
        ("Secret", "v1", True, [f"{NS}/plain"]),
        ("ConfigMap", "v1", True, [f"{OTHER_NS}/cm-d"]),
    ]
    assert outcome["results"][5]["resources"][0]["data"] == {"key": "value-of-cm-d"}


def test_a_secret_is_returned_without_its_values(sim, reads):
    result, _ = reads
    outcome = result.result("secrets")
    assert not outcome.get("failed"), outcome.get("msg")
    named, in_namespace, by_label = outcome["results"]
    assert names(named) == [f"{NS}/creds"]
    assert names(in_namespace) == sorted(f"{NS}/{n}" for n in ("applied-creds", "creds", "plain", "px-applied-creds"))
    assert names(by_label) == [f"{NS}/creds"]
    live = client.CoreV1Api(sim.client).read_namespaced_secret("creds", NS)
    assert sorted(live.data) == ["password", "token"]  # the values are there, in the API
    for found in (named, in_namespace, by_label):
        for secret in found["resources"]:
            assert secret["kind"] == "Secret"
            assert "data" not in secret and "stringData" not in secret, sorted(secret)
    assert named["resources"][0]["metadata"]["uid"] == live.metadata.uid
    assert named["resources"][0]["type"] == "Opaque"
    for value in SECRET_VALUES:
        for shown in (value, b64(value)):
            assert shown not in result.stdout and shown not in result.stderr, f"{shown!r} in the -vvv output"


def test_a_secret_applied_with_kubectl_or_px_airflow_apply_shows_no_value_in_its_annotations(sim, reads):
    """`kubectl apply` and px.airflow.apply keep the manifest, values included, in an annotation."""
    result, _ = reads
    outcome = result.result("applied secrets")
    assert not outcome.get("failed"), outcome.get("msg")
    for found, value in zip(outcome["results"], (APPLIED_TOKEN, PX_APPLIED_TOKEN), strict=True):
        (secret,) = found["resources"]
        assert "data" not in secret and "stringData" not in secret
        for shown in (value, b64(value)):
            assert shown not in json.dumps(secret), f"a value of {secret['metadata']['name']} is returned: {secret}"
            assert shown not in result.stdout and shown not in result.stderr


def test_a_kind_whose_crd_is_not_installed_answers_api_found_false(bare):
    result, entries = bare
    outcome = result.result("crds")
    assert not outcome.get("failed"), outcome.get("msg")
    monitors, classes, namespace = outcome["results"]
    assert monitors == {
        "kind": "ServiceMonitor",
        "api_version": "monitoring.coreos.com/v1",
        "api_found": False,
        "resources": [],
    }
    assert classes["api_found"] is False and classes["resources"] == []
    assert namespace["api_found"] is True and names(namespace) == [NS]
    assert not [e for e in entries if e["method"] in WRITE_METHODS]


def test_volume_snapshots_without_the_snapshot_crds_answer_api_found_false(bare):
    """VolumeSnapshot is a CRD kind too (kubernetes-csi/external-snapshotter), not a built-in one."""
    result, _ = bare
    outcome = result.result("snapshots")
    assert not outcome.get("failed"), outcome.get("msg")
    for found in outcome["results"]:
        assert (found["kind"], found["api_found"], found["resources"]) == ("VolumeSnapshot", False, [])


# ---------------------------------------------------------------- waits


def test_waiting_for_a_deployment_and_a_statefulset_that_become_ready(sim, waits):
    result, entries = waits
    outcome = result.result("ready")
    assert not outcome.get("failed"), outcome.get("msg")
    deployment, statefulset, configmap = outcome["results"]
    (web,) = deployment["resources"]
    (db,) = statefulset["resources"]
    assert web["metadata"]["name"] == "slow-web" and web["status"]["readyReplicas"] == 2
    assert web["status"]["availableReplicas"] == 2
    assert db["metadata"]["name"] == "slow-db" and db["status"]["readyReplicas"] == 2
    assert names(configmap) == [f"{NS}/cm-a"]
    # Each was read more than once: they were not ready yet when the module first looked.
    for plural, name in (("deployments", "slow-web"), ("statefulsets", "slow-db")):
        path = f"/apis/apps/v1/namespaces/{NS}/{plural}/{name}"
        assert len([e for e in entries if e["method"] == "GET" and e["path"] == path]) >= 2, path
    assert task_seconds(result, "ready") < 30
    apps = client.AppsV1Api(sim.client)
    assert apps.read_namespaced_deployment("slow-web", NS).status.ready_replicas == 2
    assert apps.read_namespaced_stateful_set("slow-db", NS).status.ready_replicas == 2


def test_waiting_for_a_deployment_that_never_gets_ready_times_out_and_explains(sim, waits):
    result, _ = waits
    outcome = result.result("never")
    assert outcome.get("failed") is True
    message = outcome["msg"]
    assert f"Timed out after {NEVER_TIMEOUT} s waiting for Deployment {NS}/never-web" in message, message
    # The explanation: the Deployment's conditions and its pod, which runs but is not Ready.
    assert f"Deployment {NS}/never-web:" in message, message
    assert "condition Available=False" in message, message
    assert "pod never-web-" in message, message
    seconds = task_seconds(result, "never")
    assert NEVER_TIMEOUT <= seconds < NEVER_TIMEOUT + 5, seconds
    status = client.AppsV1Api(sim.client).read_namespaced_deployment("never-web", NS).status
    assert not status.ready_replicas


def test_check_mode_skips_waits(waits):
    result, _ = waits
    outcome = result.result("never in check mode")
    assert not outcome.get("failed"), outcome.get("msg")
    assert outcome["results"][0]["resources"][0]["metadata"]["name"] == "never-web"
    assert task_seconds(result, "never in check mode") < 10


def test_wait_without_a_name_fails_naming_the_query_and_writes_nothing(bad_queries):
    result, entries = bad_queries
    outcome = result.result("wait without a name")
    assert outcome.get("failed") is True
    assert "queries[1]" in outcome["msg"] and "wait" in outcome["msg"] and "name" in outcome["msg"], outcome["msg"]
    assert "Deployment" in outcome["msg"]
    assert not [e for e in entries if e["method"] in WRITE_METHODS]


def test_name_and_label_selectors_together_fail_naming_the_query_and_write_nothing(bad_queries):
    result, entries = bad_queries
    outcome = result.result("name and selectors")
    assert outcome.get("failed") is True
    message = outcome["msg"]
    assert "queries[0]" in message and "name" in message and "label_selectors" in message, message
    assert not [e for e in entries if e["method"] in WRITE_METHODS]


def test_the_module_sends_no_write_request(reads, waits, bad_queries, bare):
    entries = [e for run in (reads, waits, bad_queries, bare) for e in run[1]]
    assert len([e for e in entries if e["method"] == "GET"]) > 20  # the log holds the module's reads
    assert sorted({e["method"] for e in entries}) == ["GET"], [
        (e["method"], e["path"]) for e in entries if e["method"] != "GET"
    ]
