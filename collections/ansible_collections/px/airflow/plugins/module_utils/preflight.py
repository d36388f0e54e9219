# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The preflight's rules: settings the stack cannot honour, found before anything is written.

Each check names the setting (the variable a user wrote), its value and a rule. ``problems(checks,
reader)`` returns one message per problem, each naming the setting, the value and the rule, and
the fix where there is one. ``reader(path)`` reads a live object (None when it does not exist): the
rules that compare a setting with what is deployed (a claim that would shrink, the PostgreSQL
major version on the volume, a namespace that holds workloads not ours, a switch between internal
and external databases) read through it, and nothing here ever writes.
"""

from __future__ import annotations

import difflib
import re
from decimal import Decimal, InvalidOperation

from ansible_collections.px.airflow.plugins.module_utils.airflow_config_schema import AIRFLOW_VERSION, SECTIONS

RULES = (
    "namespace",
    "object_names",
    "dns_label",
    "dns_subdomain",
    "not_empty",
    "quantity",
    "resources",
    "claim_size",
    "registry",
    "image",
    "postgres_image",
    "cron",
    "port",
    "integer",
    "keys",
    "airflow_config",
    "host",
    "database_mode",
)

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

# Names Kubernetes derives from an object's name and puts in a label (at most 63 characters):
# a StatefulSet's controller-revision-hash (name-<10>) and a CronJob's Jobs (name-<8 digits>, and
# their pods' job-name label).
NAME_LIMITS = {"StatefulSet": 52, "CronJob": 52}
SERVICE_KINDS = ("Service",)

# Kubernetes' quantity grammar (k8s.io/apimachinery/pkg/api/resource): a signed decimal number
# and a suffix, binary (Ki..Ei), decimal (n u m "" k M G T P E) or an exponent (e3, E-2).
QUANTITY = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))((?:[KMGTPE]i)|[numkMGTPE]|[eE][+-]?[0-9]+)?$")
BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1)}
DECIMAL.update({"k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12)})
DECIMAL.update({"P": Decimal(10**15), "E": Decimal(10**18)})
MEBIBYTE = 2**20

# The image reference grammar of github.com/distribution/reference.
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = _ALNUM + r"(?:" + _SEPARATOR + _ALNUM + r")*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = r"(?:" + _DOMAIN_COMPONENT + r"(?:\." + _DOMAIN_COMPONENT + r")*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_NAME = r"(?:" + _DOMAIN + r"/)?" + _PATH_COMPONENT + r"(?:/" + _PATH_COMPONENT + r")*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_REFERENCE = re.compile(r"^(" + _NAME + r")(?::(" + _TAG + r"))?(?:@(" + _DIGEST + r"))?$")
REGISTRY = re.compile(r"^" + _DOMAIN + r"(?:/" + _PATH_COMPONENT + r")*$")
VERSION = re.compile(r"(?:^|[^0-9.])([0-9]+)(?:\.[0-9]+)*(?:$|[^0-9.])")

HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*\.?$"
)
IPV4 = re.compile(r"^(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}$")
IPV6 = re.compile(r"^[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*$")

CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
CRON_FIELDS = (
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day of month", 1, 31, None),
    ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    ("day of week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)
GO_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")

KUBERNETES_EXECUTOR = (
    "KubernetesExecutor",
    "airflow.providers.cncf.kubernetes.executors.kubernetes_executor.KubernetesExecutor",
)
SECRET_OPTION = re.compile(r"fernet_key|secret_key|jwt_secret|sql_alchemy_conn|password")
BOOLEANS = ("true", "false", "t", "f", "1", "0")

# Kinds whose objects in a namespace make it "hold workloads".
WORKLOADS = (
    ("apps/v1", "deployments", "Deployment"),
    ("apps/v1", "statefulsets", "StatefulSet"),
    ("apps/v1", "daemonsets", "DaemonSet"),
    ("batch/v1", "cronjobs", "CronJob"),
)
MANAGED_BY = "px.airflow"


def _show(value):
    return repr(value) if isinstance(value, str) else str(value)


def _suggest(word, choices):
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return " (did you mean %s?)" % close[0] if close else ""


def _whole(value):
    """An int from an int or a text of digits (as Ansible passes numbers it templated), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.match(r"^\s*-?[0-9]+\s*$", value):
        return int(value)
    return None


