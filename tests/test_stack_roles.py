"""The storage, postgres and airflow roles together on kubesim (healthy simulated Portworx).

Four steps (check, run, check, run: changed, changed, not changed, not changed) with no write on
converged runs; everything Ready; every object valid in strict mode for Kubernetes 1.30, 1.33 and
1.37; no server warning; secrets never change on a re-run; a new image tag rolls the components
and keeps the database volume (after a snapshot of it).
"""

from __future__ import annotations

import copy
import json
import time

import kubernetes_validate
import pytest
from helpers import ansible_env, run_playbook
from kubernetes import client
from kubesim_harness import start_kubesim

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
NS = "airflow"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    instance = start_kubesim(tmp_path_factory.mktemp("stack-sim"), "--portworx", "healthy")
    instance.client = instance.api_client()
    yield instance
    instance.stop()


def stack_play(extra_vars: dict | None = None) -> str:
    auth = {"kubeconfig": "{{ lookup('env', 'SIM_KUBECONFIG') }}", "context": "kubesim"}
    play = {
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {"group/px.airflow.k8s": auth, "group/kubernetes.core.k8s": auth},
        "vars": {"airflow_wait_timeout": 120, "postgres_wait_timeout": 120, **(extra_vars or {})},
        "tasks": [
            {"name": f"role {role}", "ansible.builtin.include_role": {"name": f"px.airflow.{role}"}}
            for role in ("storage", "postgres", "airflow")
        ],
    }
    return json.dumps([play])


@pytest.fixture(scope="module")
def run(cluster, tmp_path_factory):
    directory = tmp_path_factory.mktemp("stack-plays")

    def go(*args: str, extra_vars: dict | None = None):
        path = directory / "play.yml"
        path.write_text(stack_play(extra_vars))
        before = cluster.mark()
        result = run_playbook(path, *args, env=ansible_env(SIM_KUBECONFIG=str(cluster.kubeconfig)), timeout=900)
        requests = cluster.requests(before)
        writes = [r for r in requests if r["method"] in WRITE_METHODS and not r.get("dryRun")]
        return result, requests, writes

    return go


def changed_tasks(result) -> list[str]:
    names = []
    for play in result.data.get("plays", []):
        for task in play["tasks"]:
            if any(host.get("changed") for host in task["hosts"].values()):
                names.append(task["task"]["name"])
    return names


def secret_data(cluster) -> dict:
    core = client.CoreV1Api(cluster.client)
    return {s.metadata.name: s.data for s in core.list_namespaced_secret(NS).items}


@pytest.fixture(scope="module")
def deployed(run, cluster):
    """The four steps; returns what each step did."""
    steps = []
    for args in (("--check",), (), ("--check",), ()):
        result, requests, writes = run(*args)
        assert result.rc == 0, result.stdout[-6000:]
        steps.append({"changed": changed_tasks(result), "writes": writes, "requests": requests})
    return steps


def test_four_steps_changed_changed_unchanged_unchanged(deployed):
    assert [bool(step["changed"]) for step in deployed] == [True, True, False, False]
    assert deployed[0]["writes"] == []  # check mode writes nothing
    assert deployed[1]["writes"]
    assert deployed[2]["writes"] == [] and deployed[3]["writes"] == [], [
        (w["method"], w["path"]) for w in deployed[3]["writes"]
    ]


