"""Validation of every write, as the kube-apiserver validates it.

Two phases, in the real server's order:

1. Decoding (`_Decoder`): the body is checked against the served version's OpenAPI schema the way
   Go's JSON decoder sees it. A value of the wrong type is a 400 BadRequest
   (`Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal ...`), as
   is a malformed quantity or base64 string. Unknown fields follow `fieldValidation` (KEP-2885):
   Strict answers 400 `strict decoding error: unknown field "spec.foo"`, Warn (the default) drops
   them and returns `unknown field "spec.foo"` warnings, Ignore drops them silently. JSON nulls
   mean "unset" and are dropped.
2. Validation (`_Validator`): the Go validation of pkg/apis/*/validation for the kinds we use:
   required values, names, labels and annotations, the server-side rules beyond the schema, size
   limits, and on update the immutability rules. Problems are a 422 Invalid whose causes carry
   the real reasons, field paths and messages (field.Error.ErrorBody in
   k8s.io/apimachinery/pkg/util/validation/field/errors.go).

Custom resources are validated against their CRD's structural schema (`crd_schema`): unknown
fields are pruned (honouring x-kubernetes-preserve-unknown-fields), types and the usual
JSON-schema keywords checked with the messages the apiextensions server uses.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import Any

from . import errors, quantity
from .admission import namespace_label_errors
from .schemas import Schemas, is_closed_object, is_map, split_api_version, types_of

STRICT, WARN, IGNORE = "Strict", "Warn", "Ignore"
FIELD_VALIDATION_VALUES = (STRICT, WARN, IGNORE)

# Size limits (pkg/apis/core/types.go, apimachinery ValidateAnnotationsSize).
MAX_ANNOTATIONS_SIZE = 256 * 1024  # TotalAnnotationSizeLimitB
MAX_DATA_SIZE = 1024 * 1024  # MaxSecretSize, MaxConfigMapSize

# -- messages of k8s.io/apimachinery/pkg/util/validation -------------------------------------------

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + "(\\." + DNS1123_LABEL_FMT + ")*"
QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE_FMT = "(" + QUALIFIED_NAME_FMT + ")?"
CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
ENV_VAR_FMT = "[-._a-zA-Z][-._a-zA-Z0-9]*"

_DNS1123_LABEL = re.compile(f"^{DNS1123_LABEL_FMT}$")
_DNS1123_SUBDOMAIN = re.compile(f"^{DNS1123_SUBDOMAIN_FMT}$")
_QUALIFIED_NAME = re.compile(f"^{QUALIFIED_NAME_FMT}$")
_LABEL_VALUE = re.compile(f"^{LABEL_VALUE_FMT}$")
_CONFIG_KEY = re.compile(f"^{CONFIG_KEY_FMT}$")
_ENV_VAR = re.compile(f"^{ENV_VAR_FMT}$")
_PORT_NAME_CHARS = re.compile(r"^[-a-z0-9]+$")
_PERCENT = re.compile(r"^[0-9]+%$")


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """validation.RegexError: note the doubled space before each ' or' (the Go code's own quirk)."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def is_dns1123_label(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append(max_len_error(63))
    if not _DNS1123_LABEL.match(value):
        errs.append(
            regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                "and must start and end with an alphanumeric character",
                DNS1123_LABEL_FMT,
                "my-name",
                "123-abc",
            )
        )
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    errs = []
    if len(value) > 253:
        errs.append(max_len_error(253))
    if not _DNS1123_SUBDOMAIN.match(value):
        errs.append(
            regex_error(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                "and must start and end with an alphanumeric character",
                DNS1123_SUBDOMAIN_FMT,
                "example.com",
            )
        )
    return errs


