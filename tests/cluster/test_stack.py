"""The whole stack (playbooks/site.yml) on the local real cluster, in a namespace of its own.

The module fixture deploys it in four steps: check mode on an empty namespace, a run, check mode
again, a run again (changed, changed, not changed, not changed). The API server's audit log counts
what each step wrote: nothing in check mode, nothing once converged. Before the fourth step every
Secret's metadata is touched (labels, annotations, kubectl's last-applied), so that run also shows
that such a touch rolls no pod. Every step runs with -vvv, and no secret value may show in its
output. The namespace is created with the Pod Security audit label, so a pod spec that breaks the
restricted profile would be named in the audit log.

The tests read that deployment (everything Ready, no warnings, every object valid in strict mode,
least privilege), run the demo DAG on it (failures named, a scheduler killed mid-run), upgrade the
image and grow the database volume in one run, and come to teardown and purge last. The stack the
main job leaves in namespace airflow (test_main_job.py) is purged first: two stacks do not fit the
node's 2 CPUs.

"Task pods cannot reach the database" is read from the objects, not tried over the network: the
cluster's network (the bridge CNI plugin) does not enforce NetworkPolicy. The policy, the labels of
the pods it lets in, the worker pod template and the worker's rights are checked instead.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import subprocess
import threading
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from .kube import ROOT, WRITE_VERBS, Audit, Kube, site_playbook, unique

pytestmark = pytest.mark.slow
NS = unique("stack")
PLAYBOOK = ROOT / ".venv" / "bin" / "ansible-playbook"
NEW_IMAGE = "localhost/px-airflow/apache/airflow:3.3.2-px1"
LAST_APPLIED = "px.airflow/last-applied"
GROWN = "10Gi"  # the database volume after the upgrade test (8Gi before)
COMPONENTS = ("api-server", "dag-processor", "scheduler", "triggerer")
# What the API server notes in the audit log besides a warning to the client.
DEPRECATION = {"k8s.io/deprecated", "k8s.io/removed-release"}
POD_SECURITY_VIOLATIONS = "pod-security.kubernetes.io/audit-violations"
POD_SECURITY_AUDIT = {
    "pod-security.kubernetes.io/audit": "restricted",
    "pod-security.kubernetes.io/audit-version": "latest",
}
# Every namespaced kind the roles create.
KINDS = (
    "configmaps,secrets,services,serviceaccounts,persistentvolumeclaims,deployments,statefulsets,jobs,cronjobs,"
    "roles,rolebindings,networkpolicies,poddisruptionbudgets,ingresses"
)


def site(cluster_dir: Path, *args: str, name: str = "site.yml") -> subprocess.CompletedProcess:
    """site.yml (without the demo) or teardown.yml, in this module's namespace."""
    skip = ("--skip-tags", "demo") if name == "site.yml" else ()
    return site_playbook(cluster_dir, "-e", f"px_namespace={NS}", *skip, *args, name=name)


def recap(proc: subprocess.CompletedProcess) -> dict[str, int]:
    line = proc.stdout.split("PLAY RECAP")[-1]
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line)}


def playbook_requests(kube: Kube, since: int) -> list[dict[str, Any]]:
    """The playbook's requests since the mark: px-admin's, from anything but kubectl (px.airflow's modules,
    kubernetes.core), on this namespace or on the cluster-scoped objects of the stack (its StorageClasses,
    px-airflow-*). Other tests share the cluster and px-admin: their requests are elsewhere."""
    found = []
    for event in kube.audit.requests(since, user="px-admin"):
        if (event.get("userAgent") or "").startswith("kubectl/"):
            continue
        ref = event.get("objectRef") or {}
        if ref.get("namespace") == NS or (
            not ref.get("namespace") and (ref.get("name") or "").startswith("px-airflow-")
        ):
            found.append(event)
    return found


def secrets(kube: Kube) -> dict[str, dict]:
    return {s["metadata"]["name"]: s for s in kube.json("get", "secrets", "-n", NS)["items"]}


def generations(kube: Kube) -> dict[str, int]:
    return {
        d["metadata"]["name"]: d["metadata"]["generation"] for d in kube.json("get", "deployments", "-n", NS)["items"]
    }


def _touch_the_secrets(kube: Kube) -> None:
    for secret in kube.json("get", "secrets", "-n", NS)["items"]:
        name = f"secret/{secret['metadata']['name']}"
        kube.run("label", name, "-n", NS, "backup.example/touched=yes", "--overwrite")
        kube.run("annotate", name, "-n", NS, "policy.example/checked=2026-12-03", "--overwrite")
    # What a kubectl apply of the same object adds: its last-applied annotation.
    live = kube.json("get", "secret", "af-airflow-secrets", "-n", NS)
    kube.run("apply", "-f", "-", input=json.dumps(live))


