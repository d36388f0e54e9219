"""kubernetes.core against kubesim: apply (client-side, converges with no change), check mode (server dry run),
state patched/absent, k8s_info with selectors, k8s_log.

What a real cluster gives kubernetes.core 6.x: `apply: true` stores kubectl.kubernetes.io/last-applied-configuration
and computes a patch client-side (plugins/module_utils/apply.py). The patch always carries the desired object's
lists (containers, ports, ...), so for such objects a converged apply still sends a merge-patch PATCH; the API
server finds nothing to change, writes nothing and keeps the resourceVersion, and the module reports no change.
Objects without lists (a ConfigMap) get no request at all. Check mode sends dryRun=All
(https://docs.ansible.com/ansible/latest/collections/kubernetes/core/k8s_module.html).
These tests run ansible-playbook; they are skipped when the collection is not installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

COLLECTIONS = Path(__file__).resolve().parents[2] / "collections"
PLAYBOOK_BIN = Path(sys.executable).with_name("ansible-playbook")

pytestmark = pytest.mark.skipif(
    not (COLLECTIONS / "ansible_collections" / "kubernetes" / "core").is_dir() or not PLAYBOOK_BIN.exists(),
    reason="kubernetes.core (collections/ansible_collections/kubernetes/core) or ansible-playbook not installed",
)

HEADER = """\
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
"""


def run_playbook(kubesim: Any, directory: Path, tasks: str, check: bool = False, **extra: Any) -> dict[str, Any]:
    """Run a one-play playbook against `kubesim`; returns the json callback's stats and per-task results."""
    directory.mkdir(parents=True, exist_ok=True)
    playbook = directory / f"play-{uuid.uuid4().hex[:6]}.yml"
    playbook.write_text(HEADER + textwrap.indent(textwrap.dedent(tasks), "    "))
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        K8S_AUTH_KUBECONFIG=str(kubesim.kubeconfig),
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=str(directory / "tmp"),
    )
    args = [str(PLAYBOOK_BIN), "-i", "localhost,", str(playbook), "-e", json.dumps(extra)]
    if check:
        args.append("--check")
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=180)
    try:
        output = json.loads(result.stdout)
    except ValueError:
        raise AssertionError(f"ansible-playbook output is not JSON:\n{result.stdout}\n{result.stderr}") from None
    tasks_out = {t["task"]["name"]: t["hosts"]["localhost"] for t in output["plays"][0]["tasks"]}
    failed = {n: r.get("msg") for n, r in tasks_out.items() if r.get("failed")}
    assert result.returncode == 0 and not failed, f"playbook failed: {failed}\n{result.stderr[-2000:]}"
    return tasks_out


APPLY = """\
- name: apply
  kubernetes.core.k8s:
    apply: true
    namespace: "{{ ns }}"
    definition:
      - apiVersion: v1
        kind: ConfigMap
        metadata: {name: settings, labels: {app: demo}}
        data: {greeting: "{{ greeting }}"}
      - apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, labels: {app: demo}}
        spec:
          replicas: 1
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers:
                - name: web
                  image: nginx:1.27
                  ports: [{containerPort: 80}]
                  env: [{name: GREETING, value: "{{ greeting }}"}]
      - apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec:
          selector: {app: web}
          ports: [{port: 80, targetPort: 80}]
"""


def _versions(core: Any, apps: Any, ns: str) -> list[str]:
    return [
        core.read_namespaced_config_map("settings", ns).metadata.resource_version,
        apps.read_namespaced_deployment("web", ns).metadata.resource_version,
        core.read_namespaced_service("web", ns).metadata.resource_version,
    ]


def test_apply_creates_converges_and_patches(kubesim: Any, core: Any, apps: Any, ns: str, tmp_path: Path) -> None:
    """apply: true creates; a converged re-run changes nothing (no request for the ConfigMap, no-op PATCHes
    for objects with lists, same resourceVersions); a real change is a PATCH of the changed objects only."""
    first = run_playbook(kubesim, tmp_path, APPLY, ns=ns, greeting="hello")
    assert first["apply"]["changed"] is True
    annotations = core.read_namespaced_config_map("settings", ns).metadata.annotations
    assert "kubectl.kubernetes.io/last-applied-configuration" in annotations
    before = _versions(core, apps, ns)

    mark = kubesim.mark()
    second = run_playbook(kubesim, tmp_path, APPLY, ns=ns, greeting="hello")
    assert second["apply"]["changed"] is False
    assert kubesim.writes(mark) == [], "a converged apply must not change anything"
    sent = {(w["method"], w["resource"]) for w in kubesim.write_requests(mark)}
    assert sent <= {("PATCH", "deployments"), ("PATCH", "services")}, sent  # the no-op list patches
    assert _versions(core, apps, ns) == before

    mark = kubesim.mark()
    third = run_playbook(kubesim, tmp_path, APPLY, ns=ns, greeting="bonjour")
    assert third["apply"]["changed"] is True
    writes = kubesim.writes(mark)
    assert {(w["method"], w["resource"]) for w in writes} == {("PATCH", "configmaps"), ("PATCH", "deployments")}
    assert all(w["content_type"].startswith("application/merge-patch+json") for w in writes)
    assert core.read_namespaced_config_map("settings", ns).data == {"greeting": "bonjour"}


