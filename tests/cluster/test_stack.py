"""The stack on the local real cluster: demo failures, a scheduler killed mid-run, teardown and purge.

Runs after test_main_job.py (which deploys the stack in namespace airflow); the module fixture makes
sure it is deployed (a converged site.yml run writes nothing). The teardown tests come last: the
purge removes the namespace.
"""

from __future__ import annotations

import base64
import json
import subprocess
import threading
from pathlib import Path

import pytest

from .kube import ROOT, Kube, site_playbook

pytestmark = pytest.mark.slow
NS = "airflow"
PLAYBOOK = ROOT / ".venv" / "bin" / "ansible-playbook"


@pytest.fixture(scope="module")
def stack(kube: Kube, cluster_dir: Path) -> Kube:
    deployed = site_playbook(cluster_dir, "--skip-tags", "demo")
    assert deployed.returncode == 0, deployed.stdout[-4000:]
    return kube


def _admin_password(kube: Kube) -> str:
    secret = kube.json("get", "secret", "af-airflow-secrets", "-n", NS)
    return base64.b64decode(secret["data"]["admin-password"]).decode()


def _dag_run(kube: Kube, cluster_dir: Path, tmp_path: Path, conf: dict | None = None, **options) -> dict:
    # What the demo role passes: the namespace, the scratch class and the local busybox image.
    demo_conf = {
        "namespace": NS,
        "storage_class": "px-airflow-scratch",
        "image": "localhost/px-airflow/busybox:1.35",
        **(conf or {}),
    }
    params = {
        "dag_id": "portworx-demo",
        "service": {"namespace": NS, "name": "af-api-server", "port": "8080"},
        "kubeconfig": str(cluster_dir / "kubeconfig"),
        "context": "px-local",
        "airflow_password": _admin_password(kube),
        "unpause": True,
        "timeout": 600,
        "conf": demo_conf,
        **options,
    }
    task = {"name": "run", "px.airflow.dag_run": params, "register": "r", "ignore_errors": True}
    show = {"name": "show", "ansible.builtin.copy": {"content": "{{ r | to_json }}", "dest": str(tmp_path / "r.json")}}
    path = tmp_path / "run.yml"
    path.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [task, show]}]))
    proc = subprocess.run([str(PLAYBOOK), str(path)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return json.loads((tmp_path / "r.json").read_text())


def _demo_claims(kube: Kube) -> list[str]:
    claims = kube.json("get", "pvc", "-n", NS, "-l", "px.airflow/demo=true")["items"]
    return [c["metadata"]["name"] for c in claims if not c["metadata"].get("deletionTimestamp")]


def test_a_reader_that_finds_the_wrong_token_fails_the_run_and_leaks_nothing(stack, cluster_dir, tmp_path):
    outcome = _dag_run(stack, cluster_dir, tmp_path, conf={"expect_token": "not-the-token"})
    assert outcome["failed"] and outcome["state"] == "failed"
    assert "read=failed" in outcome["msg"]
    assert "token mismatch" in outcome["msg"]
    stack.wait_for("the demo's claims to be gone", lambda: _demo_claims(stack) == [], 120)


def test_bad_credentials_and_timeouts_are_reported_by_name(stack, cluster_dir, tmp_path):
    outcome = _dag_run(stack, cluster_dir, tmp_path, airflow_password="definitely-wrong-pw")
    assert outcome["failed"]
    assert "rejected the username 'admin' and password (401)" in outcome["msg"]
    assert "through the Kubernetes API" in outcome["msg"]
    outcome = _dag_run(stack, cluster_dir, tmp_path, timeout=1, poll_interval=1)
    assert outcome["failed"] and "did not finish within 1 s" in outcome["msg"]
    # The run it stopped waiting for goes on; let it end before the next test counts pods.
    stack.wait_for(
        "the abandoned run's pods to finish",
        lambda: (
            not [
                p
                for p in stack.json("get", "pods", "-n", NS, "-l", "dag_id=portworx-demo")["items"]
                if p["status"].get("phase") in ("Pending", "Running")
            ]
            and _demo_claims(stack) == []
        ),
        300,
        interval=3,
    )


def test_a_run_survives_its_scheduler_being_killed(stack, cluster_dir, tmp_path):
    before = stack.json("get", "pods", "-n", NS, "-l", "app.kubernetes.io/component=scheduler")["items"]
    assert len(before) == 1
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(_dag_run(stack, cluster_dir, tmp_path)))
    runner.start()
    # Once the executor has launched a task pod, the scheduler dies without a chance to clean up.
    stack.wait_for(
        "a worker pod of portworx-demo",
        lambda: [
            p
            for p in stack.json("get", "pods", "-n", NS, "-l", "dag_id=portworx-demo")["items"]
            if p["status"].get("phase") in ("Pending", "Running")
        ],
        300,
    )
    name = before[0]["metadata"]["name"]
    stack.run("delete", "pod", name, "-n", NS, "--grace-period=0", "--force", check=False)
    runner.join(timeout=900)
    assert not runner.is_alive()
    assert not result.get("failed"), result.get("msg")
    assert result["state"] == "success"
    after = stack.json("get", "pods", "-n", NS, "-l", "app.kubernetes.io/component=scheduler")["items"]
    assert [p["metadata"]["name"] for p in after] != [name]


def test_touching_the_secrets_metadata_rolls_no_pod(stack, cluster_dir):
    deployments = {
        d["metadata"]["name"]: d["metadata"]["generation"] for d in stack.json("get", "deployments", "-n", NS)["items"]
    }
    assert len(deployments) == 4
    for secret in stack.json("get", "secrets", "-n", NS)["items"]:
        name = f"secret/{secret['metadata']['name']}"
        stack.run("label", name, "-n", NS, "backup.example/touched=yes", "--overwrite")
        stack.run("annotate", name, "-n", NS, "policy.example/checked=2026-12-03", "--overwrite")
    # What a kubectl apply of the same object adds: its last-applied annotation.
    live = stack.json("get", "secret", "af-airflow-secrets", "-n", NS)
    stack.run("apply", "-f", "-", input=json.dumps(live))
    rerun = site_playbook(cluster_dir, "--skip-tags", "demo")
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert "changed=0" in rerun.stdout.split("PLAY RECAP")[-1]
    after = {
        d["metadata"]["name"]: d["metadata"]["generation"] for d in stack.json("get", "deployments", "-n", NS)["items"]
    }
    assert after == deployments


def _dag_runs_in_the_database(kube: Kube) -> int:
    out = kube.run(
        "exec", "af-postgresql-0", "-n", NS, "--", "sh", "-c",
        'PGPASSWORD="$POSTGRES_PASSWORD" psql -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc '
        "\"select count(*) from dag_run where dag_id = 'portworx-demo'\"",
    )  # fmt: skip
    return int(out.strip())


def test_an_image_upgrade_snapshots_the_database_first_and_keeps_runs_and_users(stack, cluster_dir, tmp_path):
    runs = _dag_runs_in_the_database(stack)
    assert runs >= 1
    # A second local Airflow tag: what a user's upgrade to a new image looks like here.
    sock = cluster_dir / "run" / "containerd.sock"
    new = "localhost/px-airflow/apache/airflow:3.3.2-px1"
    subprocess.run(
        ["ctr", "--address", str(sock), "-n", "k8s.io", "images", "tag", "--force",
         "localhost/px-airflow/apache/airflow:3.3.2", new],
        check=True, capture_output=True,
    )  # fmt: skip
    upgrade = site_playbook(cluster_dir, "--skip-tags", "demo", "-e", "airflow_image_tag=3.3.2-px1")
    assert upgrade.returncode == 0, upgrade.stdout[-4000:]
    snapshots = stack.json("get", "volumesnapshots", "-n", NS)["items"]
    before = [s for s in snapshots if s["metadata"]["name"].startswith("af-db-before-")]
    assert len(before) == 1, [s["metadata"]["name"] for s in snapshots]
    assert before[0]["spec"]["source"]["persistentVolumeClaimName"] == "data-af-postgresql-0"
    assert before[0]["status"]["readyToUse"] is True
    for component in ("api-server", "scheduler", "dag-processor", "triggerer"):
        pods = stack.json("get", "pods", "-n", NS, "-l", f"app.kubernetes.io/component={component}")["items"]
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        assert [p["spec"]["containers"][0]["image"] for p in live] == [new], component
    assert _dag_runs_in_the_database(stack) == runs
    # The admin user survived: the demo logs in with the same password and runs on the new image.
    outcome = _dag_run(stack, cluster_dir, tmp_path)
    assert not outcome.get("failed"), outcome.get("msg")
    assert _dag_runs_in_the_database(stack) == runs + 1


def test_teardown_keeps_the_data_then_site_finds_it(stack, cluster_dir):
    claim = stack.json("get", "pvc", "data-af-postgresql-0", "-n", NS)
    volume = claim["spec"]["volumeName"]
    secrets = {s["metadata"]["name"]: s["data"] for s in stack.json("get", "secrets", "-n", NS)["items"]}
    down = site_playbook(cluster_dir, name="teardown.yml")
    assert down.returncode == 0, down.stdout[-3000:]
    assert stack.json("get", "deployments,statefulsets", "-n", NS)["items"] == []
    assert stack.json("get", "pvc", "data-af-postgresql-0", "-n", NS)["spec"]["volumeName"] == volume
    up = site_playbook(cluster_dir, "--skip-tags", "demo")
    assert up.returncode == 0, up.stdout[-3000:]
    assert stack.json("get", "pvc", "data-af-postgresql-0", "-n", NS)["spec"]["volumeName"] == volume
    after = {s["metadata"]["name"]: s["data"] for s in stack.json("get", "secrets", "-n", NS)["items"]}
    assert after == secrets
    # The database kept its history: the demo runs of earlier tests are still there.
    runs = stack.run(
        "exec",
        "af-postgresql-0",
        "-n",
        NS,
        "--",
        "sh",
        "-c",
        'PGPASSWORD="$POSTGRES_PASSWORD" psql -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc '
        "\"select count(*) from dag_run where dag_id = 'portworx-demo'\"",
    )
    assert int(runs.strip()) >= 2


def test_purge_removes_the_namespace_and_its_volumes(stack, cluster_dir):
    volumes = [c["spec"]["volumeName"] for c in stack.json("get", "pvc", "-n", NS)["items"]]
    assert volumes
    purge = site_playbook(cluster_dir, "-e", "purge=true", name="teardown.yml")
    assert purge.returncode == 0, purge.stdout[-3000:]
    assert stack.get("namespace", NS) is None
    for volume in volumes:
        assert stack.get("pv", volume) is None
