"""The API server's defaulting, for the kinds px.airflow uses.

Only defaults a real kube-apiserver applies, each citing where it comes from: the defaulting
functions in k8s.io/kubernetes/pkg/apis/<group>/v1/defaults.go (and the generated
zz_generated.defaults.go `+default=` markers), the registry strategies' PrepareForCreate, the
admission plugins every cluster runs (ServiceAccount, Priority, DefaultTolerationSeconds) and the
canonical form the server prints quantities in. A default the real server does not apply would
make our modules report changes a real cluster never shows (or hide ones it does), so nothing here
is invented. Every default is "set when unset": applying them twice changes nothing.

API reference: https://kubernetes.io/docs/reference/kubernetes-api/
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from typing import Any

from . import quantity

TCP = "TCP"
DEFAULT_MODE = 420  # 0644: Secret/ConfigMap/DownwardAPI/Projected VolumeSourceDefaultMode (core/v1/types.go)
SERVICE_ACCOUNT_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # utilrand.String's alphabet


def apply_defaults(
    obj: dict,
    *,
    old: dict | None,
    allocate_cluster_ip: Callable[[], str],
    allocate_node_port: Callable[[], int] | None = None,
) -> None:
    """Default `obj` in place, on create (old None) and on update (old = the stored object).

    `allocate_node_port` (optional) hands out NodePorts for NodePort/LoadBalancer Services; without
    it such ports stay unset.
    """
    kind = obj.get("kind")
    handler = _KINDS.get(kind) if isinstance(kind, str) else None
    if handler is not None:
        handler(obj, old, _Allocators(allocate_cluster_ip, allocate_node_port))


class _Allocators:
    def __init__(self, cluster_ip: Callable[[], str], node_port: Callable[[], int] | None) -> None:
        self.cluster_ip = cluster_ip
        self.node_port = node_port


# -- small helpers --------------------------------------------------------------------------------


def _unset(mapping: dict, key: str) -> bool:
    """Go's "zero value": absent, null, "" (strings), or an empty list/map where the field is a slice/map."""
    return mapping.get(key) in (None, "")


def _default(mapping: dict, key: str, value: Any) -> None:
    if _unset(mapping, key):
        mapping[key] = value


def _child(mapping: dict, key: str) -> dict:
    """The dict at mapping[key], created when unset (a pointer-to-struct the defaulting fills in).

    Defaulting runs before validation here, so a value of the wrong type is left alone (validation answers
    it with the decoder's 400) and a detached dict is returned instead.
    """
    value = mapping.get(key)
    if value is None:
        value = mapping[key] = {}
    return value if isinstance(value, dict) else {}


def _sub(mapping: Any, key: str) -> dict:
    """mapping[key] when it is a dict, else an empty (detached) dict: read-only navigation."""
    value = mapping.get(key) if isinstance(mapping, dict) else None
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _canonical_resources(resources: Any, *, milli: bool = True) -> None:
    """SetDefaults_ResourceList rounds every value up to milli precision (core/v1/defaults.go); the server then
    prints each Quantity in canonical form (resource.Quantity.String): "1024Mi" -> "1Gi", "0.5" -> "500m"."""
    if not isinstance(resources, dict):
        return
    for key, value in list(resources.items()):
        if quantity.is_valid(value):
            resources[key] = quantity.canonical(value, milli=milli)


def _image_pull_policy(image: str) -> str:
    """SetDefaults_Container: Always for the ":latest" tag (or no tag), IfNotPresent otherwise."""
    name = image.split("@", 1)[0]
    if "@" in image:
        return "IfNotPresent"  # a digest: parsers.ParseImageName reports no tag
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


# -- pod specs (in Pods and in every pod template) ------------------------------------------------


