"""Airflow's password goes only to Airflow: dag_run through a service proxy that requires a client
certificate (kind's and many managed clusters' default) and records every request.

The recorder plays the kube-apiserver's service proxy: it demands a client certificate signed by its
CA, records method, path, headers and body, drops ``Authorization`` as the kube-apiserver does, and
forwards ``/api/v1/namespaces/airflow/services/af-api-server:8080/proxy/...`` to a real local Airflow.
"""

from __future__ import annotations

import base64
import datetime
import http.server
import json
import ssl
import threading
import urllib.error
import urllib.request

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from test_dag_run import airflow, run  # noqa: F401  (the module's real local Airflow)

PROXY = "/api/v1/namespaces/airflow/services/af-api-server:8080/proxy"


def _cert(name, issuer=None, issuer_key=None, ca=False, ip=None):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ip:
        import ipaddress

        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), False)
    cert = builder.sign(issuer_key or key, hashes.SHA256())
    pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert, key, pem, key_pem


@pytest.fixture
def recorder(airflow, tmp_path):  # noqa: F811
    ca, ca_key, ca_pem, _ = _cert("recorder-ca", ca=True)
    _, _, server_pem, server_key = _cert("127.0.0.1", ca, ca_key, ip="127.0.0.1")
    _, _, client_pem, client_key = _cert("px-admin", ca, ca_key)
    (tmp_path / "ca.pem").write_bytes(ca_pem)
    (tmp_path / "server.pem").write_bytes(server_pem + server_key)
    seen: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _handle(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body})
            if not self.path.startswith(PROXY + "/"):
                self._answer(404, b'{"kind":"Status","code":404}', "application/json")
                return
            # As the kube-apiserver's proxy: Authorization is the API server's own, never passed on.
            headers = {
                k: v for k, v in self.headers.items() if k.lower() not in ("authorization", "host", "content-length")
            }
            request = urllib.request.Request(
                airflow.url + self.path[len(PROXY) :], data=body or None, headers=headers, method=self.command
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    self._answer(response.status, response.read(), response.headers.get("Content-Type"))
            except urllib.error.HTTPError as exc:
                self._answer(exc.code, exc.read(), exc.headers.get("Content-Type"))

        def _answer(self, status, payload, content_type):
            self.send_response(status)
            self.send_header("Content-Type", content_type or "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem")
    context.load_verify_locations(tmp_path / "ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED  # no client certificate, no connection
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "c",
                "cluster": {
                    "server": f"https://127.0.0.1:{server.server_port}",
                    "certificate-authority-data": b64(ca_pem),
                },
            }
        ],
        "users": [
            {
                "name": "px-admin",
                "user": {"client-certificate-data": b64(client_pem), "client-key-data": b64(client_key)},
            }
        ],
        "contexts": [{"name": "cert", "context": {"cluster": "c", "user": "px-admin"}}],
        "current-context": "cert",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    yield {"kubeconfig": str(path), "seen": seen}
    server.shutdown()
    server.server_close()


def test_airflows_password_travels_only_in_the_token_request_body(airflow, recorder, playbook):  # noqa: F811
    password = airflow.admin_password
    _result, outcome = run(
        playbook,
        dag_id="px-test-ok",
        service={"namespace": "airflow", "name": "af-api-server", "port": "8080"},
        kubeconfig=recorder["kubeconfig"],
        context="cert",
        airflow_password=password,
        unpause=True,
        timeout=300,
    )
    assert not outcome.get("failed"), outcome.get("msg")
    assert outcome["state"] == "success"
    seen = recorder["seen"]
    assert len(seen) >= 3  # login, trigger, polls: all through the recorder
    # The client authenticated by certificate only: no Authorization header reached the API server.
    assert [r for r in seen if any(k.lower() == "authorization" for k in r["headers"])] == []
    for request in seen:
        assert password not in json.dumps(request["headers"]) and password not in request["path"]
    carrying = [r for r in seen if password.encode() in r["body"]]
    assert [(r["method"], r["path"]) for r in carrying] == [("POST", PROXY + "/auth/token")]
    # Airflow's token went as the _token cookie, and only to the proxied paths.
    assert all("_token=" in r["headers"].get("Cookie", "") for r in seen if r["path"] != PROXY + "/auth/token")
