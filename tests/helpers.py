"""Helpers shared by the repo-level tests: paths, and running Ansible the way users do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def ansible_env(**extra: str) -> dict[str, str]:
    """The environment a user's `ansible-playbook` runs with in this repo (ansible.cfg honoured)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K8S_AUTH_", "ANSIBLE_"))}
    env.pop("KUBECONFIG", None)
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"),
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_STDOUT_CALLBACK="json",
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
    )
    env.update(extra)
    return env


class PlaybookRun:
    """The outcome of one ansible-playbook run with the json callback."""

    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        start = proc.stdout.find("{")
        self.data = json.loads(proc.stdout[start:]) if start >= 0 else {}

    def results(self, task_name: str) -> list[dict]:
        """Every host result of the tasks with this name, in order."""
        found = []
        for play in self.data.get("plays", []):
            for task in play.get("tasks", []):
                if task["task"]["name"] == task_name:
                    found.extend(task["hosts"].values())
        return found

    def result(self, task_name: str) -> dict:
        results = self.results(task_name)
        assert results, f"task {task_name!r} did not run; stderr: {self.stderr[-2000:]}"
        return results[-1]

    def stats(self) -> dict:
        return self.data.get("stats", {}).get("localhost", {})


def run_playbook(
    playbook: Path | str, *args: str, env: dict[str, str] | None = None, timeout: int = 600
) -> PlaybookRun:
    proc = subprocess.run(
        [
            str(VENV_BIN / "ansible-playbook"),
            *("-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter={{ ansible_playbook_python }}"),
            str(playbook),
            *args,
        ],
        cwd=ROOT,
        env=env or ansible_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return PlaybookRun(proc)
