# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The transport to the Kubernetes API: kubeconfig or in-cluster credentials, JSON over urllib3.

Importing the ``kubernetes`` package costs about 0.3 s (it loads every API model), which is half
of a module run. Our modules only send JSON to REST paths, so they use this instead. Static
credentials (bearer token or token file, client certificate, basic auth) are read here; a
kubeconfig user that needs code to get its credentials (an ``exec`` plugin or an ``auth-provider``)
is loaded by the ``kubernetes`` package, and its result used the same way.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import ssl
import tempfile
from urllib.parse import urlencode, urlparse

IN_CLUSTER_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class ConfigError(Exception):
    """The kubeconfig (or the in-cluster environment) does not give a usable configuration."""


class NeedsKubernetesPackage(Exception):
    """The context's user gets its credentials from code (an exec plugin or an auth-provider)."""


class RestError(Exception):
    """The API server answered with an error status (the kubernetes client's ApiException, in short)."""

    def __init__(self, status, reason, body=b"", headers=None):
        super().__init__("%s %s" % (status, reason))
        self.status = status
        self.reason = reason
        self.body = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        self.headers = headers or {}


class Response:
    def __init__(self, status, reason, headers, data):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.data = data


class Settings:
    """Where and how to connect: what a kubeconfig context (or in-cluster config) amounts to."""

    def __init__(self, host):
        self.host = host.rstrip("/")
        self.token = None
        self.username = None
        self.password = None
        self.ca_file = None
        self.cert_file = None
        self.key_file = None
        self.verify = True
        self.server_name = None
        self.proxy = None
        self.no_proxy = None
        self.proxy_headers = None


# ---------------------------------------------------------------------------- kubeconfig


_DATA_FILES = []


def remove_data_files():
    """Remove the temporary files _data_file wrote (at a module's exit, or after an in-process run)."""
    while _DATA_FILES:
        path = _DATA_FILES.pop()
        if os.path.exists(path):
            os.unlink(path)


atexit.register(remove_data_files)


def _data_file(data, suffix):
    """Write base64 data (a certificate or key from the kubeconfig) to a private temporary file."""
    handle, path = tempfile.mkstemp(prefix="px-airflow-", suffix=suffix)
    _DATA_FILES.append(path)
    with os.fdopen(handle, "wb") as out:
        out.write(base64.b64decode(data))
    return path


def _relative(path, base_dir):
    if path and not os.path.isabs(path) and base_dir:
        return os.path.join(base_dir, path)
    return path


def merged_kubeconfig(paths):
    """Several kubeconfig files merged as kubectl merges KUBECONFIG: the first occurrence of a name wins."""
    import yaml

    merged = {"clusters": [], "users": [], "contexts": [], "current-context": None}
    seen = {"clusters": set(), "users": set(), "contexts": set()}
    for path in paths:
        with open(path) as handle:
            config = yaml.safe_load(handle) or {}
        base_dir = os.path.dirname(os.path.abspath(path))
        for section in ("clusters", "users", "contexts"):
            for item in config.get(section) or []:
                if item.get("name") not in seen[section]:
                    seen[section].add(item.get("name"))
                    merged[section].append(dict(item, _base_dir=base_dir))
        merged["current-context"] = merged["current-context"] or config.get("current-context")
    return merged


def settings_from_kubeconfig(config, context, source):
    """Settings for ``context`` (or the current context) of a parsed kubeconfig.

    Raises NeedsKubernetesPackage, before anything is written, when the user's credentials come
    from code.
    """
    name = context or config.get("current-context")
    if not name:
        raise ConfigError("%s sets no current-context; name a context" % source)
    contexts = config.get("contexts") or []
    ctx_item = next((item for item in contexts if item.get("name") == name), None)
    if ctx_item is None:
        known = ", ".join(sorted(str(item.get("name")) for item in contexts)) or "none"
        raise ConfigError("%s has no context named %r (it has: %s)" % (source, name, known))
    ctx = ctx_item.get("context") or {}
    cluster_item = next((c for c in config.get("clusters") or [] if c.get("name") == ctx.get("cluster")), None)
    if cluster_item is None:
        raise ConfigError(
            "%s: context %r names cluster %r, which it does not define" % (source, name, ctx.get("cluster"))
        )
    user_item = next((u for u in config.get("users") or [] if u.get("name") == ctx.get("user")), {})
    cluster, user = cluster_item.get("cluster") or {}, user_item.get("user") or {}
    if user.get("exec") or user.get("auth-provider"):
        raise NeedsKubernetesPackage(name)
    cluster_dir, user_dir = cluster_item.get("_base_dir"), user_item.get("_base_dir")
    if not cluster.get("server"):
        raise ConfigError("%s: cluster %r has no server" % (source, ctx.get("cluster")))
    settings = Settings(cluster["server"])
    settings.verify = not cluster.get("insecure-skip-tls-verify", False)
    settings.server_name = cluster.get("tls-server-name")
    settings.proxy = cluster.get("proxy-url")
    if cluster.get("certificate-authority-data"):
        settings.ca_file = _data_file(cluster["certificate-authority-data"], ".crt")
    elif cluster.get("certificate-authority"):
        settings.ca_file = _relative(cluster["certificate-authority"], cluster_dir)
    if user.get("token"):
        settings.token = user["token"]
    elif user.get("tokenFile"):
        with open(_relative(user["tokenFile"], user_dir)) as handle:
            settings.token = handle.read().strip()
    if user.get("client-certificate-data"):
        settings.cert_file = _data_file(user["client-certificate-data"], ".crt")
    elif user.get("client-certificate"):
        settings.cert_file = _relative(user["client-certificate"], user_dir)
    if user.get("client-key-data"):
        settings.key_file = _data_file(user["client-key-data"], ".key")
    elif user.get("client-key"):
        settings.key_file = _relative(user["client-key"], user_dir)
    settings.username, settings.password = user.get("username"), user.get("password")
    return settings