def test_check_mode_is_server_dry_run(kubesim: Any, core: Any, ns: str, tmp_path: Path) -> None:
    """In check mode kubernetes.core asks the server for a dry run: dryRun=All, nothing stored."""
    mark = kubesim.mark()
    tasks = """\
    - name: create in check mode
      kubernetes.core.k8s:
        state: present
        namespace: "{{ ns }}"
        definition: {apiVersion: v1, kind: ConfigMap, metadata: {name: dry}, data: {a: b}}
    """
    out = run_playbook(kubesim, tmp_path, tasks, check=True, ns=ns)
    assert out["create in check mode"]["changed"] is True
    assert out["create in check mode"]["result"]["metadata"]["uid"]  # the server's would-be object
    posts = [r for r in kubesim.requests(mark) if r["method"] == "POST" and r["resource"] == "configmaps"]
    assert posts and all(r["dryRun"] for r in posts)
    assert "dry" not in {c.metadata.name for c in core.list_namespaced_config_map(ns).items}


def test_patched_absent_info_and_log(kubesim: Any, core: Any, raw: Any, ns: str, tmp_path: Path) -> None:
    """state: patched merges into an existing object; state: absent deletes and waits; k8s_info selects by
    labels and fields; k8s_log reads a pod's log."""
    core.create_namespaced_config_map(ns, {"metadata": {"name": "keep", "labels": {"tier": "a"}}, "data": {"x": "1"}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "drop", "labels": {"tier": "b"}}})
    core.create_namespaced_pod(
        ns,
        {
            "metadata": {"name": "logger", "labels": {"app": "logger"}},
            "spec": {"containers": [{"name": "main", "image": "busybox"}]},
        },
    )
    core.patch_namespaced_pod_status(
        "logger",
        ns,
        {
            "status": {
                "phase": "Running",
                "containerStatuses": [
                    {
                        "name": "main",
                        "image": "busybox",
                        "imageID": "",
                        "ready": True,
                        "restartCount": 0,
                        "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}},
                    }
                ],
            }
        },
    )
    raw("POST", f"/kubesim/v1/namespaces/{ns}/pods/logger/log", "line one\nline two\n")
    tasks = """\
    - name: patch
      kubernetes.core.k8s:
        state: patched
        namespace: "{{ ns }}"
        definition: {apiVersion: v1, kind: ConfigMap, metadata: {name: keep}, data: {y: "2"}}
    - name: remove
      kubernetes.core.k8s:
        state: absent
        wait: true
        wait_timeout: 20
        namespace: "{{ ns }}"
        definition: {apiVersion: v1, kind: ConfigMap, metadata: {name: drop}}
    - name: info
      kubernetes.core.k8s_info:
        kind: ConfigMap
        namespace: "{{ ns }}"
        label_selectors: ["tier in (a, b)"]
        field_selectors: ["metadata.name=keep"]
    - name: log
      kubernetes.core.k8s_log:
        namespace: "{{ ns }}"
        name: logger
        tail_lines: 1
    - name: log by selector
      kubernetes.core.k8s_log:
        namespace: "{{ ns }}"
        label_selectors: ["app=logger"]
    """
    out = run_playbook(kubesim, tmp_path, tasks, ns=ns)
    assert out["patch"]["changed"] is True and out["patch"]["result"]["data"] == {"x": "1", "y": "2"}
    assert out["remove"]["changed"] is True
    assert [r["metadata"]["name"] for r in out["info"]["resources"]] == ["keep"]
    assert out["log"]["log_lines"] == ["line two", ""]
    assert out["log by selector"]["log"] == "line one\nline two\n"
    assert "drop" not in {c.metadata.name for c in core.list_namespaced_config_map(ns).items}
