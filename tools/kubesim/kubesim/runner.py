"""`--run-pods`: containers whose image matches `--run-images` run for real, as local processes.

The pods controller (controllers/pods.py) decides when a container starts and what its status
says; this runner (its `Runner`) does what a kubelet and container runtime do between the two:

- resolve the container's environment (value, valueFrom secretKeyRef/configMapKeyRef/fieldRef/
  resourceFieldRef, envFrom, `$(VAR)` references) and command (command + args; with no image
  metadata a container without a command runs the image family's default shell or python);
- give every pod volume a host directory: a claim its bound PersistentVolume's directory
  `<state-dir>/volumes/<pv-name>/` (shared by every pod using the volume, kept across restarts
  with --state-dir); configMap, secret, downwardAPI and projected volumes (the service-account
  token among them: kubesim's own bearer token stands in) rendered as files; emptyDir a directory
  per pod; hostPath the host path only when it lies under the state dir (anything else would let
  a test pod touch the machine), a per-pod stand-in otherwise;
- fsGroup: volumes are group-owned by it with setgid directories and g+rwX (read-only ones g+r),
  as the kubelet's SetVolumeOwnership does, so non-root writers behave as on a real node;
- start the process through `kubesim.sandbox` (private mount namespace, overlay of the host's /
  as root, volumes bind-mounted, chroot, runAsUser/runAsGroup/groups), collect stdout+stderr as
  the pod log (pods/log, followable while it runs), report the exit code (signals as 128+n) and
  the termination message, and stop the process group on pod deletion (SIGTERM, SIGKILL after
  the grace period) and on kubesim shutdown.

Containers of other images (Airflow, postgres) go to the simulated runner, as without
--run-pods. kubesim's stdout says which containers ran for real and which were simulated.
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import json
import math
import os
import pwd
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import quantity
from .controllers.pods import ContainerExit, ExitCallback

if TYPE_CHECKING:
    from .controllers.pods import Runner
    from .store import Store

DEFAULT_IMAGES = ("busybox*", "alpine*", "python*", "*/busybox*", "*/alpine*", "*/python*")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_MODE = 0o644
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
SHUTDOWN_GRACE = 2.0
LOG_DRAIN_SECONDS = 2.0
MAX_TERMINATION_MESSAGE = 4096
FALLBACK_LOG_LINES = 80
FALLBACK_LOG_BYTES = 2048
# Keys of the store (rest.py / resources.py: "<group>/<plural>").
SECRETS, CONFIGMAPS, PVCS, NODES = "/secrets", "/configmaps", "/persistentvolumeclaims", "/nodes"


def say(message: str) -> None:
    """kubesim's stdout log (the banner and serving lines go there too)."""
    print(f"kubesim: {message}", flush=True)


class StartError(Exception):
    """The container cannot start; the message is what the kubelet/runtime would report."""


# ---- which images run -------------------------------------------------------------------------------------


def parse_patterns(text: str | None) -> tuple[str, ...]:
    if not text:
        return DEFAULT_IMAGES
    return tuple(p.strip() for p in text.split(",") if p.strip())


def image_matches(image: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(image, p) for p in patterns)


def default_command(image: str) -> list[str]:
    """The image's CMD, for a container with neither command nor args (no image metadata here)."""
    base = image.rsplit("/", 1)[-1]
    return ["python3"] if base.startswith("python") else ["sh"]


# ---- fields of the pod (downward API) ---------------------------------------------------------------------


def _labels_text(values: dict[str, str]) -> str:
    """A downward API file of labels/annotations: key="value" lines, sorted (values Go-quoted)."""
    return "\n".join(f"{k}={json.dumps(v)}" for k, v in sorted(values.items()))


