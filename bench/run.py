"""px.airflow's benchmarks on the local real cluster (px-cluster): one `name: value` line each.

    .venv/bin/python bench/run.py [--repeat 5] [--only converge|waits|dag_sync]

The stack is deployed (site.yml --skip-tags demo, the settings of inventory/px-cluster.yml) into a
namespace of the benchmark's own, on StorageClasses of its own (reclaim policy Delete, so the
volumes go with the namespace), as a ServiceAccount of its own: the cluster is shared, and the
kube-apiserver's audit log tells this user's requests apart. Everything is deleted afterwards
(teardown.yml -e purge=true, then the classes and the ServiceAccount).

- converge_writes: write requests (create, update, patch, delete; no-op PATCHes included, dry runs
  not) of a converged re-run of site.yml without the demo stage (audit log). Target 0.
- converge_requests_per_object: all requests of that re-run / the objects the stack manages (those
  the fresh deploy created and that still exist), with the requests counted by verb and resource
  below it. Target <= 1.5 (issue #22).
- converge_wall_ratio_vs_baseline: that re-run's wall time / a playbook applying the same objects
  one kubernetes.core.k8s task per object (apply: true, no waits). Target <= 0.5.
- converge_wall_ratio_vs_one_task: that re-run's wall time / ONE kubernetes.core.k8s task with
  apply: true over the same objects. Printed with both wall times and the peer's writes. Goal
  <= 1.0 (issue #22).
- ansible_floor_ratio: that re-run's wall time / the floor of any playbook here: one play with one
  px.airflow module run (portworx_info), same inventory and variables. Printed; no target.
- converge_wall_seconds_as_modules: the same re-run with -e px_in_process=false, every px.airflow
  module started as a module (a payload and a new Python each), as before the action plugins ran
  them in the controller's process. Printed beside converge_wall_seconds.
  The objects of the peers are the stack's live objects, stripped of what the server sets (status,
  uid, resourceVersion, managedFields, its annotations and labels, both appliers' last-applied
  annotations). Each round runs ours, ours as modules, the baseline, the one-task peer and the
  floor in turn;
  the peers applied once before the rounds, so each measures a converged cluster.
- wait_overlap_ratio: the fresh deploy's wait phase / the longest chain of waits that really depend
  on each other. The chain: the database claim binds (from our create of the PostgreSQL
  StatefulSet to the PV controller's binding, audit log), PostgreSQL gets Ready (to the pod's
  Ready condition), the migration Job runs (our create of it to its completionTime), the
  api-server gets Ready (our create of its Deployment to its Available condition); each link is
  counted from its own start, so waiting between links is not in the chain. The wait phase is the
  wall time from our create of the StatefulSet to the end of the task that waits for every
  component (json callback). 1.0 means everything else (the shared claims, the admin-user Job,
  the other components, polling) overlapped with the chain. Conditions and completionTime are
  whole seconds. One fresh deploy per bench run (n=1). Target <= 1.15.
- dag_sync_noop_writes, dag_sync_incremental_bytes_ratio (and their companions): from
  bench/dag_sync_bench.py, in a namespace of its own.
Timings are medians of --repeat rounds, with min and max beside them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from realcluster import (
    CLUSTER_DIR,
    CONTEXT,
    PX_CLUSTER,
    ROOT,
    Identity,
    Kube,
    KubectlError,
    playbook,
    unique,
    wait_gone,
)

RELEASE = "af"
SITE = ROOT / "playbooks" / "site.yml"
TEARDOWN = ROOT / "playbooks" / "teardown.yml"
# What the API server (or another applier) puts on an object: never part of what the stack renders.
SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink")
SERVER_ANNOTATIONS = (
    "deployment.kubernetes.io/",
    "pv.kubernetes.io/",
    "volume.kubernetes.io/",
    "volume.beta.kubernetes.io/",
    "kubectl.kubernetes.io/last-applied-configuration",
    "px.airflow/last-applied",
)
SERVER_LABELS = ("kubernetes.io/metadata.name",)


def line(name: str, value, extra: str = "") -> None:
    print(f"{name}: {value}{(' ' + extra) if extra else ''}", flush=True)


def spread(values: list[float]) -> str:
    return f"(min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"


def when(stamp: str) -> float:
    """An RFC 3339 time (audit log, object, json callback) as seconds since the epoch."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class Stack:
    """The stack in namespace NS, deployed as the benchmark's identity; `args` are site.yml's extra vars."""

    def __init__(self, kube: Kube, directory: Path) -> None:
        self.kube = kube
        self.namespace = unique("bench")
        self.classes = {role: f"px-{self.namespace}-{role}" for role in ("db", "shared", "scratch")}
        self.identity = Identity(kube, self.namespace, directory)
        self.mark_fresh = 0  # the audit log's offset before the fresh deploy
        variables = {"px_namespace": self.namespace, "px_release": RELEASE}
        for role, name in self.classes.items():
            variables[f"storage_{role}_class"] = {"name": name, "reclaim_policy": "Delete"}
        self.vars_file = directory / "vars.json"
        self.vars_file.write_text(json.dumps(variables))

    def args(self, kubeconfig: Path | None = None) -> list[str]:
        return [
            "-e",
            f"@{ROOT / 'inventory' / 'px-cluster.yml'}",
            "-e",
            f"px_kubeconfig={kubeconfig or self.identity.kubeconfig}",
            "-e",
            f"px_context={CONTEXT}",
            "-e",
            f"@{self.vars_file}",
        ]

    def events(self, since: int) -> list[dict]:
        return self.kube.audit.events(since, user=self.identity.user)

    def remove(self) -> None:
        """teardown.yml -e purge=true as the admin, then whatever is left, each wait bounded."""
        kube, ns = self.kube, self.namespace
        volumes: list[str] = []
        try:
            claims = kube.json("get", "pvc", "-n", ns)["items"] if kube.get("namespace", ns) else []
            volumes = [c["spec"]["volumeName"] for c in claims if c["spec"].get("volumeName")]
            down, _ = playbook(
                TEARDOWN, *self.args(CLUSTER_DIR / "kubeconfig"), "-e", "purge=true", timeout=900, check=False
            )
            failed = f"rc {down.rc}" if down.rc != 0 else ""
        except (KubectlError, subprocess.TimeoutExpired) as exc:
            failed = str(exc)
        if failed:
            print(f"  warning: teardown.yml failed ({failed}); deleting namespace {ns}", file=sys.stderr)
        kube.run("delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False)
        wait_gone(kube, f"namespace {ns}", lambda: kube.get("namespace", ns), 300)
        for volume in volumes:
            wait_gone(kube, f"volume {volume}", lambda v=volume: kube.get("pv", v), 120)
        for name in self.classes.values():
            kube.run("delete", "storageclass", name, "--ignore-not-found", check=False)
        self.identity.delete()


def managed_objects(stack: Stack, fresh_events: list[dict]) -> list[dict]:
    """The objects the fresh deploy created that still exist, read back without what the server sets."""
    found, seen = [], set()
    for event in fresh_events:
        ref = event.get("objectRef") or {}
        if event["verb"] != "create" or event["responseStatus"].get("code") != 201 or ref.get("subresource"):
            continue
        key = (ref.get("apiGroup", ""), ref["resource"], ref.get("namespace", ""), ref.get("name"))
        if key in seen or not ref.get("name"):
            continue
        seen.add(key)
        resource = ref["resource"] + (f".{ref['apiGroup']}" if ref.get("apiGroup") else "")
        live = stack.kube.get(resource, ref["name"], ref.get("namespace"))
        if live is None:
            continue  # the DAG sync's Job and ConfigMaps go once it is done
        live.pop("status", None)
        metadata = live["metadata"]
        for key in SERVER_METADATA:
            metadata.pop(key, None)
        for field, server in (("annotations", SERVER_ANNOTATIONS), ("labels", SERVER_LABELS)):
            kept = {k: v for k, v in (metadata.get(field) or {}).items() if not k.startswith(server)}
            metadata.pop(field, None)
            if kept:
                metadata[field] = kept
        found.append(live)
    return found


def peer_playbooks(objects: list[dict], directory: Path) -> dict[str, Path]:
    """The baseline (one kubernetes.core.k8s task per object), ONE task over them all, and the floor."""
    defaults = {"group/kubernetes.core.k8s": {"kubeconfig": "{{ px_kubeconfig }}", "context": "{{ px_context }}"}}
    plays = {
        "baseline": [
            {"name": f"{o['kind']} {o['metadata']['name']}", "kubernetes.core.k8s": {"apply": True, "definition": o}}
            for o in objects
        ],
        "one_task": [{"name": "The stack's objects", "kubernetes.core.k8s": {"apply": True, "definition": objects}}],
        "floor": [{"name": "Look for Portworx", "px.airflow.portworx_info": {}}],
    }
    defaults_floor = {"group/px.airflow.k8s": {"kubeconfig": "{{ px_kubeconfig }}", "context": "{{ px_context }}"}}
    paths = {}
    for name, tasks in plays.items():
        play = {
            "name": name,
            "hosts": "localhost",
            "gather_facts": False,
            "module_defaults": defaults_floor if name == "floor" else defaults,
            "tasks": tasks,
        }
        paths[name] = directory / f"{name}.yml"
        paths[name].write_text(json.dumps([play]))
    return paths


def task_end(run, prefix: str) -> float:
    """When the (last) task whose name, role prefix aside, starts with PREFIX ended (json callback)."""
    ends = [
        when(task["task"]["duration"]["end"])
        for play in run.data.get("plays", [])
        for task in play.get("tasks", [])
        if task["task"]["name"].split(" : ", 1)[-1].startswith(prefix)
    ]
    if not ends:
        raise SystemExit(f"no task named {prefix!r} in the fresh deploy")
    return ends[-1]


def bench_waits(stack: Stack, fresh_events: list[dict], fresh_run) -> None:
    kube, ns = stack.kube, stack.namespace

    def created(resource: str, name: str) -> float:
        for e in fresh_events:
            ref = e.get("objectRef") or {}
            if (e["verb"], ref.get("resource"), ref.get("name"), ref.get("subresource")) == (
                "create",
                resource,
                name,
                None,
            ):
                return when(e["requestReceivedTimestamp"])
        raise SystemExit(f"the fresh deploy did not create {resource}/{name}")

    def condition(obj: dict, kind: str) -> float:
        found = [c for c in obj["status"].get("conditions", []) if c["type"] == kind and c["status"] == "True"]
        if not found:
            raise SystemExit(f"{obj['kind']} {obj['metadata']['name']} is not {kind}")
        return when(found[0]["lastTransitionTime"])

    database, claim = f"{RELEASE}-postgresql", f"data-{RELEASE}-postgresql-0"
    start = created("statefulsets", database)
    bound = [
        when(e["stageTimestamp"])
        for e in kube.audit.events(stack.mark_fresh, namespace=ns)
        if (e.get("objectRef") or {}).get("name") == claim
        and (e.get("objectRef") or {}).get("subresource") == "status"
        and e["verb"] in ("update", "patch")
        and e["user"]["username"].endswith(":persistent-volume-binder")
    ]
    if not bound:
        raise SystemExit(f"no binding of {claim} in the audit log")
    ready = condition(kube.json("get", "pod", f"{database}-0", "-n", ns), "Ready")
    jobs = kube.json("get", "jobs", "-n", ns, "-l", "app.kubernetes.io/component=migrate")["items"]
    if len(jobs) != 1 or not jobs[0]["status"].get("completionTime"):
        raise SystemExit(f"expected one finished migration Job, found {[j['metadata']['name'] for j in jobs]}")
    migrate = (created("jobs", jobs[0]["metadata"]["name"]), when(jobs[0]["status"]["completionTime"]))
    api = (
        created("deployments", f"{RELEASE}-api-server"),
        condition(kube.json("get", "deployment", f"{RELEASE}-api-server", "-n", ns), "Available"),
    )
    links = {
        "claim bound": bound[0] - start,
        "PostgreSQL Ready": ready - bound[0],
        "migration Job done": migrate[1] - migrate[0],
        "api-server Ready": api[1] - api[0],
    }
    chain = sum(links.values())
    components_done = task_end(fresh_run, "Roll out the components")
    wall = components_done - start
    dags = task_end(fresh_run, "Sync the DAGs") - components_done
    detail = ", ".join(f"{k} {v:.1f} s" for k, v in links.items())
    line(
        "wait_overlap_ratio",
        f"{wall / chain:.2f}",
        f"(wait phase {wall:.1f} s, chain {chain:.1f} s: {detail}; then the DAG sync {dags:.1f} s; n=1)",
    )


def _request_kind(event: dict) -> str:
    """An audit event as `verb resource[/subresource]` (or its non-resource URL)."""
    ref = event.get("objectRef") or {}
    if not ref:
        return f"{event['verb']} {event.get('requestURI', '').split('?')[0]}"
    what = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
    return f"{event['verb']} {what}"


def bench_converge(stack: Stack, fresh_events: list[dict], directory: Path, repeat: int) -> None:
    objects = managed_objects(stack, fresh_events)
    peers = peer_playbooks(objects, directory)
    args = stack.args()
    # The peers' first apply adds their last-applied annotations (writes); then all are converged.
    for name in ("one_task", "baseline"):
        playbook(peers[name], *args, timeout=600)
    playbook(SITE, *args, "--skip-tags", "demo", timeout=900)
    audit = stack.kube.audit
    walls: dict[str, list[float]] = {name: [] for name in ("ours", "as_modules", "baseline", "one_task", "floor")}
    writes: dict[str, list[int]] = {name: [] for name in walls}
    requests: list[int] = []
    kinds_of_request: Counter = Counter()
    for _ in range(repeat):
        for name in walls:
            mark = audit.mark()
            path, extra = {
                "ours": (SITE, ["--skip-tags", "demo"]),
                "as_modules": (SITE, ["--skip-tags", "demo", "-e", "px_in_process=false"]),
            }.get(name, (peers.get(name), []))
            _, seconds = playbook(path, *args, *extra, timeout=900)
            events = stack.events(mark)
            written = audit.writes(mark, user=stack.identity.user)
            walls[name].append(seconds)
            writes[name].append(len(written))
            if name == "ours":
                requests.append(len(events))
                kinds_of_request = Counter(_request_kind(e) for e in events)
                if written:
                    print(f"  writes in a converged re-run: {audit.describe(written)}", flush=True)
    ours = statistics.median(walls["ours"])
    line("converge_writes", max(writes["ours"]), f"(per run: {writes['ours']})")
    line(
        "converge_requests_per_object",
        f"{statistics.median(requests) / len(objects):.2f}",
        f"({statistics.median(requests)} requests, {len(objects)} objects)",
    )
    print(
        "  requests of the last converged re-run: "
        + ", ".join(f"{what} x{n}" for what, n in sorted(kinds_of_request.items(), key=lambda kv: (-kv[1], kv[0]))),
        flush=True,
    )
    for name, figure in (
        ("baseline", "converge_wall_ratio_vs_baseline"),
        ("one_task", "converge_wall_ratio_vs_one_task"),
    ):
        theirs = statistics.median(walls[name])
        low, high = min(walls["ours"]) / max(walls[name]), max(walls["ours"]) / min(walls[name])
        line(
            figure,
            f"{ours / theirs:.2f}",
            f"(ours {ours:.2f} s, peer {theirs:.2f} s, peer writes per run {writes[name]}; "
            f"min {low:.2f}, max {high:.2f}, n={repeat})",
        )
    floor = statistics.median(walls["floor"])
    line(
        "ansible_floor_ratio",
        f"{ours / floor:.2f}",
        f"(ours {ours:.2f} s, floor {floor:.2f} s {spread(walls['floor'])})",
    )
    line("converge_wall_seconds", f"{ours:.2f}", spread(walls["ours"]))
    line(
        "converge_wall_seconds_as_modules",
        f"{statistics.median(walls['as_modules']):.2f}",
        f"{spread(walls['as_modules'])}, writes per run {writes['as_modules']}",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="rounds of the converged runs (default 5)")
    parser.add_argument("--only", choices=["converge", "waits", "dag_sync"], action="append")
    args = parser.parse_args()
    selected = args.only or ["converge", "waits", "dag_sync"]
    # The local cluster, up (a no-op when it already runs), as the tests' session fixture does.
    subprocess.run([str(PX_CLUSTER), "up", "--dir", str(CLUSTER_DIR)], check=True, timeout=3600)
    if "converge" in selected or "waits" in selected:
        kube = Kube(CLUSTER_DIR / "kubeconfig")
        with tempfile.TemporaryDirectory() as tmp:
            stack = Stack(kube, Path(tmp))
            try:
                stack.identity.create()
                stack.mark_fresh = kube.audit.mark()
                fresh, seconds = playbook(SITE, *stack.args(), "--skip-tags", "demo")
                line("fresh_deploy_seconds", f"{seconds:.1f}", f"(namespace {stack.namespace})")
                fresh_events = stack.events(stack.mark_fresh)
                if "waits" in selected:
                    bench_waits(stack, fresh_events, fresh)
                if "converge" in selected:
                    bench_converge(stack, fresh_events, Path(tmp), args.repeat)
            finally:
                stack.remove()
    if "dag_sync" in selected:
        subprocess.run([sys.executable, str(ROOT / "bench" / "dag_sync_bench.py")], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
