"""The HTTPS side of kubesim: TLS with its own CA, bearer-token auth, kubeconfig, request log, routing.

A `ThreadingHTTPServer` speaking HTTP/1.1 with keep-alive; the TLS handshake runs in the
connection's own thread so a slow client cannot stall the accept loop. Responses are written in
one piece (header and body together, TCP_NODELAY) because a header write followed by a body
write meets Nagle and delayed ACKs and costs 40 ms per request. Watches and followed logs are
chunked streams.

Routing: /version, /healthz|livez|readyz, discovery (/api, /apis, /apis/<group>, the resource
lists) answered from `resources.Registry`; resource URLs go to `rest.Frontend`. /kubesim/... holds
test-only hooks that a real cluster does not have (feeding pod logs in part 1).

Authentication mirrors a cluster where only /version and the health endpoints are public
(system:public-info-viewer): every other request needs the bearer token from the kubeconfig and
gets a 401 Status without it.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hmac
import ipaddress
import json
import os
import re
import secrets
import select
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from . import errors
from .errors import ApiError
from .resources import Registry
from .rest import MAX_BODY_BYTES, Api, Frontend, Request, Response, parse_resource_path
from .store import Store

SIMULATION_BANNER = (
    "kubesim: this is a SIMULATED Kubernetes API server (a test double), NOT a real cluster: "
    "nodes, controllers and storage are simulated; only pods whose images match --run-pods run, "
    "as local processes."
)
PUBLIC_PATHS = ("/version", "/healthz", "/livez", "/readyz")


@dataclass
class ServeOptions:
    """`kubesim serve` options (later parts add theirs here)."""

    kubeconfig: str
    port: int = 0
    host: str = "127.0.0.1"
    state_dir: str | None = None
    request_log: str | None = None
    kubernetes_version: str = "1.33"
    extra: dict[str, Any] = field(default_factory=dict)


def normalize_version(text: str) -> tuple[str, int, int]:
    """'1.33', 'v1.33', '1.33.2' -> ('1.33.0'-style gitVersion base, major, minor)."""
    m = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if not m:
        raise ValueError(f"not a Kubernetes version: {text!r} (expected like 1.33)")
    major, minor, patch = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    return f"{major}.{minor}.{patch}", major, minor


# ---- PKI -----------------------------------------------------------------------------------------


@dataclass
class Pki:
    ca_pem: str
    cert_file: str
    key_file: str


def make_pki(directory: Path) -> Pki:
    """A CA and a serving certificate for 127.0.0.1/localhost (kept when `directory` already has them)."""
    ca_file, cert_file, key_file = directory / "ca.crt", directory / "server.crt", directory / "server.key"
    if ca_file.exists() and cert_file.exists() and key_file.exists():
        return Pki(ca_file.read_text(), str(cert_file), str(key_file))
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubesim-ca (simulation)")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [
        x509.DNSName(n)
        for n in (
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        )
    ]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "::1", "10.96.0.1")]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver (kubesim)")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=False,
                key_cert_sign=False,
                crl_sign=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    key_file.touch(mode=0o600)
    key_file.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    cert_file.write_bytes(cert.public_bytes(pem))
    ca_file.write_bytes(ca.public_bytes(pem))
    return Pki(ca_file.read_text(), str(cert_file), str(key_file))


def write_kubeconfig(path: str, server_url: str, ca_pem: str, token: str) -> None:
    """cluster/user/context all named kubesim; written atomically (temp file + rename)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "kubesim",
                "cluster": {
                    "server": server_url,
                    "certificate-authority-data": base64.b64encode(ca_pem.encode()).decode(),
                },
            }
        ],
        "users": [{"name": "kubesim", "user": {"token": token}}],
        "contexts": [{"name": "kubesim", "context": {"cluster": "kubesim", "user": "kubesim", "namespace": "default"}}],
        "current-context": "kubesim",
        "preferences": {},
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".kubeconfig-", dir=str(target.parent))
    with os.fdopen(fd, "w") as f:
        f.write("# kubesim: a SIMULATED Kubernetes API server (a test double), not a real cluster.\n")
        yaml.safe_dump(config, f, sort_keys=False)
    os.replace(tmp, target)


# ---- request log ---------------------------------------------------------------------------------


