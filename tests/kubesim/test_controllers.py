"""kubesim part 2: workloads come alive as on a real cluster (Deployments, StatefulSets, Jobs, pods).

Every assertion is about what a real cluster shows through the API (status fields, conditions,
events, names), read with the official `kubernetes` client from an in-process kubesim.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.rest import ApiException
from kubesim.controllers.pods import ContainerExit
from simcluster import SimCluster, claim, deployment, job, run_playbook, statefulset, storage_class, wait_for


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimCluster]:
    sim = SimCluster(tmp_path_factory.mktemp("sim"))
    yield sim
    sim.stop()


@pytest.fixture
def ns(cluster: SimCluster) -> str:
    return cluster.namespace()


def condition(obj: Any, kind: str) -> Any:
    return next((c for c in obj.status.conditions or [] if c.type == kind), None)


def reasons(cluster: SimCluster, ns: str, name: str | None = None) -> list[str]:
    return [e.reason for e in cluster.events(ns, name)]


# ---- Deployments --------------------------------------------------------------------------------------


def test_deployment_becomes_available_fast_with_real_status(cluster: SimCluster, ns: str) -> None:
    start = time.monotonic()
    cluster.apps.create_namespaced_deployment(ns, deployment("web", replicas=2))

    def available() -> Any:
        d = cluster.apps.read_namespaced_deployment("web", ns)
        return d if (d.status.available_replicas or 0) == 2 else None

    d = wait_for(available, message="Deployment available")
    assert time.monotonic() - start < 1.0  # zero delays: a few controller passes, no polling
    assert d.status.observed_generation == d.metadata.generation == 1
    assert (d.status.replicas, d.status.updated_replicas, d.status.ready_replicas) == (2, 2, 2)
    assert d.status.unavailable_replicas is None
    assert (condition(d, "Available").status, condition(d, "Available").reason) == ("True", "MinimumReplicasAvailable")
    progressing = wait_for(lambda: condition(cluster.apps.read_namespaced_deployment("web", ns), "Progressing"))
    assert progressing.reason == "NewReplicaSetAvailable"
    [rs] = cluster.apps.list_namespaced_replica_set(ns).items
    pod_hash = rs.metadata.labels["pod-template-hash"]
    assert rs.metadata.name == f"web-{pod_hash}"
    assert rs.spec.selector.match_labels == {"app": "web", "pod-template-hash": pod_hash}
    assert rs.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    owner = rs.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.uid, owner.controller) == ("Deployment", "web", d.metadata.uid, True)
    pods = cluster.core.list_namespaced_pod(ns).items
    assert len(pods) == 2
    for pod in pods:
        assert pod.metadata.name.startswith(f"web-{pod_hash}-")
        assert pod.metadata.owner_references[0].name == rs.metadata.name
        assert pod.status.phase == "Running" and pod.spec.node_name.startswith("kubesim-node-")
    events = reasons(cluster, ns)
    for reason in ("ScalingReplicaSet", "SuccessfulCreate", "Scheduled", "Pulled", "Created", "Started"):
        assert reason in events
    scaled = cluster.events(ns, "web", "ScalingReplicaSet")[0]
    assert scaled.message == f"Scaled up replica set web-{pod_hash} from 0 to 2"
    assert scaled.source.component == "deployment-controller" and scaled.type == "Normal"
    assert scaled.involved_object.kind == "Deployment" and scaled.count == 1


def test_deployment_rollout_replaces_the_replica_set(cluster: SimCluster, ns: str) -> None:
    cluster.apps.create_namespaced_deployment(ns, deployment("app", replicas=2))
    wait_for(lambda: cluster.apps.read_namespaced_deployment("app", ns).status.available_replicas == 2)
    first = cluster.apps.list_namespaced_replica_set(ns).items[0].metadata.name
    cluster.apps.patch_namespaced_deployment(
        "app", ns, {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.28"}]}}}}
    )

    def rolled_out() -> Any:
        d = cluster.apps.read_namespaced_deployment("app", ns)
        done = (
            d.status.observed_generation == d.metadata.generation == 2
            and d.status.updated_replicas == 2
            and d.status.replicas == 2
            and d.status.available_replicas == 2
        )
        return d if done else None

    d = wait_for(rolled_out, message="rollout")
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    sets = {rs.metadata.name: rs for rs in cluster.apps.list_namespaced_replica_set(ns).items}
    assert len(sets) == 2
    assert sets[first].spec.replicas == 0
    [new] = [rs for name, rs in sets.items() if name != first]
    assert new.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    wait_for(
        lambda: (
            all(p.spec.containers[0].image == "nginx:1.28" for p in cluster.core.list_namespaced_pod(ns).items)
            and len(cluster.core.list_namespaced_pod(ns).items) == 2
        ),
        message="old pods gone",
    )
    messages = [e.message for e in cluster.events(ns, "app", "ScalingReplicaSet")]
    assert f"Scaled up replica set {new.metadata.name} from 0 to 2" in messages
    assert any(m.startswith(f"Scaled down replica set {first} from 2 to") for m in messages)
    assert condition(d, "Progressing").reason == "NewReplicaSetAvailable"


def test_deployment_scales_and_recreate_strategy(cluster: SimCluster, ns: str) -> None:
    body = deployment("db", replicas=1)
    body["spec"]["strategy"] = {"type": "Recreate"}
    cluster.apps.create_namespaced_deployment(ns, body)
    wait_for(lambda: cluster.apps.read_namespaced_deployment("db", ns).status.available_replicas == 1)
    cluster.apps.patch_namespaced_deployment_scale("db", ns, {"spec": {"replicas": 3}})
    wait_for(lambda: cluster.apps.read_namespaced_deployment("db", ns).status.ready_replicas == 3)
    cluster.apps.patch_namespaced_deployment_scale("db", ns, {"spec": {"replicas": 0}})
    d = wait_for(
        lambda: (lambda d: d if d.status.replicas is None else None)(cluster.apps.read_namespaced_deployment("db", ns)),
        message="scaled to zero",
    )
    assert d.status.observed_generation == d.metadata.generation
    # Scaled-down pods terminate gracefully (the kubelet ends their deletion): gone shortly after.
    wait_for(lambda: cluster.core.list_namespaced_pod(ns).items == [], message="pods gone")
    wait_for(lambda: "SuccessfulDelete" in reasons(cluster, ns), message="SuccessfulDelete")


def test_pod_security_refusal_is_a_failed_create_event(cluster: SimCluster) -> None:
    ns = cluster.namespace({"pod-security.kubernetes.io/enforce": "restricted"})
    cluster.apps.create_namespaced_deployment(ns, deployment("bad", replicas=1))
    event = wait_for(lambda: cluster.events(ns, reason="FailedCreate"), message="FailedCreate")[0]
    assert event.type == "Warning" and event.involved_object.kind == "ReplicaSet"
    assert event.source.component == "replicaset-controller"
    assert event.message.startswith('Error creating: pods "bad-')
    assert 'is forbidden: violates PodSecurity "restricted:latest"' in event.message
    rs = cluster.apps.list_namespaced_replica_set(ns).items[0]
    failure = wait_for(
        lambda: condition(cluster.apps.read_namespaced_replica_set(rs.metadata.name, ns), "ReplicaFailure")
    )
    assert (failure.status, failure.reason) == ("True", "FailedCreate")
    d = wait_for(
        lambda: (lambda d: d if condition(d, "ReplicaFailure") else None)(
            cluster.apps.read_namespaced_deployment("bad", ns)
        )
    )
    assert condition(d, "Available").status == "False"
    assert cluster.core.list_namespaced_pod(ns).items == []


def test_deleting_a_deployment_removes_its_replica_sets_and_pods(cluster: SimCluster, ns: str) -> None:
    cluster.apps.create_namespaced_deployment(ns, deployment("gone", replicas=2))
    wait_for(lambda: cluster.apps.read_namespaced_deployment("gone", ns).status.available_replicas == 2)
    cluster.apps.delete_namespaced_deployment("gone", ns)
    wait_for(
        lambda: (
            not cluster.apps.list_namespaced_replica_set(ns).items and not cluster.core.list_namespaced_pod(ns).items
        ),
        message="garbage collection",
    )
    wait_for(lambda: "Killing" in reasons(cluster, ns), message="Killing events")


# ---- StatefulSets ---------------------------------------------------------------------------------------


def test_statefulset_ordinal_pods_claims_and_status(cluster: SimCluster, ns: str) -> None:
    cluster.storage.create_storage_class(storage_class(f"px-{ns}", "pxd.portworx.com", parameters={"repl": "2"}))
    cluster.apps.create_namespaced_stateful_set(ns, statefulset("pg", replicas=2, storage_class=f"px-{ns}"))

    def ready() -> Any:
        s = cluster.apps.read_namespaced_stateful_set("pg", ns)
        return s if s.status.ready_replicas == 2 else None

    s = wait_for(ready, message="StatefulSet ready")
    st = s.status
    assert (st.replicas, st.current_replicas, st.updated_replicas, st.available_replicas) == (2, 2, 2, 2)
    assert st.observed_generation == s.metadata.generation
    assert st.current_revision == st.update_revision and st.update_revision.startswith("pg-")
    pods = {p.metadata.name: p for p in cluster.core.list_namespaced_pod(ns).items}
    assert sorted(pods) == ["pg-0", "pg-1"]
    pod = pods["pg-1"]
    assert pod.metadata.labels["statefulset.kubernetes.io/pod-name"] == "pg-1"
    assert pod.metadata.labels["apps.kubernetes.io/pod-index"] == "1"
    assert pod.metadata.labels["controller-revision-hash"] == st.update_revision
    assert (pod.spec.hostname, pod.spec.subdomain) == ("pg-1", "pg")
    assert [v.persistent_volume_claim.claim_name for v in pod.spec.volumes if v.persistent_volume_claim] == [
        "data-pg-1"
    ]
    claims = {c.metadata.name: c for c in cluster.core.list_namespaced_persistent_volume_claim(ns).items}
    assert sorted(claims) == ["data-pg-0", "data-pg-1"]
    assert claims["data-pg-0"].status.phase == "Bound"
    assert claims["data-pg-0"].metadata.labels == {"app": "pg"}
    revision = cluster.apps.read_namespaced_controller_revision(st.update_revision, ns)
    assert revision.revision == 1
    messages = [e.message for e in cluster.events(ns, "pg", "SuccessfulCreate")]
    assert "create Claim data-pg-0 Pod pg-0 in StatefulSet pg success" in messages
    assert "create Pod pg-1 in StatefulSet pg successful" in messages
    # OrderedReady: pg-1 was created only once pg-0 was Ready.
    assert messages.index("create Pod pg-0 in StatefulSet pg successful") < messages.index(
        "create Pod pg-1 in StatefulSet pg successful"
    )

    cluster.apps.delete_namespaced_stateful_set("pg", ns)
    wait_for(lambda: not cluster.core.list_namespaced_pod(ns).items, message="pods deleted")
    kept = cluster.core.list_namespaced_persistent_volume_claim(ns).items
    assert sorted(c.metadata.name for c in kept) == ["data-pg-0", "data-pg-1"]  # whenDeleted: Retain


def test_statefulset_rolling_update_moves_to_the_new_revision(cluster: SimCluster, ns: str) -> None:
    cluster.apps.create_namespaced_stateful_set(ns, statefulset("web", replicas=2, storage_class=f"gen-{ns}"))
    cluster.storage.create_storage_class(storage_class(f"gen-{ns}", "example.com/fast"))
    first = wait_for(
        lambda: (lambda s: s if s.status.ready_replicas == 2 else None)(
            cluster.apps.read_namespaced_stateful_set("web", ns)
        )
    ).status.update_revision
    cluster.apps.patch_namespaced_stateful_set(
        "web", ns, {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "postgres:17"}]}}}}
    )

    def updated() -> Any:
        s = cluster.apps.read_namespaced_stateful_set("web", ns)
        st = s.status
        done = (
            st.observed_generation == s.metadata.generation == 2
            and st.updated_replicas == 2
            and st.ready_replicas == 2
            and st.current_revision == st.update_revision != first
        )
        return s if done else None

    wait_for(updated, message="rolling update")
    images = {p.metadata.name: p.spec.containers[0].image for p in cluster.core.list_namespaced_pod(ns).items}
    assert images == {"web-0": "postgres:17", "web-1": "postgres:17"}
    wait_for(lambda: "SuccessfulDelete" in reasons(cluster, ns, "web"), message="SuccessfulDelete")


def test_statefulset_pods_wait_for_their_claims(cluster: SimCluster, ns: str) -> None:
    sc = f"local-{ns}"
    cluster.storage.create_storage_class(storage_class(sc, "kubernetes.io/no-provisioner"))
    cluster.apps.create_namespaced_stateful_set(ns, statefulset("db", replicas=1, storage_class=sc))
    event = wait_for(lambda: cluster.events(ns, "db-0", "FailedScheduling"), message="FailedScheduling")[0]
    assert "pod has unbound immediate PersistentVolumeClaims" in event.message
    assert event.message.startswith("0/3 nodes are available:")
    pod = cluster.core.read_namespaced_pod("db-0", ns)
    assert pod.status.phase == "Pending" and pod.spec.node_name is None
    scheduled = condition(pod, "PodScheduled")
    assert (scheduled.status, scheduled.reason) == ("False", "Unschedulable")
    assert cluster.apps.read_namespaced_stateful_set("db", ns).status.ready_replicas is None
    cluster.core.create_persistent_volume(
        {
            "metadata": {"name": f"pv-{ns}"},
            "spec": {
                "capacity": {"storage": "5Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": sc,
                "hostPath": {"path": "/tmp/data"},
            },
        }
    )
    s = wait_for(
        lambda: (lambda s: s if s.status.ready_replicas == 1 else None)(
            cluster.apps.read_namespaced_stateful_set("db", ns)
        ),
        message="pod runs once its claim is bound",
    )
    assert s.status.available_replicas == 1
    assert cluster.core.read_persistent_volume(f"pv-{ns}").spec.claim_ref.name == "data-db-0"


def test_daemonset_runs_one_pod_per_node(cluster: SimCluster, ns: str) -> None:
    labels = {"app": "agent"}
    cluster.apps.create_namespaced_daemon_set(
        ns,
        {
            "metadata": {"name": "agent"},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "main", "image": "fluent/fluent-bit:3.2"}]},
                },
            },
        },
    )

    def ready() -> Any:
        ds = cluster.apps.read_namespaced_daemon_set("agent", ns)
        return ds if ds.status.number_ready == 3 else None

    ds = wait_for(ready, message="DaemonSet ready")
    st = ds.status
    assert (st.desired_number_scheduled, st.current_number_scheduled, st.updated_number_scheduled) == (3, 3, 3)
    assert (st.number_available, st.number_misscheduled, st.observed_generation) == (3, 0, 1)
    nodes = sorted(p.spec.node_name for p in cluster.core.list_namespaced_pod(ns).items)
    assert nodes == ["kubesim-node-1", "kubesim-node-2", "kubesim-node-3"]


# ---- Jobs -----------------------------------------------------------------------------------------------


def test_job_completes_with_conditions_and_counts(cluster: SimCluster, ns: str) -> None:
    cluster.batch.create_namespaced_job(ns, job("sync", completions=2, parallelism=1))
    j = wait_for(
        lambda: (lambda j: j if condition(j, "Complete") else None)(cluster.batch.read_namespaced_job("sync", ns)),
        message="Job complete",
    )
    assert j.status.succeeded == 2 and j.status.failed is None and j.status.active is None
    assert j.status.start_time is not None and j.status.completion_time is not None
    assert [c.type for c in j.status.conditions] == ["SuccessCriteriaMet", "Complete"]
    assert condition(j, "Complete").reason == "CompletionsReached"
    assert j.status.ready == 0 and j.status.terminating == 0
    pods = cluster.core.list_namespaced_pod(ns).items
    assert len(pods) == 2
    for pod in pods:
        assert pod.status.phase == "Succeeded"
        terminated = pod.status.container_statuses[0].state.terminated
        assert (terminated.exit_code, terminated.reason) == (0, "Completed")
        assert pod.metadata.labels["job-name"] == "sync"
        assert not pod.metadata.finalizers  # the tracking finalizer is gone once counted
        assert condition(pod, "Ready").reason == "PodCompleted"
    log = cluster.core.read_namespaced_pod_log(pods[0].metadata.name, ns)
    assert "simulated container main" in log
    completed = wait_for(lambda: cluster.events(ns, "sync", "Completed"))[0]
    assert completed.message == "Job completed" and completed.source.component == "job-controller"


class FailingRunner:
    """A runner whose containers all exit 1 (part 3's faults will do this for chosen images)."""

    def start(self, pod: dict, container: dict, init: bool, on_exit: Any) -> None:
        on_exit(ContainerExit(1, message="boom"))

    def stop(self, pod_uid: str) -> None:
        pass


def test_job_retries_failed_pods_up_to_the_backoff_limit(tmp_path: Path) -> None:
    sim = SimCluster(tmp_path)
    try:
        sim.manager.controllers["pods"].runner = FailingRunner()
        ns = sim.namespace()
        sim.batch.create_namespaced_job(ns, job("fails", backoffLimit=1))
        j = wait_for(
            lambda: (lambda j: j if condition(j, "Failed") else None)(sim.batch.read_namespaced_job("fails", ns)),
            message="Job failed",
        )
        assert j.status.failed == 2  # the first try and one retry: backoffLimit 1
        assert [c.type for c in j.status.conditions] == ["FailureTarget", "Failed"]
        assert (condition(j, "Failed").reason, condition(j, "Failed").message) == (
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        )
        assert j.status.completion_time is None
        pod = sim.core.list_namespaced_pod(ns).items[0]
        assert pod.status.phase == "Failed"
        assert pod.status.container_statuses[0].state.terminated.exit_code == 1
        warning = wait_for(lambda: sim.events(ns, "fails", "BackoffLimitExceeded"))[0]
        assert warning.type == "Warning"
    finally:
        sim.stop()


def test_job_ttl_after_finished_deletes_it(cluster: SimCluster, ns: str) -> None:
    cluster.batch.create_namespaced_job(ns, job("once", ttlSecondsAfterFinished=0))

    def gone() -> bool:
        try:
            cluster.batch.read_namespaced_job("once", ns)
        except ApiException as e:
            return e.status == 404
        return False

    wait_for(gone, message="ttlSecondsAfterFinished")


def test_indexed_job_reports_completed_indexes(cluster: SimCluster, ns: str) -> None:
    cluster.batch.create_namespaced_job(ns, job("idx", completions=3, parallelism=3, completionMode="Indexed"))
    j = wait_for(
        lambda: (lambda j: j if condition(j, "Complete") else None)(cluster.batch.read_namespaced_job("idx", ns))
    )
    assert j.status.completed_indexes == "0-2"
    indexes = sorted(
        p.metadata.annotations["batch.kubernetes.io/job-completion-index"]
        for p in cluster.core.list_namespaced_pod(ns).items
    )
    assert indexes == ["0", "1", "2"]


# ---- Pods -----------------------------------------------------------------------------------------------


def test_nodes_are_registered_and_ready(cluster: SimCluster) -> None:
    nodes = cluster.core.list_node().items
    assert [n.metadata.name for n in nodes] == ["kubesim-node-1", "kubesim-node-2", "kubesim-node-3"]
    for node in nodes:
        assert condition(node, "Ready").reason == "KubeletReady"
        assert node.status.node_info.kubelet_version == "v1.33.0"
        assert node.metadata.labels["kubernetes.io/hostname"] == node.metadata.name


def test_bare_pod_runs_logs_and_is_killed(cluster: SimCluster, ns: str) -> None:
    cluster.core.create_namespaced_pod(
        ns,
        {
            "metadata": {"name": "p"},
            "spec": {
                "initContainers": [{"name": "init", "image": "busybox:1.36"}],
                "containers": [{"name": "main", "image": "nginx:1.27"}],
            },
        },
    )
    pod = wait_for(
        lambda: (lambda p: p if condition(p, "Ready") and condition(p, "Ready").status == "True" else None)(
            cluster.core.read_namespaced_pod("p", ns)
        ),
        message="pod Ready",
    )
    assert pod.status.phase == "Running"
    assert [c.type for c in pod.status.conditions] == [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ]
    assert pod.status.host_ip.startswith("172.18.0.") and pod.status.pod_ip.startswith("10.244.")
    assert pod.status.start_time is not None and pod.status.qos_class == "BestEffort"
    main = pod.status.container_statuses[0]
    assert main.ready and main.started and main.restart_count == 0 and main.state.running.started_at
    assert main.image == "docker.io/library/nginx:1.27" and main.container_id.startswith("containerd://")
    assert pod.status.init_container_statuses[0].state.terminated.reason == "Completed"
    assert "simulated container main" in cluster.core.read_namespaced_pod_log("p", ns, container="main")
    scheduled = cluster.events(ns, "p", "Scheduled")[0]
    assert scheduled.message == f"Successfully assigned {ns}/p to {pod.spec.node_name}"
    assert scheduled.source.component == "default-scheduler"
    started = [e for e in cluster.events(ns, "p", "Started") if e.involved_object.field_path == "spec.containers{main}"]
    assert started and started[0].message == "Started container main" and started[0].source.component == "kubelet"
    cluster.core.delete_namespaced_pod("p", ns)
    killing = wait_for(lambda: cluster.events(ns, "p", "Killing"))[0]
    assert killing.message == "Stopping container main"


def test_pod_waits_for_missing_config_and_reports_it(cluster: SimCluster, ns: str) -> None:
    cluster.core.create_namespaced_pod(
        ns,
        {
            "metadata": {"name": "cfg"},
            "spec": {
                "containers": [
                    {"name": "main", "image": "nginx:1.27", "volumeMounts": [{"name": "c", "mountPath": "/c"}]}
                ],
                "volumes": [{"name": "c", "configMap": {"name": "settings"}}],
            },
        },
    )
    mount = wait_for(lambda: cluster.events(ns, "cfg", "FailedMount"))[0]
    assert mount.message == 'MountVolume.SetUp failed for volume "c" : configmap "settings" not found'
    assert cluster.core.read_namespaced_pod("cfg", ns).status.phase == "Pending"
    cluster.core.create_namespaced_config_map(ns, {"metadata": {"name": "settings"}})
    wait_for(lambda: cluster.core.read_namespaced_pod("cfg", ns).status.phase == "Running", message="mounted")

    cluster.core.create_namespaced_pod(
        ns,
        {
            "metadata": {"name": "env"},
            "spec": {
                "containers": [
                    {
                        "name": "main",
                        "image": "nginx:1.27",
                        "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
                    }
                ]
            },
        },
    )

    def config_error() -> Any:
        statuses = cluster.core.read_namespaced_pod("env", ns).status.container_statuses or []
        waiting = statuses[0].state.waiting if statuses else None
        return waiting if waiting and waiting.reason == "CreateContainerConfigError" else None

    assert wait_for(config_error).message == 'secret "db" not found'
    assert wait_for(lambda: cluster.events(ns, "env", "Failed"))[0].message == 'Error: secret "db" not found'


def test_unschedulable_pods_stay_pending_with_the_scheduler_message(cluster: SimCluster, ns: str) -> None:
    cluster.core.create_namespaced_pod(
        ns,
        {
            "metadata": {"name": "picky"},
            "spec": {"nodeSelector": {"disk": "ssd"}, "containers": [{"name": "main", "image": "nginx:1.27"}]},
        },
    )
    event = wait_for(lambda: cluster.events(ns, "picky", "FailedScheduling"))[0]
    assert event.message == (
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    )
    cluster.core.create_namespaced_pod(
        ns,
        {
            "metadata": {"name": "other"},
            "spec": {"schedulerName": "my-scheduler", "containers": [{"name": "main", "image": "nginx:1.27"}]},
        },
    )
    cluster.settle()
    other = cluster.core.read_namespaced_pod("other", ns)
    assert other.status.phase == "Pending" and other.spec.node_name is None
    assert cluster.events(ns, "other") == []  # nobody serves that scheduler: no events, as on a cluster


def test_airflow_pod_manager_runs_a_pod(cluster: SimCluster, ns: str) -> None:
    """The cncf.kubernetes provider's PodManager: create, wait for start, follow logs, completion, delete."""
    pod_manager_module = pytest.importorskip("airflow.providers.cncf.kubernetes.utils.pod_manager")
    from kubernetes.client import models as k8s

    manager = pod_manager_module.PodManager(kube_client=cluster.core)
    pod = k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="task", namespace=ns),
        spec=k8s.V1PodSpec(
            restart_policy="Never",
            containers=[k8s.V1Container(name="base", image="busybox:1.36", command=["sh", "-c", "echo hi"])],
        ),
    )
    manager.create_pod(pod)
    asyncio.run(manager.await_pod_start(pod, schedule_timeout=10, startup_timeout=10, check_interval=0.05))
    status = manager.fetch_container_logs(pod, "base", follow=True)
    assert status.running is False
    remote = manager.await_pod_completion(pod, container_name="base")
    assert remote.status.phase == "Succeeded"
    manager.delete_pod(remote)


