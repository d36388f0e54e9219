"""Bad input never reaches the cluster: site.yml against a deployed stack on the local real cluster.

The stack is deployed once (site.yml without the demo) into a namespace of its own. Then every
mistaken setting below is passed to site.yml with -e, as a user would: each must be refused with a
message naming the setting, and all the runs together must write nothing (the API server's audit
log), leaving the stack's Secrets and its database volume byte-identical (PostgreSQL is scaled to
zero first, so nothing but a write of ours could change its files).

The settings the preflight checks side by side go into one run (it reports every problem at once,
as a user who made several mistakes would see them); the ones that change what the others are
checked against (namespace, release, database mode, a type the argument specs refuse) run alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from .kube import ROOT, Kube, unique

pytestmark = pytest.mark.slow

LONG = "a" * 45

# One run: settings the preflight checks side by side (the namespace and release stay the deployed ones).
TOGETHER = {
    "airflow_image_tag": ("2.10.5", ["is Airflow 2; this collection deploys Airflow 3"]),
    "dags_image": ("python:3.11 slim", ["not a valid image reference"]),
    "demo_image": ("BusyBox:1.35", ["not a valid image reference"]),
    "postgres_image_tag": ("16.4", ["is PostgreSQL 16, older than the PostgreSQL 17 whose data is on the volume"]),
    "postgres_storage_size": ("4Gi", ["would shrink the claim", "Keep postgres_storage_size at 8Gi or more"]),
    "airflow_logs_size": ("10Gi", ["would shrink the claim"]),
    "airflow_dags_size": ("10", ["has no unit, so Kubernetes reads it as 10 bytes"]),
    "postgres_resources": ({"requests": {"cpu": "-1"}}, None),
    "airflow_resources": (
        {
            "scheduler": {"requests": {"cpu": "250mm"}},
            "triggerer": {"requests": {"memory": "1 Gi"}},
            "worker": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}},
            "schedular": {},
            "api_server": {"request": {"cpu": "1"}},
        },
        None,
    ),
    "airflow_replicas": ({"schedulers": 2, "triggerer": 0}, None),
    "airflow_config": (
        {
            "nosuch": {"a": 1},
            "core": {
                "paralelism": 3,
                "executor": "CeleryExecutor",
                "max_active_tasks_per_dag": "many",
                "fernet_key": "x",
            },
            "scheduler": "use_job_schedule=false",
            "dag_processor": {"refresh_interval": "soon"},
            "metrics": {"statsd_on": "maybe"},
            "sensors": {"default_timeout": "long"},
        },
        None,
    ),
    "airflow_dag_refresh_interval": (-1, ["is less than 1"]),
    "airflow_parallelism": (0, ["is less than 1"]),
    "airflow_log_retention_days": (0, ["is less than 1"]),
    "airflow_log_cleanup_schedule": ("every day", ["is not a valid cron schedule"]),
    "airflow_database_port": (99999, ["is not a TCP port"]),
    "airflow_database_host": ("db.example:5432", ["carries a port"]),
    "airflow_admin_username": ("", ["must not be empty"]),
    "airflow_admin_email": ("-a@example.invalid", ["starts with '-', which airflow users create would read"]),
    "airflow_wait_timeout": (-5, ["is less than 1"]),
    "airflow_shared_storage_class": ("PX_Shared", ["not a valid Kubernetes object name"]),
    "airflow_snapshot_class": ("Snap Class", ["not a valid Kubernetes object name"]),
    "airflow_image_pull_secrets": (["Reg Cred"], None),
    "postgres_image_pull_secrets": (["regcred", "bad_one"], None),
    "storage_db_class": ({"nme": "x"}, None),
    "storage_scratch_class": ({"name": "Scratch_Class"}, None),
    "dags_keep_versions": (0, ["is less than 1"]),
    "dags_timeout": (0, ["is less than 1"]),
    "demo_timeout": (0, ["is less than 1"]),
    "demo_scratch_class": ("Bad Class", ["not a valid Kubernetes object name"]),
    "demo_dag_id": ("", ["must not be empty"]),
    "airflow_ingress": ({"enabled": True, "host": "https://airflow.example"}, None),
    "postgres_wait_timeout": (0, ["is less than 1"]),
}
# Nested settings: the message names the exact key.
NESTED = {
    "postgres_resources.requests.cpu: '-1' must be more than zero",
    "airflow_resources.scheduler.requests.cpu: '250mm' is not a Kubernetes quantity",
    "airflow_resources.triggerer.requests.memory: '1 Gi' is not a Kubernetes quantity",
    "airflow_resources.worker.requests.memory: '2Gi' is more than its limit 1Gi",
    "airflow_resources.schedular: {} is not a component",
    "airflow_resources.api_server.request: ",
    "airflow_replicas.schedulers: 2 is not a known key",
    "airflow_replicas.triggerer: 0 is less than 1",
    "airflow_config.nosuch: ",
    "airflow_config.core.paralelism: 3 is not an option of [core]",
    "airflow_config.core.executor: 'CeleryExecutor' is not the KubernetesExecutor",
    "airflow_config.core.max_active_tasks_per_dag: 'many' is not a whole number",
    "airflow_config.core.fernet_key: '(hidden)' is a secret",
    "airflow_config.scheduler: 'use_job_schedule=false' must be a dictionary of keys",
    "airflow_config.dag_processor.refresh_interval: 'soon' is not a whole number",
    "airflow_config.metrics.statsd_on: 'maybe' is not true or false",
    "airflow_config.sensors.default_timeout: 'long' is not a number",
    "airflow_image_pull_secrets[0]: 'Reg Cred' is not a valid Kubernetes object name",
    "postgres_image_pull_secrets[1]: 'bad_one' is not a valid Kubernetes object name",
    "storage_db_class.nme: 'x' is not a known key",
    "storage_scratch_class.name: 'Scratch_Class' is not a valid Kubernetes object name",
    "airflow_ingress.host: 'https://airflow.example' is a URL",
}

# Alone: each changes what the others would be checked against, or fails before the preflight.
ALONE = [
    ("system namespace", {"px_namespace": "kube-system"}, ["px_namespace: 'kube-system' belongs to Kubernetes itself"]),
    ("default namespace", {"px_namespace": "default"}, ["px_namespace: 'default' belongs to Kubernetes itself"]),
    ("kube-public", {"px_namespace": "kube-public"}, ["px_namespace: 'kube-public' belongs to Kubernetes itself"]),
    ("uppercase namespace", {"px_namespace": "Airflow"}, ["'Airflow' is not a valid Kubernetes name"]),
    ("underscored namespace", {"px_namespace": "air_flow"}, ["'air_flow' is not a valid Kubernetes name"]),
    ("namespace too long", {"px_namespace": "n" * 64}, ["is not a valid Kubernetes name: at most 63 characters"]),
    (
        "foreign namespace",
        {"px_namespace": "{foreign}"},
        ["already holds workloads that are not this release's (Deployment shop)"],
    ),
    ("uppercase release", {"px_release": "Af"}, ["px_release", "'Af' is not a valid release name"]),
    ("underscored release", {"px_release": "a_f"}, ["'a_f' is not a valid release name"]),
    ("release too long", {"px_release": LONG}, ["makes the", "characters long; Kubernetes allows"]),
    ("release starting with a digit", {"px_release": "1af"}, ["'1af' is not a valid release name"]),
    (
        "external host given as a URL, on an internal release",
        {
            "postgres_mode": "external",
            "postgres_external_host": "postgres://db.example:5432/airflow",
            "postgres_external_password": "pw",
        },
        [
            "postgres_external_host: 'postgres://db.example:5432/airflow' is a URL",
            "postgres_mode: 'external' would switch the release's database from the internal PostgreSQL",
        ],
    ),
    (
        "external host with a port",
        {
            "postgres_mode": "external",
            "postgres_external_host": "db.example:5432",
            "postgres_external_password": "pw",
            "postgres_allow_mode_switch": True,
        },
        ["postgres_external_host: 'db.example:5432' carries a port"],
    ),
    (
        "external without a password",
        {"postgres_mode": "external", "postgres_external_host": "db.example"},
        ["external mode needs postgres_external_host and postgres_external_password"],
    ),
    (
        "postgres major upgrade",
        {"postgres_image_tag": "18.1"},
        ["postgres_image_tag", "pg_upgrade", "postgres_allow_major_upgrade: true"],
    ),
    ("Airflow without a version", {"airflow_image_tag": "latest"}, ["airflow_image_tag", "names no version"]),
    (
        "registries with a scheme and a trailing slash",
        {"airflow_image_registry": "https://mirror.example", "dags_image_registry": "mirror.example/"},
        [
            "airflow_image_registry: 'https://mirror.example' has a scheme",
            "dags_image_registry: 'mirror.example/' ends with '/'",
        ],
    ),
    ("unknown database mode", {"postgres_mode": "externl"}, ["postgres_mode", "externl"]),
    ("timeout that is not a number", {"airflow_wait_timeout": "soon"}, ["airflow_wait_timeout"]),
    ("replicas given as a string", {"airflow_replicas": "scheduler=2"}, ["airflow_replicas"]),
    ("config given as a string", {"airflow_config": "core.parallelism=3"}, ["airflow_config"]),
    (
        "database name not an identifier",
        {"postgres_database": "air-flow"},
        ["postgres_database: 'air-flow' is not an SQL identifier"],
    ),
]


# Every run of this module impersonates this user (as a member of system:masters): the audit log then
# tells its requests apart from anything else on the shared cluster.
USER = unique("px-preflight-test")


def site(cluster_dir: Path, namespace: str, *args: str, extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K8S_AUTH_", "ANSIBLE_"))}
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    env.update(K8S_AUTH_IMPERSONATE_USER=USER, K8S_AUTH_IMPERSONATE_GROUPS="system:masters")
    cmd = [
        str(ROOT / ".venv" / "bin" / "ansible-playbook"),
        str(ROOT / "playbooks" / "site.yml"),
        "-e", f"@{ROOT / 'inventory' / 'px-cluster.yml'}",
        "-e", f"px_kubeconfig={cluster_dir / 'kubeconfig'}",
        "-e", "px_context=px-local",
        "-e", f"px_namespace={namespace}",
        *(["-e", json.dumps(extra)] if extra else []),
        *args,
    ]  # fmt: skip
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)


def tree_digest(path: Path) -> str:
    """A digest of every file's path, mode and bytes under path."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*")):
        stat = file.lstat()
        digest.update(f"{file.relative_to(path)}:{stat.st_mode}\n".encode())
        if file.is_file() and not file.is_symlink():
            digest.update(file.read_bytes())
    return digest.hexdigest()