def in_cluster_settings(environ=None, directory=IN_CLUSTER_DIR):
    """Settings from a pod's service account, or ConfigError when not running in a pod."""
    environ = os.environ if environ is None else environ
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
    token_path = os.path.join(directory, "token")
    if not host or not port or not os.path.exists(token_path):
        raise ConfigError("not running in a Kubernetes pod (no service host or service account token)")
    host = "[%s]" % host if ":" in host else host
    settings = Settings("https://%s:%s" % (host, port))
    with open(token_path) as handle:
        settings.token = handle.read().strip()
    settings.ca_file = os.path.join(directory, "ca.crt")
    return settings


def settings_from_configuration(configuration):
    """Settings from a ``kubernetes.client.Configuration`` (what the kubernetes package loaded)."""
    if getattr(configuration, "refresh_api_key_hook", None):
        configuration.refresh_api_key_hook(configuration)
    settings = Settings(configuration.host)
    authorization = (configuration.api_key or {}).get("authorization") or (configuration.api_key or {}).get(
        "BearerToken"
    )
    if authorization:
        prefix = (configuration.api_key_prefix or {}).get("authorization")
        settings.token = authorization.split(" ", 1)[1] if authorization.startswith("Bearer ") else authorization
        if prefix and prefix != "Bearer":
            settings.token = None
    settings.username, settings.password = configuration.username or None, configuration.password or None
    settings.ca_file = configuration.ssl_ca_cert
    settings.cert_file, settings.key_file = configuration.cert_file, configuration.key_file
    settings.verify = configuration.verify_ssl
    settings.server_name = getattr(configuration, "tls_server_name", None)
    settings.proxy = configuration.proxy
    settings.no_proxy = getattr(configuration, "no_proxy", None)
    return settings


# ---------------------------------------------------------------------------- client


def _bypasses_proxy(host, no_proxy):
    hostname = urlparse(host).hostname or ""
    for entry in (no_proxy or "").split(","):
        entry = entry.strip().lstrip(".")
        if entry == "*" or (entry and (hostname == entry or hostname.endswith("." + entry))):
            return True
    return False


class RestClient:
    """Sends requests to the API server; answers a Response or raises RestError."""

    def __init__(self, settings, user_agent="px.airflow"):
        import urllib3
        from urllib3._collections import HTTPHeaderDict

        self.settings = settings
        self.host = settings.host
        self.headers = HTTPHeaderDict({"User-Agent": user_agent})
        if settings.token:
            self.headers["Authorization"] = "Bearer %s" % settings.token
        elif settings.username and settings.password:
            credentials = "%s:%s" % (settings.username, settings.password)
            self.headers["Authorization"] = "Basic %s" % base64.b64encode(credentials.encode()).decode("ascii")
        pool = {
            "timeout": urllib3.Timeout(connect=10, read=60),
            "retries": urllib3.Retry(total=2, read=False, redirect=0),
        }
        if self.host.startswith("https://"):
            if settings.verify:
                pool.update(cert_reqs=ssl.CERT_REQUIRED, ca_certs=settings.ca_file)
                if settings.server_name:
                    pool.update(server_hostname=settings.server_name, assert_hostname=settings.server_name)
            else:
                pool.update(cert_reqs=ssl.CERT_NONE, assert_hostname=False)
                urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            if settings.cert_file:
                pool.update(cert_file=settings.cert_file, key_file=settings.key_file)
        if settings.proxy and not _bypasses_proxy(self.host, settings.no_proxy):
            self.pool = urllib3.ProxyManager(settings.proxy, proxy_headers=settings.proxy_headers, **pool)
        else:
            self.pool = urllib3.PoolManager(**pool)

    def add_header(self, name, value):
        """Add a default header; a name given twice is sent twice (Impersonate-Group)."""
        self.headers.add(name, value)

    def request(self, method, path, query=None, body=None, headers=None, timeout=None):
        """One request; ``body`` is sent as JSON unless it is bytes. Raises RestError on a status >= 400."""
        url = self.host + path
        if query:
            url += "?" + urlencode([(k, "true" if v is True else "false" if v is False else v) for k, v in query])
        sent = self.headers.copy()
        for name, value in (headers or {}).items():
            sent[name] = value
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
            sent.setdefault("Content-Type", "application/json")
        response = self.pool.request(method, url, body=data, headers=sent, preload_content=True, timeout=timeout)
        if response.status >= 400:
            raise RestError(response.status, response.reason, response.data, response.headers)
        return Response(response.status, response.reason, response.headers, response.data)
