"""kubesim part 2: the simulated Portworx, as the API shows it (`--portworx`, `--portworx-nodes`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from simcluster import SimCluster, claim, deployment, storage_class, wait_for

PX = "portworx"
GROUP, VERSION = "core.libopenstorage.org", "v1"
SNAP = "snapshot.storage.k8s.io"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimCluster]:
    sim = SimCluster(tmp_path_factory.mktemp("sim"))
    yield sim
    sim.stop()


@pytest.fixture
def ns(cluster: SimCluster) -> str:
    return cluster.namespace()


def bound(cluster: SimCluster, ns: str, name: str) -> Any:
    return wait_for(
        lambda: (lambda c: c if c.status.phase == "Bound" else None)(
            cluster.core.read_namespaced_persistent_volume_claim(name, ns)
        ),
        message=f"claim {name} Bound",
    )


def cluster_phase(cluster: SimCluster) -> str:
    stc = cluster.custom.get_namespaced_custom_object(GROUP, VERSION, PX, "storageclusters", "px-cluster")
    return stc["status"]["phase"]


def available(cluster: SimCluster, name: str) -> bool:
    d = cluster.apps.read_namespaced_deployment(name, PX)
    return d.status.available_replicas == d.spec.replicas and d.status.observed_generation == d.metadata.generation


def test_a_healthy_portworx_is_installed(cluster: SimCluster) -> None:
    driver = cluster.storage.read_csi_driver("pxd.portworx.com")
    assert driver.spec.attach_required is False
    ext = client.ApiextensionsV1Api(cluster.client)
    for plural, short in (("storageclusters", "stc"), ("storagenodes", "sn")):
        crd = ext.read_custom_resource_definition(f"{plural}.{GROUP}")
        assert crd.spec.scope == "Namespaced" and crd.spec.names.short_names == [short]
        assert crd.spec.versions[0].subresources.status is not None
    stc = cluster.custom.get_namespaced_custom_object(GROUP, VERSION, PX, "storageclusters", "px-cluster")
    assert stc["spec"]["image"] == "portworx/oci-monitor:3.2.1"
    assert (stc["status"]["phase"], stc["status"]["version"]) == ("Running", "3.2.1")
    nodes = cluster.custom.list_namespaced_custom_object(GROUP, VERSION, PX, "storagenodes")["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == ["kubesim-node-1", "kubesim-node-2", "kubesim-node-3"]
    assert {n["status"]["phase"] for n in nodes} == {"Online"}
    service = cluster.core.read_namespaced_service("portworx-api", PX)
    assert {(p.name, p.port) for p in service.spec.ports} == {
        ("px-api", 9001),
        ("px-sdk", 9020),
        ("px-rest-gateway", 9021),
    }
    for name in ("stork", "stork-scheduler"):
        wait_for(lambda n=name: available(cluster, n), message=f"{name} available")
    api = wait_for(
        lambda: (lambda ds: ds if ds.status.number_ready == 3 else None)(
            cluster.apps.read_namespaced_daemon_set("portworx-api", PX)
        ),
        message="portworx-api ready",
    )
    assert api.status.desired_number_scheduled == api.status.current_number_scheduled == 3
    pods = wait_for(
        lambda: [
            p
            for p in cluster.core.list_namespaced_pod(PX, label_selector="name=portworx").items
            if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        ]
    )
    assert sorted(p.spec.node_name for p in pods) == ["kubesim-node-1", "kubesim-node-2", "kubesim-node-3"]
    snapclass = cluster.custom.get_cluster_custom_object(SNAP, "v1", "volumesnapshotclasses", "px-csi-snapclass")
    assert (snapclass["driver"], snapclass["deletionPolicy"]) == ("pxd.portworx.com", "Delete")
    csinode = client.StorageV1Api(cluster.client).read_csi_node("kubesim-node-1")
    assert [d.name for d in csinode.spec.drivers] == ["pxd.portworx.com"]


def test_portworx_provisions_csi_volumes_and_rwx_as_sharedv4(cluster: SimCluster, ns: str) -> None:
    cluster.storage.create_storage_class(
        storage_class(f"px-db-{ns}", "pxd.portworx.com", parameters={"repl": "3", "io_profile": "db_remote"})
    )
    cluster.storage.create_storage_class(storage_class(f"px-plain-{ns}", "pxd.portworx.com"))
    cluster.core.create_namespaced_persistent_volume_claim(ns, claim("db", f"px-db-{ns}", "5Gi"))
    cluster.core.create_namespaced_persistent_volume_claim(
        ns, claim("shared", f"px-plain-{ns}", modes=("ReadWriteMany",))
    )
    db = cluster.core.read_persistent_volume(bound(cluster, ns, "db").spec.volume_name)
    assert db.spec.csi.driver == "pxd.portworx.com" and db.spec.csi.volume_handle.isdigit()
    assert db.spec.csi.volume_attributes["repl"] == "3" and "sharedv4" not in db.spec.csi.volume_attributes
    assert db.metadata.annotations["pv.kubernetes.io/provisioned-by"] == "pxd.portworx.com"
    shared = cluster.core.read_persistent_volume(bound(cluster, ns, "shared").spec.volume_name)
    assert shared.spec.csi.volume_attributes["sharedv4"] == "true"  # RWX defaults to sharedv4
    assert shared.spec.access_modes == ["ReadWriteMany"]
    source = cluster.events(ns, "db", "ProvisioningSucceeded")[0].source.component
    assert source.startswith("pxd.portworx.com_")


def test_the_in_tree_name_is_migrated_to_csi(cluster: SimCluster, ns: str) -> None:
    cluster.storage.create_storage_class(storage_class(f"intree-{ns}", "kubernetes.io/portworx-volume"))
    cluster.core.create_namespaced_persistent_volume_claim(ns, claim("old", f"intree-{ns}"))
    c = bound(cluster, ns, "old")
    assert c.metadata.annotations["volume.kubernetes.io/storage-provisioner"] == "pxd.portworx.com"
    pv = cluster.core.read_persistent_volume(c.spec.volume_name)
    assert pv.spec.portworx_volume.volume_id.isdigit()
    assert pv.metadata.annotations["pv.kubernetes.io/provisioned-by"] == "kubernetes.io/portworx-volume"
    assert pv.metadata.annotations["pv.kubernetes.io/migrated-to"] == "pxd.portworx.com"


def test_snapshots_of_portworx_volumes_become_ready(cluster: SimCluster, ns: str) -> None:
    cluster.storage.create_storage_class(storage_class(f"px-{ns}", "pxd.portworx.com"))
    cluster.core.create_namespaced_persistent_volume_claim(ns, claim("src", f"px-{ns}", "2Gi"))
    bound(cluster, ns, "src")
    cluster.custom.create_namespaced_custom_object(
        SNAP,
        "v1",
        ns,
        "volumesnapshots",
        {
            "apiVersion": f"{SNAP}/v1",
            "kind": "VolumeSnapshot",
            "metadata": {"name": "snap"},
            "spec": {"volumeSnapshotClassName": "px-csi-snapclass", "source": {"persistentVolumeClaimName": "src"}},
        },
    )

    def ready() -> Any:
        vs = cluster.custom.get_namespaced_custom_object(SNAP, "v1", ns, "volumesnapshots", "snap")
        return vs if (vs.get("status") or {}).get("readyToUse") else None

    vs = wait_for(ready, message="snapshot ready")
    assert vs["status"]["restoreSize"] == "2Gi" and vs["status"]["creationTime"]
    content_name = vs["status"]["boundVolumeSnapshotContentName"]
    assert content_name == f"snapcontent-{vs['metadata']['uid']}"
    content = cluster.custom.get_cluster_custom_object(SNAP, "v1", "volumesnapshotcontents", content_name)
    assert content["spec"]["driver"] == "pxd.portworx.com" and content["spec"]["deletionPolicy"] == "Delete"
    assert content["spec"]["volumeSnapshotRef"]["name"] == "snap"
    assert content["status"]["readyToUse"] is True and content["status"]["restoreSize"] == 2 * 1024**3
    wait_for(
        lambda: (
            {"CreatingSnapshot", "SnapshotCreated", "SnapshotReady"} <= {e.reason for e in cluster.events(ns, "snap")}
        )
    )
    cluster.core.create_namespaced_persistent_volume_claim(
        ns,
        claim("restored", f"px-{ns}", "2Gi", dataSource={"apiGroup": SNAP, "kind": "VolumeSnapshot", "name": "snap"}),
    )
    bound(cluster, ns, "restored")
    cluster.custom.delete_namespaced_custom_object(SNAP, "v1", ns, "volumesnapshots", "snap")

    def content_gone() -> bool:
        try:
            cluster.custom.get_cluster_custom_object(SNAP, "v1", "volumesnapshotcontents", content_name)
        except ApiException as e:
            return e.status == 404
        return False

    wait_for(content_gone, message="content deleted with its snapshot")


def test_health_follows_the_storage_cluster_and_node_state(cluster: SimCluster, ns: str) -> None:
    cluster.storage.create_storage_class(storage_class(f"px-{ns}", "pxd.portworx.com"))

    def set_status(plural: str, name: str, phase: str) -> None:
        cluster.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, PX, plural, name, {"status": {"phase": phase}}
        )

    def node2_ready() -> bool:
        pods = cluster.core.list_namespaced_pod(PX, label_selector="name=portworx").items
        pod = next(p for p in pods if p.spec.node_name == "kubesim-node-2")
        return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions)

    set_status("storageclusters", "px-cluster", "Degraded")
    set_status("storagenodes", "kubesim-node-2", "Offline")
    try:
        cluster.core.create_namespaced_persistent_volume_claim(ns, claim("waits", f"px-{ns}"))
        event = wait_for(lambda: cluster.events(ns, "waits", "ProvisioningFailed"))[0]
        assert "Portworx is not healthy" in event.message
        wait_for(lambda: not node2_ready(), message="the Offline node's Portworx pod unready")
    finally:
        set_status("storagenodes", "kubesim-node-2", "Online")
        set_status("storageclusters", "px-cluster", "Running")
    bound(cluster, ns, "waits")
    wait_for(node2_ready, message="Ready again")


def test_stork_serves_its_scheduler_name(cluster: SimCluster, ns: str) -> None:
    cluster.apps.create_namespaced_deployment(ns, deployment("hyper", schedulerName="stork"))
    wait_for(lambda: cluster.apps.read_namespaced_deployment("hyper", ns).status.available_replicas == 1)


def test_repl_beyond_the_storage_nodes_is_refused(tmp_path: Path) -> None:
    sim = SimCluster(tmp_path, "--portworx-nodes", "2")
    try:
        ns = sim.namespace()
        assert len(sim.core.list_node().items) == 2
        sim.storage.create_storage_class(storage_class("px-db", "pxd.portworx.com", parameters={"repl": "3"}))
        sim.storage.create_storage_class(storage_class("px-repl2", "pxd.portworx.com", parameters={"repl": "2"}))
        sim.core.create_namespaced_persistent_volume_claim(ns, claim("db", "px-db"))
        sim.core.create_namespaced_persistent_volume_claim(ns, claim("ok", "px-repl2"))
        event = wait_for(lambda: sim.events(ns, "db", "ProvisioningFailed"))[0]
        assert event.type == "Warning"
        assert event.message.startswith(
            'failed to provision volume with StorageClass "px-db": rpc error: code = '
            "Internal desc = Failed to create volume: could not find enough nodes to "
            "provision volume"
        )
        assert 'repl "3"' in event.message and "2 of 2 Portworx storage nodes" in event.message
        assert sim.core.read_namespaced_persistent_volume_claim("db", ns).status.phase == "Pending"
        bound(sim, ns, "ok")
    finally:
        sim.stop()


def test_a_degraded_portworx_provisions_nothing(tmp_path: Path) -> None:
    sim = SimCluster(tmp_path, "--portworx", "degraded")
    try:
        ns = sim.namespace()
        assert cluster_phase(sim) == "Degraded"
        nodes = sim.custom.list_namespaced_custom_object(GROUP, VERSION, PX, "storagenodes")["items"]
        assert sorted(n["status"]["phase"] for n in nodes) == ["Offline", "Online", "Online"]
        sim.storage.create_storage_class(storage_class("px", "pxd.portworx.com"))
        sim.core.create_namespaced_persistent_volume_claim(ns, claim("data", "px"))
        event = wait_for(lambda: sim.events(ns, "data", "ProvisioningFailed"))[0]
        assert event.message.startswith(
            'failed to provision volume with StorageClass "px": rpc error: code = '
            "Unavailable desc = Failed to create volume: Portworx is not healthy"
        )
        assert sim.core.read_namespaced_persistent_volume_claim("data", ns).status.phase == "Pending"
        ready = wait_for(
            lambda: (lambda pods: pods if all(p.status.conditions for p in pods) else None)(
                sim.core.list_namespaced_pod(PX, label_selector="name=portworx").items
            )
        )
        offline = next(p for p in ready if p.spec.node_name == "kubesim-node-3")
        assert next(c for c in offline.status.conditions if c.type == "Ready").status == "False"
    finally:
        sim.stop()


def test_an_absent_portworx_leaves_no_trace_and_claims_wait(tmp_path: Path) -> None:
    sim = SimCluster(tmp_path, "--portworx", "absent")
    try:
        ns = sim.namespace()
        with pytest.raises(ApiException) as missing:
            sim.storage.read_csi_driver("pxd.portworx.com")
        assert missing.value.status == 404
        crds = [c.metadata.name for c in client.ApiextensionsV1Api(sim.client).list_custom_resource_definition().items]
        assert not [c for c in crds if c.endswith(GROUP)]
        assert sorted(c for c in crds if c.endswith(SNAP)) == [
            f"volumesnapshotclasses.{SNAP}",
            f"volumesnapshotcontents.{SNAP}",
            f"volumesnapshots.{SNAP}",
        ]
        assert PX not in [n.metadata.name for n in sim.core.list_namespace().items]
        sim.storage.create_storage_class(storage_class("px", "pxd.portworx.com"))
        sim.core.create_namespaced_persistent_volume_claim(ns, claim("data", "px"))
        event = wait_for(lambda: sim.events(ns, "data", "ExternalProvisioning"))[0]
        assert event.message == (
            "Waiting for a volume to be created either by the external provisioner 'pxd.portworx.com' or manually "
            "by the system administrator. If volume creation is delayed, please verify that the provisioner is "
            "running and correctly registered."
        )
        sim.settle()
        assert {e.reason for e in sim.events(ns, "data")} == {"ExternalProvisioning"}
        assert sim.core.read_namespaced_persistent_volume_claim("data", ns).status.phase == "Pending"
    finally:
        sim.stop()


def test_no_controllers_leaves_objects_alone(tmp_path: Path) -> None:
    sim = SimCluster(tmp_path, "--no-controllers")
    try:
        ns = sim.namespace()
        sim.apps.create_namespaced_deployment(ns, deployment("still"))
        assert sim.core.list_node().items == []
        with pytest.raises(ApiException):
            sim.storage.read_csi_driver("pxd.portworx.com")
        assert sim.apps.list_namespaced_replica_set(ns).items == []
    finally:
        sim.stop()
