"""kubesim.validation: every write validated the way kube-apiserver validates it.

Each case states what a real API server answers, with the source of the rule in a comment:
k8s.io/kubernetes/pkg/apis/<group>/validation/validation.go (the Go validation), the messages of
k8s.io/apimachinery/pkg/util/validation, and KEP-2885 for fieldValidation
(https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation).
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable
from typing import Any

import pytest
from kubesim.defaults import apply_defaults
from kubesim.errors import ApiError
from kubesim.schemas import Schemas
from kubesim.validation import validate_write

S33 = Schemas("1.33")

DNS_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
DNS_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end "
    "with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
QUANTITY_MSG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


# -- objects px.airflow sends (correct ones) -------------------------------------------------------

POD_SC = {"runAsNonRoot": True, "runAsUser": 50000, "fsGroup": 0, "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER_SC = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True}


def container(name: str = "scheduler", **extra: Any) -> dict:
    return {
        "name": name,
        "image": "apache/airflow:3.3.2",
        "args": [name],
        "env": [
            {
                "name": "AIRFLOW__CORE__FERNET_KEY",
                "valueFrom": {"secretKeyRef": {"name": "af-fernet", "key": "fernet-key"}},
            },
            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        ],
        "ports": [{"name": "health", "containerPort": 8974}],
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
        "livenessProbe": {"httpGet": {"path": "/health", "port": "health"}, "initialDelaySeconds": 10},
        "securityContext": copy.deepcopy(CONTAINER_SC),
        "volumeMounts": [
            {"name": "dags", "mountPath": "/opt/airflow/dags"},
            {"name": "logs", "mountPath": "/opt/airflow/logs"},
            {"name": "config", "mountPath": "/opt/airflow/airflow.cfg", "subPath": "airflow.cfg", "readOnly": True},
        ],
        **extra,
    }


def pod_spec(**extra: Any) -> dict:
    return {
        "serviceAccountName": "af-airflow",
        "securityContext": copy.deepcopy(POD_SC),
        "containers": [container()],
        "volumes": [
            {"name": "dags", "persistentVolumeClaim": {"claimName": "af-dags"}},
            {"name": "logs", "persistentVolumeClaim": {"claimName": "af-logs"}},
            {"name": "config", "configMap": {"name": "af-config"}},
        ],
        **extra,
    }


def deployment() -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "af-scheduler", "namespace": "airflow", "labels": {"app.kubernetes.io/name": "airflow"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"component": "scheduler", "release": "af"}},
            "template": {"metadata": {"labels": {"component": "scheduler", "release": "af"}}, "spec": pod_spec()},
        },
    }


def statefulset() -> dict:
    spec = pod_spec(volumes=[])
    spec["containers"] = [
        {
            "name": "postgres",
            "image": "postgres:16",
            "ports": [{"name": "pg", "containerPort": 5432}],
            "readinessProbe": {"exec": {"command": ["pg_isready", "-U", "airflow"]}},
            "securityContext": copy.deepcopy(CONTAINER_SC),
            "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}],
        }
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "af-postgresql", "namespace": "airflow"},
        "spec": {
            "serviceName": "af-postgresql-hl",
            "selector": {"matchLabels": {"app": "postgresql"}},
            "template": {"metadata": {"labels": {"app": "postgresql"}}, "spec": spec},
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "storageClassName": "af-db",
                        "resources": {"requests": {"storage": "20Gi"}},
                    },
                }
            ],
        },
    }


def job() -> dict:
    spec = pod_spec(restartPolicy="Never")
    spec["containers"] = [container("migrate", args=["db", "migrate"], livenessProbe=None)]
    del spec["containers"][0]["livenessProbe"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "af-migrate", "namespace": "airflow", "uid": "0b5a6c1e-1111-2222-3333-444455556666"},
        "spec": {"backoffLimit": 2, "template": {"metadata": {"labels": {"component": "migrate"}}, "spec": spec}},
    }


def cronjob() -> dict:
    spec = pod_spec(restartPolicy="OnFailure")
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "af-cleanup", "namespace": "airflow"},
        "spec": {"schedule": "*/15 * * * *", "jobTemplate": {"spec": {"template": {"spec": spec}}}},
    }


def service() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "af-api-server", "namespace": "airflow"},
        "spec": {
            "selector": {"component": "api-server"},
            "ports": [{"name": "http", "port": 8080, "targetPort": "http"}, {"name": "metrics", "port": 9102}],
        },
    }


def storage_class() -> dict:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": "af-db"},
        "provisioner": "pxd.portworx.com",
        "parameters": {"repl": "3", "io_profile": "db_remote"},
        "reclaimPolicy": "Retain",
        "allowVolumeExpansion": True,
    }


def pvc() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "af-dags", "namespace": "airflow"},
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "storageClassName": "af-shared",
            "resources": {"requests": {"storage": "10Gi"}},
        },
    }


def secret() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "af-fernet", "namespace": "airflow"},
        "type": "Opaque",
        "data": {"fernet-key": "c2VjcmV0"},
    }


def configmap() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "af-config", "namespace": "airflow"},
        "data": {"airflow.cfg": "[core]\nexecutor = KubernetesExecutor\n", "pod_template.yaml": "kind: Pod\n"},
    }


def role() -> dict:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "af-demo", "namespace": "airflow"},
        "rules": [{"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": ["get", "create", "delete"]}],
    }


def role_binding() -> dict:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "af-demo", "namespace": "airflow"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "af-demo"},
        "subjects": [{"kind": "ServiceAccount", "name": "af-worker", "namespace": "airflow"}],
    }


def network_policy() -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "af-postgresql", "namespace": "airflow"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "postgresql"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"podSelector": {"matchLabels": {"release": "af", "db-access": "true"}}}],
                    "ports": [{"port": 5432, "protocol": "TCP"}],
                }
            ],
        },
    }


def pdb() -> dict:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "af-api-server", "namespace": "airflow"},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"component": "api-server"}}},
    }


def namespace() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "airflow", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
    }


CORRECT = [
    deployment,
    statefulset,
    job,
    cronjob,
    service,
    storage_class,
    pvc,
    secret,
    configmap,
    role,
    role_binding,
    network_policy,
    pdb,
    namespace,
]


# -- helpers ---------------------------------------------------------------------------------------


def _ips() -> Callable[[], str]:
    counter = iter(range(10, 250))
    return lambda: f"10.96.0.{next(counter)}"


def prepared(obj: dict, old: dict | None = None) -> dict:
    """What reaches validation in the request pipeline: the body after defaulting."""
    apply_defaults(obj, old=old, allocate_cluster_ip=_ips())
    return obj


def write(obj: dict, *, old: dict | None = None, fv: str = "Strict", version: str = "1.33", **kw: Any) -> list[str]:
    return validate_write(prepared(obj, old), old=old, schemas=Schemas(version), field_validation=fv, **kw)


def rejected(obj: dict, **kw: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        write(obj, **kw)
    return info.value


def causes(err: ApiError) -> list[tuple[str, str, str]]:
    return [(c["reason"], c["field"], c["message"]) for c in err.details["causes"]]


def stored(factory: Callable[[], dict]) -> dict:
    obj = prepared(factory())
    validate_write(obj, old=None, schemas=S33, field_validation="Strict")
    return obj


# -- what we send passes --------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.30", "1.33", "1.37"])
@pytest.mark.parametrize("factory", CORRECT, ids=lambda f: f.__name__)
def test_objects_we_send_pass_strict_validation(factory: Callable[[], dict], version: str) -> None:
    assert write(factory(), version=version) == []


@pytest.mark.parametrize("factory", CORRECT, ids=lambda f: f.__name__)
def test_unchanged_update_passes(factory: Callable[[], dict]) -> None:
    old = stored(factory)
    assert write(copy.deepcopy(old), old=old) == []


# -- fieldValidation (KEP-2885) -------------------------------------------------------------------


def with_unknown_fields() -> dict:
    obj = deployment()
    obj["spec"]["foo"] = 1
    obj["spec"]["template"]["spec"]["containers"][0]["imagePullSecret"] = "x"
    obj["metadata"]["lables"] = {"a": "b"}
    return obj


def test_strict_rejects_unknown_fields_with_400_listing_all() -> None:
    # Strict: 400 BadRequest, "strict decoding error: " + the unknown fields joined by ", " in document order.
    err = rejected(with_unknown_fields(), fv="Strict")
    assert (err.code, err.reason) == (400, "BadRequest")
    assert err.message == (
        'strict decoding error: unknown field "metadata.lables", '
        'unknown field "spec.template.spec.containers[0].imagePullSecret", unknown field "spec.foo"'
    )


def test_warn_drops_unknown_fields_and_returns_one_warning_each() -> None:
    obj = with_unknown_fields()
    warnings = write(obj, fv="Warn")
    assert warnings == [
        'unknown field "metadata.lables"',
        'unknown field "spec.template.spec.containers[0].imagePullSecret"',
        'unknown field "spec.foo"',  # added last to the dict, so last in the document
    ]
    assert "foo" not in obj["spec"] and "lables" not in obj["metadata"]
    assert "imagePullSecret" not in obj["spec"]["template"]["spec"]["containers"][0]


def test_ignore_drops_unknown_fields_silently() -> None:
    obj = with_unknown_fields()
    assert write(obj, fv="Ignore") == []
    assert "foo" not in obj["spec"]


def test_warn_is_the_default() -> None:
    obj = with_unknown_fields()
    assert len(validate_write(prepared(obj), old=None, schemas=S33, field_validation="")) == 3


def test_bad_field_validation_value_is_a_400() -> None:
    err = rejected(deployment(), fv="Loose")
    assert err.code == 400 and "fieldValidation" in err.message


def test_maps_and_free_form_fields_are_not_unknown() -> None:
    # labels/annotations/data are maps; status of a Deployment is known; RawExtension-like fields are free.
    obj = configmap()
    obj["metadata"]["annotations"] = {"anything/goes": "x"}
    assert write(obj) == []


def test_null_means_unset() -> None:
    # JSON null decodes to the zero value and is not stored (omitempty).
    obj = deployment()
    obj["spec"]["replicas"] = None
    obj["spec"]["paused"] = None
    write(obj)
    assert obj["spec"]["replicas"] == 1 and "paused" not in obj["spec"]


# -- decoding errors are 400s ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        # json.UnmarshalTypeError: "Go struct field <Struct>.<json path> of type <Go type>".
        (
            lambda o: o["spec"].__setitem__("replicas", "3"),
            "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32",
        ),
        (
            lambda o: o["spec"].__setitem__("replicas", 1.5),
            "json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32",
        ),
        (
            lambda o: o["spec"]["template"]["spec"]["containers"][0].__setitem__("image", 3),
            "json: cannot unmarshal number into Go struct field Container.spec.template.spec.containers.image "
            "of type string",
        ),
        (
            lambda o: o["spec"]["template"]["spec"].__setitem__("containers", {"name": "x"}),
            "json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec.containers "
            "of type []v1.Container",
        ),
        (
            lambda o: o["metadata"].__setitem__("labels", ["a"]),
            "json: cannot unmarshal array into Go struct field ObjectMeta.metadata.labels of type map[string]string",
        ),
        (
            lambda o: o["spec"].__setitem__("paused", "yes"),
            "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.paused of type bool",
        ),
        # IntOrString's UnmarshalJSON decodes numbers on its own: no struct context in the message.
        (
            lambda o: o["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"].__setitem__(
                "port", 80.5
            ),
            "json: cannot unmarshal number 80.5 into Go value of type int32",
        ),
        # resource.Quantity's UnmarshalJSON: ErrFormatWrong.
        (
            lambda o: o["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"].__setitem__(
                "memory", "2GB"
            ),
            QUANTITY_MSG,
        ),
    ],
)
def test_type_errors_are_bad_requests(mutate: Callable[[dict], None], message: str) -> None:
    obj = deployment()
    mutate(obj)
    err = rejected(obj)
    assert (err.code, err.reason) == (400, "BadRequest")
    assert err.message == f'Deployment in version "v1" cannot be handled as a Deployment: {message}'


def test_secret_data_must_be_base64() -> None:
    # Secret.data is map[string][]byte: encoding/base64 rejects the body.
    obj = secret()
    obj["data"]["fernet-key"] = "not base64!"
    err = rejected(obj)
    assert err.code == 400
    assert err.message == 'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3'


def test_type_error_wins_over_unknown_fields_under_strict() -> None:
    obj = with_unknown_fields()
    obj["spec"]["replicas"] = "x"
    assert "cannot unmarshal" in rejected(obj, fv="Strict").message


# -- 422 Invalid: shape of the error --------------------------------------------------------------


def test_invalid_error_carries_causes_and_kind_group() -> None:
    obj = deployment()
    del obj["spec"]["template"]["spec"]["containers"][0]["image"]
    err = rejected(obj)
    assert (err.code, err.reason) == (422, "Invalid")
    assert (
        err.message
        == 'Deployment.apps "af-scheduler" is invalid: spec.template.spec.containers[0].image: Required value'
    )
    assert err.details == {
        "name": "af-scheduler",
        "kind": "Deployment",
        "group": "apps",
        "causes": [
            {
                "reason": "FieldValueRequired",
                "message": "Required value",
                "field": "spec.template.spec.containers[0].image",
            }
        ],
    }


def test_several_causes_are_bracketed() -> None:
    obj = deployment()
    obj["spec"]["template"]["metadata"]["labels"] = {"component": "other"}
    del obj["spec"]["template"]["spec"]["containers"][0]["image"]
    err = rejected(obj)
    assert err.message.startswith('Deployment.apps "af-scheduler" is invalid: [')
    assert err.message.endswith("]")
    assert len(err.details["causes"]) == 2


# -- names, labels, annotations (ValidateObjectMeta) -----------------------------------------------


@pytest.mark.parametrize(
    ("factory", "name", "message"),
    [
        (configmap, "Bad_Name", DNS_SUBDOMAIN_MSG),  # most kinds: DNS-1123 subdomain (NameIsDNSSubdomain)
        (deployment, "af.scheduler-", DNS_SUBDOMAIN_MSG),
        (service, "af.api", DNS_LABEL_MSG),  # ValidateServiceName: DNS-1123 label
        (namespace, "air.flow", DNS_LABEL_MSG),  # ValidateNamespaceName: DNS-1123 label
        (configmap, "a" * 254, "must be no more than 253 characters"),
    ],
)
def test_names(factory: Callable[[], dict], name: str, message: str) -> None:
    obj = factory()
    obj["metadata"]["name"] = name
    assert ("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": {message}') in causes(rejected(obj))


def test_subdomain_names_allow_dots_for_most_kinds() -> None:
    obj = configmap()
    obj["metadata"]["name"] = "af.config-1"
    assert write(obj) == []


def test_name_or_generate_name_required() -> None:
    obj = configmap()
    del obj["metadata"]["name"]
    assert causes(rejected(obj)) == [
        ("FieldValueRequired", "metadata.name", "Required value: name or generateName is required")
    ]


def test_rbac_names_are_path_segments() -> None:
    # ValidateRBACName = path.IsValidPathSegmentName: "system:aggregate-to-view" is fine, "a/b" is not.
    obj = role()
    obj["metadata"]["name"] = "system:af-reader"
    assert write(obj) == []
    obj = role()
    obj["metadata"]["name"] = "a/b"
    assert causes(rejected(obj)) == [
        ("FieldValueInvalid", "metadata.name", "Invalid value: \"a/b\": may not contain '/'")
    ]


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (
            {"bad key!": "v"},
            (
                "FieldValueInvalid",
                "metadata.labels",
                "Invalid value: \"bad key!\": name part must consist of alphanumeric characters, '-', '_' or '.', "
                "and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
                "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
            ),
        ),
        (
            {"app": "bad value!"},
            (
                "FieldValueInvalid",
                "metadata.labels",
                'Invalid value: "bad value!": a valid label must be an empty string or consist of alphanumeric '
                "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  "
                "or 'my_value',  or '12345', "
                "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
            ),
        ),
        (
            {"app": "x" * 64},
            (
                "FieldValueInvalid",
                "metadata.labels",
                f'Invalid value: "{"x" * 64}": must be no more than 63 characters',
            ),
        ),
        ({"Example.com/x": "v"}, None),  # the prefix is a DNS subdomain: upper case is invalid
        ({"example.com/x": ""}, "ok"),  # empty values are valid
    ],
)
def test_labels(labels: dict, expected: Any) -> None:
    obj = configmap()
    obj["metadata"]["labels"] = labels
    if expected == "ok":
        assert write(obj) == []
    elif expected is None:
        assert any("prefix part" in c[2] for c in causes(rejected(obj)))
    else:
        assert expected in causes(rejected(obj))


def test_annotations_total_size_is_limited_to_256_kib() -> None:
    # ValidateAnnotationsSize: keys plus values at most TotalAnnotationSizeLimitB (262144 bytes).
    obj = configmap()
    obj["metadata"]["annotations"] = {"a": "x" * (262144 - 1)}
    assert write(copy.deepcopy(obj)) == []
    obj["metadata"]["annotations"] = {"a": "x" * 262144}
    assert causes(rejected(obj)) == [
        ("FieldValueTooLong", "metadata.annotations", "Too long: must have at most 262144 bytes")
    ]


def test_crds_and_custom_resources_only_need_qualified_finalizers() -> None:
    # apiextensions validation uses the generic ObjectMeta validation, without the legacy-name rule.
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com", "finalizers": ["customresourcecleanup.apiextensions.k8s.io"]},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object"}}}
            ],
        },
    }
    assert write(crd) == []
    obj = widget(size=1)
    obj["metadata"]["finalizers"] = ["cleanup"]
    # ... and custom resources only warn (apiextensions-apiserver customresource strategy generateWarningsFromObj).
    assert cr_write(obj) == [
        'metadata.finalizers: "cleanup": prefer a domain-qualified finalizer name to avoid accidental conflicts '
        "with other finalizer writers"
    ]


def test_finalizers_must_be_qualified() -> None:
    obj = configmap()
    obj["metadata"]["finalizers"] = ["example.com/cleanup", "kubernetes", "cleanup"]
    assert causes(rejected(obj)) == [
        (
            "FieldValueInvalid",
            "metadata.finalizers[2]",
            'Invalid value: "cleanup": name is neither a standard finalizer name nor is it fully qualified',
        )
    ]


# -- schema-required fields ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "mutate", "field"),
    [
        (deployment, lambda o: o["spec"].pop("selector"), "spec.selector"),
        (storage_class, lambda o: o.pop("provisioner"), "provisioner"),
        (
            deployment,
            lambda o: o["spec"]["template"]["spec"]["containers"][0]["env"][0].pop("name"),
            "spec.template.spec.containers[0].env[0].name",
        ),
        (
            deployment,
            lambda o: o["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0].pop("mountPath"),
            "spec.template.spec.containers[0].volumeMounts[0].mountPath",
        ),
        (cronjob, lambda o: o["spec"].pop("schedule"), "spec.schedule"),
        (role_binding, lambda o: o["roleRef"].pop("name"), "roleRef.name"),
    ],
)
def test_required_values(factory: Callable[[], dict], mutate: Callable[[dict], Any], field: str) -> None:
    obj = factory()
    mutate(obj)
    assert ("FieldValueRequired", field, "Required value") in causes(rejected(obj))


def test_networkpolicy_pod_selector_is_not_required() -> None:
    # The schema lists podSelector as required, but it is a value struct: absent means "all pods".
    obj = network_policy()
    del obj["spec"]["podSelector"]
    assert write(obj) == []


# -- workloads (pkg/apis/apps/validation) ---------------------------------------------------------


@pytest.mark.parametrize("factory", [deployment, statefulset], ids=lambda f: f.__name__)
def test_selector_must_match_template_labels(factory: Callable[[], dict]) -> None:
    obj = factory()
    obj["spec"]["template"]["metadata"]["labels"] = {"other": "x"}
    assert (
        "FieldValueInvalid",
        "spec.template.metadata.labels",
        'Invalid value: map[string]string{"other":"x"}: `selector` does not match template `labels`',
    ) in causes(rejected(obj))


def test_empty_selector_is_invalid_for_deployment() -> None:
    obj = deployment()
    obj["spec"]["selector"] = {}
    assert (
        "FieldValueInvalid",
        "spec.selector",
        "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment",
    ) in causes(rejected(obj))


def test_match_expressions_select_too() -> None:
    obj = deployment()
    obj["spec"]["selector"] = {"matchExpressions": [{"key": "component", "operator": "In", "values": ["scheduler"]}]}
    assert write(obj) == []


def test_deployment_template_restart_policy_must_be_always() -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    assert causes(rejected(obj)) == [
        (
            "FieldValueNotSupported",
            "spec.template.spec.restartPolicy",
            'Unsupported value: "Never": supported values: "Always"',
        )
    ]


def test_deployment_negative_replicas_and_zero_rollout() -> None:
    obj = deployment()
    obj["spec"]["replicas"] = -1
    obj["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}
    assert causes(rejected(obj)) == [
        ("FieldValueInvalid", "spec.replicas", "Invalid value: -1: must be greater than or equal to 0"),
        (
            "FieldValueInvalid",
            "spec.strategy.rollingUpdate.maxUnavailable",
            "Invalid value: 0: may not be 0 when `maxSurge` is 0",
        ),
    ]


def test_recreate_strategy_forbids_rolling_update() -> None:
    obj = deployment()
    obj["spec"]["strategy"] = {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}
    assert (
        "FieldValueForbidden",
        "spec.strategy.rollingUpdate",
        "Forbidden: may not be specified when strategy `type` is 'Recreate'",
    ) in causes(rejected(obj))


def test_statefulset_claim_templates_count_as_volumes() -> None:
    obj = statefulset()
    obj["spec"]["template"]["spec"]["containers"][0]["volumeMounts"].append({"name": "nope", "mountPath": "/x"})
    assert causes(rejected(obj)) == [
        ("FieldValueNotFound", "spec.template.spec.containers[0].volumeMounts[1].name", 'Not found: "nope"')
    ]


# -- pod specs (pkg/apis/core/validation ValidatePodSpec) ------------------------------------------

C0 = "spec.template.spec.containers[0]"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda c, s: c["volumeMounts"][0].__setitem__("name", "x"),
            ("FieldValueNotFound", f"{C0}.volumeMounts[0].name", 'Not found: "x"'),
        ),
        (
            lambda c, s: c["volumeMounts"][1].__setitem__("mountPath", "/opt/airflow/dags"),
            (
                "FieldValueInvalid",
                f"{C0}.volumeMounts[1].mountPath",
                'Invalid value: "/opt/airflow/dags": must be unique',
            ),
        ),
        (
            lambda c, s: s["containers"].append(copy.deepcopy(c)),
            ("FieldValueDuplicate", "spec.template.spec.containers[1].name", 'Duplicate value: "scheduler"'),
        ),
        (
            lambda c, s: (
                s["initContainers"].append(copy.deepcopy(c))
                if "initContainers" in s
                else s.__setitem__("initContainers", [copy.deepcopy(c)])
            ),
            ("FieldValueDuplicate", "spec.template.spec.initContainers[0].name", 'Duplicate value: "scheduler"'),
        ),
        (
            lambda c, s: c.__setitem__("name", "Scheduler"),
            ("FieldValueInvalid", f"{C0}.name", f'Invalid value: "Scheduler": {DNS_LABEL_MSG}'),
        ),
        (
            lambda c, s: c["ports"][0].__setitem__("containerPort", 70000),
            (
                "FieldValueInvalid",
                f"{C0}.ports[0].containerPort",
                "Invalid value: 70000: must be between 1 and 65535, inclusive",
            ),
        ),
        (
            lambda c, s: c["ports"][0].__setitem__("protocol", "ICMP"),
            (
                "FieldValueNotSupported",
                f"{C0}.ports[0].protocol",
                'Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
            ),
        ),
        (
            lambda c, s: c["ports"][0].__setitem__("name", "health_check"),
            (
                "FieldValueInvalid",
                f"{C0}.ports[0].name",
                'Invalid value: "health_check": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
            ),
        ),
        (
            lambda c, s: c["livenessProbe"].__setitem__("tcpSocket", {"port": 8974}),
            (
                "FieldValueForbidden",
                f"{C0}.livenessProbe.tcpSocket",
                "Forbidden: may not specify more than 1 handler type",
            ),
        ),
        (
            lambda c, s: c.__setitem__("readinessProbe", {"periodSeconds": 5}),
            ("FieldValueRequired", f"{C0}.readinessProbe", "Required value: must specify a handler type"),
        ),
        (
            lambda c, s: c["livenessProbe"].__setitem__("successThreshold", 2),
            ("FieldValueInvalid", f"{C0}.livenessProbe.successThreshold", "Invalid value: 2: must be 1"),
        ),
        (
            lambda c, s: c["resources"]["requests"].__setitem__("memory", "3Gi"),
            (
                "FieldValueInvalid",
                f"{C0}.resources.requests",
                'Invalid value: "3Gi": must be less than or equal to memory limit of 2Gi',
            ),
        ),
        (
            lambda c, s: c["resources"]["requests"].__setitem__("cpu", "-1"),
            (
                "FieldValueInvalid",
                f"{C0}.resources.requests[cpu]",
                'Invalid value: "-1": must be greater than or equal to 0',
            ),
        ),
        (
            lambda c, s: c["env"][0].__setitem__("value", "x"),
            (
                "FieldValueInvalid",
                f"{C0}.env[0].valueFrom",
                'Invalid value: "": may not be specified when `value` is not empty',
            ),
        ),
        (
            lambda c, s: c.__setitem__("imagePullPolicy", "Sometimes"),
            (
                "FieldValueNotSupported",
                f"{C0}.imagePullPolicy",
                'Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"',
            ),
        ),
        (
            lambda c, s: s["volumes"].append({"name": "logs", "emptyDir": {}}),
            ("FieldValueDuplicate", "spec.template.spec.volumes[3].name", 'Duplicate value: "logs"'),
        ),
        (
            # validateVolumeSource accepts the first source in its fixed order (secret before configMap).
            lambda c, s: s["volumes"][2].__setitem__("secret", {"secretName": "x"}),
            (
                "FieldValueForbidden",
                "spec.template.spec.volumes[2].configMap",
                "Forbidden: may not specify more than 1 volume type",
            ),
        ),
        (
            lambda c, s: s["volumes"][0]["persistentVolumeClaim"].pop("claimName"),
            ("FieldValueRequired", "spec.template.spec.volumes[0].persistentVolumeClaim.claimName", "Required value"),
        ),
        (
            lambda c, s: s.__setitem__("dnsPolicy", "Cluster"),
            (
                "FieldValueNotSupported",
                "spec.template.spec.dnsPolicy",
                'Unsupported value: "Cluster": '
                'supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"',
            ),
        ),
        (
            lambda c, s: c["volumeMounts"][2].__setitem__("subPath", "../etc"),
            ("FieldValueInvalid", f"{C0}.volumeMounts[2].subPath", "Invalid value: \"../etc\": must not contain '..'"),
        ),
    ],
)
def test_pod_spec_rules(mutate: Callable[[dict, dict], Any], expected: tuple[str, str, str]) -> None:
    obj = deployment()
    spec = obj["spec"]["template"]["spec"]
    mutate(spec["containers"][0], spec)
    assert expected in causes(rejected(obj))


@pytest.mark.parametrize(
    ("version", "name", "ok"),
    [
        # RelaxedEnvironmentVariableValidation: beta (on by default) from 1.32; before it, C-identifier-like names.
        ("1.30", "MY_VAR.1-x", True),
        ("1.30", "1VAR", False),
        ("1.30", "with space", False),
        ("1.33", "1VAR", True),
        ("1.33", "with space", True),
        ("1.33", "A=B", False),
    ],
)
def test_env_var_names(version: str, name: str, ok: bool) -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": name, "value": "x"})
    if ok:
        assert write(obj, version=version) == []
    else:
        [cause] = causes(rejected(obj, version=version))
        assert cause[:2] == ("FieldValueInvalid", f"{C0}.env[2].name")


# -- Jobs and CronJobs (pkg/apis/batch/validation) -------------------------------------------------


def test_job_needs_on_failure_or_never() -> None:
    # A Job template without restartPolicy is defaulted to Always, which ValidateJobSpec refuses.
    obj = job()
    del obj["spec"]["template"]["spec"]["restartPolicy"]
    assert causes(rejected(obj)) == [
        (
            "FieldValueNotSupported",
            "spec.template.spec.restartPolicy",
            'Unsupported value: "Always": supported values: "OnFailure", "Never"',
        )
    ]


def test_job_selector_must_be_generated_unless_manual() -> None:
    obj = job()
    obj["spec"]["selector"] = {"matchLabels": {"component": "migrate"}}
    assert (
        "FieldValueInvalid",
        "spec.selector",
        'Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"batch.kubernetes.io/controller-uid":'
        '"0b5a6c1e-1111-2222-3333-444455556666", "component":"migrate"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: `selector` not auto-generated",
    ) in causes(rejected(obj))


def test_job_with_manual_selector() -> None:
    obj = job()
    obj["spec"]["manualSelector"] = True
    obj["spec"]["selector"] = {"matchLabels": {"component": "migrate"}}
    assert write(obj) == []


@pytest.mark.parametrize(
    ("schedule", "ok"),
    [("*/15 * * * *", True), ("0 3 * * 1-5", True), ("@daily", True), ("0 0 * *", False), ("every day", False)],
)
def test_cronjob_schedule(schedule: str, ok: bool) -> None:
    obj = cronjob()
    obj["spec"]["schedule"] = schedule
    if ok:
        assert write(obj) == []
    else:
        assert causes(rejected(obj)) == [
            ("FieldValueInvalid", "spec.schedule", f'Invalid value: "{schedule}": unparseable schedule: {schedule}')
        ]


def test_cronjob_template_restart_policy_and_name_length() -> None:
    obj = cronjob()
    obj["metadata"]["name"] = "c" * 53  # the Job names it makes get an 11-character suffix
    del obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"]
    assert causes(rejected(obj)) == [
        ("FieldValueInvalid", "metadata.name", f'Invalid value: "{"c" * 53}": must be no more than 52 characters'),
        (
            "FieldValueNotSupported",
            "spec.jobTemplate.spec.template.spec.restartPolicy",
            'Unsupported value: "Always": supported values: "OnFailure", "Never"',
        ),
    ]


# -- Services ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda s: s["ports"][1].pop("name"), ("FieldValueRequired", "spec.ports[1].name", "Required value")),
        (
            lambda s: s["ports"][1].__setitem__("name", "http"),
            ("FieldValueDuplicate", "spec.ports[1].name", 'Duplicate value: "http"'),
        ),
        (
            lambda s: s["ports"][0].__setitem__("port", 0),
            ("FieldValueInvalid", "spec.ports[0].port", "Invalid value: 0: must be between 1 and 65535, inclusive"),
        ),
        (
            lambda s: s["ports"][0].__setitem__("targetPort", 99999),
            (
                "FieldValueInvalid",
                "spec.ports[0].targetPort",
                "Invalid value: 99999: must be between 1 and 65535, inclusive",
            ),
        ),
        (lambda s: s.__setitem__("ports", []), ("FieldValueRequired", "spec.ports", "Required value")),
        (
            lambda s: s.__setitem__("type", "Internal"),
            (
                "FieldValueNotSupported",
                "spec.type",
                'Unsupported value: "Internal": '
                'supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
            ),
        ),
        (
            lambda s: s.__setitem__("clusterIP", "10.96.0.300"),
            (
                "FieldValueInvalid",
                "spec.clusterIPs[0]",
                'Invalid value: "10.96.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
            ),
        ),
    ],
)
def test_service_rules(mutate: Callable[[dict], Any], expected: tuple[str, str, str]) -> None:
    obj = service()
    mutate(obj["spec"])
    assert expected in causes(rejected(obj))


def test_single_port_service_needs_no_port_name_and_headless_needs_no_ports() -> None:
    obj = service()
    obj["spec"]["ports"] = [{"port": 8080}]
    assert write(obj) == []
    obj = service()
    obj["spec"].update(clusterIP="None", ports=[])
    assert write(obj) == []


# -- ConfigMaps and Secrets -------------------------------------------------------------------------

CONFIG_KEY_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  "
    "or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
)


@pytest.mark.parametrize("factory", [configmap, secret], ids=lambda f: f.__name__)
def test_data_keys(factory: Callable[[], dict]) -> None:
    obj = factory()
    obj["data"]["bad key"] = "eA=="
    assert causes(rejected(obj)) == [
        ("FieldValueInvalid", "data[bad key]", f'Invalid value: "bad key": {CONFIG_KEY_MSG}')
    ]


def test_configmap_total_size_limit() -> None:
    # ValidateConfigMap reports the size on the root path; the API shows it as "[]".
    obj = configmap()
    obj["data"] = {"a": "x" * 1048576}
    assert write(copy.deepcopy(obj)) == []
    obj["data"]["b"] = "x"
    err = rejected(obj)
    assert causes(err) == [("FieldValueTooLong", "[]", "Too long: must have at most 1048576 bytes")]
    assert err.message == 'ConfigMap "af-config" is invalid: []: Too long: must have at most 1048576 bytes'


def test_secret_total_size_limit_counts_decoded_bytes() -> None:
    obj = secret()
    obj["data"] = {"big": "eHh4" * (1048576 // 3 + 1)}  # base64 of "xxx" repeated: just over 1 MiB decoded
    assert causes(rejected(obj)) == [("FieldValueTooLong", "data", "Too long: must have at most 1048576 bytes")]


def test_tls_secret_requires_its_keys() -> None:
    obj = secret()
    obj["type"] = "kubernetes.io/tls"
    assert causes(rejected(obj)) == [
        ("FieldValueRequired", "data[tls.crt]", "Required value"),
        ("FieldValueRequired", "data[tls.key]", "Required value"),
    ]


# -- storage ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda s: s.pop("accessModes"),
            ("FieldValueRequired", "spec.accessModes", "Required value: at least 1 access mode is required"),
        ),
        (
            lambda s: s.__setitem__("accessModes", ["ReadWriteAll"]),
            (
                "FieldValueNotSupported",
                "spec.accessModes",
                'Unsupported value: "ReadWriteAll": '
                'supported values: "ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"',
            ),
        ),
        (
            lambda s: s["resources"]["requests"].pop("storage"),
            ("FieldValueRequired", "spec.resources[storage]", "Required value"),
        ),
        (
            lambda s: s["resources"]["requests"].__setitem__("storage", "0"),
            ("FieldValueInvalid", "spec.resources.requests[storage]", 'Invalid value: "0": must be greater than zero'),
        ),
    ],
)
def test_pvc_rules(mutate: Callable[[dict], Any], expected: tuple[str, str, str]) -> None:
    obj = pvc()
    mutate(obj["spec"])
    assert expected in causes(rejected(obj))


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda o: o.__setitem__("reclaimPolicy", "Recycle"),
            (
                "FieldValueNotSupported",
                "reclaimPolicy",
                'Unsupported value: "Recycle": supported values: "Delete", "Retain"',
            ),
        ),
        (
            lambda o: o.__setitem__("volumeBindingMode", "Later"),
            (
                "FieldValueNotSupported",
                "volumeBindingMode",
                'Unsupported value: "Later": supported values: "Immediate", "WaitForFirstConsumer"',
            ),
        ),
        (lambda o: o.__setitem__("provisioner", "pxd portworx"), None),
    ],
)
def test_storage_class_rules(mutate: Callable[[dict], Any], expected: Any) -> None:
    obj = storage_class()
    mutate(obj)
    found = causes(rejected(obj))
    if expected is None:
        assert found[0][:2] == ("FieldValueInvalid", "provisioner")
    else:
        assert expected in found


# -- RBAC, NetworkPolicy, PDB ----------------------------------------------------------------------


def test_rbac_rules() -> None:
    obj = role()
    obj["rules"] = [
        {"apiGroups": [""], "resources": ["pods"], "verbs": []},
        {"verbs": ["get"]},
        {"nonResourceURLs": ["/healthz"], "verbs": ["get"]},
    ]
    assert causes(rejected(obj)) == [
        ("FieldValueRequired", "rules[0].verbs", "Required value: verbs must contain at least one value"),
        (
            "FieldValueRequired",
            "rules[1].apiGroups",
            "Required value: resource rules must supply at least one api group",
        ),
        (
            "FieldValueRequired",
            "rules[1].resources",
            "Required value: resource rules must supply at least one resource",
        ),
        (
            "FieldValueInvalid",
            "rules[2].nonResourceURLs",
            'Invalid value: []string{"/healthz"}: namespaced rules cannot apply to non-resource URLs',
        ),
    ]


def test_role_binding_rules() -> None:
    obj = role_binding()
    obj["roleRef"]["kind"] = "Group"
    obj["subjects"].append({"kind": "Robot", "name": "r2"})
    assert causes(rejected(obj)) == [
        (
            "FieldValueNotSupported",
            "roleRef.kind",
            'Unsupported value: "Group": supported values: "Role", "ClusterRole"',
        ),
        (
            "FieldValueNotSupported",
            "subjects[1].kind",
            'Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"',
        ),
    ]


def test_network_policy_rules() -> None:
    obj = network_policy()
    obj["spec"]["ingress"][0]["from"].append({})
    obj["spec"]["ingress"][0]["from"].append({"ipBlock": {"cidr": "10.0.0.0/33"}})
    obj["spec"]["policyTypes"] = ["Ingress", "Sideways"]
    assert causes(rejected(obj)) == [
        ("FieldValueRequired", "spec.ingress[0].from[1]", "Required value: must specify a peer"),
        (
            "FieldValueInvalid",
            "spec.ingress[0].from[2].ipBlock.cidr",
            'Invalid value: "10.0.0.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)',
        ),
        (
            "FieldValueNotSupported",
            "spec.policyTypes[1]",
            'Unsupported value: "Sideways": supported values: "Ingress", "Egress"',
        ),
    ]


def test_pdb_min_and_max_together() -> None:
    obj = pdb()
    obj["spec"]["minAvailable"] = "50%"
    assert causes(rejected(obj))[0][2].endswith("minAvailable and maxUnavailable cannot be both set")


def test_namespace_pod_security_labels_must_parse() -> None:
    obj = namespace()
    obj["metadata"]["labels"]["pod-security.kubernetes.io/warn"] = "strict"
    assert causes(rejected(obj)) == [
        (
            "FieldValueInvalid",
            "metadata.labels[pod-security.kubernetes.io/warn]",
            'Invalid value: "strict": must be one of privileged, baseline, restricted',
        )
    ]


# -- immutability ------------------------------------------------------------------------------------


def update_of(factory: Callable[[], dict], mutate: Callable[[dict], Any]) -> tuple[dict, dict]:
    old = stored(factory)
    new = copy.deepcopy(old)
    mutate(new)
    return new, old


@pytest.mark.parametrize(
    ("factory", "mutate", "expected"),
    [
        # ValidateStorageClassUpdate.
        (
            storage_class,
            lambda o: o.__setitem__("provisioner", "kubernetes.io/portworx-volume"),
            [("FieldValueForbidden", "provisioner", "Forbidden: updates to provisioner are forbidden.")],
        ),
        (
            storage_class,
            lambda o: o["parameters"].__setitem__("repl", "2"),
            [("FieldValueForbidden", "parameters", "Forbidden: updates to parameters are forbidden.")],
        ),
        (
            storage_class,
            lambda o: o.__setitem__("reclaimPolicy", "Delete"),
            [("FieldValueForbidden", "reclaimPolicy", "Forbidden: updates to reclaimPolicy are forbidden.")],
        ),
        (
            storage_class,
            lambda o: o.__setitem__("volumeBindingMode", "WaitForFirstConsumer"),
            [("FieldValueInvalid", "volumeBindingMode", 'Invalid value: "WaitForFirstConsumer": field is immutable')],
        ),
        # ValidateObjectMetaUpdate.
        (
            configmap,
            lambda o: o["metadata"].__setitem__("name", "other"),
            [("FieldValueInvalid", "metadata.name", 'Invalid value: "other": field is immutable')],
        ),
        (
            configmap,
            lambda o: o["metadata"].__setitem__("namespace", "default"),
            [("FieldValueInvalid", "metadata.namespace", 'Invalid value: "default": field is immutable')],
        ),
        # apps/v1 selectors are immutable.
        (
            deployment,
            lambda o: (
                o["spec"]["selector"]["matchLabels"].__setitem__("tier", "x"),
                o["spec"]["template"]["metadata"]["labels"].__setitem__("tier", "x"),
            ),
            [
                (
                    "FieldValueInvalid",
                    "spec.selector",
                    "Invalid value: v1.LabelSelector{MatchLabels:"
                    'map[string]string{"component":"scheduler", "release":"af", '
                    '"tier":"x"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable',
                )
            ],
        ),
        # ValidateStatefulSetUpdate.
        (
            statefulset,
            lambda o: o["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"].__setitem__(
                "storage", "30Gi"
            ),
            [
                (
                    "FieldValueForbidden",
                    "spec",
                    "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                    "'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and "
                    "'minReadySeconds' are forbidden",
                )
            ],
        ),
        (statefulset, lambda o: o["spec"].__setitem__("serviceName", "other"), [("FieldValueForbidden", "spec", None)]),
        # ValidateJobSpecUpdate.
        (
            job,
            lambda o: o["spec"]["template"]["spec"]["containers"][0].__setitem__("image", "apache/airflow:3.3.3"),
            [("FieldValueInvalid", "spec.template", "Invalid value: core.PodTemplateSpec{...}: field is immutable")],
        ),
        (
            job,
            lambda o: o["spec"].__setitem__("completions", 3),
            [("FieldValueInvalid", "spec.completions", "Invalid value: 3: field is immutable")],
        ),
        # RoleBinding roleRef.
        (
            role_binding,
            lambda o: o["roleRef"].__setitem__("name", "other"),
            [
                (
                    "FieldValueInvalid",
                    "roleRef",
                    'Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"Role", Name:"other"}: '
                    "cannot change roleRef",
                )
            ],
        ),
    ],
)
def test_immutable_fields(factory: Callable[[], dict], mutate: Callable[[dict], Any], expected: list) -> None:
    new, old = update_of(factory, mutate)
    found = causes(rejected(new, old=old))
    assert [c[:2] for c in found] == [e[:2] for e in expected]
    for cause, want in zip(found, expected, strict=True):
        if want[2] is not None:
            assert cause[2] == want[2]


@pytest.mark.parametrize(
    ("factory", "mutate"),
    [
        (statefulset, lambda o: o["spec"].__setitem__("replicas", 3)),
        (statefulset, lambda o: o["spec"]["template"]["spec"]["containers"][0].__setitem__("image", "postgres:17")),
        (statefulset, lambda o: o["spec"].__setitem__("updateStrategy", {"type": "OnDelete"})),
        (statefulset, lambda o: o["spec"].__setitem__("minReadySeconds", 5)),
        (statefulset, lambda o: o["spec"]["persistentVolumeClaimRetentionPolicy"].__setitem__("whenDeleted", "Delete")),
        (
            deployment,
            lambda o: o["spec"]["template"]["spec"]["containers"][0].__setitem__("image", "apache/airflow:3.3.3"),
        ),
        (job, lambda o: o["spec"].__setitem__("suspend", True)),
        (storage_class, lambda o: o.__setitem__("allowVolumeExpansion", False)),
        (configmap, lambda o: o["data"].__setitem__("new", "x")),
        (service, lambda o: o["spec"]["ports"].append({"name": "extra", "port": 9000})),
    ],
)
def test_mutable_fields(factory: Callable[[], dict], mutate: Callable[[dict], Any]) -> None:
    new, old = update_of(factory, mutate)
    assert write(new, old=old) == []


def test_statefulset_quantity_spelling_is_not_a_change() -> None:
    # Semantic.DeepEqual compares quantities by value: 20Gi == 20480Mi.
    new, old = update_of(
        statefulset,
        lambda o: o["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"].__setitem__(
            "storage", "20480Mi"
        ),
    )
    assert write(new, old=old) == []


def test_immutable_configmap_and_secret() -> None:
    # ValidateConfigMapUpdate / ValidateSecretUpdate: once immutable, data and immutable itself are frozen.
    for factory, key in ((configmap, "data"), (secret, "data")):
        old = factory()
        old["immutable"] = True
        old = prepared(old)
        new = copy.deepcopy(old)
        new[key] = {"k": "dg=="}
        new["immutable"] = False
        assert causes(rejected(new, old=old)) == [
            ("FieldValueForbidden", "immutable", "Forbidden: field is immutable when `immutable` is set"),
            ("FieldValueForbidden", key, "Forbidden: field is immutable when `immutable` is set"),
        ]


def test_secret_type_is_immutable() -> None:
    new, old = update_of(secret, lambda o: o.__setitem__("type", "kubernetes.io/basic-auth"))
    assert ("FieldValueInvalid", "type", 'Invalid value: "kubernetes.io/basic-auth": field is immutable') in causes(
        rejected(new, old=old)
    )


def test_service_cluster_ip_is_immutable_once_set_but_may_be_omitted() -> None:
    old = stored(service)
    omitted = copy.deepcopy(old)
    del omitted["spec"]["clusterIP"], omitted["spec"]["clusterIPs"]
    assert write(omitted, old=old) == []  # the REST layer keeps the allocated IP
    assert omitted["spec"]["clusterIP"] == old["spec"]["clusterIP"]
    changed = copy.deepcopy(old)
    changed["spec"]["clusterIP"] = "10.96.1.1"
    changed["spec"]["clusterIPs"] = ["10.96.1.1"]
    assert causes(rejected(changed, old=old)) == [
        ("FieldValueInvalid", "spec.clusterIPs[0]", 'Invalid value: []string{"10.96.1.1"}: may not change once set')
    ]


class TestPVCUpdate:
    """ValidatePersistentVolumeClaimUpdate: spec immutable except storage requests of bound claims."""

    @staticmethod
    def bound() -> dict:
        old = stored(pvc)
        old["status"] = {"phase": "Bound", "capacity": {"storage": "10Gi"}}
        return old

    def resized(self, size: str) -> tuple[dict, dict]:
        old = self.bound()
        new = copy.deepcopy(old)
        new["spec"]["resources"]["requests"]["storage"] = size
        return new, old

    def test_growing_a_bound_claim_is_allowed(self) -> None:
        new, old = self.resized("20Gi")
        assert write(new, old=old) == []

    def test_growing_when_the_class_does_not_allow_expansion_is_forbidden(self) -> None:
        new, old = self.resized("20Gi")
        err = rejected(new, old=old, pvc_expansion_allowed=False)
        assert (err.code, err.reason) == (403, "Forbidden")
        assert err.message == (
            'persistentvolumeclaims "af-dags" is forbidden: only dynamically provisioned pvc can be resized and '
            "the storageclass that provisions the pvc must support resize"
        )

    def test_shrinking_before_1_32(self) -> None:
        new, old = self.resized("5Gi")
        assert causes(rejected(new, old=old, version="1.30")) == [
            (
                "FieldValueForbidden",
                "spec.resources.requests.storage",
                "Forbidden: field can not be less than previous value",
            )
        ]

    def test_shrinking_below_capacity_from_1_32(self) -> None:
        # RecoverVolumeExpansionFailure (beta from 1.32): shrinking is refused at or below status.capacity.
        new, old = self.resized("5Gi")
        assert causes(rejected(new, old=old, version="1.33")) == [
            (
                "FieldValueForbidden",
                "spec.resources.requests.storage",
                "Forbidden: field can not be less than status.capacity",
            )
        ]

    def test_other_spec_changes_are_forbidden(self) -> None:
        old = self.bound()
        new = copy.deepcopy(old)
        new["spec"]["storageClassName"] = "other"
        [cause] = causes(rejected(new, old=old))
        assert cause[:2] == ("FieldValueForbidden", "spec")
        assert cause[2].startswith(
            "Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName "
            "for bound claims\n"
        )

    def test_pending_claims_cannot_be_resized(self) -> None:
        old = stored(pvc)  # status.phase Pending
        new = copy.deepcopy(old)
        new["spec"]["resources"]["requests"]["storage"] = "20Gi"
        assert causes(rejected(new, old=old))[0][:2] == ("FieldValueForbidden", "spec")


def test_pod_spec_is_mostly_immutable() -> None:
    old = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "w", "namespace": "airflow"}, "spec": pod_spec()}
    old = prepared(old)
    image = copy.deepcopy(old)
    image["spec"]["containers"][0]["image"] = "apache/airflow:3.3.3"
    image["spec"]["activeDeadlineSeconds"] = 60
    assert write(image, old=old) == []
    env = copy.deepcopy(old)
    env["spec"]["containers"][0]["env"] = []
    [cause] = causes(rejected(env, old=old))
    assert cause[:2] == ("FieldValueForbidden", "spec")
    assert cause[2].startswith(
        "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
        "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"
    )


# -- custom resources --------------------------------------------------------------------------------

CRD_SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "integer", "minimum": 1},
                "mode": {"type": "string", "enum": ["fast", "safe"]},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "port": {"x-kubernetes-int-or-string": True},
            },
        },
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


def widget(**spec: Any) -> dict:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w1", "namespace": "airflow"},
        "spec": spec,
    }


def cr_write(obj: dict, fv: str = "Warn") -> list[str]:
    return validate_write(obj, old=None, schemas=S33, field_validation=fv, crd_schema=CRD_SCHEMA)


def test_custom_resource_valid_and_pruned() -> None:
    obj = widget(size=3, mode="fast", port="http", free={"any": {"thing": 1}}, extra=True)
    assert cr_write(obj) == ['unknown field "spec.extra"']
    assert "extra" not in obj["spec"] and obj["spec"]["free"] == {"any": {"thing": 1}}


def test_custom_resource_strict_unknown_field() -> None:
    with pytest.raises(ApiError) as info:
        cr_write(widget(size=3, extra=True), fv="Strict")
    assert info.value.message == 'strict decoding error: unknown field "spec.extra"'


def test_custom_resource_schema_errors() -> None:
    with pytest.raises(ApiError) as info:
        cr_write(widget(size="big", mode="slow"))
    err = info.value
    assert err.code == 422
    assert err.message.startswith('Widget.example.com "w1" is invalid: [')
    assert causes(err) == [
        (
            "FieldValueInvalid",
            "spec.size",
            'Invalid value: "string": spec.size in body must be of type integer: "string"',
        ),
        ("FieldValueNotSupported", "spec.mode", 'Unsupported value: "slow": supported values: "fast", "safe"'),
    ]
    with pytest.raises(ApiError) as info:
        cr_write(widget(size=0))
    assert causes(info.value) == [
        ("FieldValueInvalid", "spec.size", "Invalid value: 0: spec.size in body should be greater than or equal to 1")
    ]
    with pytest.raises(ApiError) as info:
        cr_write(widget())
    assert causes(info.value) == [("FieldValueRequired", "spec.size", "Required value")]


# -- robustness: defaulting runs before validation, so it must survive bodies of the wrong shape -------


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((*prefix, key))
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.append((*prefix, index))
            found.extend(_paths(value, (*prefix, index)))
    return found


@pytest.mark.parametrize(
    "factory", [deployment, statefulset, job, cronjob, service, secret, pvc, network_policy, role_binding]
)
def test_wrong_types_anywhere_give_api_errors_not_crashes(factory: Callable[[], dict]) -> None:
    for path in _paths(factory()):
        for wrong in ("x", 7, [1], {"k": 1}, True):
            obj = factory()
            parent = obj
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = wrong
            with contextlib.suppress(ApiError):
                write(obj)


# -- speed -----------------------------------------------------------------------------------------


def test_validating_a_deployment_is_fast() -> None:
    obj = prepared(deployment())
    validate_write(copy.deepcopy(obj), old=None, schemas=S33, field_validation="Strict")  # warm the schema
    copies = [copy.deepcopy(obj) for _ in range(200)]
    started = time.perf_counter()
    for item in copies:
        validate_write(item, old=obj, schemas=S33, field_validation="Strict")
    per_call_ms = (time.perf_counter() - started) / len(copies) * 1000
    assert per_call_ms < 5, per_call_ms
