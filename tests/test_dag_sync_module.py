"""px.airflow.dag_sync on the local cluster: the sync Job really runs and writes the volume.

The module's claim is of a Portworx StorageClass of this module's own (sharedv4, ReadWriteMany,
served by the Portworx stand-in); the bound PV's spec.hostPath.path is a directory on this machine,
read back and compared with the source file by file. Requests and writes come from the API
server's audit log (px.airflow's User-Agent, the module's namespace).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cluster.kube import MODULE_AGENT, Kube, claim, unique
from helpers import ROOT, VENV_BIN, run_playbook

IMAGE = "localhost/px-airflow/python:3.11-slim"  # the sync Job's image: present in the cluster
BIND = 90  # seconds for the claim to be provisioned and bound


@dataclass
class Volume:
    kube: Kube
    ns: str
    claim: str

    @property
    def directory(self) -> Path:
        pvc = self.kube.get("pvc", self.claim, self.ns)
        pv = self.kube.get("pv", pvc["spec"]["volumeName"])
        return Path(pv["spec"]["hostPath"]["path"])


@pytest.fixture(scope="module")
def volume(kube: Kube, module_namespace: str) -> Iterator[Volume]:
    """The DAGs claim (RWX, a sharedv4 class of our own), bound; claim and class deleted afterwards."""
    sc = unique("px-dagsync")
    kube.create(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": sc},
            "provisioner": "pxd.portworx.com",
            "parameters": {"repl": "1", "sharedv4": "true"},
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        }
    )
    try:
        kube.create(claim("dags", sc, modes=("ReadWriteMany",)), namespace=module_namespace)
        kube.wait_for(
            f"claim {module_namespace}/dags Bound",
            lambda: (kube.get("pvc", "dags", module_namespace) or {}).get("status", {}).get("phase") == "Bound",
            BIND,
        )
        volume = Volume(kube, module_namespace, "dags")
        assert volume.directory.is_dir(), volume.directory
        yield volume
    finally:
        kube.run("delete", "pvc", "dags", "-n", module_namespace, "--ignore-not-found", "--timeout=120s", check=False)
        kube.run("delete", "storageclass", sc, "--ignore-not-found", "--wait=false", check=False)


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    root = tmp_path_factory.mktemp("dags-src")
    shutil.copy(ROOT / "dags" / "portworx_demo.py", root / "portworx_demo.py")
    (root / "team").mkdir()
    (root / "team" / "etl.py").write_text("# helper module, not a DAG\nVALUE = 1\n")
    (root / "team" / "data.bin").write_bytes(bytes(range(256)) * 8)
    (root / "ünïcode.py").write_text("# é\n")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "x.pyc").write_bytes(b"junk")
    return root


def tree_hashes(base):
    found = {}
    for dirpath, _dirs, names in os.walk(base, followlinks=True):
        for name in names:
            full = os.path.join(dirpath, name)
            with open(full, "rb") as handle:
                found[os.path.relpath(full, base)] = hashlib.sha256(handle.read()).hexdigest()
    return found


def expected_hashes(src):
    return {path: digest for path, digest in tree_hashes(src).items() if "__pycache__" not in path}


def run(volume: Volume, playbook, *args, **options):
    """Runs px.airflow.dag_sync once; (task result, its writes, its requests) in the namespace."""
    params = {
        "src": str(options.pop("src")),
        "namespace": volume.ns,
        "pvc": volume.claim,
        "image": IMAGE,
        "timeout": 120,
        **volume.kube.module_auth(),
        **options,
    }
    task = {"name": "sync", "px.airflow.dag_sync": params, "register": "__s", "ignore_errors": True}
    play = json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [task]}])
    mark = volume.kube.audit.mark()
    result = run_playbook(playbook(play), *args, timeout=400)
    entries = volume.kube.audit.requests(mark, agent=MODULE_AGENT, namespace=volume.ns)
    writes = volume.kube.audit.writes(mark, agent=MODULE_AGENT, namespace=volume.ns)
    return result.result("sync"), writes, entries


def test_four_steps_write_the_tree_once(volume, src, playbook):
    outcomes = []
    for args in (("--check", "--diff"), (), ("--check",), ()):
        outcome, writes, _entries = run(volume, playbook, *args, src=src)
        assert not outcome.get("failed"), outcome.get("msg")
        outcomes.append((outcome["changed"], bool(writes)))
        if args == ("--check", "--diff"):
            assert not (volume.directory / "current").exists()  # check mode wrote nothing to the volume
            assert "+ portworx_demo.py" in outcome["diff"]["prepared"]
        elif len(outcomes) == 2:
            created = {(w["objectRef"]["resource"], w["verb"]) for w in writes}
            assert ("jobs", "create") in created, volume.kube.audit.describe(writes)  # the sync Job ran
            assert outcome["job"] and outcome["bytes_sent"] > 0, outcome
    assert outcomes == [(True, False), (True, True), (False, False), (False, False)]
    assert tree_hashes(volume.directory / "current") == expected_hashes(src)


def test_a_converged_rerun_sends_no_write_and_few_requests(volume, src, playbook):
    run(volume, playbook, src=src)
    outcome, writes, entries = run(volume, playbook, src=src)
    assert outcome["changed"] is False and writes == []
    # One read of the state ConfigMap, nothing else.
    assert [(e["verb"], e["objectRef"]["resource"]) for e in entries] == [("get", "configmaps")], (
        volume.kube.audit.describe(entries)
    )


def test_one_changed_file_sends_only_that_file(volume, src, playbook):
    run(volume, playbook, src=src)
    (src / "team" / "etl.py").write_text("# helper module, not a DAG\nVALUE = 2\n")
    outcome, _writes, _ = run(volume, playbook, "--diff", src=src)
    assert outcome["changed"] and outcome["modified"] == ["team/etl.py"] and outcome["added"] == []
    assert outcome["bytes_sent"] == len((src / "team" / "etl.py").read_bytes())
    assert "~ team/etl.py" in outcome["diff"]["prepared"]
    assert tree_hashes(volume.directory / "current") == expected_hashes(src)
    # The transport is cleaned up: no sync Job or blob ConfigMap is left.
    assert volume.kube.json("get", "jobs", "-n", volume.ns)["items"] == []
    maps = [c["metadata"]["name"] for c in volume.kube.json("get", "configmaps", "-n", volume.ns)["items"]]
    assert sorted(m for m in maps if m != "kube-root-ca.crt") == ["dags-sync-state"]


def test_removing_a_file_removes_it_from_the_volume(volume, src, playbook):
    (src / "gone.py").write_text("X = 1\n")
    run(volume, playbook, src=src)
    (src / "gone.py").unlink()
    outcome, _writes, _ = run(volume, playbook, src=src)
    assert outcome["removed"] == ["gone.py"]
    assert not (volume.directory / "current" / "gone.py").exists()


def test_force_syncs_again_after_a_hand_edit(volume, src, playbook):
    run(volume, playbook, src=src)
    target = volume.directory / "current"
    os.unlink(os.path.join(os.path.realpath(target), "ünïcode.py"))
    outcome, writes, _ = run(volume, playbook, src=src)
    assert outcome["changed"] is False and writes == []  # the recorded version still matches
    outcome, writes, _ = run(volume, playbook, src=src, force=True)
    assert outcome["changed"] and writes
    assert tree_hashes(volume.directory / "current") == expected_hashes(src)


@pytest.mark.parametrize(
    "make_bad, message",
    [
        (
            lambda root: (root / "broken.py").write_text("from airflow.sdk import dag\ndef oops(:\n"),
            "do not import under Airflow",
        ),
        (lambda root: (root / "big.py").write_text("x" * 600_000), "above the limit of 524288 bytes"),
        (lambda root: (root / "escape.py").symlink_to("/etc/hostname"), "outside src"),
    ],
    ids=["import-error", "too-big", "symlink-outside"],
)
def test_bad_trees_are_refused_before_any_write(volume, playbook, tmp_path, make_bad, message):
    root = tmp_path / "bad"
    root.mkdir()
    (root / "ok.py").write_text("X = 1\n")
    make_bad(root)
    outcome, writes, _ = run(volume, playbook, src=root, validate=True)
    assert outcome["failed"] and message in outcome["msg"], outcome["msg"]
    assert writes == []


def test_validation_parses_only_what_would_be_synced(volume, playbook, tmp_path):
    """A tree synced once with force is not re-parsed until it changes; a change is parsed again."""
    root = tmp_path / "forced"
    root.mkdir()
    (root / "broken.py").write_text("from airflow.sdk import dag\ndef oops(:\n")
    outcome, writes, _ = run(volume, playbook, src=root, validate=True, force=True)
    assert outcome["changed"] and writes, outcome.get("msg")
    outcome, writes, entries = run(volume, playbook, src=root, validate=True)
    assert not outcome.get("failed") and outcome["changed"] is False, outcome.get("msg")
    assert writes == [] and len(entries) == 1
    (root / "new.py").write_text("X = 1\n")
    outcome, writes, _ = run(volume, playbook, "--check", src=root, validate=True)
    assert outcome["failed"] and "broken.py" in outcome["msg"], outcome.get("msg")
    assert writes == []


def test_the_synced_tree_parses_under_real_airflow(volume, src, playbook, tmp_path):
    run(volume, playbook, src=src)
    current = os.path.realpath(volume.directory / "current")
    script = (
        "import json, sys\nfrom airflow.dag_processing.dagbag import DagBag\n"
        "bag = DagBag(dag_folder=sys.argv[1])\n"
        "print(json.dumps({'errors': bag.import_errors, 'dags': sorted(bag.dag_ids)}))\n"
    )
    env = dict(os.environ, AIRFLOW_HOME=str(tmp_path / "home"), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    proc = subprocess.run(
        [str(VENV_BIN / "python"), "-c", script, current],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    outcome = json.loads(proc.stdout.strip().splitlines()[-1])
    assert outcome == {"errors": {}, "dags": ["portworx-demo"]}
