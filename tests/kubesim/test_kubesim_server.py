"""kubesim as a process and an HTTPS endpoint: kubeconfig, TLS, auth, /version, request log, restart.

Each case states what a real kube-apiserver (or kubeconfig convention) does.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml
from kubesim_harness import KUBESIM_BIN, start_kubesim, wait_for
from simclient import RawClient


def test_banner_says_simulation(kubesim: Any) -> None:
    """kubesim must never be mistaken for a cluster: its first output line says SIMULATION."""
    first = kubesim.stdout.read_text().splitlines()[0]
    assert "SIMULATED" in first and "NOT a real cluster" in first


def test_kubeconfig_names_and_https(kubesim: Any) -> None:
    """A kubeconfig (clientcmd v1 Config) with cluster, user and context named kubesim, HTTPS, embedded CA, token."""
    config = yaml.safe_load(kubesim.kubeconfig.read_text())
    assert config["current-context"] == "kubesim"
    assert [c["name"] for c in config["clusters"]] == ["kubesim"]
    assert [u["name"] for u in config["users"]] == ["kubesim"]
    context = config["contexts"][0]
    assert context["name"] == "kubesim" and context["context"]["cluster"] == "kubesim"
    assert context["context"]["user"] == "kubesim"
    assert config["clusters"][0]["cluster"]["server"].startswith("https://127.0.0.1:")
    assert b"BEGIN CERTIFICATE" in base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"])
    assert config["users"][0]["user"]["token"]


def test_tls_verifies_with_embedded_ca(kubesim: Any) -> None:
    """The serving certificate chains to the kubeconfig's CA and names 127.0.0.1 (no insecure-skip-tls-verify)."""
    import ssl
    import urllib.request

    context = ssl.create_default_context(cadata=base64.b64decode(kubesim.ca_data).decode())
    with urllib.request.urlopen(kubesim.url + "/version", context=context, timeout=5) as response:
        assert response.status == 200


def test_version_reports_kubesim_build(raw: Any) -> None:
    """/version is a version.Info; kubesim's gitVersion carries +kubesim so nobody mistakes it for a cluster."""
    status, info = raw.json("GET", "/version")
    assert status == 200
    assert info["gitVersion"] == "v1.33.0+kubesim"
    assert (info["major"], info["minor"]) == ("1", "33")
    assert info["platform"] and info["goVersion"]


def test_missing_token_is_401(kubesim: Any) -> None:
    """Without credentials the API answers 401 with an Unauthorized Status (authentication failed)."""
    status, body = RawClient(kubesim, token="").json("GET", "/api/v1/namespaces")
    assert status == 401
    assert body["kind"] == "Status" and body["reason"] == "Unauthorized" and body["code"] == 401


def test_wrong_token_is_401(kubesim: Any) -> None:
    """An invalid bearer token is a 401 Unauthorized Status."""
    status, body = RawClient(kubesim, token="not-the-token").json("GET", "/api/v1/namespaces/default/configmaps")
    assert (status, body["reason"]) == (401, "Unauthorized")


def test_health_and_version_are_public(kubesim: Any) -> None:
    """system:public-info-viewer: /healthz, /livez, /readyz and /version need no credentials."""
    client = RawClient(kubesim, token="")
    for path in ("/healthz", "/livez", "/readyz"):
        response = client("GET", path)
        assert response.status == 200 and response.data == b"ok"
    assert client("GET", "/version").status == 200


def test_unknown_path_is_404_status(raw: Any) -> None:
    """A URL nothing serves: 404 NotFound Status "the server could not find the requested resource"."""
    status, body = raw.json("GET", "/apis/nosuch.example.com/v1/things")
    assert status == 404
    assert body["reason"] == "NotFound" and body["message"] == "the server could not find the requested resource"


def test_unsupported_method_is_405(raw: Any, ns: str) -> None:
    """POST to an object URL (not a collection) is 405 MethodNotAllowed."""
    status, body = raw.json("POST", f"/api/v1/namespaces/{ns}/configmaps/x", {"metadata": {"name": "x"}})
    assert status == 405 and body["reason"] == "MethodNotAllowed"


def test_body_over_3mib_is_413(raw: Any, ns: str) -> None:
    """The API server refuses request bodies over 3 MiB (MaxRequestBodyBytes) with 413 RequestEntityTooLarge."""
    big = {"metadata": {"name": "big"}, "data": {"k": "x" * (3 * 1024 * 1024 + 10)}}
    status, body = raw.json("POST", f"/api/v1/namespaces/{ns}/configmaps", big)
    assert status == 413 and body["reason"] == "RequestEntityTooLarge"


