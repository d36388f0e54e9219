"""kubesim part 3: `--run-pods` runs the commands of utility-image containers for real.

One kubesim (a subprocess, with a state dir) for the module; each test has its own namespace. What
is asserted is what a real cluster shows (pod phase, container states, logs, Job conditions) plus
what only a real run can produce (files in the volume directory, process ids, user ids).
"""

from __future__ import annotations

import base64
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: kubesim_harness
from kubesim.runner import container_argv, image_matches
from kubesim_harness import KubesimInstance, start_kubesim, wait_for
from simclient import RawClient

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="--run-pods needs root (mount namespaces, chroot)")

STORAGE_CLASS = "px-run"
RESTRICTED = {
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubesimInstance]:
    base = tmp_path_factory.mktemp("runpods")
    instance = start_kubesim(base, "--run-pods", state_dir=base / "state")
    api = client.StorageV1Api(instance.api_client())
    api.create_storage_class(
        {"metadata": {"name": STORAGE_CLASS}, "provisioner": "pxd.portworx.com", "parameters": {"repl": "1"}}
    )
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def core(sim: KubesimInstance) -> client.CoreV1Api:
    return client.CoreV1Api(sim.api_client())


@pytest.fixture
def ns(core: client.CoreV1Api) -> str:
    name = f"run-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    return name


def pod(name: str, command: list[str], image: str = "busybox:1.36", **spec: Any) -> dict[str, Any]:
    container = {"name": "main", "image": image, "command": command}
    container.update(spec.pop("container", {}))
    return {
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"restartPolicy": "Never", "containers": [container], **spec},
    }


