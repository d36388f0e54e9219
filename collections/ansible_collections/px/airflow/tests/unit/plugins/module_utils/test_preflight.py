# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The preflight's rules: each bad setting gives one message naming the setting, the value and the rule."""

from __future__ import annotations

from decimal import Decimal

import pytest
from ansible_collections.px.airflow.plugins.module_utils import preflight as pf


def run(*checks, live=None):
    """Problems for the checks; `live` maps API paths to objects (everything else: 404)."""
    return run_reading(*checks, live=live)[0]


def run_reading(*checks, live=None):
    """(problems, the API paths read)."""
    reads = []

    def reader(path):
        reads.append(path)
        return (live or {}).get(path)

    found = pf.problems([dict(c) for c in checks], reader)
    return found, reads


def check(setting, rule, value, **params):
    return {"setting": setting, "rule": rule, "value": value, "params": params}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("8Gi", Decimal(8 * 2**30)),
        ("250m", Decimal("0.25")),
        ("1.5G", Decimal("1.5e9")),
        ("1e3", Decimal(1000)),
        ("100", Decimal(100)),
        (".5Ki", Decimal(512)),
        ("10GB", None),
        ("1 Gi", None),
        ("1gi", None),
        ("Gi", None),
        ("", None),
        (True, None),
    ],
)
def test_quantities_parse_as_the_api_server_parses_them(text, expected):
    assert pf.parse_quantity(text) == expected


