# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generate-once planning of Secret values: never overwrite, rotate only where safe."""

from __future__ import annotations

import base64
import re
import string

import pytest
from ansible_collections.px.airflow.plugins.module_utils import secret_values as sv
from ansible_collections.px.airflow.plugins.module_utils.errors import InvalidInput

KEYS = [
    {"name": "fernet-key", "kind": "fernet", "length": 32, "value": None},
    {"name": "jwt-secret", "kind": "token", "length": 64, "value": None},
    {"name": "admin-password", "kind": "password", "length": 20, "value": None},
    {"name": "db-password", "kind": "db_password", "length": 24, "value": None},
]


def test_fernet_key_is_a_valid_fernet_key():
    from cryptography.fernet import Fernet

    key = sv.fernet_key()
    assert len(base64.urlsafe_b64decode(key)) == 32
    assert Fernet(key.encode()).decrypt(Fernet(key.encode()).encrypt(b"x")) == b"x"


@pytest.mark.parametrize(
    "kind, length, check",
    [
        ("token", 64, lambda v: len(base64.urlsafe_b64decode(v + "=" * (-len(v) % 4))) == 64),
        ("password", 20, lambda v: len(v) == 20 and set(v) <= set(string.ascii_letters + string.digits)),
        ("db_password", 12, lambda v: len(v) == 12 and v.isalnum()),
    ],
)
def test_generate_by_kind(kind, length, check):
    values = {sv.generate(kind, length) for dummy in range(5)}
    assert len(values) == 5 and all(check(v) for v in values)


def test_plan_generates_everything_for_a_new_secret():
    data, added, rotated, updated = sv.plan(None, KEYS, [])
    assert sorted(added) == sorted(k["name"] for k in KEYS) and rotated == [] and updated == []
    assert len(data["admin-password"]) == 20


def test_plan_never_overwrites_existing_values():
    existing = {"fernet-key": "F", "jwt-secret": "J", "admin-password": "A", "db-password": "D", "other": "kept"}
    data, added, rotated, updated = sv.plan(existing, KEYS, [])
    assert data == existing and (added, rotated, updated) == ([], [], [])


def test_plan_adds_only_missing_keys():
    data, added = sv.plan({"fernet-key": "F"}, KEYS, [])[:2]
    assert data["fernet-key"] == "F" and "fernet-key" not in added and len(added) == 3


def test_fernet_rotation_prepends_the_new_key():
    data, _added, rotated, _updated = sv.plan({"fernet-key": "OLD"}, KEYS[:1], ["fernet-key"])
    new, old = data["fernet-key"].split(",")
    assert old == "OLD" and rotated == ["fernet-key"] and len(base64.urlsafe_b64decode(new)) == 32


def test_token_rotation_replaces_the_token():
    data, _added, rotated, _updated = sv.plan({"jwt-secret": "OLD"}, KEYS[1:2], ["jwt-secret"])
    assert data["jwt-secret"] != "OLD" and "," not in data["jwt-secret"] and rotated == ["jwt-secret"]


def test_given_values_replace_stored_ones_and_report_it():
    keys = [{"name": "host", "kind": "value", "length": 32, "value": "db.example"}]
    assert sv.plan({"host": "db.example"}, keys, [])[3] == []
    data, added, _rotated, updated = sv.plan({"host": "old.example"}, keys, [])
    assert data["host"] == "db.example" and updated == ["host"] and added == []


@pytest.mark.parametrize(
    "keys, rotate, message",
    [
        (KEYS, ["db-password"], "Refusing to rotate db-password: a database password must change in the database"),
        (KEYS, ["admin-password"], "only fernet and token keys rotate safely"),
        (KEYS, ["nope"], "rotate names nope, which is not in keys"),
        (KEYS + KEYS[:1], [], "keys lists fernet-key more than once"),
        ([{"name": "v", "kind": "value", "length": 32, "value": None}], [], "keys.v has kind=value but no value"),
        ([{"name": "t", "kind": "token", "length": 32, "value": "x"}], [], "value is only for kind=value"),
        ([{"name": "p", "kind": "password", "length": 6, "value": None}], [], "length must be at least 12"),
    ],
)
def test_validate_keys_refuses_unsafe_or_contradictory_input(keys, rotate, message):
    with pytest.raises(InvalidInput) as err:
        sv.validate_keys(keys, rotate)
    assert message in err.value.msg


TEMPLATE = {
    "name": "connection",
    "kind": "template",
    "length": 32,
    "value": "postgresql://airflow:${password}@db:5432/airflow?cost=$$5",
    "refs": {"password": {"secret": "db", "key": "password", "encode": "url"}},
}


def test_a_template_is_rendered_from_the_secret_it_refers_to():
    stored = {("db", "password"): "p/ss@w:rd%"}
    value = sv.render_template(TEMPLATE, lambda secret, key: stored.get((secret, key)))
    assert value == "postgresql://airflow:p%2Fss%40w%3Ard%25@db:5432/airflow?cost=$5"


def test_a_template_whose_source_is_missing_renders_to_none():
    assert sv.render_template(TEMPLATE, lambda secret, key: None) is None


def test_a_rendered_template_replaces_a_stale_value_and_leaves_a_current_one():
    key = dict(TEMPLATE, value="postgresql://new")
    data, added, rotated, updated = sv.plan({"connection": "postgresql://old"}, [key], [])
    assert data["connection"] == "postgresql://new" and updated == ["connection"] and added == rotated == []
    assert sv.plan({"connection": "postgresql://new"}, [key], [])[1:] == ([], [], [])


@pytest.mark.parametrize(
    "change, message",
    [
        ({"value": None}, "kind=template but no value"),
        ({"value": "x${other}"}, "uses ${other} but refs does not define it"),
        ({"value": "x$"}, "the template is malformed"),
        ({"refs": {"password": {"secret": "db"}}}, "refs.password needs secret and key"),
        ({"refs": {"password": {"secret": "db", "key": "k", "encode": "b64"}}}, "encode must be one of none, url"),
        ({"refs": {"password": {"secret": "db", "key": "k", "namespace": "x"}}}, "unknown option(s) namespace"),
    ],
)
def test_bad_templates_are_refused(change, message):
    with pytest.raises(InvalidInput, match=re.escape(message)):
        sv.validate_keys([dict(TEMPLATE, **change)], [])


def test_refs_belong_to_templates_only():
    key = {"name": "token", "kind": "token", "length": 32, "value": None, "refs": {"x": {"secret": "a", "key": "b"}}}
    with pytest.raises(InvalidInput, match="refs are only for kind=template"):
        sv.validate_keys([key], [])


def test_the_data_digest_follows_the_data_only():
    data = {"fernet-key": "k1", "admin-password": "pw"}
    digest = sv.data_digest("af-airflow-secrets", data)
    assert digest == sv.data_digest("af-airflow-secrets", dict(reversed(list(data.items()))))
    assert digest != sv.data_digest("af-airflow-secrets", {**data, "admin-password": "pw2"})
    assert digest != sv.data_digest("other-secret", data)  # salted by the Secret's name
    assert "pw" not in digest and len(digest) == 64