def field_value(pod: dict[str, Any], path: str) -> str:
    """fieldRef: metadata.name/namespace/uid/labels/annotations (and ['key']), spec.*, status.*."""
    meta, spec, st = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    keyed = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if keyed:
        return str((meta.get(keyed.group(1)) or {}).get(keyed.group(2), ""))
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": st.get("podIP", ""),
        "status.hostIP": st.get("hostIP", ""),
        "status.podIPs": ",".join(i.get("ip", "") for i in st.get("podIPs") or ()),
        "status.hostIPs": ",".join(i.get("ip", "") for i in st.get("hostIPs") or ()),
    }
    if path in simple:
        return str(simple[path])
    if path in ("metadata.labels", "metadata.annotations"):
        return _labels_text(meta.get(path.split(".")[1]) or {})
    raise StartError(f"unsupported fieldRef path {path!r}")


def resource_value(pod: dict[str, Any], container: dict[str, Any], ref: dict[str, Any], node: Any) -> str:
    """resourceFieldRef: the container's limit (or request), else the node's allocatable; divided, rounded up."""
    name = ref.get("containerName") or container.get("name")
    target = next((c for c in (pod.get("spec") or {}).get("containers") or () if c.get("name") == name), container)
    kind, _, resource = str(ref.get("resource", "")).partition(".")
    value = ((target.get("resources") or {}).get(kind) or {}).get(resource)
    if value is None and kind == "requests":
        value = ((target.get("resources") or {}).get("limits") or {}).get(resource)
    if value is None:
        value = ((node or {}).get("status") or {}).get("allocatable", {}).get(resource, "0")
    divisor = quantity.value_of(ref.get("divisor") or "1") or Fraction(1)
    return str(math.ceil(quantity.value_of(value) / divisor))


# ---- environment and command ------------------------------------------------------------------------------

