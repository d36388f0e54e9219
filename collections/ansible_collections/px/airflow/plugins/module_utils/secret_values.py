# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generates secret values by kind and plans generate-once changes to a Secret (no API calls)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import string
from urllib.parse import quote

from ansible_collections.px.airflow.plugins.module_utils.errors import InvalidInput

# Letters and digits only: safe in URLs, connection strings, shells and YAML without quoting.
PASSWORD_ALPHABET = string.ascii_letters + string.digits
KINDS = ("fernet", "token", "password", "db_password", "value", "template")
ENCODINGS = ("none", "url")
ROTATABLE = ("fernet", "token")
MIN_LENGTH = {"token": 16, "password": 12, "db_password": 12}


DIGEST_ITERATIONS = 100000


def data_digest(name, data):
    """A digest of a Secret's data that changes exactly when the data does, for pod-template
    checksums: metadata (labels, annotations, resourceVersion) never moves it. A slow, salted key
    derivation (PBKDF2), so the digest shown in a pod template does not make a weak value guessable."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")
    salt = ("px.airflow/secret/%s" % name).encode("utf-8")
    return hashlib.pbkdf2_hmac("sha256", canonical, salt, DIGEST_ITERATIONS).hex()


def fernet_key():
    """A valid Fernet key: 32 random bytes, URL-safe base64 (what Fernet.generate_key returns)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")


def generate(kind, length):
    if kind == "fernet":
        return fernet_key()
    if kind == "token":
        # token_urlsafe(n) draws n random bytes; the text is longer than n.
        return secrets.token_urlsafe(length)
    if kind in ("password", "db_password"):
        return "".join(secrets.choice(PASSWORD_ALPHABET) for dummy in range(length))
    raise InvalidInput("kind %s has no generator" % kind)


def validate_keys(keys, rotate):
    names = [key["name"] for key in keys]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidInput("keys lists %s more than once" % ", ".join(duplicates))
    by_name = {key["name"]: key for key in keys}
    for key in keys:
        if key["kind"] == "template":
            _validate_template(key)
            continue
        if key.get("refs"):
            raise InvalidInput("keys.%s: refs are only for kind=template" % key["name"])
        if key["kind"] == "value" and key.get("value") is None:
            raise InvalidInput("keys.%s has kind=value but no value; give value, or a generated kind" % key["name"])
        if key["kind"] != "value" and key.get("value") is not None:
            raise InvalidInput(
                "keys.%s: value is only for kind=value (kind %s is generated)" % (key["name"], key["kind"])
            )
        minimum = MIN_LENGTH.get(key["kind"])
        if minimum and key.get("length", 32) < minimum:
            raise InvalidInput("keys.%s: length must be at least %d for kind %s" % (key["name"], minimum, key["kind"]))
    for name in rotate or []:
        if name not in by_name:
            raise InvalidInput("rotate names %s, which is not in keys" % name)
        kind = by_name[name]["kind"]
        if kind == "db_password":
            raise InvalidInput(
                "Refusing to rotate %s: a database password must change in the database (ALTER ROLE) at the "
                "same moment, or every component loses its connection. Change it in PostgreSQL first, then "
                "give the new password as kind=value." % name
            )
        if kind not in ROTATABLE:
            raise InvalidInput(
                "Refusing to rotate %s (kind %s): only fernet and token keys rotate safely here; for a "
                "password, change it where it is used and give it as kind=value." % (name, kind)
            )


def _validate_template(key):
    name, text, refs = key["name"], key.get("value"), key.get("refs") or {}
    if not text:
        raise InvalidInput("keys.%s has kind=template but no value: give the text, with ${ref} placeholders" % name)
    try:
        used = {m.group("named") or m.group("braced") for m in string.Template.pattern.finditer(text)} - {None}
        string.Template(text).substitute({ref: "" for ref in used})
    except ValueError as exc:
        raise InvalidInput("keys.%s: the template is malformed (%s); write $$ for a literal $" % (name, exc)) from exc
    missing = sorted(used - set(refs))
    if missing:
        raise InvalidInput(
            "keys.%s: the template uses ${%s} but refs does not define it" % (name, "}, ${".join(missing))
        )
    for ref, source in sorted(refs.items()):
        if not isinstance(source, dict) or not source.get("secret") or not source.get("key"):
            raise InvalidInput("keys.%s: refs.%s needs secret and key (the Secret and key to read)" % (name, ref))
        if source.get("encode", "none") not in ENCODINGS:
            raise InvalidInput("keys.%s: refs.%s.encode must be one of %s" % (name, ref, ", ".join(ENCODINGS)))
        unknown = sorted(set(source) - {"secret", "key", "encode"})
        if unknown:
            raise InvalidInput("keys.%s: refs.%s has unknown option(s) %s" % (name, ref, ", ".join(unknown)))


def render_template(key, read_value):
    """The value of a kind=template key: its text with each ${ref} replaced by the value it names.

    ``read_value(secret, key)`` answers a stored value, or None when the Secret or key is missing.
    Answers None when a referenced value is missing.
    """
    values = {}
    for ref, source in sorted((key.get("refs") or {}).items()):
        value = read_value(source["secret"], source["key"])  # every ref is read, so all missing ones are named
        values[ref] = quote(value, safe="") if value is not None and source.get("encode") == "url" else value
    if any(value is None for value in values.values()):
        return None
    return string.Template(key["value"]).substitute(values)


def plan(existing, keys, rotate):
    """Decide the new data of the Secret.

    ``existing`` maps key name to its current (decoded) value, or is None when the Secret is
    absent. Returns ``(data, added, rotated, updated)``: the full desired data and the names of the
    keys generated, rotated, and replaced by a given value. Existing generated values are never
    replaced; a fernet key is rotated by prepending a new key (``new,old``) so that what was
    encrypted with the old one stays readable.
    """
    current = dict(existing or {})
    data = dict(current)
    added, rotated, updated = [], [], []
    for key in keys:
        name, kind = key["name"], key["kind"]
        if kind in ("value", "template"):
            if current.get(name) != key["value"]:
                data[name] = key["value"]
                (updated if name in current else added).append(name)
            continue
        if name not in current or current[name] == "":
            data[name] = generate(kind, key.get("length", 32))
            added.append(name)
        elif name in (rotate or []):
            new = generate(kind, key.get("length", 32))
            data[name] = "%s,%s" % (new, current[name]) if kind == "fernet" else new
            rotated.append(name)
    return data, added, rotated, updated
