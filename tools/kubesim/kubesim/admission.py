"""Pod Security admission, as the built-in PodSecurity admission plugin applies it.

Levels privileged / baseline / restricted (https://kubernetes.io/docs/concepts/security/pod-security-standards/),
chosen per namespace by the labels pod-security.kubernetes.io/{enforce,warn,audit}[-version]. The
checks, their order and their texts follow k8s.io/pod-security-admission/policy/check_*.go:

- Pods violating the enforce level are rejected: 403 `pods "NAME" is forbidden: violates PodSecurity
  "restricted:latest": allowPrivilegeEscalation != false (container "c" must set ...), ...`.
- The warn level yields a `would violate PodSecurity "LEVEL:VERSION": ...` warning (only when the Pod is
  admitted: a rejected request carries no warnings).
- Pod controllers (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, PodTemplate,
  ReplicationController) are never rejected; their template is checked against the *warn* level only
  (ValidatePodController evaluates with enforce=false), so a namespace with only an enforce label
  gives no warning for a Deployment: its Pods are rejected later.
- The audit level only annotates audit events: ignored here.
- Pod updates are checked only when they are significant (image or seccomp annotation changes,
  containers added or removed), as isSignificantPodUpdate decides.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import errors

PRIVILEGED, BASELINE, RESTRICTED = "privileged", "baseline", "restricted"
LEVELS = (PRIVILEGED, BASELINE, RESTRICTED)
LABEL_PREFIX = "pod-security.kubernetes.io/"
_VERSION_RE = re.compile(r"^v1\.(0|[1-9][0-9]*)$")

_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "PodTemplate": ("template",),
}


# -- policy from namespace labels (api/helpers.go PolicyToEvaluate) ----------------------------------


@dataclass(frozen=True)
class LevelVersion:
    level: str
    minor: int | None  # None = "latest"

    def __str__(self) -> str:
        return f"{self.level}:{'latest' if self.minor is None else f'v1.{self.minor}'}"


@dataclass(frozen=True)
class Policy:
    enforce: LevelVersion
    warn: LevelVersion
    audit: LevelVersion


def _parse_level(value: str | None, fallback_on_error: str) -> str:
    if value is None:
        return PRIVILEGED  # the default configuration: privileged:latest for every mode
    return value if value in LEVELS else fallback_on_error


def _parse_version(value: str | None) -> int | None:
    if value is None or value == "latest":
        return None
    match = _VERSION_RE.match(value)
    return int(match.group(1)) if match else None  # an invalid version evaluates as latest


def policy_from_labels(labels: dict[str, str] | None) -> Policy:
    """An unparseable enforce level fails closed (restricted); unparseable warn/audit levels fail open."""
    labels = labels or {}

    def mode(name: str, fallback: str) -> LevelVersion:
        level = _parse_level(labels.get(LABEL_PREFIX + name), fallback)
        return LevelVersion(level, _parse_version(labels.get(f"{LABEL_PREFIX}{name}-version")))

    return Policy(enforce=mode("enforce", RESTRICTED), warn=mode("warn", PRIVILEGED), audit=mode("audit", PRIVILEGED))


def namespace_label_errors(labels: dict[str, str] | None) -> list[tuple[str, str, str]]:
    """(label, value, message) for each invalid pod-security label: a Namespace carrying one is rejected (422)."""
    problems = []
    for key, value in (labels or {}).items():
        if not key.startswith(LABEL_PREFIX):
            continue
        mode = key[len(LABEL_PREFIX) :]
        if mode in ("enforce", "warn", "audit") and value not in LEVELS:
            problems.append((key, value, "must be one of privileged, baseline, restricted"))
        elif mode in ("enforce-version", "warn-version", "audit-version") and not (
            value == "latest" or _VERSION_RE.match(value)
        ):
            problems.append((key, value, 'must be "latest" or "v1.x"'))
    return problems


# -- helpers of the checks (policy/helpers.go) ------------------------------------------------------


def _join_quote(items: list[str]) -> str:
    return '"' + '", "'.join(items) + '"' if items else ""


def _pluralize(singular: str, plural: str, count: int) -> str:
    return singular if count == 1 else plural


def _containers(spec: dict) -> list[dict]:
    """visitContainers: init containers, containers, then ephemeral containers."""
    found = []
    for group in ("initContainers", "containers", "ephemeralContainers"):
        found.extend(c for c in spec.get(group) or [] if isinstance(c, dict))
    return found


def _sc(container_or_spec: dict) -> dict:
    value = container_or_spec.get("securityContext")
    return value if isinstance(value, dict) else {}


def _windows(spec: dict) -> bool:
    return ((spec.get("os") or {}).get("name")) == "windows"


Result = tuple[str, str] | None  # (reason, detail) when forbidden


def _setters_detail(pod_bad: bool, containers: list[str]) -> list[str]:
    setters = ["pod"] if pod_bad else []
    if containers:
        setters.append(f"{_pluralize('container', 'containers', len(containers))} {_join_quote(containers)}")
    return setters


# -- baseline checks --------------------------------------------------------------------------------


def _app_armor(meta: dict, spec: dict, _minor: int) -> Result:
    """check_appArmorProfile.go: RuntimeDefault/Localhost only; legacy annotations runtime/default, localhost/*."""
    allowed = ("RuntimeDefault", "Localhost")
    bad_values: set[str] = set()
    setters = []
    pod_type = ((_sc(spec).get("appArmorProfile") or {}).get("type")) if _sc(spec).get("appArmorProfile") else None
    if _sc(spec).get("appArmorProfile") is not None and pod_type not in allowed:
        setters.append("pod")
        bad_values.add(pod_type or "")
    bad_containers = []
    for container in _containers(spec):
        profile = _sc(container).get("appArmorProfile")
        if profile is not None and (profile or {}).get("type") not in allowed:
            bad_containers.append(container.get("name", ""))
            bad_values.add((profile or {}).get("type") or "")
    if bad_containers:
        setters.append(f"{_pluralize('container', 'containers', len(bad_containers))} {_join_quote(bad_containers)}")
    annotations = []
    for key, value in sorted((meta.get("annotations") or {}).items()):
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and not (
            value == "" or value == "runtime/default" or value.startswith("localhost/")
        ):
            annotations.append(f'{key}="{value}"')
    values = sorted(bad_values) + annotations
    if annotations:
        setters.append(_pluralize("annotation", "annotations", len(annotations)))
    if not setters:
        return None
    return (
        _pluralize("forbidden AppArmor profile", "forbidden AppArmor profiles", len(values)),
        f"{' and '.join(setters)} must not set AppArmor profile type to {_join_quote(values)}",
    )


_BASELINE_CAPABILITIES = {
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
}


def _capabilities_baseline(_meta: dict, spec: dict, _minor: int) -> Result:
    bad_containers, bad_caps = [], set()
    for container in _containers(spec):
        added = [
            c for c in ((_sc(container).get("capabilities") or {}).get("add") or []) if c not in _BASELINE_CAPABILITIES
        ]
        if added:
            bad_containers.append(container.get("name", ""))
            bad_caps.update(added)
    if not bad_containers:
        return None
    return (
        "non-default capabilities",
        f"{_pluralize('container', 'containers', len(bad_containers))} {_join_quote(bad_containers)} must not include "
        f"{_join_quote(sorted(bad_caps))} in securityContext.capabilities.add",
    )


def _host_namespaces(_meta: dict, spec: dict, _minor: int) -> Result:
    used = sorted(key for key in ("hostNetwork", "hostPID", "hostIPC") if spec.get(key))
    return ("host namespaces", ", ".join(used)) if used else None


def _host_path_volumes(_meta: dict, spec: dict, _minor: int) -> Result:
    names = [
        v.get("name", "") for v in spec.get("volumes") or [] if isinstance(v, dict) and v.get("hostPath") is not None
    ]
    if not names:
        return None
    return "hostPath volumes", f"{_pluralize('volume', 'volumes', len(names))} {_join_quote(names)}"


def _host_ports(_meta: dict, spec: dict, _minor: int) -> Result:
    bad_containers, ports = [], set()
    for container in _containers(spec):
        used = [p.get("hostPort") for p in container.get("ports") or [] if isinstance(p, dict) and p.get("hostPort")]
        if used:
            bad_containers.append(container.get("name", ""))
            ports.update(str(p) for p in used)
    if not bad_containers:
        return None
    return (
        "hostPort",
        f"{_pluralize('container', 'containers', len(bad_containers))} {_join_quote(bad_containers)} "
        f"{_pluralize('uses', 'use', len(bad_containers))} {_pluralize('hostPort', 'hostPorts', len(ports))} "
        f"{', '.join(sorted(ports))}",
    )


def _host_probes(_meta: dict, spec: dict, _minor: int) -> Result:
    """check_hostProbesAndhostLifecycle.go (policy v1.34+): no host in probes' or hooks' httpGet/tcpSocket."""
    bad_containers, hosts = set(), set()
    for container in _containers(spec):
        handlers = [container.get(p) for p in ("livenessProbe", "readinessProbe", "startupProbe")]
        handlers += [(container.get("lifecycle") or {}).get(h) for h in ("postStart", "preStop")]
        for handler in handlers:
            for action in ("httpGet", "tcpSocket"):
                host = ((handler or {}).get(action) or {}).get("host")
                if host:
                    bad_containers.add(container.get("name", ""))
                    hosts.add(host)
    if not bad_containers:
        return None
    return (
        "probe or lifecycle host",
        f"{_pluralize('container', 'containers', len(bad_containers))} {_join_quote(sorted(bad_containers))} "
        f"{_pluralize('uses', 'use', len(bad_containers))} "
        f"{_pluralize('probe or lifecycle host', 'probe or lifecycle hosts', len(hosts))} {_join_quote(sorted(hosts))}",
    )


def _privileged(_meta: dict, spec: dict, _minor: int) -> Result:
    bad = [c.get("name", "") for c in _containers(spec) if _sc(c).get("privileged") is True]
    if not bad:
        return None
    return (
        "privileged",
        f"{_pluralize('container', 'containers', len(bad))} {_join_quote(bad)} "
        "must not set securityContext.privileged=true",
    )


def _proc_mount(_meta: dict, spec: dict, _minor: int) -> Result:
    bad, kinds = [], set()
    for container in _containers(spec):
        mount = _sc(container).get("procMount")
        if mount is not None and mount != "Default":
            bad.append(container.get("name", ""))
            kinds.add(mount)
    if not bad:
        return None
    return (
        "procMount",
        f"{_pluralize('container', 'containers', len(bad))} {_join_quote(bad)} must not set securityContext.procMount "
        f"to {_join_quote(sorted(kinds))}",
    )


def _selinux(_meta: dict, spec: dict, minor: int) -> Result:
    allowed = {"", "container_t", "container_init_t", "container_kvm_t"}
    if minor >= 31:
        allowed.add("container_engine_t")  # seLinuxOptions_1_31
    bad_types: set[str] = set()
    flags = {"user": False, "role": False}

    def valid(options: dict) -> bool:
        ok = True
        if (options.get("type") or "") not in allowed:
            ok = False
            bad_types.add(options.get("type") or "")
        for key in ("user", "role"):
            if options.get(key):
                ok = False
                flags[key] = True
        return ok

    pod_bad = bool(_sc(spec).get("seLinuxOptions")) and not valid(_sc(spec)["seLinuxOptions"])
    bad = [
        c.get("name", "")
        for c in _containers(spec)
        if _sc(c).get("seLinuxOptions") and not valid(_sc(c)["seLinuxOptions"])
    ]
    setters = _setters_detail(pod_bad, bad)
    if not setters:
        return None
    data = []
    if bad_types:
        data.append(f"{_pluralize('type', 'types', len(bad_types))} {_join_quote(sorted(bad_types))}")
    data += [f"{key} may not be set" for key in ("user", "role") if flags[key]]
    return "seLinuxOptions", f"{' and '.join(setters)} set forbidden securityContext.seLinuxOptions: {'; '.join(data)}"


def _valid_seccomp(kind: Any) -> bool:
    return kind in ("RuntimeDefault", "Localhost")


def _seccomp_baseline(_meta: dict, spec: dict, _minor: int) -> Result:
    bad_values: set[str] = set()
    pod_profile = _sc(spec).get("seccompProfile")
    pod_bad = pod_profile is not None and not _valid_seccomp((pod_profile or {}).get("type"))
    if pod_bad:
        bad_values.add((pod_profile or {}).get("type") or "")
    bad = []
    for container in _containers(spec):
        profile = _sc(container).get("seccompProfile")
        if profile is not None and not _valid_seccomp((profile or {}).get("type")):
            bad.append(container.get("name", ""))
            bad_values.add((profile or {}).get("type") or "")
    setters = _setters_detail(pod_bad, bad)
    if not setters:
        return None
    return (
        "seccompProfile",
        f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to "
        f"{_join_quote(sorted(bad_values))}",
    )


_SYSCTLS_BY_VERSION = (
    (
        0,
        {
            "kernel.shm_rmid_forced",
            "net.ipv4.ip_local_port_range",
            "net.ipv4.tcp_syncookies",
            "net.ipv4.ping_group_range",
        },
    ),
    (27, {"net.ipv4.ip_unprivileged_port_start"}),
    (
        29,
        {
            "net.ipv4.ip_local_reserved_ports",
            "net.ipv4.tcp_keepalive_time",
            "net.ipv4.tcp_fin_timeout",
            "net.ipv4.tcp_keepalive_intvl",
            "net.ipv4.tcp_keepalive_probes",
        },
    ),
    (32, {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}),
)


def _sysctls(_meta: dict, spec: dict, minor: int) -> Result:
    allowed = set().union(*(names for since, names in _SYSCTLS_BY_VERSION if minor >= since))
    bad = [
        s.get("name", "")
        for s in _sc(spec).get("sysctls") or []
        if isinstance(s, dict) and s.get("name") not in allowed
    ]
    return ("forbidden sysctls", ", ".join(bad)) if bad else None


def _windows_host_process(_meta: dict, spec: dict, _minor: int) -> Result:
    def host_process(ctx: dict) -> bool:
        return (ctx.get("windowsOptions") or {}).get("hostProcess") is True

    bad = [c.get("name", "") for c in _containers(spec) if host_process(_sc(c))]
    setters = _setters_detail(host_process(_sc(spec)), bad)
    if not setters:
        return None
    return "hostProcess", f"{' and '.join(setters)} must not set securityContext.windowsOptions.hostProcess=true"


# -- restricted checks ------------------------------------------------------------------------------


def _allow_privilege_escalation(_meta: dict, spec: dict, minor: int) -> Result:
    if minor >= 25 and _windows(spec):
        return None  # allowPrivilegeEscalation_1_25: Linux-only field
    bad = [c.get("name", "") for c in _containers(spec) if _sc(c).get("allowPrivilegeEscalation") is not False]
    if not bad:
        return None
    return (
        "allowPrivilegeEscalation != false",
        f"{_pluralize('container', 'containers', len(bad))} {_join_quote(bad)} must set "
        "securityContext.allowPrivilegeEscalation=false",
    )


def _capabilities_restricted(_meta: dict, spec: dict, minor: int) -> Result:
    if minor >= 25 and _windows(spec):
        return None
    missing_drop, adding, forbidden_caps = [], [], set()
    for container in _containers(spec):
        caps = _sc(container).get("capabilities")
        if not isinstance(caps, dict):
            missing_drop.append(container.get("name", ""))
            continue
        if "ALL" not in (caps.get("drop") or []):
            missing_drop.append(container.get("name", ""))
        extra = [c for c in caps.get("add") or [] if c != "NET_BIND_SERVICE"]
        if extra:
            adding.append(container.get("name", ""))
            forbidden_caps.update(extra)
    details = []
    if missing_drop:
        details.append(
            f"{_pluralize('container', 'containers', len(missing_drop))} {_join_quote(missing_drop)} must set "
            'securityContext.capabilities.drop=["ALL"]'
        )
    if adding:
        details.append(
            f"{_pluralize('container', 'containers', len(adding))} {_join_quote(adding)} must not include "
            f"{_join_quote(sorted(forbidden_caps))} in securityContext.capabilities.add"
        )
    return ("unrestricted capabilities", "; ".join(details)) if details else None


_ALLOWED_VOLUMES = (
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
)
_RESTRICTED_VOLUME_TYPES = (
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
)


def _restricted_volumes(_meta: dict, spec: dict, _minor: int) -> Result:
    bad, kinds = [], set()
    for volume in spec.get("volumes") or []:
        if not isinstance(volume, dict) or any(volume.get(k) is not None for k in _ALLOWED_VOLUMES):
            continue
        bad.append(volume.get("name", ""))
        kinds.add(next((k for k in _RESTRICTED_VOLUME_TYPES if volume.get(k) is not None), "unknown"))
    if not bad:
        return None
    return (
        "restricted volume types",
        f"{_pluralize('volume', 'volumes', len(bad))} {_join_quote(bad)} {_pluralize('uses', 'use', len(bad))} "
        f"{_pluralize('restricted volume type', 'restricted volume types', len(kinds))} {_join_quote(sorted(kinds))}",
    )


def _run_as_non_root(_meta: dict, spec: dict, _minor: int) -> Result:
    pod_value = _sc(spec).get("runAsNonRoot")
    pod_bad = pod_value is False
    pod_ok = pod_value is True
    explicit, implicit = [], []
    for container in _containers(spec):
        value = _sc(container).get("runAsNonRoot")
        if value is not None:
            if value is False:
                explicit.append(container.get("name", ""))
        elif not pod_ok:
            implicit.append(container.get("name", ""))
    setters = _setters_detail(pod_bad, explicit)
    if setters:
        return "runAsNonRoot != true", f"{' and '.join(setters)} must not set securityContext.runAsNonRoot=false"
    if implicit:
        return (
            "runAsNonRoot != true",
            f"pod or {_pluralize('container', 'containers', len(implicit))} {_join_quote(implicit)} must set "
            "securityContext.runAsNonRoot=true",
        )
    return None


def _run_as_user(_meta: dict, spec: dict, _minor: int) -> Result:
    bad = [c.get("name", "") for c in _containers(spec) if _sc(c).get("runAsUser") == 0]
    setters = _setters_detail(_sc(spec).get("runAsUser") == 0, bad)
    return ("runAsUser=0", f"{' and '.join(setters)} must not set runAsUser=0") if setters else None


def _seccomp_restricted(_meta: dict, spec: dict, minor: int) -> Result:
    if minor >= 25 and _windows(spec):
        return None
    bad_values: set[str] = set()
    pod_profile = _sc(spec).get("seccompProfile")
    pod_bad, pod_set = False, False
    if pod_profile is not None:
        if _valid_seccomp((pod_profile or {}).get("type")):
            pod_set = True
        else:
            pod_bad = True
            bad_values.add((pod_profile or {}).get("type") or "")
    explicit, implicit = [], []
    for container in _containers(spec):
        profile = _sc(container).get("seccompProfile")
        if profile is not None:
            if not _valid_seccomp((profile or {}).get("type")):
                explicit.append(container.get("name", ""))
                bad_values.add((profile or {}).get("type") or "")
        elif not pod_set:
            implicit.append(container.get("name", ""))
    setters = _setters_detail(pod_bad, explicit)
    if setters:
        return (
            "seccompProfile",
            f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to "
            f"{_join_quote(sorted(bad_values))}",
        )
    if implicit:
        return (
            "seccompProfile",
            f"pod or {_pluralize('container', 'containers', len(implicit))} {_join_quote(implicit)} must set "
            'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"',
        )
    return None


@dataclass(frozen=True)
class Check:
    id: str
    level: str
    since: int  # the first policy minor version the check applies to
    run: Callable[[dict, dict, int], Result]
    overridden_by_restricted: bool = False


# The registry order: each level's checks in file-name order (Go runs init() per file, sorted by name).
CHECKS: tuple[Check, ...] = (
    Check("appArmorProfile", BASELINE, 0, _app_armor),
    Check("capabilities_baseline", BASELINE, 0, _capabilities_baseline, overridden_by_restricted=True),
    Check("hostNamespaces", BASELINE, 0, _host_namespaces),
    Check("hostPathVolumes", BASELINE, 0, _host_path_volumes, overridden_by_restricted=True),
    Check("hostPorts", BASELINE, 0, _host_ports),
    Check("hostProbesAndHostLifecycle", BASELINE, 34, _host_probes),
    Check("privileged", BASELINE, 0, _privileged),
    Check("procMount", BASELINE, 0, _proc_mount),
    Check("seLinuxOptions", BASELINE, 0, _selinux),
    Check("seccompProfile_baseline", BASELINE, 19, _seccomp_baseline, overridden_by_restricted=True),
    Check("sysctls", BASELINE, 0, _sysctls),
    Check("windowsHostProcess", BASELINE, 0, _windows_host_process),
    Check("allowPrivilegeEscalation", RESTRICTED, 8, _allow_privilege_escalation),
    Check("capabilities_restricted", RESTRICTED, 22, _capabilities_restricted),
    Check("restrictedVolumes", RESTRICTED, 0, _restricted_volumes),
    Check("runAsNonRoot", RESTRICTED, 0, _run_as_non_root),
    Check("runAsUser", RESTRICTED, 23, _run_as_user),
    Check("seccompProfile_restricted", RESTRICTED, 19, _seccomp_restricted),
)


def evaluate(level_version: LevelVersion, meta: dict, spec: dict, server_minor: int) -> list[tuple[str, str]]:
    """The (reason, detail) of every check the pod fails at this level and policy version, in registry order."""
    if level_version.level == PRIVILEGED:
        return []
    minor = server_minor if level_version.minor is None else min(level_version.minor, server_minor)
    failures = []
    for check in CHECKS:
        if check.since > minor:
            continue
        if check.level == RESTRICTED and level_version.level != RESTRICTED:
            continue
        if check.overridden_by_restricted and level_version.level == RESTRICTED:
            continue
        result = check.run(meta, spec, minor)
        if result is not None:
            failures.append(result)
    return failures


def forbidden_detail(failures: list[tuple[str, str]]) -> str:
    """AggregateCheckResult.ForbiddenDetail: `reason (detail), reason (detail)`."""
    return ", ".join(f"{reason} ({detail})" if detail else reason for reason, detail in failures)


# -- entry point ------------------------------------------------------------------------------------


def _significant_update(pod: dict, old: dict) -> bool:
    """isSignificantPodUpdate: images, seccomp annotations and container lists are what PSA re-checks."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    old_annotations = (old.get("metadata") or {}).get("annotations") or {}
    key = "seccomp.security.alpha.kubernetes.io/pod"
    if annotations.get(key) != old_annotations.get(key):
        return True
    spec, old_spec = pod.get("spec") or {}, old.get("spec") or {}
    for group in ("containers", "initContainers"):
        new_list, old_list = spec.get(group) or [], old_spec.get(group) or []
        if len(new_list) != len(old_list):
            return True
        for container, old_container in zip(new_list, old_list, strict=True):
            if container.get("image") != old_container.get("image"):
                return True
            ckey = "container.seccomp.security.alpha.kubernetes.io/" + container.get("name", "")
            if annotations.get(ckey) != old_annotations.get(ckey):
                return True
    old_ephemeral = {c.get("name"): c for c in old_spec.get("ephemeralContainers") or []}
    for container in spec.get("ephemeralContainers") or []:
        previous = old_ephemeral.get(container.get("name"))
        if previous is None or previous.get("image") != container.get("image"):
            return True
    return False


def _template_of(obj: dict) -> dict | None:
    node: Any = obj
    for key in _TEMPLATE_PATHS[obj.get("kind", "")]:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def pod_security(
    obj: dict,
    namespace_labels: dict[str, str],
    *,
    old: dict | None = None,
    kubernetes_version: str = "1.33",
) -> list[str]:
    """Pod Security admission for a Pod or a pod controller. Returns warnings; raises 403 for an enforced Pod.

    `old` (the stored object, on update) lets unchanged Pods through as the real plugin does;
    `kubernetes_version` is the server's version, which "latest" policies evaluate at.
    """
    kind = obj.get("kind", "")
    policy = policy_from_labels(namespace_labels)
    server_minor = int(kubernetes_version.lstrip("v").split(".")[1])
    if kind == "Pod":
        if old is not None and not _significant_update(obj, old):
            return []
        meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
        failures = evaluate(policy.enforce, meta, spec, server_minor)
        if failures:
            name = meta.get("name") or meta.get("generateName") or ""
            raise errors.forbidden(
                "pods", name, f'violates PodSecurity "{policy.enforce}": {forbidden_detail(failures)}'
            )
    elif kind in _TEMPLATE_PATHS:
        template = _template_of(obj)
        if template is None:
            return []
        meta, spec = template.get("metadata") or {}, template.get("spec") or {}
    else:
        return []
    warn_failures = evaluate(policy.warn, meta, spec, server_minor)
    if not warn_failures:
        return []
    return [f'would violate PodSecurity "{policy.warn}": {forbidden_detail(warn_failures)}']


__all__ = [
    "CHECKS",
    "LevelVersion",
    "Policy",
    "evaluate",
    "forbidden_detail",
    "namespace_label_errors",
    "pod_security",
    "policy_from_labels",
]
