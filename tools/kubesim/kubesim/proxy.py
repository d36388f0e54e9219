"""The service proxy: `/api/v1/namespaces/{ns}/services/{[scheme:]name[:port]}/proxy/{path}`.

kubesim has no Pods behind its Services, so a test says where a Service's port answers: `--proxy
NS/NAME[:PORT]=URL` (repeatable) or, once kubesim runs, `POST /kubesim/v1/proxies` with
{"namespace", "name", "port", "url"} (`DELETE` with the same fields, or query parameters, removes
it; `GET` lists them). PORT is a port number or name of the Service (omitted: its only or unnamed
port), resolved against the Service when a request arrives.

What the kube-apiserver does, kept here: every method, the query string and body are forwarded;
the caller's `Authorization` header is removed (the Kubernetes credential never reaches the
service) and the other headers (Cookie, Content-Type, Accept, ...) are passed on, minus the
hop-by-hop ones; the upstream status, headers and body come back (a redirect's Location is
rewritten to stay under the proxy path). A missing Service is 404 NotFound; a Service with nothing
registered answers 503 ServiceUnavailable `no endpoints available for service "NAME"`, as a real
Service without ready endpoints does; an upstream that does not answer is 503 "error trying to
reach service". Responses are buffered, not streamed. HTML bodies are not rewritten.
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, quote, unquote, urlencode, urlsplit

from . import errors
from .errors import ApiError
from .resources import ResourceInfo
from .rest import Api, Request, Response, Route

SERVICES = "/services"
UPSTREAM_TIMEOUT = 60.0
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
}
# Never forwarded upstream: the Kubernetes credential, and what http.client sets itself.
NOT_FORWARDED = HOP_BY_HOP | {"authorization", "host", "content-length"}
# Written by kubesim's server for every answer; the upstream's copies would be duplicates.
NOT_RETURNED = HOP_BY_HOP | {"content-length", "content-type", "date", "cache-control"}
PATH_SAFE = "/:@!$&'()*+,;=~"


@dataclass(frozen=True)
class Registration:
    namespace: str
    name: str
    port: str  # a number or a port name of the Service; "" for its default port
    url: str

    def as_dict(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "name": self.name, "port": self.port, "url": self.url}


def parse_spec(text: str) -> Registration:
    """--proxy NS/NAME[:PORT]=URL."""
    target, sep, url = text.partition("=")
    namespace, slash, service = target.partition("/")
    name, _, port = service.partition(":")
    if not (sep and slash and namespace and name and url):
        raise ValueError(f"--proxy {text!r}: expected NS/NAME[:PORT]=URL")
    return registration(namespace, name, port, url)


def registration(namespace: str, name: str, port: Any, url: str) -> Registration:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"proxy url {url!r}: expected http(s)://host:port[/base]")
    return Registration(namespace, name, "" if port in (None, "") else str(port), url.rstrip("/"))


def service_port(service: dict[str, Any], port: str) -> dict[str, Any] | None:
    """The Service port a URL's port part means: a number, a name, or (empty) the only/unnamed port."""
    ports = (service.get("spec") or {}).get("ports") or []
    if not port:
        unnamed = [p for p in ports if not p.get("name")]
        return unnamed[0] if unnamed else (ports[0] if len(ports) == 1 else None)
    if port.isdigit():
        return next((p for p in ports if p.get("port") == int(port)), None)
    return next((p for p in ports if p.get("name") == port), None)


def split_service_name(text: str) -> tuple[str, str, str]:
    """`name`, `name:port` or `scheme:name:port` (the forms the API server accepts)."""
    parts = text.split(":")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return "", text, ""


def split_proxy_path(raw_path: str) -> tuple[str, str]:
    """(the proxy prefix, the upstream path) from the raw request path, trailing slash kept."""
    segments = raw_path.split("/")
    for i, segment in enumerate(segments):
        if segment == "services" and i + 2 < len(segments) and segments[i + 2] == "proxy":
            prefix = "/".join(segments[: i + 3])
            rest = unquote("/".join(segments[i + 3 :]))
            return prefix, "/" + quote(rest, safe=PATH_SAFE)
    raise errors.not_found_path()


