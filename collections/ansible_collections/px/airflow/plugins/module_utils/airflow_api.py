# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small client of Airflow 3's REST API, directly or through the Kubernetes service proxy.

Through the proxy (``/api/v1/namespaces/NS/services/NAME:PORT/proxy/``) the kube-apiserver
consumes the caller's ``Authorization`` header (it carries the Kubernetes credential) and does
not pass it on, so the Airflow token travels as the ``_token`` cookie, which Airflow 3 reads when
no bearer header is present (airflow/api_fastapi/core_api/security.py, ``get_user``).
"""

from __future__ import annotations

import json

from ansible_collections.px.airflow.plugins.module_utils.errors import PxAirflowError
from ansible_collections.px.airflow.plugins.module_utils.transport import RestError

COOKIE = "_token"


class AirflowApiError(PxAirflowError):
    def __init__(self, msg, status=None, body=None):
        super().__init__(msg)
        self.status = status
        self.body = body


def _decode(raw):
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return {"raw": raw[:2000] if isinstance(raw, str) else raw.decode("utf-8", "replace")[:2000]}


def _detail(body):
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("raw") or body.get("message")
        if isinstance(detail, list):
            return "; ".join(str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in detail)
        return str(detail) if detail else json.dumps(body)[:500]
    return str(body)[:500]


def proxy_failure(body, where):
    """The Kubernetes API's own answer (a Status), when its service proxy could not reach Airflow.

    The proxy answers 404 for a Service that does not exist and 503 when no ready pod backs it; the
    body is then a Kubernetes Status, not Airflow's. Returns a message that says so, or None.
    """
    if not (isinstance(body, dict) and body.get("kind") == "Status"):
        return None
    return (
        "The Kubernetes API could not reach Airflow's api-server at %s: %s. Check that the release is deployed "
        "(px.airflow.site) and its api-server pods are ready (kubectl get pods), or point service or api_url "
        "at it." % (where, body.get("message") or body.get("reason"))
    )


class DirectTransport:
    """HTTP straight to the api-server (api_url), the token as a bearer header."""

    def __init__(self, api_url, validate_certs=True, timeout=30):
        self.base = api_url.rstrip("/")
        self.validate_certs = validate_certs
        self.timeout = timeout
        self.where = self.base

    def request(self, method, path, body=None, token=None, accept="application/json"):
        from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
        from ansible.module_utils.urls import open_url

        headers = {"Accept": accept, "Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer %s" % token
        data = json.dumps(body) if body is not None else None
        try:
            response = open_url(
                self.base + path,
                method=method,
                data=data,
                headers=headers,
                validate_certs=self.validate_certs,
                timeout=self.timeout,
            )
            return response.getcode(), _decode(response.read())
        except HTTPError as exc:
            return exc.code, _decode(exc.read())
        except (URLError, OSError) as exc:
            raise AirflowApiError(
                "Cannot reach Airflow's API at %s: %s. Check api_url, or use service to go through the "
                "Kubernetes API's service proxy." % (self.base, exc)
            ) from exc


class ProxyTransport:
    """HTTP through the Kubernetes API's service proxy, the token as the _token cookie."""

    def __init__(self, api_client, namespace, name, port, timeout=30):
        self.client = api_client
        self.prefix = "/api/v1/namespaces/%s/services/%s:%s/proxy" % (namespace, name, port)
        self.timeout = timeout
        self.where = "service %s/%s:%s through the Kubernetes API at %s" % (
            namespace,
            name,
            port,
            api_client.host,
        )

    def request(self, method, path, body=None, token=None, accept="application/json"):
        headers = {"Accept": accept, "Content-Type": "application/json"}
        if token:
            headers["Cookie"] = "%s=%s" % (COOKIE, token)
        try:
            response = self.client.request(method, self.prefix + path, body=body, headers=headers, timeout=self.timeout)
            return response.status, _decode(response.data)
        except RestError as exc:
            return exc.status, _decode(exc.body)
        except Exception as exc:  # urllib3 connection errors
            raise AirflowApiError("Cannot reach Airflow through the %s: %s" % (self.where, exc)) from exc


class AirflowClient:
    def __init__(self, transport):
        self.transport = transport
        self.token = None

    def login(self, username, password):
        status, body = self.transport.request("POST", "/auth/token", {"username": username, "password": password})
        if status in (401, 403):
            raise AirflowApiError(
                "Airflow at %s rejected the username %r and password (%s). Check the admin password in the "
                "cluster's Secret." % (self.transport.where, username, status),
                status=status,
            )
        if status not in (200, 201) and proxy_failure(body, self.transport.where):
            raise AirflowApiError(proxy_failure(body, self.transport.where), status=status)
        if status not in (200, 201) or not isinstance(body, dict) or "access_token" not in body:
            raise AirflowApiError(
                "Airflow at %s did not issue a token (POST /auth/token answered %s: %s). Is this Airflow 3's "
                "api-server, with the FAB or simple auth manager?" % (self.transport.where, status, _detail(body)),
                status=status,
            )
        self.token = body["access_token"]
        return self.token

    def call(self, method, path, body=None, ok=(200,), accept="application/json"):
        status, answer = self.transport.request(method, path, body, self.token, accept)
        if status not in ok:
            raise AirflowApiError(
                proxy_failure(answer, self.transport.where)
                or "%s %s at %s answered %s: %s" % (method, path, self.transport.where, status, _detail(answer)),
                status=status,
                body=answer,
            )
        return status, answer