def _purge(kube: Kube) -> None:
    """What teardown.yml -e purge=true does, should the purge test not have run: the namespace and its volumes."""
    if kube.get("namespace", NS) is None:
        return
    volumes = [c["spec"].get("volumeName") for c in kube.json("get", "pvc", "-n", NS)["items"]]
    kube.run("delete", "namespace", NS, "--ignore-not-found", "--timeout=300s", timeout=320, check=False)
    for volume in filter(None, volumes):
        kube.run("delete", "pv", volume, "--ignore-not-found", "--timeout=60s", timeout=80, check=False)


@pytest.fixture(scope="module")
def stack(kube: Kube, cluster_dir: Path):
    """The four steps of site.yml on an empty namespace; what each did, read from its output and the audit log."""
    kube.create_namespace(NS, labels=POD_SECURITY_AUDIT)
    first = kube.audit.mark()
    steps: list[dict[str, Any]] = []
    seen: dict[str, Any] = {}
    try:
        for args in (("--check",), (), ("--check",), ()):
            if len(steps) == 3:
                seen["generations"] = generations(kube)
                _touch_the_secrets(kube)
            mark = kube.audit.mark()
            proc = site(cluster_dir, "-vvv", *args)
            assert proc.returncode == 0, f"step {len(steps) + 1} {args}: {proc.stdout[-4000:]}"
            requests = playbook_requests(kube, mark)
            writes = [e for e in requests if e["verb"] in WRITE_VERBS and "dryRun=All" not in e.get("requestURI", "")]
            steps.append(
                {"recap": recap(proc), "requests": requests, "writes": writes, "output": proc.stdout + proc.stderr}
            )
            if len(steps) == 2:
                seen["secrets"] = secrets(kube)
        seen["generations after"] = generations(kube)
        yield {"steps": steps, "since": first, **seen}
    finally:
        _purge(kube)


def test_four_steps_check_run_check_run(stack):
    steps = stack["steps"]
    assert [step["recap"]["changed"] > 0 for step in steps] == [True, True, False, False], [s["recap"] for s in steps]
    assert [step["recap"]["failed"] for step in steps] == [0, 0, 0, 0]
    assert steps[0]["requests"], "check mode sent no request: the filter of the audit log is wrong"
    assert steps[0]["writes"] == [], Audit.describe(steps[0]["writes"])
    assert len(steps[1]["writes"]) >= 25, Audit.describe(steps[1]["writes"])
    for step in steps[2:]:
        assert step["writes"] == [], Audit.describe(step["writes"])


