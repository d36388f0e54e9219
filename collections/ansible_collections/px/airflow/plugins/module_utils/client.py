# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that builds a Kubernetes API client from module parameters.

Resolution order, as in kubernetes.core: explicit options, then ``K8S_AUTH_*`` environment
variables; with a host and credentials nothing is loaded; with a kubeconfig or a context the
kubeconfig is loaded (``KUBECONFIG`` honoured by the kubernetes client); otherwise in-cluster
config is tried first, then the default kubeconfig.
"""

from __future__ import annotations

import os
import random
import time
import traceback

from ansible_collections.px.airflow.plugins.module_utils.args import AUTH_ARG_SPEC, AUTH_ENV
from ansible_collections.px.airflow.plugins.module_utils.errors import ApiFailure, ConnectionError_

KUBERNETES_IMP_ERR = None
try:
    import kubernetes
    from kubernetes.client.rest import ApiException
    from kubernetes.config.config_exception import ConfigException

    HAS_KUBERNETES = True
except ImportError:
    KUBERNETES_IMP_ERR = traceback.format_exc()
    HAS_KUBERNETES = False

    class ApiException(Exception):  # type: ignore[no-redef]
        """Placeholder so that ``except ApiException`` parses without the library."""

    class ConfigException(Exception):  # type: ignore[no-redef]
        """Placeholder so that ``except ConfigException`` parses without the library."""


_FALSE = ("0", "false", "no", "off")
RETRY_STATUSES = (429, 500, 502, 503, 504)
CONNECT_ATTEMPTS = 2


def require_kubernetes(module):
    """Fail with the standard missing-library message when the kubernetes client is absent."""
    if not HAS_KUBERNETES:
        from ansible.module_utils.basic import missing_required_lib

        module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBERNETES_IMP_ERR)


def resolve_auth(params, environ=None):
    """Merge explicit options with the K8S_AUTH_* environment variables; explicit wins."""
    environ = os.environ if environ is None else environ
    auth = {}
    for name, spec in AUTH_ARG_SPEC.items():
        value = params.get(name)
        if value is None:
            for var in AUTH_ENV[name]:
                if environ.get(var) not in (None, ""):
                    value = environ[var]
                    break
            if isinstance(value, str):
                if spec.get("type") == "bool":
                    value = value.lower() not in _FALSE
                elif spec.get("type") == "list":
                    value = [item for item in value.split(",") if item]
        if value is not None:
            auth[name] = value
    return auth


def describe_target(auth, environ=None):
    """Say which cluster we tried, for error messages: host, or kubeconfig and context."""
    environ = os.environ if environ is None else environ
    if auth.get("host"):
        return "host %s" % auth["host"]
    kubeconfig = auth.get("kubeconfig")
    if isinstance(kubeconfig, dict):
        where = "the kubeconfig given inline"
    else:
        where = "kubeconfig %s" % (kubeconfig or environ.get("KUBECONFIG") or "~/.kube/config")
    context = auth.get("context") or "its current context"
    return "%s, context %s" % (where, context)


def _has_credentials(auth):
    host = auth.get("host")
    return bool(
        host
        and (
            (auth.get("username") and auth.get("password"))
            or auth.get("api_key")
            or (auth.get("client_cert") and auth.get("client_key"))
        )
    )


def _load_kubeconfig(auth):
    kwargs = {"context": auth.get("context"), "persist_config": bool(auth.get("persist_config"))}
    kubeconfig = auth.get("kubeconfig")
    if isinstance(kubeconfig, dict):
        kubernetes.config.load_kube_config_from_dict(config_dict=kubeconfig, **kwargs)
    else:
        kubernetes.config.load_kube_config(config_file=kubeconfig, **kwargs)


def _configuration(auth):
    if not _has_credentials(auth):
        if auth.get("kubeconfig") or auth.get("context"):
            _load_kubeconfig(auth)
        else:
            try:
                kubernetes.config.load_incluster_config()
            except ConfigException:
                _load_kubeconfig(auth)
    configuration = kubernetes.client.Configuration.get_default_copy()
    if auth.get("host"):
        configuration.host = auth["host"].rstrip("/")
    if auth.get("api_key"):
        # Replace whatever token the kubeconfig gave: an explicit api_key wins.
        configuration.api_key = {"authorization": "Bearer %s" % auth["api_key"]}
        configuration.api_key_prefix = {}
    if auth.get("username") and auth.get("password"):
        configuration.username = auth["username"]
        configuration.password = auth["password"]
    for option, attribute in (
        ("validate_certs", "verify_ssl"),
        ("ca_cert", "ssl_ca_cert"),
        ("client_cert", "cert_file"),
        ("client_key", "key_file"),
        ("proxy", "proxy"),
        ("no_proxy", "no_proxy"),
    ):
        if auth.get(option) is not None:
            setattr(configuration, attribute, auth[option])
    return configuration


def build_api_client(params, environ=None):
    """Return a ``kubernetes.client.ApiClient`` for the module's connection options.

    Raises ConnectionError_ naming the kubeconfig and context it tried when no usable
    configuration is found.
    """
    auth = resolve_auth(params, environ)
    try:
        configuration = _configuration(auth)
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        raise ConnectionError_(
            "Cannot configure the Kubernetes client from %s: %s. Set kubeconfig and context "
            "(or K8S_AUTH_KUBECONFIG / K8S_AUTH_CONTEXT), or host with api_key." % (describe_target(auth, environ), exc)
        ) from exc
    client = kubernetes.client.ApiClient(configuration)
    client.user_agent = "px.airflow"
    if auth.get("impersonate_user"):
        client.set_default_header("Impersonate-User", auth["impersonate_user"])
    for group in auth.get("impersonate_groups") or []:
        # The client keeps one value per header name; several groups need several headers.
        client.set_default_header("Impersonate-Group", group)
    client.px_target = describe_target(auth, environ)
    return client


def api_call(client, what, func, *args, **kwargs):
    """Call the Kubernetes API, retrying throttling and transient server errors with backoff.

    ``what`` names the operation for error messages ("read StorageClass px-db").
    Returns the result, or raises ApiFailure / ConnectionError_ with context.
    """
    attempts = kwargs.pop("_attempts", 6)
    delay = 0.5
    for attempt in range(1, attempts + 1):
        last = attempt == attempts
        try:
            return func(*args, **kwargs)
        except ApiException as exc:
            if exc.status not in RETRY_STATUSES or last:
                raise ApiFailure(
                    "Failed to %s: %s %s%s" % (what, exc.status, exc.reason, _status_message(exc)),
                    status=exc.status,
                    reason=exc.reason,
                    body=exc.body,
                ) from exc
            time.sleep(_retry_after(exc, delay))
        except Exception as exc:  # urllib3 errors: connection refused, TLS, DNS, timeouts
            if not _is_connection_error(exc):
                raise
            # urllib3 has already retried the connection itself: give up sooner than on a 5xx.
            if attempt >= min(attempts, CONNECT_ATTEMPTS):
                raise ConnectionError_(
                    "Cannot reach the Kubernetes API at %s (%s) to %s: %s. Check that the cluster is up "
                    "and that kubeconfig/context point at it."
                    % (client.configuration.host, getattr(client, "px_target", "?"), what, exc)
                ) from exc
            time.sleep(delay)
        delay = min(delay * 2, 8.0)
    raise AssertionError("unreachable")  # pragma: no cover


def api_json(client, what, func, *args, **kwargs):
    """api_call, answering the decoded JSON body (None when empty) instead of the typed model.

    Raw JSON keeps every field the server sent (the typed models drop unknown ones and fail on
    some valid answers, such as a Status from a DELETE).
    """
    import json

    kwargs["_preload_content"] = False
    response = api_call(client, what, func, *args, **kwargs)
    raw = getattr(response, "data", None)
    return json.loads(raw) if raw else None


def read_json(client, what, func, *args, **kwargs):
    """api_json for a read: None when the object (or its namespace or kind) does not exist."""
    try:
        return api_json(client, what, func, *args, **kwargs)
    except ApiFailure as exc:
        if exc.status == 404:
            return None
        raise


def _retry_after(exc, delay):
    headers = getattr(exc, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return min(float(value), 10.0)
    except (TypeError, ValueError):
        return delay * (1 + random.random() / 4)


def _status_message(exc):
    import json

    try:
        message = json.loads(exc.body).get("message")
    except (TypeError, ValueError, AttributeError):
        message = None
    return ": %s" % message if message else ""


def _is_connection_error(exc):
    try:
        import urllib3.exceptions as u3
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, (u3.MaxRetryError, u3.NewConnectionError, u3.ProtocolError, u3.TimeoutError, OSError))