BAD = [
    # (check, words the single message must contain)
    (check("px_namespace", "namespace", "kube-system"), ["px_namespace", "'kube-system'", "belongs to Kubernetes"]),
    (check("px_namespace", "namespace", "default"), ["'default'", "belongs to Kubernetes"]),
    (check("px_namespace", "namespace", "Airflow"), ["'Airflow'", "not a valid Kubernetes name"]),
    (check("px_namespace", "namespace", "air_flow"), ["'air_flow'", "not a valid Kubernetes name"]),
    (check("px_namespace", "namespace", "a" * 64), ["at most 63 characters"]),
    (
        check("px_release", "object_names", "a" * 45, names=[{"kind": "CronJob", "name": "a" * 45 + "-log-cleanup"}]),
        ["px_release", "CronJob name", "57 characters long", "allows 52", "at most 40 characters"],
    ),
    (check("px_release", "object_names", "1af", names=[]), ["'1af'", "starting with a letter"]),
    (check("px_release", "object_names", "Af", names=[]), ["'Af'", "not a valid release name"]),
    (check("size", "quantity", "10", resource="storage"), ["'10'", "no unit", "10 bytes"]),
    (check("mem", "quantity", "512", resource="memory"), ["'512'", "no unit", "512 bytes", "such as 512Mi"]),
    (check("size", "quantity", "10GB", resource="storage"), ["'10GB'", "not a Kubernetes quantity"]),
    (check("size", "quantity", "-5Gi", resource="storage"), ["'-5Gi'", "more than zero"]),
    (check("size", "quantity", "100Ki", resource="storage"), ["'100Ki'", "less than 1Mi"]),
    (check("img", "image", "apache/airflow:2.10.5", major=3, product="Airflow"), ["is Airflow 2", "Airflow 3"]),
    (check("img", "image", "apache/airflow:latest", major=3, product="Airflow"), ["names no version"]),
    (check("img", "image", "apache/airflow:3.3 .2"), ["not a valid image reference"]),
    (check("img", "image", "Apache/airflow:3.3.2"), ["not a valid image reference"]),
    (check("reg", "registry", "https://mirror.example"), ["has a scheme", "mirror.example"]),
    (check("reg", "registry", "mirror.example/"), ["ends with '/'"]),
    (check("reg", "registry", "mirror example"), ["not a registry host"]),
    (check("cron", "cron", "every day"), ["not a valid cron schedule", "5 fields"]),
    (check("cron", "cron", "61 * * * *"), ["minute 61 is outside 0-59"]),
    (check("cron", "cron", "0 0 * * * *"), ["5 fields", "not 6"]),
    (check("cron", "cron", "0 0 * foo *"), ["month 'foo'"]),
    (check("cron", "cron", "TZ=UTC 0 0 * * *"), ["time zone"]),
    (check("cron", "cron", "@sometimes"), ["@sometimes"]),
    (check("port", "port", 99999), ["99999", "TCP port"]),
    (check("port", "port", 0), ["TCP port"]),
    (check("n", "integer", -1, min=1), ["-1", "less than 1"]),
    (check("n", "integer", "soon", min=1), ["'soon'", "whole number"]),
    (check("n", "integer", True, min=1), ["whole number"]),
    (check("r", "keys", {"schedulers": 2}, allowed=["scheduler"]), ["r.schedulers", "did you mean scheduler"]),
    (
        check("r", "keys", {"scheduler": 0}, allowed=["scheduler"], values="integer", min=1),
        ["r.scheduler", "less than 1"],
    ),
    (check("r", "keys", "scheduler=2", allowed=["scheduler"]), ["must be a dictionary"]),
    (check("c", "airflow_config", {"nosuch": {"a": 1}}), ["c.nosuch", "not a section"]),
    (check("c", "airflow_config", {"core": {"paralelism": 3}}), ["c.core.paralelism", "did you mean parallelism"]),
    (check("c", "airflow_config", {"core": "parallelism=3"}), ["c.core", "must be a dictionary of keys"]),
    (check("c", "airflow_config", {"core": {"parallelism": "many"}}), ["whole number"]),
    (check("c", "airflow_config", {"core": {"load_examples": "sometimes"}}), []),  # a string option: no problem
    (check("c", "airflow_config", {"scheduler": {"use_job_schedule": "maybe"}}), ["true or false"]),
    (check("c", "airflow_config", {"scheduler": {"job_heartbeat_sec": "fast"}}), ["not a number"]),
    (check("c", "airflow_config", {"core": {"fernet_key": "x"}}), ["is a secret", "(hidden)"]),
    (check("c", "airflow_config", {"core": {"executor": "CeleryExecutor"}}), ["not the KubernetesExecutor"]),
    (check("c", "airflow_config", "core.parallelism=3"), ["dictionary of sections"]),
    (check("h", "host", "postgres://db.example:5432/airflow"), ["is a URL"]),
    (check("h", "host", "db.example:5432", port_setting="p"), ["carries a port", "p"]),
    (check("h", "host", "db example"), ["not a host name"]),
    (check("x", "not_empty", ""), ["must not be empty"]),
    (
        check("u", "not_empty", "-admin", argument="airflow users create"),
        ["u: '-admin' starts with '-', which airflow users create would read as an option"],
    ),
    (check("x", "dns_subdomain", "My_Class"), ["not a valid Kubernetes object name"]),
    (check("x", "dns_label", "a.b"), ["not a valid Kubernetes name"]),
    (
        check("res", "resources", {"schedular": {}}, components=["scheduler"]),
        ["res.schedular", "did you mean scheduler"],
    ),
    (
        check("res", "resources", {"scheduler": {"request": {"cpu": "1"}}}, components=["scheduler"]),
        ["res.scheduler.request", "did you mean requests"],
    ),
    (check("res", "resources", {"requests": {"cpu": "250mm"}}, single=True), ["res.requests.cpu", "'250mm'"]),
    (check("res", "resources", {"requests": {"memory": "1 Gi"}}, single=True), ["res.requests.memory"]),
    (
        check("res", "resources", {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}, single=True),
        ["res.requests.memory", "more than its limit 1Gi"],
    ),
    (check("res", "resources", {"requests": {"gpu": "1"}}, single=True), ["res.requests.gpu", "not cpu, memory"]),
]


@pytest.mark.parametrize("bad, words", BAD, ids=[f"{b['rule']}:{b['value']!s:.30}" for b, _words in BAD])
def test_a_bad_setting_gives_one_message_naming_it(bad, words):
    found = run(bad)
    if not words:
        assert found == []
        return
    assert len(found) == 1, found
    assert found[0].startswith(bad["setting"]), found
    for word in words:
        assert word in found[0], (word, found[0])


