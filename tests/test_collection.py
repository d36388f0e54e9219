"""The collection installs and loads the way users run it: ansible-doc, module errors, config."""

from __future__ import annotations

import socket
import subprocess

from helpers import ROOT, VENV_BIN, ansible_env, run_playbook


def test_ansible_finds_our_modules_and_their_docs():
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-doc"), "-t", "module", "px.airflow.portworx_info"],
        cwd=ROOT,
        env=ansible_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "storage_nodes" in proc.stdout and "K8S_AUTH_KUBECONFIG" in proc.stdout


def test_kubernetes_core_dependency_is_installed():
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-galaxy"), "collection", "list", "kubernetes.core", "--format", "json"],
        cwd=ROOT,
        env=ansible_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"kubernetes.core"' in proc.stdout


def test_missing_kubeconfig_fails_naming_the_file(playbook, tmp_path):
    missing = tmp_path / "no-such-kubeconfig"
    play = playbook(
        f"""
- hosts: localhost
  gather_facts: false
  tasks:
    - name: look
      px.airflow.portworx_info:
        kubeconfig: {missing}
        context: prod
"""
    )
    run = run_playbook(play)
    result = run.result("look")
    assert run.rc != 0 and result.get("failed")
    assert str(missing) in result["msg"] and "context prod" in result["msg"]
    assert "K8S_AUTH_KUBECONFIG" in result["msg"]


def test_context_from_environment_is_honoured(playbook, tmp_path):
    missing = tmp_path / "kc"
    play = playbook(
        """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: look
      px.airflow.portworx_info:
"""
    )
    run = run_playbook(play, env=ansible_env(K8S_AUTH_KUBECONFIG=str(missing), K8S_AUTH_CONTEXT="from-env"))
    msg = run.result("look")["msg"]
    assert str(missing) in msg and "context from-env" in msg


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_api_fails_naming_the_endpoint(playbook):
    port = _closed_port()
    play = playbook(
        f"""
- hosts: localhost
  gather_facts: false
  tasks:
    - name: look
      px.airflow.portworx_info:
        host: https://127.0.0.1:{port}
        api_key: not-a-real-token
        validate_certs: false
"""
    )
    run = run_playbook(play, timeout=120)
    result = run.result("look")
    assert result.get("failed")
    assert f"Cannot reach the Kubernetes API at https://127.0.0.1:{port}" in result["msg"]
    assert "not-a-real-token" not in run.stdout + run.stderr