_REFERENCE = re.compile(r"\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: defined variables are replaced, $$ escapes, the rest stays."""

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _REFERENCE.sub(one, text)


def _raw(obj: dict[str, Any], key: str, secret: bool) -> bytes | None:
    """A key of a Secret (data, base64) or ConfigMap (data, binaryData) as bytes; None when absent."""
    if not secret and key in (obj.get("data") or {}):
        return str(obj["data"][key]).encode()
    encoded = (obj.get("data") if secret else obj.get("binaryData")) or {}
    return base64.b64decode(encoded[key]) if key in encoded else None


def _decoded(obj: dict[str, Any], key: str, secret: bool) -> str | None:
    raw = _raw(obj, key, secret)
    return raw.decode("utf-8", "replace") if raw is not None else None


def _all_keys(obj: dict[str, Any]) -> list[str]:
    return sorted({*(obj.get("data") or {}), *(obj.get("binaryData") or {})})


@dataclass
class Cluster:
    """What a container learns about the cluster: the API address and the objects it refers to."""

    store: Store
    host: str
    port: str
    token: str

    def get(self, key: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.store.get(key, namespace, name)


def kubernetes_env(cluster: Cluster) -> dict[str, str]:
    """The `kubernetes` Service's variables pointing at kubesim, so in-cluster config finds it."""
    address = f"tcp://{cluster.host}:{cluster.port}"
    return {
        "KUBERNETES_SERVICE_HOST": cluster.host,
        "KUBERNETES_SERVICE_PORT": cluster.port,
        "KUBERNETES_SERVICE_PORT_HTTPS": cluster.port,
        "KUBERNETES_PORT": address,
        f"KUBERNETES_PORT_{cluster.port}_TCP": address,
        f"KUBERNETES_PORT_{cluster.port}_TCP_PROTO": "tcp",
        f"KUBERNETES_PORT_{cluster.port}_TCP_PORT": cluster.port,
        f"KUBERNETES_PORT_{cluster.port}_TCP_ADDR": cluster.host,
    }


def _env_from(namespace: str, source: dict[str, Any], cluster: Cluster) -> dict[str, str]:
    ref = source.get("configMapRef") or source.get("secretRef") or {}
    key = CONFIGMAPS if source.get("configMapRef") else SECRETS
    obj = cluster.get(key, namespace, ref.get("name", ""))
    if obj is None:
        if ref.get("optional"):
            return {}
        raise StartError(f'{"configmap" if key == CONFIGMAPS else "secret"} "{ref.get("name")}" not found')
    prefix = source.get("prefix", "")
    return {prefix + k: _decoded(obj, k, key == SECRETS) or "" for k in _all_keys(obj)}


def _env_value(
    pod: dict[str, Any], container: dict[str, Any], var: dict[str, Any], env: dict[str, str], cluster: Cluster
) -> str | None:
    if "value" in var or "valueFrom" not in var:
        return expand(str(var.get("value", "")), env)
    source = var["valueFrom"]
    namespace = (pod.get("metadata") or {}).get("namespace", "")
    for ref_name, key, what in (("configMapKeyRef", CONFIGMAPS, "configmap"), ("secretKeyRef", SECRETS, "secret")):
        ref = source.get(ref_name)
        if ref is None:
            continue
        obj = cluster.get(key, namespace, ref.get("name", ""))
        value = _decoded(obj, ref.get("key", ""), key == SECRETS) if obj is not None else None
        if value is None and not ref.get("optional"):
            raise StartError(f'{what} "{ref.get("name")}" has no key {ref.get("key")!r}')
        return value
    if source.get("fieldRef"):
        return field_value(pod, source["fieldRef"].get("fieldPath", ""))
    if source.get("resourceFieldRef"):
        node = cluster.get(NODES, "", (pod.get("spec") or {}).get("nodeName", ""))
        return resource_value(pod, container, source["resourceFieldRef"], node)
    return ""


def container_env(pod: dict[str, Any], container: dict[str, Any], cluster: Cluster, home: str) -> dict[str, str]:
    """The process environment in the kubelet's order: image defaults, service variables, envFrom, env."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    env = {"PATH": DEFAULT_PATH, "HOSTNAME": spec.get("hostname") or meta.get("name", ""), "HOME": home}
    env.update(kubernetes_env(cluster))
    for source in container.get("envFrom") or ():
        env.update(_env_from(meta.get("namespace", ""), source, cluster))
    for var in container.get("env") or ():
        value = _env_value(pod, container, var, env, cluster)
        if value is not None:
            env[var["name"]] = value
    return env


def container_argv(container: dict[str, Any], env: dict[str, str]) -> list[str]:
    """command overrides the image's ENTRYPOINT, args its CMD; none of our images has an ENTRYPOINT."""
    command = [expand(str(a), env) for a in container.get("command") or ()]
    args = [expand(str(a), env) for a in container.get("args") or ()]
    if command:
        return command + args
    return args or default_command(container.get("image", ""))


@dataclass(frozen=True)
class Identity:
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str


def identity(pod: dict[str, Any], container: dict[str, Any]) -> Identity:
    """runAsUser/runAsGroup (container over pod), supplementary groups fsGroup + supplementalGroups."""
    pod_sc = (pod.get("spec") or {}).get("securityContext") or {}
    sc = container.get("securityContext") or {}
    uid = int(sc.get("runAsUser", pod_sc.get("runAsUser", 0)))
    gid = int(sc.get("runAsGroup", pod_sc.get("runAsGroup", 0)))
    if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) and uid == 0:
        pod_name = (pod.get("metadata") or {}).get("name", "")
        raise StartError(
            f'container has runAsNonRoot and image will run as root (pod: "{pod_name}", container: '
            f"{container.get('name')})"
        )
    groups = [g for g in (pod_sc.get("fsGroup"), *(pod_sc.get("supplementalGroups") or ())) if g is not None]
    try:
        home = pwd.getpwuid(uid).pw_dir
    except KeyError:
        home = "/"
    return Identity(uid, gid, tuple(dict.fromkeys(int(g) for g in groups)), home)


# ---- volumes ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostVolume:
    path: Path
    read_only: bool  # configMap, secret, downwardAPI, projected: always mounted read-only


Files = dict[str, tuple[bytes, int]]  # relative path -> (content, mode)


def set_volume_ownership(path: Path, fs_group: int, read_only: bool) -> None:
    """The kubelet's SetVolumeOwnership: group fsGroup, g+rw (g+r read-only), setgid + g+x on directories."""
    mask = 0o440 if read_only else 0o660

    def fix(item: Path) -> None:
        os.lchown(item, -1, fs_group)
        mode = item.lstat().st_mode
        if item.is_symlink():
            return
        extra = mask | 0o2110 if item.is_dir() else mask
        os.chmod(item, (mode & 0o7777) | extra)

    fix(path)
    for parent, dirs, files in os.walk(path):
        for name in dirs + files:
            fix(Path(parent, name))


class Volumes:
    """Host directories for pod volumes under the runner's root (the state dir or a temporary one)."""

    def __init__(self, root: Path, cluster: Cluster) -> None:
        self.root = root
        self.cluster = cluster

    def pv_dir(self, pv_name: str) -> Path:
        return self.root / "volumes" / pv_name

    def pod_dir(self, uid: str) -> Path:
        return self.root / "pods" / uid

    def prepare(self, pod: dict[str, Any]) -> dict[str, HostVolume]:
        """Every volume of the pod as a host path (rendered sources are re-rendered at each start)."""
        spec = pod.get("spec") or {}
        fs_group = (spec.get("securityContext") or {}).get("fsGroup")
        out: dict[str, HostVolume] = {}
        for volume in spec.get("volumes") or ():
            host = self._volume(pod, volume)
            if fs_group is not None and self._owned_here(host.path):
                set_volume_ownership(host.path, int(fs_group), host.read_only)
            out[volume["name"]] = host
        return out

    def _owned_here(self, path: Path) -> bool:
        """Only what lives under the runner's root gets its ownership changed, never a host path."""
        return path.resolve().is_relative_to(self.root.resolve())

    def _volume(self, pod: dict[str, Any], volume: dict[str, Any]) -> HostVolume:
        meta = pod.get("metadata") or {}
        here = self.pod_dir(meta.get("uid", "")) / "volumes" / volume["name"]
        if volume.get("persistentVolumeClaim"):
            return self._claim(meta.get("namespace", ""), volume["persistentVolumeClaim"])
        if volume.get("emptyDir") is not None:
            if not here.exists():
                here.mkdir(parents=True)
                here.chmod(0o777)  # the kubelet's emptyDir mode
            return HostVolume(here, False)
        if volume.get("hostPath"):
            return self._host_path(pod, volume, here)
        files = self._render(pod, volume)
        if files is None:
            raise StartError(f"volume {volume['name']!r}: kubesim --run-pods does not support this volume type")
        write_files(here, files)
        return HostVolume(here, True)

    def _claim(self, namespace: str, source: dict[str, Any]) -> HostVolume:
        claim = self.cluster.get(PVCS, namespace, source.get("claimName", ""))
        pv_name = ((claim or {}).get("spec") or {}).get("volumeName")
        if not pv_name:
            raise StartError(f'persistentvolumeclaim "{source.get("claimName")}" is not bound')
        path = self.pv_dir(pv_name)
        path.mkdir(parents=True, exist_ok=True)
        return HostVolume(path, bool(source.get("readOnly")))

    def _host_path(self, pod: dict[str, Any], volume: dict[str, Any], here: Path) -> HostVolume:
        source = volume["hostPath"]
        wanted = Path(source.get("path", "/"))
        if wanted.resolve().is_relative_to(self.root.resolve()):
            if source.get("type") in ("DirectoryOrCreate", "", None) and not wanted.exists():
                wanted.mkdir(parents=True)
            return HostVolume(wanted, False)
        meta = pod.get("metadata") or {}
        say(
            f"pod {meta.get('namespace')}/{meta.get('name')}: hostPath {wanted} is outside the state dir; "
            f"volume {volume['name']!r} gets a per-pod stand-in directory {here} instead"
        )
        if source.get("type") in ("File", "FileOrCreate"):
            here.parent.mkdir(parents=True, exist_ok=True)
            here.touch()
        else:
            here.mkdir(parents=True, exist_ok=True)
        return HostVolume(here, False)

    # rendered sources ----------------------------------------------------------------------------------
    def _render(self, pod: dict[str, Any], volume: dict[str, Any]) -> Files | None:
        namespace = (pod.get("metadata") or {}).get("namespace", "")
        if volume.get("configMap") is not None:
            source = volume["configMap"]
            return self._keys(namespace, CONFIGMAPS, source.get("name", ""), source, _mode(source))
        if volume.get("secret") is not None:
            source = volume["secret"]
            return self._keys(namespace, SECRETS, source.get("secretName", ""), source, _mode(source))
        if volume.get("downwardAPI") is not None:
            source = volume["downwardAPI"]
            return self._downward(pod, source.get("items") or (), _mode(source))
        if volume.get("projected") is not None:
            return self._projected(pod, volume["projected"])
        return None

    def _keys(self, namespace: str, key: str, name: str, source: dict[str, Any], mode: int) -> Files:
        obj = self.cluster.get(key, namespace, name)
        what = "configmap" if key == CONFIGMAPS else "secret"
        if obj is None:
            if source.get("optional"):
                return {}
            raise StartError(f'{what} "{name}" not found')
        items = source.get("items") or [{"key": k, "path": k} for k in _all_keys(obj)]
        files: Files = {}
        for item in items:
            raw = _raw(obj, item["key"], key == SECRETS)
            if raw is None:
                if source.get("optional"):
                    continue
                raise StartError(f"{what} references non-existent config key: {item['key']}")
            files[item["path"]] = (raw, int(item.get("mode", mode)))
        return files

    def _downward(self, pod: dict[str, Any], items: Any, mode: int) -> Files:
        files: Files = {}
        node = self.cluster.get(NODES, "", (pod.get("spec") or {}).get("nodeName", ""))
        containers = (pod.get("spec") or {}).get("containers") or [{}]
        for item in items:
            if item.get("fieldRef"):
                text = field_value(pod, item["fieldRef"].get("fieldPath", ""))
            else:
                text = resource_value(pod, containers[0], item.get("resourceFieldRef") or {}, node)
            files[item["path"]] = (text.encode(), int(item.get("mode", mode)))
        return files

    def _projected(self, pod: dict[str, Any], projected: dict[str, Any]) -> Files:
        namespace = (pod.get("metadata") or {}).get("namespace", "")
        mode = _mode(projected)
        files: Files = {}
        for source in projected.get("sources") or ():
            if source.get("configMap"):
                ref = source["configMap"]
                files.update(self._keys(namespace, CONFIGMAPS, ref.get("name", ""), ref, mode))
            elif source.get("secret"):
                ref = source["secret"]
                files.update(self._keys(namespace, SECRETS, ref.get("name", ""), ref, mode))
            elif source.get("downwardAPI"):
                files.update(self._downward(pod, source["downwardAPI"].get("items") or (), mode))
            elif source.get("serviceAccountToken"):
                # kubesim's bearer token is the only credential it accepts: it stands in for the bound token.
                token = source["serviceAccountToken"]
                files[token.get("path", "token")] = (self.cluster.token.encode(), int(token.get("mode", mode)))
        return files


def _mode(source: dict[str, Any]) -> int:
    return int(source.get("defaultMode", DEFAULT_MODE))


def write_files(directory: Path, files: Files) -> None:
    """Make the directory hold exactly `files`, in place: a container already running has the directory
    itself bind-mounted, so it must stay the same directory (paths stay inside: the API validated them)."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    wanted = {directory / relative for relative in files}
    for path in sorted(directory.rglob("*"), reverse=True):  # children before their parents
        if path not in wanted and not any(w.is_relative_to(path) for w in wanted):
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink()
    for relative, (content, mode) in files.items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(mode)


def container_mounts(
    container: dict[str, Any], volumes: dict[str, HostVolume], env: dict[str, str]
) -> list[dict[str, Any]]:
    """volumeMounts as (host source, container target, read-only); subPath(Expr) resolved inside the volume."""
    mounts = []
    for m in container.get("volumeMounts") or ():
        volume = volumes.get(m.get("name", ""))
        if volume is None:
            raise StartError(f"volumeMount {m.get('name')!r} names no volume of the pod")
        source = volume.path
        sub = m.get("subPath") or expand(m.get("subPathExpr", ""), env)
        if sub:
            source = volume.path / sub
            if not source.resolve().is_relative_to(volume.path.resolve()):
                raise StartError(f"subPath {sub!r} escapes volume {m.get('name')!r}")
            if not source.exists():
                source.mkdir(parents=True)  # the kubelet creates a missing subPath as a directory
        read_only = bool(m.get("readOnly")) or volume.read_only
        mounts.append({"source": str(source), "target": m["mountPath"], "readOnly": read_only})
    return mounts


# ---- processes ------------------------------------------------------------------------------------------


@dataclass
class Process:
    """One running container."""

    namespace: str
    pod: str
    uid: str
    container: str
    popen: subprocess.Popen[bytes]
    grace: float
    on_exit: ExitCallback
    termination_log: Path
    fallback_to_logs: bool
    stopped: threading.Event = field(default_factory=threading.Event)

    @property
    def label(self) -> str:
        return f"pod {self.namespace}/{self.pod} container {self.container}"


def exit_code(returncode: int) -> int:
    """A process killed by signal n exits 128+n, as the runtime reports (137 for SIGKILL)."""
    return 128 - returncode if returncode < 0 else returncode


def signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


@dataclass
class Launch:
    pod: dict[str, Any]
    container: dict[str, Any]
    init: bool
    on_exit: ExitCallback


class RealRunner:
    """The pods controller's `Runner`: real processes for matching images, the simulation for the rest."""

    def __init__(
        self,
        store: Store,
        logs: Any,
        fallback: Runner,
        patterns: tuple[str, ...],
        state_dir: str | None,
        address: Callable[[], str],
        token: str,
    ) -> None:
        self.store = store
        self.logs = logs  # rest.Api.logs (a LogBook)
        self.fallback = fallback
        self.patterns = patterns
        self._temporary = state_dir is None
        self.root = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="kubesim-run-"))
        self.address = address
        self.token = token
        self._lock = threading.Lock()
        self._running: dict[str, list[Process]] = {}
        self._stopped: set[str] = set()
        self._said: set[tuple[str, str]] = set()
        self._jobs: queue.Queue[Launch | None] = queue.Queue()
        # One long-lived thread starts every process: the container's PR_SET_PDEATHSIG follows the
        # thread that forked it, and a thread that outlives no container is the only safe parent.
        self._spawner = threading.Thread(target=self._spawn_loop, name="kubesim-runner", daemon=True)
        self._spawner.start()

    # ---- the Runner interface ----------------------------------------------------------------------------
    def start(self, pod: dict[str, Any], container: dict[str, Any], init: bool, on_exit: ExitCallback) -> None:
        meta = pod.get("metadata") or {}
        image = container.get("image", "")
        if not image_matches(image, self.patterns):
            self._say_once(meta, container["name"], f"is simulated (image {image} does not match --run-images)")
            self.fallback.start(pod, container, init, on_exit)
            return
        with self._lock:
            self._stopped.discard(meta.get("uid", ""))
        self._jobs.put(Launch(pod, container, init, on_exit))

    def stop(self, pod_uid: str) -> None:
        self.fallback.stop(pod_uid)
        with self._lock:
            self._stopped.add(pod_uid)
            processes = self._running.pop(pod_uid, [])
        if not processes and not (self.root / "pods" / pod_uid).exists():
            return  # a simulated pod: nothing of it here
        threading.Thread(
            target=self._terminate, args=(pod_uid, processes), name="kubesim-runner-stop", daemon=True
        ).start()

    def close(self) -> None:
        """kubesim is stopping: end every container (SIGTERM, SIGKILL after a short grace), drop temp state."""
        self._jobs.put(None)
        with self._lock:
            everything = [p for ps in self._running.values() for p in ps]
            self._running.clear()
        for p in everything:
            p.stopped.set()
            signal_group(p.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + SHUTDOWN_GRACE
        for p in everything:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            signal_group(p.popen.pid, signal.SIGKILL)
        if everything:
            say(f"stopped {len(everything)} container process(es) still running at shutdown")
        if self._temporary:
            shutil.rmtree(self.root, ignore_errors=True)

    def pids(self) -> dict[str, int]:
        """For tests and diagnostics: "ns/pod/container" -> pid of every running container."""
        with self._lock:
            return {f"{p.namespace}/{p.pod}/{p.container}": p.popen.pid for ps in self._running.values() for p in ps}

    # ---- launching ---------------------------------------------------------------------------------------
    def _say_once(self, meta: dict[str, Any], container: str, text: str) -> None:
        key = (meta.get("uid", ""), container)
        if key not in self._said:
            self._said.add(key)
            say(f"pod {meta.get('namespace')}/{meta.get('name')} container {container} {text}")

    def _spawn_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            meta = job.pod.get("metadata") or {}
            with self._lock:
                if meta.get("uid", "") in self._stopped:
                    continue
            try:
                self._launch(job)
            except StartError as e:
                self._start_failed(job, str(e))
            except Exception as e:  # a bug here must not kill the thread that starts every container
                import traceback

                traceback.print_exc(file=sys.stderr)
                self._start_failed(job, f"kubesim runner: {e}")

    def _start_failed(self, job: Launch, message: str) -> None:
        meta = job.pod.get("metadata") or {}
        where = f"pod {meta.get('namespace')}/{meta.get('name')} container {job.container['name']}"
        say(f"{where} failed to start: {message}")
        job.on_exit(ContainerExit(128, "StartError", message))

    def _cluster(self) -> Cluster:
        host, _, port = self.address().rpartition(":")
        return Cluster(self.store, host or "127.0.0.1", port, self.token)

    def _launch(self, job: Launch) -> None:
        pod, container = job.pod, job.container
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        cluster = self._cluster()
        who = identity(pod, container)
        env = container_env(pod, container, cluster, who.home)
        argv = container_argv(container, env)
        volumes = Volumes(self.root, cluster).prepare(pod)
        mounts = container_mounts(container, volumes, env)
        scratch = Path(tempfile.mkdtemp(prefix=f"{container['name']}-", dir=self._run_dir(meta.get("uid", ""))))
        termination_log = scratch / "termination-log"
        termination_log.touch()
        termination_log.chmod(0o666)  # the container's user writes it, whoever that is
        read_err, write_err = os.pipe()
        spec_file = scratch / "spec.json"
        spec_file.touch(mode=0o600)
        spec_file.write_text(
            json.dumps(
                {
                    "scratch": str(scratch),
                    "hostname": spec.get("hostname") or meta.get("name", ""),
                    "mounts": mounts,
                    "terminationLog": str(termination_log),
                    "terminationPath": container.get("terminationMessagePath") or "/dev/termination-log",
                    "cwd": container.get("workingDir") or "/",
                    "uid": who.uid,
                    "gid": who.gid,
                    "groups": list(who.groups),
                    "argv": argv,
                    "env": env,
                    "parent": os.getpid(),
                    "errorFd": write_err,
                }
            )
        )
        try:
            popen = subprocess.Popen(
                [sys.executable, "-m", "kubesim.sandbox", str(spec_file)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(write_err,),
                start_new_session=True,  # its own process group: deletion signals all of the container
                cwd="/",
            )
        finally:
            os.close(write_err)
        grace = float(spec.get("terminationGracePeriodSeconds", 30))
        process = Process(
            meta.get("namespace", ""),
            meta.get("name", ""),
            meta.get("uid", ""),
            container["name"],
            popen,
            grace,
            job.on_exit,
            termination_log,
            container.get("terminationMessagePolicy") == "FallbackToLogsOnError",
        )
        with self._lock:
            self._running.setdefault(process.uid, []).append(process)
        say(f"{process.label} runs for real (image {container.get('image')}, pid {popen.pid}): {json.dumps(argv)}")
        pump = threading.Thread(target=self._pump, args=(process,), name="kubesim-runner-log", daemon=True)
        pump.start()
        threading.Thread(
            target=self._wait, args=(process, pump, read_err), name="kubesim-runner-wait", daemon=True
        ).start()

    def _run_dir(self, uid: str) -> Path:
        path = self.root / "pods" / uid / "run"
        path.mkdir(parents=True, exist_ok=True)
        return path

    # ---- a running container ---------------------------------------------------------------------------
    def _pump(self, process: Process) -> None:
        """stdout and stderr (one pipe, so interleaved as written) into the pod log, line by line."""
        stream = process.popen.stdout
        assert stream is not None
        for line in iter(stream.readline, b""):
            self.logs.append(process.namespace, process.pod, process.container, line.decode("utf-8", "replace"))
        stream.close()

    def _wait(self, process: Process, pump: threading.Thread, read_err: int) -> None:
        with os.fdopen(read_err, "rb") as errors:
            start_error = errors.read().decode("utf-8", "replace").strip()
        returncode = process.popen.wait()
        # The container is its process group: what it left running dies with it, as in a container.
        signal_group(process.popen.pid, signal.SIGKILL)
        pump.join(LOG_DRAIN_SECONDS)  # its last lines are in the log before its status says terminated
        with self._lock:
            siblings = self._running.get(process.uid, [])
            if process in siblings:
                siblings.remove(process)
        if process.stopped.is_set():
            return
        if start_error:
            result = ContainerExit(128, "StartError", start_error)
        else:
            result = ContainerExit(exit_code(returncode), "", self._termination_message(process, returncode))
        say(f"{process.label} exited with {result.exit_code} ({result.final_reason})")
        process.on_exit(result)

    def _termination_message(self, process: Process, returncode: int) -> str:
        with contextlib.suppress(OSError):
            text = process.termination_log.read_bytes()[:MAX_TERMINATION_MESSAGE].decode("utf-8", "replace")
            if text:
                return text
        if process.fallback_to_logs and returncode != 0:
            lines = [t for _, t in self.logs.lines(process.namespace, process.pod, process.container)]
            return "\n".join(lines[-FALLBACK_LOG_LINES:])[-FALLBACK_LOG_BYTES:]
        return ""

    def _terminate(self, uid: str, processes: list[Process]) -> None:
        """Pod deleted (or finished): SIGTERM, SIGKILL after the grace period, then drop the pod's directory."""
        for p in processes:
            p.stopped.set()
            signal_group(p.popen.pid, signal.SIGTERM)
            say(f"{p.label}: pod stopped, SIGTERM sent to process group {p.popen.pid}")
        deadline = time.monotonic() + max((p.grace for p in processes), default=0.0)
        for p in processes:
            try:
                p.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{p.label}: still running after {p.grace:g}s grace period, SIGKILL")
            signal_group(p.popen.pid, signal.SIGKILL)
        with self._lock:
            if uid in self._running:
                return  # started again meanwhile: keep its directory
        shutil.rmtree(self.root / "pods" / uid, ignore_errors=True)
