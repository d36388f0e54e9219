"""DAG sync benchmark against kubesim --run-pods: 2,000 files / 20 MB.

Prints: dag_sync_full_requests, dag_sync_full_bytes, dag_sync_full_seconds, dag_sync_incremental_bytes,
dag_sync_incremental_bytes_ratio (one file changed, bytes sent / a tar of the whole tree, which is
what kubernetes.core.k8s_cp streams; target < 1%), dag_sync_noop_writes (target 0).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from kubesim_harness import start_kubesim  # noqa: E402

VENV_BIN = Path(sys.executable).parent
FILES, TOTAL = 2000, 20 * 1024 * 1024
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def make_tree(root: Path) -> None:
    size = TOTAL // FILES
    for i in range(FILES):
        path = root / f"team_{i % 20:02d}" / f"dag_{i:04d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        body = f"# DAG {i}\n" + "x = '" + os.urandom(size // 2).hex()[: size - 40] + "'\n"
        path.write_text(body)


def tar_size(root: Path) -> int:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(root, arcname=".")
    return buffer.tell()


def sync(kubeconfig: Path, src: Path) -> tuple[dict, float]:
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "px.airflow.apply": {
                        "kubeconfig": str(kubeconfig),
                        "definitions": [
                            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}},
                            {
                                "apiVersion": "v1",
                                "kind": "PersistentVolumeClaim",
                                "metadata": {"name": "dags", "namespace": "bench"},
                                "spec": {
                                    "accessModes": ["ReadWriteMany"],
                                    "storageClassName": "px-bench",
                                    "resources": {"requests": {"storage": "1Gi"}},
                                },
                            },
                        ],
                    }
                },
                {
                    "px.airflow.dag_sync": {
                        "kubeconfig": str(kubeconfig),
                        "src": str(src),
                        "namespace": "bench",
                        "pvc": "dags",
                        "timeout": 600,
                    },
                    "register": "s",
                },
                {
                    "ansible.builtin.copy": {
                        "content": "{{ s | to_json }}",
                        "dest": str(src.parent / "result.json"),
                        "mode": "0644",
                    }
                },
            ],
        }
    ]
    path = src.parent / "sync.yml"
    path.write_text(json.dumps(play))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K8S_AUTH_", "ANSIBLE_"))}
    env.update(PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    started = time.monotonic()
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), str(path)], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(proc.stdout[-4000:])
    return json.loads((src.parent / "result.json").read_text()), elapsed


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        src = tmp_path / "dags"
        make_tree(src)
        full_copy = tar_size(src)
        sim = start_kubesim(tmp_path / "sim", "--portworx", "healthy", "--run-pods")
        try:
            from kubernetes import client

            client.StorageV1Api(sim.api_client()).create_storage_class(
                {"metadata": {"name": "px-bench"}, "provisioner": "pxd.portworx.com", "parameters": {"repl": "1"}}
            )
            mark = sim.mark()
            result, seconds = sync(sim.kubeconfig, src)
            entries = sim.requests(mark)
            print(f"dag_sync_full_requests: {len(entries)}")
            sent = sum(e.get("bytes_in", 0) for e in entries)
            print(f"dag_sync_full_bytes: {sent} (file content {result['bytes_sent']})")
            print(f"dag_sync_full_seconds: {seconds:.2f} (includes ansible-playbook start-up)")
            changed = src / "team_03" / "dag_0003.py"
            changed.write_text(changed.read_text() + "# changed\n")
            mark = sim.mark()
            result, _ = sync(sim.kubeconfig, src)
            entries = sim.requests(mark)
            sent = sum(e.get("bytes_in", 0) for e in entries)
            print(f"dag_sync_incremental_bytes: {sent}")
            print(f"dag_sync_incremental_bytes_ratio: {sent / full_copy:.4f} (full copy as a tar: {full_copy} bytes)")
            mark = sim.mark()
            sync(sim.kubeconfig, src)
            writes = [e for e in sim.requests(mark) if e["method"] in WRITES]
            print(f"dag_sync_noop_writes: {len(writes)}")
        finally:
            sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
