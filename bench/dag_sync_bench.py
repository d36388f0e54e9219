"""DAG sync benchmark on the local real cluster (px-cluster): 2,000 files / 20 MB onto a ReadWriteMany claim.

    .venv/bin/python bench/dag_sync_bench.py

Prints:
- dag_sync_full_requests: requests of the first sync (audit log, the benchmark's own user).
- dag_sync_full_bytes: bytes px.airflow.dag_sync sent to the API server for it, on the wire (TLS
  records through a counting CONNECT proxy: headers, bodies, handshakes), with the file content it
  reports beside them.
- dag_sync_full_seconds: its wall time, ansible-playbook's start-up and the sync Job's pod included.
- dag_sync_incremental_bytes, dag_sync_incremental_bytes_ratio: one file changed, the bytes sent on
  the wire / a tar of the whole tree (what kubernetes.core.k8s_cp streams). Target < 1%.
- dag_sync_noop_writes: writes of a third, unchanged sync (audit log). Target 0.

Everything lives in a namespace of its own, on a StorageClass of its own (reclaim policy Delete,
so the volume's directory goes with the claim); both are deleted afterwards.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from realcluster import CLUSTER_DIR, CONTEXT, CountingProxy, Identity, Kube, playbook, unique, wait_gone

FILES, TOTAL = 2000, 20 * 1024 * 1024
IMAGE = "localhost/px-airflow/python:3.11-slim"


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


def sync_playbook(identity: Identity, proxy: CountingProxy, src: Path, namespace: str) -> Path:
    """One dag_sync task (nothing else crosses the proxy) and its result saved as JSON."""
    task = {
        "px.airflow.dag_sync": {
            "kubeconfig": str(identity.kubeconfig),
            "context": CONTEXT,
            "proxy": proxy.url,
            "src": str(src),
            "namespace": namespace,
            "pvc": "dags",
            "image": IMAGE,
            "timeout": 600,
        },
        "register": "s",
    }
    save = {"ansible.builtin.copy": {"content": "{{ s | to_json }}", "dest": str(src.parent / "result.json")}}
    path = src.parent / "sync.yml"
    path.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [task, save]}]))
    return path


def main() -> int:
    kube = Kube(CLUSTER_DIR / "kubeconfig")
    name = unique("bench-dags")
    storage_class = f"px-{name}"
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        src = tmp_path / "dags"
        make_tree(src)
        full_copy = tar_size(src)
        identity = Identity(kube, name, tmp_path)
        proxy: CountingProxy | None = None
        volumes: list[str] = []
        try:
            identity.create()
            audit, user = kube.audit, identity.user
            kube.create(
                {
                    "apiVersion": "storage.k8s.io/v1",
                    "kind": "StorageClass",
                    "metadata": {"name": storage_class},
                    "provisioner": "pxd.portworx.com",
                    "parameters": {"repl": "1", "sharedv4": "true"},
                    "reclaimPolicy": "Delete",
                    "volumeBindingMode": "Immediate",
                }
            )
            kube.create_namespace(name)
            claim = {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "dags", "namespace": name},
                "spec": {
                    "storageClassName": storage_class,
                    "accessModes": ["ReadWriteMany"],
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            }
            kube.create(claim)
            bound = kube.wait_for(
                "the dags claim to bind",
                lambda: (c := kube.get("pvc", "dags", name)) and c["status"].get("phase") == "Bound" and c,
                120,
            )
            volumes.append(bound["spec"]["volumeName"])
            proxy = CountingProxy(identity.server)
            path = sync_playbook(identity, proxy, src, name)

            def sync() -> tuple[dict, float, list[dict], int]:
                mark, sent = audit.mark(), proxy.sent
                _, seconds = playbook(path)
                return (
                    json.loads((tmp_path / "result.json").read_text()),
                    seconds,
                    audit.requests(mark, user=user),
                    proxy.sent - sent,
                )

            result, seconds, requests, sent = sync()
            print(f"dag_sync_full_requests: {len(requests)}", flush=True)
            print(f"dag_sync_full_bytes: {sent} (file content {result['bytes_sent']}, on the wire)", flush=True)
            print(f"dag_sync_full_seconds: {seconds:.2f} (ansible-playbook's start-up and the Job's pod included)")
            changed = src / "team_03" / "dag_0003.py"
            changed.write_text(changed.read_text() + "# changed\n")
            result, _, requests, sent = sync()
            if result["modified"] != ["team_03/dag_0003.py"]:
                raise SystemExit(f"the incremental sync changed {result['modified']}, not team_03/dag_0003.py")
            print(f"dag_sync_incremental_bytes: {sent} ({len(requests)} requests)")
            print(f"dag_sync_incremental_bytes_ratio: {sent / full_copy:.4f} (full copy as a tar: {full_copy} bytes)")
            mark = audit.mark()
            result, _, _, _ = sync()
            writes = audit.writes(mark, user=user)
            if writes:
                print(f"  writes of an unchanged sync: {audit.describe(writes)}")
            print(f"dag_sync_noop_writes: {len(writes)}", flush=True)
        finally:
            if proxy:
                proxy.close()
            kube.run("delete", "namespace", name, "--ignore-not-found", "--wait=false", check=False)
            wait_gone(kube, f"namespace {name}", lambda: kube.get("namespace", name), 300)
            for volume in volumes:
                wait_gone(kube, f"volume {volume}", lambda v=volume: kube.get("pv", v), 120)
            kube.run("delete", "storageclass", storage_class, "--ignore-not-found", check=False)
            identity.delete()
    return 0


if __name__ == "__main__":
    sys.exit(main())