def claim(core: client.CoreV1Api, ns: str, name: str) -> str:
    core.create_namespaced_persistent_volume_claim(
        ns,
        {
            "metadata": {"name": name},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": STORAGE_CLASS,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    bound = wait_for(
        lambda: core.read_namespaced_persistent_volume_claim(name, ns).spec.volume_name, message=f"claim {name} bound"
    )
    return str(bound)


def finished(core: client.CoreV1Api, ns: str, name: str, timeout: float = 15.0) -> Any:
    def done() -> Any:
        p = core.read_namespaced_pod(name, ns)
        return p if p.status.phase in ("Succeeded", "Failed") else None

    return wait_for(done, timeout=timeout, message=f"pod {name} finished")


def log(core: client.CoreV1Api, ns: str, name: str) -> str:
    # The client turns a text body into str(bytes) (kubernetes 36): read it raw, as kubernetes.core does.
    return core.read_namespaced_pod_log(name, ns, _preload_content=False).data.decode()


def volume(name: str, claim_name: str) -> dict[str, Any]:
    return {"name": name, "persistentVolumeClaim": {"claimName": claim_name}}


# ---- volumes ---------------------------------------------------------------------------------------------


def test_a_file_written_to_a_claim_is_read_by_the_next_pod(
    sim: KubesimInstance, core: client.CoreV1Api, ns: str
) -> None:
    pv = claim(core, ns, "shared")
    token = uuid.uuid4().hex
    scratch = f"kubesim-test-{uuid.uuid4().hex[:8]}"
    writer = pod(
        "writer",
        ["sh", "-c", f"echo {token} > /data/token && echo scratch > /var/run/{scratch}/x && echo wrote"],
        volumes=[volume("data", "shared"), {"name": "scratch", "emptyDir": {}}],
        container={
            "volumeMounts": [
                {"name": "data", "mountPath": "/data"},
                # /var/run is a symlink to /run on the host: the mount must still land in the container.
                {"name": "scratch", "mountPath": f"/var/run/{scratch}"},
            ]
        },
    )
    core.create_namespaced_pod(ns, writer)
    done = finished(core, ns, "writer")
    assert done.status.phase == "Succeeded", log(core, ns, "writer")
    terminated = done.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (0, "Completed")
    assert log(core, ns, "writer") == "wrote\n"
    assert sim.state_dir is not None
    assert (sim.state_dir / "volumes" / pv / "token").read_text() == f"{token}\n"
    assert not Path("/run", scratch).exists() and not Path("/var/run", scratch).exists()  # host untouched

    reader = pod(
        "reader",
        ["cat", "/data/token"],
        volumes=[volume("data", "shared")],
        container={"volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}]},
    )
    core.create_namespaced_pod(ns, reader)
    assert finished(core, ns, "reader").status.phase == "Succeeded"
    assert log(core, ns, "reader") == f"{token}\n"


def test_a_read_only_mount_refuses_writes(core: client.CoreV1Api, ns: str) -> None:
    claim(core, ns, "ro")
    spec = pod(
        "ro-writer",
        # Writing the current value back: harmless to the host even if /proc/sys were writable.
        ["sh", "-c", "echo x > /data/f; cat /proc/sys/vm/swappiness > /tmp/v; cat /tmp/v > /proc/sys/vm/swappiness"],
        volumes=[volume("data", "ro")],
        container={"volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}]},
    )
    core.create_namespaced_pod(ns, spec)
    done = finished(core, ns, "ro-writer")
    assert done.status.phase == "Failed"
    assert done.status.container_statuses[0].state.terminated.exit_code != 0
    assert log(core, ns, "ro-writer").count("Read-only file system") == 2  # the volume, and /proc/sys


def test_a_non_root_pod_with_fs_group_writes_a_fresh_volume(
    sim: KubesimInstance, core: client.CoreV1Api, ns: str
) -> None:
    core.patch_namespace(ns, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})
    pv = claim(core, ns, "fresh")
    security = {**RESTRICTED, "runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000}
    spec = pod(
        "non-root",
        ["sh", "-c", "id -u; id -g; id -G; echo hi > /data/out && stat -c '%u:%g' /data/out"],
        volumes=[volume("data", "fresh")],
        securityContext=security,
        container={"securityContext": RESTRICTED_CONTAINER, "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
    )
    core.create_namespaced_pod(ns, spec)
    assert finished(core, ns, "non-root").status.phase == "Succeeded", log(core, ns, "non-root")
    uid, gid, groups, owner = log(core, ns, "non-root").splitlines()
    assert (uid, gid, owner) == ("1000", "3000", "1000:2000")  # setgid volume: new files get the fsGroup
    assert "2000" in groups.split()
    assert sim.state_dir is not None
    root = (sim.state_dir / "volumes" / pv).stat()
    assert root.st_gid == 2000 and root.st_mode & 0o2070 == 0o2070

    # Without fsGroup the volume's root stays root's: a non-root writer is refused, as on a real node.
    claim(core, ns, "fresh2")
    refused = pod(
        "no-fsgroup",
        ["sh", "-c", "echo hi > /data/out"],
        volumes=[volume("data", "fresh2")],
        securityContext={**RESTRICTED, "runAsUser": 1000},
        container={"securityContext": RESTRICTED_CONTAINER, "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
    )
    core.create_namespaced_pod(ns, refused)
    assert finished(core, ns, "no-fsgroup").status.phase == "Failed"
    assert "Permission denied" in log(core, ns, "no-fsgroup")


# ---- Jobs ------------------------------------------------------------------------------------------------


def test_a_jobs_exit_status_drives_its_conditions(sim: KubesimInstance, ns: str) -> None:
    batch = client.BatchV1Api(sim.api_client())

    def job(name: str, script: str) -> dict[str, Any]:
        return {
            "metadata": {"name": name},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", script]}],
                    }
                },
            },
        }

    batch.create_namespaced_job(ns, job("ok", "echo done"))
    batch.create_namespaced_job(ns, job("broken", "echo failing >&2; exit 3"))

    def condition(name: str) -> Any:
        conditions = batch.read_namespaced_job_status(name, ns).status.conditions or []
        return next((c for c in conditions if c.type in ("Complete", "Failed") and c.status == "True"), None)

    assert wait_for(lambda: condition("ok"), timeout=15, message="Job ok finished").type == "Complete"
    failed = wait_for(lambda: condition("broken"), timeout=15, message="Job broken finished")
    assert (failed.type, failed.reason) == ("Failed", "BackoffLimitExceeded")
    assert batch.read_namespaced_job_status("broken", ns).status.failed == 1


# ---- environment and in-cluster access -------------------------------------------------------------------


def test_env_from_secret_configmap_and_fields_reaches_the_process(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_secret(
        ns,
        {
            "metadata": {"name": "creds"},
            "data": {"password": base64.b64encode(b"s3cret!").decode(), "user": base64.b64encode(b"px").decode()},
        },
    )
    core.create_namespaced_config_map(ns, {"metadata": {"name": "settings"}, "data": {"MODE": "demo"}})
    spec = pod(
        "env",
        ["sh", "-c", 'echo "$PASSWORD|$MODE|$POD|$NS|$GREETING|$(cat /creds/u)|$(stat -c %a /creds/u)"'],
        volumes=[
            {
                "name": "creds",
                "secret": {"secretName": "creds", "defaultMode": 0o400, "items": [{"key": "user", "path": "u"}]},
            }
        ],
        container={
            "env": [
                {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "GREETING", "value": "hello $(POD)"},
            ],
            "envFrom": [{"configMapRef": {"name": "settings"}}],
            "volumeMounts": [{"name": "creds", "mountPath": "/creds"}],
        },
    )
    core.create_namespaced_pod(ns, spec)
    assert finished(core, ns, "env").status.phase == "Succeeded", log(core, ns, "env")
    assert log(core, ns, "env") == f"s3cret!|demo|env|{ns}|hello env|px|400\n"


def test_in_cluster_config_from_inside_a_pod_lists_pods(core: client.CoreV1Api, ns: str) -> None:
    script = (
        "from kubernetes import client, config; config.load_incluster_config(); "
        f"print(sorted(p.metadata.name for p in client.CoreV1Api().list_namespaced_pod({ns!r}).items))"
    )
    core.create_namespaced_pod(ns, pod("lister", [sys.executable, "-c", script], image="python:3.12-slim"))
    done = finished(core, ns, "lister", timeout=30)
    assert done.status.phase == "Succeeded", log(core, ns, "lister")
    assert log(core, ns, "lister") == "['lister']\n"


# ---- lifecycle -------------------------------------------------------------------------------------------


def test_a_running_pod_logs_while_running_and_deletion_stops_it(
    sim: KubesimInstance, core: client.CoreV1Api, ns: str
) -> None:
    spec = pod(
        "sleeper",
        ["sh", "-c", "echo started; exec sleep 300"],
        terminationGracePeriodSeconds=5,
        restartPolicy="Always",
    )
    core.create_namespaced_pod(ns, spec)
    wait_for(lambda: core.read_namespaced_pod("sleeper", ns).status.phase == "Running", message="pod running")
    stream = core.read_namespaced_pod_log("sleeper", ns, follow=True, _preload_content=False)
    assert stream.readline() == b"started\n"

    raw = RawClient(sim)
    key = f"{ns}/sleeper/main"
    pid = wait_for(lambda: raw("GET", "/kubesim/v1/processes").json()["processes"].get(key), message="pid")
    assert Path(f"/proc/{pid}").exists()
    core.delete_namespaced_pod("sleeper", ns)
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), timeout=10, message="process gone")
    assert stream.read() == b""  # the followed log ends with the container
    stream.release_conn()
    assert key not in raw("GET", "/kubesim/v1/processes").json()["processes"]
    assert "SIGTERM sent" in sim.stdout.read_text()


def test_other_images_stay_simulated_and_a_missing_command_fails_to_start(
    sim: KubesimInstance, core: client.CoreV1Api, ns: str
) -> None:
    core.create_namespaced_pod(
        ns, pod("web", ["nginx", "-g", "daemon off;"], image="nginx:1.27", restartPolicy="Always")
    )
    core.create_namespaced_pod(ns, pod("typo", ["no-such-command", "--now"]))
    done = finished(core, ns, "typo")
    terminated = done.status.container_statuses[0].state.terminated
    assert (done.status.phase, terminated.exit_code, terminated.reason) == ("Failed", 128, "StartError")
    assert 'exec: "no-such-command": executable file not found in $PATH' in terminated.message
    wait_for(lambda: core.read_namespaced_pod("web", ns).status.phase == "Running", message="web running")
    assert "simulated container" in log(core, ns, "web")
    out = sim.stdout.read_text()
    assert f"pod {ns}/web container main is simulated (image nginx:1.27 does not match --run-images)" in out
    assert f"pod {ns}/typo container main runs for real (image busybox:1.36" in out


def test_logs_of_a_pod_not_started_yet_are_refused(core: client.CoreV1Api, ns: str) -> None:
    # A claim that does not exist keeps the pod Pending: its log is refused as a real server does.
    core.create_namespaced_pod(
        ns,
        pod(
            "waiting",
            ["true"],
            volumes=[volume("data", "missing")],
            container={"volumeMounts": [{"name": "data", "mountPath": "/data"}]},
        ),
    )
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod_log("waiting", ns)
    assert caught.value.status == 400


def test_rendered_volumes_init_containers_and_host_paths(sim: KubesimInstance, core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "program"}, "data": {"run.py": "print('ran')\n"}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "blob-1"}, "data": {"a.txt": "A"}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "blob-2"}, "binaryData": {"b.bin": "Qg=="}})
    script = (
        "import os, pathlib as p; print(os.getuid(), os.getgid(), sorted(os.getgroups())); "
        "exec(open('/program/run.py').read()); "
        "print(p.Path('/incoming/a.txt').read_text() + p.Path('/incoming/b.bin').read_text()); "
        "print(p.Path('/info/labels').read_text()); print(p.Path('/work/seed').read_text().strip()); "
        "print(sorted(os.listdir('/hostetc'))); print(p.Path('/sub/seed').read_text().strip())"
    )
    spec = pod(
        "sync",
        ["python3", "-c", script],
        image="python:3.12-slim",
        # As the DAG sync Job runs: Airflow's user 50000 in group 0, the volume group-owned by 0.
        securityContext={**RESTRICTED, "runAsUser": 50000, "runAsGroup": 0, "fsGroup": 0},
        initContainers=[
            {
                "name": "seed",
                "image": "busybox:1.36",
                "command": ["sh", "-c", "mkdir -p /work/sub && echo seeded > /work/seed && cp /work/seed /work/sub/"],
                "securityContext": {**RESTRICTED_CONTAINER, "runAsUser": 50000},
                "volumeMounts": [{"name": "work", "mountPath": "/work"}],
            }
        ],
        volumes=[
            {"name": "work", "emptyDir": {}},
            {"name": "program", "configMap": {"name": "program", "items": [{"key": "run.py", "path": "run.py"}]}},
            {
                "name": "incoming",
                "projected": {"sources": [{"configMap": {"name": "blob-1"}}, {"configMap": {"name": "blob-2"}}]},
            },
            {
                "name": "info",
                "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]},
            },
            {"name": "etc", "hostPath": {"path": "/etc", "type": "Directory"}},
        ],
        container={
            "securityContext": RESTRICTED_CONTAINER,
            "volumeMounts": [
                {"name": "work", "mountPath": "/work"},
                {"name": "work", "mountPath": "/sub", "subPath": "sub"},
                {"name": "program", "mountPath": "/program", "readOnly": True},
                {"name": "incoming", "mountPath": "/incoming", "readOnly": True},
                {"name": "info", "mountPath": "/info"},
                {"name": "etc", "mountPath": "/hostetc", "readOnly": True},
            ],
        },
    )
    core.create_namespaced_pod(ns, spec)
    assert finished(core, ns, "sync").status.phase == "Succeeded", log(core, ns, "sync")
    ids, ran, blobs, labels, seed, etc, sub = log(core, ns, "sync").splitlines()
    assert (ids, ran, blobs, labels, seed, sub) == ("50000 0 [0]", "ran", "AB", 'app="sync"', "seeded", "seeded")
    assert etc == "[]"  # /etc is outside the state dir: an empty per-pod stand-in, never the host's
    assert "hostPath /etc is outside the state dir" in sim.stdout.read_text()


