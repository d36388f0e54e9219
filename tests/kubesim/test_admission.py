"""kubesim.admission: Pod Security admission.

Expected texts are those of k8s.io/pod-security-admission/policy/check_*.go (reason, then the detail
in parentheses, checks in registry order: baseline checks, then restricted ones) and of
admission.go (`violates PodSecurity "restricted:latest": ...`, `would violate PodSecurity ...`);
levels per https://kubernetes.io/docs/concepts/security/pod-security-standards/ and labels per
https://kubernetes.io/docs/concepts/security/pod-security-admission/.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kubesim.admission import namespace_label_errors, pod_security, policy_from_labels
from kubesim.errors import ApiError

ENFORCE_RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted"}
ENFORCE_BASELINE = {"pod-security.kubernetes.io/enforce": "baseline"}
WARN_RESTRICTED = {"pod-security.kubernetes.io/warn": "restricted"}

RESTRICTED_SC = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
POD_SC = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def plain_pod(name: str = "p", **spec: Any) -> dict:
    """A pod as most people write it: no security context at all."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "airflow"},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}], **spec},
    }


def restricted_pod(**spec: Any) -> dict:
    obj = plain_pod(**spec)
    obj["spec"].setdefault("securityContext", copy.deepcopy(POD_SC))
    obj["spec"]["containers"][0]["securityContext"] = copy.deepcopy(RESTRICTED_SC)
    obj["spec"].setdefault(
        "volumes",
        [
            {"name": "dags", "persistentVolumeClaim": {"claimName": "af-dags"}},
            {"name": "cfg", "configMap": {"name": "af-config"}},
            {"name": "tmp", "emptyDir": {}},
            {"name": "tok", "projected": {"sources": []}},
            {"name": "sec", "secret": {"secretName": "s"}},
            {"name": "px", "csi": {"driver": "pxd.portworx.com"}},
        ],
    )
    return obj


def enforce_message(obj: dict, labels: dict[str, str], **kw: Any) -> str:
    with pytest.raises(ApiError) as info:
        pod_security(obj, labels, **kw)
    assert (info.value.code, info.value.reason) == (403, "Forbidden")
    return info.value.message


UNSECURED_RESTRICTED = (
    'pods "p" is forbidden: violates PodSecurity "restricted:latest": '
    'allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), '
    'unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), '
    'runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), '
    'seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to '
    '"RuntimeDefault" or "Localhost")'
)


def test_an_unsecured_pod_is_rejected_by_restricted() -> None:
    assert enforce_message(plain_pod(), ENFORCE_RESTRICTED) == UNSECURED_RESTRICTED


def test_the_error_names_the_pod_kind_and_resource() -> None:
    with pytest.raises(ApiError) as info:
        pod_security(plain_pod("worker-1"), ENFORCE_RESTRICTED)
    assert info.value.details == {"name": "worker-1", "kind": "pods"}


def test_a_restricted_pod_passes_restricted() -> None:
    labels = {**ENFORCE_RESTRICTED, **WARN_RESTRICTED}
    assert pod_security(restricted_pod(), labels) == []


