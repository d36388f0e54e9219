# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the shared Kubernetes connection handling (no cluster needed)."""

from __future__ import annotations

import json

import pytest
from ansible_collections.px.airflow.plugins.module_utils import connection as k8s_client
from ansible_collections.px.airflow.plugins.module_utils.args import AUTH_ARG_SPEC, AUTH_ENV, auth_argument_spec
from ansible_collections.px.airflow.plugins.module_utils.errors import ConnectionError_

NO_PARAMS = {name: None for name in AUTH_ARG_SPEC}


def params(**given):
    merged = dict(NO_PARAMS)
    merged.update(given)
    return merged


def test_every_option_has_environment_variables():
    assert set(AUTH_ENV) == set(AUTH_ARG_SPEC)


def test_secret_options_are_no_log():
    for name in ("kubeconfig", "api_key", "password"):
        assert AUTH_ARG_SPEC[name]["no_log"] is True


def test_auth_argument_spec_is_a_fresh_copy():
    spec = auth_argument_spec({"name": {"type": "str"}})
    spec["context"]["type"] = "int"
    assert AUTH_ARG_SPEC["context"]["type"] == "str"
    assert "name" in spec and "name" not in AUTH_ARG_SPEC


@pytest.mark.parametrize(
    "given, environ, expected",
    [
        ({}, {}, {}),
        ({"context": "prod"}, {"K8S_AUTH_CONTEXT": "dev"}, {"context": "prod"}),
        ({}, {"K8S_AUTH_CONTEXT": "dev"}, {"context": "dev"}),
        ({}, {"K8S_AUTH_VERIFY_SSL": "no"}, {"validate_certs": False}),
        ({}, {"K8S_AUTH_VALIDATE_CERTS": "yes"}, {"validate_certs": True}),
        ({}, {"K8S_AUTH_SSL_CA_CERT": "/ca.crt"}, {"ca_cert": "/ca.crt"}),
        ({}, {"K8S_AUTH_IMPERSONATE_GROUPS": "a,b,"}, {"impersonate_groups": ["a", "b"]}),
        ({}, {"K8S_AUTH_CONTEXT": ""}, {}),
    ],
)
def test_resolve_auth_prefers_options_then_environment(given, environ, expected):
    assert k8s_client.resolve_auth(params(**given), environ) == expected


@pytest.mark.parametrize(
    "auth, environ, expected",
    [
        ({"host": "https://h:6443"}, {}, "host https://h:6443"),
        ({"kubeconfig": "/k", "context": "c"}, {}, "kubeconfig /k, context c"),
        ({}, {"KUBECONFIG": "/env/k"}, "kubeconfig /env/k, context its current context"),
        ({"kubeconfig": {"clusters": []}}, {}, "the kubeconfig given inline, context its current context"),
    ],
)
def test_describe_target_names_what_was_tried(auth, environ, expected):
    assert k8s_client.describe_target(auth, environ) == expected


def _kubeconfig(tmp_path, server="https://127.0.0.1:1", context="sim"):
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t0ken"}}],
        "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}}],
        "current-context": context,
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    return str(path)


def test_build_api_client_from_kubeconfig_and_context(tmp_path):
    client = k8s_client.build_api_client(params(kubeconfig=_kubeconfig(tmp_path), context="sim"), environ={})
    assert client.host == "https://127.0.0.1:1"
    assert client.headers["Authorization"] == "Bearer t0ken"
    assert client.settings.verify is False
    assert "context sim" in client.px_target


def test_build_api_client_unknown_context_names_kubeconfig_and_context(tmp_path):
    path = _kubeconfig(tmp_path)
    with pytest.raises(ConnectionError_) as err:
        k8s_client.build_api_client(params(kubeconfig=path, context="nope"), environ={})
    assert path in err.value.msg and "context nope" in err.value.msg
    assert "no context named 'nope' (it has: sim)" in err.value.msg


def test_build_api_client_missing_kubeconfig_says_what_to_set(tmp_path):
    missing = str(tmp_path / "absent")
    with pytest.raises(ConnectionError_) as err:
        k8s_client.build_api_client(params(kubeconfig=missing), environ={})
    assert missing in err.value.msg and "K8S_AUTH_KUBECONFIG" in err.value.msg