def default_pod_spec(spec: dict) -> None:
    """SetDefaults_PodSpec and what the generated defaulter applies inside a PodSpec (core/v1/defaults.go)."""
    _default(spec, "dnsPolicy", "ClusterFirst")  # SetDefaults_PodSpec
    _default(spec, "restartPolicy", "Always")  # SetDefaults_PodSpec (a Job must set OnFailure/Never itself)
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}  # SetDefaults_PodSpec: an empty PodSecurityContext
    _default(spec, "terminationGracePeriodSeconds", 30)  # DefaultTerminationGracePeriodSeconds
    _default(spec, "schedulerName", "default-scheduler")  # DefaultSchedulerName
    # Conversion (Convert_v1_PodSpec_To_core_PodSpec and back): serviceAccount is the deprecated alias of
    # serviceAccountName; the server fills either from the other.
    if _unset(spec, "serviceAccountName") and not _unset(spec, "serviceAccount"):
        spec["serviceAccountName"] = spec["serviceAccount"]
    if not _unset(spec, "serviceAccountName"):
        spec["serviceAccount"] = spec["serviceAccountName"]
    for group in ("initContainers", "containers", "ephemeralContainers"):
        for container in _dicts(spec.get(group)):
            default_container(container)
    for volume in _dicts(spec.get("volumes")):
        default_volume(volume)
    _canonical_resources(spec.get("overhead"))  # a ResourceList


def default_container(container: dict) -> None:
    """SetDefaults_Container (core/v1/defaults.go) and the generated defaults of its fields."""
    if _unset(container, "imagePullPolicy") and isinstance(container.get("image") or "", str):
        container["imagePullPolicy"] = _image_pull_policy(container.get("image") or "")
    _default(container, "terminationMessagePath", "/dev/termination-log")  # TerminationMessagePathDefault
    _default(container, "terminationMessagePolicy", "File")  # TerminationMessageReadFile
    for port in _dicts(container.get("ports")):
        _default(port, "protocol", TCP)  # ContainerPort.protocol: +default="TCP"
    for env in _dicts(container.get("env")):
        field_ref = _sub(env, "valueFrom").get("fieldRef")
        if isinstance(field_ref, dict):
            _default(field_ref, "apiVersion", "v1")  # SetDefaults_ObjectFieldSelector
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(container.get(probe), dict):
            default_probe(container[probe])
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in ("postStart", "preStop"):
            if isinstance(lifecycle.get(hook), dict):
                default_handler(lifecycle[hook])
    if container.get("resources") is None:
        container["resources"] = {}  # ResourceRequirements is a value struct: printed as {}
    resources = container["resources"] if isinstance(container["resources"], dict) else {}
    _canonical_resources(resources.get("limits"))
    _canonical_resources(resources.get("requests"))


def default_probe(probe: dict) -> None:
    """SetDefaults_Probe: timeoutSeconds 1, periodSeconds 10, successThreshold 1, failureThreshold 3."""
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1), ("failureThreshold", 3)):
        if probe.get(key) in (None, 0):
            probe[key] = value
    default_handler(probe)


def default_handler(handler: dict) -> None:
    """SetDefaults_HTTPGetAction: path "/" and scheme HTTP."""
    http = handler.get("httpGet")
    if isinstance(http, dict):
        _default(http, "path", "/")
        _default(http, "scheme", "HTTP")


def default_volume(volume: dict) -> None:
    """SetDefaults_Volume (emptyDir when no source) and the sources' own defaults."""
    sources = {key for key in volume if key != "name"}
    if not sources:
        volume["emptyDir"] = {}
    for key in ("secret", "configMap", "downwardAPI", "projected"):
        source = volume.get(key)
        if isinstance(source, dict):
            _default(source, "defaultMode", DEFAULT_MODE)  # Set*VolumeSource defaultMode 0644
    for item in _dicts(_sub(volume, "downwardAPI").get("items")):
        if isinstance(item.get("fieldRef"), dict):
            _default(item["fieldRef"], "apiVersion", "v1")
    for source in _dicts(_sub(volume, "projected").get("sources")):
        token = source.get("serviceAccountToken")
        if isinstance(token, dict):
            _default(token, "expirationSeconds", 3600)  # SetDefaults_ServiceAccountTokenProjection: one hour
        for item in _dicts(_sub(source, "downwardAPI").get("items")):
            if isinstance(item.get("fieldRef"), dict):
                _default(item["fieldRef"], "apiVersion", "v1")
    host_path = volume.get("hostPath")
    if isinstance(host_path, dict) and host_path.get("type") is None:
        host_path["type"] = ""  # SetDefaults_HostPathVolumeSource: HostPathUnset
    empty_dir = volume.get("emptyDir")
    if isinstance(empty_dir, dict) and quantity.is_valid(empty_dir.get("sizeLimit")):
        empty_dir["sizeLimit"] = quantity.canonical(empty_dir["sizeLimit"])
    ephemeral = volume.get("ephemeral")
    if isinstance(ephemeral, dict) and isinstance(ephemeral.get("volumeClaimTemplate"), dict):
        default_pvc_spec(_child(ephemeral["volumeClaimTemplate"], "spec"))


