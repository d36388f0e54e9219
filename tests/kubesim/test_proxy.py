"""kubesim part 3: the service proxy forwards to a local server registered for a Service port.

A local HTTP server (started here, on 127.0.0.1) echoes what it received, so each test checks both
sides: what reached the service (no Kubernetes credential, the other headers, query and body) and
what the client got back (status, headers, body), through the official `kubernetes` client.
"""

from __future__ import annotations

import json
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: kubesim_harness
from kubesim_harness import KubesimInstance, start_kubesim
from simclient import RawClient


class Echo(BaseHTTPRequestHandler):
    """Answers every method with what it received, as JSON; /redirect answers 302."""

    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        if self.path.startswith("/base/redirect") or self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", self.path.replace("redirect", "target", 1))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        seen = {"method": self.command, "path": self.path, "headers": dict(self.headers.items()), "body": body}
        data = json.dumps(seen).encode()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Upstream", "echo")
        self.send_header("Set-Cookie", "session=renewed; Path=/")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory, upstream: str) -> Iterator[KubesimInstance]:
    instance = start_kubesim(
        tmp_path_factory.mktemp("proxy"), "--no-controllers", "--proxy", f"default/echo:http={upstream}"
    )
    core = client.CoreV1Api(instance.api_client())
    ports = [{"name": "http", "port": 80, "targetPort": 8080}, {"name": "admin", "port": 9000}]
    core.create_namespaced_service("default", {"metadata": {"name": "echo"}, "spec": {"ports": ports}})
    core.create_namespaced_service("default", {"metadata": {"name": "single"}, "spec": {"ports": [{"port": 8080}]}})
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def api(sim: KubesimInstance) -> client.ApiClient:
    return sim.api_client()


def proxied(api: client.ApiClient, method: str, service: str, path: str = "", **kw: Any) -> Any:
    """A request through the proxy with the kubeconfig's credentials; the raw urllib3 response."""
    return api.call_api(
        f"/api/v1/namespaces/default/services/{service}/proxy/{path}",
        method,
        auth_settings=["BearerToken"],
        _preload_content=False,
        **kw,
    )


def test_get_reaches_the_service_without_the_kubernetes_token(sim: KubesimInstance, api: client.ApiClient) -> None:
    response = proxied(
        api,
        "GET",
        "echo:http",
        "hello/world",
        query_params=[("q", "1"), ("q", "2"), ("x", "a b")],
        header_params={"Cookie": "session=abc", "Accept": "application/json", "X-Custom": "yes"},
    )
    seen = json.loads(response.data)
    assert response.status == 200
    assert seen["method"] == "GET" and seen["path"] == "/hello/world?q=1&q=2&x=a+b"
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    assert "authorization" not in headers  # the Kubernetes credential stays with the API server
    assert sim.token not in json.dumps(seen)
    assert (headers["cookie"], headers["accept"], headers["x-custom"]) == ("session=abc", "application/json", "yes")
    assert response.headers["X-Upstream"] == "echo"
    assert response.headers["Set-Cookie"] == "session=renewed; Path=/"
    assert response.headers["Content-Type"] == "application/json"


def test_post_body_and_status_come_through(api: client.ApiClient) -> None:
    body = {"name": "demo", "id": uuid.uuid4().hex}
    response = proxied(
        api, "POST", "echo:80", "api/items", body=body, header_params={"Content-Type": "application/json"}
    )
    seen = json.loads(response.data)
    assert response.status == 201  # the upstream's status, not the API server's
    assert (seen["method"], seen["path"], json.loads(seen["body"])) == ("POST", "/api/items", body)
    assert seen["headers"]["Content-Type"] == "application/json"


def test_a_redirect_stays_under_the_proxy_path(sim: KubesimInstance, api: client.ApiClient) -> None:
    raw = RawClient(sim)
    path = "/api/v1/namespaces/default/services/echo:http/proxy"
    answer = raw.http.request(
        "GET", f"{sim.url}{path}/redirect/here", headers={"Authorization": f"Bearer {sim.token}"}, redirect=False
    )
    assert (answer.status, answer.headers["Location"]) == (302, f"{path}/target/here")
    # A client that follows it (urllib3 does) lands on the service again, through the proxy.
    followed = proxied(api, "GET", "echo:http", "redirect/here")
    assert (followed.status, json.loads(followed.data)["path"]) == (200, "/target/here")