def secrets(kube: Kube, namespace: str) -> dict:
    items = kube.json("get", "secrets", "-n", namespace)["items"]
    return {s["metadata"]["name"]: (s.get("data"), s["metadata"]["resourceVersion"]) for s in items}


def generations(kube: Kube, namespace: str) -> dict:
    items = kube.json("get", "deployments,statefulsets,cronjobs,persistentvolumeclaims,configmaps", "-n", namespace)[
        "items"
    ]
    return {(i["kind"], i["metadata"]["name"]): (i["metadata"].get("generation"), i.get("spec")) for i in items}


@pytest.fixture(scope="module")
def stack(kube: Kube, cluster_dir: Path):
    """A deployed stack, PostgreSQL scaled to zero, and a namespace holding a workload of someone else's."""
    namespace, foreign = unique("pf"), unique("shop")
    kube.create_namespace(foreign)
    deployed = site(cluster_dir, namespace, "--skip-tags", "demo")
    assert deployed.returncode == 0, deployed.stdout[-4000:] + deployed.stderr[-2000:]
    shop = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "shop"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "shop"}},
            "template": {
                "metadata": {"labels": {"app": "shop"}},
                "spec": {"containers": [{"name": "c", "image": "localhost/px-airflow/busybox:1.35"}]},
            },
        },
    }
    kube.apply(shop, namespace=foreign)
    kube.run("scale", "statefulset", "af-postgresql", "-n", namespace, "--replicas=0")
    kube.wait_for("PostgreSQL stopped", lambda: kube.get("pod", "af-postgresql-0", namespace) is None, 180)
    claim = kube.get("pvc", "data-af-postgresql-0", namespace)
    volume = Path(kube.get("pv", claim["spec"]["volumeName"])["spec"]["hostPath"]["path"])
    yield {"namespace": namespace, "foreign": foreign, "volume": volume}
    for name in (namespace, foreign):
        kube.run("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def refused(kube: Kube, cluster_dir: Path, stack: dict):
    """Every bad input run against the deployed stack, with the audit mark and the state before."""
    namespace = stack["namespace"]
    before = {
        "secrets": secrets(kube, namespace),
        "objects": generations(kube, namespace),
        "volume": tree_digest(stack["volume"]),
    }
    mark = kube.audit.mark()
    runs = {"together": site(cluster_dir, namespace, extra={k: v for k, (v, _) in TOGETHER.items()})}
    for name, settings, _ in ALONE:
        settings = {k: (v.format(foreign=stack["foreign"]) if isinstance(v, str) else v) for k, v in settings.items()}
        runs[name] = site(cluster_dir, settings.pop("px_namespace", namespace), extra=settings)
    return {"runs": runs, "mark": mark, "before": before}


def output(proc: subprocess.CompletedProcess) -> str:
    return " ".join((proc.stdout + proc.stderr).replace("\\n", "\n").split())


def test_there_are_at_least_sixty_bad_inputs():
    # Inputs, not message fragments: each top-level setting that is refused by its own line, each
    # nested refusal (one bad key or value inside a dict), and each run of one case alone.
    together = sum(1 for _, words in TOGETHER.values() if words) + len(NESTED)
    assert len({name for name, _, _ in ALONE}) == len(ALONE)
    assert together + len(ALONE) >= 60, (together, len(ALONE))


def test_every_setting_of_the_batch_is_refused_by_name(refused):
    proc = refused["runs"]["together"]
    text = output(proc)
    assert proc.returncode != 0
    assert "cannot be honoured; nothing was changed" in text, text[-3000:]
    missing = [
        f"{setting}: ... {word}"
        for setting, (_, words) in TOGETHER.items()
        for word in (words or [])
        if not any(f"{setting}: " in line and word in line for line in text.split("- "))
    ]
    missing += [line for line in NESTED if line not in text]
    assert not missing, f"not refused by name: {missing}\n{text[-6000:]}"


@pytest.mark.parametrize("name", [name for name, _, _ in ALONE])
def test_each_setting_alone_is_refused_by_name(refused, name):
    proc = refused["runs"][name]
    text = output(proc)
    words = next(words for n, _, words in ALONE if n == name)
    assert proc.returncode != 0, text[-3000:]
    for word in words:
        assert word in text, f"{word!r} not in: {text[-3000:]}"


def test_no_bad_input_wrote_anything(kube: Kube, refused):
    writes = kube.audit.writes(refused["mark"], impersonated=USER)
    assert writes == [], kube.audit.describe(writes)
    # The runs did talk to the cluster as that user (the live checks read it): the filter can see them.
    reads = kube.audit.requests(refused["mark"], impersonated=USER)
    assert {e["objectRef"]["resource"] for e in reads if e.get("objectRef")} >= {
        "persistentvolumeclaims",
        "statefulsets",
        "deployments",
    }


def test_secrets_objects_and_database_volume_are_unchanged(kube: Kube, stack: dict, refused):
    before = refused["before"]
    assert secrets(kube, stack["namespace"]) == before["secrets"]
    assert generations(kube, stack["namespace"]) == before["objects"]
    assert tree_digest(stack["volume"]) == before["volume"]
    ns = kube.get("namespace", "kube-system")
    assert "pod-security.kubernetes.io/enforce" not in ns["metadata"].get("labels", {})


def test_switching_to_an_external_database_when_asked_keeps_the_internal_secrets(
    kube: Kube, cluster_dir: Path, stack: dict, refused
):
    namespace = stack["namespace"]
    internal = kube.get("secret", "af-postgresql", namespace)
    switch = {
        "postgres_mode": "external",
        "postgres_external_host": "db.example",
        "postgres_external_password": "given",
        "postgres_allow_mode_switch": True,
    }
    proc = site(cluster_dir, namespace, "--tags", "postgres", extra=switch)
    assert proc.returncode == 0, output(proc)[-3000:]
    after = kube.get("secret", "af-postgresql", namespace)
    assert (after["data"], after["metadata"]["resourceVersion"]) == (
        internal["data"],
        internal["metadata"]["resourceVersion"],
    )
    external = kube.get("secret", "af-postgresql-external", namespace)
    assert external is not None and external["data"]["password"] == "Z2l2ZW4="  # base64 of "given"
    assert kube.get("statefulset", "af-postgresql", namespace) is not None  # the data stays