def test_several_pods_run_at_once(core: client.CoreV1Api, ns: str) -> None:
    names = [f"p{i}" for i in range(4)]
    started = time.monotonic()
    for name in names:
        core.create_namespaced_pod(ns, pod(name, ["sh", "-c", f"sleep 1; echo {name}"]))
    for name in names:
        assert finished(core, ns, name).status.phase == "Succeeded"
        assert log(core, ns, name) == f"{name}\n"
    assert time.monotonic() - started < 3.5  # four 1-second sleeps overlapped


def test_shutdown_stops_running_containers(tmp_path: Path) -> None:
    sim = start_kubesim(tmp_path, "--run-pods", "--run-images", "alpine*")
    try:
        core = client.CoreV1Api(sim.api_client())
        core.create_namespaced_pod(
            "default", pod("real", ["sleep", "300"], image="alpine:3.20", restartPolicy="Always")
        )
        core.create_namespaced_pod("default", pod("sim", ["sleep", "300"], restartPolicy="Always"))
        raw = RawClient(sim)
        pid = wait_for(lambda: raw("GET", "/kubesim/v1/processes").json()["processes"].get("default/real/main"))
        assert "default/sim/main" not in raw("GET", "/kubesim/v1/processes").json()["processes"]
    finally:
        assert sim.stop() == 0
    assert not Path(f"/proc/{pid}").exists()
    out = sim.stdout.read_text()
    assert "pod default/sim container main is simulated (image busybox:1.36 does not match --run-images)" in out
    assert "stopped 1 container process(es) still running at shutdown" in out