def parse_quantity(text):
    """The value of a Kubernetes quantity as a Decimal, or None when Kubernetes would refuse it."""
    match = QUANTITY.match(str(text)) if isinstance(text, (str, int, float)) and not isinstance(text, bool) else None
    if not match:
        return None
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:
        return None
    suffix = match.group(2) or ""
    if suffix in BINARY:
        return number * BINARY[suffix]
    if suffix in DECIMAL:
        return number * DECIMAL[suffix]
    return number * (Decimal(10) ** int(suffix[1:]))


def image_major(reference):
    """The major version in an image reference's tag, or None when the tag names none."""
    match = IMAGE_REFERENCE.match(reference or "")
    tag = match.group(2) if match else None
    if not tag:
        return None
    found = VERSION.search(tag)
    return int(found.group(1)) if found else None


def _cron_field_problem(field, spec):
    name, low, high, names = spec
    for part in field.split(","):
        base, step = part.partition("/")[::2]
        if step and not (step.isdigit() and int(step) > 0):
            return "the %s step %r is not a positive number" % (name, step)
        if base in ("*", "?"):
            continue
        bounds = base.split("-")
        if len(bounds) > 2:
            return "the %s %r is not a number or a range" % (name, base)
        for bound in bounds:
            if bound.isdigit():
                number = int(bound)
            elif names and bound.lower() in names:
                number = names.index(bound.lower()) + low
            else:
                return "the %s %r is not a number%s" % (name, bound, " or a name" if names else "")
            if not low <= number <= high:
                return "the %s %s is outside %d-%d" % (name, bound, low, high)
    return None


def cron_problem(expression):
    """Why Kubernetes (robfig/cron's standard parser) would refuse a CronJob schedule, or None."""
    text = str(expression).strip()
    if text.startswith(("TZ=", "CRON_TZ=")):
        return "Kubernetes refuses a time zone in the schedule (set the CronJob's timeZone instead)"
    if text.startswith("@"):
        if text in CRON_MACROS:
            return None
        if text.startswith("@every ") and GO_DURATION.match(text[len("@every ") :]):
            return None
        return "%s is not one of %s or @every <duration>" % (text.split()[0], ", ".join(CRON_MACROS))
    fields = text.split()
    if len(fields) != 5:
        return "a schedule has 5 fields (minute hour day-of-month month day-of-week), not %d" % len(fields)
    for index, spec in enumerate(CRON_FIELDS):
        problem = _cron_field_problem(fields[index], spec)
        if problem:
            return problem
    return None


