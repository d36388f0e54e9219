"""Faults from real components: px.airflow's modules and roles under them, run with ansible-playbook.

Nothing is simulated. Throttling comes from the API server's Priority and Fairness (a priority level
of our own for a ServiceAccount of our own), server errors and timeouts from a validating admission
webhook of ours (tests/cluster/webhook.py, a host process on 127.0.0.1 stopped by its PID), a 409
from a second writer, stuck waits from objects that cannot become ready, and a killed run from
SIGKILL. Every test works in a namespace of its own; cluster-scoped objects (StorageClasses, webhook
configurations, FlowSchemas, priority levels) get unique names and are deleted afterwards. Outcomes
are read back from the API, the volume directories and the API server's audit log.

The two `disruptive` tests stop a component every other test shares (the API server, the kubelet)
and start it again: run them alone (`-m disruptive`), never next to other tests on the cluster.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import signal
import ssl
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from helpers import ROOT, VENV_BIN, PlaybookRun, ansible_env, run_playbook

from .kube import MODULE_AGENT, WRITE_VERBS, Kube, pod, unique
from .webhook import Webhook, free_port

pytestmark = pytest.mark.slow

BUSYBOX = "localhost/px-airflow/busybox:1.35"
APF = "flowcontrol.apiserver.k8s.io/v1"


# ---- helpers ----------------------------------------------------------------------------------------------


def write_play(path: Path, tasks: list[dict[str, Any]], **play: Any) -> Path:
    path.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, **play, "tasks": tasks}]))
    return path


def playbook_argv(path: Path, *args: str) -> list[str]:
    """What helpers.run_playbook runs, for a run the test watches (or kills) while it goes."""
    return [
        str(VENV_BIN / "ansible-playbook"),
        *("-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter={{ ansible_playbook_python }}"),
        str(path),
        *args,
    ]


def start_playbook(path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        playbook_argv(path, *args),
        cwd=ROOT,
        env=env or ansible_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: a SIGKILL reaches its workers too
    )


def finish(proc: subprocess.Popen, timeout: float) -> PlaybookRun:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        raise
    return PlaybookRun(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))


def task_seconds(result: PlaybookRun, name: str) -> float:
    for p in result.data["plays"]:
        for task in p["tasks"]:
            if task["task"]["name"] == name:
                duration = task["task"]["duration"]
                return (stamp(duration["end"]) - stamp(duration["start"])).total_seconds()
    raise AssertionError(f"task {name!r} did not run")


def stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def apply_task(name: str, auth: dict[str, str], definitions: list[dict], **options: Any) -> dict[str, Any]:
    return {"name": name, "px.airflow.apply": {**auth, "definitions": definitions, **options}, "ignore_errors": True}


def configmap(name: str, ns: str, data: dict[str, str], labels: dict[str, str] | None = None) -> dict[str, Any]:
    metadata = {"name": name, "namespace": ns, **({"labels": labels} if labels else {})}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def deployment(name: str, ns: str, command: list[str], image: str = BUSYBOX, **container: Any) -> dict[str, Any]:
    """One restricted busybox pod (what the namespaces' Pod Security asks) under a Deployment."""
    spec = pod(name, command, image=image, restart="Always")["spec"]
    spec["containers"][0].update(container)
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }


def job(name: str, ns: str, script: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"backoffLimit": 0, "template": {"spec": pod(name, ["sh", "-c", script])["spec"]}},
    }


def module_events(kube: Kube, mark: int, ns: str) -> list[dict[str, Any]]:
    return kube.audit.events(mark, agent=MODULE_AGENT, namespace=ns)


def module_writes(kube: Kube, mark: int, ns: str) -> list[dict[str, Any]]:
    return kube.audit.writes(mark, agent=MODULE_AGENT, namespace=ns)


def code(event: dict[str, Any]) -> int | None:
    return (event.get("responseStatus") or {}).get("code")


class AuditTail:
    """Reads the audit log as it grows: each call answers the completed requests logged since the last."""

    def __init__(self, path: Path, since: int) -> None:
        self.path, self.offset, self.rest = path, since, b""

    def new(self) -> list[dict[str, Any]]:
        with open(self.path, "rb") as log:
            log.seek(self.offset)
            data = log.read()
        self.offset += len(data)
        lines = (self.rest + data).split(b"\n")
        self.rest = lines.pop()  # the line being written, if any
        events = []
        for line in lines:
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if event.get("stage") == "ResponseComplete":
                    events.append(event)
        return events


# ---- 429: API Priority and Fairness ----------------------------------------------------------------------

# Seconds our slow webhook keeps each burst request (and with it the level's seat) at the most: the test
# releases it as soon as a module's request has been refused, so the module's retry finds the seat free.
SEAT_HOLD = 20
BURST_LABEL = {"px-test/burst": "true"}


class Caller:
    """HTTPS requests to the API server as a ServiceAccount (its token), one connection kept open."""

    def __init__(self, server: str, ca_pem: bytes, token: str) -> None:
        url = urlsplit(server)
        self.host, self.port, self.token = url.hostname, url.port or 443, token
        self.context = ssl.create_default_context(cadata=ca_pem.decode())
        self.conn: http.client.HTTPSConnection | None = None

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, http.client.HTTPMessage]:
        if self.conn is None:
            self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=30)
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        try:
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise
        return response.status, response.headers