def test_build_api_client_host_and_token_needs_no_kubeconfig(tmp_path):
    client = k8s_client.build_api_client(params(host="https://api.example:6443/", api_key="tok"), environ={})
    assert client.host == "https://api.example:6443"
    assert client.headers["Authorization"] == "Bearer tok"


def test_build_api_client_explicit_options_override_the_kubeconfig(tmp_path):
    given = params(
        kubeconfig=_kubeconfig(tmp_path),
        context="sim",
        api_key="other",
        validate_certs=True,
        ca_cert="/etc/ca.pem",
        impersonate_user="alice",
        impersonate_groups=["ops", "dev"],
    )
    client = k8s_client.build_api_client(given, environ={})
    assert client.headers["Authorization"] == "Bearer other"
    assert client.settings.verify is True and client.settings.ca_file == "/etc/ca.pem"
    assert client.headers["Impersonate-User"] == "alice"
    assert client.headers.getlist("Impersonate-Group") == ["ops", "dev"]


def _kubeconfig_list(tmp_path):
    """Two kubeconfig files and a missing one, listed as KUBECONFIG lists them."""
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    one = _kubeconfig(first, server="https://one:1", context="one")
    two = _kubeconfig(second, server="https://two:2", context="two")
    return f"{one}:{tmp_path / 'missing'}:{two}"


def test_build_api_client_merges_a_kubeconfig_list_like_kubectl(tmp_path):
    environ = {"KUBECONFIG": _kubeconfig_list(tmp_path)}
    assert (
        k8s_client.build_api_client(params(), environ=environ).host == "https://one:1"
    )  # current-context of the first
    # The same cluster and user names in the second file are shadowed by the first's, as kubectl does.
    assert k8s_client.build_api_client(params(context="two"), environ=environ).host == "https://one:1"


def test_the_kubeconfig_option_takes_a_list_like_kubeconfig(tmp_path):
    listed = _kubeconfig_list(tmp_path)
    from_option = k8s_client.build_api_client(params(kubeconfig=listed, context="two"), environ={})
    from_environ = k8s_client.build_api_client(params(context="two"), environ={"KUBECONFIG": listed})
    assert from_option.host == from_environ.host == "https://one:1"
    assert from_option.px_target == f"kubeconfig {listed}, context two"
    with pytest.raises(ConnectionError_) as err:
        k8s_client.build_api_client(params(kubeconfig=f"{tmp_path}/x:{tmp_path}/y"), environ={})
    assert f"kubeconfig {tmp_path}/x:{tmp_path}/y does not exist" in err.value.msg


def test_proxy_headers_reach_the_proxy_only(tmp_path):
    given = params(
        kubeconfig=_kubeconfig(tmp_path),
        context="sim",
        proxy="http://proxy.invalid:3128",
        proxy_headers={"proxy_basic_auth": "pu:pp", "user_agent": "me/1.0", "basic_auth": None},
    )
    client = k8s_client.build_api_client(given, environ={})
    assert client.pool.proxy_headers["proxy-authorization"].startswith("Basic ")
    assert client.pool.proxy_headers["user-agent"] == "me/1.0"
    assert client.headers["Authorization"] == "Bearer t0ken"  # the API server still sees its own token
    environ = {"K8S_AUTH_PROXY_HEADERS_USER_AGENT": "env/2.0"}
    assert k8s_client.resolve_auth(params(), environ)["proxy_headers"] == {"user_agent": "env/2.0"}


def test_a_modules_own_options_never_become_credentials(tmp_path):
    """dag_run's Airflow login once shared the names username/password with the connection options."""
    given = params(kubeconfig=_kubeconfig(tmp_path), context="sim")
    given.update(airflow_username="admin", airflow_password="airflow-secret", dag_id="d")
    auth = k8s_client.resolve_auth(given, environ={})
    assert set(auth) <= set(AUTH_ARG_SPEC)
    client = k8s_client.build_api_client(given, environ={})
    assert "airflow-secret" not in json.dumps(dict(client.headers))
    assert client.headers["Authorization"] == "Bearer t0ken"