def default_pod_template(template: Any) -> None:
    if isinstance(template, dict):
        default_pod_spec(_child(template, "spec"))


# -- Pods -----------------------------------------------------------------------------------------


def _pod(obj: dict, old: dict | None, _alloc: _Allocators) -> None:
    spec = _child(obj, "spec")
    default_pod_spec(spec)
    _pod_only_defaults(spec)
    if old is None:
        _pod_admission(obj, spec)


def _pod_only_defaults(spec: dict) -> None:
    """SetDefaults_Pod (core/v1/defaults.go): only Pods, not templates."""
    # Requests default to limits for every resource with a limit and no request.
    for group in ("containers", "initContainers"):
        for container in _dicts(spec.get(group)):
            resources = _sub(container, "resources")
            limits = resources.get("limits")
            if isinstance(limits, dict) and limits and isinstance(resources.get("requests") or {}, dict):
                requests = resources.setdefault("requests", {})
                for key, value in limits.items():
                    requests.setdefault(key, value)
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True  # DefaultEnableServiceLinks
    if spec.get("hostNetwork"):
        for group in ("containers", "initContainers"):
            for container in _dicts(spec.get(group)):
                for port in _dicts(container.get("ports")):
                    if not port.get("hostPort"):
                        port["hostPort"] = port.get("containerPort")


def _pod_admission(obj: dict, spec: dict) -> None:
    """What the default admission chain adds to a new Pod.

    - ServiceAccount admission (plugin/pkg/admission/serviceaccount): serviceAccountName "default" and,
      unless automountServiceAccountToken is false, the kube-api-access-xxxxx projected token volume
      mounted read-only in every container.
    - Priority admission: priority 0 and preemptionPolicy PreemptLowerPriority when no class is named.
    - DefaultTolerationSeconds: tolerate not-ready and unreachable nodes for 300 s.
    """
    if _unset(spec, "serviceAccountName"):
        spec["serviceAccountName"] = spec["serviceAccount"] = "default"
    if spec.get("automountServiceAccountToken") is not False:
        _mount_service_account_token(spec)
    if spec.get("priority") is None and _unset(spec, "priorityClassName"):
        spec["priority"] = 0
    if spec.get("priority") == 0 and _unset(spec, "priorityClassName"):
        _default(spec, "preemptionPolicy", "PreemptLowerPriority")
    tolerations = spec.setdefault("tolerations", [])
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(t.get("key") == key and t.get("effect") in ("NoExecute", None, "") for t in _dicts(tolerations)):
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})


def _mount_service_account_token(spec: dict) -> None:
    containers = [c for group in ("initContainers", "containers") for c in _dicts(spec.get(group))]
    if any(
        m.get("mountPath") == SERVICE_ACCOUNT_MOUNT
        for container in containers
        for m in _dicts(container.get("volumeMounts"))
    ):
        return
    name = "kube-api-access-" + "".join(secrets.choice(_NAME_CHARS) for _ in range(5))
    spec.setdefault("volumes", []).append(
        {
            "name": name,
            "projected": {
                "defaultMode": DEFAULT_MODE,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {
                        "downwardAPI": {
                            "items": [
                                {
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                                    "path": "namespace",
                                }
                            ]
                        }
                    },
                ],
            },
        }
    )
    for container in containers:
        container.setdefault("volumeMounts", []).append(
            {"name": name, "readOnly": True, "mountPath": SERVICE_ACCOUNT_MOUNT}
        )


# -- workloads (apps/v1 defaults.go) --------------------------------------------------------------


