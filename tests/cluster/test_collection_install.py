"""The collection as a user installs it: built into a tarball, installed, and run with no checkout.

`ansible-galaxy collection build` then `install` into an empty directory; the playbooks run as
`ansible-playbook px.airflow.site` / `px.airflow.teardown` from an empty working directory, with no
inventory and no ansible.cfg, only the settings a user passes with -e (here the local cluster's,
inventory/px-cluster.yml). kubernetes.core is the only other collection on the path.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import ROOT, VENV_BIN

from .kube import Kube, unique

COLLECTION = ROOT / "collections" / "ansible_collections" / "px" / "airflow"
ROLES = ["storage", "postgres", "airflow", "dags", "demo", "_common"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The collection built and installed into a directory of its own, beside kubernetes.core."""
    base = tmp_path_factory.mktemp("galaxy")
    # As a user's shell: none of this repo's Ansible settings (its collections path holds px.airflow
    # already, and ansible-galaxy would then install nothing).
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    subprocess.run(
        [str(VENV_BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(base)],
        cwd=COLLECTION,
        env=clean,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (tarball,) = base.glob("px-airflow-*.tar.gz")
    path = base / "collections"
    subprocess.run(
        [
            str(VENV_BIN / "ansible-galaxy"),
            "collection",
            "install",
            "--no-deps",
            "--force",
            "-p",
            str(path),
            str(tarball),
        ],
        cwd=base,
        env=clean,
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert (path / "ansible_collections" / "px" / "airflow" / "MANIFEST.json").is_file(), (
        "the tarball was not installed"
    )
    (path / "ansible_collections" / "kubernetes").mkdir()
    (path / "ansible_collections" / "kubernetes" / "core").symlink_to(
        ROOT / "collections" / "ansible_collections" / "kubernetes" / "core"
    )
    workdir = base / "work"
    workdir.mkdir()
    return {"tarball": tarball, "path": path, "workdir": workdir}


def _env(installed: dict[str, Path], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K8S_AUTH_", "ANSIBLE_", "KUBECONFIG"))}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        ANSIBLE_COLLECTIONS_PATH=str(installed["path"]),
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
        PWD=str(installed["workdir"]),
        **extra,
    )
    return env


def _playbook(installed: dict[str, Path], kube: Kube, name: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(VENV_BIN / "ansible-playbook"),
            f"px.airflow.{name}",
            "-e",
            f"@{ROOT / 'inventory' / 'px-cluster.yml'}",
            "-e",
            f"px_kubeconfig={kube.kubeconfig}",
            "-e",
            f"px_context={kube.context}",
            *args,
        ],
        cwd=installed["workdir"],
        env=_env(installed, **env),
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )


def test_the_tarball_carries_the_playbooks_the_demo_dag_and_every_role(installed):
    with tarfile.open(installed["tarball"]) as tar:
        names = set(tar.getnames())
    for path in ("playbooks/site.yml", "playbooks/teardown.yml", "dags/portworx_demo.py", "README.md"):
        assert path in names, f"{path} is not in {installed['tarball'].name}"
    for role in ROLES:
        assert f"roles/{role}/meta/argument_specs.yml" in names
    # Nothing of a developer's checkout travels: no test output, no caches.
    assert not [n for n in names if n.startswith("tests/output") or "__pycache__" in n]


@pytest.mark.parametrize("role", ROLES)
def test_ansible_doc_documents_each_role_of_the_installed_collection(installed, role):
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-doc"), "-t", "role", "--json", f"px.airflow.{role}"],
        cwd=installed["workdir"],
        env=_env(installed),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)[f"px.airflow.{role}"]
    main = doc["entry_points"]["main"]
    assert main["short_description"] and main["options"]
    # Every option says what it is for.
    assert not [name for name, option in main["options"].items() if not option.get("description")]


def test_check_mode_of_the_installed_site_playbook_writes_nothing(installed, kube: Kube):
    namespace, user = unique("inst-check"), unique("px-install-check")
    since = kube.audit.mark()
    proc = _playbook(
        installed,
        kube,
        "site",
        "--check",
        "-e",
        f"px_namespace={namespace}",
        K8S_AUTH_IMPERSONATE_USER=user,
        K8S_AUTH_IMPERSONATE_GROUPS="system:masters",
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    # It talked to the cluster (reads, the preflight) and wrote nothing.
    assert kube.audit.requests(since, impersonated=user)
    assert kube.audit.writes(since, impersonated=user) == []
    assert kube.get("namespace", namespace) is None
    # The demo says why it does not run before the first deploy, instead of failing.
    assert f"release af is not deployed in {namespace} yet" in proc.stdout


@pytest.mark.parametrize(
    ("name", "setting"),
    [
        # `-e px_stages=storage,postgres` is a string: the stages it names are checked all the same.
        ("site", "px_stages=storage,postgres"),
        # The teardown checks the namespace as the deploy does, before it deletes anything.
        ("teardown", "purge=true"),
    ],
)
def test_kube_system_is_refused_before_any_write(installed, kube: Kube, name, setting):
    user = unique(f"px-install-{name}")
    since = kube.audit.mark()
    proc = _playbook(
        installed,
        kube,
        name,
        "-e",
        "px_namespace=kube-system",
        "-e",
        setting,
        K8S_AUTH_IMPERSONATE_USER=user,
        K8S_AUTH_IMPERSONATE_GROUPS="system:masters",
    )
    assert proc.returncode != 0
    assert "px_namespace: 'kube-system' belongs to Kubernetes itself" in " ".join(proc.stdout.split())
    assert kube.audit.writes(since, impersonated=user) == []


def test_a_deploy_demo_and_purge_with_the_installed_playbooks(installed, kube: Kube):
    """The whole of px.airflow.site, demo-test included, then px.airflow.teardown -e purge=true."""
    namespace = unique("inst")
    report = installed["workdir"] / "demo-junit.xml"
    proc = _playbook(installed, kube, "site", "-e", f"px_namespace={namespace}")
    try:
        assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
        # The summary reports the demo's outcome and where its report went: the directory the
        # playbook ran from, since no inventory set demo_junit_path.
        assert "Demo-test: success (run " in proc.stdout and f"report in {report}" in proc.stdout
        root = ET.parse(report).getroot()
        suite = root if root.tag == "testsuite" else root.find("testsuite")
        assert suite.get("failures") == "0" and int(suite.get("tests")) > 0
        # The labels every role shares (the _common role's), and the release's own.
        labels = kube.get("statefulset", "af-postgresql", namespace)["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "px.airflow"
        assert labels["app.kubernetes.io/part-of"] == "airflow"
        assert labels["app.kubernetes.io/instance"] == "af"
        namespace_labels = kube.get("namespace", namespace)["metadata"]["labels"]
        assert namespace_labels["pod-security.kubernetes.io/enforce"] == "restricted"
        # The DAGs synced are the collection's own dags/ (the demo DAG), as installed.
        state = kube.get("configmap", "af-dags-sync-state", namespace)
        assert state is not None and "portworx_demo.py" in json.dumps(state["data"])
        # Check mode on the deployed release: the demo only predicts its trigger, nothing fails.
        again = _playbook(installed, kube, "site", "--check", "-e", f"px_namespace={namespace}")
        assert again.returncode == 0, again.stdout[-6000:] + again.stderr[-2000:]
        assert "Check mode: nothing was changed" in again.stdout
        claims = kube.json("get", "pvc", "-n", namespace, "-l", "app.kubernetes.io/instance=af")["items"]
        volumes = sorted(item["spec"]["volumeName"] for item in claims)
        assert len(volumes) == 3, volumes
    finally:
        down = _playbook(installed, kube, "teardown", "-e", f"px_namespace={namespace}", "-e", "purge=true")
    assert down.returncode == 0, down.stdout[-6000:] + down.stderr[-2000:]
    assert kube.get("namespace", namespace) is None
    # The claims' volumes (Retain classes) went with the purge, and the purge named them.
    for volume in volumes:
        assert kube.get("pv", volume) is None
        assert volume in down.stdout


def test_a_purge_in_a_shared_namespace_keeps_what_is_not_the_release(installed, kube: Kube, namespace: str):
    """px_namespace_shared: the purge deletes the release's claims, Secrets and volumes, nothing else."""
    kube.apply(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "theirs"}, "stringData": {"k": "v"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "theirs"}, "data": {"k": "v"}},
        namespace=namespace,
    )
    shared = json.dumps({"px_stages": ["storage", "postgres"], "px_namespace": namespace, "px_namespace_shared": True})
    proc = _playbook(installed, kube, "site", "-e", shared)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]

    def bound() -> bool:
        return (kube.get("pvc", "data-af-postgresql-0", namespace) or {}).get("status", {}).get("phase") == "Bound"

    kube.wait_for("the database claim to bind", bound, timeout=180)
    volume = kube.get("pvc", "data-af-postgresql-0", namespace)["spec"]["volumeName"]
    down = _playbook(installed, kube, "teardown", "-e", shared, "-e", "purge=true")
    assert down.returncode == 0, down.stdout[-6000:] + down.stderr[-2000:]
    # The release's data went: its claim, its Secret, its volume.
    assert kube.get("pvc", "data-af-postgresql-0", namespace) is None
    assert kube.get("secret", "af-postgresql", namespace) is None
    assert kube.get("pv", volume) is None and volume in down.stdout
    # What is not the release's stays, and so does the namespace.
    assert kube.get("namespace", namespace) is not None
    assert kube.get("secret", "theirs", namespace) is not None
    assert kube.get("configmap", "theirs", namespace) is not None