class Preflight:
    """Runs checks; ``reader(path)`` returns a live object or None (404), or is None to read nothing."""

    def __init__(self, reader, aliases=None):
        self.reader = reader or (lambda path: None)
        self.aliases = aliases or {}
        self.found = []

    def problem(self, setting, value, rule, fix=None):
        text = "%s: %s %s" % (setting, _show(value), rule)
        text += (". " + fix if fix else "") + ("" if (fix or rule).endswith(".") else ".")
        if text not in self.found:  # two roles refusing the one setting they share say it once
            self.found.append(text)

    def _setting(self, check):
        """The name the user wrote: a role's setting that a playbook fills from a shared one is named after it."""
        alias = self.aliases.get(check["setting"])
        if alias and alias.get("value") == check.get("value"):
            return alias["setting"]
        return check["setting"]

    def run(self, checks):
        for check in checks:
            rule, params, value = getattr(self, "_" + check["rule"]), check.get("params") or {}, check.get("value")
            check = dict(check, setting=self._setting(check))
            if params.get("each"):
                if not isinstance(value, list):
                    self.problem(check["setting"], value, "must be a list")
                    continue
                for index, item in enumerate(value):
                    rule("%s[%d]" % (check["setting"], index), item, params)
            else:
                rule(check["setting"], value, params)
        return self.found

    # ---- names -----------------------------------------------------------------------------
    def _dns_label(self, setting, value, params):
        if not isinstance(value, str) or not DNS1123_LABEL.match(value) or len(value) > 63:
            self.problem(
                setting,
                value,
                "is not a valid Kubernetes name: at most 63 characters, lowercase letters, digits and '-', "
                "starting and ending with a letter or digit",
                params.get("fix"),
            )

    def _dns_subdomain(self, setting, value, params):
        if not isinstance(value, str) or not DNS1123_SUBDOMAIN.match(value) or len(value) > 253:
            self.problem(
                setting,
                value,
                "is not a valid Kubernetes object name: lowercase letters, digits, '-' and '.', starting and "
                "ending with a letter or digit, at most 253 characters",
            )

    def _not_empty(self, setting, value, params):
        if value is None or not str(value).strip():
            self.problem(setting, value, "must not be empty", params.get("fix"))
        elif params.get("argument") and str(value).startswith("-"):
            # Passed as one argument of a command (params.argument names it): a leading '-' makes it an option.
            rule = "starts with '-', which {0} would read as an option".format(params["argument"])
            self.problem(setting, value, rule)

    def _object_names(self, setting, value, params):
        """value: the release name; params.names: [{kind, name}] of what the role creates."""
        if not isinstance(value, str) or not DNS1035_LABEL.match(value):
            self.problem(
                setting,
                value,
                "is not a valid release name: lowercase letters, digits and '-', starting with a letter "
                "(it begins every object name, Services' among them)",
            )
            return
        for item in params.get("names") or []:
            limit = NAME_LIMITS.get(item["kind"], 63)
            if len(item["name"]) > limit:
                room = limit - (len(item["name"]) - len(value))
                self.problem(
                    setting,
                    value,
                    "makes the %s name %r %d characters long; Kubernetes allows %d"
                    % (item["kind"], item["name"], len(item["name"]), limit),
                    "Use a release name of at most %d characters" % max(room, 1),
                )
                return

    def _namespace(self, setting, value, params):
        if not isinstance(value, str) or not DNS1123_LABEL.match(value) or len(value) > 63:
            self._dns_label(setting, value, {})
            return
        if value.startswith("kube-") or value == "default":
            if not params.get("allow_system"):
                self.problem(
                    setting,
                    value,
                    "belongs to Kubernetes itself; the stack would label it with the restricted Pod Security "
                    "level and mix its objects with the system's",
                    "Choose a namespace of the stack's own (such as airflow)",
                )
            return
        if params.get("allow_foreign"):
            return
        release = params.get("release")
        foreign = []
        for api_version, plural, kind in WORKLOADS:
            listing = self.reader("/apis/%s/namespaces/%s/%s" % (api_version, value, plural)) or {}
            for item in listing.get("items") or []:
                labels = (item.get("metadata") or {}).get("labels") or {}
                ours = labels.get("app.kubernetes.io/managed-by") == MANAGED_BY
                if not ours or (release and labels.get("app.kubernetes.io/instance") != release):
                    foreign.append("%s %s" % (kind, item["metadata"]["name"]))
        if foreign:
            self.problem(
                setting,
                value,
                "already holds workloads that are not this release's (%s)" % ", ".join(sorted(foreign)[:5]),
                "Deploy into a namespace of its own, or set %s: true to share it"
                % params.get("allow_setting", "px_namespace_shared"),
            )

    # ---- quantities ------------------------------------------------------------------------
    def _quantity_problem(self, value, resource):
        amount = parse_quantity(value)
        if amount is None:
            return "is not a Kubernetes quantity (a number and a unit such as 512Mi, 8Gi or 250m)"
        if amount <= 0:
            return "must be more than zero"
        if resource in ("storage", "memory"):
            if re.match(r"^[0-9.]+$", str(value)):
                return "has no unit, so Kubernetes reads it as %s bytes; give a unit (Mi or Gi), such as %sMi" % (
                    value,
                    value,
                )
            if amount < MEBIBYTE:
                return "is less than 1Mi"
        return None

    def _quantity(self, setting, value, params):
        problem = self._quantity_problem(value, params.get("resource", "storage"))
        if problem:
            self.problem(setting, value, problem)

    def _resources(self, setting, value, params):
        """value: {component: {requests: {cpu, memory}, limits: {...}}} or one such entry (params.single)."""
        entries = {"": value} if params.get("single") else value
        if not isinstance(entries, dict):
            self.problem(setting, value, "must be a dictionary of components")
            return
        allowed = params.get("components") or []
        for component, spec in entries.items():
            where = "%s.%s" % (setting, component) if component else setting
            if component and allowed and component not in allowed:
                self.problem(
                    where, spec, "is not a component (%s)%s" % (", ".join(allowed), _suggest(component, allowed))
                )
                continue
            if not isinstance(spec, dict):
                self.problem(where, spec, "must be a dictionary with requests and limits")
                continue
            for part, amounts in spec.items():
                if part not in ("requests", "limits"):
                    self.problem(
                        "%s.%s" % (where, part),
                        amounts,
                        "is not requests or limits%s" % _suggest(part, ("requests", "limits")),
                    )
                    continue
                if not isinstance(amounts, dict):
                    self.problem(
                        "%s.%s" % (where, part), amounts, "must be a dictionary such as {cpu: 250m, memory: 1Gi}"
                    )
                    continue
                for resource, amount in amounts.items():
                    key = "%s.%s.%s" % (where, part, resource)
                    if resource not in ("cpu", "memory", "ephemeral-storage"):
                        self.problem(
                            key,
                            amount,
                            "is not cpu, memory or ephemeral-storage%s" % _suggest(resource, ("cpu", "memory")),
                        )
                        continue
                    problem = self._quantity_problem(amount, "memory" if resource != "cpu" else "cpu")
                    if problem:
                        self.problem(key, amount, problem)
            requests, limits = spec.get("requests"), spec.get("limits")
            if isinstance(requests, dict) and isinstance(limits, dict):
                for resource in set(requests) & set(limits):
                    low, high = parse_quantity(requests[resource]), parse_quantity(limits[resource])
                    if low is not None and high is not None and low > high:
                        self.problem(
                            "%s.requests.%s" % (where, resource),
                            requests[resource],
                            "is more than its limit %s; Kubernetes refuses a request above the limit"
                            % limits[resource],
                        )

    def _claim_size(self, setting, value, params):
        """A claim's new size; params: namespace, claim. A bound claim can only grow."""
        problem = self._quantity_problem(value, "storage")
        if problem:
            self.problem(setting, value, problem)
            return
        live = self.reader("/api/v1/namespaces/%s/persistentvolumeclaims/%s" % (params["namespace"], params["claim"]))
        if live is None:
            return
        current = ((live.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage")
        capacity = ((live.get("status") or {}).get("capacity") or {}).get("storage")
        largest = max(
            (q for q in (current, capacity) if parse_quantity(q) is not None), key=parse_quantity, default=None
        )
        if largest is not None and parse_quantity(value) < parse_quantity(largest):
            self.problem(
                setting,
                value,
                "would shrink the claim %s/%s, which holds %s; Kubernetes cannot shrink a volume"
                % (params["namespace"], params["claim"], largest),
                "Keep %s at %s or more" % (setting, largest),
            )

    # ---- images ----------------------------------------------------------------------------
    def _registry(self, setting, value, params):
        if not value:
            return
        if "://" in value:
            self.problem(
                setting,
                value,
                "has a scheme",
                "Give the registry host and path only, such as %s" % value.split("://", 1)[1].rstrip("/"),
            )
        elif value.endswith("/"):
            self.problem(setting, value, "ends with '/'", "Drop the trailing slash: %s" % value.rstrip("/"))
        elif not REGISTRY.match(value):
            self.problem(
                setting,
                value,
                "is not a registry host with an optional path (such as registry.example.com:5000/mirror)",
            )

    def _image_reference(self, setting, value):
        match = IMAGE_REFERENCE.match(value) if isinstance(value, str) else None
        if match and "/" in match.group(1):
            # A first component without '.' or ':' (and not localhost) is a repository path on the
            # default registry, not a registry host: it must be lowercase (docker's normalisation).
            first = match.group(1).split("/", 1)[0]
            if not ("." in first or ":" in first or first == "localhost") and not re.match(
                _PATH_COMPONENT + "$", first
            ):
                match = None
        if not match or len(match.group(1)) > 255:
            self.problem(
                setting,
                value,
                "is not a valid image reference ([registry/]repository[:tag][@digest]: lowercase repository, "
                "no spaces, a tag of letters, digits, '_', '.' and '-')",
            )
            return False
        return True

    def _image(self, setting, value, params):
        """params: major (required major version of the tag), product (for the message)."""
        if not self._image_reference(setting, value):
            return
        major = params.get("major")
        if major is None:
            return
        found = image_major(value)
        product = params.get("product", "the image")
        if found is None:
            self.problem(
                setting,
                value,
                "names no version, so %s %s cannot be checked" % (product, major),
                "Pin a version tag such as %s" % params.get("example", "%d.x" % major),
            )
        elif found != major:
            self.problem(
                setting,
                value,
                "is %s %d; this collection deploys %s %d" % (product, found, product, major),
                params.get("fix"),
            )

    def _postgres_image(self, setting, value, params):
        """params: namespace, statefulset, allow_upgrade (bool), allow_setting, container."""
        if not self._image_reference(setting, value):
            return
        major = image_major(value)
        if major is None:
            self.problem(setting, value, "names no PostgreSQL version", "Pin a version tag such as 17.6")
            return
        live = self.reader("/apis/apps/v1/namespaces/%s/statefulsets/%s" % (params["namespace"], params["statefulset"]))
        if live is None:
            return
        containers = (((live.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
        images = [c.get("image") for c in containers if c.get("name") == params.get("container", "postgresql")]
        current = image_major(images[0]) if images else None
        if current is None or current == major:
            return
        if major < current:
            self.problem(
                setting,
                value,
                "is PostgreSQL %d, older than the PostgreSQL %d whose data is on the volume (%s); PostgreSQL cannot "
                "read data written by a newer major version" % (major, current, images[0]),
                "Keep a %d.x tag" % current,
            )
        elif not params.get("allow_upgrade"):
            self.problem(
                setting,
                value,
                "is PostgreSQL %d, but the volume holds PostgreSQL %d data (%s), which a new major version cannot "
                "open without pg_upgrade" % (major, current, images[0]),
                "Upgrade the data first, then set %s: true"
                % params.get("allow_setting", "postgres_allow_major_upgrade"),
            )

    # ---- numbers and schedules -------------------------------------------------------------
    def _cron(self, setting, value, params):
        problem = cron_problem(value) if isinstance(value, str) else "is not a text"
        if problem:
            self.problem(
                setting, value, "is not a valid cron schedule: " + problem, "For example '17 3 * * *' or @daily"
            )

    def _port(self, setting, value, params):
        number = _whole(value)
        if number is None or not 1 <= number <= 65535:
            self.problem(setting, value, "is not a TCP port (1-65535)")

    def _integer(self, setting, value, params):
        low, high, number = params.get("min"), params.get("max"), _whole(value)
        if number is None:
            self.problem(setting, value, "is not a whole number")
        elif low is not None and number < low:
            self.problem(setting, value, "is less than %d" % low, params.get("fix"))
        elif high is not None and number > high:
            self.problem(setting, value, "is more than %d" % high, params.get("fix"))

    def _keys(self, setting, value, params):
        """A dictionary with known keys; params: allowed, required, values ('integer' with min)."""
        allowed = params.get("allowed") or []
        if not isinstance(value, dict):
            self.problem(setting, value, "must be a dictionary with the keys %s" % ", ".join(allowed))
            return
        for key in value:
            if key not in allowed:
                self.problem(
                    "%s.%s" % (setting, key),
                    value[key],
                    "is not a known key (%s)%s" % (", ".join(allowed), _suggest(key, allowed)),
                )
        for key in params.get("required") or []:
            if key not in value:
                self.problem(setting, value, "lacks the key %s" % key)
        if params.get("values") == "integer":
            for key, item in value.items():
                if key in allowed:
                    self._integer("%s.%s" % (setting, key), item, {"min": params.get("min")})

    # ---- Airflow's configuration -----------------------------------------------------------
    def _airflow_config(self, setting, value, params):
        if not isinstance(value, dict):
            self.problem(setting, value, "must be a dictionary of sections: {section: {key: value}}")
            return
        for section, options in value.items():
            where = "%s.%s" % (setting, section)
            if section not in SECTIONS:
                self.problem(
                    where,
                    options,
                    "is not a section of Airflow %s's configuration%s" % (AIRFLOW_VERSION, _suggest(section, SECTIONS)),
                )
                continue
            if not isinstance(options, dict):
                self.problem(where, options, "must be a dictionary of keys, such as {parallelism: 32}")
                continue
            for key, item in options.items():
                here = "%s.%s" % (where, key)
                secret = SECRET_OPTION.search(key)
                if key not in SECTIONS[section]:
                    self.problem(
                        here,
                        "(hidden)" if secret else item,
                        "is not an option of [%s] in Airflow %s%s"
                        % (section, AIRFLOW_VERSION, _suggest(key, SECTIONS[section])),
                    )
                    continue
                if secret:
                    self.problem(
                        here,
                        "(hidden)",
                        "is a secret; the role keeps secrets in Secrets and passes them as environment variables, "
                        "never in the ConfigMap",
                    )
                    continue
                kind = SECTIONS[section][key]
                if kind == "integer" and (isinstance(item, bool) or not re.match(r"^-?[0-9]+$", str(item))):
                    self.problem(
                        here, item, "is not a whole number (Airflow reads [%s] %s as an integer)" % (section, key)
                    )
                elif kind == "float" and (
                    isinstance(item, bool)
                    or not re.match(r"^-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$", str(item))
                ):
                    self.problem(here, item, "is not a number (Airflow reads [%s] %s as a float)" % (section, key))
                elif kind == "boolean" and str(item).lower() not in BOOLEANS:
                    self.problem(
                        here, item, "is not true or false (Airflow reads [%s] %s as a boolean)" % (section, key)
                    )
                elif isinstance(item, (dict, list)):
                    self.problem(here, item, "must be a single value, not a %s" % type(item).__name__)
        executor = (value.get("core") or {}).get("executor") if isinstance(value.get("core"), dict) else None
        if executor is not None and executor not in KUBERNETES_EXECUTOR:
            self.problem(
                "%s.core.executor" % setting,
                executor,
                "is not the KubernetesExecutor; the stack runs every task in a pod of its own and deploys no "
                "Celery workers or local executor slots",
                "Leave [core] executor out of %s" % setting,
            )

    # ---- the database ----------------------------------------------------------------------
    def _host(self, setting, value, params):
        if not value:
            return
        text = str(value)
        if "://" in text or "/" in text:
            self.problem(
                setting,
                value,
                "is a URL, not a host name",
                "Give the host only (such as db.example.com) and the port, database and user in their own settings",
            )
        elif text.count(":") == 1 and not IPV6.match(text):
            self.problem(
                setting,
                value,
                "carries a port",
                "Give the host only, and the port in %s" % params.get("port_setting", "the port setting"),
            )
        elif not (HOSTNAME.match(text) or IPV4.match(text) or IPV6.match(text)):
            self.problem(setting, value, "is not a host name or an IP address")

    def _database_mode(self, setting, value, params):
        """params: namespace, statefulset, external_secret, allow_switch, allow_setting."""
        namespace = params["namespace"]
        internal = self.reader("/apis/apps/v1/namespaces/%s/statefulsets/%s" % (namespace, params["statefulset"]))
        external = self.reader("/api/v1/namespaces/%s/secrets/%s" % (namespace, params["external_secret"]))
        allow = params.get("allow_setting", "postgres_allow_mode_switch")
        if params.get("allow_switch"):
            return
        if value == "external" and internal is not None:
            self.problem(
                setting,
                value,
                "would switch the release's database from the internal PostgreSQL (StatefulSet %s/%s, with the data "
                "on its volume) to an external one; Airflow would start on an empty or different database"
                % (namespace, params["statefulset"]),
                "Migrate the data first, then set %s: true (the internal database and its Secrets are kept)" % allow,
            )
        elif value == "internal" and internal is None and external is not None:
            self.problem(
                setting,
                value,
                "would switch the release's database from the external one (Secret %s/%s) to a new, empty "
                "internal PostgreSQL" % (namespace, params["external_secret"]),
                "Set %s: true to do so deliberately" % allow,
            )


def redact_secrets(checks):
    """Replace the values of secret options given in airflow_config checks, in place; answers how many.

    The module runs this on its own parameters, so its result's module_args never carry a secret it
    refused. (Its no_log_values would not do: they mask every occurrence of a value in the output,
    and a short value such as "x" would mask letters of every message.)
    """
    redacted = 0
    for item in checks:
        if item.get("rule") != "airflow_config" or not isinstance(item.get("value"), dict):
            continue
        for options in item["value"].values():
            if isinstance(options, dict):
                for key in options:
                    if SECRET_OPTION.search(str(key)):
                        options[key] = "(hidden)"
                        redacted += 1
    return redacted


def problems(checks, reader, aliases=None):
    return Preflight(reader, aliases).run(checks)
