"""Fixtures for the kubesim conformance tests (tests/kubesim), on top of the shared tests/kubesim_harness.py.

- `kubesim` (session): one kubesim subprocess for the whole session; yields a `KubesimInstance`
  with `.kubeconfig`, `.url`, `.request_log`, `.state_dir`, `.requests()` and `.mark()`.
- `kubesim_factory`: start more instances with extra arguments (`--state-dir`, later parts'
  flags); each is stopped by PID (SIGTERM, bounded wait) at the end of the test.
- `api_client`, `core`, `apps`, `batch`, `dyn`: official `kubernetes` clients for `kubesim`.
- `ns`: a fresh namespace per test (tests share one server, never one namespace).

Starting and stopping kubesim lives in tests/kubesim_harness.py (shared by every test tree); raw
HTTPS helpers in simclient.py. Test modules import from those, never `from conftest import ...`
(two conftest.py files in one session make that name ambiguous).
"""

from __future__ import annotations

import contextlib
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: kubesim_harness
from kubesim_harness import KubesimInstance, start_kubesim
from simclient import RawClient


@pytest.fixture(scope="session")
def kubesim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubesimInstance]:
    """One kubesim for the session: the API server alone (no controllers), so nothing moves by itself."""
    instance = start_kubesim(tmp_path_factory.mktemp("kubesim"), "--no-controllers")
    yield instance
    instance.stop()


@pytest.fixture
def kubesim_factory(tmp_path: Path) -> Iterator[Any]:
    """Start extra kubesim instances: `kubesim_factory(*args, state_dir=...)`; stopped after the test."""
    started: list[KubesimInstance] = []

    def start(*extra: str, state_dir: Path | None = None, port: int = 0) -> KubesimInstance:
        instance = start_kubesim(tmp_path / f"sim{len(started)}", *extra, state_dir=state_dir, port=port)
        started.append(instance)
        return instance

    yield start
    for instance in started:
        instance.stop()


@pytest.fixture(scope="session")
def api_client(kubesim: KubesimInstance) -> Any:
    return kubesim.api_client()


@pytest.fixture(scope="session")
def core(api_client: Any) -> Any:
    from kubernetes import client

    return client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def apps(api_client: Any) -> Any:
    from kubernetes import client

    return client.AppsV1Api(api_client)


@pytest.fixture(scope="session")
def batch(api_client: Any) -> Any:
    from kubernetes import client

    return client.BatchV1Api(api_client)


@pytest.fixture(scope="session")
def dyn(api_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from kubernetes import dynamic

    # A private discovery cache: the default one in /tmp is shared by every client of the same URL.
    cache = tmp_path_factory.mktemp("discovery") / "cache.json"
    return dynamic.DynamicClient(api_client, cache_file=str(cache))


@pytest.fixture
def ns(core: Any) -> Iterator[str]:
    """A fresh namespace for one test (deleted afterwards, without waiting for it to go)."""
    from kubernetes.client.rest import ApiException

    name = f"t-{uuid.uuid4().hex[:10]}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    with contextlib.suppress(ApiException):
        core.delete_namespace(name)


@pytest.fixture
def raw(kubesim: KubesimInstance) -> Any:
    """Raw HTTPS requests with the kubeconfig's token and CA: raw(method, path, body=..., headers=...)."""
    return RawClient(kubesim)
