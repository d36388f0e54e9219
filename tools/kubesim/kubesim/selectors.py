"""Label selectors and field selectors, parsed and matched the way apimachinery does.

Label selectors (k8s.io/apimachinery/pkg/labels): comma-separated requirements with the
equality operators `=`, `==`, `!=`, the set operators `in`, `notin`, existence `key` / `!key`,
and the numeric `>` / `<`. Keys and values are validated like the API server does (a bad
selector is a 400 BadRequest). https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors

Field selectors (k8s.io/apimachinery/pkg/fields): `field=value`, `field==value`,
`field!=value`, comma-separated, backslash escapes; only the fields a resource supports are
accepted, anything else is 400 "field label not supported". https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ApiError, bad_request

_NAME_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
    "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
_NAME_PART_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


def _selector_error(detail: str) -> ApiError:
    return bad_request(f"unable to parse requirement: {detail}")


# ---- label selectors ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            # A missing key satisfies != and notin (labels.Requirement.Matches).
            return not present or value not in self.values
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("gt", "lt"):
            if not present:
                return False
            try:
                actual = int(value or "")
            except ValueError:
                return False
            bound = int(self.values[0])
            return actual > bound if self.op == "gt" else actual < bound
        return False


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: dict[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


_TOKEN_RE = re.compile(r"\s*(!=|==|=|!|\(|\)|,|>|<|[^\s!=(),<>]+)")


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m:
            raise _selector_error(f"found '{text[pos:]}', expected: identifier")
        tokens.append(m.group(1))
        pos = m.end()
    return tokens


def validate_label_key(key: str) -> str | None:
    """Qualified name check for a label key; returns an error text or None."""
    if not key:
        return "name part must be non-empty"
    prefix, _, name = key.rpartition("/")
    if "/" in key:
        if not prefix:
            return "prefix part must be non-empty"
        if len(prefix) > 253 or not _DNS_SUBDOMAIN_RE.match(prefix):
            return "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters"
    if not name:
        return "name part must be non-empty"
    if len(name) > 63:
        return "name part must be no more than 63 characters"
    if not _NAME_RE.match(name):
        return _NAME_PART_MSG
    return None


def validate_label_value(value: str) -> str | None:
    if len(value) > 63:
        return "must be no more than 63 characters"
    if not _NAME_RE.match(value):
        return _LABEL_VALUE_MSG
    return None


class _LabelParser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str | None:
        tok = self.peek()
        self.pos += 1
        return tok

    def parse(self) -> LabelSelector:
        reqs: list[Requirement] = []
        while self.peek() is not None:
            reqs.append(self.requirement())
            tok = self.take()
            if tok is None:
                break
            if tok != ",":
                raise _selector_error(f"found '{tok}', expected: ',' or 'end of string'")
        return LabelSelector(tuple(reqs))

    def _key(self, tok: str | None) -> str:
        if tok is None or tok in ("!=", "==", "=", "!", "(", ")", ",", ">", "<"):
            raise _selector_error(f"found '{tok or ''}', expected: identifier")
        err = validate_label_key(tok)
        if err:
            raise _selector_error(f'key: Invalid value: "{tok}": {err}')
        return tok

    def requirement(self) -> Requirement:
        tok = self.take()
        if tok == "!":
            return Requirement(self._key(self.take()), "!")
        key = self._key(tok)
        op = self.peek()
        if op is None or op == ",":
            return Requirement(key, "exists")
        self.take()
        if op in ("=", "=="):
            return Requirement(key, "=", (self._value(),))
        if op == "!=":
            return Requirement(key, "!=", (self._value(),))
        if op in (">", "<"):
            value = self._value()
            if not re.fullmatch(r"-?\d+", value):
                raise _selector_error(f"for 'Gt', 'Lt' operators, the value must be an integer: {value}")
            return Requirement(key, "gt" if op == ">" else "lt", (value,))
        if op in ("in", "notin"):
            return Requirement(key, op, self._value_set())
        raise _selector_error(f"found '{op}', expected: '=', '!=', '==', 'in', notin'")

    def _value(self) -> str:
        tok = self.peek()
        if tok is None or tok in (",", ")"):
            value = ""
        elif tok in ("!=", "==", "=", "!", "(", ">", "<"):
            raise _selector_error(f"found '{tok}', expected: identifier")
        else:
            value = tok
            self.take()
        err = validate_label_value(value)
        if err:
            raise _selector_error(f'values[0][key]: Invalid value: "{value}": {err}')
        return value

    def _value_set(self) -> tuple[str, ...]:
        if self.take() != "(":
            raise _selector_error("found '', expected: '('")
        values: list[str] = []
        while True:
            tok = self.peek()
            if tok == ")":
                self.take()
                break
            if tok is None:
                raise _selector_error("found '', expected: ')'")
            if tok == ",":
                self.take()
                if self.peek() in (",", ")"):
                    values.append("")
                continue
            values.append(self._value())
        if not values:
            raise _selector_error("for 'in', 'notin' operators, values set can't be empty")
        return tuple(values)


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse a labelSelector query parameter (empty or None selects everything)."""
    if not text or not text.strip():
        return LabelSelector()
    return _LabelParser(text).parse()


