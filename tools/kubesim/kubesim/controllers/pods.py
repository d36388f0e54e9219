"""Pods: the kubelet of each simulated node (status, containers, events, logs).

What the kubelet reports (pkg/kubelet/kubelet_pods.go generateAPIPodStatus and the container
runtime manager), for pods the scheduler (scheduler.py) bound to a simulated node:
- it waits for the pod's claims to be bound and its configMap/secret volumes to exist (FailedMount),
  and refuses containers whose env names a missing ConfigMap/Secret (CreateContainerConfigError);
- init containers run one by one, then the containers; conditions PodReadyToStartContainers,
  Initialized, ContainersReady, Ready, PodScheduled; hostIP/podIP, startTime, containerStatuses;
  events Pulled, Created, Started, Killing, BackOff;
- a container is Ready once it has run for its readiness delay (`--delays` "ready") and the
  readiness probes that simulations register (Portworx) agree;
- a pod being deleted (deletionTimestamp and a grace period, rest.py) has its containers stopped
  (Killing events, `Runner.stop`), its status terminated, and is then deleted with grace period 0
  (the kubelet's status manager): with no real process it is gone within milliseconds;
- containers are run by a `Runner`. The default one simulates: it writes one log line and, for a
  container meant to finish (init containers; restartPolicy Never or OnFailure), exits 0 after the
  "run" delay. Part 3's runner reports real exit codes and logs through the same interface.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..selectors import label_selector_from_dict
from ..store import Event, Obj, clone
from .base import (
    CONFIGMAPS,
    PODS,
    PVCS,
    REPLICASETS,
    SECRETS,
    Context,
    Controller,
    Key,
    controller_of,
    controller_ref,
    deleting,
    meta,
    now_rfc3339,
    parse_time,
    set_condition,
    spec,
    status,
)
from .events import NORMAL, WARNING
from .nodes import SimNode
from .scheduler import claim_names

KUBELET = "kubelet"
MOUNT_RETRY = 10.0
CRASH_BACKOFF_START = 10.0
CRASH_BACKOFF_MAX = 300.0
TERMINAL = ("Succeeded", "Failed")


# ---- the runner interface ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ContainerExit:
    """How a container ended: what the kubelet puts in state.terminated."""

    exit_code: int
    reason: str = ""  # "" -> Completed for 0, Error otherwise
    message: str = ""

    @property
    def final_reason(self) -> str:
        return self.reason or ("Completed" if self.exit_code == 0 else "Error")


ExitCallback = Callable[[ContainerExit], None]


class Runner(Protocol):
    """Runs a pod's containers. `start` must not block; `on_exit` may be called from any thread."""

    def start(self, pod: Obj, container: dict[str, Any], init: bool, on_exit: ExitCallback) -> None: ...

    def stop(self, pod_uid: str) -> None: ...


def completes(pod: Obj, init: bool) -> bool:
    """Whether a container is meant to finish: init containers and pods that do not restart forever."""
    return init or spec(pod).get("restartPolicy", "Always") != "Always"


