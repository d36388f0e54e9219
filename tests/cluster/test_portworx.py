"""The Portworx stand-in (tools/cluster/px_cluster/portworx) on the local real cluster.

Every test makes its own StorageClass (unique name, deleted afterwards) in a fresh namespace and
reads the outcome back through the API, the volumes' directories and the API server's audit log.
The mode tests (slow) switch the whole cluster's Portworx to degraded or absent with
`px-cluster up --portworx MODE` and put it back to healthy in a finalizer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .kube import MODULE_AGENT, PX_CLUSTER, ROOT, Kube, claim, pod, site_playbook, unique

DRIVER = "pxd.portworx.com"
PX_NS = "portworx"
SNAP = "snapshot.storage.k8s.io"
USER = "px:portworx"
BIND = 90  # seconds: provisioning, binding
POD = 180  # seconds: a pod to run and finish


# ---- helpers ----------------------------------------------------------------------------------------------


def bound(kube: Kube, ns: str, name: str, timeout: float = BIND) -> dict:
    return kube.wait_for(
        f"claim {ns}/{name} Bound",
        lambda: c if (c := kube.get("pvc", name, ns)) and c["status"].get("phase") == "Bound" else None,
        timeout,
    )


def events(kube: Kube, ns: str, name: str, reason: str | None = None) -> list[dict]:
    listing = kube.json("get", "events", "-n", ns, "--field-selector", f"involvedObject.name={name}")
    return [e for e in listing["items"] if reason is None or e.get("reason") == reason]


def run_pod(kube: Kube, ns: str, name: str, script: str, claims: dict[str, str], timeout: float = POD) -> str:
    """Runs a restricted busybox pod to completion; returns its log (fails unless it Succeeded)."""
    kube.create(pod(name, ["sh", "-c", script], volumes=claims), namespace=ns)
    phase = kube.wait_pod_done(name, ns, timeout)
    out = kube.logs(name, ns)
    assert phase == "Succeeded", f"pod {ns}/{name} {phase}: {out}"
    return out


def pv_of(kube: Kube, claim_obj: dict) -> dict:
    pv = kube.get("pv", claim_obj["spec"]["volumeName"])
    assert pv is not None
    return pv


def volume_dir(pv: dict) -> Path:
    return Path(pv["spec"]["hostPath"]["path"])


def audit(cluster_dir: Path) -> Iterator[dict]:
    with open(cluster_dir / "audit.log", encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue  # a line being written


def storage_nodes(kube: Kube) -> list[dict]:
    return kube.json("get", "storagenodes.core.libopenstorage.org", "-n", PX_NS)["items"]


@pytest.fixture
def px_class(kube: Kube) -> Iterator[Callable[..., str]]:
    """Makes Portworx StorageClasses with unique names; deletes them afterwards."""
    made: list[str] = []

    def make(parameters: dict[str, str] | None = None, **fields: Any) -> str:
        name = unique("px-test")
        kube.create(
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {"name": name},
                "provisioner": DRIVER,
                "parameters": parameters or {"repl": "1"},
                **fields,
            }
        )
        made.append(name)
        return name

    yield make
    for name in made:
        kube.run("delete", "storageclass", name, "--ignore-not-found", "--wait=false", check=False)


@pytest.fixture
def cleanup(kube: Kube) -> Iterator[list[Callable[[], None]]]:
    """Things a test must undo itself (PVs it kept, their directories), undone in reverse order."""
    undo: list[Callable[[], None]] = []
    yield undo
    for step in reversed(undo):
        try:
            step()
        except Exception as e:  # clean up as much as possible
            print(f"cleanup step failed: {e}")


# ---- offline: what is installed, how the driver answers (no cluster needed) ------------------------------


def test_manifests_per_mode() -> None:
    from px_cluster.portworx import install

    crds = {c["metadata"]["name"]: c for c in install.crds()}
    assert set(crds) == {
        "storageclusters.core.libopenstorage.org",
        "storagenodes.core.libopenstorage.org",
        f"volumesnapshotclasses.{SNAP}",
        f"volumesnapshotcontents.{SNAP}",
        f"volumesnapshots.{SNAP}",
    }
    for name in ("storageclusters.core.libopenstorage.org", f"volumesnapshots.{SNAP}"):
        served = [v for v in crds[name]["spec"]["versions"] if v["served"]]
        assert [v["name"] for v in served] == ["v1"] and "status" in served[0]["subresources"]
    # The real external-snapshotter schema, with its validation rules.
    content = crds[f"volumesnapshotcontents.{SNAP}"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert content["properties"]["spec"]["required"] == ["deletionPolicy", "driver", "source", "volumeSnapshotRef"]
    assert "x-kubernetes-validations" in content["properties"]["spec"]["properties"]["source"]
    assert {c["metadata"]["name"] for c in install.crds("absent")} == {n for n in crds if n.endswith(SNAP)}

    kinds = {(o["kind"], o["metadata"]["name"]) for o in install.objects("healthy", 3, True)}
    assert {("CSIDriver", DRIVER), ("StorageCluster", "px-cluster"), ("Service", "portworx-api")} <= kinds
    assert {("StorageNode", f"px-node-{i}") for i in (1, 2, 3)} <= kinds
    assert {("Deployment", "stork"), ("VolumeSnapshotClass", "px-csi-snapclass")} <= kinds
    assert ("Deployment", "stork") not in {
        (o["kind"], o["metadata"]["name"]) for o in install.objects("healthy", 3, False)
    }
    absent = install.objects("absent", 3, True)
    assert {o["kind"] for o in absent} == {"ClusterRole", "ClusterRoleBinding"}
    binding = next(o for o in absent if o["kind"] == "ClusterRoleBinding")
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}]
    removed = {(kind, name) for _, kind, name, _ in install.remove_for_mode("absent")}
    assert {("CSIDriver", DRIVER), ("Namespace", PX_NS), ("Deployment", "stork")} <= removed
    assert install.remove_for_mode("degraded") == []
    argv = install.controller_command(Path("/k"), Path("/v"), "degraded", 4)
    assert argv[1:3] == ["-m", "px_cluster.portworx"] and argv[-4:] == ["--mode", "degraded", "--nodes", "4"]


def test_the_drivers_answers() -> None:
    from px_cluster.portworx import params

    rwx = {"spec": {"accessModes": ["ReadWriteMany"]}}
    assert params.volume_attributes(rwx, {"repl": "2"})["sharedv4"] == "true"
    assert "sharedv4" not in params.volume_attributes({"spec": {"accessModes": ["ReadWriteOnce"]}}, {})
    params.check_create(rwx, {"repl": "3", "io_profile": "db_remote", "priority_io": "high"}, "Running", 3, 3)
    with pytest.raises(params.Refusal, match='repl "4"'):
        params.check_create(rwx, {"repl": "4"}, "Running", 3, 3)
    with pytest.raises(params.Refusal, match="Portworx is not healthy: StorageCluster portworx/px-cluster is Degraded"):
        params.check_create(rwx, {}, "Degraded", 2, 3)
    with pytest.raises(params.Refusal, match=r"no openstorage\.FS_TYPE for ntfs"):
        params.check_create(rwx, {"fs": "ntfs"}, "Online", 3, 3)
    assert params.round_up_gib(params.to_bytes("500Mi")) == 1024**3
    assert params.format_bytes(params.round_up_gib(params.to_bytes("1.5Gi"))) == "2Gi"


# ---- provisioning ----------------------------------------------------------------------------------------


def test_a_claim_binds_and_two_pods_share_it_at_once(
    kube: Kube, namespace: str, px_class: Callable[..., str], cluster_dir: Path
) -> None:
    sc = px_class({"repl": "2", "io_profile": "db_remote"})
    kube.create(claim("shared", sc, modes=("ReadWriteMany",)), namespace=namespace)
    c = bound(kube, namespace, "shared")
    pv = pv_of(kube, c)
    ann = pv["metadata"]["annotations"]
    assert ann["pv.kubernetes.io/provisioned-by"] == DRIVER
    assert pv["spec"]["hostPath"]["type"] == "DirectoryOrCreate"
    assert volume_dir(pv).parent == (cluster_dir / "volumes").resolve()
    assert pv["spec"]["claimRef"]["uid"] == c["metadata"]["uid"]
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    assert pv["spec"]["accessModes"] == ["ReadWriteMany"] and pv["spec"]["capacity"]["storage"] == "1Gi"
    attributes = json.loads(ann["px-cluster.portworx/volume-attributes"])
    assert attributes["sharedv4"] == "true" and attributes["repl"] == "2"  # RWX is sharedv4 regardless
    assert c["status"]["capacity"]["storage"] == "1Gi"
    assert volume_dir(pv).stat().st_mode & 0o777 == 0o777

    # A handshake only two pods running at the same time can complete.
    token = uuid.uuid4().hex
    writer = (
        f"echo {token} > /data/msg; i=0; while [ ! -f /data/reply ]; do i=$((i+1)); "
        '[ $i -gt 600 ] && exit 3; sleep 0.2; done; echo "reply: $(cat /data/reply)"'
    )
    reader = (
        "i=0; while [ ! -f /data/msg ]; do i=$((i+1)); [ $i -gt 600 ] && exit 3; sleep 0.2; done; "
        'echo "read: $(cat /data/msg)"; echo ack-$(cat /data/msg) > /data/reply'
    )
    kube.create(pod("writer", ["sh", "-c", writer], volumes={"shared": "/data"}), namespace=namespace)
    kube.create(pod("reader", ["sh", "-c", reader], volumes={"shared": "/data"}), namespace=namespace)
    assert kube.wait_pod_done("writer", namespace) == "Succeeded"
    assert kube.wait_pod_done("reader", namespace) == "Succeeded"
    assert f"read: {token}" in kube.logs("reader", namespace)
    assert f"reply: ack-{token}" in kube.logs("writer", namespace)
    assert (volume_dir(pv) / "msg").read_text().strip() == token  # the bytes are in the volume's directory


def test_the_controller_acts_as_its_own_user(
    kube: Kube, namespace: str, px_class: Callable[..., str], cluster_dir: Path
) -> None:
    sc = px_class()
    kube.create(claim("mine", sc), namespace=namespace)
    pv_name = bound(kube, namespace, "mine")["spec"]["volumeName"]

    def creations() -> list[dict]:
        return [
            e
            for e in audit(cluster_dir)
            if e.get("verb") == "create"
            and (e.get("objectRef") or {}).get("resource") == "persistentvolumes"
            and (e.get("objectRef") or {}).get("name") == pv_name
            and e.get("stage") == "ResponseComplete"
        ]

    found = kube.wait_for(f"the audit entry of creating PV {pv_name}", creations, 30)
    assert [e["user"]["username"] for e in found] == [USER]
    assert found[0]["responseStatus"]["code"] == 201
    # The binding itself is kube-controller-manager's; the stand-in never uses the admin's identity.
    assert all(
        e["user"]["username"] == USER
        for e in audit(cluster_dir)
        if (e.get("userAgent") or "").startswith("px-portworx-stand-in")
    )


def test_wait_for_first_consumer_waits_for_a_pod(kube: Kube, namespace: str, px_class: Callable[..., str]) -> None:
    sc = px_class(volumeBindingMode="WaitForFirstConsumer")
    kube.create(claim("later", sc), namespace=namespace)
    time.sleep(8)
    c = kube.get("pvc", "later", namespace)
    assert c["status"]["phase"] == "Pending"
    assert "volume.kubernetes.io/selected-node" not in (c["metadata"].get("annotations") or {})
    assert not events(kube, namespace, "later", "ProvisioningSucceeded")
    assert [e for e in events(kube, namespace, "later") if e["reason"] == "WaitForFirstConsumer"]
    out = run_pod(kube, namespace, "consumer", "echo used > /data/f && cat /data/f", {"later": "/data"})
    assert out.strip() == "used"
    c = bound(kube, namespace, "later", 5)
    assert c["metadata"]["annotations"]["volume.kubernetes.io/selected-node"]


def test_repl_beyond_the_storage_nodes_is_refused(kube: Kube, namespace: str, px_class: Callable[..., str]) -> None:
    nodes = storage_nodes(kube)
    online = sum(1 for n in nodes if (n.get("status") or {}).get("phase") == "Online")
    assert online == len(nodes) >= 1, "Portworx is expected healthy here"
    repl = len(nodes) + 1
    sc = px_class({"repl": str(repl)})
    kube.create(claim("db", sc), namespace=namespace)
    first = kube.wait_for("a ProvisioningFailed event", lambda: events(kube, namespace, "db", "ProvisioningFailed"), 60)
    event = first[0]
    assert event["type"] == "Warning"
    assert event["message"].startswith(
        f'failed to provision volume with StorageClass "{sc}": rpc error: code = Internal desc = '
        "Failed to create volume: could not find enough nodes to provision volume"
    )
    assert f'repl "{repl}"' in event["message"]
    assert f"{online} of {len(nodes)} Portworx storage nodes are online" in event["message"]
    time.sleep(15)  # retries happen meanwhile (5 s, then 10 s later): no new event within 30 s
    again = events(kube, namespace, "db", "ProvisioningFailed")
    assert sum(e.get("count") or 1 for e in again) == 1, again
    assert kube.get("pvc", "db", namespace)["status"]["phase"] == "Pending"
    assert not [pv for pv in kube.json("get", "pv")["items"] if pv["spec"].get("storageClassName") == sc]


def test_an_unparsable_parameter_is_refused_as_the_driver_does(
    kube: Kube, namespace: str, px_class: Callable[..., str]
) -> None:
    sc = px_class({"sharedv4": "yes"})
    kube.create(claim("bad", sc, modes=("ReadWriteMany",)), namespace=namespace)
    event = kube.wait_for("a ProvisioningFailed event", lambda: events(kube, namespace, "bad", "ProvisioningFailed"))[0]
    assert event["message"] == (
        f'failed to provision volume with StorageClass "{sc}": rpc error: code = InvalidArgument desc = '
        'Unable to get parameters: strconv.ParseBool: parsing "yes": invalid syntax\n'
    )
    assert kube.get("pvc", "bad", namespace)["status"]["phase"] == "Pending"


# ---- expansion, snapshots --------------------------------------------------------------------------------


def test_expansion_grows_the_volume_and_the_claim(kube: Kube, namespace: str, px_class: Callable[..., str]) -> None:
    sc = px_class(allowVolumeExpansion=True)
    kube.create(claim("grow", sc), namespace=namespace)
    pv_name = bound(kube, namespace, "grow")["spec"]["volumeName"]
    kube.run("patch", "pvc", "grow", "-n", namespace, "-p", '{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}')

    def grown() -> dict | None:
        c = kube.get("pvc", "grow", namespace)
        return c if c["status"].get("capacity", {}).get("storage") == "2Gi" else None

    c = kube.wait_for("claim capacity 2Gi", grown, 60)
    assert kube.get("pv", pv_name)["spec"]["capacity"]["storage"] == "2Gi"
    assert not [x for x in c["status"].get("conditions") or [] if x["type"] in ("Resizing", "FileSystemResizePending")]
    assert events(kube, namespace, "grow", "VolumeResizeSuccessful")


def test_a_snapshot_becomes_ready_and_restores_the_same_bytes(
    kube: Kube, namespace: str, px_class: Callable[..., str], cluster_dir: Path
) -> None:
    sc = px_class()
    snap_class = unique("px-snap")
    kube.create(
        {
            "apiVersion": f"{SNAP}/v1",
            "kind": "VolumeSnapshotClass",
            "metadata": {"name": snap_class},
            "driver": DRIVER,
            "deletionPolicy": "Delete",
        }
    )
    try:
        kube.create(claim("origin", sc), namespace=namespace)
        bound(kube, namespace, "origin")
        token = uuid.uuid4().hex
        run_pod(
            kube,
            namespace,
            "fill",
            f"echo {token} > /data/token && mkdir -p /data/d && echo x > /data/d/y",
            {"origin": "/data"},
        )
        kube.create(
            {
                "apiVersion": f"{SNAP}/v1",
                "kind": "VolumeSnapshot",
                "metadata": {"name": "snap"},
                "spec": {"volumeSnapshotClassName": snap_class, "source": {"persistentVolumeClaimName": "origin"}},
            },
            namespace=namespace,
        )

        def ready() -> dict | None:
            s = kube.get(f"volumesnapshots.{SNAP}", "snap", namespace)
            return s if (s.get("status") or {}).get("readyToUse") is True else None

        snapshot = kube.wait_for("snapshot readyToUse", ready, 60)
        assert snapshot["status"]["restoreSize"] == "1Gi" and snapshot["status"]["creationTime"]
        content_name = snapshot["status"]["boundVolumeSnapshotContentName"]
        content = kube.get(f"volumesnapshotcontents.{SNAP}", content_name)
        assert content["spec"]["driver"] == DRIVER and content["spec"]["deletionPolicy"] == "Delete"
        assert content["spec"]["volumeSnapshotRef"]["uid"] == snapshot["metadata"]["uid"]
        assert content["status"]["readyToUse"] is True and content["status"]["restoreSize"] == 1024**3
        copy = cluster_dir / "volumes" / "snapshots" / content_name
        assert (copy / "token").read_text().strip() == token

        kube.create(
            claim("restored", sc, dataSource={"kind": "VolumeSnapshot", "apiGroup": SNAP, "name": "snap"}),
            namespace=namespace,
        )
        bound(kube, namespace, "restored")
        out = run_pod(kube, namespace, "check", "cat /data/token /data/d/y", {"restored": "/data"})
        assert out.split() == [token, "x"]

        kube.delete(f"volumesnapshots.{SNAP}", "snap", namespace)
        kube.wait_for(
            "the content and its copy gone",
            lambda: kube.get(f"volumesnapshotcontents.{SNAP}", content_name) is None and not copy.exists(),
            60,
        )
    finally:
        kube.run("delete", f"volumesnapshotclasses.{SNAP}", snap_class, "--ignore-not-found", check=False)


# ---- reclaim ---------------------------------------------------------------------------------------------


def _released(kube: Kube, pv_name: str) -> dict | None:
    pv = kube.get("pv", pv_name)
    return pv if pv and pv["status"].get("phase") == "Released" else None


def test_retain_keeps_the_directory_and_a_released_volume(
    kube: Kube, namespace: str, px_class: Callable[..., str], cleanup: list[Callable[[], None]]
) -> None:
    sc = px_class(reclaimPolicy="Retain")
    kube.create(claim("kept", sc), namespace=namespace)
    pv = pv_of(kube, bound(kube, namespace, "kept"))
    directory = volume_dir(pv)
    cleanup.append(lambda: shutil.rmtree(directory, ignore_errors=True))
    cleanup.append(lambda: kube.delete("pv", pv["metadata"]["name"], wait=False))
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    run_pod(kube, namespace, "fill", "echo keep-me > /data/f", {"kept": "/data"})
    kube.delete("pod", "fill", namespace)
    kube.delete("pvc", "kept", namespace)
    kube.wait_for("PV Released", lambda: _released(kube, pv["metadata"]["name"]), 60)
    time.sleep(5)  # the controller had its chance to (wrongly) delete it
    still = _released(kube, pv["metadata"]["name"])
    assert still is not None and still["spec"]["claimRef"]["name"] == "kept"
    assert (directory / "f").read_text().strip() == "keep-me"


def test_delete_removes_the_volume_and_its_directory(kube: Kube, namespace: str, px_class: Callable[..., str]) -> None:
    sc = px_class(reclaimPolicy="Delete")
    kube.create(claim("gone", sc), namespace=namespace)
    pv = pv_of(kube, bound(kube, namespace, "gone"))
    directory = volume_dir(pv)
    run_pod(kube, namespace, "fill", "echo bye > /data/f", {"gone": "/data"})
    assert (directory / "f").exists()
    kube.delete("pod", "fill", namespace)
    kube.delete("pvc", "gone", namespace)
    kube.wait_for(
        "PV and directory gone", lambda: kube.get("pv", pv["metadata"]["name"]) is None and not directory.exists(), 60
    )


def test_stork_schedules_the_pods_that_ask_for_it(kube: Kube, namespace: str, px_class: Callable[..., str]) -> None:
    if kube.get("deployment", "stork", PX_NS) is None:
        pytest.skip("Stork is not installed here (px-cluster up --stork)")
    sc = px_class(volumeBindingMode="WaitForFirstConsumer")
    kube.create(claim("near", sc), namespace=namespace)
    kube.create(
        pod(
            "hyper",
            ["sh", "-c", "echo stork > /data/f && cat /data/f"],
            volumes={"near": "/data"},
            schedulerName="stork",
        ),
        namespace=namespace,
    )
    assert kube.wait_pod_done("hyper", namespace) == "Succeeded"
    assert kube.logs("hyper", namespace).strip() == "stork"
    scheduled = events(kube, namespace, "hyper", "Scheduled")
    assert [e["source"].get("component") for e in scheduled] == ["stork"]
    assert bound(kube, namespace, "near", 5)["metadata"]["annotations"]["volume.kubernetes.io/selected-node"]


# ---- modes (the whole cluster's Portworx changes: slow) ------------------------------------------------------


def _px_cluster_up(cluster_dir: Path, mode: str) -> None:
    """`px-cluster up --portworx MODE`, keeping the storage node count and Stork as they are."""
    stamp = cluster_dir / "run" / "portworx.json"
    current = json.loads(stamp.read_text()) if stamp.exists() else {}
    args = [str(PX_CLUSTER), "up", "--dir", str(cluster_dir), "--images", "none", "--portworx", mode]
    args += ["--portworx-nodes", str(current.get("nodes", 3))] + (["--stork"] if current.get("stork") else [])
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{' '.join(args)}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"


def portworx_info(cluster_dir: Path) -> dict:
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections"),
        "ANSIBLE_STDOUT_CALLBACK": "json",
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_LOCALHOST_WARNING": "0",
    }
    args = [
        str(ROOT / ".venv" / "bin" / "ansible"),
        "localhost",
        "-m",
        "px.airflow.portworx_info",
        "-a",
        f"kubeconfig={cluster_dir / 'kubeconfig'} context=px-local",
        "-e",
        f"ansible_python_interpreter={ROOT / '.venv' / 'bin' / 'python'}",
    ]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]


@pytest.fixture
def mode_switch(kube: Kube, cluster_dir: Path) -> Iterator[Callable[[str], None]]:
    """Switches the cluster's Portworx mode; healthy again afterwards (checked with portworx_info)."""

    def switch(mode: str) -> None:
        _px_cluster_up(cluster_dir, mode)

    yield switch
    _px_cluster_up(cluster_dir, "healthy")
    kube.wait_for("Portworx healthy again", lambda: portworx_info(cluster_dir)["healthy"], 120, interval=3)