class RequestLog:
    """One JSON line per request (appended, line-buffered)."""

    def __init__(self, path: str | None) -> None:
        self._lock = threading.Lock()
        self._file = open(path, "a", buffering=1) if path else None  # noqa: SIM115 - lives as long as the server

    def write(self, entry: dict[str, Any]) -> None:
        if self._file is None:
            return
        line = json.dumps(entry, separators=(",", ":"))
        with self._lock:
            self._file.write(line + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


# ---- HTTP server ---------------------------------------------------------------------------------


class KubesimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: App, ssl_context: ssl.SSLContext) -> None:
        self.app = app
        self.ssl_context = ssl_context
        super().__init__(address, Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # TLS handshake here, in the connection's thread, not in the accept loop.
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            request.settimeout(30)
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            with contextlib.suppress(OSError):
                tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, TimeoutError)):
            return  # clients hang up; nothing to report
        super().handle_error(request, client_address)


RequestHook = Callable[[Request], Response | None]


class App:
    """Everything a request needs: token, API, front end, registry, log, version.

    `before_request` hooks run after authentication, before routing; a hook returning a Response
    answers the request itself (room for a later part's fault injection).
    """

    def __init__(self, options: ServeOptions, api: Api, token: str, log: RequestLog, git_version: str) -> None:
        self.before_request: list[RequestHook] = []
        self.options = options
        self.api = api
        self.frontend = Frontend(api)
        self.registry = api.registry
        self.token = token
        self.log = log
        self.git_version = git_version
        self.server_address = ""

    def version_doc(self) -> dict[str, Any]:
        _, major, minor = normalize_version(self.git_version)
        doc = {
            "major": str(major),
            "minor": str(minor),
            "gitVersion": f"v{self.git_version}+kubesim",
            "gitCommit": "0" * 40,
            "gitTreeState": "clean",
            "buildDate": "2025-01-01T00:00:00Z",
            "goVersion": "go1.24.0",
            "compiler": "gc",
            "platform": "linux/amd64",
        }
        if minor >= 33:
            doc.update(
                emulationMajor=str(major),
                emulationMinor=str(minor),
                minCompatibilityMajor=str(major),
                minCompatibilityMinor=str(minor - 1),
            )
        return doc