def test_net_bind_service_is_the_one_capability_restricted_allows() -> None:
    obj = restricted_pod()
    obj["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] = ["NET_BIND_SERVICE"]
    assert pod_security(obj, ENFORCE_RESTRICTED) == []


def test_container_level_settings_satisfy_pod_level_checks() -> None:
    obj = restricted_pod(securityContext={})
    obj["spec"]["containers"][0]["securityContext"].update(
        runAsNonRoot=True, seccompProfile={"type": "Localhost", "localhostProfile": "p.json"}
    )
    assert pod_security(obj, ENFORCE_RESTRICTED) == []


@pytest.mark.parametrize(
    ("mutate", "detail"),
    [
        # check_privileged.go comes first (a baseline check), before the restricted ones.
        (
            lambda p: p["spec"]["containers"][0]["securityContext"].update(
                privileged=True, allowPrivilegeEscalation=True
            ),
            'privileged (container "c" must not set securityContext.privileged=true), '
            'allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false)',
        ),
        # check_restrictedVolumes.go (overrides the baseline hostPathVolumes check at restricted).
        (
            lambda p: p["spec"]["volumes"].append({"name": "host", "hostPath": {"path": "/etc"}}),
            'restricted volume types (volume "host" uses restricted volume type "hostPath")',
        ),
        (
            lambda p: p["spec"]["volumes"].extend(
                [{"name": "a", "hostPath": {"path": "/"}}, {"name": "b", "nfs": {"server": "s", "path": "/"}}]
            ),
            'restricted volume types (volumes "a", "b" use restricted volume types "hostPath", "nfs")',
        ),
        # check_runAsUser.go
        (
            lambda p: p["spec"]["containers"][0]["securityContext"].update(runAsUser=0),
            'runAsUser=0 (container "c" must not set runAsUser=0)',
        ),
        (lambda p: p["spec"]["securityContext"].update(runAsUser=0), "runAsUser=0 (pod must not set runAsUser=0)"),
        # check_runAsNonRoot.go: an explicit false is reported as such.
        (
            lambda p: p["spec"]["containers"][0]["securityContext"].update(runAsNonRoot=False),
            'runAsNonRoot != true (container "c" must not set securityContext.runAsNonRoot=false)',
        ),
        # check_capabilities_restricted.go: both problems, joined by "; ".
        (
            lambda p: p["spec"]["containers"][0]["securityContext"].update(
                capabilities={"add": ["SYS_ADMIN", "NET_ADMIN"]}
            ),
            'unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]; '
            'container "c" must not include "NET_ADMIN", "SYS_ADMIN" in securityContext.capabilities.add)',
        ),
        # check_seccompProfile_restricted.go
        (
            lambda p: p["spec"]["securityContext"].update(seccompProfile={"type": "Unconfined"}),
            'seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")',
        ),
    ],
)
def test_restricted_violations(mutate: Any, detail: str) -> None:
    obj = restricted_pod()
    mutate(obj)
    assert (
        enforce_message(obj, ENFORCE_RESTRICTED)
        == f'pods "p" is forbidden: violates PodSecurity "restricted:latest": {detail}'
    )


def test_init_and_ephemeral_containers_are_checked_and_named_in_order() -> None:
    obj = plain_pod()
    obj["spec"]["initContainers"] = [{"name": "init", "image": "busybox"}]
    obj["spec"]["ephemeralContainers"] = [{"name": "debug", "image": "busybox"}]
    message = enforce_message(obj, ENFORCE_RESTRICTED)
    assert 'allowPrivilegeEscalation != false (containers "init", "c", "debug" must set' in message


@pytest.mark.parametrize(
    ("mutate", "detail"),
    [
        (lambda p: p["spec"].update(hostNetwork=True, hostPID=True), "host namespaces (hostNetwork, hostPID)"),
        (
            lambda p: p["spec"].update(volumes=[{"name": "h", "hostPath": {"path": "/var/run"}}]),
            'hostPath volumes (volume "h")',
        ),
        (
            lambda p: p["spec"]["containers"][0].update(ports=[{"containerPort": 80, "hostPort": 8080}]),
            'hostPort (container "c" uses hostPort 8080)',
        ),
        (
            lambda p: p["spec"]["containers"][0].update(securityContext={"privileged": True}),
            'privileged (container "c" must not set securityContext.privileged=true)',
        ),
        (
            lambda p: p["spec"]["containers"][0].update(
                securityContext={"capabilities": {"add": ["SYS_ADMIN", "CHOWN"]}}
            ),
            'non-default capabilities (container "c" must not include "SYS_ADMIN" in securityContext.capabilities.add)',
        ),
        (
            lambda p: p["spec"].update(securityContext={"seccompProfile": {"type": "Unconfined"}}),
            'seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")',
        ),
        (
            lambda p: p["spec"].update(securityContext={"appArmorProfile": {"type": "Unconfined"}}),
            'forbidden AppArmor profile (pod must not set AppArmor profile type to "Unconfined")',
        ),
        (
            lambda p: p["metadata"].update(
                annotations={"container.apparmor.security.beta.kubernetes.io/c": "unconfined"}
            ),
            "forbidden AppArmor profile (annotation must not set AppArmor profile type to "
            '"container.apparmor.security.beta.kubernetes.io/c="unconfined"")',
        ),
        (
            lambda p: p["spec"]["containers"][0].update(securityContext={"procMount": "Unmasked"}),
            'procMount (container "c" must not set securityContext.procMount to "Unmasked")',
        ),
        (
            lambda p: p["spec"].update(securityContext={"seLinuxOptions": {"type": "spc_t"}}),
            'seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: type "spc_t")',
        ),
        (
            lambda p: p["spec"].update(
                securityContext={
                    "sysctls": [
                        {"name": "kernel.msgmax", "value": "1"},
                        {"name": "net.ipv4.tcp_syncookies", "value": "1"},
                    ]
                }
            ),
            "forbidden sysctls (kernel.msgmax)",
        ),
        (
            lambda p: p["spec"]["containers"][0].update(securityContext={"windowsOptions": {"hostProcess": True}}),
            'hostProcess (container "c" must not set securityContext.windowsOptions.hostProcess=true)',
        ),
    ],
)
def test_baseline_violations(mutate: Any, detail: str) -> None:
    obj = plain_pod()
    mutate(obj)
    assert (
        enforce_message(obj, ENFORCE_BASELINE)
        == f'pods "p" is forbidden: violates PodSecurity "baseline:latest": {detail}'
    )


def test_baseline_allows_what_only_restricted_forbids() -> None:
    obj = plain_pod()
    obj["spec"]["containers"][0]["securityContext"] = {
        "capabilities": {"add": ["CHOWN", "NET_BIND_SERVICE"]},
        "runAsUser": 0,
    }
    obj["spec"]["volumes"] = [{"name": "n", "nfs": {"server": "s", "path": "/"}}]
    assert pod_security(obj, ENFORCE_BASELINE) == []


def test_probe_host_check_applies_from_policy_1_34() -> None:
    # check_hostProbesAndhostLifecycle.go has MinimumVersion 1.34: "latest" on a 1.33 server does not include it.
    obj = plain_pod()
    obj["spec"]["containers"][0]["livenessProbe"] = {"httpGet": {"port": 80, "host": "10.0.0.1"}}
    assert pod_security(obj, ENFORCE_BASELINE, kubernetes_version="1.33") == []
    message = enforce_message(obj, ENFORCE_BASELINE, kubernetes_version="1.37")
    assert message.endswith('probe or lifecycle host (container "c" uses probe or lifecycle host "10.0.0.1")')


def test_policy_version_label_is_shown_and_honoured() -> None:
    labels = {**ENFORCE_RESTRICTED, "pod-security.kubernetes.io/enforce-version": "v1.21"}
    message = enforce_message(plain_pod(), labels)
    # runAsUser (1.23) and capabilities (1.22) checks do not exist in policy v1.21.
    assert message.startswith('pods "p" is forbidden: violates PodSecurity "restricted:v1.21": ')
    assert "unrestricted capabilities" not in message


def test_warn_level_warns_but_admits() -> None:
    labels = {**ENFORCE_BASELINE, **WARN_RESTRICTED}
    [warning] = pod_security(plain_pod(), labels)
    assert warning == UNSECURED_RESTRICTED.replace('pods "p" is forbidden: violates', "would violate")


def test_rejected_pods_carry_no_warning_and_audit_is_ignored() -> None:
    labels = {**ENFORCE_BASELINE, "pod-security.kubernetes.io/audit": "restricted"}
    assert pod_security(plain_pod(), labels) == []


def test_no_labels_means_privileged() -> None:
    obj = plain_pod(hostNetwork=True)
    obj["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    assert pod_security(obj, {}) == []


class TestControllers:
    """ValidatePodController: templates are evaluated against warn (enforce=false), never rejected."""

    @staticmethod
    def deployment(spec: dict) -> dict:
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "airflow"},
            "spec": {
                "selector": {"matchLabels": {"a": "b"}},
                "template": {"metadata": {"labels": {"a": "b"}}, "spec": spec},
            },
        }

    def test_enforce_alone_gives_no_warning(self) -> None:
        assert pod_security(self.deployment(plain_pod()["spec"]), ENFORCE_RESTRICTED) == []

    def test_warn_level_warns(self) -> None:
        [warning] = pod_security(self.deployment(plain_pod()["spec"]), {**ENFORCE_RESTRICTED, **WARN_RESTRICTED})
        assert warning.startswith('would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false')

    def test_compliant_template_no_warning(self) -> None:
        assert pod_security(self.deployment(restricted_pod()["spec"]), {**ENFORCE_RESTRICTED, **WARN_RESTRICTED}) == []

    @pytest.mark.parametrize(
        ("kind", "wrap"),
        [
            ("StatefulSet", lambda t: {"selector": {}, "template": t}),
            ("DaemonSet", lambda t: {"selector": {}, "template": t}),
            ("ReplicaSet", lambda t: {"selector": {}, "template": t}),
            ("Job", lambda t: {"template": t}),
            ("CronJob", lambda t: {"schedule": "@daily", "jobTemplate": {"spec": {"template": t}}}),
        ],
    )
    def test_every_pod_controller(self, kind: str, wrap: Any) -> None:
        obj = {
            "apiVersion": "x/v1",
            "kind": kind,
            "metadata": {"name": "w"},
            "spec": wrap({"spec": plain_pod()["spec"]}),
        }
        assert len(pod_security(obj, WARN_RESTRICTED)) == 1

    def test_other_kinds_are_not_checked(self) -> None:
        assert pod_security({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}, WARN_RESTRICTED) == []