def test_everything_is_ready(deployed, cluster):
    apps = client.AppsV1Api(cluster.client)
    deployments = apps.list_namespaced_deployment(NS).items
    assert sorted(d.metadata.name for d in deployments) == [
        "af-api-server",
        "af-dag-processor",
        "af-scheduler",
        "af-triggerer",
    ]
    assert all(d.status.available_replicas == d.spec.replicas for d in deployments)
    statefulset = apps.read_namespaced_stateful_set("af-postgresql", NS)
    assert statefulset.status.ready_replicas == 1
    jobs = client.BatchV1Api(cluster.client).list_namespaced_job(NS).items
    assert {j.metadata.labels["app.kubernetes.io/component"] for j in jobs} == {"migrate", "create-user"}
    assert all(any(c.type == "Complete" and c.status == "True" for c in j.status.conditions) for j in jobs)
    claims = {
        c.metadata.name: c for c in client.CoreV1Api(cluster.client).list_namespaced_persistent_volume_claim(NS).items
    }
    assert {name: c.status.phase for name, c in claims.items()} == {
        "af-dags": "Bound",
        "af-logs": "Bound",
        "data-af-postgresql-0": "Bound",
    }
    assert claims["af-dags"].spec.access_modes == ["ReadWriteMany"]


def test_no_server_warnings_and_no_refused_pods(deployed, cluster):
    warnings = [
        (r["method"], r["path"], r["warnings"]) for step in deployed for r in step["requests"] if r.get("warnings")
    ]
    assert warnings == []
    failed = client.CoreV1Api(cluster.client).list_namespaced_event(NS, field_selector="reason=FailedCreate").items
    assert [e.message for e in failed] == []