class Proxies:
    """Registered upstreams and the services/proxy subresource handler."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self._lock = threading.Lock()
        self._entries: list[Registration] = []

    # ---- registrations ---------------------------------------------------------------------------
    def add(self, entry: Registration) -> None:
        with self._lock:
            self._entries = [e for e in self._entries if (e.namespace, e.name, e.port) != _key(entry)]
            self._entries.append(entry)

    def remove(self, namespace: str, name: str, port: str) -> bool:
        with self._lock:
            before = len(self._entries)
            self._entries = [e for e in self._entries if (e.namespace, e.name, e.port) != (namespace, name, port)]
            return len(self._entries) != before

    def entries(self) -> list[Registration]:
        with self._lock:
            return list(self._entries)

    def upstream(self, namespace: str, name: str, port: str) -> str:
        """The registered URL for a Service port (raises the API server's 404/503)."""
        service = self.api.store.get(SERVICES, namespace, name)
        if service is None:
            raise errors.not_found("services", name)
        wanted = service_port(service, port)
        if wanted is None:
            if port.isdigit():
                raise _unavailable(f'no service port {port} found for service "{name}"')
            raise _unavailable(f'no endpoints available for service "{name}"')
        for entry in self.entries():
            if (entry.namespace, entry.name) == (namespace, name) and service_port(service, entry.port) == wanted:
                return entry.url
        raise _unavailable(f'no endpoints available for service "{name}"')

    # ---- the subresource ---------------------------------------------------------------------------
    def handle(self, request: Request, route: Route, info: ResourceInfo) -> Response:
        del info
        if route.namespace is None:
            raise errors.not_found_path()
        scheme, name, port = split_service_name(route.name)
        url = self.upstream(route.namespace, name, port)
        prefix, path = split_proxy_path(request.path)
        return forward(request, url, path, prefix, scheme)

    # ---- /kubesim/v1/proxies -----------------------------------------------------------------------
    def api_hook(self, request: Request) -> Response | None:
        if request.path.rstrip("/") != "/kubesim/v1/proxies":
            return None
        if request.method == "GET":
            return Response(200, {"items": [e.as_dict() for e in self.entries()]})
        fields = _fields(request)
        if request.method == "POST":
            try:
                entry = registration(
                    str(fields.get("namespace") or "default"),
                    str(fields.get("name") or ""),
                    fields.get("port"),
                    str(fields.get("url") or ""),
                )
            except ValueError as e:
                raise errors.bad_request(str(e)) from e
            if not entry.name:
                raise errors.bad_request("a proxy registration needs a name")
            self.add(entry)
            return Response(201, entry.as_dict())
        if request.method == "DELETE":
            port = "" if fields.get("port") in (None, "") else str(fields["port"])
            namespace, name = str(fields.get("namespace") or "default"), str(fields.get("name") or "")
            if not self.remove(namespace, name, port):
                raise errors.not_found("proxies", f"{namespace}/{name}:{port}")
            return Response(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})
        raise errors.method_not_allowed("GET, POST or DELETE /kubesim/v1/proxies")


def _key(entry: Registration) -> tuple[str, str, str]:
    return (entry.namespace, entry.name, entry.port)


def _fields(request: Request) -> dict[str, Any]:
    fields: dict[str, Any] = {k: v[-1] for k, v in request.query.items() if v}
    if request.body:
        try:
            body = json.loads(request.body)
        except ValueError as e:
            raise errors.bad_request(f"the body must be JSON: {e}") from e
        if not isinstance(body, dict):
            raise errors.bad_request("the body must be a JSON object")
        fields.update(body)
    return fields


def _unavailable(message: str) -> ApiError:
    return ApiError(503, "ServiceUnavailable", message)


# ---- forwarding -------------------------------------------------------------------------------------------


def forward(request: Request, url: str, path: str, prefix: str, scheme: str = "") -> Response:
    """One request to the upstream, its answer as a Response (buffered)."""
    base = urlsplit(url)
    use_tls = (scheme or base.scheme) == "https"
    target = base.path.rstrip("/") + path
    query = urlencode([(k, v) for k, values in request.query.items() for v in values])
    if query:
        target += "?" + query
    dropped = _not_forwarded(request.headers)
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in dropped]
    connection = _connection(base.hostname or "127.0.0.1", base.port, use_tls)
    try:
        connection.request(request.method, target, body=request.body or None, headers=_merged(headers))
        answer = connection.getresponse()
        body = answer.read()
    except OSError as e:
        host = f"{base.hostname}:{base.port or (443 if use_tls else 80)}"
        raise _unavailable(f"error trying to reach service: dial tcp {host}: {_reason(e)}") from e
    finally:
        connection.close()
    returned = [(k, v) for k, v in answer.getheaders() if k.lower() not in NOT_RETURNED]
    returned = [(k, _relocate(v, base, prefix)) if k.lower() == "location" else (k, v) for k, v in returned]
    content_type = answer.getheader("Content-Type") or _sniff(body)
    return Response(answer.status, body, content_type=content_type, headers=returned)


def _not_forwarded(headers: Any) -> set[str]:
    """Hop-by-hop headers, including those the Connection header names."""
    named = {h.strip().lower() for h in (headers.get("Connection") or "").split(",") if h.strip()}
    return NOT_FORWARDED | named


def _merged(headers: list[tuple[str, str]]) -> dict[str, str]:
    """Repeated request headers in one (http.client takes a dict): commas, or semicolons for Cookie."""
    merged: dict[str, tuple[str, str]] = {}
    for k, v in headers:
        low = k.lower()
        if low in merged:
            name, before = merged[low]
            merged[low] = (name, before + ("; " if low == "cookie" else ", ") + v)
        else:
            merged[low] = (k, v)
    return dict(merged.values())


def _connection(host: str, port: int | None, use_tls: bool) -> http.client.HTTPConnection:
    if use_tls:
        # The API server does not verify a service's certificate either (it has no CA for it).
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return http.client.HTTPSConnection(host, port, timeout=UPSTREAM_TIMEOUT, context=context)
    return http.client.HTTPConnection(host, port, timeout=UPSTREAM_TIMEOUT)


def _reason(error: OSError) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connect: connection refused"
    if isinstance(error, TimeoutError):
        return "i/o timeout"
    return str(error)


def _relocate(location: str, upstream: SplitResult, prefix: str) -> str:
    """A redirect inside the service stays inside the proxy (as the API server's proxy transport does);
    one to anywhere else is left alone."""
    parts = urlsplit(location)
    if parts.netloc and parts.netloc != upstream.netloc:
        return location
    if not parts.path.startswith("/"):
        return location  # relative: the client resolves it against the proxy URL already
    path = parts.path
    base = upstream.path.rstrip("/")
    if base and (path == base or path.startswith(base + "/")):
        path = path[len(base) :] or "/"
    return prefix + path + (f"?{parts.query}" if parts.query else "") + (f"#{parts.fragment}" if parts.fragment else "")


def _sniff(body: bytes) -> str:
    """Go's http server guesses a type for an answer without one; text or bytes is close enough."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain; charset=utf-8"
