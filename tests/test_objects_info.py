"""px.airflow.objects_info on the local real cluster: reads what is there, waits that explain themselves, no write.

Two plays run once each (module-scoped fixtures) and several tests read their outcome; each test
asserts what the module answered against what the API holds, read back with kubectl. The objects
live in two namespaces of this module's own and carry label keys unique to this run, so a query
over every namespace finds only them. Each run impersonates a user of its own (system:masters, as
px-admin), so the API server's audit log holds exactly the requests the module sent.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cluster.kube import MODULE_AGENT, Kube, unique
from helpers import PlaybookRun, ansible_env, run_playbook

BUSYBOX = "localhost/px-airflow/busybox:1.35"
SNAP = "snapshot.storage.k8s.io/v1"
READ_VERBS = {"get", "list", "watch"}

RUN = unique("oi")
APP = f"{RUN}.px-test/app"  # label keys of this run only
TIER = f"{RUN}.px-test/tier"
MISSING_API = f"{RUN}.px-test.example/v1"  # an API group no cluster serves

PASSWORD = "Pw-7f3e9c2a-objects-info"
TOKEN = "Tk-51b0d8e4-objects-info"
APPLIED_TOKEN = "Ap-c93a11f6-last-applied"
PX_APPLIED_TOKEN = "Px-0e6d27b5-last-applied"
SECRET_VALUES = (PASSWORD, TOKEN)

READY_DELAY = 6  # seconds: the readiness probes' initialDelaySeconds of slow-web and slow-db
NEVER_TIMEOUT = 3  # wait_timeout for never-web, whose readiness probe always fails


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def info(name: str, queries: list[dict[str, Any]], auth: dict[str, str], **options: Any) -> dict[str, Any]:
    return {"name": name, "px.airflow.objects_info": {**auth, "queries": queries, **options}, "ignore_errors": True}


def play(kube: Kube, path: Path, tasks: list[dict[str, Any]], *args: str) -> tuple[PlaybookRun, list[dict[str, Any]]]:
    """Run a JSON playbook of `tasks` as a user of its own; the result and the audit events of its requests."""
    path.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    who = unique("px-test-objects-info")
    mark = kube.audit.mark()
    env = ansible_env(K8S_AUTH_IMPERSONATE_USER=who, K8S_AUTH_IMPERSONATE_GROUPS="system:masters")
    result = run_playbook(path, *args, env=env, timeout=300)
    events = [
        e
        for e in kube.audit.events(mark, agent=MODULE_AGENT)
        if (e.get("impersonatedUser") or {}).get("username") == who
    ]
    return result, events


def task_seconds(result: PlaybookRun, name: str) -> float:
    for p in result.data["plays"]:
        for task in p["tasks"]:
            if task["task"]["name"] == name:
                duration = task["task"]["duration"]
                start = datetime.fromisoformat(duration["start"].replace("Z", "+00:00"))
                end = datetime.fromisoformat(duration["end"].replace("Z", "+00:00"))
                return (end - start).total_seconds()
    raise AssertionError(f"task {name!r} did not run")


def names(found: dict[str, Any]) -> list[str]:
    return sorted(
        f"{r['metadata'].get('namespace', '')}/{r['metadata']['name']}".lstrip("/") for r in found["resources"]
    )


def workload(kind: str, name: str, replicas: int, ready_after: int | None) -> dict[str, Any]:
    """A Deployment or StatefulSet of busybox pods that become Ready `ready_after` s after starting (None: never)."""
    labels = {"app": name}
    probe = {"exec": {"command": ["true"] if ready_after is not None else ["false"]}, "periodSeconds": 1}
    if ready_after is not None:
        probe["initialDelaySeconds"] = ready_after
    container = {
        "name": "main",
        "image": BUSYBOX,
        "imagePullPolicy": "IfNotPresent",
        "command": ["sleep", "3600"],
        "resources": {"requests": {"cpu": "5m", "memory": "8Mi"}, "limits": {"cpu": "50m", "memory": "32Mi"}},
        "readinessProbe": probe,
    }
    body = {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [container]},
            },
        },
    }
    if kind == "StatefulSet":
        body["spec"].update(serviceName=name, podManagementPolicy="Parallel")
    return body


@pytest.fixture(scope="module")
def other_namespace(kube: Kube) -> Iterator[str]:
    name = unique("m")
    kube.create_namespace(name)
    yield name
    kube.run("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def seeded(kube: Kube, module_namespace: str, other_namespace: str) -> dict[str, str]:
    """ConfigMaps and Secrets in two namespaces of this module's own."""
    ns, other = module_namespace, other_namespace
    for name, namespace, labels in (
        ("cm-a", ns, {APP: "web", TIER: "front"}),
        ("cm-b", ns, {APP: "web", TIER: "back"}),
        ("cm-c", ns, {APP: "db"}),
        ("cm-d", other, {APP: "web"}),
    ):
        kube.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "labels": labels},
                "data": {"key": f"value-of-{name}"},
            },
            namespace=namespace,
        )
    secrets = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds", "labels": {APP: "web"}},
            "type": "Opaque",
            "data": {"password": b64(PASSWORD)},
            "stringData": {"token": TOKEN},
        },
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "plain", "labels": {APP: "db"}}, "data": {}},
    ]
    # A Secret as `kubectl apply -f` leaves it: its manifest, values included, in an annotation; and
    # one with such a copy in px.airflow/last-applied (as px.airflow.apply wrote it before it kept digests).
    for name, annotation, token, dump in (
        ("applied-creds", "kubectl.kubernetes.io/last-applied-configuration", APPLIED_TOKEN, json.dumps),
        ("px-applied-creds", "px.airflow/last-applied", PX_APPLIED_TOKEN, canonical_json),
    ):
        manifest = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": ns},
            "stringData": {"token": token},
        }
        secrets.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "annotations": {annotation: dump(manifest)}},
                "stringData": {"token": token},
            }
        )
    kube.create(*secrets, namespace=ns)
    return {"ns": ns, "other": other}