# ---- delays ------------------------------------------------------------------------------------------------


def test_readiness_delays_overlap_and_only_apply_where_asked(tmp_path: Path) -> None:
    delays = tmp_path / "delays.json"
    delays.write_text(json.dumps({"ready": {"Deployment/slow-*": 1, "Deployment/*": 0}}))
    sim = SimCluster(tmp_path, "--delays", str(delays))
    try:
        ns = sim.namespace()
        start = time.monotonic()
        for name in ("slow-a", "slow-b", "fast"):
            sim.apps.create_namespaced_deployment(ns, deployment(name))
        wait_for(lambda: sim.apps.read_namespaced_deployment("fast", ns).status.available_replicas == 1)
        assert time.monotonic() - start < 0.8
        assert sim.apps.read_namespaced_deployment("slow-a", ns).status.available_replicas is None
        pod = next(p for p in sim.core.list_namespaced_pod(ns).items if p.metadata.name.startswith("slow-a"))
        assert pod.status.phase == "Running" and condition(pod, "Ready").status == "False"
        for name in ("slow-a", "slow-b"):
            wait_for(
                lambda n=name: sim.apps.read_namespaced_deployment(n, ns).status.available_replicas == 1, timeout=5
            )
        elapsed = time.monotonic() - start
        assert 1.0 <= elapsed < 1.9  # both waited 1 s, at the same time
    finally:
        sim.stop()


