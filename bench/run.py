"""px.airflow's benchmarks against kubesim: one `name: value` line each (outside the test command).

    .venv/bin/python bench/run.py [--repeat 3] [--only converge|waits|dag_sync|kubesim]

- converge_writes: mutating requests (no-op PATCHes included) of a converged re-run of site.yml
  without the demo stage. Target 0.
- converge_requests_per_object: all requests of that re-run / objects the stack manages. Target <= 3.
- converge_wall_ratio_vs_baseline: that re-run's wall time / a baseline playbook's applying the
  same objects one kubernetes.core.k8s task per object (apply: true, no waits). Target <= 0.5.
- wait_overlap_ratio: (fresh site.yml with kubesim delays - the same with none) / the longest chain
  of delays that really depend on each other. Target <= 1.15.
- dag_sync_noop_writes, dag_sync_incremental_bytes_ratio: from bench/dag_sync_bench.py.
Timings are medians of --repeat runs, with min and max beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from kubesim_harness import start_kubesim  # noqa: E402

VENV_BIN = Path(sys.executable).parent
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
# A chain of delays that depend on each other: the database claim binds, then PostgreSQL gets
# ready, then (after the migrations) the api-server gets ready. Independent waits (the DAGs and
# logs claims, the other components) must overlap with it.
DELAYS = {
    "bind": {"PersistentVolumeClaim/*": 10},
    # A pod is looked up as itself and as its owners (kubesim controllers/delays.py).
    "ready": {"StatefulSet/af-postgresql": 20, "Deployment/af-api-server": 30},
}
LONGEST_CHAIN = 10 + 20 + 30


def line(name: str, value, extra: str = "") -> None:
    print(f"{name}: {value}{(' ' + extra) if extra else ''}", flush=True)


def spread(values: list[float]) -> tuple[float, str]:
    return statistics.median(values), f"(min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"


def playbook(kubeconfig: Path, path: Path, *args: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K8S_AUTH_", "ANSIBLE_"))}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        K8S_AUTH_KUBECONFIG=str(kubeconfig),
        K8S_AUTH_CONTEXT="kubesim",
    )
    started = time.monotonic()
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), str(path), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{path.name} failed:\n{proc.stdout[-4000:]}{proc.stderr[-2000:]}")
    return time.monotonic() - started


def managed_objects(sim) -> list[dict]:
    """Every object the stack manages, read back as the baseline applies them."""
    from kubernetes import client

    api = sim.api_client()
    found = []
    lists = [
        ("v1", "Namespace", "/api/v1/namespaces", "kubernetes.io/metadata.name=airflow"),
        ("storage.k8s.io/v1", "StorageClass", "/apis/storage.k8s.io/v1/storageclasses", None),
    ]
    for api_version, kind, plural in [
        ("v1", "ConfigMap", "configmaps"),
        ("v1", "Secret", "secrets"),
        ("v1", "Service", "services"),
        ("v1", "ServiceAccount", "serviceaccounts"),
        ("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
        ("apps/v1", "Deployment", "deployments"),
        ("apps/v1", "StatefulSet", "statefulsets"),
        ("batch/v1", "Job", "jobs"),
        ("batch/v1", "CronJob", "cronjobs"),
        ("rbac.authorization.k8s.io/v1", "Role", "roles"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
        ("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
    ]:
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        lists.append((api_version, kind, f"{base}/namespaces/airflow/{plural}", None))
    for api_version, kind, path, selector in lists:
        query = [("labelSelector", selector)] if selector else []
        response = api.call_api(path, "GET", query_params=query, auth_settings=["BearerToken"], _preload_content=False)
        for item in json.loads((response[0] if isinstance(response, tuple) else response).data)["items"]:
            if kind == "StorageClass" and not item["metadata"]["name"].startswith("px-airflow-"):
                continue
            if kind in ("ConfigMap", "ServiceAccount") and item["metadata"]["name"] in ("kube-root-ca.crt", "default"):
                continue
            item.update(apiVersion=api_version, kind=kind)
            for key in ("status",):
                item.pop(key, None)
            item["metadata"] = {k: v for k, v in item["metadata"].items() if k in ("name", "namespace", "labels")}
            found.append(item)
    client.ApiClient.close(api)
    return found


def baseline_playbook(objects: list[dict], directory: Path) -> Path:
    tasks = [
        {"name": f"{o['kind']} {o['metadata']['name']}", "kubernetes.core.k8s": {"apply": True, "definition": o}}
        for o in objects
    ]
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    path = directory / "baseline.yml"
    path.write_text(json.dumps(play))
    return path


def bench_converge(repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sim = start_kubesim(Path(tmp), "--portworx", "healthy", "--run-pods")
        try:
            site = ROOT / "playbooks" / "site.yml"
            playbook(sim.kubeconfig, site, "--skip-tags", "demo")
            objects = managed_objects(sim)
            base = baseline_playbook(objects, Path(tmp))
            playbook(sim.kubeconfig, base)  # converge the baseline's own annotations once
            playbook(sim.kubeconfig, base)
            playbook(sim.kubeconfig, site, "--skip-tags", "demo")
            ours, theirs, writes, requests = [], [], [], []
            # Our re-runs back to back, then the baseline's: each measures a converged cluster as it
            # itself left it (the baseline's own apply annotations would otherwise count against us).
            for _ in range(repeat):
                mark = sim.mark()
                ours.append(playbook(sim.kubeconfig, site, "--skip-tags", "demo"))
                entries = sim.requests(mark)
                written = [f"{e['method']} {e['path']}" for e in entries if e["method"] in WRITES]
                writes.append(len(written))
                if written:
                    print(f"  writes in a converged re-run: {written}", flush=True)
                requests.append(len(entries))
            for _ in range(repeat):
                theirs.append(playbook(sim.kubeconfig, base))
        finally:
            sim.stop()
    line("converge_writes", max(writes), f"(per run: {writes})")
    line(
        "converge_requests_per_object",
        f"{statistics.median(requests) / len(objects):.2f}",
        f"({statistics.median(requests)} requests, {len(objects)} objects)",
    )
    ratio = statistics.median(ours) / statistics.median(theirs)
    low, high = min(ours) / max(theirs), max(ours) / min(theirs)
    line("converge_wall_ratio_vs_baseline", f"{ratio:.2f}", f"(min {low:.2f}, max {high:.2f}, n={repeat})")
    median, text = spread(ours)
    line("converge_wall_seconds", f"{median:.2f}", text)


def fresh_deploy_seconds(delays: dict | None) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        args = ["--portworx", "healthy", "--run-pods"]
        if delays:
            path = Path(tmp) / "delays.json"
            path.write_text(json.dumps(delays))
            args += ["--delays", str(path)]
        sim = start_kubesim(Path(tmp), *args)
        try:
            return playbook(sim.kubeconfig, ROOT / "playbooks" / "site.yml", "--skip-tags", "demo")
        finally:
            sim.stop()


def bench_waits(repeat: int) -> None:
    ratios = []
    for _ in range(repeat):
        slow, fast = fresh_deploy_seconds(DELAYS), fresh_deploy_seconds(None)
        ratios.append((slow - fast) / LONGEST_CHAIN)
    median, text = spread(ratios)
    line("wait_overlap_ratio", f"{median:.2f}", f"{text} longest dependent chain {LONGEST_CHAIN} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["converge", "waits", "dag_sync", "kubesim"], action="append")
    args = parser.parse_args()
    selected = args.only or ["converge", "waits", "dag_sync", "kubesim"]
    if "converge" in selected:
        bench_converge(args.repeat)
    if "waits" in selected:
        bench_waits(args.repeat)
    if "dag_sync" in selected:
        subprocess.run([sys.executable, str(ROOT / "bench" / "dag_sync_bench.py")], check=True)
    if "kubesim" in selected:
        subprocess.run([sys.executable, str(ROOT / "bench" / "kubesim_bench.py")], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