def _deployment(obj: dict, _old: dict | None, _alloc: _Allocators) -> None:
    """SetDefaults_Deployment: replicas 1, RollingUpdate 25%/25%, revisionHistoryLimit 10,
    progressDeadlineSeconds 600."""
    spec = _child(obj, "spec")
    _default(spec, "replicas", 1)
    strategy = _child(spec, "strategy")
    _default(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _child(strategy, "rollingUpdate")
        _default(rolling, "maxUnavailable", "25%")
        _default(rolling, "maxSurge", "25%")
    _default(spec, "revisionHistoryLimit", 10)
    _default(spec, "progressDeadlineSeconds", 600)
    default_pod_template(spec.get("template"))


def _statefulset(obj: dict, _old: dict | None, _alloc: _Allocators) -> None:
    """SetDefaults_StatefulSet: OrderedReady, RollingUpdate partition 0, PVC retention Retain/Retain
    (StatefulSetAutoDeletePVC, on by default since 1.27), replicas 1, revisionHistoryLimit 10."""
    spec = _child(obj, "spec")
    _default(spec, "podManagementPolicy", "OrderedReady")
    strategy = _child(spec, "updateStrategy")
    if _unset(strategy, "type"):
        strategy["type"] = "RollingUpdate"
        _child(strategy, "rollingUpdate")
    rolling = strategy.get("rollingUpdate")
    if strategy["type"] == "RollingUpdate" and isinstance(rolling, dict):
        _default(rolling, "partition", 0)
    retention = _child(spec, "persistentVolumeClaimRetentionPolicy")
    _default(retention, "whenDeleted", "Retain")
    _default(retention, "whenScaled", "Retain")
    _default(spec, "replicas", 1)
    _default(spec, "revisionHistoryLimit", 10)
    default_pod_template(spec.get("template"))
    # volumeClaimTemplates are PersistentVolumeClaims: their defaulting (volumeMode, status.phase) applies too.
    for claim in _dicts(spec.get("volumeClaimTemplates")):
        default_pvc_spec(_child(claim, "spec"))
        _default(_child(claim, "status"), "phase", "Pending")


def _daemonset(obj: dict, _old: dict | None, _alloc: _Allocators) -> None:
    """SetDefaults_DaemonSet: RollingUpdate maxUnavailable 1 / maxSurge 0, revisionHistoryLimit 10."""
    spec = _child(obj, "spec")
    strategy = _child(spec, "updateStrategy")
    _default(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _child(strategy, "rollingUpdate")
        _default(rolling, "maxUnavailable", 1)
        _default(rolling, "maxSurge", 0)
    _default(spec, "revisionHistoryLimit", 10)
    default_pod_template(spec.get("template"))


def _replicaset(obj: dict, _old: dict | None, _alloc: _Allocators) -> None:
    """SetDefaults_ReplicaSet: replicas 1."""
    spec = _child(obj, "spec")
    _default(spec, "replicas", 1)
    default_pod_template(spec.get("template"))


def _pod_template(obj: dict, _old: dict | None, _alloc: _Allocators) -> None:
    default_pod_template(obj.get("template"))


# -- batch/v1 -------------------------------------------------------------------------------------


def _job(obj: dict, old: dict | None, _alloc: _Allocators) -> None:
    spec = _child(obj, "spec")
    template = _child(spec, "template")
    labels_aliased = default_job_object(obj, spec, template)
    default_pod_template(template)
    if old is None and not spec.get("manualSelector"):
        _generate_job_selector(obj, spec, template, labels_aliased)


def default_job_object(obj: dict, spec: dict, template: dict) -> bool:
    """SetDefaults_Job (batch/v1/defaults.go). Returns whether the Job's labels were copied from the template."""
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    _default(spec, "parallelism", 1)
    if spec.get("backoffLimit") is None:
        # With backoffLimitPerIndex the global limit defaults to MaxInt32, otherwise to 6.
        spec["backoffLimit"] = 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6
    _default(spec, "completionMode", "NonIndexed")
    _default(spec, "suspend", False)
    if spec.get("podReplacementPolicy") is None:
        # JobPodReplacementPolicy (beta, on by default since 1.29): Failed when a podFailurePolicy is set.
        spec["podReplacementPolicy"] = "Failed" if spec.get("podFailurePolicy") is not None else "TerminatingOrFailed"
    if spec.get("manualSelector") is None:
        spec["manualSelector"] = False
    for rule in _dicts(_sub(spec, "podFailurePolicy").get("rules")):
        for pattern in _dicts(rule.get("onPodConditions")):
            _default(pattern, "status", "True")  # SetDefaults_PodFailurePolicyOnPodConditionsPattern
    meta = _child(obj, "metadata")
    template_labels = _sub(template, "metadata").get("labels")
    if isinstance(template_labels, dict) and not meta.get("labels"):
        # `obj.Labels = labels` shares the Go map with the template, so the selector labels generated below
        # show up on the Job too: real Jobs carry them in metadata.labels.
        meta["labels"] = dict(template_labels)
        return True
    return False


def _generate_job_selector(obj: dict, spec: dict, template: dict, labels_aliased: bool) -> None:
    """jobStrategy.PrepareForCreate -> generateSelector (pkg/registry/batch/job/strategy.go)."""
    meta = _sub(obj, "metadata")
    uid, name = meta.get("uid", ""), meta.get("name", "")
    if not isinstance(uid, str) or not isinstance(name, str):
        return
    labels = _child(_child(template, "metadata"), "labels")
    generated = {
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": name,
        "controller-uid": uid,
        "job-name": name,
    }
    for key, value in generated.items():
        labels.setdefault(key, value)
    job_labels = meta.get("labels")
    if labels_aliased and isinstance(job_labels, dict):
        for key, value in generated.items():
            job_labels.setdefault(key, value)
    selector = _child(spec, "selector")
    _child(selector, "matchLabels").setdefault("batch.kubernetes.io/controller-uid", uid)


def _cronjob(obj: dict, _old: dict | None, _alloc: _Allocators) -> None:
    """SetDefaults_CronJob: Allow, suspend false, history limits 3 and 1. SetDefaults_Job does not apply to the
    job template (it defaults the Job type, not JobSpec); the pod template inside gets pod defaults."""
    spec = _child(obj, "spec")
    _default(spec, "concurrencyPolicy", "Allow")
    _default(spec, "suspend", False)
    _default(spec, "successfulJobsHistoryLimit", 3)
    _default(spec, "failedJobsHistoryLimit", 1)
    job_spec = _child(_child(spec, "jobTemplate"), "spec")
    default_pod_template(_child(job_spec, "template"))


# -- core objects ---------------------------------------------------------------------------------


def _service(obj: dict, old: dict | None, alloc: _Allocators) -> None:
    """SetDefaults_Service (core/v1/defaults.go) and the Service REST allocation (registry/core/service/storage)."""
    spec = _child(obj, "spec")
    _default(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        client_ip = _child(_child(spec, "sessionAffinityConfig"), "clientIP")
        _default(client_ip, "timeoutSeconds", 10800)  # DefaultClientIPServiceAffinitySeconds
    _default(spec, "type", "ClusterIP")
    for port in _dicts(spec.get("ports")):
        _default(port, "protocol", TCP)
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    kind = spec["type"]
    if kind in ("NodePort", "LoadBalancer"):
        _default(spec, "externalTrafficPolicy", "Cluster")
    if spec.get("internalTrafficPolicy") is None and kind in ("NodePort", "LoadBalancer", "ClusterIP"):
        spec["internalTrafficPolicy"] = "Cluster"
    if kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True
    if kind == "ExternalName":
        return
    if old is not None:
        _keep_allocated(spec, _sub(old, "spec"))
    _ip_families(spec)
    _cluster_ips(spec, alloc)
    if kind in ("NodePort", "LoadBalancer") and alloc.node_port is not None:
        for port in _dicts(spec.get("ports")):
            if not port.get("nodePort"):
                port["nodePort"] = alloc.node_port()


def _keep_allocated(spec: dict, old_spec: dict) -> None:
    """On update, what the client omitted keeps its allocated value (patchAllocatedValues in the Service REST)."""
    for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
        if _unset(spec, key) and not _unset(old_spec, key) and old_spec.get("type") != "ExternalName":
            spec[key] = old_spec[key]
    old_ports = {(p.get("port"), p.get("protocol")): p for p in _dicts(old_spec.get("ports"))}
    for port in _dicts(spec.get("ports")):
        previous = old_ports.get((port.get("port"), port.get("protocol")))
        if previous and not port.get("nodePort") and previous.get("nodePort"):
            port["nodePort"] = previous["nodePort"]


def _ip_families(spec: dict) -> None:
    """initIPFamilyFields on a single-stack IPv4 cluster: SingleStack [IPv4]; headless and selectorless
    Services default to RequireDualStack and list both families."""
    headless = spec.get("clusterIP") == "None" or (spec.get("clusterIPs") or [None])[0] == "None"
    selectorless = not spec.get("selector")
    if spec.get("ipFamilyPolicy") is None:
        spec["ipFamilyPolicy"] = "RequireDualStack" if headless and selectorless else "SingleStack"
    families = spec.get("ipFamilies") or []
    if not families:
        families = ["IPv4"]
    if headless and selectorless and spec["ipFamilyPolicy"] != "SingleStack" and len(families) < 2:
        families = [*families, "IPv6" if families[0] == "IPv4" else "IPv4"]
    spec["ipFamilies"] = families


def _cluster_ips(spec: dict, alloc: _Allocators) -> None:
    ips = list(spec.get("clusterIPs") or [])
    if not ips and not _unset(spec, "clusterIP"):
        ips = [spec["clusterIP"]]
    if not ips or ips[0] == "":
        ips = [alloc.cluster_ip()]
    spec["clusterIPs"] = ips
    spec["clusterIP"] = ips[0]


def _secret(obj: dict, _old: dict | None, _alloc: _Allocators) -> None:
    """SetDefaults_Secret: type Opaque. stringData is write-only: conversion merges it into data
    (Convert_v1_Secret_To_core_Secret), stringData winning over data for the same key."""
    _default(obj, "type", "Opaque")
    string_data = obj.get("stringData")
    if not isinstance(string_data, dict) or not isinstance(obj.get("data") or {}, dict):
        return  # a body of the wrong shape: left for validation to refuse
    if any(not isinstance(value, str) for value in string_data.values()):
        return
    obj.pop("stringData")
    if string_data:
        data = obj.get("data")
        if data is None:
            data = obj["data"] = {}
        for key, value in string_data.items():
            data[key] = base64.b64encode(value.encode()).decode()


def _pvc(obj: dict, old: dict | None, _alloc: _Allocators) -> None:
    """SetDefaults_PersistentVolumeClaim(Spec): volumeMode Filesystem; status.phase Pending on create."""
    default_pvc_spec(_child(obj, "spec"))
    if old is None:
        _default(_child(obj, "status"), "phase", "Pending")


def default_pvc_spec(spec: dict) -> None:
    _default(spec, "volumeMode", "Filesystem")
    resources = spec.get("resources")
    if isinstance(resources, dict):
        _canonical_resources(resources.get("requests"))
        _canonical_resources(resources.get("limits"))


def _pv(obj: dict, old: dict | None, _alloc: _Allocators) -> None:
    """SetDefaults_PersistentVolume: reclaim policy Retain, volumeMode Filesystem, status.phase Pending."""
    spec = _child(obj, "spec")
    _default(spec, "persistentVolumeReclaimPolicy", "Retain")
    _default(spec, "volumeMode", "Filesystem")
    _canonical_resources(spec.get("capacity"))
    if old is None:
        _default(_child(obj, "status"), "phase", "Pending")


def _namespace(obj: dict, old: dict | None, _alloc: _Allocators) -> None:
    """SetDefaults_Namespace (the kubernetes.io/metadata.name label), SetDefaults_NamespaceStatus (Active) and
    namespaceStrategy.PrepareForCreate (spec.finalizers ["kubernetes"]; kept from the stored object on update)."""
    meta = _child(obj, "metadata")
    if meta.get("name"):
        _child(meta, "labels")["kubernetes.io/metadata.name"] = meta["name"]
    spec = _child(obj, "spec")
    if old is None:
        spec["finalizers"] = ["kubernetes"]
    else:
        old_finalizers = _sub(old, "spec").get("finalizers")
        if old_finalizers is None:
            spec.pop("finalizers", None)
        else:
            spec["finalizers"] = list(old_finalizers)
    _default(_child(obj, "status"), "phase", "Active")


def _endpoints(obj: dict, _old: dict | None, _alloc: _Allocators) -> None:
    """SetDefaults_Endpoints: ports' protocol TCP."""
    for subset in _dicts(obj.get("subsets")):
        for port in _dicts(subset.get("ports")):
            _default(port, "protocol", TCP)


def _storage_class(obj: dict, _old: dict | None, _alloc: _Allocators) -> None:
    """storage/v1 SetDefaults_StorageClass: reclaimPolicy Delete, volumeBindingMode Immediate."""
    _default(obj, "reclaimPolicy", "Delete")
    _default(obj, "volumeBindingMode", "Immediate")


def _csi_driver(obj: dict, _old: dict | None, _alloc: _Allocators) -> None:
    """storage/v1 SetDefaults_CSIDriver: attachRequired true, podInfoOnMount/requiresRepublish/storageCapacity
    false, fsGroupPolicy ReadWriteOnceWithFSType, volumeLifecycleModes [Persistent], seLinuxMount false
    (SELinuxMountReadWriteOncePod, beta and on by default since 1.28)."""
    spec = _child(obj, "spec")
    for key, value in (
        ("attachRequired", True),
        ("podInfoOnMount", False),
        ("requiresRepublish", False),
        ("storageCapacity", False),
        ("fsGroupPolicy", "ReadWriteOnceWithFSType"),
        ("seLinuxMount", False),
    ):
        _default(spec, key, value)
    if not spec.get("volumeLifecycleModes"):
        spec["volumeLifecycleModes"] = ["Persistent"]


def _network_policy(obj: dict, _old: dict | None, _alloc: _Allocators) -> None:
    """networking/v1 SetDefaults_NetworkPolicy: ports' protocol TCP; policyTypes [Ingress] (+ Egress when
    egress rules are given) when unset."""
    spec = _child(obj, "spec")
    _child(spec, "podSelector")  # a value struct: an absent selector is printed as {} (all pods)
    for direction in ("ingress", "egress"):
        for rule in _dicts(spec.get(direction)):
            for port in _dicts(rule.get("ports")):
                _default(port, "protocol", TCP)
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def _role_binding(obj: dict, _old: dict | None, _alloc: _Allocators) -> None:
    """rbac/v1 SetDefaults_(Cluster)RoleBinding and SetDefaults_Subject: roleRef.apiGroup and User/Group
    subjects' apiGroup default to rbac.authorization.k8s.io."""
    ref = obj.get("roleRef")
    if isinstance(ref, dict):
        _default(ref, "apiGroup", "rbac.authorization.k8s.io")
    for subject in _dicts(obj.get("subjects")):
        if _unset(subject, "apiGroup") and subject.get("kind") in ("User", "Group"):
            subject["apiGroup"] = "rbac.authorization.k8s.io"


def _resource_quota(obj: dict, _old: dict | None, _alloc: _Allocators) -> None:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        _canonical_resources(spec.get("hard"))


_KINDS: dict[str, Callable[[dict, dict | None, _Allocators], None]] = {
    "Pod": _pod,
    "PodTemplate": _pod_template,
    "Deployment": _deployment,
    "StatefulSet": _statefulset,
    "DaemonSet": _daemonset,
    "ReplicaSet": _replicaset,
    "Job": _job,
    "CronJob": _cronjob,
    "Service": _service,
    "Secret": _secret,
    "PersistentVolumeClaim": _pvc,
    "PersistentVolume": _pv,
    "Namespace": _namespace,
    "Endpoints": _endpoints,
    "StorageClass": _storage_class,
    "CSIDriver": _csi_driver,
    "NetworkPolicy": _network_policy,
    "RoleBinding": _role_binding,
    "ClusterRoleBinding": _role_binding,
    "ResourceQuota": _resource_quota,
}

__all__ = ["apply_defaults", "default_container", "default_pod_spec"]