class Burst(threading.Thread):
    """Keeps the priority level's one seat busy: dry-run creates our webhook holds until released.

    One request at a time, so the burst itself is never refused and the API server's Retry-After
    (which grows with the refusals it counts) stays at its floor of 1 s. `paused` lets a request through
    (with the webhook's release of the one it holds).
    """

    def __init__(self, caller: Caller, ns: str) -> None:
        super().__init__(daemon=True)
        self.caller, self.ns = caller, ns
        self.paused, self.stopped = threading.Event(), threading.Event()
        self.statuses: Counter[int] = Counter()

    def run(self) -> None:
        body = configmap("burst", self.ns, {"a": "1"}, BURST_LABEL)
        path = f"/api/v1/namespaces/{self.ns}/configmaps?dryRun=All"
        while not self.stopped.is_set():
            if self.paused.is_set():
                time.sleep(0.02)
                continue
            try:
                status, _ = self.caller.request("POST", path, body)
            except (OSError, http.client.HTTPException):
                status = 0
            self.statuses[status] += 1
            if status != 201:
                time.sleep(0.05)


def _cluster(kube: Kube) -> dict[str, Any]:
    """The kubeconfig's cluster entry of our context: server and CA."""
    admin = yaml.safe_load(kube.kubeconfig.read_text())
    context = next(c for c in admin["contexts"] if c["name"] == kube.context)["context"]
    return next(c for c in admin["clusters"] if c["name"] == context["cluster"])["cluster"]


def _service_account_kubeconfig(kube: Kube, path: Path, ns: str, sa: str) -> tuple[str, bytes, str]:
    """A kubeconfig of the ServiceAccount's own (a token from `kubectl create token`): server, CA, token."""
    token = kube.run("create", "token", sa, "-n", ns, "--duration=30m").strip()
    cluster = _cluster(kube)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "px", "cluster": cluster}],
        "users": [{"name": sa, "user": {"token": token}}],
        "contexts": [{"name": "throttled", "context": {"cluster": "px", "user": sa, "namespace": ns}}],
        "current-context": "throttled",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return cluster["server"], base64.b64decode(cluster["certificate-authority-data"]), token


def _throttle_objects(level: str, schema: str, ns: str, sa: str) -> list[dict[str, Any]]:
    """A priority level with no seats of its own that may not borrow, and a FlowSchema for our ServiceAccount only.

    With a concurrency limit of 0 the API server still runs one request when none of the level runs,
    so the level runs exactly one request at a time and refuses (Reject) whatever comes meanwhile.
    """
    return [
        {
            "apiVersion": APF,
            "kind": "PriorityLevelConfiguration",
            "metadata": {"name": level},
            "spec": {
                "type": "Limited",
                "limited": {
                    "nominalConcurrencyShares": 0,
                    "lendablePercent": 0,
                    "borrowingLimitPercent": 0,
                    "limitResponse": {"type": "Reject"},
                },
            },
        },
        {
            "apiVersion": APF,
            "kind": "FlowSchema",
            "metadata": {"name": schema},
            "spec": {
                "priorityLevelConfiguration": {"name": level},
                "matchingPrecedence": 500,
                "distinguisherMethod": {"type": "ByUser"},
                "rules": [
                    {
                        "subjects": [{"kind": "ServiceAccount", "serviceAccount": {"name": sa, "namespace": ns}}],
                        "resourceRules": [
                            {
                                "verbs": ["*"],
                                "apiGroups": ["*"],
                                "resources": ["*"],
                                "namespaces": ["*"],
                                "clusterScope": True,
                            }
                        ],
                        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                    }
                ],
            },
        },
    ]