def test_bind_delay_keeps_claims_pending_for_a_while(tmp_path: Path) -> None:
    delays = tmp_path / "delays.yaml"
    delays.write_text("bind:\n  PersistentVolumeClaim/slow: 0.5\n")
    sim = SimCluster(tmp_path, "--delays", str(delays))
    try:
        ns = sim.namespace()
        sim.storage.create_storage_class(storage_class("px", "pxd.portworx.com"))
        start = time.monotonic()
        sim.core.create_namespaced_persistent_volume_claim(ns, claim("slow", "px"))
        sim.core.create_namespaced_persistent_volume_claim(ns, claim("quick", "px"))
        wait_for(lambda: sim.core.read_namespaced_persistent_volume_claim("quick", ns).status.phase == "Bound")
        assert sim.core.read_namespaced_persistent_volume_claim("slow", ns).status.phase == "Pending"
        wait_for(lambda: sim.core.read_namespaced_persistent_volume_claim("slow", ns).status.phase == "Bound")
        assert time.monotonic() - start >= 0.5
    finally:
        sim.stop()


# ---- kubernetes.core ---------------------------------------------------------------------------------------


def test_kubernetes_core_waits_on_workloads(cluster: SimCluster, ns: str, tmp_path: Path) -> None:
    cluster.storage.create_storage_class(
        storage_class(f"wffc-{ns}", "pxd.portworx.com", volumeBindingMode="WaitForFirstConsumer")
    )
    resources = {
        "deploy": {"apiVersion": "apps/v1", "kind": "Deployment", **deployment("web", replicas=2)},
        "sts": {"apiVersion": "apps/v1", "kind": "StatefulSet", **statefulset("db", 2, f"wffc-{ns}")},
        "job": {"apiVersion": "batch/v1", "kind": "Job", **job("migrate")},
        "ds": {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "agent"},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {
                    "metadata": {"labels": {"app": "agent"}},
                    "spec": {"containers": [{"name": "main", "image": "fluent/fluent-bit:3.2"}]},
                },
            },
        },
    }
    tasks = [
        {
            "name": "deployment",
            "kubernetes.core.k8s": {
                "namespace": ns,
                "definition": resources["deploy"],
                "wait": True,
                "wait_timeout": 30,
                "wait_sleep": 1,
            },
        },
        {
            "name": "statefulset",
            "kubernetes.core.k8s": {
                "namespace": ns,
                "definition": resources["sts"],
                "wait": True,
                "wait_timeout": 30,
                "wait_sleep": 1,
            },
        },
        {
            "name": "job",
            "kubernetes.core.k8s": {
                "namespace": ns,
                "definition": resources["job"],
                "wait": True,
                "wait_condition": {"type": "Complete", "status": "True"},
                "wait_timeout": 30,
                "wait_sleep": 1,
            },
        },
        {
            "name": "daemonset",
            "kubernetes.core.k8s": {
                "namespace": ns,
                "definition": resources["ds"],
                "wait": True,
                "wait_timeout": 30,
                "wait_sleep": 1,
            },
        },
    ]
    playbook = json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}])
    result = run_playbook(cluster, playbook, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "changed=4" in result.stdout and "failed=0" in result.stdout
    assert cluster.apps.read_namespaced_stateful_set("db", ns).status.ready_replicas == 2
    assert condition(cluster.batch.read_namespaced_job("migrate", ns), "Complete").status == "True"


# ---- the simulation itself ----------------------------------------------------------------------------------


def test_repeated_events_are_counted_not_duplicated() -> None:
    from kubesim.controllers.base import Client
    from kubesim.controllers.events import Recorder
    from kubesim.resources import Registry
    from kubesim.rest import Api
    from kubesim.store import Store

    api = Api(Store(), Registry(33), "1.33")
    api.start()
    try:
        pod = api.create(api.info("v1", "ConfigMap"), {"metadata": {"name": "subject", "namespace": "default"}}).body
        recorder = Recorder(Client(api))
        for _ in range(3):
            recorder.event(pod, "Warning", "FailedMount", "volume is missing", "kubelet", host="kubesim-node-1")
        recorder.event(pod, "Normal", "Other", "something else", "kubelet")
        events = api.list(api.info("v1", "Event"), "default")["items"]
        counted = next(e for e in events if e["reason"] == "FailedMount")
        assert len(events) == 2 and counted["count"] == 3
        assert counted["firstTimestamp"] <= counted["lastTimestamp"]
        assert counted["involvedObject"] == {
            "kind": "ConfigMap",
            "apiVersion": "v1",
            "namespace": "default",
            "name": "subject",
            "uid": pod["metadata"]["uid"],
            "resourceVersion": pod["metadata"]["resourceVersion"],
        }
        assert counted["source"] == {"component": "kubelet", "host": "kubesim-node-1"}
        assert counted["metadata"]["name"].startswith("subject.")
    finally:
        api.close()


def test_an_idle_simulation_costs_no_cpu(cluster: SimCluster) -> None:
    cluster.settle()
    before = time.process_time()
    time.sleep(1.0)
    assert time.process_time() - before < 0.1


def test_a_restarted_kubesim_keeps_running_what_it_ran(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = SimCluster(tmp_path, state_dir=state)
    ns = first.namespace()
    first.apps.create_namespaced_deployment(ns, deployment("web", replicas=1))
    wait_for(lambda: first.apps.read_namespaced_deployment("web", ns).status.available_replicas == 1)
    first.stop()
    second = SimCluster(tmp_path, state_dir=state)
    try:
        assert [n.metadata.name for n in second.core.list_node().items] == [
            "kubesim-node-1",
            "kubesim-node-2",
            "kubesim-node-3",
        ]
        assert second.apps.read_namespaced_deployment("web", ns).status.available_replicas == 1
        second.apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 2}})
        wait_for(lambda: second.apps.read_namespaced_deployment("web", ns).status.available_replicas == 2)
        stc = second.custom.list_namespaced_custom_object(
            "core.libopenstorage.org", "v1", "portworx", "storageclusters"
        )["items"]
        assert len(stc) == 1
    finally:
        second.stop()


def test_simulation_flags() -> None:
    import argparse

    from kubesim import sim
    from kubesim.controllers.delays import Delays

    parser = argparse.ArgumentParser()
    sim.add_arguments(parser)
    args = parser.parse_args([])
    assert (args.portworx, args.portworx_nodes, args.delays, args.no_controllers) == ("healthy", 3, None, False)
    with pytest.raises(SystemExit):
        parser.parse_args(["--portworx", "broken"])
    with pytest.raises(SystemExit):
        parser.parse_args(["--portworx-nodes", "0"])
    with pytest.raises(ValueError, match="unknown category"):
        Delays({"readiness": {"*": 1}})
    delays = Delays({"ready": {"StatefulSet/postgres": 20, "StatefulSet/*": 5, "*": 1}})
    assert delays.lookup("ready", [("Pod", "postgres-0"), ("StatefulSet", "postgres")]) == 20
    assert delays.lookup("ready", [("Pod", "redis-0"), ("StatefulSet", "redis")]) == 5
    assert delays.lookup("ready", [("Pod", "web-1"), ("ReplicaSet", "web-x")]) == 1
    assert delays.lookup("bind", [("PersistentVolumeClaim", "data")]) == 0
