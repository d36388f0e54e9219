"""The main job with nothing configured: the whole stack on the local real cluster, demo-tested.

`tools/deploy.sh` (what `make deploy` runs) with no kubeconfig and no context starts px-cluster and
runs site.yml on it. The Airflow components, PostgreSQL and the KubernetesExecutor's worker pods
run as real pods; the audit log says who created what.
"""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from .kube import ROOT, Kube, site_playbook

pytestmark = pytest.mark.slow
NS = "airflow"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}


def _audit(cluster_dir: Path, since: int = 0) -> list[dict]:
    with open(cluster_dir / "audit.log") as log:
        return [json.loads(line) for i, line in enumerate(log) if i >= since]


def _audit_lines(cluster_dir: Path) -> int:
    with open(cluster_dir / "audit.log") as log:
        return sum(1 for _ in log)


def _env(tmp_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "K8S_AUTH_"))}
    env["HOME"] = str(tmp_home)  # no ~/.kube/config either: nothing is configured
    env["ANSIBLE_LOCAL_TEMP"] = str(tmp_home / ".ansible-tmp")
    return env


@pytest.fixture(scope="module")
def deployed(kube: Kube, cluster_dir: Path, tmp_path_factory) -> Iterator[dict]:
    home = tmp_path_factory.mktemp("home")
    report = ROOT / "out" / "demo-junit.xml"
    report.unlink(missing_ok=True)
    since = _audit_lines(cluster_dir)
    proc = subprocess.run(
        [str(ROOT / "tools" / "deploy.sh")], cwd=ROOT, env=_env(home), capture_output=True, text=True, timeout=2400
    )
    yield {"proc": proc, "since": since, "report": report, "home": home}
    # Purged afterwards, as a user would: two stacks do not fit the node's 2 CPUs (950m of requests each).
    purge = site_playbook(cluster_dir, "-e", f"px_namespace={NS}", "-e", "purge=true", name="teardown.yml")
    assert purge.returncode == 0, purge.stdout[-3000:]


def test_deploy_with_nothing_configured_runs_on_the_local_real_cluster(deployed):
    proc = deployed["proc"]
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "deploys the\n whole stack on the LOCAL cluster: real Kubernetes" in proc.stdout
    assert "Portworx cannot run here: a stand-in plays it" in proc.stdout
    suite = ET.parse(deployed["report"]).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    assert suite.get("failures") == "0" and suite.get("errors", "0") == "0"
    assert int(suite.get("tests")) >= 3


def test_the_components_are_real_pods_from_local_images(deployed, kube: Kube):
    assert deployed["proc"].returncode == 0
    pods = kube.json("get", "pods", "-n", NS)["items"]
    running = {
        p["metadata"]["labels"].get("app.kubernetes.io/component"): p
        for p in pods
        if p["status"].get("phase") == "Running"
    }
    for component in ("api-server", "scheduler", "dag-processor", "triggerer"):
        pod = running[component]
        assert all(cs["ready"] for cs in pod["status"]["containerStatuses"]), component
        assert pod["spec"]["containers"][0]["image"] == "localhost/px-airflow/apache/airflow:3.3.2"
        assert pod["spec"]["securityContext"]["runAsUser"] == 50000
    database = kube.json("get", "pod", "af-postgresql-0", "-n", NS)
    assert database["spec"]["containers"][0]["image"] == "localhost/px-airflow/postgres:17.11"
    claim = kube.json("get", "pvc", "-n", NS, "-l", "app.kubernetes.io/component=postgresql")["items"]
    claim = claim or [c for c in kube.json("get", "pvc", "-n", NS)["items"] if "postgres" in c["metadata"]["name"]]
    assert claim and claim[0]["status"]["phase"] == "Bound"


def test_the_scheduler_launched_worker_pods_and_the_demo_made_its_own(deployed, cluster_dir: Path):
    assert deployed["proc"].returncode == 0
    creators: dict[str, int] = {}
    for entry in _audit(cluster_dir, deployed["since"]):
        ref = entry.get("objectRef") or {}
        if (
            entry["verb"] == "create"
            and ref.get("resource") == "pods"
            and ref.get("namespace") == NS
            and not ref.get("subresource")
            and entry["responseStatus"]["code"] == 201
        ):
            creators[entry["user"]["username"]] = creators.get(entry["user"]["username"], 0) + 1
    # The KubernetesExecutor (the scheduler's ServiceAccount) launched the task pods ...
    assert creators.get("system:serviceaccount:airflow:af-airflow-scheduler", 0) >= 3
    # ... and the demo's task, as the worker's ServiceAccount, made its writer and reader pods.
    assert creators.get("system:serviceaccount:airflow:af-airflow-worker", 0) >= 2
    # The admin never created a pod: the stack's controllers did.
    assert "px-admin" not in creators


def _admin_writes(cluster_dir: Path, since: int) -> list[str]:
    """Writes by the playbook: px-admin, from anything but kubectl (tests may use kubectl meanwhile)."""
    return [
        f"{e['verb']} {e['requestURI']} ({e.get('userAgent', '')})"
        for e in _audit(cluster_dir, since)
        if e["user"]["username"] == "px-admin"
        and e["verb"] in WRITE_VERBS
        and not e.get("userAgent", "").startswith("kubectl/")
    ]


def test_a_second_deploy_and_check_mode_write_nothing(deployed, cluster_dir: Path):
    assert deployed["proc"].returncode == 0
    since = _audit_lines(cluster_dir)
    again = site_playbook(cluster_dir, "--skip-tags", "demo")
    assert again.returncode == 0, again.stdout[-3000:]
    assert "changed=0" in again.stdout.split("PLAY RECAP")[-1]
    check = site_playbook(cluster_dir, "--skip-tags", "demo", "--check", "--diff")
    assert check.returncode == 0, check.stdout[-3000:]
    assert "changed=0" in check.stdout.split("PLAY RECAP")[-1]
    reads = [e for e in _audit(cluster_dir, since) if e.get("userAgent") == "px.airflow"]
    assert reads  # the playbook's own requests are in the window, and none of them wrote
    assert _admin_writes(cluster_dir, since) == []


def test_the_printed_port_forward_command_opens_airflow(deployed, kube: Kube, cluster_dir: Path):
    """The next step the main job prints works: port-forward, then log in with the admin password."""
    import base64
    import re
    import shlex
    import signal
    import socket
    import time
    import urllib.request

    assert deployed["proc"].returncode == 0
    lines = deployed["proc"].stdout.splitlines()
    line = next(ln for ln in lines if ln.startswith("main-job:") and "port-forward svc/af-api-server" in ln)
    command = shlex.split(line.split("main-job:", 1)[1].split("#")[0])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [re.sub(r"^8080:8080$", f"{port}:8080", part) for part in command]
    assert command[0] == ".venv/bin/kubectl" and f"{port}:8080" in command
    forward = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        secret = kube.json("get", "secret", "af-airflow-secrets", "-n", NS)
        password = base64.b64decode(secret["data"]["admin-password"]).decode()
        body = json.dumps({"username": "admin", "password": password}).encode()
        deadline, answer = time.monotonic() + 60, None
        while time.monotonic() < deadline and answer is None:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/auth/token", data=body, headers={"Content-Type": "application/json"}
                )
                with urllib.request.urlopen(request, timeout=10) as response:
                    answer = (response.status, json.loads(response.read()))
            except OSError:
                time.sleep(1)
        assert answer is not None, "the port-forward never answered"
        assert answer[0] == 201 and answer[1]["access_token"]
    finally:
        forward.send_signal(signal.SIGTERM)
        forward.wait(timeout=10)