def test_everything_is_ready(stack, kube: Kube):
    deployments = kube.json("get", "deployments", "-n", NS)["items"]
    assert sorted(d["metadata"]["name"] for d in deployments) == [f"af-{c}" for c in COMPONENTS]
    for deployment in deployments:
        status = deployment["status"]
        assert status.get("availableReplicas") == status.get("readyReplicas") == deployment["spec"]["replicas"] == 1
    assert kube.json("get", "statefulset", "af-postgresql", "-n", NS)["status"].get("readyReplicas") == 1
    jobs = kube.json("get", "jobs", "-n", NS, "-l", "app.kubernetes.io/instance=af")["items"]
    assert {j["metadata"]["labels"]["app.kubernetes.io/component"] for j in jobs} == {"migrate", "create-user"}
    for job in jobs:
        conditions = {c["type"]: c["status"] for c in job["status"].get("conditions", [])}
        assert conditions.get("Complete") == "True", (job["metadata"]["name"], conditions)
    claims = {c["metadata"]["name"]: c for c in kube.json("get", "pvc", "-n", NS)["items"]}
    assert {name: c["status"]["phase"] for name, c in claims.items()} == {
        "af-dags": "Bound",
        "af-logs": "Bound",
        "data-af-postgresql-0": "Bound",
    }
    assert claims["af-dags"]["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claims["af-logs"]["spec"]["accessModes"] == ["ReadWriteMany"]


def test_no_server_warnings_and_no_refused_pods(stack, kube: Kube):
    # The roles' apply keeps labels it does not set: the Pod Security audit label is still there.
    labels = kube.json("get", "namespace", NS)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels.items() >= POD_SECURITY_AUDIT.items()
    # The playbook used no deprecated API (the controllers' own requests, such as v1 Endpoints, are not its doing),
    # and no request on the namespace, the controllers' creating pods included, broke the restricted profile.
    playbook = [e for step in stack["steps"] for e in step["requests"]]
    deprecated = [(e["verb"], e["requestURI"]) for e in playbook if set(e.get("annotations") or {}) & DEPRECATION]
    assert deprecated == []
    violations = [
        (e["verb"], e["requestURI"], e["annotations"][POD_SECURITY_VIOLATIONS])
        for e in kube.audit.requests(stack["since"], namespace=NS)
        if POD_SECURITY_VIOLATIONS in (e.get("annotations") or {})
    ]
    assert violations == []
    refused = [e["message"] for e in kube.json("get", "events", "-n", NS)["items"] if e["reason"] == "FailedCreate"]
    assert refused == []


def managed_objects(kube: Kube) -> list[dict[str, Any]]:
    return kube.json("get", KINDS, "-n", NS, "-l", "app.kubernetes.io/managed-by=px.airflow")["items"]


def as_sent(obj: dict[str, Any]) -> dict[str, Any]:
    """What px.airflow sent for an object: its last-applied annotation (a Secret's values as digests), or, for
    the objects written without one (the Secrets of px.airflow.secrets, the DAG sync's state), the live object
    less what the API server adds."""
    text = (obj["metadata"].get("annotations") or {}).get(LAST_APPLIED)
    if text:
        return json.loads(text)
    sent = {key: value for key, value in obj.items() if key != "status"}
    sent["metadata"] = {k: v for k, v in obj["metadata"].items() if k in ("name", "namespace", "labels", "annotations")}
    return sent


def _annotated(objects: list[dict[str, Any]]) -> int:
    return sum(1 for o in objects if LAST_APPLIED in (o["metadata"].get("annotations") or {}))


@pytest.mark.parametrize("version", ["1.30.0", "1.33.0", "1.37.0"])
def test_every_object_is_valid_in_strict_mode(stack, kube: Kube, version):
    objects = managed_objects(kube)
    assert len(objects) >= 25 and _annotated(objects) >= 20
    for obj in objects:
        kubernetes_validate.validate(as_sent(obj), version, strict=True)


def test_the_api_server_takes_every_object_in_strict_mode(stack, kube: Kube, namespace: str):
    """The objects as sent, created again (server-side dry run, fieldValidation=Strict) in an empty namespace:
    an unknown or duplicate field, which the server would only have warned about, is an error here."""
    sent = []
    for obj in managed_objects(kube):
        obj = copy.deepcopy(as_sent(obj))
        obj["metadata"]["namespace"] = namespace
        if obj["kind"] == "Secret":  # an annotation keeps digests of the values, not base64
            obj["data"] = {
                k: base64.b64encode(b"x").decode() if v.startswith("sha256:") else v
                for k, v in obj.get("data", {}).items()
            }
        sent.append(obj)
    out = kube.run(
        "create", "--dry-run=server", "--validate=strict", "-o", "name", "-f", "-", input=yaml.safe_dump_all(sent)
    )
    assert len(out.split()) == len(sent) >= 25
    assert kube.json("get", KINDS, "-n", namespace, "-l", "app.kubernetes.io/managed-by=px.airflow")["items"] == []


def _can(kube: Kube, verb: str, resource: str, namespace: str, account: str) -> bool:
    out = kube.run(
        "auth", "can-i", verb, resource, "-n", namespace, f"--as=system:serviceaccount:{NS}:{account}", check=False
    )
    assert out.split()[0] in ("yes", "no"), out
    return out.split()[0] == "yes"


def test_task_pods_cannot_reach_the_database_and_rbac_is_namespaced(stack, kube: Kube):
    policy = kube.json("get", "networkpolicy", "af-postgresql", "-n", NS)
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert policy["spec"]["ingress"] == [
        {
            "from": [{"podSelector": {"matchLabels": {"px.airflow/db-client": "true"}}}],
            "ports": [{"port": 5432, "protocol": "TCP"}],
        }
    ]
    # The policy selects the database pod, and lets in exactly the components (not the pods of tasks).
    database = kube.json("get", "pod", "af-postgresql-0", "-n", NS)
    assert database["metadata"]["labels"].items() >= policy["spec"]["podSelector"]["matchLabels"].items()
    clients = kube.json("get", "pods", "-n", NS, "-l", "px.airflow/db-client=true,app.kubernetes.io/name=airflow")
    running = {
        p["metadata"]["labels"]["app.kubernetes.io/component"]
        for p in clients["items"]
        if p["status"]["phase"] == "Running"
    }
    assert running == set(COMPONENTS)
    template = yaml.safe_load(
        kube.json("get", "configmap", "af-airflow-config", "-n", NS)["data"]["pod_template_file.yaml"]
    )
    assert "px.airflow/db-client" not in template["metadata"]["labels"]
    assert "secretKeyRef" not in json.dumps(template) and "envFrom" not in json.dumps(template)
    worker = template["spec"]["serviceAccountName"]
    # A task pod cannot fetch the database password through the API either.
    assert not _can(kube, "get", "secrets", NS, worker)
    assert _can(kube, "create", "pods", NS, "af-airflow-scheduler")  # can-i answers yes where it should
    rules = [r for role in kube.json("get", "roles", "-n", NS)["items"] for r in role["rules"]]
    assert rules and all("*" not in r["verbs"] and "*" not in r["resources"] for r in rules)
    accounts = [
        a["metadata"]["name"]
        for a in kube.json("get", "serviceaccounts", "-n", NS, "-l", "app.kubernetes.io/instance=af")["items"]
    ]
    assert len(accounts) == 6
    for account in accounts:
        assert not _can(kube, "list", "pods", "default", account), account
    cluster_wide = [
        b["metadata"]["name"]
        for b in kube.json("get", "clusterrolebindings")["items"]
        if any(s.get("namespace") == NS for s in b.get("subjects") or [])
    ]
    assert cluster_wide == []


def test_a_rerun_never_changes_a_secret(stack, kube: Kube):
    before, after = stack["secrets"], secrets(kube)
    assert sorted(before) == ["af-airflow-metadata", "af-airflow-secrets", "af-postgresql"]
    assert {n: (s["metadata"]["uid"], s["data"]) for n, s in after.items()} == {
        n: (s["metadata"]["uid"], s["data"]) for n, s in before.items()
    }


def secret_values(kube: Kube) -> set[str]:
    """Every secret value (each fernet key of a list too), in clear and base64-encoded as the API shows it."""
    values = set()
    for secret in secrets(kube).values():
        for encoded in (secret.get("data") or {}).values():
            value = base64.b64decode(encoded).decode()
            values.update({value, encoded})
            values.update(part for part in value.split(",") if len(part) >= 12)
    return {v for v in values if len(v) >= 12}


def test_no_secret_value_in_a_configmap_or_a_literal_env_value(stack, kube: Kube):
    values = secret_values(kube)
    assert len(values) >= 10
    objects = kube.json("get", KINDS.replace("secrets,", "") + ",pods,events", "-n", NS)["items"]
    assert {o["kind"] for o in objects} >= {"ConfigMap", "Deployment", "StatefulSet", "Job", "Pod"}
    exposed = json.dumps(objects)
    assert [v[:4] + "..." for v in values if v in exposed] == []


def test_secrets_never_appear_in_verbose_output(stack, kube: Kube):
    values = secret_values(kube)
    for number, step in enumerate(stack["steps"], 1):
        output = step["output"]
        assert "<localhost> EXEC" in output or len(output) > 100_000, f"step {number} is not verbose"
        assert [v[:4] + "..." for v in values if v in output] == [], f"step {number}"


def test_touching_the_secrets_metadata_rolls_no_pod(stack, kube: Kube):
    assert len(stack["generations"]) == 4
    assert stack["generations after"] == stack["generations"]
    touched = secrets(kube)["af-airflow-secrets"]["metadata"]
    assert touched["labels"]["backup.example/touched"] == "yes"
    assert "kubectl.kubernetes.io/last-applied-configuration" in touched["annotations"]
    # The fourth step, after the touch, changed nothing and wrote nothing (test_four_steps_check_run_check_run).
    assert stack["steps"][3]["recap"]["changed"] == 0 and stack["steps"][3]["writes"] == []


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


def test_a_reader_that_finds_the_wrong_token_fails_the_run_and_leaks_nothing(stack, kube: Kube, cluster_dir, tmp_path):
    outcome = _dag_run(kube, cluster_dir, tmp_path, conf={"expect_token": "not-the-token"})
    assert outcome["failed"] and outcome["state"] == "failed"
    assert "read=failed" in outcome["msg"]
    assert "token mismatch" in outcome["msg"]
    kube.wait_for("the demo's claims to be gone", lambda: _demo_claims(kube) == [], 120)


def test_bad_credentials_and_timeouts_are_reported_by_name(stack, kube: Kube, cluster_dir, tmp_path):
    outcome = _dag_run(kube, cluster_dir, tmp_path, airflow_password="definitely-wrong-pw")
    assert outcome["failed"]
    assert "rejected the username 'admin' and password (401)" in outcome["msg"]
    assert "through the Kubernetes API" in outcome["msg"]
    outcome = _dag_run(kube, cluster_dir, tmp_path, timeout=1, poll_interval=1)
    assert outcome["failed"] and "did not finish within 1 s" in outcome["msg"]
    # The run it stopped waiting for goes on; let it end before the next test counts pods.
    kube.wait_for(
        "the abandoned run's pods to finish",
        lambda: (
            not [
                p
                for p in kube.json("get", "pods", "-n", NS, "-l", "dag_id=portworx-demo")["items"]
                if p["status"].get("phase") in ("Pending", "Running")
            ]
            and _demo_claims(kube) == []
        ),
        300,
        interval=3,
    )


def test_a_run_survives_its_scheduler_being_killed(stack, kube: Kube, cluster_dir, tmp_path):
    before = kube.json("get", "pods", "-n", NS, "-l", "app.kubernetes.io/component=scheduler")["items"]
    assert len(before) == 1
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(_dag_run(kube, cluster_dir, tmp_path)))
    runner.start()
    # Once the executor has launched a task pod, the scheduler dies without a chance to clean up.
    workers = kube.wait_for(
        "a worker pod of portworx-demo",
        lambda: [
            p
            for p in kube.json("get", "pods", "-n", NS, "-l", "dag_id=portworx-demo")["items"]
            if p["status"].get("phase") in ("Pending", "Running")
        ],
        300,
    )
    # A real task pod: not among the database's clients, and no secret in its environment.
    for worker in workers:
        assert "px.airflow/db-client" not in worker["metadata"]["labels"]
        containers = json.dumps(worker["spec"]["containers"])
        assert "secretKeyRef" not in containers and "envFrom" not in containers
    name = before[0]["metadata"]["name"]
    kube.run("delete", "pod", name, "-n", NS, "--grace-period=0", "--force", check=False)
    runner.join(timeout=900)
    assert not runner.is_alive()
    assert not result.get("failed"), result.get("msg")
    assert result["state"] == "success"
    after = kube.json("get", "pods", "-n", NS, "-l", "app.kubernetes.io/component=scheduler")["items"]
    assert [p["metadata"]["name"] for p in after] != [name]