class TestUpdates:
    def test_insignificant_pod_updates_are_not_checked(self) -> None:
        # isSignificantPodUpdate: only images, seccomp annotations and container lists matter.
        old = plain_pod()
        new = copy.deepcopy(old)
        new["metadata"]["labels"] = {"x": "y"}
        assert pod_security(new, ENFORCE_RESTRICTED, old=old) == []

    def test_image_changes_are_checked(self) -> None:
        old = plain_pod()
        new = copy.deepcopy(old)
        new["spec"]["containers"][0]["image"] = "busybox:1.37"
        assert enforce_message(new, ENFORCE_RESTRICTED, old=old) == UNSECURED_RESTRICTED


def test_windows_pods_are_exempt_from_linux_only_restricted_checks() -> None:
    # allowPrivilegeEscalation, capabilities and seccomp checks skip spec.os.name=windows pods from policy v1.25.
    obj = plain_pod(os={"name": "windows"}, securityContext={"runAsNonRoot": True})
    assert pod_security(obj, ENFORCE_RESTRICTED) == []


@pytest.mark.parametrize(
    ("labels", "enforce", "warn"),
    [
        ({}, "privileged:latest", "privileged:latest"),
        (
            {"pod-security.kubernetes.io/enforce": "bogus"},
            "restricted:latest",
            "privileged:latest",
        ),  # enforce fails closed
        ({"pod-security.kubernetes.io/warn": "bogus"}, "privileged:latest", "privileged:latest"),  # warn fails open
        (
            {"pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/enforce-version": "v1.30"},
            "baseline:v1.30",
            "privileged:latest",
        ),
        (
            {"pod-security.kubernetes.io/warn": "restricted", "pod-security.kubernetes.io/warn-version": "1.30"},
            "privileged:latest",
            "restricted:latest",
        ),
    ],
)
def test_policy_from_labels(labels: dict[str, str], enforce: str, warn: str) -> None:
    policy = policy_from_labels(labels)
    assert (str(policy.enforce), str(policy.warn)) == (enforce, warn)


def test_namespace_label_errors() -> None:
    assert namespace_label_errors(
        {
            "pod-security.kubernetes.io/enforce": "strict",
            "pod-security.kubernetes.io/warn-version": "1.30",
            "pod-security.kubernetes.io/audit": "baseline",
            "app": "x",
        }
    ) == [
        ("pod-security.kubernetes.io/enforce", "strict", "must be one of privileged, baseline, restricted"),
        ("pod-security.kubernetes.io/warn-version", "1.30", 'must be "latest" or "v1.x"'),
    ]