def test_throttled_by_priority_and_fairness_the_modules_wait_as_told_and_converge(
    kube: Kube, namespace: str, tmp_path: Path
) -> None:
    ns, sa = namespace, "px-test-throttled"
    user = f"system:serviceaccount:{ns}:{sa}"
    kube.run("create", "serviceaccount", sa, "-n", ns)
    kube.run("create", "rolebinding", f"{sa}-edit", "--clusterrole=edit", f"--serviceaccount={ns}:{sa}", "-n", ns)
    kubeconfig = tmp_path / "throttled.kubeconfig"
    server, ca_pem, token = _service_account_kubeconfig(kube, kubeconfig, ns, sa)
    auth = {"kubeconfig": str(kubeconfig), "context": "throttled"}
    level, schema, hook = unique("px-test-level"), unique("px-test-flow"), unique("px-test-slow")
    webhook = Webhook(tmp_path / "webhook", slow=SEAT_HOLD).start()
    burst = Burst(Caller(server, ca_pem, token), ns)
    # Each module task starts once the burst holds the seat (the webhook's `holding` file), so its first
    # request is refused whatever the machine's pace.
    seat_taken = {
        "name": "seat taken",
        "ansible.builtin.wait_for": {"path": str(webhook.directory / "holding"), "timeout": 60},
    }
    configmaps = apply_task("configmaps", auth, [configmap(f"cm-{i}", ns, {"n": str(i)}) for i in range(2)])
    secret = {
        "name": "secret",
        "px.airflow.secrets": {**auth, "name": "throttled", "namespace": ns, "keys": [{"name": "token"}]},
        "ignore_errors": True,
    }
    path = write_play(tmp_path / "throttled.yml", [seat_taken, configmaps, seat_taken, secret])
    try:
        kube.apply(
            webhook.configuration(
                hook,
                ns,
                "slow",
                timeout_seconds=SEAT_HOLD + 5,
                operations=("CREATE",),
                resources=("configmaps",),
                object_labels=BURST_LABEL,
            ),
            *_throttle_objects(level, schema, ns, sa),
        )
        level_uid = kube.get("prioritylevelconfiguration", level)["metadata"]["uid"]
        probe = Caller(server, ca_pem, token)
        listing = f"/api/v1/namespaces/{ns}/configmaps"
        kube.wait_for(
            "the ServiceAccount's requests to land in our priority level",
            lambda: probe.request("GET", listing)[1].get("X-Kubernetes-PF-PriorityLevel-UID") == level_uid,
            30,
            0.2,
        )
        burst.start()
        _status, headers = kube.wait_for(
            "a request of the ServiceAccount refused with 429 while the burst holds the seat",
            lambda: answer if (answer := probe.request("GET", listing))[0] == 429 else None,
            30,
            0.1,
        )
        retry_after = headers.get("Retry-After")
        assert retry_after is not None and int(retry_after) >= 1, dict(headers)
        assert any(r["mode"] == "slow" and r["namespace"] == ns for r in webhook.requests())

        # The burst holds the seat while the playbook runs; after each 429 the module gets, it is let
        # through once (the burst pauses and its held request goes, until the audit log shows the
        # module's next request).
        mark = kube.audit.mark()
        tail, done, seen = AuditTail(kube.audit.path, mark), threading.Event(), []

        def follow() -> None:
            while not done.is_set():
                for event in tail.new():
                    if event["user"].get("username") == user and event.get("userAgent", "").startswith(MODULE_AGENT):
                        seen.append(event)
                        if code(event) == 429:
                            burst.paused.set()
                            webhook.release_slow()
                        else:
                            webhook.release_slow(False)
                            burst.paused.clear()
                time.sleep(0.05)

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        try:
            result = run_playbook(path, timeout=300)
        finally:
            burst.stopped.set()
            webhook.release_slow()
            burst.join(10)
            time.sleep(0.3)
            done.set()
            follower.join(10)
        assert result.rc == 0, result.stdout[-4000:]
        assert result.result("configmaps")["changed"] and result.result("secret")["changed"]

        refused = [e for e in seen if code(e) == 429]
        described = kube.audit.describe(seen)
        assert refused, described
        assert {e["objectRef"]["resource"] for e in refused} == {"configmaps", "secrets"}, (described, burst.statuses)
        # Each refused request was sent again, the same, no sooner than Retry-After (at least 1 s) said;
        # without it the module's first retry would come after 0.5-0.63 s.
        ordered = sorted(seen, key=lambda e: e["requestReceivedTimestamp"])
        for event in refused:
            following = ordered[ordered.index(event) + 1]
            assert (following["verb"], following["requestURI"]) == (event["verb"], event["requestURI"]), described
            waited = (stamp(following["requestReceivedTimestamp"]) - stamp(event["stageTimestamp"])).total_seconds()
            assert waited >= 0.9, (waited, described)
        assert code(ordered[-1]) // 100 == 2
        assert burst.statuses[201] > 0, burst.statuses

        for i in range(2):
            assert kube.get("configmap", f"cm-{i}", ns)["data"] == {"n": str(i)}
        assert set(kube.get("secret", "throttled", ns)["data"]) == {"token"}

        # Converged: once the burst is over, a second run changes nothing and writes nothing.
        mark = kube.audit.mark()
        again = run_playbook(write_play(tmp_path / "again.yml", [configmaps, secret]), timeout=300)
        assert again.rc == 0, again.stdout[-4000:]
        assert not again.result("configmaps")["changed"] and not again.result("secret")["changed"]
        assert kube.audit.writes(mark, user=user) == []
        assert kube.audit.requests(mark, user=user)  # it did run, as the ServiceAccount
    finally:
        burst.stopped.set()
        webhook.release_slow()
        kube.delete("flowschema", schema, wait=False)
        kube.delete("prioritylevelconfiguration", level, wait=False)
        kube.delete("validatingwebhookconfiguration", hook, wait=False)
        webhook.stop()
    assert kube.get("flowschema", schema) is None and kube.get("prioritylevelconfiguration", level) is None


# ---- 500 and timeouts: a validating admission webhook of ours ---------------------------------------------

HANG = 5  # seconds the hanging webhook takes; its timeoutSeconds is 1
CAUSES = {
    "fail": 'an error on the server ("webhook broken on purpose")',
    "hang": "context deadline exceeded",
    "down": "connect: connection refused",
}


def _webhook_refuses(kube: Kube, ns: str) -> bool:
    out = kube.run("create", "configmap", "probe", "-n", ns, "--from-literal=a=1", "--dry-run=server", check=False)
    return "failed calling webhook" in out