def _dag_runs_in_the_database(kube: Kube) -> int:
    out = kube.run(
        "exec", "af-postgresql-0", "-n", NS, "--", "sh", "-c",
        'PGPASSWORD="$POSTGRES_PASSWORD" psql -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc '
        "\"select count(*) from dag_run where dag_id = 'portworx-demo'\"",
    )  # fmt: skip
    return int(out.strip())


@pytest.fixture(scope="module")
def upgraded(stack, kube: Kube, cluster_dir: Path) -> dict[str, Any]:
    """One site.yml run with a new Airflow image tag and a bigger database volume; what was there before it."""
    before = {
        "runs": _dag_runs_in_the_database(kube),
        "claim": kube.json("get", "pvc", "data-af-postgresql-0", "-n", NS),
        "secrets": secrets(kube),
    }
    # A second local Airflow tag: what a user's upgrade to a new image looks like here.
    sock = cluster_dir / "run" / "containerd.sock"
    subprocess.run(
        ["ctr", "--address", str(sock), "-n", "k8s.io", "images", "tag", "--force",
         "localhost/px-airflow/apache/airflow:3.3.2", NEW_IMAGE],
        check=True, capture_output=True,
    )  # fmt: skip
    proc = site(cluster_dir, "-e", "airflow_image_tag=3.3.2-px1", "-e", f"postgres_storage_size={GROWN}")
    assert proc.returncode == 0, proc.stdout[-4000:]
    return before


