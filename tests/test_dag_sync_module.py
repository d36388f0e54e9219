"""px.airflow.dag_sync against kubesim --run-pods: the sync Job really writes the volume.

The volume is read back from kubesim's state dir and compared with the source, file by file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess

import pytest
from helpers import ROOT, VENV_BIN, ansible_env, run_playbook
from kubernetes import client
from kubesim_harness import start_kubesim

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
NS = "dagsync"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    state = tmp_path_factory.mktemp("dagsync-state")
    instance = start_kubesim(
        tmp_path_factory.mktemp("dagsync-sim"), "--portworx", "healthy", "--run-pods", state_dir=state
    )
    instance.client = instance.api_client()
    core = client.CoreV1Api(instance.client)
    client.StorageV1Api(instance.client).create_storage_class(
        {
            "metadata": {"name": "px-sync-test"},
            "provisioner": "pxd.portworx.com",
            "parameters": {"repl": "1", "sharedv4": "true"},
        },
        _preload_content=False,
    )
    core.create_namespace({"metadata": {"name": NS}})
    core.create_namespaced_persistent_volume_claim(
        NS,
        {
            "metadata": {"name": "dags"},
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "storageClassName": "px-sync-test",
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    yield instance
    instance.stop()


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


def volume_dir(sim):
    claim = client.CoreV1Api(sim.client).read_namespaced_persistent_volume_claim("dags", NS)
    return sim.state_dir / "volumes" / claim.spec.volume_name


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


def run(sim, playbook, *args, **options):
    params = {
        "src": str(options.pop("src")),
        "namespace": NS,
        "pvc": "dags",
        "kubeconfig": "{{ lookup('env', 'SIM_KUBECONFIG') }}",
        "timeout": 120,
        **options,
    }
    task = {"name": "sync", "px.airflow.dag_sync": params, "register": "__s", "ignore_errors": True}
    play = json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [task]}])
    before = sim.mark()
    result = run_playbook(playbook(play), *args, env=ansible_env(SIM_KUBECONFIG=str(sim.kubeconfig)))
    entries = sim.requests(before)
    writes = [r for r in entries if r["method"] in WRITE_METHODS and not r.get("dryRun")]
    return result.result("sync"), writes, entries


def test_four_steps_write_the_tree_once(sim, src, playbook):
    outcomes = []
    for args in (("--check", "--diff"), (), ("--check",), ()):
        outcome, writes, _entries = run(sim, playbook, *args, src=src)
        assert not outcome.get("failed"), outcome.get("msg")
        outcomes.append((outcome["changed"], bool(writes)))
    assert outcomes == [(True, False), (True, True), (False, False), (False, False)]
    assert tree_hashes(volume_dir(sim) / "current") == expected_hashes(src)


def test_a_converged_rerun_sends_no_write_and_few_requests(sim, src, playbook):
    run(sim, playbook, src=src)
    outcome, writes, entries = run(sim, playbook, src=src)
    assert outcome["changed"] is False and writes == [] and len(entries) == 1  # one read of the state


def test_one_changed_file_sends_only_that_file(sim, src, playbook):
    run(sim, playbook, src=src)
    (src / "team" / "etl.py").write_text("# helper module, not a DAG\nVALUE = 2\n")
    outcome, _writes, _ = run(sim, playbook, "--diff", src=src)
    assert outcome["changed"] and outcome["modified"] == ["team/etl.py"] and outcome["added"] == []
    assert outcome["bytes_sent"] == len((src / "team" / "etl.py").read_bytes())
    assert "~ team/etl.py" in outcome["diff"]["prepared"]
    assert tree_hashes(volume_dir(sim) / "current") == expected_hashes(src)
    # The transport is cleaned up: no sync Job or blob ConfigMap is left.
    assert client.BatchV1Api(sim.client).list_namespaced_job(NS).items == []
    maps = [c.metadata.name for c in client.CoreV1Api(sim.client).list_namespaced_config_map(NS).items]
    assert sorted(m for m in maps if m != "kube-root-ca.crt") == ["dags-sync-state"]


def test_removing_a_file_removes_it_from_the_volume(sim, src, playbook):
    (src / "gone.py").write_text("X = 1\n")
    run(sim, playbook, src=src)
    (src / "gone.py").unlink()
    outcome, _writes, _ = run(sim, playbook, src=src)
    assert outcome["removed"] == ["gone.py"]
    assert not (volume_dir(sim) / "current" / "gone.py").exists()


def test_force_syncs_again_after_a_hand_edit(sim, src, playbook):
    run(sim, playbook, src=src)
    target = volume_dir(sim) / "current"
    os.unlink(os.path.join(os.path.realpath(target), "ünïcode.py"))
    outcome, writes, _ = run(sim, playbook, src=src)
    assert outcome["changed"] is False and writes == []  # the recorded version still matches
    outcome, writes, _ = run(sim, playbook, src=src, force=True)
    assert outcome["changed"] and writes
    assert tree_hashes(volume_dir(sim) / "current") == expected_hashes(src)


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
)
def test_bad_trees_are_refused_before_any_write(sim, playbook, tmp_path, make_bad, message):
    root = tmp_path / "bad"
    root.mkdir()
    (root / "ok.py").write_text("X = 1\n")
    make_bad(root)
    outcome, writes, _ = run(sim, playbook, src=root, validate=True)
    assert outcome["failed"] and message in outcome["msg"], outcome["msg"]
    assert writes == []


def test_validation_parses_only_what_would_be_synced(sim, playbook, tmp_path):
    """A tree synced once with force is not re-parsed until it changes; a change is parsed again."""
    root = tmp_path / "forced"
    root.mkdir()
    (root / "broken.py").write_text("from airflow.sdk import dag\ndef oops(:\n")
    outcome, writes, _ = run(sim, playbook, src=root, validate=True, force=True)
    assert outcome["changed"] and writes, outcome.get("msg")
    outcome, writes, entries = run(sim, playbook, src=root, validate=True)
    assert not outcome.get("failed") and outcome["changed"] is False, outcome.get("msg")
    assert writes == [] and len(entries) == 1
    (root / "new.py").write_text("X = 1\n")
    outcome, writes, _ = run(sim, playbook, "--check", src=root, validate=True)
    assert outcome["failed"] and "broken.py" in outcome["msg"], outcome.get("msg")
    assert writes == []


def test_the_synced_tree_parses_under_real_airflow(sim, src, playbook, tmp_path):
    run(sim, playbook, src=src)
    current = os.path.realpath(volume_dir(sim) / "current")
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
