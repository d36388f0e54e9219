"""Fixtures for tests on the local real cluster: it is brought up once per session (px-cluster up)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .kube import ROOT, Kube, unique

CLUSTER_DIR = Path(os.environ.get("PX_CLUSTER_DIR", ROOT / "out" / "cluster"))
PX_CLUSTER = ROOT / ".venv" / "bin" / "px-cluster"


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


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    """A fresh namespace, deleted after the test (without waiting for it to go)."""
    name = unique("t")
    kube.create_namespace(name)
    yield name
    kube.run("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)