def is_qualified_name(value: str) -> list[str]:
    """validation.IsQualifiedName: [prefix/]name, the grammar of label keys and annotation keys."""
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            return ["prefix part must be non-empty"]
        errs = [f"prefix part {msg}" for msg in is_dns1123_subdomain(prefix)]
        if errs:
            return errs
    else:
        return [
            "a qualified name "
            + regex_error(
                "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                "alphanumeric character",
                QUALIFIED_NAME_FMT,
                "MyName",
                "my.name",
                "123-abc",
            )
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        return ["name part must be non-empty"]
    errs = []
    if len(name) > 63:
        errs.append("name part " + max_len_error(63))
    if not _QUALIFIED_NAME.match(name):
        errs.append(
            "name part "
            + regex_error(
                "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                "alphanumeric character",
                QUALIFIED_NAME_FMT,
                "MyName",
                "my.name",
                "123-abc",
            )
        )
    return errs


def is_valid_label_value(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append(max_len_error(63))
    if not _LABEL_VALUE.match(value):
        errs.append(
            regex_error(
                "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                "and must start and end with an alphanumeric character",
                LABEL_VALUE_FMT,
                "MyValue",
                "my_value",
                "12345",
            )
        )
    return errs


def is_config_map_key(value: str) -> list[str]:
    errs = []
    if len(value) > 253:
        errs.append(max_len_error(253))
    if not _CONFIG_KEY.match(value):
        errs.append(
            regex_error(
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                CONFIG_KEY_FMT,
                "key.name",
                "KEY_NAME",
                "key-name",
            )
        )
    if value == ".":
        errs.append("must not be '.'")
    elif value == "..":
        errs.append("must not be '..'")
    elif value.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def is_valid_port_num(port: int) -> list[str]:
    return [] if 1 <= port <= 65535 else ["must be between 1 and 65535, inclusive"]


def is_valid_port_name(name: str) -> list[str]:
    """validation.IsValidPortName: an IANA_SVC_NAME."""
    errs = []
    if len(name) > 15:
        errs.append(max_len_error(15))
    if not _PORT_NAME_CHARS.match(name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name and (name[0] == "-" or name[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def is_env_var_name(name: str, relaxed: bool) -> list[str]:
    """Env var names; relaxed (any printable ASCII but '=') from 1.32 (RelaxedEnvironmentVariableValidation beta)."""
    if relaxed:
        if not name or any(not (32 <= ord(ch) <= 126) or ch == "=" for ch in name):
            return ["a valid environment variable name must consist only of printable ASCII characters other than '='"]
        return []
    errs = []
    if not _ENV_VAR.match(name):
        errs.append(
            regex_error(
                "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', "
                "and must not start with a digit",
                ENV_VAR_FMT,
                "my.env-name",
                "MY_ENV.NAME",
                "MyEnvName1",
            )
        )
    return errs


# -- Go-style rendering of bad values (field.Error.ErrorBody) -----------------------------------------


class GoValue:
    """A bad value already rendered the way Go's %#v would print it (structs, pointers)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def go_quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def go_repr(value: Any) -> str:
    """How field.Error prints a bad value: %v for numbers and bools, %q for strings, %#v otherwise."""
    if isinstance(value, GoValue):
        return value.text
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        body = ", ".join(f"{go_quote(k)}:{go_quote(v)}" for k, v in sorted(value.items()))
        return f"map[string]string{{{body}}}"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[]string{" + ", ".join(go_quote(v) for v in value) + "}"
    return json.dumps(value, sort_keys=True)


def go_selector(selector: dict | None) -> GoValue:
    """%#v of a *metav1.LabelSelector, as in `spec.selector: Invalid value: v1.LabelSelector{...}`."""
    selector = selector or {}
    labels = selector.get("matchLabels")
    labels_text = go_repr(labels) if labels else "map[string]string(nil)"
    exprs = selector.get("matchExpressions")
    if exprs:
        items = ", ".join(
            f"v1.LabelSelectorRequirement{{Key:{go_quote(e.get('key', ''))}, "
            f"Operator:{go_quote(e.get('operator', ''))}, Values:{go_repr(e.get('values') or [])}}}"
            for e in exprs
        )
        exprs_text = f"[]v1.LabelSelectorRequirement{{{items}}}"
    else:
        exprs_text = "[]v1.LabelSelectorRequirement(nil)"
    return GoValue(f"v1.LabelSelector{{MatchLabels:{labels_text}, MatchExpressions:{exprs_text}}}")


_REASONS = {
    "Required value": "FieldValueRequired",
    "Invalid value": "FieldValueInvalid",
    "Unsupported value": "FieldValueNotSupported",
    "Forbidden": "FieldValueForbidden",
    "Duplicate value": "FieldValueDuplicate",
    "Not found": "FieldValueNotFound",
    "Too long": "FieldValueTooLong",
    "Too many": "FieldValueTooMany",
}


class FieldErrors:
    """A field.ErrorList: collects causes in the order the Go validation would find them."""

    def __init__(self) -> None:
        self.causes: list[dict[str, str]] = []

    def __bool__(self) -> bool:
        return bool(self.causes)

    def _add(self, kind: str, path: str, body: str) -> None:
        cause = {"reason": _REASONS[kind], "message": body, "field": path}
        if cause not in self.causes:  # ErrorList.ToAggregate drops exact duplicates
            self.causes.append(cause)

    @staticmethod
    def _with_detail(body: str, detail: str) -> str:
        return f"{body}: {detail}" if detail else body

    def required(self, path: str, detail: str = "") -> None:
        self._add("Required value", path, self._with_detail("Required value", detail))

    def forbidden(self, path: str, detail: str = "") -> None:
        self._add("Forbidden", path, self._with_detail("Forbidden", detail))

    def invalid(self, path: str, value: Any, detail: str = "") -> None:
        self._add("Invalid value", path, self._with_detail(f"Invalid value: {go_repr(value)}", detail))

    def not_supported(self, path: str, value: Any, supported: Iterable[str]) -> None:
        detail = "supported values: " + ", ".join(go_quote(v) for v in supported)
        self._add("Unsupported value", path, f"Unsupported value: {go_repr(value)}: {detail}")

    def duplicate(self, path: str, value: Any) -> None:
        self._add("Duplicate value", path, f"Duplicate value: {go_repr(value)}")

    def not_found(self, path: str, value: Any) -> None:
        self._add("Not found", path, f"Not found: {go_repr(value)}")

    def too_long(self, path: str, max_bytes: int) -> None:
        self._add("Too long", path, f"Too long: must have at most {max_bytes} bytes")

    def too_many(self, path: str, actual: int, maximum: int) -> None:
        self._add("Too many", path, f"Too many: {actual}: must have at most {maximum} items")

    def each(self, path: str, value: Any, messages: Iterable[str]) -> None:
        for message in messages:
            self.invalid(path, value, message)


# -- phase 1: decoding ----------------------------------------------------------------------------


def _go_type_name(schemas: Schemas, raw: dict | None) -> str:
    """A Go type name for a schema node ('int32', '[]v1.Container', 'map[string]string', 'v1.PodSpec')."""
    if not raw:
        return "interface {}"
    if "$ref" in raw:
        name = raw["$ref"].rsplit("/", 1)[-1]
        parts = name.split(".")
        return f"{parts[-2]}.{parts[-1]}" if len(parts) > 1 else name
    node = schemas.resolve(raw) or {}
    types = types_of(node)
    if "array" in types:
        return "[]" + _go_type_name(schemas, node.get("items"))
    if "object" in types and is_map(node):
        return "map[string]" + _go_type_name(schemas, node["additionalProperties"])
    if "integer" in types:
        return node.get("format") or "int64"
    if "number" in types:
        return "float64"
    if "boolean" in types:
        return "bool"
    if "string" in types:
        return "[]uint8" if node.get("format") == "byte" else "string"
    return "map[string]interface {}"


def _json_kind(value: Any) -> str:
    """The `Value` of Go's UnmarshalTypeError: how JSON calls what it found."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _one_of_kind(node: dict) -> str | None:
    """Quantity (string|number) and IntOrString (string|integer) are the oneOf shapes of the schemas."""
    choices = node.get("oneOf")
    if not choices:
        return None
    kinds = {t for choice in choices for t in types_of(choice)}
    if kinds == {"string", "number"}:
        return "quantity"
    if kinds == {"string", "integer"}:
        return "int-or-string"
    return None


# Fields the OpenAPI schema lists as required but Go validation treats otherwise (a value struct that may
# be empty, or a check with its own message, which the kind rules below give).
_NOT_REQUIRED_BY_GO = {
    ("NetworkPolicySpec", "podSelector"),
    ("DeploymentSpec", "template"),
    ("StatefulSetSpec", "template"),
    ("DaemonSetSpec", "template"),
    ("JobSpec", "template"),
    ("CronJobSpec", "jobTemplate"),
    ("ServicePort", "port"),
    ("HTTPGetAction", "port"),
    ("TCPSocketAction", "port"),
    ("GRPCAction", "port"),
    ("HTTPHeader", "value"),
    ("Sysctl", "value"),
    ("RoleRef", "apiGroup"),
    ("RoleRef", "kind"),
    ("Subject", "kind"),
    ("PolicyRule", "verbs"),
    ("PersistentVolumeClaimTemplate", "spec"),
    ("LabelSelectorRequirement", "operator"),
    ("SeccompProfile", "type"),
    ("AppArmorProfile", "type"),
    ("ControllerRevision", "revision"),
}


class _Decoder:
    """Walks a body against a schema like Go's decoder: type errors, unknown fields, nulls."""

    def __init__(self, schemas: Schemas) -> None:
        self.schemas = schemas
        self.unknown: list[tuple[dict, str, str]] = []  # (parent, key, path)
        self.missing: list[str] = []  # paths of absent required fields
        self.first_error: str | None = None

    def fail(self, message: str) -> None:
        if self.first_error is None:
            self.first_error = message

    def type_error(self, value: Any, struct: str, gopath: str, raw: dict | None) -> None:
        found = _json_kind(value)
        target = _go_type_name(self.schemas, raw)
        if isinstance(value, float) and target.startswith(("int", "uint")):
            found = f"number {value!r}"  # Go names the literal when a fraction meets an integer field
        if struct or gopath:
            self.fail(f"json: cannot unmarshal {found} into Go struct field {struct}.{gopath} of type {target}")
        else:
            self.fail(f"json: cannot unmarshal {found} into Go value of type {target}")

    def walk(self, value: Any, raw: dict | None, path: str, gopath: str, struct: str) -> None:
        """`raw` is the unresolved schema node (its $ref names the Go type of this value)."""
        node = self.schemas.resolve(raw) if raw else None
        if node is None:
            return
        special = _one_of_kind(node)
        if special == "quantity":
            self._quantity(value)
            return
        if special == "int-or-string":
            if isinstance(value, bool) or not isinstance(value, int | str):
                # IntOrString.UnmarshalJSON decodes non-strings with a fresh json.Unmarshal: no field context.
                found = f"number {value!r}" if isinstance(value, float) else _json_kind(value)
                self.fail(f"json: cannot unmarshal {found} into Go value of type int32")
            return
        types = types_of(node)
        if not types:
            return  # JSON / free-form: anything goes
        if "object" in types:
            self._object(value, raw, node, path, gopath, struct)
        elif "array" in types:
            self._array(value, raw, node, path, gopath, struct)
        else:
            self._scalar(value, raw, node, types, struct, gopath)

    def _object(self, value: Any, raw: dict, node: dict, path: str, gopath: str, struct: str) -> None:
        if not isinstance(value, dict):
            self.type_error(value, struct, gopath, raw)
            return
        props = node.get("properties")
        if props is None and not is_map(node):
            return  # RawExtension, FieldsV1, ...: not walked
        if "$ref" in raw:
            struct = raw["$ref"].rsplit(".", 1)[-1]
        closed = is_closed_object(node)
        values_schema = node.get("additionalProperties") if is_map(node) else None
        for key in node.get("required") or ():
            if value.get(key) is None and (struct, key) not in _NOT_REQUIRED_BY_GO:
                self.missing.append(f"{path}.{key}" if path else key)
        for key, item in list(value.items()):
            child_path = f"{path}.{key}" if path else key
            if item is None:
                del value[key]  # null means unset; the stored object omits it
                continue
            if props is not None and key in props:
                self.walk(item, props[key], child_path, f"{gopath}.{key}" if gopath else key, struct)
            elif values_schema is not None:
                self.walk(item, values_schema, f"{path}[{key}]", f"{gopath}.{key}" if gopath else key, struct)
            elif closed:
                self.unknown.append((value, key, child_path))

    def _array(self, value: Any, raw: dict, node: dict, path: str, gopath: str, struct: str) -> None:
        if not isinstance(value, list):
            self.type_error(value, struct, gopath, raw)
            return
        items = node.get("items")
        for index, item in enumerate(value):
            if item is None:
                continue
            self.walk(item, items, f"{path}[{index}]", gopath, struct)

    def _scalar(self, value: Any, raw: dict, node: dict, types: tuple[str, ...], struct: str, gopath: str) -> None:
        if "string" in types:
            if not isinstance(value, str):
                self.type_error(value, struct, gopath, raw)
            elif node.get("format") == "byte":
                self._base64(value)
        elif "integer" in types:
            if isinstance(value, bool) or not isinstance(value, int):
                self.type_error(value, struct, gopath, raw)
            elif node.get("format") == "int32" and not -(2**31) <= value < 2**31:
                self.fail(f"json: cannot unmarshal number {value} into Go struct field {struct}.{gopath} of type int32")
        elif "number" in types:
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.type_error(value, struct, gopath, raw)
        elif "boolean" in types and not isinstance(value, bool):
            self.type_error(value, struct, gopath, raw)

    def _quantity(self, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.fail(quantity.ERR_FORMAT_WRONG)
            return
        try:
            quantity.parse(value)
        except quantity.QuantityError as exc:
            self.fail(str(exc))

    def _base64(self, value: str) -> None:
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            self.fail(f"illegal base64 data at input byte {_bad_base64_offset(value)}")


def _bad_base64_offset(value: str) -> int:
    """The byte offset Go's base64.CorruptInputError reports (first character outside the alphabet)."""
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    for index, char in enumerate(value):
        if char not in alphabet:
            if char == "=" and index >= len(value) - 2 and len(value) % 4 == 0:
                continue
            return index
    return len(value) - (len(value) % 4)


def _decode(obj: dict, schemas: Schemas, field_validation: str, kind: str, version: str) -> tuple[list[str], list[str]]:
    """Decode-phase checks; returns (warnings, paths of missing required fields)."""
    decoder = _Decoder(schemas)
    decoder.walk(obj, {"$ref": f"#/$defs/{schemas.definition_name(obj['apiVersion'], kind)}"}, "", "", "")
    if decoder.first_error:
        raise errors.bad_request(f'{kind} in version "{version}" cannot be handled as a {kind}: {decoder.first_error}')
    return _handle_unknown(decoder.unknown, field_validation), decoder.missing


def _handle_unknown(unknown: list[tuple[dict, str, str]], field_validation: str) -> list[str]:
    if not unknown:
        return []
    texts = [f'unknown field "{path}"' for _, _, path in unknown]
    if field_validation == STRICT:
        raise errors.bad_request("strict decoding error: " + ", ".join(texts))
    for parent, key, _ in unknown:
        parent.pop(key, None)
    return texts if field_validation == WARN else []


# -- phase 2: validation helpers ------------------------------------------------------------------


def _get(obj: Any, *keys: str | int, default: Any = None) -> Any:
    for key in keys:
        if isinstance(key, int):
            if not isinstance(obj, list) or key >= len(obj):
                return default
            obj = obj[key]
        else:
            if not isinstance(obj, dict) or key not in obj:
                return default
            obj = obj[key]
    return default if obj is None else obj


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _nonneg(errs: FieldErrors, path: str, value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        errs.invalid(path, value, "must be greater than or equal to 0")


def _positive(errs: FieldErrors, path: str, value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and value <= 0:
        errs.invalid(path, value, "must be greater than zero")


def _enum(errs: FieldErrors, path: str, value: Any, supported: list[str], *, required: bool = False) -> None:
    if value in (None, ""):
        if required:
            errs.not_supported(path, value or "", supported)
        return
    if value not in supported:
        errs.not_supported(path, value, supported)


def selector_matches(selector: dict | None, labels: dict | None) -> bool:
    """metav1.LabelSelectorAsSelector(...).Matches(labels)."""
    labels = labels or {}
    selector = selector or {}
    for key, want in _dict(selector.get("matchLabels")).items():
        if labels.get(key) != want:
            return False
    for expr in _list(selector.get("matchExpressions")):
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def _selector_empty(selector: dict | None) -> bool:
    selector = selector or {}
    return not selector.get("matchLabels") and not selector.get("matchExpressions")


# -- phase 2: the validator -----------------------------------------------------------------------

# Kinds whose names are DNS-1123 labels rather than subdomains (ValidateXName in pkg/apis/*/validation).
_LABEL_NAMED_KINDS = {"Namespace", "Service"}
# Path segment names (rbac ...): anything but "." / ".." / containing "/" or "%" (ValidatePathSegmentName).
_PATH_SEGMENT_NAMED_KINDS = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "PriorityClass"}
_STANDARD_FINALIZERS = {"kubernetes", "orphan", "foregroundDeletion"}
_STANDARD_RESOURCES = {"cpu", "memory", "ephemeral-storage", "storage"}
_ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]
_PROTOCOLS = ["SCTP", "TCP", "UDP"]
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
_LIFECYCLE_HANDLERS = ("exec", "httpGet", "tcpSocket", "sleep")
_VOLUME_SOURCES = (
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
)
_POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
    "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)
_STATEFULSET_FORBIDDEN = (
    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
    "'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
)
_PVC_IMMUTABLE = (
    "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"
)
_IMMUTABLE_WHEN_SET = "field is immutable when `immutable` is set"
_BETA_CLASS = "volume.beta.kubernetes.io/storage-class"


def _minor(version: str) -> int:
    return int(version.split(".")[1])


class _Validator:
    """The Go validation of one object (and, on update, of the change from `old`)."""

    def __init__(
        self, obj: dict, old: dict | None, version: str, pvc_expansion_allowed: bool | None, *, builtin: bool = True
    ) -> None:
        self.obj = obj
        self.builtin = builtin
        self.old = old
        self.minor = _minor(version)
        self.errs = FieldErrors()
        self.pvc_expansion_allowed = pvc_expansion_allowed

    # -- entry ----------------------------------------------------------------------------------

    def run(self) -> FieldErrors:
        kind = self.obj.get("kind", "")
        self.metadata(kind)
        rule = getattr(self, f"kind_{kind}", None)
        if rule:
            rule(self.obj)
        if self.old is not None:
            self.metadata_update()
            update_rule = getattr(self, f"update_{kind}", None)
            if update_rule:
                update_rule(self.obj, self.old)
        return self.errs

    # -- metadata -------------------------------------------------------------------------------

    def metadata(self, kind: str) -> None:
        meta = _dict(self.obj.get("metadata"))
        name = meta.get("name") or ""
        if not name and not meta.get("generateName"):
            self.errs.required("metadata.name", "name or generateName is required")
        elif name:
            self.name(kind, name)
        generate = meta.get("generateName")
        if generate:
            # NameIsDNSSubdomain(name, prefix=true) masks one trailing dash (maskTrailingDash).
            masked = generate[:-1] + "a" if len(generate) > 1 and generate.endswith("-") else generate
            problems = self.name_problems(kind, masked)
            self.errs.each("metadata.generateName", generate, problems)
        namespace = meta.get("namespace")
        if namespace:
            self.errs.each("metadata.namespace", namespace, is_dns1123_label(namespace))
        self.labels(meta.get("labels"), "metadata.labels")
        self.annotations(meta.get("annotations"), "metadata.annotations")
        # Built-in kinds also refuse unqualified finalizers other than the standard ones (validateKubeFinalizerName in
        # core's ValidateObjectMeta); CRDs and custom resources only need qualified names.
        legacy_names = self.builtin and _group_of(self.obj) != "apiextensions.k8s.io"
        for index, finalizer in enumerate(_list(meta.get("finalizers"))):
            self.finalizer(finalizer, f"metadata.finalizers[{index}]", legacy_names=legacy_names)

    def name(self, kind: str, name: str, path: str = "metadata.name") -> None:
        self.errs.each(path, name, self.name_problems(kind, name))

    @staticmethod
    def name_problems(kind: str, name: str) -> list[str]:
        if kind in _LABEL_NAMED_KINDS:
            return is_dns1123_label(name)
        if kind in _PATH_SEGMENT_NAMED_KINDS:
            return _path_segment_errors(name)
        return is_dns1123_subdomain(name)

    def labels(self, labels: Any, path: str) -> None:
        for key, value in _dict(labels).items():
            self.errs.each(path, key, is_qualified_name(key))
            if isinstance(value, str):
                self.errs.each(path, value, is_valid_label_value(value))

    def annotations(self, annotations: Any, path: str) -> None:
        total = 0
        for key, value in _dict(annotations).items():
            self.errs.each(path, key, is_qualified_name(key.lower()))
            total += len(key.encode()) + len(str(value).encode())
        if total > MAX_ANNOTATIONS_SIZE:
            self.errs.too_long(path, MAX_ANNOTATIONS_SIZE)

    def finalizer(self, value: str, path: str, *, legacy_names: bool = True) -> None:
        problems = is_qualified_name(value)
        if problems:
            self.errs.each(path, value, problems)
        elif legacy_names and "/" not in value and value not in _STANDARD_FINALIZERS:
            self.errs.invalid(path, value, "name is neither a standard finalizer name nor is it fully qualified")

    def metadata_update(self) -> None:
        new, old = _dict(self.obj.get("metadata")), _dict(self.old.get("metadata"))
        for key in ("name", "namespace", "uid"):
            if new.get(key) != old.get(key) and (key != "uid" or new.get(key)):
                self.errs.invalid(f"metadata.{key}", new.get(key) or "", "field is immutable")
        created = new.get("creationTimestamp")
        if created and old.get("creationTimestamp") and created != old.get("creationTimestamp"):
            self.errs.invalid("metadata.creationTimestamp", created, "field is immutable")

    def label_selector(self, selector: Any, path: str) -> None:
        """metav1validation.ValidateLabelSelector."""
        selector = _dict(selector)
        for index, expr in enumerate(_list(selector.get("matchExpressions"))):
            epath = f"{path}.matchExpressions[{index}]"
            op = expr.get("operator")
            values = expr.get("values") or []
            if op in ("In", "NotIn"):
                if not values:
                    self.errs.required(f"{epath}.values", "must be specified when `operator` is 'In' or 'NotIn'")
            elif op in ("Exists", "DoesNotExist"):
                if values:
                    self.errs.forbidden(
                        f"{epath}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                    )
            else:
                self.errs.invalid(f"{epath}.operator", op or "", "not a valid selector operator")
            self.errs.each(f"{epath}.key", expr.get("key", ""), is_qualified_name(expr.get("key", "")))
        self.labels(selector.get("matchLabels"), f"{path}.matchLabels")

    # -- pod specs ------------------------------------------------------------------------------

    def pod_template(self, template: Any, path: str, *, vct_names: Iterable[str] = ()) -> None:
        template = _dict(template)
        meta = _dict(template.get("metadata"))
        self.labels(meta.get("labels"), f"{path}.metadata.labels")
        self.annotations(meta.get("annotations"), f"{path}.metadata.annotations")
        self.pod_spec(_dict(template.get("spec")), f"{path}.spec", extra_volumes=set(vct_names))

    def pod_spec(self, spec: dict, path: str, *, extra_volumes: set[str] | frozenset = frozenset()) -> None:
        volumes = self.volumes(_list(spec.get("volumes")), f"{path}.volumes") | set(extra_volumes)
        containers = _list(spec.get("containers"))
        if not containers:
            self.errs.required(f"{path}.containers", "")
        names: set[str] = set()
        # ValidatePodSpec validates containers, then init containers (a clash is reported on the init container).
        for group in ("containers", "initContainers", "ephemeralContainers"):
            for index, container in enumerate(_list(spec.get(group))):
                self.container(_dict(container), f"{path}.{group}[{index}]", volumes, names, group)
        _enum(self.errs, f"{path}.restartPolicy", spec.get("restartPolicy"), ["Always", "OnFailure", "Never"])
        _enum(
            self.errs,
            f"{path}.dnsPolicy",
            spec.get("dnsPolicy"),
            ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )
        _nonneg(self.errs, f"{path}.terminationGracePeriodSeconds", spec.get("terminationGracePeriodSeconds"))
        _positive(self.errs, f"{path}.activeDeadlineSeconds", spec.get("activeDeadlineSeconds"))
        if spec.get("serviceAccountName"):
            self.errs.each(
                f"{path}.serviceAccountName",
                spec["serviceAccountName"],
                is_dns1123_subdomain(spec["serviceAccountName"]),
            )
        self.pod_security_context(_dict(spec.get("securityContext")), f"{path}.securityContext")
        for index, toleration in enumerate(_list(spec.get("tolerations"))):
            self.toleration(_dict(toleration), f"{path}.tolerations[{index}]")
        self.labels(spec.get("nodeSelector"), f"{path}.nodeSelector")

    def volumes(self, volumes: list, path: str) -> set[str]:
        names: set[str] = set()
        for index, volume in enumerate(volumes):
            volume = _dict(volume)
            vpath = f"{path}[{index}]"
            name = volume.get("name", "")
            if not name:
                self.errs.required(f"{vpath}.name", "")
            else:
                self.errs.each(f"{vpath}.name", name, is_dns1123_label(name))
                if name in names:
                    self.errs.duplicate(f"{vpath}.name", name)
                names.add(name)
            self.volume_source(volume, vpath)
        return names

    def volume_source(self, volume: dict, path: str) -> None:
        sources = [key for key in _VOLUME_SOURCES if key in volume]
        if not sources:
            self.errs.required(path, "must specify a volume type")
            return
        for extra in sources[1:]:
            self.errs.forbidden(f"{path}.{extra}", "may not specify more than 1 volume type")
        source = sources[0]
        body = _dict(volume.get(source))
        if source == "persistentVolumeClaim" and not body.get("claimName"):
            self.errs.required(f"{path}.persistentVolumeClaim.claimName", "")
        if source in ("configMap", "secret", "downwardAPI", "projected"):
            mode = body.get("defaultMode")
            if isinstance(mode, int) and not 0 <= mode <= 0o777:
                self.errs.invalid(
                    f"{path}.{source}.defaultMode",
                    mode,
                    "must be a number between 0 and 0777 (octal), both inclusive",
                )
            for item_index, item in enumerate(_list(body.get("items"))):
                ipath = f"{path}.{source}.items[{item_index}]"
                if not _dict(item).get("key") and source != "downwardAPI":
                    self.errs.required(f"{ipath}.key", "")
                self.relative_path(_dict(item).get("path", ""), f"{ipath}.path")
        if source == "emptyDir" and body.get("sizeLimit") is not None:
            self.quantity_nonneg(body["sizeLimit"], f"{path}.emptyDir.sizeLimit")

    def relative_path(self, value: str, path: str) -> None:
        if not value:
            self.errs.required(path, "")
        elif value.startswith("/"):
            self.errs.invalid(path, value, "must be a relative path")
        elif ".." in value.split("/"):
            self.errs.invalid(path, value, "must not contain '..'")

    def container(self, c: dict, path: str, volumes: set[str], names: set[str], group: str) -> None:
        name = c.get("name", "")
        if not name:
            self.errs.required(f"{path}.name", "")
        else:
            self.errs.each(f"{path}.name", name, is_dns1123_label(name))
            if name in names:
                self.errs.duplicate(f"{path}.name", name)
            names.add(name)
        if not c.get("image"):
            self.errs.required(f"{path}.image", "")
        _enum(self.errs, f"{path}.imagePullPolicy", c.get("imagePullPolicy"), ["Always", "IfNotPresent", "Never"])
        _enum(
            self.errs,
            f"{path}.terminationMessagePolicy",
            c.get("terminationMessagePolicy"),
            ["File", "FallbackToLogsOnError"],
        )
        self.container_ports(_list(c.get("ports")), f"{path}.ports")
        self.env(_list(c.get("env")), f"{path}.env")
        self.env_from(_list(c.get("envFrom")), f"{path}.envFrom")
        self.volume_mounts(_list(c.get("volumeMounts")), f"{path}.volumeMounts", volumes)
        self.resources(_dict(c.get("resources")), f"{path}.resources")
        for probe in _PROBES:
            if probe in c:
                if group == "ephemeralContainers":
                    self.errs.forbidden(f"{path}.{probe}", "may not be set for ephemeral containers")
                    continue
                if group == "initContainers" and c.get("restartPolicy") != "Always":
                    self.errs.forbidden(
                        f"{path}.{probe}", "may not be set for init containers without restartPolicy=Always"
                    )
                    continue
                self.probe(_dict(c[probe]), f"{path}.{probe}", liveness_like=probe != "readinessProbe")
        for hook in ("postStart", "preStop"):
            handler = _dict(_get(c, "lifecycle", hook))
            if "lifecycle" in c and hook in _dict(c.get("lifecycle")):
                self.handler(handler, f"{path}.lifecycle.{hook}", _LIFECYCLE_HANDLERS)
        self.security_context(_dict(c.get("securityContext")), f"{path}.securityContext")

    def container_ports(self, ports: list, path: str) -> None:
        for index, port in enumerate(ports):
            port = _dict(port)
            ppath = f"{path}[{index}]"
            if port.get("name"):
                self.errs.each(f"{ppath}.name", port["name"], is_valid_port_name(port["name"]))
            container_port = port.get("containerPort", 0)
            if not container_port:
                self.errs.required(f"{ppath}.containerPort", "")
            else:
                self.errs.each(f"{ppath}.containerPort", container_port, is_valid_port_num(container_port))
            if port.get("hostPort"):
                self.errs.each(f"{ppath}.hostPort", port["hostPort"], is_valid_port_num(port["hostPort"]))
            _enum(self.errs, f"{ppath}.protocol", port.get("protocol"), _PROTOCOLS, required=True)

    def env(self, env: list, path: str) -> None:
        for index, var in enumerate(env):
            var = _dict(var)
            epath = f"{path}[{index}]"
            name = var.get("name", "")
            if not name:
                self.errs.required(f"{epath}.name", "")
            else:
                self.errs.each(f"{epath}.name", name, is_env_var_name(name, relaxed=self.minor >= 32))
            value_from = var.get("valueFrom")
            if value_from is None:
                continue
            sources = [
                key
                for key in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef", "fileKeyRef")
                if key in value_from
            ]
            if not sources:
                self.errs.invalid(
                    f"{epath}.valueFrom",
                    "",
                    "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
                )
            elif len(sources) > 1:
                self.errs.invalid(f"{epath}.valueFrom", "", "may not have more than one field specified at a time")
            if var.get("value"):
                self.errs.invalid(f"{epath}.valueFrom", "", "may not be specified when `value` is not empty")
            for ref in ("configMapKeyRef", "secretKeyRef"):
                if ref in value_from:
                    key = _dict(value_from[ref]).get("key", "")
                    if not key:
                        self.errs.required(f"{epath}.valueFrom.{ref}.key", "")
                    else:
                        self.errs.each(f"{epath}.valueFrom.{ref}.key", key, is_config_map_key(key))
            if "fieldRef" in value_from and not _dict(value_from["fieldRef"]).get("fieldPath"):
                self.errs.required(f"{epath}.valueFrom.fieldRef.fieldPath", "")

    def env_from(self, sources: list, path: str) -> None:
        for index, source in enumerate(sources):
            source = _dict(source)
            kinds = [key for key in ("configMapRef", "secretRef") if key in source]
            if not kinds:
                self.errs.invalid(f"{path}[{index}]", "", "must specify one of: `configMapRef` or `secretRef`")
            elif len(kinds) > 1:
                self.errs.invalid(f"{path}[{index}]", "", "may not have more than one field specified at a time")

    def volume_mounts(self, mounts: list, path: str, volumes: set[str]) -> None:
        seen: set[str] = set()
        for index, mount in enumerate(mounts):
            mount = _dict(mount)
            mpath = f"{path}[{index}]"
            name = mount.get("name", "")
            if not name:
                self.errs.required(f"{mpath}.name", "")
            elif name not in volumes:
                self.errs.not_found(f"{mpath}.name", name)
            mount_path = mount.get("mountPath", "")
            if not mount_path:
                self.errs.required(f"{mpath}.mountPath", "")
            elif mount_path in seen:
                self.errs.invalid(f"{mpath}.mountPath", mount_path, "must be unique")
            seen.add(mount_path)
            sub_path = mount.get("subPath")
            if sub_path:
                if sub_path.startswith("/"):
                    self.errs.invalid(f"{mpath}.subPath", sub_path, "must be a relative path")
                elif ".." in sub_path.split("/"):
                    self.errs.invalid(f"{mpath}.subPath", sub_path, "must not contain '..'")

    def resources(self, resources: dict, path: str) -> None:
        limits = _dict(resources.get("limits"))
        requests = _dict(resources.get("requests"))
        for section, values in (("limits", limits), ("requests", requests)):
            for name, value in values.items():
                rpath = f"{path}.{section}[{name}]"
                self.resource_name(name, rpath)
                self.quantity_nonneg(value, rpath)
        for name, request in requests.items():
            limit = limits.get(name)
            comparable = limit is not None and quantity.is_valid(request) and quantity.is_valid(limit)
            if comparable and quantity.value_of(request) > quantity.value_of(limit):
                self.errs.invalid(
                    f"{path}.requests",
                    quantity.canonical(request),
                    f"must be less than or equal to {name} limit of {quantity.canonical(limit)}",
                )

    def resource_name(self, name: str, path: str) -> None:
        if name in _STANDARD_RESOURCES or name.startswith("hugepages-") or "/" in name:
            if "/" in name:
                self.errs.each(path, name, is_qualified_name(name))
            return
        self.errs.invalid(path, name, "must be a standard resource type or fully qualified")
        self.errs.invalid(path, name, "must be a standard resource for containers")

    def quantity_nonneg(self, value: Any, path: str) -> None:
        if quantity.is_valid(value) and quantity.value_of(value) < 0:
            self.errs.invalid(path, quantity.canonical(value), "must be greater than or equal to 0")

    def probe(self, probe: dict, path: str, *, liveness_like: bool) -> None:
        self.handler(probe, path, _PROBE_HANDLERS)
        for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
            _nonneg(self.errs, f"{path}.{key}", probe.get(key))
        if liveness_like and probe.get("successThreshold", 1) != 1:
            self.errs.invalid(f"{path}.successThreshold", probe["successThreshold"], "must be 1")
        _nonneg(self.errs, f"{path}.terminationGracePeriodSeconds", probe.get("terminationGracePeriodSeconds"))

    def handler(self, handler: dict, path: str, kinds: tuple[str, ...]) -> None:
        """Probes and lifecycle hooks take exactly one handler (validateHandler / validateLifecycleHandler)."""
        present = [key for key in kinds if key in handler]
        if not present:
            self.errs.required(path, "must specify a handler type")
            return
        for extra in present[1:]:
            self.errs.forbidden(f"{path}.{extra}", "may not specify more than 1 handler type")
        action = _dict(handler.get(present[0]))
        apath = f"{path}.{present[0]}"
        if present[0] == "exec" and not action.get("command"):
            self.errs.required(f"{apath}.command", "")
        if present[0] in ("httpGet", "tcpSocket"):
            self.int_or_port_name(action.get("port"), f"{apath}.port")
        if present[0] == "httpGet":
            _enum(self.errs, f"{apath}.scheme", action.get("scheme"), ["HTTP", "HTTPS"])
        if present[0] == "grpc":
            self.errs.each(f"{apath}.port", action.get("port", 0), is_valid_port_num(action.get("port", 0)))

    def int_or_port_name(self, port: Any, path: str) -> None:
        if isinstance(port, str):
            self.errs.each(path, port, is_valid_port_name(port))
        else:
            self.errs.each(path, port or 0, is_valid_port_num(port or 0))

    def security_context(self, ctx: dict, path: str) -> None:
        caps_path = f"{path}.capabilities"
        for key in ("add", "drop"):
            for index, cap in enumerate(_list(_get(ctx, "capabilities", key))):
                if not cap:
                    self.errs.required(f"{caps_path}.{key}[{index}]", "")
        _nonneg(self.errs, f"{path}.runAsUser", ctx.get("runAsUser"))
        _nonneg(self.errs, f"{path}.runAsGroup", ctx.get("runAsGroup"))
        if ctx.get("privileged") and ctx.get("allowPrivilegeEscalation") is False:
            self.errs.invalid(f"{path}", "", "cannot set `allowPrivilegeEscalation` to false and `privileged` to true")
        caps_add = _list(_get(ctx, "capabilities", "add"))
        if "CAP_SYS_ADMIN" in caps_add and ctx.get("allowPrivilegeEscalation") is False:
            self.errs.invalid(
                f"{path}", "", "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"
            )
        self.seccomp(ctx.get("seccompProfile"), f"{path}.seccompProfile")
        _enum(self.errs, f"{path}.procMount", ctx.get("procMount"), ["Default", "Unmasked"])

    def pod_security_context(self, ctx: dict, path: str) -> None:
        for key in ("runAsUser", "runAsGroup", "fsGroup"):
            _nonneg(self.errs, f"{path}.{key}", ctx.get(key))
        for index, group in enumerate(_list(ctx.get("supplementalGroups"))):
            _nonneg(self.errs, f"{path}.supplementalGroups[{index}]", group)
        _enum(self.errs, f"{path}.fsGroupChangePolicy", ctx.get("fsGroupChangePolicy"), ["OnRootMismatch", "Always"])
        self.seccomp(ctx.get("seccompProfile"), f"{path}.seccompProfile")
        for index, sysctl in enumerate(_list(ctx.get("sysctls"))):
            if not _dict(sysctl).get("name"):
                self.errs.required(f"{path}.sysctls[{index}].name", "")

    def seccomp(self, profile: Any, path: str) -> None:
        if profile is None:
            return
        profile = _dict(profile)
        kind = profile.get("type")
        _enum(self.errs, f"{path}.type", kind, ["Localhost", "RuntimeDefault", "Unconfined"], required=True)
        if kind == "Localhost" and not profile.get("localhostProfile"):
            self.errs.required(f"{path}.localhostProfile", "must be set when seccomp type is Localhost")
        if kind != "Localhost" and profile.get("localhostProfile"):
            self.errs.invalid(
                f"{path}.localhostProfile",
                profile["localhostProfile"],
                "can only be set when seccomp type is Localhost",
            )

    def toleration(self, toleration: dict, path: str) -> None:
        operator = toleration.get("operator") or "Equal"
        if operator not in ("Equal", "Exists"):
            self.errs.not_supported(f"{path}.operator", operator, ["Equal", "Exists"])
        if operator == "Exists" and toleration.get("value"):
            self.errs.invalid(
                f"{path}.operator", toleration["value"], "value must be empty when `operator` is 'Exists'"
            )
        if not toleration.get("key") and operator != "Exists":
            self.errs.invalid(
                f"{path}.operator",
                operator,
                'operator must be Exists when `key` is empty, which means "match all values and all keys"',
            )
        _enum(self.errs, f"{path}.effect", toleration.get("effect"), ["NoSchedule", "PreferNoSchedule", "NoExecute"])
        if toleration.get("tolerationSeconds") is not None and toleration.get("effect") != "NoExecute":
            self.errs.invalid(
                f"{path}.effect",
                toleration.get("effect") or "",
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            )

    # -- workloads ------------------------------------------------------------------------------

    def replicated(self, spec: dict, what: str, *, pod_spec: bool = True, vct_names: Iterable[str] = ()) -> None:
        """Selector, template and restartPolicy rules shared by Deployment, ReplicaSet, StatefulSet and DaemonSet."""
        _nonneg(self.errs, "spec.replicas", spec.get("replicas"))
        _nonneg(self.errs, "spec.minReadySeconds", spec.get("minReadySeconds"))
        _nonneg(self.errs, "spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
        selector = spec.get("selector")
        template = _dict(spec.get("template"))
        if selector is None:
            self.errs.required("spec.selector", "")
        else:
            self.label_selector(selector, "spec.selector")
            if _selector_empty(selector):
                self.errs.invalid("spec.selector", go_selector(selector), f"empty selector is invalid for {what}")
            elif not selector_matches(selector, _get(template, "metadata", "labels")):
                labels = _get(template, "metadata", "labels")
                shown = GoValue("map[string]string(nil)") if labels is None else labels
                self.errs.invalid("spec.template.metadata.labels", shown, "`selector` does not match template `labels`")
        if pod_spec:
            self.pod_template(template, "spec.template", vct_names=vct_names)
        else:
            meta = _dict(template.get("metadata"))
            self.labels(meta.get("labels"), "spec.template.labels")
            self.annotations(meta.get("annotations"), "spec.template.annotations")
        restart = _get(template, "spec", "restartPolicy", default="")
        if restart != "Always":
            self.errs.not_supported("spec.template.spec.restartPolicy", restart, ["Always"])
        if _get(template, "spec", "activeDeadlineSeconds") is not None:
            owner = (
                "ReplicaSet"
                if what in ("deployment", "replicaset")
                else {"statefulset": "StatefulSet", "daemonset": "DaemonSet"}[what]
            )
            self.errs.forbidden(
                "spec.template.spec.activeDeadlineSeconds", f"activeDeadlineSeconds in {owner} is not Supported"
            )

    def int_or_percent(self, value: Any, path: str) -> None:
        if isinstance(value, str):
            if not _PERCENT.match(value):
                self.errs.invalid(
                    path,
                    value,
                    regex_error(
                        "a valid percent string must be a numeric string followed by an ending '%'",
                        "[0-9]+%",
                        "1%",
                        "93%",
                    ),
                )
            elif int(value[:-1]) > 100:
                self.errs.invalid(path, value, "must not be greater than 100%")
        else:
            _nonneg(self.errs, path, value)

    def kind_Deployment(self, obj: dict) -> None:
        spec = _dict(obj.get("spec"))
        self.replicated(spec, "deployment")
        strategy = _dict(spec.get("strategy"))
        kind = strategy.get("type")
        _enum(self.errs, "spec.strategy.type", kind, ["Recreate", "RollingUpdate"], required=True)
        if kind == "Recreate" and strategy.get("rollingUpdate") is not None:
            self.errs.forbidden(
                "spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"
            )
        rolling = _dict(strategy.get("rollingUpdate"))
        if kind == "RollingUpdate" and rolling:
            unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
            self.int_or_percent(unavailable, "spec.strategy.rollingUpdate.maxUnavailable")
            self.int_or_percent(surge, "spec.strategy.rollingUpdate.maxSurge")
            if _is_zero(unavailable) and _is_zero(surge):
                self.errs.invalid(
                    "spec.strategy.rollingUpdate.maxUnavailable", unavailable, "may not be 0 when `maxSurge` is 0"
                )
        deadline = spec.get("progressDeadlineSeconds")
        if isinstance(deadline, int):
            _nonneg(self.errs, "spec.progressDeadlineSeconds", deadline)
            if deadline <= (spec.get("minReadySeconds") or 0):
                self.errs.invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds")

    def kind_ReplicaSet(self, obj: dict) -> None:
        self.replicated(_dict(obj.get("spec")), "replicaset")

    def kind_DaemonSet(self, obj: dict) -> None:
        spec = _dict(obj.get("spec"))
        self.replicated(spec, "daemonset")
        strategy = _dict(spec.get("updateStrategy"))
        _enum(self.errs, "spec.updateStrategy.type", strategy.get("type"), ["OnDelete", "RollingUpdate"], required=True)

    def kind_StatefulSet(self, obj: dict) -> None:
        spec = _dict(obj.get("spec"))
        vct = _list(spec.get("volumeClaimTemplates"))
        vct_names = [_get(claim, "metadata", "name", default="") for claim in vct]
        # Upstream leaves the template's PodSpec unvalidated (a TODO in ValidatePodTemplateSpecForStatefulSet)
        # and lets the pods fail later; we validate it, counting the claim templates as volumes, so a broken
        # template fails here instead of leaving a StatefulSet that never gets pods.
        self.replicated(spec, "statefulset", vct_names=vct_names)
        _enum(
            self.errs,
            "spec.podManagementPolicy",
            spec.get("podManagementPolicy"),
            ["OrderedReady", "Parallel"],
            required=True,
        )
        strategy = _dict(spec.get("updateStrategy"))
        _enum(self.errs, "spec.updateStrategy.type", strategy.get("type"), ["OnDelete", "RollingUpdate"], required=True)
        if strategy.get("type") == "OnDelete" and strategy.get("rollingUpdate") is not None:
            self.errs.invalid(
                "spec.updateStrategy.rollingUpdate", "", "only allowed for updateStrategy 'RollingUpdate'"
            )
        _nonneg(self.errs, "spec.updateStrategy.rollingUpdate.partition", _get(strategy, "rollingUpdate", "partition"))
        policy = _dict(spec.get("persistentVolumeClaimRetentionPolicy"))
        for key in ("whenDeleted", "whenScaled"):
            _enum(self.errs, f"spec.persistentVolumeClaimRetentionPolicy.{key}", policy.get(key), ["Retain", "Delete"])
        if spec.get("serviceName"):
            self.errs.each("spec.serviceName", spec["serviceName"], is_dns1123_label(spec["serviceName"]))
        for index, claim in enumerate(vct):
            name = _get(claim, "metadata", "name", default="")
            if name:
                self.errs.each(f"spec.volumeClaimTemplates[{index}].metadata.name", name, is_dns1123_subdomain(name))

    def kind_Job(self, obj: dict) -> None:
        spec = _dict(obj.get("spec"))
        self.job_spec(spec, "spec", obj)

    def job_spec(self, spec: dict, path: str, job: dict | None) -> None:
        for key in ("parallelism", "completions", "backoffLimit", "ttlSecondsAfterFinished"):
            _nonneg(self.errs, f"{path}.{key}", spec.get(key))
        _positive(self.errs, f"{path}.activeDeadlineSeconds", spec.get("activeDeadlineSeconds"))
        mode = spec.get("completionMode")
        _enum(self.errs, f"{path}.completionMode", mode, ["NonIndexed", "Indexed"])
        if mode == "Indexed" and spec.get("completions") is None:
            self.errs.required(f"{path}.completions", "when completion mode is Indexed")
        _enum(
            self.errs,
            f"{path}.podReplacementPolicy",
            spec.get("podReplacementPolicy"),
            ["Failed", "TerminatingOrFailed"],
        )
        template = _dict(spec.get("template"))
        selector = spec.get("selector")
        if job is not None:
            if selector is None:
                self.errs.required(f"{path}.selector", "")
            else:
                self.label_selector(selector, f"{path}.selector")
                labels = _get(template, "metadata", "labels")
                if not selector_matches(selector, labels):
                    shown = GoValue("map[string]string(nil)") if labels is None else labels
                    self.errs.invalid(
                        f"{path}.template.metadata.labels", shown, "`selector` does not match template `labels`"
                    )
                if not spec.get("manualSelector"):
                    self.generated_selector(job, selector, f"{path}.selector")
        self.pod_template(template, f"{path}.template")
        restart = _get(template, "spec", "restartPolicy", default="")
        if restart not in ("OnFailure", "Never"):
            self.errs.not_supported(f"{path}.template.spec.restartPolicy", restart, ["OnFailure", "Never"])

    def generated_selector(self, job: dict, selector: dict, path: str) -> None:
        """validateGeneratedSelector: without manualSelector the selector must be the generated one."""
        uid = _get(job, "metadata", "uid", default="")
        if not uid:
            self.errs.required("metadata.uid", "")
            return
        expected = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        if _dict(selector).get("matchLabels") != expected["matchLabels"] or selector.get("matchExpressions"):
            self.errs.invalid(path, go_selector(selector), "`selector` not auto-generated")

    def kind_CronJob(self, obj: dict) -> None:
        spec = _dict(obj.get("spec"))
        name = _get(obj, "metadata", "name", default="")
        if len(name) > 52:
            self.errs.invalid("metadata.name", name, "must be no more than 52 characters")
        schedule = spec.get("schedule", "")
        if not schedule:
            self.errs.required("spec.schedule", "")
        elif not _valid_cron(schedule):
            self.errs.invalid("spec.schedule", schedule, f"unparseable schedule: {schedule}")
        elif "TZ=" in schedule or "CRON_TZ=" in schedule:
            self.errs.invalid(
                "spec.schedule", schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
            )
        _enum(
            self.errs,
            "spec.concurrencyPolicy",
            spec.get("concurrencyPolicy"),
            ["Allow", "Forbid", "Replace"],
            required=True,
        )
        for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
            _nonneg(self.errs, f"spec.{key}", spec.get(key))
        job_template = _dict(spec.get("jobTemplate"))
        meta = _dict(job_template.get("metadata"))
        self.labels(meta.get("labels"), "spec.jobTemplate.metadata.labels")
        self.annotations(meta.get("annotations"), "spec.jobTemplate.metadata.annotations")
        job_spec = _dict(job_template.get("spec"))
        if job_spec.get("manualSelector"):
            self.errs.forbidden(
                "spec.jobTemplate.spec.manualSelector", "`manualSelector` is not supported in CronJob templates"
            )
        self.job_spec(job_spec, "spec.jobTemplate.spec", None)

    def kind_Pod(self, obj: dict) -> None:
        self.pod_spec(_dict(obj.get("spec")), "spec")

    def kind_PodTemplate(self, obj: dict) -> None:
        self.pod_template(obj.get("template"), "template")

    # -- core objects ---------------------------------------------------------------------------

    def kind_Service(self, obj: dict) -> None:
        spec = _dict(obj.get("spec"))
        kind = spec.get("type") or "ClusterIP"
        _enum(self.errs, "spec.type", kind, ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"])
        cluster_ip = spec.get("clusterIP", "")
        headless = cluster_ip == "None"
        ports = _list(spec.get("ports"))
        if not ports and not headless and kind != "ExternalName":
            self.errs.required("spec.ports", "")
        names: set[str] = set()
        keys: set[tuple[Any, Any]] = set()
        for index, port in enumerate(ports):
            self.service_port(_dict(port), f"spec.ports[{index}]", len(ports) > 1, names, keys, kind)
        if kind == "ExternalName":
            external = spec.get("externalName", "")
            if not external:
                self.errs.required("spec.externalName", "")
        self.labels(spec.get("selector"), "spec.selector")
        _enum(self.errs, "spec.sessionAffinity", spec.get("sessionAffinity"), ["ClientIP", "None"], required=True)
        for index, ip in enumerate(_list(spec.get("clusterIPs")) or ([cluster_ip] if cluster_ip else [])):
            if ip != "None" and not _is_ip(ip):
                self.errs.invalid(
                    f"spec.clusterIPs[{index}]", ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
                )
        if headless and kind in ("NodePort", "LoadBalancer"):
            self.errs.invalid("spec.clusterIPs[0]", "None", f"may not be set to 'None' for {kind} services")
        _enum(self.errs, "spec.internalTrafficPolicy", spec.get("internalTrafficPolicy"), ["Cluster", "Local"])
        _enum(
            self.errs,
            "spec.ipFamilyPolicy",
            spec.get("ipFamilyPolicy"),
            ["SingleStack", "PreferDualStack", "RequireDualStack"],
        )
        for index, family in enumerate(_list(spec.get("ipFamilies"))):
            _enum(self.errs, f"spec.ipFamilies[{index}]", family, ["IPv4", "IPv6"])

    def service_port(
        self, port: dict, path: str, require_name: bool, names: set[str], keys: set[tuple[Any, Any]], kind: str
    ) -> None:
        name = port.get("name", "")
        if require_name and not name:
            self.errs.required(f"{path}.name", "")
        elif name:
            self.errs.each(f"{path}.name", name, is_dns1123_label(name))
            if name in names:
                self.errs.duplicate(f"{path}.name", name)
            names.add(name)
        number = port.get("port", 0)
        self.errs.each(f"{path}.port", number, is_valid_port_num(number))
        protocol = port.get("protocol")
        _enum(self.errs, f"{path}.protocol", protocol, _PROTOCOLS, required=True)
        target = port.get("targetPort")
        if target is not None:
            self.int_or_port_name(target, f"{path}.targetPort")
        node_port = port.get("nodePort")
        if node_port:
            if kind not in ("NodePort", "LoadBalancer"):
                self.errs.forbidden(f"{path}.nodePort", "may not be used when `type` is 'ClusterIP'")
            else:
                self.errs.each(f"{path}.nodePort", node_port, is_valid_port_num(node_port))
        key = (number, protocol)
        if key in keys:
            self.errs.duplicate(
                path,
                GoValue(
                    f"core.ServicePort{{Name:{go_quote(name)}, Protocol:{go_quote(protocol or '')}, Port:{number}}}"
                ),
            )
        keys.add(key)

    def kind_ConfigMap(self, obj: dict) -> None:
        total = 0
        data, binary = _dict(obj.get("data")), _dict(obj.get("binaryData"))
        for key, value in data.items():
            self.errs.each(f"data[{key}]", key, is_config_map_key(key))
            if key in binary:
                self.errs.invalid(f"data[{key}]", key, "duplicate of key present in binaryData")
            total += len(str(value).encode())
        for key, value in binary.items():
            self.errs.each(f"binaryData[{key}]", key, is_config_map_key(key))
            total += len(_b64_bytes(value))
        if total > MAX_DATA_SIZE:
            # ValidateConfigMap reports the size on the root path, which prints as "[]".
            self.errs.too_long("[]", MAX_DATA_SIZE)

    def kind_Secret(self, obj: dict) -> None:
        data = _dict(obj.get("data"))
        total = 0
        for key, value in data.items():
            self.errs.each(f"data[{key}]", key, is_config_map_key(key))
            total += len(_b64_bytes(value))
        if total > MAX_DATA_SIZE:
            self.errs.too_long("data", MAX_DATA_SIZE)
        kind = obj.get("type") or "Opaque"
        required_keys = {
            "kubernetes.io/tls": ["tls.crt", "tls.key"],
            "kubernetes.io/dockerconfigjson": [".dockerconfigjson"],
            "kubernetes.io/dockercfg": [".dockercfg"],
            "kubernetes.io/ssh-auth": ["ssh-privatekey"],
        }.get(kind, [])
        for key in required_keys:
            if key not in data:
                self.errs.required(f"data[{key}]", "")
        if kind == "kubernetes.io/basic-auth" and "username" not in data and "password" not in data:
            self.errs.required("data[username]", "")
            self.errs.required("data[password]", "")
        if kind == "kubernetes.io/service-account-token" and not _get(
            obj, "metadata", "annotations", "kubernetes.io/service-account.name"
        ):
            self.errs.required("metadata.annotations[kubernetes.io/service-account.name]", "")

    def kind_PersistentVolumeClaim(self, obj: dict) -> None:
        self.pvc_spec(_dict(obj.get("spec")), "spec")

    def pvc_spec(self, spec: dict, path: str) -> None:
        modes = _list(spec.get("accessModes"))
        if not modes:
            self.errs.required(f"{path}.accessModes", "at least 1 access mode is required")
        for mode in modes:
            if mode not in _ACCESS_MODES:
                self.errs.not_supported(f"{path}.accessModes", mode, _ACCESS_MODES)
        if "ReadWriteOncePod" in modes and len(modes) > 1:
            self.errs.forbidden(f"{path}.accessModes", "may not use ReadWriteOncePod with other access modes")
        storage = _get(spec, "resources", "requests", "storage")
        if storage is None:
            self.errs.required(f"{path}.resources[storage]", "")
        elif quantity.is_valid(storage) and quantity.value_of(storage) <= 0:
            self.errs.invalid(
                f"{path}.resources.requests[storage]", quantity.canonical(storage), "must be greater than zero"
            )
        _enum(self.errs, f"{path}.volumeMode", spec.get("volumeMode"), ["Block", "Filesystem"])
        if spec.get("selector") is not None:
            self.label_selector(spec["selector"], f"{path}.selector")
        class_name = spec.get("storageClassName")
        if class_name:
            self.errs.each(f"{path}.storageClassName", class_name, is_dns1123_subdomain(class_name))

    def kind_PersistentVolume(self, obj: dict) -> None:
        spec = _dict(obj.get("spec"))
        if not _list(spec.get("accessModes")):
            self.errs.required("spec.accessModes", "")
        if _get(spec, "capacity", "storage") is None:
            self.errs.required("spec.capacity", "")
        _enum(
            self.errs,
            "spec.persistentVolumeReclaimPolicy",
            spec.get("persistentVolumeReclaimPolicy"),
            ["Delete", "Recycle", "Retain"],
        )
        sources = [key for key in (*_VOLUME_SOURCES, "local") if key in spec]
        if not sources:
            self.errs.required("spec", "must specify a volume type")

    def kind_Namespace(self, obj: dict) -> None:
        for index, finalizer in enumerate(_list(_get(obj, "spec", "finalizers"))):
            self.finalizer(finalizer, f"spec.finalizers[{index}]")
        # The PodSecurity admission plugin rejects unparseable pod-security.kubernetes.io labels (422).
        labels = _get(obj, "metadata", "labels")
        old_labels = _get(self.old, "metadata", "labels") if self.old is not None else None
        if self.old is None or labels != old_labels:
            for key, value, message in namespace_label_errors(labels):
                self.errs.invalid(f"metadata.labels[{key}]", value, message)

    def kind_StorageClass(self, obj: dict) -> None:
        provisioner = obj.get("provisioner", "")
        if not provisioner:
            self.errs.required("provisioner", "")
        else:
            self.errs.each("provisioner", provisioner, is_qualified_name(provisioner.lower()))
        params = _dict(obj.get("parameters"))
        if len(params) > 512:
            self.errs.too_long("parameters", 512)
        if sum(len(k) + len(str(v)) for k, v in params.items()) > 256 * 1024:
            self.errs.too_long("parameters", 256 * 1024)
        for key in params:
            if not key:
                self.errs.invalid("parameters", key, "field can not be empty.")
        _enum(self.errs, "reclaimPolicy", obj.get("reclaimPolicy"), ["Delete", "Retain"])
        _enum(
            self.errs,
            "volumeBindingMode",
            obj.get("volumeBindingMode"),
            ["Immediate", "WaitForFirstConsumer"],
            required=True,
        )

    # -- rbac, networking, policy ---------------------------------------------------------------

    def kind_Role(self, obj: dict) -> None:
        self.policy_rules(_list(obj.get("rules")), namespaced=True)

    def kind_ClusterRole(self, obj: dict) -> None:
        if obj.get("aggregationRule") is not None:
            selectors = _list(_get(obj, "aggregationRule", "clusterRoleSelectors"))
            if not selectors:
                self.errs.required(
                    "aggregationRule.clusterRoleSelectors",
                    "at least one clusterRoleSelector required if aggregationRule is non-nil",
                )
        self.policy_rules(_list(obj.get("rules")), namespaced=False)

    def policy_rules(self, rules: list, *, namespaced: bool) -> None:
        for index, rule in enumerate(rules):
            rule = _dict(rule)
            path = f"rules[{index}]"
            if not rule.get("verbs"):
                self.errs.required(f"{path}.verbs", "verbs must contain at least one value")
            urls = _list(rule.get("nonResourceURLs"))
            if urls:
                if namespaced:
                    self.errs.invalid(
                        f"{path}.nonResourceURLs", urls, "namespaced rules cannot apply to non-resource URLs"
                    )
                if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
                    self.errs.invalid(
                        f"{path}.nonResourceURLs",
                        urls,
                        "rules cannot apply to both regular resources and non-resource URLs",
                    )
                continue
            if not rule.get("apiGroups"):
                self.errs.required(f"{path}.apiGroups", "resource rules must supply at least one api group")
            if not rule.get("resources"):
                self.errs.required(f"{path}.resources", "resource rules must supply at least one resource")

    def kind_RoleBinding(self, obj: dict) -> None:
        self.binding(obj, ["Role", "ClusterRole"], cluster=False)

    def kind_ClusterRoleBinding(self, obj: dict) -> None:
        self.binding(obj, ["ClusterRole"], cluster=True)

    def binding(self, obj: dict, kinds: list[str], *, cluster: bool) -> None:
        ref = _dict(obj.get("roleRef"))
        _enum(self.errs, "roleRef.apiGroup", ref.get("apiGroup", ""), ["rbac.authorization.k8s.io"], required=True)
        _enum(self.errs, "roleRef.kind", ref.get("kind", ""), kinds, required=True)
        if not ref.get("name"):
            self.errs.required("roleRef.name", "")
        else:
            self.errs.each("roleRef.name", ref["name"], _path_segment_errors(ref["name"]))
        for index, subject in enumerate(_list(obj.get("subjects"))):
            self.subject(_dict(subject), f"subjects[{index}]", cluster)

    def subject(self, subject: dict, path: str, cluster: bool) -> None:
        kind, name = subject.get("kind", ""), subject.get("name", "")
        if not name:
            self.errs.required(f"{path}.name", "")
        if kind == "ServiceAccount":
            if name:
                self.errs.each(f"{path}.name", name, is_dns1123_subdomain(name))
            if subject.get("apiGroup"):
                self.errs.not_supported(f"{path}.apiGroup", subject["apiGroup"], [""])
            if cluster and not subject.get("namespace"):
                self.errs.required(f"{path}.namespace", "")
        elif kind in ("User", "Group"):
            if subject.get("apiGroup") != "rbac.authorization.k8s.io":
                self.errs.not_supported(f"{path}.apiGroup", subject.get("apiGroup", ""), ["rbac.authorization.k8s.io"])
        else:
            self.errs.not_supported(f"{path}.kind", kind, ["ServiceAccount", "User", "Group"])

    def kind_NetworkPolicy(self, obj: dict) -> None:
        spec = _dict(obj.get("spec"))
        self.label_selector(spec.get("podSelector"), "spec.podSelector")
        for direction, peers_key in (("ingress", "from"), ("egress", "to")):
            for index, rule in enumerate(_list(spec.get(direction))):
                rpath = f"spec.{direction}[{index}]"
                for pindex, port in enumerate(_list(_dict(rule).get("ports"))):
                    self.network_policy_port(_dict(port), f"{rpath}.ports[{pindex}]")
                for pindex, peer in enumerate(_list(_dict(rule).get(peers_key))):
                    self.network_policy_peer(_dict(peer), f"{rpath}.{peers_key}[{pindex}]")
        types = _list(spec.get("policyTypes"))
        for index, kind in enumerate(types):
            _enum(self.errs, f"spec.policyTypes[{index}]", kind, ["Ingress", "Egress"])
        if len(types) > 2:
            self.errs.invalid("spec.policyTypes", types, "may not specify more than two policyTypes")

    def network_policy_port(self, port: dict, path: str) -> None:
        _enum(self.errs, f"{path}.protocol", port.get("protocol"), _PROTOCOLS)
        value = port.get("port")
        if value is not None:
            self.int_or_port_name(value, f"{path}.port")
        end = port.get("endPort")
        if end is not None:
            if not isinstance(value, int):
                self.errs.required(f"{path}.port", "must be specified when endPort is specified")
            elif end < value:
                self.errs.invalid(f"{path}.endPort", end, "must be greater than or equal to `port`")

    def network_policy_peer(self, peer: dict, path: str) -> None:
        present = [key for key in ("podSelector", "namespaceSelector", "ipBlock") if key in peer]
        if not present:
            self.errs.required(path, "must specify a peer")
        elif "ipBlock" in present and len(present) > 1:
            self.errs.forbidden(path, "may not specify both ipBlock and another peer")
        for key in ("podSelector", "namespaceSelector"):
            if key in peer:
                self.label_selector(peer[key], f"{path}.{key}")
        if "ipBlock" in peer:
            cidr = _dict(peer["ipBlock"]).get("cidr", "")
            if not cidr:
                self.errs.required(f"{path}.ipBlock.cidr", "")
            elif not _is_cidr(cidr):
                self.errs.invalid(
                    f"{path}.ipBlock.cidr", cidr, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
                )

    def kind_PodDisruptionBudget(self, obj: dict) -> None:
        spec = _dict(obj.get("spec"))
        if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
            self.errs.invalid(
                "spec",
                GoValue("policy.PodDisruptionBudgetSpec{...}"),
                "minAvailable and maxUnavailable cannot be both set",
            )
        for key in ("minAvailable", "maxUnavailable"):
            if spec.get(key) is not None:
                self.int_or_percent(spec[key], f"spec.{key}")
        if spec.get("selector") is not None:
            self.label_selector(spec["selector"], "spec.selector")
        _enum(
            self.errs,
            "spec.unhealthyPodEvictionPolicy",
            spec.get("unhealthyPodEvictionPolicy"),
            ["AlwaysAllow", "IfHealthyBudget"],
        )

    def kind_Ingress(self, obj: dict) -> None:
        for index, rule in enumerate(_list(_get(obj, "spec", "rules"))):
            for pindex, path in enumerate(_list(_get(rule, "http", "paths"))):
                ppath = f"spec.rules[{index}].http.paths[{pindex}]"
                _enum(
                    self.errs,
                    f"{ppath}.pathType",
                    _dict(path).get("pathType"),
                    ["Exact", "Prefix", "ImplementationSpecific"],
                    required=True,
                )

    # -- updates --------------------------------------------------------------------------------

    def update_StorageClass(self, new: dict, old: dict) -> None:
        if (new.get("parameters") or {}) != (old.get("parameters") or {}):
            self.errs.forbidden("parameters", "updates to parameters are forbidden.")
        if new.get("provisioner") != old.get("provisioner"):
            self.errs.forbidden("provisioner", "updates to provisioner are forbidden.")
        if new.get("reclaimPolicy") != old.get("reclaimPolicy"):
            self.errs.forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden.")
        if new.get("volumeBindingMode") != old.get("volumeBindingMode"):
            self.errs.invalid("volumeBindingMode", new.get("volumeBindingMode"), "field is immutable")

    def _selector_immutable(self, new: dict, old: dict) -> None:
        selector = _get(new, "spec", "selector")
        if selector != _get(old, "spec", "selector"):
            self.errs.invalid("spec.selector", go_selector(selector), "field is immutable")

    update_Deployment = _selector_immutable
    update_ReplicaSet = _selector_immutable
    update_DaemonSet = _selector_immutable

    def update_StatefulSet(self, new: dict, old: dict) -> None:
        mutable = (
            "replicas",
            "ordinals",
            "template",
            "updateStrategy",
            "revisionHistoryLimit",
            "persistentVolumeClaimRetentionPolicy",
            "minReadySeconds",
        )
        new_rest = {k: v for k, v in _dict(new.get("spec")).items() if k not in mutable}
        old_rest = {k: v for k, v in _dict(old.get("spec")).items() if k not in mutable}
        if not _semantic_equal(new_rest, old_rest):
            self.errs.forbidden("spec", _STATEFULSET_FORBIDDEN)

    def update_Job(self, new: dict, old: dict) -> None:
        spec, old_spec = _dict(new.get("spec")), _dict(old.get("spec"))
        if spec.get("selector") != old_spec.get("selector"):
            self.errs.invalid("spec.selector", go_selector(spec.get("selector")), "field is immutable")
        if spec.get("completions") != old_spec.get("completions") and not (
            spec.get("completionMode") == "Indexed" and spec.get("completions") == spec.get("parallelism")
        ):
            self.errs.invalid("spec.completions", spec.get("completions"), "field is immutable")
        if not _semantic_equal(spec.get("template"), old_spec.get("template")) and not _suspended_scheduling_change(
            spec, old_spec
        ):
            self.errs.invalid("spec.template", GoValue("core.PodTemplateSpec{...}"), "field is immutable")
        for key in ("completionMode", "podFailurePolicy", "backoffLimitPerIndex", "managedBy", "successPolicy"):
            if spec.get(key) != old_spec.get(key):
                self.errs.invalid(f"spec.{key}", spec.get(key), "field is immutable")

    def update_ConfigMap(self, new: dict, old: dict) -> None:
        self._immutable_data(new, old, ("data", "binaryData"))

    def update_Secret(self, new: dict, old: dict) -> None:
        if (new.get("type") or "Opaque") != (old.get("type") or "Opaque"):
            self.errs.invalid("type", new.get("type"), "field is immutable")
        self._immutable_data(new, old, ("data",))

    def _immutable_data(self, new: dict, old: dict, keys: tuple[str, ...]) -> None:
        if not old.get("immutable"):
            return
        if not new.get("immutable"):
            self.errs.forbidden("immutable", _IMMUTABLE_WHEN_SET)
        for key in keys:
            if (new.get(key) or {}) != (old.get(key) or {}):
                self.errs.forbidden(key, _IMMUTABLE_WHEN_SET)

    def update_Service(self, new: dict, old: dict) -> None:
        spec, old_spec = _dict(new.get("spec")), _dict(old.get("spec"))
        if "ExternalName" in (spec.get("type"), old_spec.get("type")):
            return
        old_ips = _list(old_spec.get("clusterIPs")) or ([old_spec["clusterIP"]] if old_spec.get("clusterIP") else [])
        new_ips = _list(spec.get("clusterIPs")) or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
        if old_ips and (not new_ips or new_ips[0] != old_ips[0]):
            self.errs.invalid("spec.clusterIPs[0]", new_ips, "may not change once set")

    def update_PersistentVolumeClaim(self, new: dict, old: dict) -> None:
        """ValidatePersistentVolumeClaimUpdate (pkg/apis/core/validation): the spec is immutable, except what the
        PV controller and resizing need: an unset volumeName may be set once, an unset storageClassName may be set
        (retroactive default class, or the value of the beta annotation), and storage requests of bound claims."""
        spec, old_spec = _dict(new.get("spec")), _dict(old.get("spec"))
        bound = _get(new, "status", "phase") == "Bound" or _get(old, "status", "phase") == "Bound"
        new_cmp, old_cmp = json.loads(json.dumps(spec)), json.loads(json.dumps(old_spec))
        if not old_spec.get("volumeName"):
            _copy_key(new_cmp, old_cmp, "volumeName")  # "volumeName changes are allowed once"
        self.pvc_storage_class_update(new, old, new_cmp)
        for candidate in (new_cmp, old_cmp):
            candidate.pop("volumeAttributesClassName", None)
            if bound:
                _dict(candidate.get("resources")).get("requests", {}).pop("storage", None)
        if not _semantic_equal(new_cmp, old_cmp):
            self.errs.forbidden("spec", f"{_PVC_IMMUTABLE}\n{_diff_text(old_cmp, new_cmp)}")
            return
        self.pvc_resize(new, old)

    def pvc_storage_class_update(self, new: dict, old: dict, new_cmp: dict) -> None:
        """validateStorageClassUpgradeFromAnnotation / validateStorageClassUpgradeFromNil: an unset class may be set
        (to the beta annotation's value when the claim has one); the beta annotation itself is immutable."""
        old_annotations = _dict(_get(old, "metadata", "annotations"))
        new_annotations = _dict(_get(new, "metadata", "annotations"))
        old_class, new_class = _get(old, "spec", "storageClassName"), _get(new, "spec", "storageClassName")
        if _BETA_CLASS in old_annotations:
            old_value = old_annotations[_BETA_CLASS]
            if (
                old_class is None
                and new_class == old_value
                and new_annotations.get(_BETA_CLASS, old_value) == old_value
            ):
                new_cmp.pop("storageClassName", None)
                return
        if new_annotations.get(_BETA_CLASS) != old_annotations.get(_BETA_CLASS):
            self.errs.invalid(
                f"metadata.annotations.{_BETA_CLASS}", new_annotations.get(_BETA_CLASS, ""), "field is immutable"
            )
        if _BETA_CLASS not in old_annotations and old_class is None and new_class:
            new_cmp.pop("storageClassName", None)  # RetroactiveDefaultStorageClass (GA in 1.28): set once, never ""

    def pvc_resize(self, new: dict, old: dict) -> None:
        new_size = _get(new, "spec", "resources", "requests", "storage")
        old_size = _get(old, "spec", "resources", "requests", "storage")
        if not (quantity.is_valid(new_size) and quantity.is_valid(old_size)):
            return
        grow = quantity.value_of(new_size) - quantity.value_of(old_size)
        path = "spec.resources.requests.storage"
        if grow < 0:
            if self.minor < 32:
                self.errs.forbidden(path, "field can not be less than previous value")
            else:
                # RecoverVolumeExpansionFailure (beta, on by default since 1.32): shrinking is allowed down to,
                # but not to or below, the recorded status.capacity.
                capacity = _get(old, "status", "capacity", "storage")
                floor = quantity.value_of(capacity) if quantity.is_valid(capacity) else Fraction(0)
                if quantity.value_of(new_size) <= floor:
                    self.errs.forbidden(path, "field can not be less than status.capacity")
        elif grow > 0 and self.pvc_expansion_allowed is False:
            name = _get(new, "metadata", "name", default="")
            raise errors.forbidden(
                "persistentvolumeclaims",
                name,
                "only dynamically provisioned pvc can be resized and "
                "the storageclass that provisions the pvc must support resize",
            )

    def update_Pod(self, new: dict, old: dict) -> None:
        spec, old_spec = _dict(new.get("spec")), _dict(old.get("spec"))
        for group in ("containers", "initContainers"):
            if len(_list(spec.get(group))) != len(_list(old_spec.get(group))):
                self.errs.forbidden("spec", "pod updates may not add or remove containers")
                return
        munged = json.loads(json.dumps(spec))
        for group in ("containers", "initContainers"):
            for container, old_container in zip(_list(munged.get(group)), _list(old_spec.get(group)), strict=False):
                container["image"] = old_container.get("image")
        munged["activeDeadlineSeconds"] = old_spec.get("activeDeadlineSeconds")
        if munged["activeDeadlineSeconds"] is None:
            munged.pop("activeDeadlineSeconds")
        new_tolerations = _list(spec.get("tolerations"))
        old_tolerations = _list(old_spec.get("tolerations"))
        if all(t in new_tolerations for t in old_tolerations):
            munged["tolerations"] = old_spec.get("tolerations")
            if munged["tolerations"] is None:
                munged.pop("tolerations")
        if not _semantic_equal(munged, old_spec):
            self.errs.forbidden("spec", f"{_POD_UPDATE_FORBIDDEN}\n{_diff_text(old_spec, munged)}")

    def update_RoleBinding(self, new: dict, old: dict) -> None:
        if new.get("roleRef") != old.get("roleRef"):
            ref = _dict(new.get("roleRef"))
            shown = GoValue(
                f"rbac.RoleRef{{APIGroup:{go_quote(ref.get('apiGroup', ''))}, Kind:{go_quote(ref.get('kind', ''))}, "
                f"Name:{go_quote(ref.get('name', ''))}}}"
            )
            self.errs.invalid("roleRef", shown, "cannot change roleRef")

    update_ClusterRoleBinding = update_RoleBinding

    def update_PersistentVolume(self, new: dict, old: dict) -> None:
        for key in (*_VOLUME_SOURCES, "local"):
            if _get(new, "spec", key) != _get(old, "spec", key):
                self.errs.forbidden(
                    "spec.persistentvolumesource", "spec.persistentvolumesource is immutable after creation"
                )
                break


def _copy_key(source: dict, target: dict, key: str) -> None:
    """target[key] = source[key], or no key in target when source has none (Go's `old.X = new.X`)."""
    if key in source:
        target[key] = source[key]
    else:
        target.pop(key, None)


def _group_of(obj: dict) -> str:
    api_version = obj.get("apiVersion")
    return split_api_version(api_version)[0] if isinstance(api_version, str) else ""


def _is_zero(value: Any) -> bool:
    return value in (0, "0%") or value is None


def _path_segment_errors(name: str) -> list[str]:
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{bad}'" for bad in ("/", "%") if bad in name]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return "/" in text


def _b64_bytes(value: Any) -> bytes:
    try:
        return base64.b64decode(str(value), validate=False)
    except (binascii.Error, ValueError):
        return str(value).encode()


_CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_CRON_FIELD = re.compile(
    r"^(\*|\?|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?)*$"
)


def _valid_cron(schedule: str) -> bool:
    """The standard 5-field cron grammar robfig/cron's ParseStandard accepts (plus @macros and @every)."""
    text = schedule.strip()
    if text.startswith(("TZ=", "CRON_TZ=")):
        text = text.split(None, 1)[1] if " " in text else ""
    if text in _CRON_MACROS or text.startswith("@every "):
        return True
    fields = text.split()
    return len(fields) == 5 and all(_CRON_FIELD.match(field) for field in fields)


def _semantic_equal(a: Any, b: Any) -> bool:
    """apiequality.Semantic.DeepEqual: quantities compare by value; empty and absent collections are equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = set(a) | set(b)
        return all(_semantic_equal(a.get(k), b.get(k)) for k in keys)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_semantic_equal(x, y) for x, y in zip(a, b, strict=True))
    if a in (None, {}, []) and b in (None, {}, []):
        return True
    if isinstance(a, str) and isinstance(b, str) and a != b and quantity.is_valid(a) and quantity.is_valid(b):
        return quantity.value_of(a) == quantity.value_of(b)
    return a == b


def _suspended_scheduling_change(spec: dict, old_spec: dict) -> bool:
    """A suspended Job that never started may change its template's scheduling directives (KEP-2926)."""
    if not spec.get("suspend"):
        return False
    strip = ("nodeSelector", "tolerations", "affinity", "schedulingGates")
    new_t = json.loads(json.dumps(_dict(spec.get("template"))))
    old_t = json.loads(json.dumps(_dict(old_spec.get("template"))))
    for template in (new_t, old_t):
        for key in strip:
            _dict(template.get("spec")).pop(key, None)
        _dict(template.get("metadata")).pop("labels", None)
        _dict(template.get("metadata")).pop("annotations", None)
    return _semantic_equal(new_t, old_t)


def _diff_text(old: Any, new: Any, path: str = "") -> str:
    """A short stand-in for the cmp.Diff the real message carries: the changed field paths."""
    lines: list[str] = []
    _collect_diff(old, new, path, lines)
    return "\n".join(lines[:20])


def _collect_diff(old: Any, new: Any, path: str, lines: list[str]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            _collect_diff(old.get(key), new.get(key), f"{path}.{key}" if path else key, lines)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            _collect_diff(a, b, f"{path}[{index}]", lines)
    elif not _semantic_equal(old, new):
        lines.append(f"  {path}: {json.dumps(old)} -> {json.dumps(new)}")


# -- custom resources -----------------------------------------------------------------------------

_CR_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
}


class _CustomResourceValidator:
    """Structural-schema validation and pruning of a custom resource (apiextensions-apiserver)."""

    def __init__(self) -> None:
        self.errs = FieldErrors()
        self.unknown: list[tuple[dict, str, str]] = []

    def walk(self, value: Any, schema: dict, path: str, *, root: bool = False) -> None:
        if value is None:
            if not schema.get("nullable"):
                self.errs._add(
                    "Invalid value",
                    path,
                    f'Invalid value: "null": {path} in body must be of type {schema.get("type", "object")}: "null"',
                )
            return
        if not self.check_type(value, schema, path):
            return
        self.keywords(value, schema, path)
        if isinstance(value, dict):
            self.object(value, schema, path, root=root)
        elif isinstance(value, list):
            items = schema.get("items")
            if isinstance(items, dict):
                for index, item in enumerate(value):
                    self.walk(item, items, f"{path}[{index}]")

    def check_type(self, value: Any, schema: dict, path: str) -> bool:
        if schema.get("x-kubernetes-int-or-string"):
            ok = isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
            expected = "integer,string"
        else:
            expected = schema.get("type")
            ok = expected is None or _CR_TYPES.get(expected, lambda _v: True)(value)
        if not ok:
            found = (
                _json_kind(value)
                if not isinstance(value, int | float) or isinstance(value, bool)
                else ("integer" if isinstance(value, int) else "number")
            )
            found = {"bool": "boolean"}.get(found, found)
            self.errs._add(
                "Invalid value",
                path,
                f"Invalid value: {go_quote(found)}: {path} in body must be of type {expected}: {go_quote(found)}",
            )
        return ok

    def keywords(self, value: Any, schema: dict, path: str) -> None:
        enum = schema.get("enum")
        if enum is not None and value not in enum:
            self.errs.not_supported(path, value, [v if isinstance(v, str) else json.dumps(v) for v in enum])
        if isinstance(value, int | float) and not isinstance(value, bool):
            self.numeric(value, schema, path)
        if isinstance(value, str):
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                self.errs._add("Too long", path, f"Too long: may not be more than {schema['maxLength']} bytes")
            if "minLength" in schema and len(value) < schema["minLength"]:
                self.errs.invalid(path, value, f"{path} in body should be at least {schema['minLength']} chars long")
            if "pattern" in schema and not re.search(schema["pattern"], value):
                self.errs.invalid(path, value, f"{path} in body should match '{schema['pattern']}'")
        if isinstance(value, list):
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                self.errs.too_many(path, len(value), schema["maxItems"])
            if "minItems" in schema and len(value) < schema["minItems"]:
                self.errs.invalid(path, len(value), f"{path} in body should have at least {schema['minItems']} items")

    def numeric(self, value: float, schema: dict, path: str) -> None:
        if "minimum" in schema:
            low = schema["minimum"]
            if value < low or (schema.get("exclusiveMinimum") and value == low):
                relation = "greater than" if schema.get("exclusiveMinimum") else "greater than or equal to"
                self.errs.invalid(path, value, f"{path} in body should be {relation} {low}")
        if "maximum" in schema:
            high = schema["maximum"]
            if value > high or (schema.get("exclusiveMaximum") and value == high):
                relation = "less than" if schema.get("exclusiveMaximum") else "less than or equal to"
                self.errs.invalid(path, value, f"{path} in body should be {relation} {high}")

    def object(self, value: dict, schema: dict, path: str, *, root: bool) -> None:
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") or extra is True
        for key in schema.get("required") or ():
            if key not in value:
                self.errs.required(f"{path}.{key}" if path else key, "")
        for key, item in list(value.items()):
            child = f"{path}.{key}" if path else key
            if root and key in ("apiVersion", "kind", "metadata"):
                continue
            if key in props:
                self.walk(item, props[key], child)
            elif isinstance(extra, dict):
                self.walk(item, extra, child)
            elif not preserve:
                self.unknown.append((value, key, child))


def finalizer_warnings(obj: dict, old: dict | None, version: str) -> list[str]:
    """Warnings for the unqualified finalizers a write adds to a custom resource.

    Custom resources only warn (apiextensions-apiserver pkg/registry/customresource/strategy.go
    generateWarningsFromObj -> validator.go validateKubeFinalizerName, since 1.29, kubernetes#119508);
    built-in kinds refuse such names with 422 (pkg/apis/core/validation ValidateObjectMeta ->
    validateKubeFinalizerName). From 1.32 (kubernetes#127303) a name with a dot gets the hint about a path.
    """
    minor = _minor(version)
    if minor < 29:
        return []
    added = _list(_get(obj, "metadata", "finalizers"))
    before = set(_list(_get(old, "metadata", "finalizers"))) if old is not None else set()
    warnings = []
    for name in sorted({f for f in added if isinstance(f, str) and f not in before}):
        if "/" in name or name in _STANDARD_FINALIZERS:
            continue
        hint = " including a path (/)" if minor >= 32 and "." in name else ""
        warnings.append(
            f"metadata.finalizers: {go_quote(name)}: prefer a domain-qualified finalizer name{hint} "
            "to avoid accidental conflicts with other finalizer writers"
        )
    return warnings


def _validate_custom(obj: dict, old: dict | None, crd_schema: dict, field_validation: str, version: str) -> list[str]:
    checker = _CustomResourceValidator()
    checker.walk(obj, crd_schema, "", root=True)
    warnings = _handle_unknown(checker.unknown, field_validation)
    meta_check = _Validator(obj, old, version, None, builtin=False)
    meta_check.metadata(obj.get("kind", ""))
    if old is not None:
        meta_check.metadata_update()
    causes = meta_check.errs.causes + checker.errs.causes
    if causes:
        group, _ = split_api_version(obj.get("apiVersion", ""))
        raise errors.invalid(obj.get("kind", ""), _get(obj, "metadata", "name", default=""), causes, group)
    return warnings + finalizer_warnings(obj, old, version)


# -- entry point ----------------------------------------------------------------------------------


def validate_write(
    obj: dict,
    *,
    old: dict | None,
    schemas: Schemas,
    field_validation: str,
    crd_schema: dict | None = None,
    pvc_expansion_allowed: bool | None = None,
) -> list[str]:
    """Validate a create (old None) or update of `obj`, already defaulted. Returns warning texts.

    Drops unknown fields in place (Warn/Ignore) and nulls. Raises ApiError: 400 BadRequest for
    undecodable bodies and, with Strict, unknown fields; 422 Invalid with causes for validation
    failures; 403 Forbidden when a PVC grows and `pvc_expansion_allowed` is False (the caller
    looks up the StorageClass's allowVolumeExpansion; None skips that admission check).
    """
    field_validation = field_validation or WARN
    if field_validation not in FIELD_VALIDATION_VALUES:
        raise errors.bad_request(
            f'fieldValidation must be one of "Ignore", "Warn", or "Strict", got {field_validation!r}'.replace("'", '"')
        )
    if crd_schema is not None:
        return _validate_custom(obj, old, crd_schema, field_validation, schemas.version)
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    if not isinstance(api_version, str) or not isinstance(kind, str) or not kind:
        # runtime.Decode cannot tell what the body is (the REST layer normally fills both from the URL).
        raise errors.bad_request("Object 'Kind' is missing in the request body")
    warnings: list[str] = []
    missing: list[str] = []
    if schemas.kind(api_version, kind) is not None:
        _, version = split_api_version(api_version)
        warnings, missing = _decode(obj, schemas, field_validation, kind, version)
    validator = _Validator(obj, old, schemas.version, pvc_expansion_allowed)
    for path in missing:
        validator.errs.required(path, "")
    causes = validator.run().causes
    if causes:
        group, _ = split_api_version(api_version)
        raise errors.invalid(kind, _get(obj, "metadata", "name", default=""), causes, group)
    return warnings


__all__ = [
    "FIELD_VALIDATION_VALUES",
    "MAX_ANNOTATIONS_SIZE",
    "MAX_DATA_SIZE",
    "FieldErrors",
    "is_config_map_key",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_qualified_name",
    "is_valid_label_value",
    "selector_matches",
    "validate_write",
]
