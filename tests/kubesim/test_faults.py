"""kubesim part 3: `--faults FILE` makes requests and objects fail as on a real cluster, reproducibly.

One kubesim for the module, started with a faults file; each test writes its rules (atomically),
waits for kubesim to reload them (GET /kubesim/v1/faults counts the loads), observes the fault
through the official `kubernetes` client, then heals the file and observes the fault gone.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubesim.faults import Faults, classify, parse_rules
from kubesim.rest import Request

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: kubesim_harness
from kubesim_harness import KubesimInstance, start_kubesim, wait_for
from simclient import RawClient


class FaultFile:
    """The faults file of a running kubesim: write rules, wait until they are loaded."""

    def __init__(self, path: Path, sim: KubesimInstance | None = None) -> None:
        self.path = path
        self.sim = sim

    def loads(self) -> int:
        assert self.sim is not None
        return int(RawClient(self.sim)("GET", "/kubesim/v1/faults").json()["loads"])

    def write(self, rules: dict[str, Any]) -> None:
        before = self.loads() if self.sim is not None else 0
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(rules))
        os.replace(tmp, self.path)  # atomic: kubesim never reads half a file
        if self.sim is not None:
            wait_for(lambda: self.loads() > before, timeout=5, message="faults reloaded")

    def heal(self) -> None:
        self.write({})

    def state(self) -> dict[str, Any]:
        assert self.sim is not None
        return dict(RawClient(self.sim)("GET", "/kubesim/v1/faults").json())


@pytest.fixture(scope="module")
def faults_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultFile]:
    base = tmp_path_factory.mktemp("faults")
    file = FaultFile(base / "faults.json")
    file.path.write_text("{}")
    sim = start_kubesim(base, "--faults", str(file.path))
    file.sim = sim
    yield file
    sim.stop()


@pytest.fixture
def faults(faults_file: FaultFile) -> Iterator[FaultFile]:
    yield faults_file
    faults_file.heal()


@pytest.fixture(scope="module")
def core(faults_file: FaultFile) -> client.CoreV1Api:
    assert faults_file.sim is not None
    return client.CoreV1Api(faults_file.sim.api_client())


@pytest.fixture
def ns(core: client.CoreV1Api) -> str:
    name = f"f-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    core.create_namespaced_config_map(name, {"metadata": {"name": "settings"}, "data": {"a": "1"}})
    return name


def status_of(error: ApiException) -> dict[str, Any]:
    return dict(json.loads(error.body))


# ---- request faults ----------------------------------------------------------------------------------


def test_429_with_retry_after_until_healed(faults: FaultFile, core: client.CoreV1Api, ns: str) -> None:
    rule = {"verb": "create", "resource": "configmaps", "namespace": ns, "error": 429, "retryAfter": 3}
    faults.write({"requests": [rule]})
    body = {"metadata": {"name": "new"}}
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map(ns, body)  # a POST: urllib3 does not retry it
    assert caught.value.status == 429
    assert caught.value.headers["Retry-After"] == "3"
    status = status_of(caught.value)
    assert (status["kind"], status["reason"], status["code"]) == ("Status", "TooManyRequests", 429)
    assert status["message"] == "Too many requests, please try again later."
    assert status["details"]["retryAfterSeconds"] == 3
    assert core.read_namespaced_config_map("settings", ns).data == {"a": "1"}  # other verbs unaffected
    faults.heal()
    assert core.create_namespaced_config_map(ns, body).metadata.name == "new"


def test_a_client_honours_retry_after_on_a_get(faults: FaultFile, core: client.CoreV1Api, ns: str) -> None:
    faults.write({"requests": [{"id": "busy", "verb": "list", "namespace": ns, "count": 1, "error": 429}]})
    started = time.monotonic()
    # urllib3 (under the kubernetes client) retries an idempotent request after Retry-After seconds.
    assert "settings" in [c.metadata.name for c in core.list_namespaced_config_map(ns).items]
    assert time.monotonic() - started >= 1.0
    assert faults.state()["requests"] == [{"id": "busy", "fired": 1}]


def test_count_limits_a_500_to_the_first_requests(faults: FaultFile, core: client.CoreV1Api, ns: str) -> None:
    faults.write(
        {
            "requests": [
                {
                    "id": "flaky-get",
                    "method": "GET",
                    "path": f"/api/v1/namespaces/{ns}/configmaps/*",
                    "count": 2,
                    "error": 500,
                }
            ]
        }
    )
    for _ in range(2):
        with pytest.raises(ApiException) as caught:
            core.read_namespaced_config_map("settings", ns)
        status = status_of(caught.value)
        assert (caught.value.status, status["reason"]) == (500, "InternalError")
        assert status["message"].startswith("Internal error occurred: ")
    assert core.read_namespaced_config_map("settings", ns).data == {"a": "1"}
    assert faults.state()["requests"] == [{"id": "flaky-get", "fired": 2}]
    assert faults.sim is not None
    logged = [r for r in faults.sim.requests() if r.get("fault") == "flaky-get"]
    assert [r["status"] for r in logged] == [500, 500]  # the request log says which rule answered


def test_409_conflict_on_writes(faults: FaultFile, core: client.CoreV1Api, ns: str) -> None:
    faults.write(
        {"requests": [{"pathRegex": f"^/api/v1/namespaces/{ns}/configmaps", "verb": ["update", "patch"], "error": 409}]}
    )
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_config_map("settings", ns, {"data": {"a": "2"}})
    status = status_of(caught.value)
    assert (caught.value.status, status["reason"]) == (409, "Conflict")
    assert status["message"].startswith('Operation cannot be fulfilled on configmaps "settings": ')
    assert status["details"] == {"name": "settings", "kind": "configmaps"}
    faults.heal()
    assert core.patch_namespaced_config_map("settings", ns, {"data": {"a": "2"}}).data == {"a": "2"}


def test_latency_delays_the_answer(faults: FaultFile, core: client.CoreV1Api, ns: str) -> None:
    faults.write({"requests": [{"verb": "get", "resource": "configmaps", "namespace": ns, "latency": 0.4}]})
    started = time.monotonic()
    assert core.read_namespaced_config_map("settings", ns).data == {"a": "1"}
    assert time.monotonic() - started >= 0.4


def test_a_dropped_connection_gets_no_answer(faults: FaultFile, ns: str) -> None:
    assert faults.sim is not None
    rule = {"id": "drop", "verb": "get", "resource": "configmaps", "namespace": ns, "error": "drop"}
    faults.write({"requests": [rule]})
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(faults.sim.kubeconfig), client_configuration=configuration)
    configuration.retries = False  # urllib3 would otherwise retry the GET (and meet the drop again)
    core = client.CoreV1Api(client.ApiClient(configuration))
    with pytest.raises(urllib3.exceptions.ProtocolError, match="Remote end closed connection without response"):
        core.read_namespaced_config_map("settings", ns)
    assert faults.state()["requests"] == [{"id": "drop", "fired": 1}]
    faults.heal()
    assert core.read_namespaced_config_map("settings", ns).data == {"a": "1"}


def test_an_invalid_rewrite_keeps_the_previous_rules(faults: FaultFile, core: client.CoreV1Api, ns: str) -> None:
    faults.write({"requests": [{"verb": "list", "resource": "configmaps", "namespace": ns, "error": 503}]})
    before = faults.loads()
    faults.path.write_text('{"requests": [{"error": 418}]}')
    time.sleep(0.6)  # three polls
    assert faults.loads() == before
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_config_map(ns)
    assert (caught.value.status, status_of(caught.value)["reason"]) == (503, "ServiceUnavailable")


def test_probability_is_reproducible_with_a_seed() -> None:
    def outcomes(seed: int) -> list[bool]:
        injector = Faults(None)
        injector.rules = parse_rules({"seed": seed, "requests": [{"probability": 0.5, "error": 500}]})
        request = Request("GET", "/api/v1/namespaces/a/pods", {}, {}, b"")
        return [injector.request_hook(request) is not None for _ in range(40)]

    first = outcomes(7)
    assert first == outcomes(7)  # same seed, same failures
    assert first != outcomes(8)
    assert 5 < sum(first) < 35


def test_requests_are_classified_like_authorization_does() -> None:
    def target(method: str, path: str, query: dict[str, list[str]] | None = None, body: bytes = b"") -> Any:
        t = classify(Request(method, path, query or {}, {}, body))
        return (t.verb, t.resource, t.namespace, t.name)

    assert target("GET", "/api/v1/namespaces/a/pods") == ("list", "pods", "a", "")
    assert target("GET", "/api/v1/pods", {"watch": ["true"]}) == ("watch", "pods", "", "")
    assert target("GET", "/api/v1/namespaces/a/pods/p/log") == ("get", "pods/log", "a", "p")
    assert target("POST", "/apis/apps/v1/namespaces/a/deployments", body=b'{"metadata":{"name":"w"}}') == (
        "create",
        "deployments",
        "a",
        "w",
    )
    assert target("DELETE", "/api/v1/namespaces/a/configmaps") == ("deletecollection", "configmaps", "a", "")
    assert target("PATCH", "/api/v1/namespaces/a") == ("patch", "namespaces", "", "a")
    assert target("GET", "/version") == ("get", "", "", "")


def test_unknown_rule_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown key"):
        parse_rules({"requests": [{"verb": "get", "error": 500, "typo": 1}]})
    with pytest.raises(ValueError, match="error must be one of"):
        parse_rules({"requests": [{"error": 404}]})


# ---- object faults ------------------------------------------------------------------------------------


def simulated_pod(name: str, **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels or {"app": name}},
        "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]},
    }


def ready(core: client.CoreV1Api, ns: str, name: str) -> bool:
    pod = core.read_namespaced_pod(name, ns)
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def test_pods_never_ready_until_healed(faults: FaultFile, core: client.CoreV1Api, ns: str) -> None:
    faults.write({"podsNeverReady": [{"namespace": ns, "labels": {"app": "web"}}]})
    core.create_namespaced_pod(ns, simulated_pod("web-1", app="web"))
    core.create_namespaced_pod(ns, simulated_pod("other"))
    wait_for(lambda: ready(core, ns, "other"), message="the other pod ready")
    web = wait_for(
        lambda: (p := core.read_namespaced_pod("web-1", ns)).status.phase == "Running" and p, message="web running"
    )
    time.sleep(0.5)
    assert not ready(core, ns, "web-1")
    condition = next(c for c in core.read_namespaced_pod("web-1", ns).status.conditions if c.type == "Ready")
    assert (condition.reason, condition.message) == ("ContainersNotReady", "containers with unready status: [main]")
    assert web.status.container_statuses[0].state.running is not None
    faults.heal()
    wait_for(lambda: ready(core, ns, "web-1"), timeout=5, message="web ready once healed")


def test_claims_never_bind_until_healed(faults: FaultFile, core: client.CoreV1Api, ns: str) -> None:
    assert faults.sim is not None
    storage = client.StorageV1Api(faults.sim.api_client())
    sc = f"px-{ns}"
    storage.create_storage_class({"metadata": {"name": sc}, "provisioner": "pxd.portworx.com"})
    faults.write({"claimsNeverBind": [{"namespace": ns, "name": "data-*"}]})
    body = {
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": sc,
            "resources": {"requests": {"storage": "1Gi"}},
        }
    }
    core.create_namespaced_persistent_volume_claim(ns, {"metadata": {"name": "data-0"}, **body})
    core.create_namespaced_persistent_volume_claim(ns, {"metadata": {"name": "logs"}, **body})
    wait_for(lambda: core.read_namespaced_persistent_volume_claim("logs", ns).status.phase == "Bound", message="bound")
    time.sleep(0.5)
    assert core.read_namespaced_persistent_volume_claim("data-0", ns).status.phase == "Pending"
    faults.heal()
    wait_for(
        lambda: core.read_namespaced_persistent_volume_claim("data-0", ns).status.phase == "Bound",
        timeout=5,
        message="claim bound once healed",
    )


def test_image_pulls_fail_with_the_kubelets_states_and_events(
    faults: FaultFile, core: client.CoreV1Api, ns: str
) -> None:
    faults.write({"imagePullErrors": [{"namespace": ns, "image": "apache/airflow:*"}]})
    pod = simulated_pod("worker")
    pod["spec"]["containers"][0]["image"] = "apache/airflow:3.3.2"
    core.create_namespaced_pod(ns, pod)

    def waiting(reason: str) -> Any:
        statuses = core.read_namespaced_pod("worker", ns).status.container_statuses or []
        state = statuses[0].state.waiting if statuses else None
        return state if state is not None and state.reason == reason else None

    pull = wait_for(lambda: waiting("ErrImagePull"), timeout=5, message="ErrImagePull")
    ref = "docker.io/apache/airflow:3.3.2"
    assert pull.message == (
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{ref}": failed to resolve reference '
        f'"{ref}": {ref}: not found'
    )
    backoff = wait_for(lambda: waiting("ImagePullBackOff"), timeout=5, message="ImagePullBackOff")
    assert backoff.message.startswith('Back-off pulling image "apache/airflow:3.3.2": rpc error')
    assert core.read_namespaced_pod("worker", ns).status.phase == "Pending"

    def events() -> list[tuple[str, str, str]]:
        found = core.list_namespaced_event(ns, field_selector="involvedObject.name=worker").items
        return [(e.type, e.reason, e.message) for e in found]

    wait_for(lambda: ("Warning", "Failed", "Error: ImagePullBackOff") in events(), message="events")
    seen = events()
    assert ("Warning", "Failed", f'Failed to pull image "apache/airflow:3.3.2": {pull.message}') in seen
    assert ("Warning", "Failed", "Error: ErrImagePull") in seen
    assert ("Normal", "BackOff", 'Back-off pulling image "apache/airflow:3.3.2"') in seen
    faults.heal()
    wait_for(lambda: core.read_namespaced_pod("worker", ns).status.phase == "Running", timeout=5, message="running")


def test_a_bad_faults_file_stops_kubesim_from_starting(tmp_path: Path) -> None:
    bad = tmp_path / "faults.yaml"
    bad.write_text("requests:\n  - verb: get\n    error: 418\n")
    with pytest.raises(AssertionError, match="exited with 2"):
        start_kubesim(tmp_path, "--faults", str(bad))
    assert (
        "requests[0].error must be one of 429, 409, 500, 503, drop" in next(tmp_path.glob("kubesim-*.out")).read_text()
    )