GOOD = [
    check("ns", "namespace", "airflow", release="af"),
    check("r", "object_names", "af", names=[{"kind": "CronJob", "name": "af-log-cleanup"}]),
    check("size", "quantity", "8Gi", resource="storage"),
    check("cpu", "quantity", "1", resource="cpu"),
    check("img", "image", "localhost/px-airflow/apache/airflow:3.3.2", major=3),
    check("img", "image", "registry.example.com:5000/apache/airflow:3.0.2-python3.12", major=3),
    check("img", "image", "apache/airflow:slim-3.1.0", major=3),
    check("img", "image", "busybox:1.36@sha256:" + "a" * 64),
    check("reg", "registry", "registry.example.com:5000/mirror"),
    check("reg", "registry", "localhost/px-airflow"),
    check("reg", "registry", ""),
    check("cron", "cron", "17 3 * * *"),
    check("cron", "cron", "*/5 1-3,7 ? jan-mar mon-fri"),
    check("cron", "cron", "@daily"),
    check("cron", "cron", "@every 1h30m"),
    check("port", "port", "5432"),
    check("n", "integer", 3, min=1, max=5),
    check(
        "c",
        "airflow_config",
        {"core": {"parallelism": "64", "load_examples": False}, "logging": {"logging_level": "INFO"}},
    ),
    check("c", "airflow_config", {"core": {"executor": "KubernetesExecutor"}}),
    check("h", "host", "db.example.com"),
    check("h", "host", "10.0.0.5"),
    check("h", "host", "fd00::5"),
    check("h", "host", ""),
    check(
        "res", "resources", {"scheduler": {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}}
    ),
    check("s", "dns_subdomain", ["regcred", "mirror.pull"], each=True),
    check("u", "not_empty", "admin-1", argument="airflow users create"),
    check("u", "not_empty", "-admin"),  # not passed to a command: a leading '-' does no harm
]


@pytest.mark.parametrize("good", GOOD, ids=[f"{g['rule']}:{g['value']!s:.30}" for g in GOOD])
def test_a_good_setting_passes(good):
    assert run(good) == []


def test_each_applies_the_rule_to_every_element_and_names_its_index():
    found = run(check("pull_secrets", "dns_subdomain", ["ok", "Not OK"], each=True))
    assert len(found) == 1 and found[0].startswith("pull_secrets[1]: 'Not OK'")


CLAIM = "/api/v1/namespaces/airflow/persistentvolumeclaims/data-af-postgresql-0"


def claim(size, capacity=None):
    return {
        "spec": {"resources": {"requests": {"storage": size}}},
        "status": {"capacity": {"storage": capacity or size}},
    }


@pytest.mark.parametrize(
    "live, new, shrinks",
    [
        (None, "1Gi", False),
        (claim("8Gi"), "8Gi", False),
        (claim("8Gi"), "10Gi", False),
        (claim("8Gi"), "4Gi", True),
        (claim("8Gi"), "8000Mi", True),
        (claim("8Gi", "10Gi"), "9Gi", True),  # capacity above the request: the volume holds 10Gi
    ],
)
def test_a_claim_can_only_grow(live, new, shrinks):
    found, reads = run_reading(
        check("postgres_storage_size", "claim_size", new, namespace="airflow", claim="data-af-postgresql-0"),
        live={CLAIM: live} if live else {},
    )
    assert reads == [CLAIM]
    assert bool(found) == shrinks, found
    if shrinks:
        assert "would shrink the claim airflow/data-af-postgresql-0" in found[0]


STS = "/apis/apps/v1/namespaces/airflow/statefulsets/af-postgresql"


def sts(image):
    return {"spec": {"template": {"spec": {"containers": [{"name": "postgresql", "image": image}]}}}}


@pytest.mark.parametrize(
    "live, new, allow, words",
    [
        (None, "postgres:17.6", False, None),
        (sts("postgres:17.6"), "postgres:17.7", False, None),
        (sts("postgres:17.6"), "postgres:16.4", False, ["PostgreSQL 16, older than the PostgreSQL 17"]),
        (sts("postgres:17.6"), "postgres:16.4", True, ["older than"]),  # a downgrade is never allowed
        (sts("postgres:17.6"), "postgres:18.1", False, ["pg_upgrade", "postgres_allow_major_upgrade: true"]),
        (sts("postgres:17.6"), "postgres:18.1", True, None),
        (None, "postgres:latest", False, ["names no PostgreSQL version"]),
    ],
)
def test_postgres_major_version_follows_the_data(live, new, allow, words):
    found = run(
        check(
            "postgres_image_tag",
            "postgres_image",
            new,
            namespace="airflow",
            statefulset="af-postgresql",
            allow_upgrade=allow,
            allow_setting="postgres_allow_major_upgrade",
        ),
        live={STS: live} if live else {},
    )
    if words is None:
        assert found == []
    else:
        assert len(found) == 1 and all(w in found[0] for w in words), found


