"""kubesim part 2: claims and volumes as the persistentvolume-controller and provisioners leave them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client.rest import ApiException
from simcluster import SimCluster, claim, storage_class, wait_for


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimCluster]:
    sim = SimCluster(tmp_path_factory.mktemp("sim"))
    yield sim
    sim.stop()


@pytest.fixture
def ns(cluster: SimCluster) -> str:
    return cluster.namespace()


def bound(cluster: SimCluster, ns: str, name: str) -> Any:
    def check() -> Any:
        c = cluster.core.read_namespaced_persistent_volume_claim(name, ns)
        return c if c.status.phase == "Bound" else None

    return wait_for(check, message=f"claim {name} Bound")


def reasons(cluster: SimCluster, ns: str, name: str) -> list[str]:
    return [e.reason for e in cluster.events(ns, name)]


def test_dynamic_provisioning_creates_and_binds_a_volume(cluster: SimCluster, ns: str) -> None:
    sc = f"fast-{ns}"
    cluster.storage.create_storage_class(
        storage_class(
            sc, "fast.csi.example.com", reclaimPolicy="Retain", parameters={"type": "ssd"}, mountOptions=["noatime"]
        )
    )
    cluster.core.create_namespaced_persistent_volume_claim(ns, claim("data", sc, "2Gi"))
    c = bound(cluster, ns, "data")
    pv = cluster.core.read_persistent_volume(c.spec.volume_name)
    assert pv.metadata.name == f"pvc-{c.metadata.uid}"
    assert pv.metadata.annotations["pv.kubernetes.io/provisioned-by"] == "fast.csi.example.com"
    assert (pv.spec.claim_ref.name, pv.spec.claim_ref.namespace, pv.spec.claim_ref.uid) == ("data", ns, c.metadata.uid)
    assert pv.spec.csi.driver == "fast.csi.example.com" and pv.spec.csi.volume_handle
    assert pv.spec.csi.volume_attributes["type"] == "ssd" and pv.spec.csi.fs_type == "ext4"
    assert (pv.spec.storage_class_name, pv.spec.persistent_volume_reclaim_policy) == (sc, "Retain")
    assert pv.spec.capacity == {"storage": "2Gi"} and pv.spec.access_modes == ["ReadWriteOnce"]
    assert pv.spec.mount_options == ["noatime"] and pv.status.phase == "Bound"
    annotations = c.metadata.annotations
    assert annotations["pv.kubernetes.io/bind-completed"] == "yes"
    assert annotations["pv.kubernetes.io/bound-by-controller"] == "yes"
    assert annotations["volume.kubernetes.io/storage-provisioner"] == "fast.csi.example.com"
    assert c.status.capacity == {"storage": "2Gi"} and c.status.access_modes == ["ReadWriteOnce"]
    events = {e.reason: e for e in cluster.events(ns, "data")}
    assert events["ExternalProvisioning"].source.component == "persistentvolume-controller"
    assert events["Provisioning"].message == f'External provisioner is provisioning volume for claim "{ns}/data"'
    assert events["ProvisioningSucceeded"].message == f"Successfully provisioned volume {pv.metadata.name}"
    assert events["ProvisioningSucceeded"].source.component.startswith("fast.csi.example.com_")


def test_non_csi_provisioner_names_get_host_path_volumes(cluster: SimCluster, ns: str) -> None:
    sc = f"local-path-{ns}"
    cluster.storage.create_storage_class(storage_class(sc, "rancher.io/local-path"))
    cluster.core.create_namespaced_persistent_volume_claim(ns, claim("scratch", sc))
    pv = cluster.core.read_persistent_volume(bound(cluster, ns, "scratch").spec.volume_name)
    assert pv.spec.host_path.path.endswith(pv.metadata.name) and pv.spec.csi is None
    assert pv.spec.persistent_volume_reclaim_policy == "Delete"  # the class default


def test_static_volumes_bind_by_class_and_by_claim_ref(cluster: SimCluster, ns: str) -> None:
    sc = f"manual-{ns}"
    cluster.storage.create_storage_class(storage_class(sc, "kubernetes.io/no-provisioner"))
    cluster.core.create_persistent_volume(
        {
            "metadata": {"name": f"small-{ns}"},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": sc,
                "hostPath": {"path": "/srv/small"},
            },
        }
    )
    cluster.core.create_persistent_volume(
        {
            "metadata": {"name": f"reserved-{ns}"},
            "spec": {
                "capacity": {"storage": "10Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": sc,
                "claimRef": {"namespace": ns, "name": "mine"},
                "hostPath": {"path": "/srv/reserved"},
            },
        }
    )
    wait_for(lambda: cluster.core.read_persistent_volume(f"small-{ns}").status.phase == "Available")
    cluster.core.create_namespaced_persistent_volume_claim(ns, claim("any", sc, "1Gi"))
    cluster.core.create_namespaced_persistent_volume_claim(ns, claim("mine", sc, "1Gi"))
    assert bound(cluster, ns, "any").spec.volume_name == f"small-{ns}"
    assert bound(cluster, ns, "mine").spec.volume_name == f"reserved-{ns}"
    small = cluster.core.read_persistent_volume(f"small-{ns}")
    assert small.metadata.annotations["pv.kubernetes.io/bound-by-controller"] == "yes"
    assert small.spec.claim_ref.name == "any"
    cluster.core.create_namespaced_persistent_volume_claim(ns, claim("none", sc, "1Gi"))
    event = wait_for(lambda: cluster.events(ns, "none", "ProvisioningFailed"))[0]
    assert event.message == "no volume plugin matched name: kubernetes.io/no-provisioner"
    assert cluster.core.read_namespaced_persistent_volume_claim("none", ns).status.phase == "Pending"


def test_claims_without_a_class_get_the_default_one(cluster: SimCluster, ns: str) -> None:
    cluster.storage.create_storage_class(
        storage_class(
            f"default-{ns}",
            "default.csi.example.com",
            metadata={"name": f"default-{ns}", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        )
    )
    try:
        cluster.core.create_namespaced_persistent_volume_claim(ns, claim("plain", None))
        c = bound(cluster, ns, "plain")
        assert c.spec.storage_class_name == f"default-{ns}"
        cluster.core.create_namespaced_persistent_volume_claim(ns, claim("classless", ""))
        event = wait_for(lambda: cluster.events(ns, "classless", "FailedBinding"))[0]
        assert event.message == "no persistent volumes available for this claim and no storage class is set"
    finally:
        cluster.storage.delete_storage_class(f"default-{ns}", _preload_content=False)


def test_a_missing_class_is_reported(cluster: SimCluster, ns: str) -> None:
    cluster.core.create_namespaced_persistent_volume_claim(ns, claim("lost", "no-such-class"))
    event = wait_for(lambda: cluster.events(ns, "lost", "ProvisioningFailed"))[0]
    assert event.message == 'storageclass.storage.k8s.io "no-such-class" not found' and event.type == "Warning"


def test_wait_for_first_consumer_binds_when_a_pod_is_scheduled(cluster: SimCluster, ns: str) -> None:
    sc = f"wffc-{ns}"
    cluster.storage.create_storage_class(
        storage_class(sc, "wffc.csi.example.com", volumeBindingMode="WaitForFirstConsumer")
    )
    cluster.core.create_namespaced_persistent_volume_claim(ns, claim("late", sc))
    event = wait_for(lambda: cluster.events(ns, "late", "WaitForFirstConsumer"))[0]
    assert event.message == "waiting for first consumer to be created before binding"
    cluster.settle()
    assert cluster.core.read_namespaced_persistent_volume_claim("late", ns).status.phase == "Pending"
    cluster.core.create_namespaced_pod(
        ns,
        {
            "metadata": {"name": "user"},
            "spec": {
                "containers": [
                    {"name": "main", "image": "nginx:1.27", "volumeMounts": [{"name": "d", "mountPath": "/d"}]}
                ],
                "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "late"}}],
            },
        },
    )
    c = bound(cluster, ns, "late")
    pod = wait_for(
        lambda: (lambda p: p if p.status.phase == "Running" else None)(cluster.core.read_namespaced_pod("user", ns))
    )
    assert c.metadata.annotations["volume.kubernetes.io/selected-node"] == pod.spec.node_name


def test_pods_with_missing_claims_are_unschedulable(cluster: SimCluster, ns: str) -> None:
    cluster.core.create_namespaced_pod(
        ns,
        {
            "metadata": {"name": "orphan"},
            "spec": {
                "containers": [{"name": "main", "image": "nginx:1.27"}],
                "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "missing"}}],
            },
        },
    )
    event = wait_for(lambda: cluster.events(ns, "orphan", "FailedScheduling"))[0]
    assert 'persistentvolumeclaim "missing" not found' in event.message


def test_expansion_grows_the_volume_when_the_class_allows_it(cluster: SimCluster, ns: str) -> None:
    grow, fixed = f"grow-{ns}", f"fixed-{ns}"
    cluster.storage.create_storage_class(storage_class(grow, "grow.csi.example.com", allowVolumeExpansion=True))
    cluster.storage.create_storage_class(storage_class(fixed, "grow.csi.example.com"))
    cluster.core.create_namespaced_persistent_volume_claim(ns, claim("big", grow, "1Gi"))
    cluster.core.create_namespaced_persistent_volume_claim(ns, claim("stuck", fixed, "1Gi"))
    bound(cluster, ns, "big")
    bound(cluster, ns, "stuck")
    patch = {"spec": {"resources": {"requests": {"storage": "3Gi"}}}}
    cluster.core.patch_namespaced_persistent_volume_claim("big", ns, patch)

    def grown() -> Any:
        c = cluster.core.read_namespaced_persistent_volume_claim("big", ns)
        return c if c.status.capacity == {"storage": "3Gi"} else None

    c = wait_for(grown, message="expansion")
    assert cluster.core.read_persistent_volume(c.spec.volume_name).spec.capacity == {"storage": "3Gi"}
    wait_for(lambda: {"Resizing", "VolumeResizeSuccessful"} <= set(reasons(cluster, ns, "big")), message="events")
    with pytest.raises(ApiException) as refused:
        cluster.core.patch_namespaced_persistent_volume_claim("stuck", ns, patch)
    assert refused.value.status == 403  # the API refuses: the class does not allow expansion


def test_reclaim_policy_decides_what_happens_to_the_volume(cluster: SimCluster, ns: str) -> None:
    keep, drop = f"keep-{ns}", f"drop-{ns}"
    cluster.storage.create_storage_class(storage_class(keep, "r.csi.example.com", reclaimPolicy="Retain"))
    cluster.storage.create_storage_class(storage_class(drop, "r.csi.example.com"))
    cluster.core.create_namespaced_persistent_volume_claim(ns, claim("kept", keep))
    cluster.core.create_namespaced_persistent_volume_claim(ns, claim("dropped", drop))
    kept_pv = bound(cluster, ns, "kept").spec.volume_name
    dropped_pv = bound(cluster, ns, "dropped").spec.volume_name
    cluster.core.delete_namespaced_persistent_volume_claim("kept", ns)
    cluster.core.delete_namespaced_persistent_volume_claim("dropped", ns)

    def deleted() -> bool:
        try:
            cluster.core.read_persistent_volume(dropped_pv)
        except ApiException as e:
            return e.status == 404
        return False

    wait_for(deleted, message="Delete reclaim policy")
    released = wait_for(
        lambda: (lambda pv: pv if pv.status.phase == "Released" else None)(
            cluster.core.read_persistent_volume(kept_pv)
        ),
        message="Released",
    )
    assert released.spec.claim_ref.name == "kept"  # Retain keeps the claimRef for an administrator