@pytest.fixture(scope="module")
def refused(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """One namespace per mode, each behind a webhook of ours (failurePolicy Fail) that fails its own way.

    The three playbook runs go at the same time (each mostly waits in the module's back-off), then the
    webhook configurations are removed and each is run again.
    """
    directory = tmp_path_factory.mktemp("webhook")
    webhook = Webhook(directory / "server", hang=HANG).start()
    auth = kube.module_auth()
    runs: dict[str, dict[str, Any]] = {}
    try:
        for mode in CAUSES:
            ns, name = unique("t"), unique("px-test-webhook")
            runs[mode] = {"ns": ns, "configuration": name}
            kube.create_namespace(ns)
            # What a failed run must leave as it was: written before the webhook is in place.
            kube.apply(configmap("kept", ns, {"v": "1"}))
            port = free_port() if mode == "down" else None
            kube.apply(webhook.configuration(name, ns, mode, port=port, timeout_seconds=1))
        for mode, run in runs.items():
            kube.wait_for(
                f"the {mode} webhook to refuse writes in {run['ns']}",
                lambda ns=run["ns"]: _webhook_refuses(kube, ns),
                60,
            )
            run["kept"] = kube.get("configmap", "kept", run["ns"])
        mark = kube.audit.mark()
        started = {}
        for mode, run in runs.items():
            ns = run["ns"]
            definitions = [configmap("kept", ns, {"v": "2"}), configmap("new", ns, {"v": "2"})]
            path = write_play(directory / f"{mode}.yml", [apply_task("write", auth, definitions)])
            run["playbook"] = path
            started[mode] = (time.monotonic(), start_playbook(path))
        for mode, (t0, proc) in started.items():
            run = runs[mode]
            run["failed"] = finish(proc, 300)
            run["seconds"] = time.monotonic() - t0
        for run in runs.values():
            ns = run["ns"]
            run["kept_after"], run["new_after"] = kube.get("configmap", "kept", ns), kube.get("configmap", "new", ns)
            run["failed_events"] = module_events(kube, mark, ns)
            run["webhook_saw"] = [r for r in webhook.requests() if r["namespace"] == ns and r["name"] != "probe"]
            kube.delete("validatingwebhookconfiguration", run["configuration"])
        for run in runs.values():
            kube.wait_for(
                f"writes in {run['ns']} to pass again", lambda ns=run["ns"]: not _webhook_refuses(kube, ns), 60
            )
        mark = kube.audit.mark()
        for run in runs.values():
            ns = run["ns"]
            definitions = [configmap("kept", ns, {"v": "2"}), configmap("new", ns, {"v": "2"})]
            tasks = [apply_task("write", auth, definitions), apply_task("again", auth, definitions)]
            run["proc"] = start_playbook(write_play(directory / f"{ns}-rerun.yml", tasks))
        for run in runs.values():
            run["rerun"] = finish(run.pop("proc"), 300)
        for run in runs.values():
            ns = run["ns"]
            run["rerun_writes"] = module_writes(kube, mark, ns)
            run["kept_final"], run["new_final"] = kube.get("configmap", "kept", ns), kube.get("configmap", "new", ns)
        yield runs
    finally:
        for run in runs.values():
            kube.delete("validatingwebhookconfiguration", run["configuration"], wait=False)
        webhook.stop()
        for run in runs.values():
            kube.run("delete", "namespace", run["ns"], "--wait=false", "--ignore-not-found", check=False)


@pytest.mark.parametrize("mode", list(CAUSES))
def test_a_failing_webhook_fails_the_module_clearly_leaves_nothing_half_written_then_a_rerun_converges(
    refused: dict[str, dict[str, Any]], mode: str
) -> None:
    run = refused[mode]
    ns = run["ns"]
    outcome = run["failed"].result("write")
    assert outcome.get("failed") is True, outcome
    message = outcome["msg"]
    # What failed, the API server's answer, which webhook and why.
    assert message.startswith(f"Failed to update ConfigMap {ns}/kept: 500 Internal Server Error"), message
    assert f'failed calling webhook "{mode}.{run["configuration"]}' in message, message
    assert CAUSES[mode] in message, message
    # Nothing half-written: the update was refused as a whole, the next object never sent.
    assert run["kept_after"]["data"] == {"v": "1"}
    assert run["kept_after"]["metadata"]["resourceVersion"] == run["kept"]["metadata"]["resourceVersion"]
    assert run["new_after"] is None
    writes = [e for e in run["failed_events"] if e["verb"] in WRITE_VERBS]
    assert len(writes) >= 2, Kube.audit.describe(writes)  # 500 is retried with back-off, then given up
    assert {(e["verb"], e["objectRef"]["name"], code(e)) for e in writes} == {("patch", "kept", 500)}
    if mode == "down":
        assert run["webhook_saw"] == []
    else:
        assert len(run["webhook_saw"]) == len(writes)
        assert {(r["operation"], r["name"]) for r in run["webhook_saw"]} == {("UPDATE", "kept")}
    assert run["seconds"] < 120
    # Once the webhook configuration is gone, a re-run converges: both written, then nothing more.
    rerun = run["rerun"]
    assert rerun.rc == 0, rerun.stdout[-3000:]
    assert rerun.result("write")["changed"] and not rerun.result("again")["changed"]
    assert run["kept_final"]["data"] == {"v": "2"} and run["new_final"]["data"] == {"v": "2"}
    assert sorted((e["verb"], e["objectRef"]["name"], code(e)) for e in run["rerun_writes"]) == [
        ("create", "new", 201),
        ("patch", "kept", 200),
    ]


# ---- 409: two writers on one object -----------------------------------------------------------------------


def test_two_writers_on_one_object_the_module_reads_it_again_after_a_409_and_both_changes_stay(
    kube: Kube, namespace: str, tmp_path: Path
) -> None:
    ns = namespace
    auth = kube.module_auth()
    webhook = Webhook(tmp_path / "webhook", hold=30).start()
    hook = unique("px-test-hold")
    try:
        # Our webhook holds the module's create of `shared` until the other writer has created it.
        kube.apply(
            webhook.configuration(
                hook, ns, "hold", timeout_seconds=30, operations=("CREATE",), resources=("configmaps",)
            )
        )
        kube.wait_for(
            "the webhook to see this namespace's creates",
            lambda: _dry_run_seen(kube, webhook, ns),
            60,
        )
        mark = kube.audit.mark()
        path = write_play(tmp_path / "race.yml", [apply_task("race", auth, [configmap("shared", ns, {"module": "1"})])])
        proc = start_playbook(path)
        try:
            kube.wait_for("the module's create to be held", lambda: (webhook.directory / "held").exists(), 90, 0.05)
            kube.create(configmap("shared", ns, {"other": "1"}))
        finally:
            (webhook.directory / "release").touch()
        result = finish(proc, 120)
        assert result.rc == 0, result.stdout[-3000:]
        outcome = result.result("race")
        assert outcome["changed"] and outcome["objects"][0]["action"] == "updated", outcome
        assert kube.get("configmap", "shared", ns)["data"] == {"module": "1", "other": "1"}
        calls = [(e["verb"], code(e)) for e in module_events(kube, mark, ns)]
        assert calls == [("get", 404), ("create", 409), ("get", 200), ("patch", 200)], calls

        # Patches while the module updates: the API server merges each without a conflict (a merge
        # patch carries no resourceVersion), and neither writer's change is lost.
        kube.delete("validatingwebhookconfiguration", hook)
        mark = kube.audit.mark()
        stop, patched = threading.Event(), []

        def other_writer() -> None:
            while not stop.is_set() and len(patched) < 200:
                value = str(len(patched) + 2)
                kube.run(
                    "patch",
                    "configmap",
                    "shared",
                    "-n",
                    ns,
                    "--type=merge",
                    "-p",
                    json.dumps({"data": {"other": value}}),
                )
                patched.append(value)

        writer = threading.Thread(target=other_writer, daemon=True)
        writer.start()
        path = write_play(
            tmp_path / "update.yml", [apply_task("update", auth, [configmap("shared", ns, {"module": "2"})])]
        )
        result = run_playbook(path, timeout=120)
        sent = len(patched)
        kube.wait_for("a patch after the module's", lambda: len(patched) > sent, 30, 0.05)
        stop.set()
        writer.join(30)
        assert result.rc == 0 and result.result("update")["changed"], result.stdout[-3000:]
        assert kube.get("configmap", "shared", ns)["data"] == {"module": "2", "other": patched[-1]}
        patches = [e for e in kube.audit.writes(mark, namespace=ns) if e["verb"] == "patch"]
        module_patch = [e for e in patches if e["userAgent"].startswith(MODULE_AGENT)]
        assert [code(e) for e in module_patch] == [200]
        others = [e for e in patches if not e["userAgent"].startswith(MODULE_AGENT)]
        assert len(others) == len(patched) and all(code(e) == 200 for e in others)
        assert any(e["requestReceivedTimestamp"] < module_patch[0]["requestReceivedTimestamp"] for e in others)
        assert any(e["requestReceivedTimestamp"] > module_patch[0]["stageTimestamp"] for e in others)
    finally:
        kube.delete("validatingwebhookconfiguration", hook, wait=False)
        webhook.stop()


def _dry_run_seen(kube: Kube, webhook: Webhook, ns: str) -> bool:
    kube.run("create", "configmap", "probe", "-n", ns, "--from-literal=a=1", "--dry-run=server")
    return any(r["namespace"] == ns and r["name"] == "probe" for r in webhook.requests())


# ---- API down (disruptive: not run next to other tests) ---------------------------------------------------


def _procs(cluster_dir: Path):
    from px_cluster.config import Layout
    from px_cluster.procs import Procs

    layout = Layout(cluster_dir.resolve())
    return layout, Procs(layout.run, layout.logs)


def _start_component(cluster_dir: Path, name: str) -> None:
    """Starts one stopped component as px-cluster starts it (same argv, PID file, log).

    Not `px-cluster up`: with a core component down it stops everything left and starts the whole
    cluster afresh, containers included.
    """
    from px_cluster import build, config

    layout, procs = _procs(cluster_dir)
    if not procs.running(name):
        procs.start(name, config.commands(layout, build.binaries())[name])


def _wait_for_the_controllers(kube: Kube) -> None:
    """Until the controller manager and the scheduler work again after the API server's restart.

    Ready is not enough: right after the restart the API server's authorizer refuses the controllers'
    watches (403) until its RBAC caches fill, and each watch then backs off on its own; on this machine
    the ServiceAccount controller took up to a minute to come back. A test after this one counts on
    both (a namespace's default ServiceAccount, a Deployment's pod placed on the node).
    """
    ns = unique("settle")
    kube.create_namespace(ns, timeout=300)
    try:
        kube.apply(deployment("settle", ns, ["sleep", "3600"]))
        kube.wait_for(
            "the scheduler to place a new Deployment's pod after the API server's restart",
            lambda: any(p["spec"].get("nodeName") for p in _pods(kube, ns, "settle")),
            300,
        )
    finally:
        kube.delete("namespace", ns, wait=False)


@pytest.mark.disruptive
def test_the_api_server_stopped_mid_run_is_named_with_what_to_check_and_a_rerun_converges(
    kube: Kube, namespace: str, cluster_dir: Path, tmp_path: Path
) -> None:
    ns = namespace
    auth = kube.module_auth()
    go = tmp_path / "go"
    tasks = [
        apply_task("first", auth, [configmap("first", ns, {"v": "1"})]),
        {"name": "hold", "ansible.builtin.wait_for": {"path": str(go), "timeout": 300}},
        apply_task("second", auth, [configmap("second", ns, {"v": "1"})]),
    ]
    path = write_play(tmp_path / "play.yml", tasks)
    _layout, procs = _procs(cluster_dir)
    server = _cluster(kube)["server"].rstrip("/")
    proc = start_playbook(path)
    try:
        kube.wait_for("the first ConfigMap", lambda: kube.get("configmap", "first", ns), 120, 0.2)
        assert procs.stop("kube-apiserver", timeout=60)
        go.touch()
        result = finish(proc, 300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)
        _start_component(cluster_dir, "kube-apiserver")
        kube.wait_for(
            "the API server to be ready again", lambda: kube.run("get", "--raw", "/readyz").strip() == "ok", 180
        )
        _wait_for_the_controllers(kube)
    assert result.result("first")["changed"]
    outcome = result.result("second")
    assert outcome.get("failed") is True
    message = outcome["msg"]
    assert f"Cannot reach the Kubernetes API at {server} (" in message, message
    assert f"context {kube.context}" in message and str(kube.kubeconfig) in message, message
    assert f"to read ConfigMap {ns}/second" in message and "refused" in message, message
    assert "Check that the cluster is up and that kubeconfig/context point at it" in message, message
    assert kube.get("configmap", "second", ns) is None
    rerun = run_playbook(path, timeout=300)
    assert rerun.rc == 0, rerun.stdout[-3000:]
    assert not rerun.result("first")["changed"] and rerun.result("second")["changed"]
    mark = kube.audit.mark()
    converged = run_playbook(path, timeout=300)
    assert converged.rc == 0 and not converged.result("second")["changed"]
    assert module_writes(kube, mark, ns) == []
    assert kube.get("configmap", "second", ns)["data"] == {"v": "1"}


# ---- node trouble (disruptive: not run next to other tests) -----------------------------------------------


def _node_ready(kube: Kube, node: str) -> str | None:
    conditions = {c["type"]: c for c in kube.json("get", "node", node)["status"]["conditions"]}
    return conditions["Ready"]["status"]


def _unschedulable_pods(kube: Kube, ns: str, app: str) -> list[str]:
    pods = kube.json("get", "pods", "-n", ns, "-l", f"app={app}")["items"]
    return [
        p["metadata"]["name"]
        for p in pods
        if any(
            c.get("type") == "PodScheduled" and c.get("reason") == "Unschedulable"
            for c in p.get("status", {}).get("conditions") or []
        )
    ]


def _refused_pods(kube: Kube, ns: str, app: str, node: str) -> list[str]:
    """The pods the scheduler refused. A pod it placed on the NotReady node all the same (its cache had
    not seen the node's taint yet) is deleted, so that the ReplicaSet's next pod meets the taint: where
    the scheduler's cache lags is not what the test measures, what the module says about refused pods is.
    """
    refused = _unschedulable_pods(kube, ns, app)
    if not refused:
        for placed in _pods(kube, ns, app):
            if placed["spec"].get("nodeName") == node and not placed["metadata"].get("deletionTimestamp"):
                kube.run("delete", "pod", placed["metadata"]["name"], "-n", ns, "--wait=false", check=False)
    return refused


def _scheduling_state(kube: Kube, ns: str, procs: Any) -> str:
    """What a failed wait for scheduling shows: the namespace's workloads, its events and the logs of
    the components that create and place pods."""
    parts = [kube.run("get", "deployments,replicasets,pods", "-n", ns, "-o", "wide")]
    parts.append(kube.run("get", "events", "-n", ns, "--sort-by=.lastTimestamp"))
    for pod_obj in _pods(kube, ns, "web"):
        parts.append(json.dumps(pod_obj.get("status"), indent=1))
    for name in ("kube-scheduler", "kube-controller-manager"):
        parts.append(f"---- {name} running: {procs.running(name)}; its log:\n{procs.tail(name, 30)}")
    return "\n".join(parts)


def _node_unschedulable(kube: Kube, node: str) -> bool:
    """NotReady and tainted unreachable:NoSchedule: the taint comes a moment after the condition, and
    until it does the scheduler still places pods on the node (a pod placed then waits as "Pending"
    with no scheduling reason)."""
    taints = kube.json("get", "node", node).get("spec", {}).get("taints") or []
    unreachable = {(t["key"], t["effect"]) for t in taints}
    return _node_ready(kube, node) != "True" and ("node.kubernetes.io/unreachable", "NoSchedule") in unreachable


@pytest.mark.disruptive
def test_with_the_kubelet_stopped_a_wait_names_the_notready_node_and_the_pending_pods(
    kube: Kube, namespace: str, cluster_dir: Path, tmp_path: Path
) -> None:
    from px_cluster.config import NODE

    ns = namespace
    _layout, procs = _procs(cluster_dir)
    web = deployment("web", ns, ["sleep", "3600"])
    path = write_play(tmp_path / "wait.yml", [apply_task("web", kube.module_auth(), [web], wait=True, wait_timeout=20)])
    try:
        assert procs.stop("kubelet", timeout=60)
        # The node lifecycle controller marks the node after its grace period (50 s).
        kube.wait_for(f"node {NODE} NotReady and tainted", lambda: _node_unschedulable(kube, NODE), 150, 2)
        # The Deployment exists before the module's run and the scheduler has refused its pod: the
        # scheduler's own pace (slower right after the API server's restart in the test before) is not
        # what this test measures. The module applies it (adding only its annotation) and waits.
        kube.apply(web)
        try:
            kube.wait_for("the scheduler to refuse the pod", lambda: _refused_pods(kube, ns, "web", NODE), 120, 1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{_scheduling_state(kube, ns, procs)}") from None
        result = run_playbook(path, timeout=300)
    finally:
        _start_component(cluster_dir, "kubelet")
        kube.wait_for(f"node {NODE} Ready again", lambda: _node_ready(kube, NODE) == "True", 180, 2)
    outcome = result.result("web")
    assert outcome.get("failed") is True
    message = outcome["msg"]
    assert f"Timed out after 20 s waiting for Deployment {ns}/web" in message, message
    assert f"node {NODE} NotReady: NodeStatusUnknown Kubelet stopped posting node status" in message, message
    assert "pod web-" in message and "phase Pending" in message and "not scheduled: Unschedulable" in message, message
    assert "node.kubernetes.io/unreachable" in message, message
    assert task_seconds(result, "web") < 40


# ---- waits that cannot end well ---------------------------------------------------------------------------

STUCK_TIMEOUT = 5  # seconds each wait may take


def _pods(kube: Kube, ns: str, app: str) -> list[dict[str, Any]]:
    return kube.json("get", "pods", "-n", ns, "-l", f"app={app}")["items"]


def _container(kube: Kube, ns: str, app: str) -> dict[str, Any]:
    pods = _pods(kube, ns, app)
    return ((pods[0].get("status") or {}).get("containerStatuses") or [{}])[0] if pods else {}


def _event(kube: Kube, ns: str, reason: str, prefix: str) -> bool:
    listing = kube.json("get", "events", "-n", ns, "--field-selector", f"reason={reason}")["items"]
    return any(e["involvedObject"]["name"].startswith(prefix) for e in listing)


@pytest.fixture(scope="module")
def stuck(kube: Kube, module_namespace: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One namespace, one playbook: a wait each (ignore_errors) for four objects that never get ready.

    The objects are created first and the playbook runs once each shows its trouble, so that what a
    wait reports does not depend on how busy the kubelet is.
    """
    ns, run = module_namespace, unique("stuck")
    sc = unique("px-test-noprov")
    provisioner = f"px-test.example/{sc}"  # no such provisioner runs anywhere
    kube.create(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": sc},
            "provisioner": provisioner,
            "volumeBindingMode": "Immediate",
        }
    )
    try:
        claim = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "never-bound", "namespace": ns},
            "spec": {
                "storageClassName": sc,
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
        missing = f"localhost/px-airflow/not-here-{run}:1"
        unready = deployment(
            "unready",
            ns,
            ["sh", "-c", f"echo unready-marker-{run}; sleep 3600"],
            readinessProbe={"exec": {"command": ["sh", "-c", "echo not yet; exit 1"]}, "periodSeconds": 1},
        )
        definitions = {
            "claim": claim,
            "image": deployment("no-image", ns, ["sleep", "3600"], image=missing, imagePullPolicy="Never"),
            "unready": unready,
            "crash": deployment("crash", ns, ["sh", "-c", f"echo crash-marker-{run}; exit 3"]),
        }
        kube.apply(*definitions.values())
        kube.wait_for(
            "the claim's ExternalProvisioning event",
            lambda: _event(kube, ns, "ExternalProvisioning", "never-bound"),
            120,
        )
        kube.wait_for(
            "ErrImageNeverPull",
            lambda: (
                (_container(kube, ns, "no-image").get("state") or {}).get("waiting", {}).get("reason")
                == "ErrImageNeverPull"
            ),
            180,
        )
        kube.wait_for("a failed readiness probe", lambda: _event(kube, ns, "Unhealthy", "unready-"), 180)
        kube.wait_for("a crash", lambda: (_container(kube, ns, "crash").get("lastState") or {}).get("terminated"), 180)
        auth = kube.module_auth()
        tasks = [apply_task(n, auth, [d], wait=True, wait_timeout=STUCK_TIMEOUT) for n, d in definitions.items()]
        result = run_playbook(write_play(tmp_path_factory.mktemp("stuck") / "stuck.yml", tasks), timeout=600)
        assert result.rc == 0, result.stdout[-3000:]
        yield {"ns": ns, "run": run, "provisioner": provisioner, "image": missing, "result": result}
    finally:
        kube.delete("storageclass", sc, wait=False)


def _stuck(stuck: dict[str, Any], task: str) -> str:
    outcome = stuck["result"].result(task)
    assert outcome.get("failed") is True, outcome
    seconds = task_seconds(stuck["result"], task)
    assert STUCK_TIMEOUT <= seconds < STUCK_TIMEOUT + 15, seconds
    return outcome["msg"]


def test_a_claim_whose_provisioner_does_not_exist_times_out_naming_it(stuck: dict[str, Any]) -> None:
    ns, message = stuck["ns"], _stuck(stuck, "claim")
    assert f"Timed out after {STUCK_TIMEOUT} s waiting for PersistentVolumeClaim {ns}/never-bound" in message
    assert "phase Pending" in message, message
    assert "event Normal ExternalProvisioning never-bound" in message, message
    assert f"external provisioner '{stuck['provisioner']}'" in message, message


def test_an_image_that_is_not_present_with_pull_policy_never_is_named(stuck: dict[str, Any]) -> None:
    ns, message = stuck["ns"], _stuck(stuck, "image")
    assert f"Timed out after {STUCK_TIMEOUT} s waiting for Deployment {ns}/no-image" in message
    assert "condition Available=False" in message, message
    assert "main waiting: ErrImageNeverPull" in message and stuck["image"] in message, message
    assert "ErrImageNeverPull no-image-" in message, message  # the pod's event


def test_a_container_that_crashes_is_shown_with_its_last_log_lines(stuck: dict[str, Any]) -> None:
    ns, message = stuck["ns"], _stuck(stuck, "crash")
    assert f"Timed out after {STUCK_TIMEOUT} s waiting for Deployment {ns}/crash" in message
    assert "condition Available=False" in message, message
    assert "main waiting: CrashLoopBackOff" in message or "main terminated: Error" in message, message
    assert f"log: crash-marker-{stuck['run']}" in message, message
    assert "event Warning BackOff crash-" in message, message


def test_a_readiness_probe_that_never_passes_is_shown_with_the_probe_and_the_log(stuck: dict[str, Any]) -> None:
    ns, message = stuck["ns"], _stuck(stuck, "unready")
    assert f"Timed out after {STUCK_TIMEOUT} s waiting for Deployment {ns}/unready" in message
    assert "condition Available=False" in message, message
    assert "phase Running not ready: ContainersNotReady" in message, message
    assert f"log: unready-marker-{stuck['run']}" in message, message
    assert "event Warning Unhealthy unready-" in message and "Readiness probe failed" in message, message


# ---- a run killed half-way --------------------------------------------------------------------------------


def test_a_run_killed_half_way_reruns_to_the_same_secrets_and_the_same_database_volume(
    kube: Kube, namespace: str, cluster_dir: Path, tmp_path: Path
) -> None:
    """The postgres role, then the airflow role's secrets, then the wait for PostgreSQL (site.yml's order):
    SIGKILL once Airflow's secrets exist, while the database still starts."""
    ns, sc = namespace, unique("px-test-db")
    kube.create(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": sc},
            "provisioner": "pxd.portworx.com",
            "parameters": {"repl": "1"},
            "allowVolumeExpansion": True,
        }
    )
    auth = kube.module_auth()
    play = {
        "module_defaults": {"group/px.airflow.k8s": auth, "group/kubernetes.core.k8s": auth},
        "vars": {
            "postgres_namespace": ns,
            "postgres_image_registry": "localhost/px-airflow",
            "postgres_storage_class": sc,
            "postgres_storage_size": "1Gi",
            "postgres_wait": False,
            "airflow_namespace": ns,
        },
    }
    tasks = [
        {"name": "database", "ansible.builtin.include_role": {"name": "px.airflow.postgres"}},
        {
            "name": "secrets",
            "ansible.builtin.include_role": {"name": "px.airflow.airflow", "tasks_from": "secrets.yml"},
        },
        {
            "name": "database ready",
            "ansible.builtin.include_role": {"name": "px.airflow.postgres", "tasks_from": "statefulset.yml"},
            "vars": {"postgres_wait": True, "postgres_wait_timeout": 300},
        },
    ]
    path = write_play(tmp_path / "deploy.yml", tasks, **play)
    extra = ("-e", f"@{ROOT / 'inventory' / 'px-cluster.yml'}")
    secrets = ("af-postgresql", "af-airflow-secrets")
    try:
        proc = start_playbook(path, *extra)
        try:
            kube.wait_for("Airflow's secrets", lambda: kube.get("secret", "af-airflow-secrets", ns), 180, 0.2)
            assert proc.poll() is None, "the run ended before it could be killed"
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL
        assert not kube.get("statefulset", "af-postgresql", ns).get("status", {}).get("readyReplicas")
        before = {name: kube.get("secret", name, ns)["data"] for name in secrets}
        claim = kube.wait_for(
            "the database claim Bound",
            lambda: (
                c
                if (c := kube.get("pvc", "data-af-postgresql-0", ns)) and c["status"].get("phase") == "Bound"
                else None
            ),
            180,
        )
        pv = kube.get("pv", claim["spec"]["volumeName"])
        directory = Path(pv["spec"]["hostPath"]["path"])
        marker = directory / f"px-test-{unique('marker')}"
        marker.write_text("written between the killed run and the re-run\n")  # PGDATA is a subdirectory

        mark = kube.audit.mark()
        rerun = run_playbook(path, *extra, timeout=600)
        assert rerun.rc == 0, rerun.stdout[-4000:]
        assert {name: kube.get("secret", name, ns)["data"] for name in secrets} == before
        after = kube.get("pvc", "data-af-postgresql-0", ns)
        assert after["metadata"]["uid"] == claim["metadata"]["uid"]
        assert kube.get("pv", after["spec"]["volumeName"])["metadata"]["uid"] == pv["metadata"]["uid"]
        assert marker.read_text().startswith("written between")
        assert (directory / "pgdata" / "PG_VERSION").exists()
        assert kube.get("statefulset", "af-postgresql", ns)["status"].get("readyReplicas") == 1
        # What the killed run had written is left alone: the re-run writes no Secret that existed, no claim.
        rewritten = [
            (e["verb"], e["objectRef"]["resource"], e["objectRef"].get("name"))
            for e in module_writes(kube, mark, ns)
            if e["objectRef"]["resource"] in ("secrets", "persistentvolumeclaims", "statefulsets")
        ]
        assert all(name == "af-airflow-metadata" for _verb, _resource, name in rewritten), rewritten
    finally:
        kube.delete("storageclass", sc, wait=False)


# ---- Jobs that fail ---------------------------------------------------------------------------------------


def test_a_failing_job_is_reported_with_its_pod_state_and_last_log_lines(
    kube: Kube, namespace: str, tmp_path: Path
) -> None:
    ns = namespace
    boom = job("boom", ns, "echo boom-marker-42; exit 3")
    path = write_play(
        tmp_path / "job.yml", [apply_task("job", kube.module_auth(), [boom], wait=True, wait_timeout=120)]
    )
    result = run_playbook(path, timeout=300)
    message = result.result("job")["msg"]
    assert f"Job {ns}/boom failed: BackoffLimitExceeded" in message, message
    assert "main terminated: Error" in message and "log: boom-marker-42" in message, message
    assert task_seconds(result, "job") < 90
    status = kube.get("job", "boom", ns)["status"]
    assert status.get("failed") == 1 and not status.get("succeeded")


def test_sequential_jobs_run_one_after_another_and_a_failure_stops_the_rest(
    kube: Kube, namespace: str, tmp_path: Path
) -> None:
    ns = namespace
    options = {"wait": True, "sequential": True, "wait_timeout": 120}
    ordered = [job("seq-first", ns, "sleep 1"), job("seq-second", ns, "true")]
    failing = [job("seq-fails", ns, "exit 4"), job("seq-never", ns, "true")]
    auth = kube.module_auth()
    tasks = [apply_task("in order", auth, ordered, **options), apply_task("stops", auth, failing, **options)]
    mark = kube.audit.mark()
    result = run_playbook(write_play(tmp_path / "jobs.yml", tasks), timeout=600)
    assert result.result("in order")["changed"] is True and not result.result("in order").get("failed")
    first, second = kube.get("job", "seq-first", ns), kube.get("job", "seq-second", ns)
    assert first["status"]["succeeded"] == 1 and second["status"]["succeeded"] == 1
    # The second Job was created only once the first had completed; the failing one stopped the rest.
    creates = {e["objectRef"]["name"]: e for e in module_writes(kube, mark, ns) if e["verb"] == "create"}
    assert sorted(creates) == ["seq-fails", "seq-first", "seq-second"], kube.audit.describe(list(creates.values()))
    completed = stamp(first["status"]["completionTime"])
    assert stamp(creates["seq-second"]["requestReceivedTimestamp"]) >= completed
    assert stamp(second["metadata"]["creationTimestamp"]) >= completed

    message = result.result("stops")["msg"]
    assert f"Job {ns}/seq-fails failed: BackoffLimitExceeded" in message, message
    assert kube.get("job", "seq-fails", ns) is not None and kube.get("job", "seq-never", ns) is None
