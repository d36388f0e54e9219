"""Fixtures shared by every test (helpers live in helpers.py and cluster/kube.py, importable by name).

The Kubernetes the tests talk to is the local real cluster (px-cluster, tools/cluster): brought up
once per session (a no-op when it already runs) and shared; each test works in a namespace of its own.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster.kube import CLUSTER_DIR, PX_CLUSTER, Kube, unique


@pytest.fixture(scope="session")
def cluster_dir() -> Path:
    return CLUSTER_DIR


@pytest.fixture(scope="session")
def kube(cluster_dir: Path) -> Kube:
    """The local cluster, up (a no-op when it already runs), as px-admin (client certificate)."""
    proc = subprocess.run(
        [str(PX_CLUSTER), "up", "--dir", str(cluster_dir)], capture_output=True, text=True, timeout=3600
    )
    if proc.returncode != 0:
        pytest.fail(f"px-cluster up failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return Kube(cluster_dir / "kubeconfig")


def _namespace(kube: Kube, prefix: str) -> Iterator[str]:
    name = unique(prefix)
    kube.create_namespace(name)
    yield name
    kube.run("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    """A fresh namespace, deleted after the test (without waiting for it to go)."""
    yield from _namespace(kube, "t")


@pytest.fixture(scope="module")
def module_namespace(kube: Kube) -> Iterator[str]:
    """A fresh namespace shared by one test module, deleted after it."""
    yield from _namespace(kube, "m")


@pytest.fixture
def playbook(tmp_path: Path):
    """Write a playbook from YAML text into tmp_path and return its path."""

    def write(text: str, name: str = "play.yml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def pytest_terminal_summary(terminalreporter):
    """Print the wall time of each molecule scenario that ran (issue: print them)."""
    try:
        from cluster.test_molecule import WALL_TIMES
    except ImportError:
        return
    for scenario, seconds in WALL_TIMES.items():
        terminalreporter.write_line(f"molecule scenario {scenario}: {seconds:.1f} s")