@pytest.fixture(scope="module")
def reads(kube: Kube, seeded: dict[str, str], tmp_path_factory: pytest.TempPathFactory):
    """One play (with -vvv) of read-only queries, kinds not served, and two bad queries."""
    ns, other = seeded["ns"], seeded["other"]
    auth = kube.module_auth()
    tasks = [
        info(
            "read",
            [
                {"kind": "ConfigMap", "namespace": ns, "name": "cm-a"},  # 0
                {"kind": "ConfigMap", "namespace": ns, "label_selectors": [f"{APP}=web"]},  # 1
                {"kind": "ConfigMap", "namespace": ns, "label_selectors": [f"{APP}=web", f"{TIER}=front"]},  # 2
                {"kind": "ConfigMap", "label_selectors": [f"{APP}=web"]},  # 3: every namespace
                {"kind": "ConfigMap", "namespace": ns, "label_selectors": [f"{APP} in (db)"]},  # 4: set-based
                {"kind": "ConfigMap", "namespace": ns, "name": "no-such-map"},  # 5
            ],
            auth,
        ),
        info(
            "secrets",
            [
                {"kind": "Secret", "namespace": ns, "name": "creds"},
                {"kind": "Secret", "namespace": ns},
                {"kind": "Secret", "label_selectors": [f"{APP}=web"]},
            ],
            auth,
        ),
        info(
            "applied secrets",
            [
                {"kind": "Secret", "namespace": ns, "name": "applied-creds"},
                {"kind": "Secret", "namespace": ns, "name": "px-applied-creds"},
            ],
            auth,
        ),
        info(
            "order",
            [
                {"kind": "Namespace", "name": other},
                {"kind": "ConfigMap", "namespace": ns, "name": "cm-c"},
                {"api_version": MISSING_API, "kind": "Widget", "namespace": ns},
                {"api_version": "apps/v1", "kind": "Deployment", "namespace": other},
                {"kind": "Secret", "namespace": ns, "name": "plain"},
                {"kind": "ConfigMap", "namespace": other, "name": "cm-d"},
            ],
            auth,
        ),
        info(
            "crds",
            [
                {"api_version": MISSING_API, "kind": "Widget", "namespace": ns},
                {"api_version": MISSING_API, "kind": "WidgetClass", "name": "px-airflow-widgets"},
                {"kind": "Namespace", "name": ns},
            ],
            auth,
        ),
        info(
            "snapshots",
            [
                {"api_version": SNAP, "kind": "VolumeSnapshot", "namespace": ns},
                {"api_version": SNAP, "kind": "VolumeSnapshot", "namespace": ns, "name": "nightly"},
                {"api_version": SNAP, "kind": "VolumeSnapshotClass", "name": "px-csi-snapclass"},
                {"api_version": SNAP, "kind": "VolumeSnapshotClass", "name": unique("px-test-none")},
            ],
            auth,
        ),
        info(
            "wait without a name",
            [
                {"kind": "ConfigMap", "namespace": ns, "name": "cm-a"},
                {"api_version": "apps/v1", "kind": "Deployment", "namespace": ns, "wait": True},
            ],
            auth,
        ),
        info(
            "name and selectors",
            [{"kind": "ConfigMap", "namespace": ns, "name": "cm-a", "label_selectors": [f"{APP}=web"]}],
            auth,
        ),
    ]
    return play(kube, tmp_path_factory.mktemp("objects-info") / "reads.json", tasks, "-vvv")