@pytest.mark.parametrize(
    ("container", "env", "argv"),
    [
        ({"image": "busybox", "command": ["echo", "$(A)-$$(A)-$(B)"]}, {"A": "x"}, ["echo", "x-$(A)-$(B)"]),
        ({"image": "busybox", "args": ["echo", "hi"]}, {}, ["echo", "hi"]),
        ({"image": "busybox:1.36"}, {}, ["sh"]),
        ({"image": "docker.io/library/python:3.12"}, {}, ["python3"]),
        ({"image": "python:3.12", "command": ["python3"], "args": ["-c", "$(A)"]}, {"A": "1"}, ["python3", "-c", "1"]),
    ],
)
def test_commands_resolve_like_kubernetes(container: dict[str, Any], env: dict[str, str], argv: list[str]) -> None:
    assert container_argv(container, env) == argv


def test_default_images_include_registry_prefixed_names() -> None:
    from kubesim.runner import DEFAULT_IMAGES

    for image in ("busybox", "busybox:1.36", "docker.io/library/busybox:1.36", "alpine:3", "python:3.12-slim"):
        assert image_matches(image, DEFAULT_IMAGES), image
    for image in ("apache/airflow:3.3.2", "postgres:16", "nginx"):
        assert not image_matches(image, DEFAULT_IMAGES), image
