"""portworx-demo: proves that a Portworx volume made for a run carries data from one pod to another.

After the reference architecture's demo: a task creates a PersistentVolumeClaim for this run on the
scratch class with the Python kubernetes client and waits until it is Bound (where the class binds
immediately); a pod mounts it and writes a token unique to the run; a second pod mounts it, reads
the token back and fails if it differs; a cleanup task (trigger rule all_done) deletes the claim,
so failed runs leak nothing, and removes stale demo claims left by older runs.

Settings come from the run's conf (see `params`); the Kubernetes client uses in-cluster config in
a pod and the kubeconfig (KUBECONFIG) otherwise.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from datetime import UTC, datetime, timedelta

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import Param, dag, task
from kubernetes.client import models as k8s

DEMO_LABEL = "px.airflow/demo"
RUN_LABEL = "px.airflow/demo-run"
MOUNT = "/data"


def _in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def _core_api():
    from kubernetes import client, config

    if _in_cluster():
        config.load_incluster_config()
    else:
        config.load_kube_config(context=os.environ.get("PX_DEMO_KUBE_CONTEXT") or None)
    return client.CoreV1Api()


def _claim_name(run_id: str) -> str:
    return "px-demo-" + hashlib.sha256(run_id.encode()).hexdigest()[:12]


def _pod_security() -> dict:
    """Pods that pass the restricted Pod Security profile the namespace enforces."""
    return {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 1000,
        "fsGroup": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


@task
def create_claim(params: dict, run_id: str) -> dict:
    """A claim for this run on the scratch class; waits until Bound unless binding waits for a pod."""
    from kubernetes.client.rest import ApiException

    api = _core_api()
    namespace, name = params["namespace"], _claim_name(run_id)
    run_hash = name.rsplit("-", 1)[1]
    body = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "labels": {DEMO_LABEL: "true", RUN_LABEL: run_hash}},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": params["storage_class"],
            "resources": {"requests": {"storage": params["size"]}},
        },
    }
    try:
        api.create_namespaced_persistent_volume_claim(namespace, body)
    except ApiException as exc:
        if exc.status != 409:  # a retry of this task finds its own claim
            raise
    deadline = time.monotonic() + params["bind_timeout"]
    while True:
        claim = api.read_namespaced_persistent_volume_claim(name, namespace)
        if claim.status.phase == "Bound":
            break
        events = api.list_namespaced_event(
            namespace, field_selector=f"involvedObject.name={name},involvedObject.kind=PersistentVolumeClaim"
        ).items
        if any(e.reason == "WaitForFirstConsumer" for e in events):
            break  # the class binds when the writer pod is scheduled
        if time.monotonic() > deadline:
            why = "; ".join(f"{e.reason}: {e.message}" for e in events[-5:]) or "no events"
            raise RuntimeError(f"claim {namespace}/{name} is not Bound after {params['bind_timeout']} s ({why})")
        time.sleep(1)
    return {"claim": name, "token": secrets.token_hex(16), "namespace": namespace}


def _pod(task_id: str, script: str) -> KubernetesPodOperator:
    claim = "{{ ti.xcom_pull(task_ids='create_claim')['claim'] }}"
    return KubernetesPodOperator(
        task_id=task_id,
        name=f"px-demo-{task_id}",
        namespace="{{ params.namespace }}",
        image="{{ params.image }}",
        cmds=["sh", "-c"],
        arguments=[script],
        labels={DEMO_LABEL: "true"},
        volumes=[
            k8s.V1Volume(name="data", persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name=claim))
        ],
        volume_mounts=[k8s.V1VolumeMount(name="data", mount_path=MOUNT)],
        security_context=_pod_security(),
        container_security_context=CONTAINER_SECURITY,
        in_cluster=_in_cluster(),
        config_file=None if _in_cluster() else os.environ.get("KUBECONFIG"),
        get_logs=True,
        on_finish_action="delete_pod",
        startup_timeout_seconds=300,
    )


@task
def cleanup(params: dict, run_id: str) -> dict:
    """Delete this run's claim, and demo claims older runs left behind.

    A teardown task: it runs whatever happened before it (as trigger rule all_done would), and its
    own success does not make a failed run look successful.
    """
    from kubernetes.client.rest import ApiException

    api = _core_api()
    namespace, mine = params["namespace"], _claim_name(run_id)
    cutoff = datetime.now(UTC) - timedelta(minutes=params["stale_after_minutes"])
    deleted = []
    for claim in api.list_namespaced_persistent_volume_claim(namespace, label_selector=f"{DEMO_LABEL}=true").items:
        name = claim.metadata.name
        if name == mine or claim.metadata.creation_timestamp < cutoff:
            try:
                api.delete_namespaced_persistent_volume_claim(name, namespace)
                deleted.append(name)
            except ApiException as exc:
                if exc.status != 404:
                    raise
    return {"deleted": deleted}


@dag(
    dag_id="portworx-demo",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["portworx", "demo"],
    params={
        "namespace": Param(os.environ.get("PX_DEMO_NAMESPACE", "airflow"), type="string"),
        "storage_class": Param(os.environ.get("PX_DEMO_STORAGE_CLASS", "px-airflow-scratch"), type="string"),
        "size": Param("1Gi", type="string"),
        "image": Param(os.environ.get("PX_DEMO_IMAGE", "busybox:1.36"), type="string"),
        "bind_timeout": Param(300, type="integer", minimum=1),
        "stale_after_minutes": Param(60, type="integer", minimum=1),
        # Test hook: the reader expects this token instead of the writer's (a run that must fail).
        "expect_token": Param("", type="string"),
    },
    doc_md=__doc__,
)
def portworx_demo():
    claim = create_claim()
    token = "{{ ti.xcom_pull(task_ids='create_claim')['token'] }}"
    expected = "{{ params.expect_token or ti.xcom_pull(task_ids='create_claim')['token'] }}"
    write = _pod("write", f"echo {token} > {MOUNT}/token && sync && echo wrote token {token}")
    read = _pod(
        "read",
        f'got=$(cat {MOUNT}/token) && echo read token "$got" && '
        f'if [ "$got" != "{expected}" ]; then echo "token mismatch: wanted {expected}"; exit 1; fi',
    )
    done = cleanup().as_teardown()
    claim >> write >> read >> done


portworx_demo()