def test_unregistered_and_missing_services_answer_like_a_real_proxy(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    with pytest.raises(ApiException) as no_endpoints:
        core.connect_get_namespaced_service_proxy_with_path("echo:admin", "default", "x")
    status = json.loads(no_endpoints.value.body)
    assert (no_endpoints.value.status, status["reason"]) == (503, "ServiceUnavailable")
    assert status["message"] == 'no endpoints available for service "echo"'
    with pytest.raises(ApiException) as missing:
        core.connect_get_namespaced_service_proxy_with_path("nope:80", "default", "x")
    status = json.loads(missing.value.body)
    assert (missing.value.status, status["reason"], status["message"]) == (404, "NotFound", 'services "nope" not found')


def test_a_proxy_registered_at_run_time_and_removed(sim: KubesimInstance, api: client.ApiClient, upstream: str) -> None:
    raw = RawClient(sim)
    registered = raw("POST", "/kubesim/v1/proxies", {"namespace": "default", "name": "single", "url": upstream})
    assert registered.status == 201
    # The default port (the only one), by number, by the port's default name: all the same Service port.
    for service in ("single", "single:8080"):
        response = proxied(api, "GET", service, "ping")
        assert response.status == 200 and json.loads(response.data)["path"] == "/ping"
    assert {"namespace": "default", "name": "single", "port": "", "url": upstream} in raw(
        "GET", "/kubesim/v1/proxies"
    ).json()["items"]
    assert raw("DELETE", "/kubesim/v1/proxies", {"namespace": "default", "name": "single"}).status == 200
    with pytest.raises(ApiException) as gone:
        proxied(api, "GET", "single", "ping")
    assert gone.value.status == 503


def test_an_upstream_that_does_not_answer_is_unavailable(sim: KubesimInstance, api: client.ApiClient) -> None:
    raw = RawClient(sim)
    url = "http://127.0.0.1:9"  # discard port: nothing listens
    raw("POST", "/kubesim/v1/proxies", {"namespace": "default", "name": "echo", "port": "admin", "url": url})
    with pytest.raises(ApiException) as caught:
        proxied(api, "GET", "echo:9000", "x")
    status = json.loads(caught.value.body)
    assert (caught.value.status, status["reason"]) == (503, "ServiceUnavailable")
    assert status["message"] == "error trying to reach service: dial tcp 127.0.0.1:9: connect: connection refused"


def test_the_proxy_needs_the_kubernetes_token(sim: KubesimInstance) -> None:
    response = RawClient(sim, token="")("GET", "/api/v1/namespaces/default/services/echo:http/proxy/x")
    assert response.status == 401


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/login?next=/", "/p/login?next=/"),
        ("http://127.0.0.1:8080/base/home", "/p/home"),
        ("/base", "/p/"),
        ("https://example.com/elsewhere", "https://example.com/elsewhere"),
        ("relative/path", "relative/path"),
    ],
)
def test_redirect_locations_are_rewritten_only_for_the_service(location: str, expected: str) -> None:
    from urllib.parse import urlsplit

    from kubesim.proxy import _relocate

    assert _relocate(location, urlsplit("http://127.0.0.1:8080/base"), "/p") == expected


def test_proxy_flags_parse() -> None:
    from kubesim.proxy import Registration, parse_spec

    assert parse_spec("demo/web:http=http://127.0.0.1:8080/") == Registration(
        "demo", "web", "http", "http://127.0.0.1:8080"
    )
    assert parse_spec("demo/web=http://127.0.0.1:8080").port == ""
    for bad in ("web:80=http://x", "demo/web:80", "demo/web=ftp://x"):
        with pytest.raises(ValueError):
            parse_spec(bad)