def test_an_image_upgrade_snapshots_the_database_first_and_keeps_runs_and_users(
    upgraded, kube: Kube, cluster_dir, tmp_path
):
    runs = upgraded["runs"]
    assert runs >= 1
    snapshots = kube.json("get", "volumesnapshots", "-n", NS)["items"]
    before = [s for s in snapshots if s["metadata"]["name"].startswith("af-db-before-")]
    assert len(before) == 1, [s["metadata"]["name"] for s in snapshots]
    assert before[0]["spec"]["source"]["persistentVolumeClaimName"] == "data-af-postgresql-0"
    assert before[0]["status"]["readyToUse"] is True
    for deployment in kube.json("get", "deployments", "-n", NS)["items"]:
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == NEW_IMAGE
        assert deployment["status"].get("updatedReplicas") == deployment["spec"]["replicas"]
    for component in COMPONENTS:
        pods = kube.json("get", "pods", "-n", NS, "-l", f"app.kubernetes.io/component={component}")["items"]
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        assert [p["spec"]["containers"][0]["image"] for p in live] == [NEW_IMAGE], component
    # The migrations ran once per image; the database, its volume and every secret stayed.
    migrations = kube.json("get", "jobs", "-n", NS, "-l", "app.kubernetes.io/component=migrate")["items"]
    assert len(migrations) == 2, [j["metadata"]["name"] for j in migrations]
    claim = kube.json("get", "pvc", "data-af-postgresql-0", "-n", NS)
    assert claim["metadata"]["uid"] == upgraded["claim"]["metadata"]["uid"]
    assert claim["spec"]["volumeName"] == upgraded["claim"]["spec"]["volumeName"]
    assert {n: s["data"] for n, s in secrets(kube).items()} == {n: s["data"] for n, s in upgraded["secrets"].items()}
    assert _dag_runs_in_the_database(kube) == runs
    # The admin user survived: the demo logs in with the same password and runs on the new image.
    outcome = _dag_run(kube, cluster_dir, tmp_path)
    assert not outcome.get("failed"), outcome.get("msg")
    assert _dag_runs_in_the_database(kube) == runs + 1


