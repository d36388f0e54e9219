# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection settings: the one place that turns module parameters into a transport to the API.

Resolution order, as in kubernetes.core: explicit options, then ``K8S_AUTH_*`` environment
variables; with a host and credentials nothing is loaded; with a kubeconfig or a context the
kubeconfig is loaded (``KUBECONFIG`` may list several files, merged as kubectl merges them);
otherwise in-cluster config is tried first, then the default kubeconfig.

The transport is transport.RestClient (plain JSON over urllib3), not the kubernetes package's ApiClient,
whose import alone costs about 0.3 s per module run. The kubernetes package is still what loads
a kubeconfig user with an exec plugin or an auth-provider.
"""

from __future__ import annotations

import importlib.util
import os

from ansible_collections.px.airflow.plugins.module_utils.args import AUTH_ARG_SPEC, AUTH_ENV, PROXY_HEADERS_ENV
from ansible_collections.px.airflow.plugins.module_utils.errors import ConnectionError_
from ansible_collections.px.airflow.plugins.module_utils.service import KubeService
from ansible_collections.px.airflow.plugins.module_utils.transport import (
    ConfigError,
    NeedsKubernetesPackage,
    RestClient,
    Settings,
    in_cluster_settings,
    merged_kubeconfig,
    settings_from_configuration,
    settings_from_kubeconfig,
)

KUBERNETES_IMP_ERR = None
# The REST client needs urllib3 (its transport) and PyYAML (kubeconfig files), both of which the
# kubernetes package brings; the package itself is imported only for exec and auth-provider users.
# Finding the modules is enough here: importing kubernetes would cost what this client saves.
MISSING = [name for name in ("urllib3", "yaml", "kubernetes") if importlib.util.find_spec(name) is None]
HAS_KUBERNETES = not MISSING
if MISSING:
    KUBERNETES_IMP_ERR = "No module named %s" % ", ".join(repr(name) for name in MISSING)


_FALSE = ("0", "false", "no", "off")


def require_kubernetes(module):
    """Fail with the standard missing-library message when the kubernetes client is absent."""
    if not HAS_KUBERNETES:
        from ansible.module_utils.basic import missing_required_lib

        module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBERNETES_IMP_ERR)


def resolve_auth(params, environ=None):
    """Merge explicit options with the K8S_AUTH_* environment variables; explicit wins."""
    environ = os.environ if environ is None else environ
    auth = {}
    # Only the documented connection options: a module's own options never become credentials.
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
    if not auth.get("proxy_headers"):
        headers = {key: environ[var] for key, var in PROXY_HEADERS_ENV.items() if environ.get(var)}
        if headers:
            auth["proxy_headers"] = headers
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


def _kubeconfig_paths(auth, environ):
    """The kubeconfig files to merge: the option or KUBECONFIG, each a path or a list of paths
    separated as in KUBECONFIG (":" on POSIX); missing files in a list are skipped, as kubectl does."""
    if auth.get("kubeconfig"):
        listed = [os.path.expanduser(p) for p in auth["kubeconfig"].split(os.pathsep) if p]
        paths = [p for p in listed if os.path.exists(p)]
        if not paths:
            raise ConfigError("kubeconfig %s does not exist" % os.pathsep.join(listed))
        return paths
    listed = [os.path.expanduser(p) for p in (environ.get("KUBECONFIG") or "").split(os.pathsep) if p]
    paths = [p for p in listed or [os.path.expanduser("~/.kube/config")] if os.path.exists(p)]
    if not paths:
        raise ConfigError("no kubeconfig found (looked for %s)" % ", ".join(listed or ["~/.kube/config"]))
    return paths


def _settings_via_kubernetes_package(auth, paths):
    """Credentials that need code (exec plugin, auth-provider): the kubernetes package loads them.

    ``paths`` are the kubeconfig files, or None for the kubeconfig given inline.
    """
    import kubernetes

    configuration = kubernetes.client.Configuration()
    kwargs = {
        "context": auth.get("context"),
        "persist_config": bool(auth.get("persist_config")),
        "client_configuration": configuration,
    }
    try:
        if paths is None:
            kubernetes.config.load_kube_config_from_dict(config_dict=auth["kubeconfig"], **kwargs)
        else:
            # The kubernetes package merges a KUBECONFIG-style list of files itself.
            kubernetes.config.load_kube_config(config_file=os.pathsep.join(paths), **kwargs)
    except kubernetes.config.config_exception.ConfigException as exc:
        raise ConfigError(str(exc)) from exc
    return settings_from_configuration(configuration)


def _kubeconfig_settings(auth, environ):
    kubeconfig = auth.get("kubeconfig")
    if isinstance(kubeconfig, dict):
        config, paths, source = kubeconfig, None, "the kubeconfig given inline"
    else:
        paths = _kubeconfig_paths(auth, environ)
        config, source = merged_kubeconfig(paths), "kubeconfig %s" % os.pathsep.join(paths)
    try:
        return settings_from_kubeconfig(config, auth.get("context"), source)
    except NeedsKubernetesPackage:
        return _settings_via_kubernetes_package(auth, paths)


def _settings(auth, environ):
    if _has_credentials(auth):
        settings = Settings(auth["host"])
    elif auth.get("kubeconfig") or auth.get("context"):
        settings = _kubeconfig_settings(auth, environ)
    else:
        try:
            settings = in_cluster_settings(environ)
        except ConfigError:
            settings = _kubeconfig_settings(auth, environ)
    if auth.get("host"):
        settings.host = auth["host"].rstrip("/")
    if auth.get("api_key"):
        settings.token = auth["api_key"]  # an explicit api_key wins over the kubeconfig's token
    if auth.get("username") and auth.get("password"):
        settings.username, settings.password = auth["username"], auth["password"]
    for option, attribute in (
        ("validate_certs", "verify"),
        ("ca_cert", "ca_file"),
        ("client_cert", "cert_file"),
        ("client_key", "key_file"),
        ("proxy", "proxy"),
        ("no_proxy", "no_proxy"),
    ):
        if auth.get(option) is not None:
            setattr(settings, attribute, auth[option])
    headers = {k: v for k, v in (auth.get("proxy_headers") or {}).items() if v}
    if headers:
        import urllib3

        settings.proxy_headers = urllib3.util.make_headers(**headers)
    return settings


def build_api_client(params, environ=None):
    """Return a RestClient for the module's connection options.

    Raises ConnectionError_ naming the kubeconfig and context it tried when no usable
    configuration is found.
    """
    environ = os.environ if environ is None else environ
    auth = resolve_auth(params, environ)
    try:
        client = RestClient(_settings(auth, environ))
    except (ConfigError, OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ConnectionError_(
            "Cannot configure the Kubernetes client from %s: %s. Set kubeconfig and context "
            "(or K8S_AUTH_KUBECONFIG / K8S_AUTH_CONTEXT), or host with api_key." % (describe_target(auth, environ), exc)
        ) from exc
    if auth.get("impersonate_user"):
        client.add_header("Impersonate-User", auth["impersonate_user"])
    for group in auth.get("impersonate_groups") or []:
        client.add_header("Impersonate-Group", group)
    client.px_target = describe_target(auth, environ)
    return client


def kube_service(params, environ=None):
    """The KubeService (module_utils/service.py) for the module's connection options."""
    return KubeService(build_api_client(params, environ))