class _ClientGone(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kubesim"
    sys_version = ""
    timeout = 300  # idle keep-alive connections are closed after this
    server: KubesimHTTPServer
    _stream_sent = 0  # bytes of the current stream, for the request log

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log replaces the stderr access log

    def handle_one_request(self) -> None:
        """Any method goes to `_serve` (BaseHTTPRequestHandler would need one do_X per method)."""
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            self._serve()
            self.wfile.flush()
        except (TimeoutError, ConnectionError, ssl.SSLError, _ClientGone):
            self.close_connection = True

    # ---- request ---------------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                data = self.rfile.read(size)
                self.rfile.readline()
                total += size
                if total <= MAX_BODY_BYTES:
                    chunks.append(data)
            if total > MAX_BODY_BYTES:
                raise errors.too_large(f"limit is {MAX_BODY_BYTES}")
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            # Drain what the client sends so it reads our 413 instead of a reset connection.
            remaining = length
            while remaining > 0:
                got = self.rfile.read(min(remaining, 1 << 20))
                if not got:
                    break
                remaining -= len(got)
            raise errors.too_large(f"limit is {MAX_BODY_BYTES}")
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        app = self.server.app
        started = time.monotonic()
        url = urlsplit(self.path)
        entry: dict[str, Any] = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "method": self.command,
            "path": url.path,
            "query": url.query,
            "user_agent": self.headers.get("User-Agent", ""),
            "content_type": self.headers.get("Content-Type", ""),
            "dryRun": False,
            "bytes_in": 0,
        }
        response: Response
        try:
            body = self._read_body()
            entry["bytes_in"] = len(body)
            request = Request(self.command, url.path, parse_qs(url.query, keep_blank_values=True), self.headers, body)
            self._authenticate(url.path)
            response = self._hooks(request) or self._route(request)
        except ApiError as e:
            response = _status_response(e)
        except Exception:
            traceback.print_exc()
            response = _status_response(errors.internal_error("kubesim: unexpected server error (see its stderr)"))
        entry.update({k: v for k, v in response.log.items()})
        entry["dryRun"] = bool(entry.get("dryRun"))
        entry["status"] = response.status
        entry["warnings"] = list(response.warnings)

        def log(bytes_out: int) -> None:
            entry["bytes_out"] = bytes_out
            entry["duration_ms"] = round((time.monotonic() - started) * 1000, 2)
            app.log.write(entry)

        self._write(response, log)

    def _hooks(self, request: Request) -> Response | None:
        for hook in self.server.app.before_request:
            answer = hook(request)
            if answer is not None:
                return answer
        return None

    def _authenticate(self, path: str) -> None:
        if path in PUBLIC_PATHS:
            return
        auth = self.headers.get("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self.server.app.token.encode()
        ):
            raise errors.unauthorized()

    def _route(self, request: Request) -> Response:
        app = self.server.app
        parts = [unquote(p) for p in request.path.split("/") if p]
        if request.path in ("/healthz", "/livez", "/readyz"):
            return Response(200, b"ok", content_type="text/plain; charset=utf-8")
        if not parts:
            return Response(200, {"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"]})
        if parts[0] == "kubesim":
            return self._private(request, parts[1:])
        if parts == ["version"]:
            return self._get_only(request, app.version_doc())
        if parts[0] == "api":
            if len(parts) == 1:
                return self._get_only(request, app.registry.api_versions(app.server_address))
            if parts[1] != "v1":
                raise errors.not_found_path()
            return self._resources(request, "", "v1", parts[2:])
        if parts[0] == "apis":
            if len(parts) == 1:
                return self._get_only(request, app.registry.api_group_list())
            if len(parts) == 2:
                doc = app.registry.api_group_doc(parts[1])
                if doc is None:
                    raise errors.not_found_path()
                return self._get_only(request, doc)
            return self._resources(request, parts[1], parts[2], parts[3:])
        raise errors.not_found_path()

    def _resources(self, request: Request, group: str, version: str, rest: list[str]) -> Response:
        app = self.server.app
        if not rest:
            doc = app.registry.resource_list(group, version)
            if doc is None:
                raise errors.not_found_path()
            return self._get_only(request, doc)
        route = parse_resource_path(rest, group, version)
        if route is None:
            raise errors.not_found_path()
        return app.frontend.handle(request, route)

    def _get_only(self, request: Request, doc: Any) -> Response:
        if request.method != "GET":
            raise errors.method_not_allowed("the server does not allow this method on the requested resource")
        return Response(200, doc)

    def _private(self, request: Request, parts: list[str]) -> Response:
        """Test hooks (not part of the Kubernetes API): POST /kubesim/v1/namespaces/<ns>/pods/<pod>/log."""
        app = self.server.app
        if (
            len(parts) == 6
            and parts[0] == "v1"
            and parts[1] == "namespaces"
            and parts[3] == "pods"
            and parts[5] == "log"
        ):
            if request.method != "POST":
                raise errors.method_not_allowed("POST a text body to append to the pod's log")
            ns, pod_name = parts[2], parts[4]
            pod = app.api.get(app.api.info("v1", "Pod"), ns, pod_name)
            containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
            container = request.param("container") or (containers[0] if containers else "")
            app.api.logs.append(ns, pod_name, container, request.body.decode("utf-8", "replace"))
            return Response(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})
        raise errors.not_found_path()

    # ---- response --------------------------------------------------------------------------------
    def _write(self, response: Response, log: Callable[[int], None]) -> None:
        """Send the response. A plain response is logged *before* it is sent, so a client that has
        its answer also finds its request in the log; a stream is logged when it ends."""
        headers = [
            ("Cache-Control", "no-cache, private"),
            ("Content-Type", response.content_type),
            ("Date", self.date_time_string()),
        ]
        headers += [("Warning", _warning_value(w)) for w in response.warnings]
        headers += response.headers
        if response.stream is not None:
            self._stream_sent = 0
            try:
                self._write_stream(response, headers)
            finally:
                log(self._stream_sent)
            return
        body = response.body
        if not isinstance(body, bytes):
            body = json.dumps(body, separators=(",", ":")).encode() + b"\n"
        headers.append(("Content-Length", str(len(body))))
        if self.close_connection:
            headers.append(("Connection", "close"))
        log(len(body))
        self.wfile.write(self._head(response.status, headers) + body)

    def _head(self, status: int, headers: list[tuple[str, str]]) -> bytes:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        lines = [f"HTTP/1.1 {status} {phrase}"] + [f"{k}: {v}" for k, v in headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")

    def _write_stream(self, response: Response, headers: list[tuple[str, str]]) -> None:
        headers.append(("Transfer-Encoding", "chunked"))
        stream = response.stream
        assert stream is not None
        # Headers go out at once: a watch with nothing to report yet must still look started.
        self.wfile.write(self._head(response.status, headers))
        try:
            for chunk in stream:
                if chunk:
                    self.wfile.write(b"%X\r\n%s\r\n" % (len(chunk), chunk))
                    self._stream_sent += len(chunk)
                elif self._client_gone():
                    raise _ClientGone()
            self.wfile.write(b"0\r\n\r\n")
        except ApiError:
            self.close_connection = True  # too late for a Status: end the stream without the last chunk
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()

    def _client_gone(self) -> bool:
        """Between stream chunks: has the client hung up? (A closed TLS socket reads as EOF.)"""
        sock = self.connection
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                return self.server.app.api.closing.is_set()
            sock.settimeout(0.0)
            try:
                data = sock.recv(1)
            except (ssl.SSLWantReadError, BlockingIOError):
                return False
            finally:
                sock.settimeout(self.timeout)
            return data == b""
        except (OSError, ValueError):
            return True


def _warning_value(text: str) -> str:
    """RFC 7234 warning: 299 - "text" (quotes and backslashes escaped, one line)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    return f'299 - "{escaped}"'


def _status_response(error: ApiError) -> Response:
    return Response(error.code, error.to_status(), headers=list(error.headers.items()))


# ---- serve -----------------------------------------------------------------------------------------


Setup = Callable[[App], None]


class Kubesim:
    """A running kubesim: start() binds and serves in a thread, stop() ends it cleanly.

    `setup(app)` runs once the API is up and before the first request is answered: later parts
    start their controllers and register handlers/hooks there (app.api, app.frontend, app.options.extra).
    """

    def __init__(self, options: ServeOptions, setup: Setup | None = None) -> None:
        self.options = options
        self.setup = setup
        self.git_version, _, self.minor = normalize_version(options.kubernetes_version)
        self._tmp: str | None = None
        self.httpd: KubesimHTTPServer | None = None
        self.thread: threading.Thread | None = None

    def _secrets_dir(self) -> Path:
        if self.options.state_dir:
            return Path(self.options.state_dir) / "pki"
        self._tmp = tempfile.mkdtemp(prefix="kubesim-pki-")
        return Path(self._tmp)

    def _token(self, directory: Path) -> str:
        token_file = directory / "token"
        if token_file.exists():
            return token_file.read_text().strip()
        token = secrets.token_urlsafe(32)
        token_file.touch(mode=0o600)
        token_file.write_text(token + "\n")
        return token

    def start(self) -> str:
        """Serve; returns the server URL. The kubeconfig is written once requests are answered."""
        pki_dir = self._secrets_dir()
        pki = make_pki(pki_dir)
        token = self._token(pki_dir)
        store = Store(Path(self.options.state_dir) / "objects" if self.options.state_dir else None)
        registry = Registry(self.minor)
        api = Api(store, registry, f"1.{self.minor}", ca_pem=pki.ca_pem)
        api.start()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(pki.cert_file, pki.key_file)
        context.set_alpn_protocols(["http/1.1"])
        app = App(self.options, api, token, RequestLog(self.options.request_log), self.git_version)
        if self.setup is not None:
            self.setup(app)
        self.httpd = KubesimHTTPServer((self.options.host, self.options.port), app, context)
        port = self.httpd.server_address[1]
        app.server_address = f"{self.options.host}:{port}"
        url = f"https://{self.options.host}:{port}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="kubesim-http", daemon=True
        )
        self.thread.start()
        write_kubeconfig(self.options.kubeconfig, url, pki.ca_pem, token)
        return url

    def stop(self) -> None:
        if self.httpd is None:
            return
        app = self.httpd.app
        app.api.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        app.api.close()
        app.log.close()
        self.httpd = None
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


def serve(options: ServeOptions, setup: Setup | None = None) -> int:
    """Run until SIGTERM/SIGINT; exit status 0 on a clean stop."""
    print(SIMULATION_BANNER, flush=True)
    sim = Kubesim(options, setup)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    url = sim.start()
    print(
        f"kubesim: serving the simulated API at {url} (Kubernetes v{sim.git_version}+kubesim); "
        f"kubeconfig written to {options.kubeconfig}",
        flush=True,
    )
    while not stop.wait(0.5):
        pass
    sim.stop()
    print("kubesim: stopped", flush=True)
    return 0