MANAGED_KINDS = [
    ("v1", "ConfigMap", "configmaps"),
    ("v1", "Service", "services"),
    ("v1", "ServiceAccount", "serviceaccounts"),
    ("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    ("apps/v1", "Deployment", "deployments"),
    ("apps/v1", "StatefulSet", "statefulsets"),
    ("batch/v1", "Job", "jobs"),
    ("batch/v1", "CronJob", "cronjobs"),
    ("rbac.authorization.k8s.io/v1", "Role", "roles"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
    ("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
]


def managed_objects(cluster) -> list[dict]:
    found = []
    for api_version, kind, plural in MANAGED_KINDS:
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        response = cluster.client.call_api(
            f"{base}/namespaces/{NS}/{plural}",
            "GET",
            auth_settings=["BearerToken"],
            _preload_content=False,
            query_params=[("labelSelector", "app.kubernetes.io/managed-by=px.airflow")],
        )
        data = json.loads((response[0] if isinstance(response, tuple) else response).data)
        for item in data["items"]:
            item.update(apiVersion=api_version, kind=kind)
            found.append(item)
    return found


@pytest.mark.parametrize("version", ["1.30.0", "1.33.0", "1.37.0"])
def test_every_object_is_valid_in_strict_mode(deployed, cluster, version):
    objects = managed_objects(cluster)
    assert len(objects) >= 25
    for obj in objects:
        obj = copy.deepcopy(obj)
        obj.pop("status", None)
        obj["metadata"] = {
            k: v for k, v in obj["metadata"].items() if k in ("name", "namespace", "labels", "annotations")
        }
        kubernetes_validate.validate(obj, version, strict=True)


def test_task_pods_cannot_reach_the_database_and_rbac_is_namespaced(deployed, cluster):
    policy = client.NetworkingV1Api(cluster.client).read_namespaced_network_policy("af-postgresql", NS)
    allowed = policy.spec.ingress[0]._from[0].pod_selector.match_labels
    assert allowed == {"px.airflow/db-client": "true"}
    template = (
        client.CoreV1Api(cluster.client)
        .read_namespaced_config_map("af-airflow-config", NS)
        .data["pod_template_file.yaml"]
    )
    assert "db-client" not in template and "secretKeyRef" not in template
    rbac = client.RbacAuthorizationV1Api(cluster.client)
    roles = rbac.list_namespaced_role(NS).items
    assert all("*" not in rule.verbs and "*" not in rule.resources for role in roles for rule in role.rules)
    cluster_wide = [r.metadata.name for r in rbac.list_cluster_role_binding().items if "airflow" in r.metadata.name]
    assert cluster_wide == []


def test_a_rerun_never_changes_a_secret(deployed, run, cluster):
    before = secret_data(cluster)
    result, _requests, writes = run()
    assert result.rc == 0 and writes == []
    assert secret_data(cluster) == before


def test_a_new_image_tag_rolls_the_components_and_keeps_the_database(deployed, run, cluster):
    core, apps = client.CoreV1Api(cluster.client), client.AppsV1Api(cluster.client)
    volume = core.read_namespaced_persistent_volume_claim("data-af-postgresql-0", NS).spec.volume_name
    secrets_before = secret_data(cluster)
    result, _requests, _writes = run(extra_vars={"airflow_image_tag": "3.3.3"})
    assert result.rc == 0, result.stdout[-6000:]
    for deployment in apps.list_namespaced_deployment(NS).items:
        assert deployment.spec.template.spec.containers[0].image == "apache/airflow:3.3.3"
        assert deployment.status.updated_replicas == deployment.spec.replicas
    assert core.read_namespaced_persistent_volume_claim("data-af-postgresql-0", NS).spec.volume_name == volume
    snapshots = client.CustomObjectsApi(cluster.client).list_namespaced_custom_object(
        "snapshot.storage.k8s.io", "v1", NS, "volumesnapshots"
    )["items"]
    assert len(snapshots) == 1 and snapshots[0]["status"]["readyToUse"] is True
    assert snapshots[0]["spec"]["source"]["persistentVolumeClaimName"] == "data-af-postgresql-0"
    jobs = client.BatchV1Api(cluster.client).list_namespaced_job(NS).items
    assert len([j for j in jobs if j.metadata.labels["app.kubernetes.io/component"] == "migrate"]) == 2
    assert secret_data(cluster) == secrets_before


def secret_values(cluster) -> set[str]:
    import base64

    values = set()
    for data in secret_data(cluster).values():
        for encoded in (data or {}).values():
            value = base64.b64decode(encoded).decode()
            values.add(value)
            values.update(part for part in value.split(",") if len(part) >= 12)  # each fernet key
    return {v for v in values if len(v) >= 12}


def test_no_secret_value_in_a_configmap_or_a_literal_env_value(deployed, cluster):
    values = secret_values(cluster)
    assert len(values) >= 5
    exposed = json.dumps([obj for obj in managed_objects(cluster) if obj["kind"] != "Secret"])
    assert [v for v in values if v in exposed] == []


def test_secrets_never_appear_in_verbose_output(deployed, run, cluster):
    result, _requests, _writes = run("-vvv")
    assert result.rc == 0
    output = result.stdout + result.stderr
    assert len(output) > 100_000  # -vvv really is verbose
    assert [v[:4] + "..." for v in secret_values(cluster) if v in output] == []


def test_growing_the_database_volume_expands_the_claim_in_place(deployed, run, cluster):
    core = client.CoreV1Api(cluster.client)
    claim = core.read_namespaced_persistent_volume_claim("data-af-postgresql-0", NS)
    assert claim.spec.resources.requests["storage"] == "8Gi"
    result, _requests, _writes = run(extra_vars={"airflow_image_tag": "3.3.3", "postgres_storage_size": "10Gi"})
    assert result.rc == 0, result.stdout[-6000:]
    grown = core.read_namespaced_persistent_volume_claim("data-af-postgresql-0", NS)
    assert grown.spec.resources.requests["storage"] == "10Gi" and grown.spec.volume_name == claim.spec.volume_name
    # The StatefulSet's claim template cannot change: it keeps the size it was created with.
    statefulset = client.AppsV1Api(cluster.client).read_namespaced_stateful_set("af-postgresql", NS)
    assert statefulset.spec.volume_claim_templates[0].spec.resources.requests["storage"] == "8Gi"
    deadline = time.monotonic() + 10
    while core.read_persistent_volume(claim.spec.volume_name).spec.capacity["storage"] != "10Gi":
        assert time.monotonic() < deadline, "the volume did not grow"
        time.sleep(0.2)