class SimulatedRunner:
    """The default runner: nothing runs; one log line, and success after the "run" delay."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._cancelled: set[str] = set()

    def start(self, pod: Obj, container: dict[str, Any], init: bool, on_exit: ExitCallback) -> None:
        m = meta(pod)
        self._cancelled.discard(m["uid"])
        self.ctx.api.logs.append(
            m.get("namespace") or "",
            m["name"],
            container["name"],
            f"kubesim: simulated container {container['name']} (image {container.get('image', '')}) started; "
            "this is a simulation, no process runs\n",
        )
        if not completes(pod, init):
            return
        delay = self.ctx.delays.lookup("run", owner_chain(self.ctx, pod))
        uid = m["uid"]

        def finish() -> None:
            if uid not in self._cancelled:
                on_exit(ContainerExit(0))

        if delay > 0:
            self.ctx.manager.call_later(delay, finish)
        else:
            finish()

    def stop(self, pod_uid: str) -> None:
        self._cancelled.add(pod_uid)


# ---- readiness probes registered by simulations ---------------------------------------------------------

Probe = Callable[[Obj, str], "bool | None"]  # (pod, container name) -> ready? None: no opinion


def probe_ready(ctx: Context, pod: Obj, container: str) -> bool:
    for probe in ctx.services.get("probes", []):
        verdict = probe(pod, container)
        if verdict is not None:
            return verdict
    return True


# ---- owners, for delays ---------------------------------------------------------------------------------


def owner_chain(ctx: Context, obj: Obj) -> list[tuple[str, str]]:
    """(kind, name) of the object, then of its controller, its controller's controller, ..."""
    refs = [(obj.get("kind") or "Pod", meta(obj).get("name", ""))]
    ns = meta(obj).get("namespace") or ""
    current = obj
    for _ in range(3):
        ref = controller_of(current)
        if ref is None:
            break
        refs.append((ref.get("kind", ""), ref.get("name", "")))
        if ref.get("kind") != "ReplicaSet":
            break
        owner = ctx.client.get(REPLICASETS, ns, ref.get("name", ""))
        if owner is None:
            break
        current = owner
    return refs


# ---- images and ids ---------------------------------------------------------------------------------------


def normalize_image(image: str) -> str:
    """What the container runtime reports as the image: docker.io/library/nginx:latest for "nginx"."""
    name = image
    first = name.split("/", 1)[0]
    if "/" not in name or ("." not in first and ":" not in first and first != "localhost"):
        name = ("docker.io/library/" if "/" not in name else "docker.io/") + name
    last = name.rsplit("/", 1)[-1]
    if "@" not in last and ":" not in last:
        name += ":latest"
    return name


def image_id(image: str) -> str:
    normalized = normalize_image(image)
    repo = normalized.split("@", 1)[0]
    repo = repo.rsplit(":", 1)[0] if ":" in repo.rsplit("/", 1)[-1] else repo
    return f"{repo}@sha256:{hashlib.sha256(normalized.encode()).hexdigest()}"


def container_id(pod_uid: str, name: str, restarts: int) -> str:
    return "containerd://" + hashlib.sha256(f"{pod_uid}/{name}/{restarts}".encode()).hexdigest()


# ---- the controller -----------------------------------------------------------------------------------------