@pytest.fixture(scope="module")
def waits(kube: Kube, seeded: dict[str, str], tmp_path_factory: pytest.TempPathFactory):
    """Two workloads that get Ready READY_DELAY s after their pods start, one that never does; one play waits."""
    ns = seeded["ns"]
    kube.create(
        workload("Deployment", "slow-web", 2, READY_DELAY),
        workload("StatefulSet", "slow-db", 2, READY_DELAY),
        workload("Deployment", "never-web", 1, None),
        namespace=ns,
    )
    auth = kube.module_auth()
    never = [{"api_version": "apps/v1", "kind": "Deployment", "namespace": ns, "name": "never-web", "wait": True}]
    tasks = [
        info(
            "ready",
            [
                {"api_version": "apps/v1", "kind": "Deployment", "namespace": ns, "name": "slow-web", "wait": True},
                {"api_version": "apps/v1", "kind": "StatefulSet", "namespace": ns, "name": "slow-db", "wait": True},
                {"kind": "ConfigMap", "namespace": ns, "name": "cm-a"},
            ],
            auth,
            wait_timeout=90,
        ),
        info("never", never, auth, wait_timeout=NEVER_TIMEOUT),
        {**info("never in check mode", never, auth, wait_timeout=60), "check_mode": True},
    ]
    return play(kube, tmp_path_factory.mktemp("objects-info") / "waits.json", tasks)


# ---------------------------------------------------------------- reads


def test_a_named_object_is_read_back_with_its_fields(kube: Kube, seeded: dict[str, str], reads) -> None:
    ns = seeded["ns"]
    result, _ = reads
    outcome = result.result("read")
    assert not outcome.get("failed"), outcome.get("msg")
    assert outcome["changed"] is False
    found = outcome["results"][0]
    assert (found["kind"], found["api_version"], found["api_found"]) == ("ConfigMap", "v1", True)
    assert len(found["resources"]) == 1
    obj = found["resources"][0]
    live = kube.get("configmap", "cm-a", ns)
    assert obj["kind"] == "ConfigMap" and obj["apiVersion"] == "v1"
    assert obj["metadata"]["name"] == "cm-a" and obj["metadata"]["namespace"] == ns
    assert obj["metadata"]["uid"] == live["metadata"]["uid"]
    assert obj["metadata"]["resourceVersion"] == live["metadata"]["resourceVersion"]
    assert obj["metadata"]["labels"] == {APP: "web", TIER: "front"} == live["metadata"]["labels"]
    assert obj["data"] == {"key": "value-of-cm-a"} == live["data"]
    # A name that does not exist is found nowhere, and that is not a failure.
    missing = outcome["results"][5]
    assert missing["api_found"] is True and missing["resources"] == []


def test_a_list_by_label_selector_returns_exactly_the_matching_objects(
    kube: Kube, seeded: dict[str, str], reads
) -> None:
    ns, other = seeded["ns"], seeded["other"]
    result, events = reads
    outcome = result.result("read")
    assert not outcome.get("failed"), outcome.get("msg")
    results = outcome["results"]
    assert names(results[1]) == [f"{ns}/cm-a", f"{ns}/cm-b"]
    assert names(results[2]) == [f"{ns}/cm-a"]
    assert names(results[3]) == sorted([f"{ns}/cm-a", f"{ns}/cm-b", f"{other}/cm-d"])
    assert names(results[4]) == [f"{ns}/cm-c"]
    # The same selectors, asked of the API directly, answer the same objects.
    direct = kube.json("get", "configmaps", "--all-namespaces", "-l", f"{APP}=web")["items"]
    assert names(results[3]) == sorted(f"{m['metadata']['namespace']}/{m['metadata']['name']}" for m in direct)
    for listed in results[1]["resources"] + results[3]["resources"]:
        assert listed["kind"] == "ConfigMap" and listed["metadata"]["labels"][APP] == "web"
    # The selectors were sent to the API server, not applied after listing everything.
    sent = [
        parse_qs(urlsplit(e["requestURI"]).query).get("labelSelector")
        for e in events
        if e["verb"] == "list" and (e.get("objectRef") or {}).get("resource") == "configmaps"
    ]
    assert [f"{APP}=web,{TIER}=front"] in sent and [f"{APP} in (db)"] in sent, sent