def test_growing_the_database_volume_expands_the_claim_in_place(upgraded, kube: Kube):
    old = upgraded["claim"]
    assert old["spec"]["resources"]["requests"]["storage"] == "8Gi"
    claim = kube.json("get", "pvc", "data-af-postgresql-0", "-n", NS)
    assert claim["spec"]["resources"]["requests"]["storage"] == GROWN
    assert claim["spec"]["volumeName"] == old["spec"]["volumeName"]
    # The StatefulSet's claim template cannot change: it keeps the size it was created with.
    statefulset = kube.json("get", "statefulset", "af-postgresql", "-n", NS)
    assert statefulset["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "8Gi"
    volume = claim["spec"]["volumeName"]
    kube.wait_for(
        f"volume {volume} and its claim to show {GROWN}",
        lambda: (
            kube.json("get", "pv", volume)["spec"]["capacity"]["storage"] == GROWN
            and kube.json("get", "pvc", "data-af-postgresql-0", "-n", NS)["status"]["capacity"]["storage"] == GROWN
        ),
        60,
    )


def test_teardown_keeps_the_data_then_site_finds_it(stack, kube: Kube, cluster_dir):
    claim = kube.json("get", "pvc", "data-af-postgresql-0", "-n", NS)
    volume = claim["spec"]["volumeName"]
    kept = {s["metadata"]["name"]: s["data"] for s in kube.json("get", "secrets", "-n", NS)["items"]}
    down = site(cluster_dir, name="teardown.yml")
    assert down.returncode == 0, down.stdout[-3000:]
    assert kube.json("get", "deployments,statefulsets", "-n", NS)["items"] == []
    assert kube.json("get", "pvc", "data-af-postgresql-0", "-n", NS)["spec"]["volumeName"] == volume
    # The claim grew in the upgrade test: site.yml refuses a smaller size (a volume cannot shrink).
    up = site(cluster_dir, "-e", f"postgres_storage_size={GROWN}")
    assert up.returncode == 0, up.stdout[-3000:]
    assert kube.json("get", "pvc", "data-af-postgresql-0", "-n", NS)["spec"]["volumeName"] == volume
    after = {s["metadata"]["name"]: s["data"] for s in kube.json("get", "secrets", "-n", NS)["items"]}
    assert after == kept
    # The database kept its history: the demo runs of earlier tests are still there.
    assert _dag_runs_in_the_database(kube) >= 2


def test_purge_removes_the_namespace_and_its_volumes(stack, kube: Kube, cluster_dir):
    volumes = [c["spec"]["volumeName"] for c in kube.json("get", "pvc", "-n", NS)["items"]]
    assert volumes
    purge = site(cluster_dir, "-e", "purge=true", name="teardown.yml")
    assert purge.returncode == 0, purge.stdout[-3000:]
    assert kube.get("namespace", NS) is None
    for volume in volumes:
        assert kube.get("pv", volume) is None
