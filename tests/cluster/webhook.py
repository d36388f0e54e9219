"""A validating admission webhook of our own, for fault tests: a small HTTPS server on 127.0.0.1.

The kube-apiserver of the local cluster is a host process, so it reaches a server on the loopback
interface. `Webhook` makes a throw-away CA and a server certificate for 127.0.0.1, starts this file
as a script (a process of its own, stopped by its PID) and writes ValidatingWebhookConfigurations
that send one namespace's requests to it. What the server does depends on the URL's path:

- /allow: admits everything.
- /fail: answers HTTP 500 (a webhook that is broken).
- /hang: answers nothing for `--hang` seconds (a webhook slower than its timeoutSeconds).
- /slow: admits everything after `--slow` seconds (a request that keeps its API server seat that long),
  or as soon as the file `release-slow` is in the state directory; while it holds a request, the file
  `holding` is there, so a test (or a playbook's wait_for) can tell that the seat is taken.
- /hold: admits everything, but holds the first CREATE that carries px.airflow's last-applied
  annotation until the file `release` appears in the state directory (at most `--hold` seconds);
  it writes `held` there when it starts holding, so a test can write in between.

Every request is logged, one JSON line, to `requests.log` in the state directory.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import ipaddress
import json
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

LAST_APPLIED = "px.airflow/last-applied"


# ---------------------------------------------------------------------------- the server (a script)


def _until_exists(path: Path, seconds: float, interval: float) -> None:
    """Returns once `path` exists, or after `seconds` at the most (how the test releases a held request)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not path.exists():
        time.sleep(interval)


def serve(port: int, cert: Path, key: Path, state: Path, hang: float, hold: float, slow: float) -> None:
    held_once = threading.Lock()
    log_lock = threading.Lock()
    holding_lock, holding = threading.Lock(), [0]

    def hold_slow() -> None:
        with holding_lock:
            holding[0] += 1
            (state / "holding").write_text(str(holding[0]))
        try:
            _until_exists(state / "release-slow", slow, 0.01)
        finally:
            with holding_lock:
                holding[0] -= 1
                if holding[0] == 0:
                    (state / "holding").unlink()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: requests.log says enough
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            review = json.loads(body or b"{}")
            request = review.get("request") or {}
            obj = request.get("object") or {}
            mode = self.path.split("?", 1)[0].strip("/")
            with log_lock, open(state / "requests.log", "a") as log:
                entry = {
                    "mode": mode,
                    "operation": request.get("operation"),
                    "kind": (request.get("kind") or {}).get("kind"),
                    "namespace": request.get("namespace"),
                    "name": request.get("name") or (obj.get("metadata") or {}).get("name"),
                    "user": (request.get("userInfo") or {}).get("username"),
                    "time": time.time(),
                }
                log.write(json.dumps(entry) + "\n")
            if mode == "fail":
                self._send(500, b"webhook broken on purpose\n", "text/plain")
                return
            if mode == "hang":
                time.sleep(hang)
            if mode == "slow":
                hold_slow()
            annotations = (obj.get("metadata") or {}).get("annotations") or {}
            holds = mode == "hold" and request.get("operation") == "CREATE" and LAST_APPLIED in annotations
            if holds and held_once.acquire(blocking=False):
                (state / "held").write_text(entry["name"] or "")
                _until_exists(state / "release", hold, 0.05)
            answer = {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "response": {"uid": request.get("uid"), "allowed": True},
            }
            self._send(200, json.dumps(answer).encode(), "application/json")

        def _send(self, status: int, data: bytes, content_type: str) -> None:
            with contextlib.suppress(OSError):  # the API server may have given up (hang)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    (state / "ready").write_text(str(port))
    server.serve_forever()


# ---------------------------------------------------------------------------- the test side


def free_port() -> int:
    """A loopback port nothing listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _certificates(directory: Path) -> tuple[bytes, Path, Path]:
    """A CA, and a server certificate it signs for IP 127.0.0.1; the CA's PEM and the server's files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "px-test-webhook-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return ca.public_bytes(serialization.Encoding.PEM), cert_path, key_path


@dataclass
class Webhook:
    """Our webhook server, started as a process of its own; `stop()` ends it by its PID."""

    directory: Path
    hang: float = 5.0
    hold: float = 15.0
    slow: float = 0.5
    port: int = 0
    ca_pem: bytes = b""
    process: subprocess.Popen | None = None

    def start(self, timeout: float = 20) -> Webhook:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca_pem, cert, key = _certificates(self.directory)
        self.port = free_port()
        argv = [sys.executable, __file__, "--port", str(self.port), "--cert", str(cert), "--key", str(key)]
        argv += ["--state", str(self.directory), "--hang", str(self.hang), "--hold", str(self.hold)]
        argv += ["--slow", str(self.slow)]
        self.log = open(self.directory / "server.out", "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not (self.directory / "ready").exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"webhook server did not start: {(self.directory / 'server.out').read_text()}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """Ends our server by its PID (TERM, then KILL)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if getattr(self, "log", None):
            self.log.close()

    def release_slow(self, release: bool = True) -> None:
        """Lets every request /slow holds go at once (and the next ones not wait), or stops doing so."""
        flag = self.directory / "release-slow"
        if release:
            flag.touch()
        else:
            flag.unlink(missing_ok=True)

    def requests(self) -> list[dict[str, Any]]:
        path = self.directory / "requests.log"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def configuration(
        self,
        name: str,
        namespace: str,
        mode: str,
        *,
        port: int | None = None,
        timeout_seconds: int = 2,
        operations: tuple[str, ...] = ("CREATE", "UPDATE"),
        resources: tuple[str, ...] = ("configmaps", "secrets"),
        failure_policy: str = "Fail",
        object_labels: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """A ValidatingWebhookConfiguration sending `namespace`'s writes of `resources` to /`mode`."""
        return {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": name},
            "webhooks": [
                {
                    "name": f"{mode}.{name}.px-test.example",
                    "clientConfig": {
                        "url": f"https://127.0.0.1:{port or self.port}/{mode}",
                        "caBundle": base64.b64encode(self.ca_pem).decode(),
                    },
                    "rules": [
                        {
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "operations": list(operations),
                            "resources": list(resources),
                            "scope": "Namespaced",
                        }
                    ],
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                    "objectSelector": {"matchLabels": object_labels or {}},
                    "failurePolicy": failure_policy,
                    "sideEffects": "None",
                    "admissionReviewVersions": ["v1"],
                    "timeoutSeconds": timeout_seconds,
                }
            ],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--hang", type=float, default=5.0)
    parser.add_argument("--hold", type=float, default=15.0)
    parser.add_argument("--slow", type=float, default=0.5)
    args = parser.parse_args()
    serve(args.port, args.cert, args.key, args.state, args.hang, args.hold, args.slow)


if __name__ == "__main__":
    main()