class PodController(Controller):
    """The kubelet of every simulated node."""

    name = "pods"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.runner: Runner = ctx.services.get("runner") or SimulatedRunner(ctx)
        ctx.services["runner"] = self.runner
        self.nodes: list[SimNode] = ctx.settings["nodes"]
        self._exits: dict[tuple[str, str], ContainerExit] = {}
        self._started: set[tuple[str, str, int]] = set()
        # When each container started (startedAt has whole seconds only; readiness delays need better).
        self._start_times: dict[tuple[str, str, int], float] = {}
        self._gone: dict[tuple[str, str], Obj] = {}
        self._next_ip: dict[str, int] = {}
        # Side effects of one kubelet pass, applied once its status write succeeded.
        self._launches: list[tuple[Obj, dict[str, Any], bool, int]] = []
        self._consumed: list[tuple[str, str]] = []

    # ---- events -> keys ------------------------------------------------------------------------
    def keys_for(self, event: Event) -> list[Key]:
        m = meta(event.obj)
        ns = m.get("namespace") or ""
        if event.key == PODS:
            if event.type == "DELETED":
                self._gone[(ns, m["name"])] = event.obj
            return [(ns, m["name"])]
        if event.key == PVCS or (event.key in (CONFIGMAPS, SECRETS) and event.type == "ADDED"):
            return self._waiting_pods(ns, m["name"] if event.key == PVCS else None)
        return []

    def _waiting_pods(self, ns: str, claim: str | None) -> list[Key]:
        """Pods that may be waiting on a claim (or on a ConfigMap/Secret) in `ns` (store lock held)."""
        keys = []
        for pod in self.client.list(PODS, ns):
            if status(pod).get("phase", "Pending") != "Pending":
                continue
            if claim is None or claim in claim_names(pod):
                keys.append((ns, meta(pod)["name"]))
        return keys

    def resync_keys(self) -> list[Key]:
        return [
            (meta(p)["namespace"], meta(p)["name"])
            for p in self.client.list(PODS)
            if status(p).get("phase") not in TERMINAL
        ]

    # ---- reconcile ---------------------------------------------------------------------------------
    def reconcile(self, key: Key) -> float | None:
        ns, name = key
        pod = self.client.get(PODS, ns, name)
        gone = self._gone.pop((ns, name), None)
        if gone is not None and (pod is None or meta(pod)["uid"] != meta(gone)["uid"]):
            self._forget(gone, killed=True)
        if pod is None:
            return None
        if not self._mine(pod):
            return None  # unscheduled (the scheduler's), or bound to a node that does not exist: no kubelet
        if deleting(pod):
            return self._terminate(pod)
        if status(pod).get("phase") in TERMINAL:
            self._forget(pod, killed=False)
            return None
        return self._kubelet(pod)

    def _mine(self, pod: Obj) -> bool:
        """Whether a simulated node's kubelet runs this pod."""
        node = spec(pod).get("nodeName")
        return bool(node) and any(n.name == node for n in self.nodes)

    def _forget(self, pod: Obj, killed: bool) -> None:
        uid = meta(pod).get("uid", "")
        self.runner.stop(uid)
        if killed and spec(pod).get("nodeName"):
            for s in status(pod).get("containerStatuses") or ():
                if "running" in (s.get("state") or {}):
                    self._container_event(pod, s["name"], NORMAL, "Killing", f"Stopping container {s['name']}")
        self._started = {k for k in self._started if k[0] != uid}
        self._start_times = {k: v for k, v in self._start_times.items() if k[0] != uid}
        self._exits = {k: v for k, v in self._exits.items() if k[0] != uid}

    # ---- kubelet -------------------------------------------------------------------------------------
    def _kubelet(self, pod: Obj) -> float | None:
        st = clone(status(pod))
        if not st.get("startTime"):
            blocked = self._blocked(pod)
            if blocked is not None:
                return blocked
            self._admit(pod, st)
        waits: list[float] = []
        events: list[tuple[str, str, str, str]] = []
        self._launches, self._consumed = [], []
        inits_done = self._run_init_containers(pod, st, events, waits)
        if inits_done:
            self._run_containers(pod, st, events, waits)
        self._finish_status(pod, st, inits_done)
        if self.client.minor >= 34 and meta(pod).get("generation"):
            st["observedGeneration"] = meta(pod)["generation"]  # PodObservedGenerationTracking (beta in 1.34)
        if st != status(pod):
            updated = clone(pod)
            updated["status"] = st
            written = self.client.update_status(updated)
            pod = {**pod, "metadata": written["metadata"], "status": written["status"]}
        for key in self._consumed:
            self._exits.pop(key, None)
        for _, container, init, restarts in self._launches:
            self._launch(pod, container, init, restarts)
        for container, kind, reason, message in events:
            self._container_event(pod, container, kind, reason, message)
        return min(waits) if waits else None

    def _blocked(self, pod: Obj) -> float | None:
        """Volumes the kubelet cannot mount yet: unbound claims wait, missing sources are reported."""
        ns = meta(pod)["namespace"]
        for claim_name in claim_names(pod):
            claim = self.client.get(PVCS, ns, claim_name)
            if claim is None or status(claim).get("phase") != "Bound":
                return MOUNT_RETRY
        for volume in spec(pod).get("volumes") or ():
            missing = self._missing_source(ns, volume)
            if missing:
                self.ctx.recorder.event(
                    pod,
                    WARNING,
                    "FailedMount",
                    f'MountVolume.SetUp failed for volume "{volume.get("name")}" : {missing}',
                    KUBELET,
                    host=spec(pod)["nodeName"],
                )
                return MOUNT_RETRY
        return None

    def _missing_source(self, ns: str, volume: dict[str, Any]) -> str | None:
        sources: list[tuple[str, dict[str, Any]]] = []
        if volume.get("configMap"):
            sources.append(("configmap", volume["configMap"]))
        if volume.get("secret"):
            sources.append(("secret", {**volume["secret"], "name": volume["secret"].get("secretName")}))
        for projected in (volume.get("projected") or {}).get("sources") or ():
            if projected.get("configMap"):
                sources.append(("configmap", projected["configMap"]))
            if projected.get("secret"):
                sources.append(("secret", projected["secret"]))
        for kind, source in sources:
            if source.get("optional"):
                continue
            key = CONFIGMAPS if kind == "configmap" else SECRETS
            if self.client.get(key, ns, source.get("name") or "") is None:
                return f'{kind} "{source.get("name")}" not found'
        return None

    def _config_error(self, pod: Obj, container: dict[str, Any]) -> str | None:
        """CreateContainerConfigError: env/envFrom naming a missing ConfigMap or Secret (not optional)."""
        ns = meta(pod)["namespace"]
        refs: list[tuple[str, dict[str, Any]]] = []
        for env in container.get("env") or ():
            source = env.get("valueFrom") or {}
            if source.get("configMapKeyRef"):
                refs.append(("configmap", source["configMapKeyRef"]))
            if source.get("secretKeyRef"):
                refs.append(("secret", source["secretKeyRef"]))
        for env_from in container.get("envFrom") or ():
            if env_from.get("configMapRef"):
                refs.append(("configmap", {**env_from["configMapRef"], "key": None}))
            if env_from.get("secretRef"):
                refs.append(("secret", {**env_from["secretRef"], "key": None}))
        for kind, ref in refs:
            if ref.get("optional"):
                continue
            obj = self.client.get(CONFIGMAPS if kind == "configmap" else SECRETS, ns, ref.get("name") or "")
            if obj is None:
                return f'{kind} "{ref.get("name")}" not found'
            key = ref.get("key")
            if key and key not in (obj.get("data") or {}) and key not in (obj.get("binaryData") or {}):
                what = "ConfigMap" if kind == "configmap" else "Secret"
                return f"couldn't find key {key} in {what} {ns}/{ref.get('name')}"
        return None

    def _admit(self, pod: Obj, st: dict[str, Any]) -> None:
        """The pod is accepted on its node: IPs, start time, sandbox ready, containers waiting."""
        node = next(n for n in self.nodes if n.name == spec(pod)["nodeName"])
        pod_ip = self._allocate_ip(pod, node)
        st.update(
            phase="Pending",
            hostIP=node.internal_ip,
            hostIPs=[{"ip": node.internal_ip}],
            podIP=pod_ip,
            podIPs=[{"ip": pod_ip}],
            startTime=now_rfc3339(),
        )
        if spec(pod).get("hostNetwork"):
            st["podIP"], st["podIPs"] = node.internal_ip, [{"ip": node.internal_ip}]
        conditions = list(st.get("conditions") or [])
        if self.client.minor >= 29:
            conditions = set_condition(conditions, "PodReadyToStartContainers", "True", probe_time=True)
        st["conditions"] = set_condition(conditions, "PodScheduled", "True", probe_time=True)
        inits = spec(pod).get("initContainers") or []
        if inits:
            st["initContainerStatuses"] = [
                self._waiting(c, "PodInitializing" if i else "") for i, c in enumerate(inits)
            ]
        st["containerStatuses"] = [
            self._waiting(c, "PodInitializing" if inits else "ContainerCreating")
            for c in spec(pod).get("containers") or []
        ]

    def _allocate_ip(self, pod: Obj, node: SimNode) -> str:
        used = {status(p).get("podIP") for p in self.client.list(PODS) if spec(p).get("nodeName") == node.name}
        start = self._next_ip.get(node.name, 2)
        for offset in range(253):
            host = 2 + (start - 2 + offset) % 253
            ip = f"10.244.{node.index}.{host}"
            if ip not in used:
                self._next_ip[node.name] = host + 1
                return ip
        return f"10.244.{node.index}.254"

    @staticmethod
    def _waiting(container: dict[str, Any], reason: str) -> dict[str, Any]:
        state: dict[str, Any] = {"waiting": {"reason": reason}} if reason else {"waiting": {}}
        return {
            "name": container["name"],
            "state": state,
            "lastState": {},
            "ready": False,
            "restartCount": 0,
            "image": container.get("image", ""),
            "imageID": "",
            "started": False,
        }

    # containers -----------------------------------------------------------------------------------
    def _run_init_containers(self, pod: Obj, st: dict[str, Any], events: list, waits: list[float]) -> bool:
        inits = spec(pod).get("initContainers") or []
        statuses = st.get("initContainerStatuses") or []
        for container, cs in zip(inits, statuses, strict=False):
            state = cs.get("state") or {}
            terminated = state.get("terminated")
            if terminated and terminated.get("exitCode") == 0:
                continue
            if container.get("restartPolicy") == "Always" and cs.get("started"):
                continue  # a sidecar: running for the pod's lifetime
            self._step(pod, container, cs, True, events, waits)
            st["phase"] = "Failed" if self._init_failed(pod, cs) else st.get("phase", "Pending")
            return False
        return True

    def _init_failed(self, pod: Obj, cs: dict[str, Any]) -> bool:
        terminated = (cs.get("state") or {}).get("terminated")
        return bool(terminated and terminated.get("exitCode") != 0 and spec(pod).get("restartPolicy") == "Never")

    def _run_containers(self, pod: Obj, st: dict[str, Any], events: list, waits: list[float]) -> None:
        statuses = st.get("containerStatuses") or []
        for container, cs in zip(spec(pod).get("containers") or [], statuses, strict=False):
            self._step(pod, container, cs, False, events, waits)

    def _step(
        self, pod: Obj, container: dict[str, Any], cs: dict[str, Any], init: bool, events: list, waits: list[float]
    ) -> None:
        """Move one container along: waiting -> running -> terminated (or restarted)."""
        uid, name = meta(pod)["uid"], container["name"]
        state = cs.get("state") or {}
        restarts = cs.get("restartCount", 0)
        if "waiting" in state:
            due = self._backoff_due(cs)
            if due is not None:
                waits.append(due)
                return
            pull = self._pull_failure(pod, container, cs)
            if pull is not None:
                events.extend(pull.events)
                waits.append(pull.retry)
                return
            error = self._config_error(pod, container)
            if error:
                cs["state"] = {"waiting": {"reason": "CreateContainerConfigError", "message": error}}
                events.append((name, WARNING, "Failed", f"Error: {error}"))
                waits.append(MOUNT_RETRY)
                return
            self._start(pod, container, cs, init, events)
            return
        if "running" in state:
            if (uid, name, restarts) not in self._started:
                # A restarted kubesim resumes the containers its status says are running.
                self._launches.append((pod, container, init, restarts))
                return
            exit_ = self._exits.get((uid, name))
            if exit_ is not None:
                self._consumed.append((uid, name))
                self._terminated(pod, container, cs, exit_, init, events, waits)
            elif not init:
                self._readiness(pod, container, cs, waits)

    def _pull_failure(self, pod: Obj, container: dict[str, Any], cs: dict[str, Any]) -> Any:
        """An image pull that fails (part 3's faults decide; they set the waiting state and events)."""
        faults = self.ctx.services.get("faults")
        return faults.image_pull_failure(pod, container, cs) if faults is not None else None

    def _start(self, pod: Obj, container: dict[str, Any], cs: dict[str, Any], init: bool, events: list) -> None:
        name, image = container["name"], container.get("image", "")
        restarts = cs.get("restartCount", 0)
        if container.get("imagePullPolicy") == "Always":
            events.append((name, NORMAL, "Pulling", f'Pulling image "{image}"'))
            events.append(
                (
                    name,
                    NORMAL,
                    "Pulled",
                    f'Successfully pulled image "{image}" in 0s (0s including waiting). Image size: 0 bytes.',
                )
            )
        elif restarts == 0:
            events.append((name, NORMAL, "Pulled", f'Container image "{image}" already present on machine'))
        created = f"Created container: {name}" if self.client.minor >= 32 else f"Created container {name}"
        events.append((name, NORMAL, "Created", created))
        events.append((name, NORMAL, "Started", f"Started container {name}"))
        self._start_times[(meta(pod)["uid"], name, restarts)] = time.time()
        cs.update(
            state={"running": {"startedAt": now_rfc3339()}},
            ready=False,
            started=True,
            image=normalize_image(image),
            imageID=image_id(image),
            containerID=container_id(meta(pod)["uid"], name, restarts),
        )
        self._launches.append((pod, container, init, restarts))

    def _launch(self, pod: Obj, container: dict[str, Any], init: bool, restarts: int) -> None:
        uid, ns, pod_name, name = meta(pod)["uid"], meta(pod)["namespace"], meta(pod)["name"], container["name"]
        self._started.add((uid, name, restarts))

        def on_exit(result: ContainerExit) -> None:
            # Any thread: record and wake the pod's reconcile (the worker applies it).
            self._exits[(uid, name)] = result
            self.enqueue((ns, pod_name))

        self.runner.start(pod, container, init, on_exit)

    def _terminated(
        self,
        pod: Obj,
        container: dict[str, Any],
        cs: dict[str, Any],
        result: ContainerExit,
        init: bool,
        events: list,
        waits: list[float],
    ) -> None:
        running = (cs.get("state") or {}).get("running") or {}
        terminated: dict[str, Any] = {
            "exitCode": result.exit_code,
            "reason": result.final_reason,
            "startedAt": running.get("startedAt") or now_rfc3339(),
            "finishedAt": now_rfc3339(),
            "containerID": cs.get("containerID", ""),
        }
        if result.message:
            terminated["message"] = result.message
        policy = spec(pod).get("restartPolicy", "Always")
        restart = (policy == "Always" and not init) or (policy in ("Always", "OnFailure") and result.exit_code != 0)
        cs.update(ready=False, started=False)
        if not restart:
            cs["state"] = {"terminated": terminated}
            return
        # The kubelet restarts the container after a back-off (10 s doubling to 5 min): CrashLoopBackOff.
        delay = min(CRASH_BACKOFF_START * 2 ** cs.get("restartCount", 0), CRASH_BACKOFF_MAX)
        m = meta(pod)
        cs.update(lastState={"terminated": terminated}, restartCount=cs.get("restartCount", 0) + 1)
        cs["state"] = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": (
                    f"back-off {int(delay)}s restarting failed container={container['name']} pod={m['name']}_"
                    f"{m['namespace']}({m['uid']})"
                ),
            }
        }
        events.append(
            (
                container["name"],
                WARNING,
                "BackOff",
                f"Back-off restarting failed container "
                f"{container['name']} in pod {m['name']}_{m['namespace']}({m['uid']})",
            )
        )
        waits.append(delay)

    def _backoff_due(self, cs: dict[str, Any]) -> float | None:
        """Seconds until a crash-looping container may start again (None: it may start now)."""
        if ((cs.get("state") or {}).get("waiting") or {}).get("reason") != "CrashLoopBackOff":
            return None
        finished = parse_time(((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))
        delay = min(CRASH_BACKOFF_START * 2 ** max(cs.get("restartCount", 1) - 1, 0), CRASH_BACKOFF_MAX)
        left = (finished or 0) + delay - time.time()
        return left if left > 0 else None

    def _readiness(self, pod: Obj, container: dict[str, Any], cs: dict[str, Any], waits: list[float]) -> None:
        started = (
            self._start_times.get((meta(pod)["uid"], container["name"], cs.get("restartCount", 0)))
            or parse_time(((cs.get("state") or {}).get("running") or {}).get("startedAt"))
            or time.time()
        )
        delay = self.ctx.delays.lookup("ready", owner_chain(self.ctx, pod))
        left = started + delay - time.time()
        if left > 0:
            cs["ready"] = False
            waits.append(left)
            return
        cs["ready"] = probe_ready(self.ctx, pod, container["name"])

    # pod status -------------------------------------------------------------------------------------
    def _finish_status(self, pod: Obj, st: dict[str, Any], inits_done: bool) -> None:
        statuses = st.get("containerStatuses") or []
        conditions = list(st.get("conditions") or [])
        inits = [
            c["name"]
            for c, s in zip(spec(pod).get("initContainers") or [], st.get("initContainerStatuses") or [], strict=False)
            if not (
                ((s.get("state") or {}).get("terminated") or {}).get("exitCode") == 0
                or (c.get("restartPolicy") == "Always" and s.get("started"))
            )
        ]
        if inits:
            conditions = set_condition(
                conditions,
                "Initialized",
                "False",
                "ContainersNotInitialized",
                f"containers with incomplete status: [{' '.join(inits)}]",
                probe_time=True,
            )
        else:
            conditions = set_condition(conditions, "Initialized", "True", probe_time=True)
        phase = st.get("phase", "Pending")
        if phase != "Failed" and inits_done and statuses:
            phase = self._phase(pod, statuses)
        st["phase"] = phase
        completed = phase in TERMINAL
        unready = [s["name"] for s in statuses if not s.get("ready")]
        gates = [g.get("conditionType") for g in spec(pod).get("readinessGates") or ()]
        gate_missing = [
            g for g in gates if not any(c.get("type") == g and c.get("status") == "True" for c in conditions)
        ]
        if completed:
            for kind in ("ContainersReady", "Ready"):
                conditions = set_condition(conditions, kind, "False", "PodCompleted", probe_time=True)
            if self.client.minor >= 29:
                conditions = set_condition(conditions, "PodReadyToStartContainers", "False", probe_time=True)
        elif unready:
            message = f"containers with unready status: [{' '.join(unready)}]"
            reason = "ContainersNotReady" if inits_done else "ContainersNotInitialized"
            if not inits_done:
                message = f"containers with incomplete status: [{' '.join(inits)}]"
            conditions = set_condition(conditions, "ContainersReady", "False", reason, message, probe_time=True)
            conditions = set_condition(conditions, "Ready", "False", reason, message, probe_time=True)
        else:
            conditions = set_condition(conditions, "ContainersReady", "True", probe_time=True)
            if gate_missing:
                conditions = set_condition(
                    conditions,
                    "Ready",
                    "False",
                    "ReadinessGatesNotReady",
                    f'corresponding condition of pod readiness gate "{gate_missing[0]}" does not exist.',
                    probe_time=True,
                )
            else:
                conditions = set_condition(conditions, "Ready", "True", probe_time=True)
        st["conditions"] = _order_conditions(conditions)

    @staticmethod
    def _phase(pod: Obj, statuses: list[dict[str, Any]]) -> str:
        """getPhase: Running while a container runs or will restart; Succeeded/Failed when all ended."""
        states = [s.get("state") or {} for s in statuses]
        if any("running" in s for s in states):
            return "Running"
        if any("waiting" in s for s in states):
            started = any(s.get("restartCount") or "terminated" in (s.get("lastState") or {}) for s in statuses)
            return "Running" if started else "Pending"
        failed = any((s.get("terminated") or {}).get("exitCode", 0) != 0 for s in states)
        return "Failed" if failed else "Succeeded"

    # termination ---------------------------------------------------------------------------------------
    def _terminate(self, pod: Obj) -> float | None:
        """A pod being deleted: the kubelet stops its containers (Killing events, Runner.stop), reports them
        terminated, then ends the graceful deletion with a delete of grace period 0 and the pod's uid as
        precondition (pkg/kubelet/status/status_manager.go). With finalizers the pod then waits for them.

        Containers stop at once (a real runner signals its processes in the background), so a pod with no
        real process is gone within a few milliseconds, whatever its grace period.
        """
        if status(pod).get("phase") not in TERMINAL:
            pod = self._stop_containers(pod)
        if meta(pod).get("deletionGracePeriodSeconds"):
            self.client.delete(pod, grace_period=0)
        return None

    def _stop_containers(self, pod: Obj) -> Obj:
        """Kill the containers: Killing events, the runner stops them, the status shows them terminated."""
        self._forget(pod, killed=True)
        st = clone(status(pod))
        now = now_rfc3339()
        for cs in st.get("containerStatuses") or []:
            running = (cs.get("state") or {}).get("running")
            if running is not None or "waiting" in (cs.get("state") or {}):
                cs["state"] = {
                    "terminated": {
                        "exitCode": 137,
                        "reason": "Error",
                        "startedAt": (running or {}).get("startedAt", now),
                        "finishedAt": now,
                        "containerID": cs.get("containerID", ""),
                    }
                }
                cs.update(ready=False, started=False)
        statuses = st.get("containerStatuses") or []
        st["phase"] = self._phase(pod, statuses) if statuses else "Failed"
        if st["phase"] not in TERMINAL:
            st["phase"] = "Failed"
        conditions = list(st.get("conditions") or [])
        for kind in ("ContainersReady", "Ready"):
            conditions = set_condition(conditions, kind, "False", "PodCompleted", probe_time=True)
        st["conditions"] = _order_conditions(conditions)
        updated = clone(pod)
        updated["status"] = st
        return self.client.update_status(updated)

    def _container_event(self, pod: Obj, container: str, kind: str, reason: str, message: str) -> None:
        group = (
            "initContainers"
            if any(c.get("name") == container for c in spec(pod).get("initContainers") or ())
            else "containers"
        )
        self.ctx.recorder.event(
            pod,
            kind,
            reason,
            message,
            KUBELET,
            field_path=f"spec.{group}{{{container}}}",
            host=spec(pod).get("nodeName", ""),
        )


_CONDITION_ORDER = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]