def test_request_log_fields(kubesim: Any, core: Any, ns: str) -> None:
    """Benchmarks read the request log: one JSON line per request with the agreed fields."""
    mark = kubesim.mark()
    core.create_namespaced_config_map(ns, {"metadata": {"name": "logged"}}, dry_run="All")
    core.read_namespaced_config_map("kube-root-ca.crt", ns)
    entries = wait_for(lambda: kubesim.requests(mark)[-2:] if len(kubesim.requests(mark)) >= 2 else None)
    create, get = entries
    for entry in entries:
        for key in (
            "method",
            "path",
            "status",
            "dryRun",
            "bytes_in",
            "bytes_out",
            "warnings",
            "verb",
            "resource",
            "namespace",
            "name",
            "user_agent",
        ):
            assert key in entry
    assert (create["method"], create["verb"], create["status"], create["dryRun"]) == ("POST", "create", 201, True)
    assert create["bytes_in"] > 0 and create["resource"] == "configmaps" and create["namespace"] == ns
    assert (get["verb"], get["name"], get["dryRun"]) == ("get", "kube-root-ca.crt", False)
    assert get["bytes_out"] > 0 and isinstance(get["warnings"], list)


def test_sigterm_exits_zero(kubesim_factory: Any) -> None:
    """kubesim runs until SIGTERM and then exits 0 (what the fixture and CI rely on)."""
    instance = kubesim_factory()
    assert instance.stop() == 0


def test_free_port_chosen_when_port_zero(kubesim_factory: Any, kubesim: Any) -> None:
    """--port 0 picks a free port: two instances run side by side."""
    other = kubesim_factory()
    assert other.url != kubesim.url


def test_kubernetes_version_flag(kubesim_factory: Any) -> None:
    """--kubernetes-version selects the simulated version (and its /version)."""
    instance = kubesim_factory("--kubernetes-version", "1.30")
    status, info = RawClient(instance).json("GET", "/version")
    assert status == 200 and info["gitVersion"] == "v1.30.0+kubesim" and info["minor"] == "30"


def test_state_dir_survives_restart(kubesim_factory: Any, tmp_path: Path) -> None:
    """With --state-dir objects survive a restart and resourceVersion keeps growing (it is etcd's revision)."""
    state = tmp_path / "state"
    first = kubesim_factory(state_dir=state)
    client = RawClient(first)
    status, created = client.json(
        "POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "kept"}, "data": {"a": "1"}}
    )
    assert status == 201
    client.json("DELETE", "/api/v1/namespaces/default/configmaps/kube-root-ca.crt")
    _, before = client.json("GET", "/api/v1/namespaces/default/configmaps")
    assert first.stop() == 0
    second = kubesim_factory(state_dir=state)
    client = RawClient(second)
    status, kept = client.json("GET", "/api/v1/namespaces/default/configmaps/kept")
    assert status == 200 and kept["data"] == {"a": "1"} and kept["metadata"]["uid"] == created["metadata"]["uid"]
    status, again = client.json("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "later"}})
    assert int(again["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])


def test_kubeconfig_written_only_when_serving(tmp_path: Path) -> None:
    """The kubeconfig appears only once requests are answered: the first request after it never fails."""
    instance = start_kubesim(tmp_path)
    try:
        assert RawClient(instance).json("GET", "/api")[0] == 200
    finally:
        assert instance.stop() == 0


def test_bad_version_flag_fails_cleanly(tmp_path: Path) -> None:
    """A nonsense --kubernetes-version is a usage error, not a traceback."""
    result = subprocess.run(
        [str(KUBESIM_BIN), "serve", "--kubeconfig", str(tmp_path / "kc"), "--kubernetes-version", "banana"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr


def test_keep_alive_is_used(kubesim: Any, core: Any, ns: str) -> None:
    """HTTP/1.1 keep-alive: many requests from one client are fast (the 40 ms Nagle trap is avoided)."""
    started = time.monotonic()
    for _ in range(50):
        core.read_namespace(ns)
    assert time.monotonic() - started < 2.5


def test_warning_header_for_deprecated_endpoints(raw: Any, ns: str) -> None:
    """Kubernetes 1.33 deprecates v1 Endpoints: every request carries a 299 Warning header saying so."""
    response = raw("GET", f"/api/v1/namespaces/{ns}/endpoints")
    assert response.status == 200
    assert "v1 Endpoints is deprecated in v1.33+" in response.headers.get("Warning", "")
    assert json.loads(response.data)["kind"] == "EndpointsList"


def test_sigterm_with_open_watch_exits_promptly(kubesim_factory: Any) -> None:
    """A stream in progress (watch) does not keep kubesim from stopping on SIGTERM."""
    instance = kubesim_factory()
    client = RawClient(instance)
    response = client("GET", "/api/v1/namespaces/default/configmaps?watch=1", preload=False, timeout=30)
    assert response.status == 200
    started = time.monotonic()
    assert instance.stop() == 0
    assert time.monotonic() - started < 5


def test_state_dir_keeps_custom_resources(kubesim_factory: Any, tmp_path: Path) -> None:
    """CRDs and their custom resources survive a restart, and the CRD is served again."""
    from test_kubesim_crd import _crd

    state = tmp_path / "state"
    first = kubesim_factory(state_dir=state)
    client = RawClient(first)
    assert (
        client.json("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", _crd("keep.example.com"))[0]
        == 201
    )
    widget = {"apiVersion": "keep.example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert client.json("POST", "/apis/keep.example.com/v1/namespaces/default/widgets", widget)[0] == 201
    first.stop()
    second = kubesim_factory(state_dir=state)
    status, body = RawClient(second).json("GET", "/apis/keep.example.com/v1/namespaces/default/widgets/w")
    assert status == 200 and body["kind"] == "Widget"
