# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The small REST client: what a kubeconfig amounts to, and real HTTP exchanges with a local server."""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from ansible_collections.px.airflow.plugins.module_utils import connection as k8s_client
from ansible_collections.px.airflow.plugins.module_utils import transport as rest
from ansible_collections.px.airflow.plugins.module_utils.args import AUTH_ARG_SPEC
from ansible_collections.px.airflow.plugins.module_utils.errors import ApiFailure
from ansible_collections.px.airflow.plugins.module_utils.service import STRATEGIC_MERGE_PATCH, KubeService


def _config(user, cluster=None):
    return {
        "clusters": [{"name": "c", "cluster": dict({"server": "https://k8s.example:6443/"}, **(cluster or {}))}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }


def test_a_token_file_is_read_relative_to_the_kubeconfig(tmp_path):
    (tmp_path / "token").write_text("from-file\n")
    path = tmp_path / "config"
    path.write_text(json.dumps(_config({"tokenFile": "token"})))
    settings = rest.settings_from_kubeconfig(rest.merged_kubeconfig([str(path)]), None, "test")
    assert settings.host == "https://k8s.example:6443" and settings.token == "from-file"


def test_certificate_data_lands_in_private_files(tmp_path):
    user = {
        "client-certificate-data": base64.b64encode(b"CERT").decode(),
        "client-key-data": base64.b64encode(b"KEY").decode(),
    }
    cluster = {"certificate-authority-data": base64.b64encode(b"CA").decode(), "tls-server-name": "api"}
    settings = rest.settings_from_kubeconfig(_config(user, cluster), "ctx", "test")
    for path, content in ((settings.ca_file, b"CA"), (settings.cert_file, b"CERT"), (settings.key_file, b"KEY")):
        with open(path, "rb") as handle:
            assert handle.read() == content
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert settings.server_name == "api" and settings.verify is True


@pytest.mark.parametrize(
    "config, context, message",
    [
        (_config({"token": "t"}), "other", "has no context named 'other' (it has: ctx)"),
        (dict(_config({"token": "t"}), **{"current-context": None}), None, "sets no current-context"),
        (dict(_config({"token": "t"}), clusters=[]), None, "names cluster 'c', which it does not define"),
    ],
)
def test_unusable_kubeconfigs_say_why(config, context, message):
    with pytest.raises(rest.ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        rest.settings_from_kubeconfig(config, context, "test")


def test_in_cluster_settings_come_from_the_service_account(tmp_path):
    (tmp_path / "token").write_text("sa-token")
    environ = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    settings = rest.in_cluster_settings(environ, str(tmp_path))
    assert settings.host == "https://[fd00::1]:443" and settings.token == "sa-token"
    assert settings.ca_file == str(tmp_path / "ca.crt")
    with pytest.raises(rest.ConfigError):
        rest.in_cluster_settings({}, str(tmp_path))


def test_an_exec_plugin_user_is_loaded_by_the_kubernetes_package(tmp_path):
    plugin = tmp_path / "plugin.py"
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {"token": "exec-token"},
    }
    plugin.write_text(f"import json\nprint(json.dumps({credential!r}))\n")
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(plugin)],
            "interactiveMode": "Never",
        }
    }
    path = tmp_path / "config"
    path.write_text(json.dumps(_config(user)))
    params = dict({name: None for name in AUTH_ARG_SPEC}, kubeconfig=str(path))
    client = k8s_client.build_api_client(params, environ={})
    assert client.host == "https://k8s.example:6443"
    assert client.headers["Authorization"] == "Bearer exec-token"


class _Handler(BaseHTTPRequestHandler):
    seen: list = []

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        _Handler.seen.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers),
                "groups": self.headers.get_all("Impersonate-Group"),
                "body": body.decode(),
            }
        )
        status = 404 if "missing" in self.path else 200
        payload = json.dumps({"kind": "Status", "message": "not here"} if status == 404 else {"ok": True}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_PATCH = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.seen = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    thread.join(timeout=5)
    httpd.server_close()


def test_requests_carry_the_token_the_query_and_a_json_body(server):
    settings = rest.Settings(server)
    settings.token = "abc"
    client = rest.RestClient(settings)
    client.add_header("Impersonate-Group", "a")
    client.add_header("Impersonate-Group", "b")
    answer = KubeService(client).request(
        "PATCH",
        "/api/v1/namespaces/ns/secrets/s",
        "update Secret ns/s",
        body={"data": {"k": "dg=="}},
        query=[("dryRun", "All"), ("force", True)],
        content_type=STRATEGIC_MERGE_PATCH,
    )
    assert answer == {"ok": True}
    request = _Handler.seen[-1]
    assert request["method"] == "PATCH" and request["path"] == "/api/v1/namespaces/ns/secrets/s?dryRun=All&force=true"
    assert request["headers"]["Authorization"] == "Bearer abc"
    assert request["headers"]["Content-Type"] == "application/strategic-merge-patch+json"
    assert request["groups"] == ["a", "b"]
    assert json.loads(request["body"]) == {"data": {"k": "dg=="}}


def test_an_error_status_becomes_a_failure_naming_the_operation(server):
    service = KubeService(rest.RestClient(rest.Settings(server)))
    assert service.get_path("/api/v1/missing") is None
    with pytest.raises(ApiFailure) as err:
        service.request("GET", "/api/v1/missing", "read ConfigMap x")
    assert err.value.status == 404 and err.value.msg == "Failed to read ConfigMap x: 404 Not Found: not here"
    assert "Authorization" not in _Handler.seen[-1]["headers"]