def label_selector_from_dict(selector: dict[str, Any] | None) -> LabelSelector:
    """A metav1.LabelSelector (matchLabels / matchExpressions) as a LabelSelector."""
    if not selector:
        return LabelSelector()
    reqs = [Requirement(k, "=", (str(v),)) for k, v in (selector.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in selector.get("matchExpressions") or []:
        reqs.append(
            Requirement(expr.get("key", ""), ops.get(expr.get("operator", ""), "in"), tuple(expr.get("values") or ()))
        )
    return LabelSelector(tuple(reqs))


def label_selector_to_string(selector: dict[str, Any] | None) -> str:
    """Render a metav1.LabelSelector the way the Scale subresource reports status.selector."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op, key, values = expr.get("operator"), expr.get("key"), ",".join(sorted(expr.get("values") or []))
        parts.append(
            {
                "In": f"{key} in ({values})",
                "NotIn": f"{key} notin ({values})",
                "Exists": f"{key}",
                "DoesNotExist": f"!{key}",
            }.get(op, "")
        )
    return ",".join(p for p in parts if p)


# ---- field selectors ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    op: str  # "=" or "!="
    value: str


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: dict[str, Any]) -> bool:
        for req in self.requirements:
            actual = field_value(obj, req.field)
            if (actual == req.value) != (req.op == "="):
                return False
        return True

    @property
    def empty(self) -> bool:
        return not self.requirements

    def exact(self, field: str) -> str | None:
        """The value required by `field=value`, when present (lets get/list short-cut by name)."""
        for req in self.requirements:
            if req.field == field and req.op == "=":
                return req.value
        return None


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, current, escaped = [], [], False
    for ch in text:
        if escaped:
            current.append("\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    out, escaped = [], False
    for ch in text:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        else:
            out.append(ch)
    return "".join(out)


def _split_term(term: str) -> tuple[str, str, str] | None:
    i = 0
    while i < len(term):
        ch = term[i]
        if ch == "\\":
            i += 2
            continue
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], ("=" if op == "==" else op), term[i + len(op) :]
        i += 1
    return None


def parse_field_selector(text: str | None, allowed: tuple[str, ...]) -> FieldSelector:
    """Parse a fieldSelector; fields outside `allowed` are a 400 like the real API server."""
    if not text or not text.strip():
        return FieldSelector()
    reqs: list[FieldRequirement] = []
    for term in _split_unescaped(text, ","):
        if not term:
            continue
        split = _split_term(term)
        if split is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        field, op, value = split
        field = field.strip()
        if field not in allowed:
            raise bad_request(f"field label not supported: {field}")
        reqs.append(FieldRequirement(field, op, _unescape(value)))
    return FieldSelector(tuple(reqs))


# Fields whose selector value is not the plain nested field.
_FIELD_ALIASES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "source": lambda obj: (obj.get("source") or {}).get("component", ""),
}


# Go zero values of non-string selectable fields: an absent bool matches "false", an int "0".
_ZERO_VALUES = {
    "spec.hostNetwork": "false",
    "spec.unschedulable": "false",
    "status.successful": "0",
    "status.replicas": "0",
}


def field_value(obj: dict[str, Any], field: str) -> str:
    """The string value a field selector compares against (empty when absent)."""
    alias = _FIELD_ALIASES.get(field)
    value: Any = obj
    if alias is not None:
        value = alias(obj)
    else:
        for part in field.split("."):
            value = value.get(part) if isinstance(value, dict) else None
            if value is None:
                break
    if value is None:
        return _ZERO_VALUES.get(field, "")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