def test_a_namespace_holding_another_release_is_refused_unless_shared():
    listing = {
        "items": [
            {
                "metadata": {
                    "name": "af-scheduler",
                    "labels": {"app.kubernetes.io/managed-by": "px.airflow", "app.kubernetes.io/instance": "af"},
                }
            },
            {"metadata": {"name": "shop", "labels": {}}},
        ]
    }
    live = {"/apis/apps/v1/namespaces/team/deployments": listing}
    found = run(check("px_namespace", "namespace", "team", release="af"), live=live)
    assert len(found) == 1 and "Deployment shop" in found[0] and "af-scheduler" not in found[0]
    assert "px_namespace_shared: true" in found[0]
    assert run(check("px_namespace", "namespace", "team", release="af", allow_foreign=True), live=live) == []


SECRET = "/api/v1/namespaces/airflow/secrets/af-postgresql-external"


@pytest.mark.parametrize(
    "mode, live, allow, words",
    [
        ("internal", {}, False, None),
        ("external", {}, False, None),
        (
            "external",
            {STS: sts("postgres:17.6")},
            False,
            ["from the internal PostgreSQL", "postgres_allow_mode_switch"],
        ),
        ("external", {STS: sts("postgres:17.6")}, True, None),
        ("internal", {SECRET: {"data": {}}}, False, ["from the external one", "new, empty internal"]),
        ("internal", {SECRET: {"data": {}}, STS: sts("postgres:17.6")}, False, None),
    ],
)
def test_switching_databases_is_refused_unless_asked(mode, live, allow, words):
    found = run(
        check(
            "postgres_mode",
            "database_mode",
            mode,
            namespace="airflow",
            statefulset="af-postgresql",
            external_secret="af-postgresql-external",
            allow_switch=allow,
        ),
        live=live,
    )
    if words is None:
        assert found == []
    else:
        assert len(found) == 1 and all(w in found[0] for w in words), found


def test_without_a_reader_nothing_is_read_and_the_settings_are_checked_alone():
    found = pf.problems([check("postgres_storage_size", "claim_size", "1Gi", namespace="a", claim="c")], None)
    assert found == []
    found = pf.problems([check("px_namespace", "namespace", "kube-system")], None)
    assert len(found) == 1


def test_the_schema_knows_the_options_the_role_sets():
    # The role's own airflow.cfg options must be known to the table, or the rule would refuse them.
    for section, key in [
        ("core", "executor"),
        ("kubernetes_executor", "namespace"),
        ("dag_processor", "refresh_interval"),
    ]:
        assert key in pf.SECTIONS[section]


def test_a_role_setting_filled_from_a_shared_one_is_named_after_it_once():
    aliases = {
        "airflow_namespace": {"setting": "px_namespace", "value": "kube-system"},
        "postgres_namespace": {"setting": "px_namespace", "value": "kube-system"},
    }
    checks = [
        check("postgres_namespace", "namespace", "kube-system"),
        check("airflow_namespace", "namespace", "kube-system"),
    ]
    found = pf.problems(checks, None, aliases)
    assert len(found) == 1 and found[0].startswith("px_namespace: 'kube-system'")


def test_a_role_setting_given_on_its_own_keeps_its_name():
    aliases = {"airflow_namespace": {"setting": "px_namespace", "value": "airflow"}}
    found = pf.problems([check("airflow_namespace", "namespace", "kube-system")], None, aliases)
    assert len(found) == 1 and found[0].startswith("airflow_namespace: 'kube-system'")


@pytest.mark.parametrize(
    "options, rule",
    [
        ({"core": {"fernet_key": "s3cr3t-value"}}, "is a secret"),
        # Not an option of Airflow 3 at all: still a password, so its value is not shown either.
        ({"smtp": {"smtp_password": "s3cr3t-value"}}, "is not an option of [smtp]"),
    ],
)
def test_a_secret_in_airflow_config_is_refused_without_showing_it(options, rule):
    checks = [check("airflow_config", "airflow_config", options), check("x", "not_empty", "x")]
    (found,) = pf.problems(checks, None)
    assert "'(hidden)' " + rule in found and "s3cr3t-value" not in found
    # What the module returns as its module_args: the secret replaced, nothing else touched.
    assert pf.redact_secrets(checks) == 1
    assert "s3cr3t-value" not in repr(checks) and checks[1]["value"] == "x"