@pytest.mark.slow
def test_degraded_mode_is_reported_and_provisions_nothing(
    kube: Kube, namespace: str, px_class: Callable[..., str], cluster_dir: Path, mode_switch: Callable[[str], None]
) -> None:
    mode_switch("degraded")
    info = kube.wait_for(
        "portworx_info to see Degraded",
        lambda: i if (i := portworx_info(cluster_dir))["phase"] == "Degraded" else None,
        90,
        interval=3,
    )
    assert info["installed"] is True and info["healthy"] is False and info["csi"] is True
    total = info["nodes_total"]
    assert total >= 1 and info["storage_nodes"] == (total - 1 if total > 1 else 1)  # the last node is Offline
    sc = px_class()
    kube.create(claim("waits", sc), namespace=namespace)
    event = kube.wait_for("ProvisioningFailed", lambda: events(kube, namespace, "waits", "ProvisioningFailed"), 60)[0]
    assert event["message"].startswith(
        f'failed to provision volume with StorageClass "{sc}": rpc error: code = Unavailable desc = '
        "Failed to create volume: Portworx is not healthy"
    )
    assert kube.get("pvc", "waits", namespace)["status"]["phase"] == "Pending"


@pytest.mark.slow
def test_absent_mode_leaves_no_trace_and_claims_wait(
    kube: Kube, namespace: str, px_class: Callable[..., str], cluster_dir: Path, mode_switch: Callable[[str], None]
) -> None:
    mode_switch("absent")
    info = kube.wait_for(
        "portworx_info to see no Portworx",
        lambda: i if not (i := portworx_info(cluster_dir))["installed"] else None,
        90,
        interval=3,
    )
    assert info["csi"] is False and info["storage_cluster"] is None and info["phase"] is None
    assert info["api_service"] is False and info["stork"] is False and info["provisioners"] == []
    assert kube.get("csidriver", DRIVER) is None
    # The storage role stops before creating anything, saying what to do.
    names = {f"storage_{c}_class": {"name": unique(f"px-absent-{c}")} for c in ("db", "shared", "scratch")}
    mark = kube.audit.mark()
    role = site_playbook(cluster_dir, "--tags", "storage", "-e", json.dumps(names))
    assert role.returncode != 0
    assert "Portworx is not installed in this cluster" in role.stdout and "Nothing was created" in role.stdout
    written = [e for e in kube.audit.writes(mark, agent=MODULE_AGENT) if e["objectRef"]["resource"] == "storageclasses"]
    assert written == [], kube.audit.describe(written)
    assert all(kube.get("storageclass", n["name"]) is None for n in names.values())
    sc = px_class()
    kube.create(claim("waits", sc), namespace=namespace)
    kube.wait_for("ExternalProvisioning", lambda: events(kube, namespace, "waits", "ExternalProvisioning"), 60)
    time.sleep(10)
    assert {e["reason"] for e in events(kube, namespace, "waits")} == {"ExternalProvisioning"}
    assert kube.get("pvc", "waits", namespace)["status"]["phase"] == "Pending"