def test_several_queries_in_one_task_answer_in_order(seeded: dict[str, str], reads) -> None:
    ns, other = seeded["ns"], seeded["other"]
    result, _ = reads
    outcome = result.result("order")
    assert not outcome.get("failed"), outcome.get("msg")
    answered = [(r["kind"], r["api_version"], r["api_found"], names(r)) for r in outcome["results"]]
    assert answered == [
        ("Namespace", "v1", True, [other]),
        ("ConfigMap", "v1", True, [f"{ns}/cm-c"]),
        ("Widget", MISSING_API, False, []),
        ("Deployment", "apps/v1", True, []),
        ("Secret", "v1", True, [f"{ns}/plain"]),
        ("ConfigMap", "v1", True, [f"{other}/cm-d"]),
    ]
    assert outcome["results"][5]["resources"][0]["data"] == {"key": "value-of-cm-d"}


def test_a_secret_is_returned_without_its_values(kube: Kube, seeded: dict[str, str], reads) -> None:
    ns = seeded["ns"]
    result, _ = reads
    outcome = result.result("secrets")
    assert not outcome.get("failed"), outcome.get("msg")
    named, in_namespace, by_label = outcome["results"]
    assert names(named) == [f"{ns}/creds"]
    assert names(in_namespace) == sorted(f"{ns}/{n}" for n in ("applied-creds", "creds", "plain", "px-applied-creds"))
    assert names(by_label) == [f"{ns}/creds"]
    live = kube.get("secret", "creds", ns)
    assert sorted(live["data"]) == ["password", "token"]  # the values are there, in the API
    for found in (named, in_namespace, by_label):
        for secret in found["resources"]:
            assert secret["kind"] == "Secret"
            assert "data" not in secret and "stringData" not in secret, sorted(secret)
    assert named["resources"][0]["metadata"]["uid"] == live["metadata"]["uid"]
    assert named["resources"][0]["type"] == "Opaque"
    for value in SECRET_VALUES:
        for shown in (value, b64(value)):
            assert shown not in result.stdout and shown not in result.stderr, f"{shown!r} in the -vvv output"


def test_a_secret_applied_with_kubectl_or_px_airflow_apply_shows_no_value_in_its_annotations(
    kube: Kube, seeded: dict[str, str], reads
) -> None:
    """`kubectl apply` and px.airflow.apply keep the manifest, values included, in an annotation."""
    result, _ = reads
    outcome = result.result("applied secrets")
    assert not outcome.get("failed"), outcome.get("msg")
    for found, value in zip(outcome["results"], (APPLIED_TOKEN, PX_APPLIED_TOKEN), strict=True):
        (secret,) = found["resources"]
        assert "data" not in secret and "stringData" not in secret
        live = kube.get("secret", secret["metadata"]["name"], seeded["ns"])
        assert value in json.dumps(live["metadata"]["annotations"])  # the API keeps the copy
        for shown in (value, b64(value)):
            assert shown not in json.dumps(secret), f"a value of {secret['metadata']['name']} is returned: {secret}"
            assert shown not in result.stdout and shown not in result.stderr


def test_a_kind_whose_api_group_is_not_served_answers_api_found_false(seeded: dict[str, str], reads) -> None:
    result, _ = reads
    outcome = result.result("crds")
    assert not outcome.get("failed"), outcome.get("msg")
    widgets, classes, namespace = outcome["results"]
    assert widgets == {"kind": "Widget", "api_version": MISSING_API, "api_found": False, "resources": []}
    assert classes == {"kind": "WidgetClass", "api_version": MISSING_API, "api_found": False, "resources": []}
    assert namespace["api_found"] is True and names(namespace) == [seeded["ns"]]


