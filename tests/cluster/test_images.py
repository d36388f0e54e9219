"""The local images as pods on the real cluster: each runs; PostgreSQL initialises once, keeps its
data across a pod restart and checks passwords; Airflow answers under the restricted profile."""

from __future__ import annotations

import pytest

from .kube import Kube, claim, pod, unique

REG = "localhost/px-airflow"
PX_CLASS = "px-images-test"


def _restricted(kube: Kube) -> str:
    name = unique("img")
    kube.create_namespace(name, labels={"pod-security.kubernetes.io/enforce": "restricted"})
    return name


@pytest.fixture
def restricted(kube: Kube):
    name = _restricted(kube)
    yield name
    kube.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.mark.parametrize(
    ("image", "command", "uid", "expected"),
    [
        ("busybox:1.35", ["sh", "-c", "echo hello from busybox"], 1000, "hello from busybox"),
        ("python:3.11-slim", ["python3", "-c", "import sys; print(sys.version.split()[0])"], 1000, "3.11"),
        ("apache/airflow:3.3.2", ["airflow", "version"], 50000, "3.3.2"),
        ("postgres:17.11", ["postgres", "--version"], 999, "postgres (PostgreSQL) 17.11"),
    ],
)
def test_a_pod_from_each_local_image_runs_under_the_restricted_profile(kube, restricted, image, command, uid, expected):
    spec = pod("run", command, image=f"{REG}/{image}")
    spec["spec"]["containers"][0]["securityContext"]["runAsUser"] = uid
    kube.apply(spec, namespace=restricted)
    assert kube.wait_pod_done("run", restricted, timeout=240) == "Succeeded", kube.logs("run", restricted)
    # stdout and stderr are separate streams in the container log, so a warning may land after the
    # answer: look for the line rather than trust its position.
    lines = kube.logs("run", restricted).strip().splitlines()
    assert any(line.startswith(expected) for line in lines), lines


def _postgres_pod(name: str, claim: str) -> dict:
    spec = pod(name, ["docker-entrypoint.sh", "postgres"], image=f"{REG}/postgres:17.11", volumes={claim: "/data"})
    container = spec["spec"]["containers"][0]
    container["securityContext"]["runAsUser"] = 999
    container["env"] = [
        {"name": "POSTGRES_USER", "value": "owner"},
        {"name": "POSTGRES_PASSWORD", "value": "s3cret-pw"},
        {"name": "POSTGRES_DB", "value": "things"},
        {"name": "PGDATA", "value": "/data/pgdata"},
    ]
    container["readinessProbe"] = {
        "exec": {"command": ["pg_isready", "-h", "127.0.0.1", "-U", "owner"]},
        "periodSeconds": 1,
    }
    spec["spec"]["securityContext"] = {"fsGroup": 999}
    spec["metadata"]["labels"] = {"app": "db"}
    return spec


def _psql(kube: Kube, namespace: str, host: str, password: str, sql: str) -> tuple[str, str]:
    """psql from a client pod over TCP (password authentication), as another pod would connect."""
    name = unique("psql")
    spec = pod(
        name,
        ["sh", "-c", f'PGPASSWORD="{password}" psql -h {host} -U owner -d things -tAc "{sql}" 2>&1; echo "rc=$?"'],
        image=f"{REG}/postgres:17.11",
    )
    spec["spec"]["containers"][0]["securityContext"]["runAsUser"] = 999
    kube.apply(spec, namespace=namespace)
    kube.wait_pod_done(name, namespace, timeout=120)
    # stderr goes into stdout in the pod, so the status line is the last line in order; find it
    # by its prefix all the same, so a reordering can never swap output and status.
    lines = kube.run("logs", name, "-n", namespace, check=False).strip().splitlines()
    status = [line for line in lines if line.startswith("rc=")]
    return "\n".join(line for line in lines if not line.startswith("rc=")), status[-1] if status else ""


def test_postgres_initialises_once_keeps_its_data_and_checks_passwords(kube: Kube, restricted: str):
    kube.apply(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": PX_CLASS},
            "provisioner": "pxd.portworx.com",
            "parameters": {"repl": "1"},
            "reclaimPolicy": "Delete",
        }
    )
    kube.apply(claim("db", PX_CLASS), _postgres_pod("db", "db"), namespace=restricted)
    kube.run("wait", "--for=condition=Ready", "pod/db", "-n", restricted, "--timeout=180s", timeout=200)
    first = kube.logs("db", restricted)
    assert "PostgreSQL init process complete" in first
    host = kube.json("get", "pod", "db", "-n", restricted)["status"]["podIP"]
    out, rc = _psql(kube, restricted, host, "s3cret-pw", "create table t (v text); insert into t values ('kept')")
    assert rc == "rc=0", out
    out, rc = _psql(kube, restricted, host, "wrong-pw", "select 1")
    assert rc != "rc=0" and "password authentication failed" in out
    # A new pod on the same claim: no second initdb, the row is still there.
    kube.delete("pod", "db", restricted)
    kube.apply(_postgres_pod("db", "db"), namespace=restricted)
    kube.run("wait", "--for=condition=Ready", "pod/db", "-n", restricted, "--timeout=180s", timeout=200)
    second = kube.logs("db", restricted)
    assert "Skipping initialization" in second and "init process complete" not in second
    host = kube.json("get", "pod", "db", "-n", restricted)["status"]["podIP"]
    out, rc = _psql(kube, restricted, host, "s3cret-pw", "select v from t")
    assert (out.strip(), rc) == ("kept", "rc=0")
    kube.run("delete", "namespace", restricted, "--wait=true", "--timeout=120s", check=False, timeout=150)
    kube.run("delete", "storageclass", PX_CLASS, "--ignore-not-found", check=False)


def test_the_airflow_api_server_answers_its_health_check_as_uid_50000(kube: Kube, restricted: str):
    spec = pod(
        "api",
        ["sh", "-c", "airflow db migrate >/tmp/migrate.log 2>&1 && exec airflow api-server --port 8080"],
        image=f"{REG}/apache/airflow:3.3.2",
    )
    container = spec["spec"]["containers"][0]
    container["securityContext"]["runAsUser"] = 50000
    container["env"] = [{"name": "AIRFLOW__CORE__LOAD_EXAMPLES", "value": "False"}]
    container["readinessProbe"] = {
        "httpGet": {"path": "/api/v2/monitor/health", "port": 8080},
        "periodSeconds": 2,
        "failureThreshold": 150,
    }
    kube.apply(spec, namespace=restricted)
    kube.run("wait", "--for=condition=Ready", "pod/api", "-n", restricted, "--timeout=300s", timeout=330)
    running = kube.json("get", "pod", "api", "-n", restricted)
    assert running["spec"]["containers"][0]["securityContext"]["runAsUser"] == 50000
    assert running["status"]["containerStatuses"][0]["ready"] is True
