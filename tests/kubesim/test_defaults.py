"""kubesim.defaults: the API server's defaulting, one assertion per default.

Sources (each case names its function): k8s.io/kubernetes/pkg/apis/core/v1/defaults.go,
pkg/apis/apps/v1/defaults.go, pkg/apis/batch/v1/defaults.go, pkg/apis/storage/v1/defaults.go,
pkg/apis/networking/v1/defaults.go, pkg/apis/rbac/v1/defaults.go, the registry strategies and the
default admission plugins; field docs at https://kubernetes.io/docs/reference/kubernetes-api/.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from kubesim.defaults import apply_defaults

UID = "6f1c2a8e-0000-4000-8000-000000000001"


def ips() -> Callable[[], str]:
    counter = iter(range(10, 250))
    return lambda: f"10.96.0.{next(counter)}"


def defaulted(obj: dict, old: dict | None = None) -> dict:
    apply_defaults(obj, old=old, allocate_cluster_ip=ips())
    return obj


def at(obj: Any, path: str) -> Any:
    for part in path.split(".") if path else ():
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    return obj


def template_spec(**extra: Any) -> dict:
    return {
        "containers": [
            {
                "name": "app",
                "image": "apache/airflow:3.3.2",
                "ports": [{"containerPort": 8080}],
                "env": [{"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
                "livenessProbe": {"httpGet": {"port": 8080}},
                "readinessProbe": {"tcpSocket": {"port": 8080}},
                "resources": {"requests": {"cpu": "0.5", "memory": "1024Mi"}, "limits": {"memory": "2048Mi"}},
            }
        ],
        "volumes": [
            {"name": "cfg", "configMap": {"name": "af-config"}},
            {"name": "sec", "secret": {"secretName": "af-secret"}},
            {"name": "tmp"},
        ],
        **extra,
    }


def deployment() -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "airflow"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": template_spec()},
        },
    }


def statefulset() -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "airflow"},
        "spec": {
            "selector": {"matchLabels": {"app": "db"}},
            "serviceName": "db",
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": template_spec()},
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10240Mi"}}},
                }
            ],
        },
    }


def daemonset() -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "airflow"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {"metadata": {"labels": {"app": "agent"}}, "spec": template_spec()},
        },
    }


def replicaset() -> dict:
    obj = deployment()
    obj["kind"] = "ReplicaSet"
    return obj


def job() -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate", "namespace": "airflow", "uid": UID},
        "spec": {
            "template": {"metadata": {"labels": {"app": "migrate"}}, "spec": template_spec(restartPolicy="Never")}
        },
    }


def cronjob() -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "cleanup", "namespace": "airflow"},
        "spec": {
            "schedule": "@hourly",
            "jobTemplate": {"spec": {"template": {"spec": template_spec(restartPolicy="OnFailure")}}},
        },
    }


def service() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "airflow"},
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80}, {"name": "named", "port": 81, "targetPort": "http"}],
        },
    }


def pod() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "airflow"},
        "spec": template_spec(),
    }


def storage_class() -> dict:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": "px"},
        "provisioner": "pxd.portworx.com",
    }


def csi_driver() -> dict:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "CSIDriver",
        "metadata": {"name": "pxd.portworx.com"},
        "spec": {},
    }


def pvc() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": "airflow"},
        "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1.5Gi"}}},
    }


def pv() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": "pv1"},
        "spec": {
            "capacity": {"storage": "1024Gi"},
            "accessModes": ["ReadWriteOnce"],
            "csi": {"driver": "pxd.portworx.com", "volumeHandle": "1"},
        },
    }


def secret() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "airflow"},
        "stringData": {"password": "hunter2"},
    }


def namespace() -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "airflow"}}


def network_policy(egress: bool = False) -> dict:
    spec: dict = {"ingress": [{"ports": [{"port": 5432}]}]}
    if egress:
        spec["egress"] = [{"ports": [{"port": 53}]}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "np", "namespace": "airflow"},
        "spec": spec,
    }


def role_binding() -> dict:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "rb", "namespace": "airflow"},
        "roleRef": {"kind": "Role", "name": "r"},
        "subjects": [
            {"kind": "ServiceAccount", "name": "sa", "namespace": "airflow"},
            {"kind": "User", "name": "alice"},
        ],
    }


T = "spec.template.spec"
C = f"{T}.containers.0"

CASES = [
    # SetDefaults_Deployment
    (deployment, "spec.replicas", 1),
    (
        deployment,
        "spec.strategy",
        {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
    ),
    (deployment, "spec.revisionHistoryLimit", 10),
    (deployment, "spec.progressDeadlineSeconds", 600),
    # SetDefaults_PodSpec (pod templates included)
    (deployment, f"{T}.restartPolicy", "Always"),
    (deployment, f"{T}.dnsPolicy", "ClusterFirst"),
    (deployment, f"{T}.schedulerName", "default-scheduler"),
    (deployment, f"{T}.terminationGracePeriodSeconds", 30),
    (deployment, f"{T}.securityContext", {}),
    # SetDefaults_Container
    (deployment, f"{C}.imagePullPolicy", "IfNotPresent"),
    (deployment, f"{C}.terminationMessagePath", "/dev/termination-log"),
    (deployment, f"{C}.terminationMessagePolicy", "File"),
    (deployment, f"{C}.ports.0.protocol", "TCP"),
    # SetDefaults_ObjectFieldSelector
    (deployment, f"{C}.env.0.valueFrom.fieldRef.apiVersion", "v1"),
    # SetDefaults_Probe + SetDefaults_HTTPGetAction
    (
        deployment,
        f"{C}.livenessProbe",
        {
            "httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"},
            "timeoutSeconds": 1,
            "periodSeconds": 10,
            "successThreshold": 1,
            "failureThreshold": 3,
        },
    ),
    (deployment, f"{C}.readinessProbe.periodSeconds", 10),
    # SetDefaults_ResourceList + canonical Quantity strings
    (deployment, f"{C}.resources", {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}),
    # SetDefaults_ConfigMapVolumeSource / SetDefaults_SecretVolumeSource / SetDefaults_Volume
    (deployment, f"{T}.volumes.0.configMap.defaultMode", 420),
    (deployment, f"{T}.volumes.1.secret.defaultMode", 420),
    (deployment, f"{T}.volumes.2", {"name": "tmp", "emptyDir": {}}),
    # SetDefaults_StatefulSet
    (statefulset, "spec.podManagementPolicy", "OrderedReady"),
    (statefulset, "spec.updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
    (statefulset, "spec.persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"}),
    (statefulset, "spec.replicas", 1),
    (statefulset, "spec.revisionHistoryLimit", 10),
    (statefulset, f"{T}.restartPolicy", "Always"),
    # claim templates are PersistentVolumeClaims: SetDefaults_PersistentVolumeClaimSpec and ..._PersistentVolumeClaim
    (statefulset, "spec.volumeClaimTemplates.0.spec.volumeMode", "Filesystem"),
    (statefulset, "spec.volumeClaimTemplates.0.spec.resources.requests.storage", "10Gi"),
    (statefulset, "spec.volumeClaimTemplates.0.status", {"phase": "Pending"}),
    # SetDefaults_DaemonSet
    (
        daemonset,
        "spec.updateStrategy",
        {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
    ),
    (daemonset, "spec.revisionHistoryLimit", 10),
    # SetDefaults_ReplicaSet
    (replicaset, "spec.replicas", 1),
    # SetDefaults_Job
    (job, "spec.completions", 1),
    (job, "spec.parallelism", 1),
    (job, "spec.backoffLimit", 6),
    (job, "spec.completionMode", "NonIndexed"),
    (job, "spec.suspend", False),
    (job, "spec.podReplacementPolicy", "TerminatingOrFailed"),
    (job, "spec.manualSelector", False),
    (job, f"{T}.restartPolicy", "Never"),
    # jobStrategy.PrepareForCreate -> generateSelector
    (job, "spec.selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": UID}}),
    (
        job,
        "spec.template.metadata.labels",
        {
            "app": "migrate",
            "batch.kubernetes.io/controller-uid": UID,
            "batch.kubernetes.io/job-name": "migrate",
            "controller-uid": UID,
            "job-name": "migrate",
        },
    ),
    # SetDefaults_Job copies the template's label map to an unlabelled Job (the same Go map: it gets the generated
    # labels too)
    (
        job,
        "metadata.labels",
        {
            "app": "migrate",
            "batch.kubernetes.io/controller-uid": UID,
            "batch.kubernetes.io/job-name": "migrate",
            "controller-uid": UID,
            "job-name": "migrate",
        },
    ),
    # SetDefaults_CronJob
    (cronjob, "spec.concurrencyPolicy", "Allow"),
    (cronjob, "spec.suspend", False),
    (cronjob, "spec.successfulJobsHistoryLimit", 3),
    (cronjob, "spec.failedJobsHistoryLimit", 1),
    (cronjob, "spec.jobTemplate.spec.template.spec.dnsPolicy", "ClusterFirst"),
    # SetDefaults_Service and the Service REST's IP family/cluster IP allocation
    (service, "spec.type", "ClusterIP"),
    (service, "spec.sessionAffinity", "None"),
    (service, "spec.ports.0.protocol", "TCP"),
    (service, "spec.ports.0.targetPort", 80),
    (service, "spec.ports.1.targetPort", "http"),
    (service, "spec.internalTrafficPolicy", "Cluster"),
    (service, "spec.ipFamilyPolicy", "SingleStack"),
    (service, "spec.ipFamilies", ["IPv4"]),
    (service, "spec.clusterIP", "10.96.0.10"),
    (service, "spec.clusterIPs", ["10.96.0.10"]),
    # storage/v1 SetDefaults_StorageClass
    (storage_class, "reclaimPolicy", "Delete"),
    (storage_class, "volumeBindingMode", "Immediate"),
    # storage/v1 SetDefaults_CSIDriver
    (
        csi_driver,
        "spec",
        {
            "attachRequired": True,
            "podInfoOnMount": False,
            "requiresRepublish": False,
            "storageCapacity": False,
            "fsGroupPolicy": "ReadWriteOnceWithFSType",
            "seLinuxMount": False,
            "volumeLifecycleModes": ["Persistent"],
        },
    ),
    # SetDefaults_PersistentVolumeClaim(Spec)
    (pvc, "spec.volumeMode", "Filesystem"),
    (pvc, "status.phase", "Pending"),
    (pvc, "spec.resources.requests.storage", "1536Mi"),
    # SetDefaults_PersistentVolume
    (pv, "spec.persistentVolumeReclaimPolicy", "Retain"),
    (pv, "spec.volumeMode", "Filesystem"),
    (pv, "spec.capacity.storage", "1Ti"),
    # SetDefaults_Secret, and stringData merged into data by conversion
    (secret, "type", "Opaque"),
    (secret, "data", {"password": "aHVudGVyMg=="}),
    # SetDefaults_Namespace, SetDefaults_NamespaceStatus, namespaceStrategy.PrepareForCreate
    (namespace, "metadata.labels", {"kubernetes.io/metadata.name": "airflow"}),
    (namespace, "spec.finalizers", ["kubernetes"]),
    (namespace, "status.phase", "Active"),
    # networking/v1 SetDefaults_NetworkPolicy
    (network_policy, "spec.policyTypes", ["Ingress"]),
    (network_policy, "spec.ingress.0.ports.0.protocol", "TCP"),
    (network_policy, "spec.podSelector", {}),
    (lambda: network_policy(egress=True), "spec.policyTypes", ["Ingress", "Egress"]),
    # rbac/v1 SetDefaults_RoleBinding and SetDefaults_Subject
    (role_binding, "roleRef.apiGroup", "rbac.authorization.k8s.io"),
    (role_binding, "subjects.1.apiGroup", "rbac.authorization.k8s.io"),
]


@pytest.mark.parametrize(("factory", "path", "expected"), CASES, ids=[f"{f.__name__}:{p}" for f, p, _ in CASES])
def test_default(factory: Callable[[], dict], path: str, expected: Any) -> None:
    assert at(defaulted(factory()), path) == expected


def test_secret_string_data_is_write_only() -> None:
    assert "stringData" not in defaulted(secret())


def test_service_account_subjects_get_no_api_group() -> None:
    assert "apiGroup" not in defaulted(role_binding())["subjects"][0]


FACTORIES = [
    deployment,
    statefulset,
    daemonset,
    replicaset,
    job,
    cronjob,
    service,
    storage_class,
    pvc,
    pv,
    secret,
    namespace,
    network_policy,
    role_binding,
]


@pytest.mark.parametrize("factory", FACTORIES, ids=lambda f: f.__name__)
def test_defaulting_is_idempotent(factory: Callable[[], dict]) -> None:
    once = defaulted(factory())
    twice = defaulted(copy.deepcopy(once), old=once)
    assert twice == once


@pytest.mark.parametrize(
    ("factory", "path", "value"),
    [
        (deployment, "spec.replicas", 0),
        (deployment, "spec.strategy", {"type": "Recreate"}),
        (deployment, f"{T}.restartPolicy", "Never"),
        (deployment, f"{C}.imagePullPolicy", "Always"),
        (statefulset, "spec.podManagementPolicy", "Parallel"),
        (statefulset, "spec.updateStrategy", {"type": "OnDelete"}),
        (job, "spec.backoffLimit", 0),
        (storage_class, "reclaimPolicy", "Retain"),
        (storage_class, "volumeBindingMode", "WaitForFirstConsumer"),
        (service, "spec.type", "NodePort"),
        (pvc, "spec.volumeMode", "Block"),
    ],
)
def test_explicit_values_are_kept(factory: Callable[[], dict], path: str, value: Any) -> None:
    obj = factory()
    *parents, last = path.split(".")
    at(obj, ".".join(parents))[last] = copy.deepcopy(value)
    assert at(defaulted(obj), path) == value


def test_recreate_strategy_gets_no_rolling_update() -> None:
    obj = deployment()
    obj["spec"]["strategy"] = {"type": "Recreate"}
    assert defaulted(obj)["spec"]["strategy"] == {"type": "Recreate"}


def test_on_delete_statefulset_gets_no_partition() -> None:
    obj = statefulset()
    obj["spec"]["updateStrategy"] = {"type": "OnDelete"}
    assert defaulted(obj)["spec"]["updateStrategy"] == {"type": "OnDelete"}


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("busybox", "Always"),  # no tag means :latest
        ("busybox:latest", "Always"),
        ("busybox:1.36", "IfNotPresent"),
        ("registry.local:5000/tools/busybox", "Always"),  # the registry's port is not a tag
        ("registry.local:5000/tools/busybox:1.36", "IfNotPresent"),
        ("busybox@sha256:" + "a" * 64, "IfNotPresent"),
    ],
)
def test_image_pull_policy(image: str, policy: str) -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["image"] = image
    assert at(defaulted(obj), f"{C}.imagePullPolicy") == policy


def test_job_completions_with_parallelism_only() -> None:
    # "When both are unset, both are defaulted to 1": with parallelism set, completions stays unset.
    obj = job()
    obj["spec"]["parallelism"] = 3
    spec = defaulted(obj)["spec"]
    assert spec["parallelism"] == 3 and "completions" not in spec


def test_job_pod_replacement_policy_with_pod_failure_policy() -> None:
    obj = job()
    obj["spec"]["podFailurePolicy"] = {
        "rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]
    }
    spec = defaulted(obj)["spec"]
    assert spec["podReplacementPolicy"] == "Failed"
    assert spec["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"] == "True"


def test_labelled_job_keeps_its_labels() -> None:
    obj = job()
    obj["metadata"]["labels"] = {"team": "data"}
    assert defaulted(obj)["metadata"]["labels"] == {"team": "data"}


def test_job_selector_is_generated_on_create_only() -> None:
    old = defaulted(job())
    update = copy.deepcopy(old)
    del update["spec"]["selector"]
    assert "selector" not in defaulted(update, old=old)["spec"]


def test_job_manual_selector_is_left_alone() -> None:
    obj = job()
    obj["spec"]["manualSelector"] = True
    obj["spec"]["selector"] = {"matchLabels": {"app": "migrate"}}
    spec = defaulted(obj)["spec"]
    assert spec["selector"] == {"matchLabels": {"app": "migrate"}}
    assert spec["template"]["metadata"]["labels"] == {"app": "migrate"}


def test_cronjob_job_template_gets_no_job_defaults() -> None:
    # SetDefaults_Job defaults the Job type, not the JobSpec inside a CronJob's jobTemplate.
    job_spec = defaulted(cronjob())["spec"]["jobTemplate"]["spec"]
    assert "backoffLimit" not in job_spec and "completions" not in job_spec


def test_headless_service_keeps_none() -> None:
    obj = service()
    obj["spec"]["clusterIP"] = "None"
    spec = defaulted(obj)["spec"]
    assert spec["clusterIP"] == "None" and spec["clusterIPs"] == ["None"]
    assert spec["ipFamilyPolicy"] == "SingleStack" and spec["ipFamilies"] == ["IPv4"]


def test_headless_selectorless_service_is_require_dual_stack() -> None:
    # initIPFamilyFields: "headless + selectorless defaults to dual" and lists both families.
    obj = service()
    obj["spec"]["clusterIP"] = "None"
    del obj["spec"]["selector"]
    spec = defaulted(obj)["spec"]
    assert spec["ipFamilyPolicy"] == "RequireDualStack" and spec["ipFamilies"] == ["IPv4", "IPv6"]


def test_service_update_keeps_allocated_ip() -> None:
    old = defaulted(service())
    update = service()
    spec = defaulted(update, old=old)["spec"]
    assert spec["clusterIP"] == old["spec"]["clusterIP"] == "10.96.0.10"
    assert spec["clusterIPs"] == ["10.96.0.10"]


def test_requested_cluster_ip_is_kept() -> None:
    obj = service()
    obj["spec"]["clusterIP"] = "10.96.5.5"
    spec = defaulted(obj)["spec"]
    assert spec["clusterIPs"] == ["10.96.5.5"]


def test_nodeport_service_defaults() -> None:
    obj = service()
    obj["spec"]["type"] = "LoadBalancer"
    ports = iter(range(30000, 30010))
    apply_defaults(obj, old=None, allocate_cluster_ip=ips(), allocate_node_port=lambda: next(ports))
    spec = obj["spec"]
    assert spec["externalTrafficPolicy"] == "Cluster"
    assert spec["allocateLoadBalancerNodePorts"] is True
    assert [p["nodePort"] for p in spec["ports"]] == [30000, 30001]


def test_external_name_service_gets_no_ip() -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "ext"},
        "spec": {"type": "ExternalName", "externalName": "db.example.com"},
    }
    spec = defaulted(obj)["spec"]
    assert "clusterIP" not in spec and "internalTrafficPolicy" not in spec


def test_client_ip_affinity_timeout() -> None:
    obj = service()
    obj["spec"]["sessionAffinity"] = "ClientIP"
    assert defaulted(obj)["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}


def test_namespace_update_keeps_finalizers() -> None:
    old = defaulted(namespace())
    update = namespace()
    update["spec"] = {"finalizers": []}
    assert defaulted(update, old=old)["spec"]["finalizers"] == ["kubernetes"]


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("1000m", "1"),
        ("0.1", "100m"),
        ("1024Mi", "1Gi"),
        ("1.5Gi", "1536Mi"),
        ("1025Ki", "1025Ki"),
        ("0.5Ki", "512"),  # binary values that are not whole KiB print as DecimalSI
        ("2000", "2k"),
        ("1500", "1500"),
        ("0.0001", "1m"),  # ResourceList values round up to milli precision
        (2, "2"),
        (0.25, "250m"),
        ("1e3", "1e3"),
    ],
)
def test_quantities_are_canonical(given: Any, canonical: str) -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": given}}
    assert at(defaulted(obj), f"{C}.resources.requests.cpu") == canonical


class TestPodOnly:
    """SetDefaults_Pod and the default admission plugins change Pods, not pod templates."""

    def test_requests_default_to_limits(self) -> None:
        obj = pod()
        obj["spec"]["containers"][0]["resources"] = {
            "limits": {"cpu": "1", "memory": "1Gi"},
            "requests": {"cpu": "250m"},
        }
        resources = defaulted(obj)["spec"]["containers"][0]["resources"]
        assert resources["requests"] == {"cpu": "250m", "memory": "1Gi"}

    def test_templates_do_not_get_requests_from_limits(self) -> None:
        obj = deployment()
        obj["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1"}}
        assert at(defaulted(obj), f"{C}.resources") == {"limits": {"cpu": "1"}}

    def test_enable_service_links(self) -> None:
        assert defaulted(pod())["spec"]["enableServiceLinks"] is True
        assert "enableServiceLinks" not in at(defaulted(deployment()), T)

    def test_priority_and_preemption(self) -> None:
        spec = defaulted(pod())["spec"]
        assert spec["priority"] == 0 and spec["preemptionPolicy"] == "PreemptLowerPriority"

    def test_default_toleration_seconds(self) -> None:
        assert defaulted(pod())["spec"]["tolerations"] == [
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
            {
                "key": "node.kubernetes.io/unreachable",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
        ]

    def test_service_account_and_token_volume(self) -> None:
        spec = defaulted(pod())["spec"]
        assert spec["serviceAccountName"] == spec["serviceAccount"] == "default"
        token = spec["volumes"][-1]
        assert token["name"].startswith("kube-api-access-") and len(token["name"]) == len("kube-api-access-") + 5
        assert spec["containers"][0]["volumeMounts"] == [
            {"name": token["name"], "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
        ]

    def test_no_token_when_automount_is_off(self) -> None:
        obj = pod()
        obj["spec"]["automountServiceAccountToken"] = False
        spec = defaulted(obj)["spec"]
        assert not any(v["name"].startswith("kube-api-access-") for v in spec["volumes"])

    def test_admission_defaults_apply_on_create_only(self) -> None:
        old = defaulted(pod())
        update = copy.deepcopy(old)
        assert defaulted(update, old=old) == old

    def test_host_network_pods_get_host_ports(self) -> None:
        obj = pod()
        obj["spec"]["hostNetwork"] = True
        assert defaulted(obj)["spec"]["containers"][0]["ports"][0]["hostPort"] == 8080


def test_service_account_alias() -> None:
    # Conversion keeps the deprecated serviceAccount in step with serviceAccountName.
    obj = deployment()
    obj["spec"]["template"]["spec"]["serviceAccount"] = "legacy"
    spec = at(defaulted(obj), T)
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "legacy"


def test_kinds_without_defaults_are_untouched() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}}
    assert defaulted(copy.deepcopy(obj)) == obj
    custom = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {}}
    assert defaulted(copy.deepcopy(custom)) == custom