def _order_conditions(conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The kubelet writes the conditions in a fixed order (generateAPIPodStatus)."""
    known = {c.get("type"): c for c in conditions}
    ordered = [known[k] for k in _CONDITION_ORDER if k in known]
    return ordered + [c for c in conditions if c.get("type") not in _CONDITION_ORDER]


def pod_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status(pod).get("conditions") or ())


def pod_active(pod: Obj) -> bool:
    return not deleting(pod) and status(pod).get("phase") not in TERMINAL


def pod_from_template(
    owner: Obj,
    template: dict[str, Any],
    *,
    name: str = "",
    generate_name: str = "",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    finalizers: list[str] | None = None,
) -> Obj:
    """controller.GetPodFromTemplate: labels, annotations and finalizers of the template, a controller ref."""
    tmeta = template.get("metadata") or {}
    pod_meta: dict[str, Any] = {"namespace": meta(owner)["namespace"], "ownerReferences": [controller_ref(owner)]}
    if name:
        pod_meta["name"] = name
    else:
        pod_meta["generateName"] = generate_name
    pod_labels = {**(tmeta.get("labels") or {}), **(labels or {})}
    if pod_labels:
        pod_meta["labels"] = pod_labels
    pod_annotations = {**(tmeta.get("annotations") or {}), **(annotations or {})}
    if pod_annotations:
        pod_meta["annotations"] = pod_annotations
    all_finalizers = list(tmeta.get("finalizers") or []) + list(finalizers or [])
    if all_finalizers:
        pod_meta["finalizers"] = all_finalizers
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": clone(template.get("spec") or {})}


def is_pod_ready_for(pod: Obj, min_ready_seconds: int) -> bool:
    """podutil.IsPodAvailable: Ready for at least minReadySeconds."""
    import time

    cond = next((c for c in status(pod).get("conditions") or () if c.get("type") == "Ready"), None)
    if not cond or cond.get("status") != "True":
        return False
    if not min_ready_seconds:
        return True
    since = parse_time(cond.get("lastTransitionTime")) or time.time()
    return since + min_ready_seconds <= time.time()


def matches_selector(obj: Obj, selector: dict[str, Any] | None) -> bool:
    return label_selector_from_dict(selector).matches(meta(obj).get("labels"))