def test_volume_snapshot_kinds_are_served_by_the_installed_snapshot_crds(
    kube: Kube, seeded: dict[str, str], reads
) -> None:
    """VolumeSnapshot is a CRD kind (kubernetes-csi/external-snapshotter); Portworx's cluster has the CRDs."""
    assert kube.get("crd", "volumesnapshots.snapshot.storage.k8s.io") is not None
    result, _ = reads
    outcome = result.result("snapshots")
    assert not outcome.get("failed"), outcome.get("msg")
    listed, named, snapclass, no_class = outcome["results"]
    for found in (listed, named):
        assert (found["kind"], found["api_found"], found["resources"]) == ("VolumeSnapshot", True, [])
    (found,) = snapclass["resources"]
    live = kube.get("volumesnapshotclass", "px-csi-snapclass")
    assert snapclass["api_found"] is True and found["driver"] == live["driver"] == "pxd.portworx.com"
    assert found["metadata"]["uid"] == live["metadata"]["uid"]
    assert no_class["api_found"] is True and no_class["resources"] == []


# ---------------------------------------------------------------- waits


def test_waiting_for_a_deployment_and_a_statefulset_that_become_ready(kube: Kube, seeded: dict[str, str], waits):
    ns = seeded["ns"]
    result, events = waits
    outcome = result.result("ready")
    assert not outcome.get("failed"), outcome.get("msg")
    deployment, statefulset, configmap = outcome["results"]
    (web,) = deployment["resources"]
    (db,) = statefulset["resources"]
    assert web["metadata"]["name"] == "slow-web" and web["status"]["readyReplicas"] == 2
    assert web["status"]["availableReplicas"] == 2
    assert db["metadata"]["name"] == "slow-db" and db["status"]["readyReplicas"] == 2
    assert names(configmap) == [f"{ns}/cm-a"]
    # Each was read more than once: they were not ready yet when the module first looked.
    for resource, name in (("deployments", "slow-web"), ("statefulsets", "slow-db")):
        reads_of = [
            e
            for e in events
            if e["verb"] == "get" and e["objectRef"].get("resource") == resource and e["objectRef"].get("name") == name
        ]
        assert len(reads_of) >= 2, (resource, name)
    assert task_seconds(result, "ready") < 60
    assert kube.get("deployment", "slow-web", ns)["status"]["readyReplicas"] == 2
    assert kube.get("statefulset", "slow-db", ns)["status"]["readyReplicas"] == 2


def test_waiting_for_a_deployment_that_never_gets_ready_times_out_and_explains(
    kube: Kube, seeded: dict[str, str], waits
) -> None:
    ns = seeded["ns"]
    result, _ = waits
    outcome = result.result("never")
    assert outcome.get("failed") is True
    message = outcome["msg"]
    assert f"Timed out after {NEVER_TIMEOUT} s waiting for Deployment {ns}/never-web" in message, message
    # The explanation: the Deployment's conditions and its pod, which runs but is not Ready.
    assert f"Deployment {ns}/never-web:" in message, message
    assert "condition Available=False" in message, message
    assert "pod never-web-" in message and "phase Running" in message, message
    seconds = task_seconds(result, "never")
    assert NEVER_TIMEOUT <= seconds < NEVER_TIMEOUT + 8, seconds
    status = kube.get("deployment", "never-web", ns)["status"]
    assert not status.get("readyReplicas")


def test_check_mode_skips_waits(waits) -> None:
    result, _ = waits
    outcome = result.result("never in check mode")
    assert not outcome.get("failed"), outcome.get("msg")
    assert outcome["results"][0]["resources"][0]["metadata"]["name"] == "never-web"
    assert task_seconds(result, "never in check mode") < 10


def test_wait_without_a_name_fails_naming_the_query_and_writes_nothing(reads) -> None:
    result, events = reads
    outcome = result.result("wait without a name")
    assert outcome.get("failed") is True
    assert "queries[1]" in outcome["msg"] and "wait" in outcome["msg"] and "name" in outcome["msg"], outcome["msg"]
    assert "Deployment" in outcome["msg"]
    assert events and {e["verb"] for e in events} <= READ_VERBS  # the play it ran in wrote nothing


def test_name_and_label_selectors_together_fail_naming_the_query_and_write_nothing(reads) -> None:
    result, events = reads
    outcome = result.result("name and selectors")
    assert outcome.get("failed") is True
    message = outcome["msg"]
    assert "queries[0]" in message and "name" in message and "label_selectors" in message, message
    assert events and {e["verb"] for e in events} <= READ_VERBS


def test_the_module_sends_no_write_request(reads, waits) -> None:
    events = [e for run in (reads, waits) for e in run[1]]
    assert len(events) > 20  # the log holds the module's reads
    assert {e["verb"] for e in events} <= READ_VERBS, [
        (e["verb"], e["requestURI"]) for e in events if e["verb"] not in READ_VERBS
    ]
