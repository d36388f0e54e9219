"""kubesim's in-process API and extension points (what simulated controllers and later parts build on).

Not Kubernetes behaviour as such: these pin the contracts other kubesim modules rely on — `rest.Api`
raises the same errors as the HTTP API, the store reports change events, `Kubesim(setup=...)`
lets a part register subresource handlers and request hooks before the first request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubesim import errors
from kubesim.resources import Registry
from kubesim.rest import Api, Response
from kubesim.server import Kubesim, ServeOptions
from kubesim.store import Event, Store
from simclient import RawClient


@pytest.fixture
def api() -> Any:
    instance = Api(Store(), Registry(33), "1.33")
    instance.start()
    yield instance
    instance.close()


def test_api_create_get_and_events(api: Any) -> None:
    """Api.create/get behave like POST/GET; subscribers see ADDED with the stored object."""
    seen: list[Event] = []
    api.subscribe(seen.append)
    info = api.info("v1", "ConfigMap")
    created = api.create(info, {"metadata": {"name": "a"}, "data": {"k": "v"}}, "default").body
    assert api.get(info, "default", "a")["metadata"]["uid"] == created["metadata"]["uid"]
    assert [(e.type, e.obj["metadata"]["name"]) for e in seen if e.key == "/configmaps"] == [("ADDED", "a")]


def test_api_raises_api_errors(api: Any) -> None:
    """The in-process API raises ApiError with the HTTP API's code and reason."""
    info = api.info("v1", "ConfigMap")
    with pytest.raises(errors.ApiError) as exc:
        api.get(info, "default", "missing")
    assert (exc.value.code, exc.value.reason) == (404, "NotFound")
    api.create(info, {"metadata": {"name": "a"}}, "default")
    with pytest.raises(errors.ApiError) as exc:
        api.create(info, {"metadata": {"name": "a"}}, "default")
    assert exc.value.code == 409


def test_api_update_conflict(api: Any) -> None:
    """Api.update honours resourceVersion preconditions (409 on a stale one)."""
    info = api.info("v1", "ConfigMap")
    first = api.create(info, {"metadata": {"name": "a"}, "data": {"x": "1"}}, "default").body
    api.update(info, {**first, "data": {"x": "2"}}, "default", "a")
    with pytest.raises(errors.ApiError) as exc:
        api.update(info, {**first, "data": {"x": "3"}}, "default", "a")
    assert exc.value.code == 409


def test_setup_hook_registers_subresource_and_request_hook(tmp_path: Path) -> None:
    """Kubesim(setup=...) can add a subresource handler (e.g. services/proxy) and a before-request hook."""

    def setup(app: Any) -> None:
        def proxy(request: Any, route: Any, info: Any) -> Response:
            return Response(
                200, f"proxied {request.method} {route.name} /{route.subpath}".encode(), content_type="text/plain"
            )

        def fault(request: Any) -> Response | None:
            if request.path == "/api/v1/namespaces/default/configmaps/faulty":
                return Response(503, errors.ApiError(503, "ServiceUnavailable", "injected").to_status())
            return None

        app.frontend.subresource_handlers[("", "services", "proxy")] = proxy
        app.before_request.append(fault)

    sim = Kubesim(ServeOptions(kubeconfig=str(tmp_path / "kc"), request_log=str(tmp_path / "log")), setup)
    sim.start()
    try:
        import yaml

        config = yaml.safe_load((tmp_path / "kc").read_text())

        class Instance:
            url = config["clusters"][0]["cluster"]["server"]
            token = config["users"][0]["user"]["token"]
            ca_data = config["clusters"][0]["cluster"]["certificate-authority-data"]

        client = RawClient(Instance())  # type: ignore[arg-type]
        response = client("POST", "/api/v1/namespaces/default/services/web:80/proxy/api/v2/health", "x")
        assert response.status == 200 and response.data == b"proxied POST web:80 /api/v2/health"
        assert client("GET", "/api/v1/namespaces/default/configmaps/faulty").status == 503
    finally:
        sim.stop()
