"""The controller framework: one work queue, one worker thread, timers and a periodic resync.

Real controllers (k8s.io/client-go/util/workqueue) turn informer events into keys, deduplicate
them while they wait, and let a reconcile function bring the world towards the spec; a failed
reconcile is retried with backoff. kubesim does the same on a small scale:

- `Manager.on_event` is subscribed to the store. It runs under the store lock, so it only maps
  the event to keys (`Controller.keys_for`) and enqueues them.
- One worker thread runs the reconciles, one at a time, so controllers never race each other
  (the API's optimistic concurrency still protects against clients: a 409 is simply retried).
- Timers (`Manager.after`) carry the delays (readiness, binding, backoff) without ever sleeping in
  the loop, so independent waits overlap; the same loop wakes up for a resync every
  `RESYNC_SECONDS` (a client-go informer's resync) and otherwise blocks, so an idle kubesim
  costs no CPU.

Controllers reach the API through `Client`, which runs every write through `rest.Api` (defaults,
validation, admission: a controller's pod is refused by Pod Security admission as on a real
cluster), subresources included (status, pods/binding): no controller writes to the store directly.
"""

from __future__ import annotations

import heapq
import itertools
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import ApiError
from ..resources import ResourceInfo
from ..store import Event, Obj

if TYPE_CHECKING:
    from ..rest import Api
    from .delays import Delays
    from .events import Recorder

Key = tuple[str, ...]
Item = tuple[str, Key]  # (controller name, key)

RESYNC_SECONDS = 10.0
CONFLICT_RETRY_SECONDS = 0.02
ERROR_BACKOFF_START = 0.5
ERROR_BACKOFF_MAX = 30.0

# Storage keys (rest.py / resources.py: "<group>/<plural>").
PODS = "/pods"
PVCS = "/persistentvolumeclaims"
PVS = "/persistentvolumes"
NODES = "/nodes"
EVENTS = "/events"
CONFIGMAPS = "/configmaps"
SECRETS = "/secrets"
DEPLOYMENTS = "apps/deployments"
REPLICASETS = "apps/replicasets"
STATEFULSETS = "apps/statefulsets"
DAEMONSETS = "apps/daemonsets"
CONTROLLER_REVISIONS = "apps/controllerrevisions"
JOBS = "batch/jobs"
STORAGE_CLASSES = "storage.k8s.io/storageclasses"


# ---- small helpers shared by the controllers --------------------------------------------------------


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> float | None:
    """RFC 3339 (as the API server writes it) to a Unix timestamp."""
    if not text:
        return None
    try:
        return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def meta(obj: Obj) -> dict[str, Any]:
    return obj.get("metadata") or {}


def spec(obj: Obj) -> dict[str, Any]:
    return obj.get("spec") or {}


def status(obj: Obj) -> dict[str, Any]:
    return obj.get("status") or {}


def deleting(obj: Obj) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def controller_ref(owner: Obj) -> dict[str, Any]:
    """The ownerReference a controller puts on what it creates (metav1.NewControllerRef)."""
    m = meta(owner)
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": m["name"],
        "uid": m["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_of(obj: Obj) -> dict[str, Any] | None:
    """The ownerReference with controller: true (metav1.GetControllerOf)."""
    for ref in meta(obj).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref
    return None


def owned_by(obj: Obj, owner_kind: str) -> str | None:
    """The name of `obj`'s controller when it is of kind `owner_kind`."""
    ref = controller_of(obj)
    if ref is not None and ref.get("kind") == owner_kind:
        return ref.get("name")
    return None


def safe_encode(text: str) -> str:
    """k8s.io/apimachinery/pkg/util/rand.SafeEncodeString: no vowels, no confusable characters."""
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(alphabet[ord(c) % len(alphabet)] for c in text)


def template_hash(template: Any, collision_count: int = 0) -> str:
    """controller.ComputeHash: FNV-32a of the template (and collision count), safely encoded.

    The hasher input differs from Go's (JSON instead of a spew dump), so values differ from a real
    cluster's, but the shape and the behaviour (stable per template, new on change) are the same.
    """
    import json

    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()
    h = 0x811C9DC5
    for byte in data:
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return safe_encode(str(h))


def set_condition(
    conditions: list[dict[str, Any]],
    kind: str,
    cond_status: str,
    reason: str = "",
    message: str = "",
    *,
    now: str | None = None,
    update_time: bool = False,
    probe_time: bool = False,
) -> list[dict[str, Any]]:
    """Set a condition the way SetDeploymentCondition and friends do.

    Same status and reason: nothing changes (not even timestamps). Same status, new reason: the
    transition time is kept. Otherwise the condition is replaced and moves to the end of the list.
    """
    now = now or now_rfc3339()
    current = next((c for c in conditions if c.get("type") == kind), None)
    same = current is not None and current.get("status") == cond_status and current.get("reason", "") == reason
    if same and current is not None and current.get("message", "") == message:
        return conditions
    condition: dict[str, Any] = {"type": kind, "status": cond_status}
    if probe_time:
        condition["lastProbeTime"] = None
    if update_time:
        condition["lastUpdateTime"] = now
    transition = now
    if current is not None and current.get("status") == cond_status:
        transition = current.get("lastTransitionTime") or now
    condition["lastTransitionTime"] = transition
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    if same:
        # Only the message moved: keep the position, as the Go helpers do.
        return [condition if c is current else c for c in conditions]
    return [c for c in conditions if c.get("type") != kind] + [condition]


def get_condition(obj: Obj, kind: str) -> dict[str, Any] | None:
    return next((c for c in status(obj).get("conditions") or () if c.get("type") == kind), None)


def condition_true(obj: Obj, kind: str) -> bool:
    cond = get_condition(obj, kind)
    return bool(cond and cond.get("status") == "True")


def drop_empty(data: dict[str, Any]) -> dict[str, Any]:
    """Go's omitempty for the int/str status fields: zero values are not serialized."""
    return {k: v for k, v in data.items() if v not in (0, "", None, [], {})}


# ---- the API as controllers use it -------------------------------------------------------------------


class Client:
    """Reads from the store (shared, never mutated), writes through the API pipeline."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.store = api.store
        self._infos: dict[tuple[str, str], ResourceInfo] = {}

    @property
    def minor(self) -> int:
        return self.api.minor

    def info(self, api_version: str, kind: str) -> ResourceInfo:
        found = self._infos.get((api_version, kind))
        if found is None:
            found = self.api.info(api_version, kind)
            if not found.is_custom:  # CRD infos change when the CRD does: look them up each time
                self._infos[(api_version, kind)] = found
        return found

    def _info_of(self, obj: Obj) -> ResourceInfo:
        return self.info(obj["apiVersion"], obj["kind"])

    # reads ---------------------------------------------------------------------------------------
    def get(self, key: str, namespace: str, name: str) -> Obj | None:
        return self.store.get(key, namespace, name)

    def list(self, key: str, namespace: str | None = None) -> list[Obj]:
        with self.store.lock:
            return self.store.list(key, namespace)

    def owned(self, owner: Obj, key: str) -> list[Obj]:
        """Objects under `key` whose controller is `owner` (the dependents index, by uid)."""
        uid = meta(owner).get("uid", "")
        out: list[Obj] = []
        with self.store.lock:
            for dkey, ns, name in self.store.dependents(uid):
                if dkey != key:
                    continue
                obj = self.store.get(dkey, ns, name)
                ref = controller_of(obj) if obj is not None else None
                if ref is not None and ref.get("uid") == uid:
                    out.append(obj)
        return out

    def by_uid(self, uid: str) -> Obj | None:
        with self.store.lock:
            found = self.store.by_uid(uid)
            return self.store.get(*found) if found else None

    # writes --------------------------------------------------------------------------------------
    def create(self, obj: Obj, namespace: str | None = None) -> Obj:
        info = self._info_of(obj)
        ns = namespace if namespace is not None else meta(obj).get("namespace")
        return self.api.create(info, obj, ns).body

    def update(self, obj: Obj) -> Obj:
        """PUT `obj` (a modified clone of the stored object: its resourceVersion guards the write)."""
        m = meta(obj)
        return self.api.update(self._info_of(obj), obj, m.get("namespace") or "", m["name"]).body

    def update_status(self, obj: Obj) -> Obj:
        m = meta(obj)
        return self.api.update(self._info_of(obj), obj, m.get("namespace") or "", m["name"], subresource="status").body

    def delete(self, obj: Obj, propagation: str | None = None, grace_period: int | None = None) -> None:
        """DELETE with a uid precondition, so a recreated namesake is never hit."""
        m = meta(obj)
        options: dict[str, Any] = {"preconditions": {"uid": m.get("uid")}}
        if propagation:
            options["propagationPolicy"] = propagation
        if grace_period is not None:
            options["gracePeriodSeconds"] = grace_period
        try:
            self.api.delete(self._info_of(obj), m["name"], m.get("namespace") or "", options=options)
        except ApiError as e:
            if e.code != 404:
                raise

    def bind(self, pod: Obj, node_name: str) -> None:
        """POST pods/NAME/binding as kube-scheduler's DefaultBinder does (the pod's uid as precondition)."""
        m = meta(pod)
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"]},
            "target": {"kind": "Node", "name": node_name},
        }
        self.api.bind_pod(m["namespace"], m["name"], binding)


# ---- controllers and the manager ----------------------------------------------------------------------


class Controller:
    """A reconcile loop. Subclasses name themselves, map events to keys and reconcile a key.

    `reconcile` returns None when done, or a number of seconds after which to look again.
    """

    name = "controller"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.client = ctx.client

    def bootstrap(self) -> None:
        """Create what this controller's part of the cluster needs at start (nodes, CRDs, ...)."""

    def keys_for(self, event: Event) -> Iterable[Key]:
        return ()

    def resync_keys(self) -> Iterable[Key]:
        return ()

    def reconcile(self, key: Key) -> float | None:
        raise NotImplementedError

    # conveniences
    def enqueue(self, key: Key, after: float = 0.0, controller: str | None = None) -> None:
        self.ctx.manager.enqueue(controller or self.name, key, after)

    def keys_of(self, key: str, namespaced: bool = True) -> list[Key]:
        return [
            ((meta(o).get("namespace") or ""), meta(o)["name"]) if namespaced else (meta(o)["name"],)
            for o in self.client.list(key)
        ]


class OwnerController(Controller):
    """A controller of one kind that owns objects of another (Deployment -> ReplicaSets, Job -> Pods).

    A key is (namespace, name) of the owner; a change to an owned object wakes its owner.
    """

    owner_key = ""  # the store key of the kind reconciled
    owner_kind = ""  # its kind, as ownerReferences name it
    owned_key = ""  # the store key of the kind it owns

    def keys_for(self, event: Event) -> list[Key]:
        m = meta(event.obj)
        ns = m.get("namespace") or ""
        if event.key == self.owner_key:
            return [(ns, m["name"])]
        if event.key == self.owned_key:
            owners = {owned_by(o, self.owner_kind) for o in (event.obj, event.old) if o is not None}
            return [(ns, o) for o in owners if o]
        return []

    def resync_keys(self) -> list[Key]:
        return self.keys_of(self.owner_key)


@dataclass
class Context:
    """What the controllers share."""

    api: Api
    client: Client
    recorder: Recorder
    delays: Delays
    manager: Manager
    settings: dict[str, Any] = field(default_factory=dict)
    # Extension points: provisioners by name, snapshot drivers, readiness probes, the pod runner.
    services: dict[str, Any] = field(default_factory=dict)


class Manager:
    """The work queue and its single worker thread (also the timer and resync loop)."""

    def __init__(self, api: Api, resync_seconds: float = RESYNC_SECONDS) -> None:
        self.api = api
        self.controllers: dict[str, Controller] = {}
        self.resync_seconds = resync_seconds
        self._cond = threading.Condition()
        self._queue: deque[Item] = deque()
        self._queued: set[Item] = set()
        self._timers: list[tuple[float, int, Item | Callable[[], None]]] = []
        self._seq = itertools.count()
        self._failures: dict[Item, int] = {}
        self._blocked_until: dict[Item, float] = {}
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._next_resync = time.monotonic() + resync_seconds

    def add(self, controller: Controller) -> None:
        self.controllers[controller.name] = controller

    # ---- queueing -------------------------------------------------------------------------------
    def enqueue(self, name: str, key: Key, after: float = 0.0) -> None:
        item = (name, key)
        with self._cond:
            # An item backing off after an error waits for its time even when events ask for it sooner
            # (client-go's rate-limited requeue), so a failing reconcile cannot spin.
            after = max(after, self._blocked_until.get(item, 0.0) - time.monotonic())
            if after > 0:
                heapq.heappush(self._timers, (time.monotonic() + after, next(self._seq), item))
            elif item not in self._queued:
                self._queued.add(item)
                self._queue.append(item)
            else:
                return
            self._idle.clear()
            self._cond.notify()

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        """Run `callback` in the worker thread after `delay` seconds (simulated durations)."""
        with self._cond:
            heapq.heappush(self._timers, (time.monotonic() + max(delay, 0.0), next(self._seq), callback))
            self._idle.clear()
            self._cond.notify()

    def on_event(self, event: Event) -> None:
        """Store subscriber (runs under the store lock): map to keys and enqueue, nothing more."""
        for controller in self.controllers.values():
            try:
                for key in controller.keys_for(event):
                    self.enqueue(controller.name, key)
            except Exception:
                traceback.print_exc(file=sys.stderr)

    # ---- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        for controller in self.controllers.values():
            try:
                controller.bootstrap()
            except ApiError as e:
                # Keep serving: a refused bootstrap object is reported, the rest of the cluster still works.
                print(f"kubesim: {controller.name}: could not create its objects: {e.message}", file=sys.stderr)
        self.api.subscribe(self.on_event)
        self._resync()
        self._thread = threading.Thread(target=self._run, name="kubesim-sim-controllers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.api.store.unsubscribe(self.on_event)
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """For tests: block until the queue is empty and no timer is due."""
        return self._idle.wait(timeout)

    def _resync(self) -> None:
        for controller in self.controllers.values():
            for key in controller.resync_keys():
                self.enqueue(controller.name, key)

    # ---- the loop -------------------------------------------------------------------------------
    def _next(self) -> Item | Callable[[], None] | None:
        with self._cond:
            while not self._stopped:
                now = time.monotonic()
                while self._timers and self._timers[0][0] <= now:
                    _, _, due = heapq.heappop(self._timers)
                    if callable(due):
                        return due
                    if due not in self._queued:
                        self._queued.add(due)
                        self._queue.append(due)
                if self._queue:
                    item = self._queue.popleft()
                    self._queued.discard(item)
                    return item
                if now >= self._next_resync:
                    self._next_resync = now + self.resync_seconds
                    return ("", ())
                self._idle.set()
                wake = min(self._next_resync, self._timers[0][0]) if self._timers else self._next_resync
                self._cond.wait(timeout=max(0.0, wake - now))
        return None

    def _run(self) -> None:
        while True:
            item = self._next()
            if item is None:
                return
            if callable(item):
                run_callbacks([item])
                continue
            if item == ("", ()):
                self._resync()
                continue
            self._process(item)

    def _process(self, item: Item) -> None:
        name, key = item
        controller = self.controllers.get(name)
        if controller is None:
            return
        try:
            again = controller.reconcile(key)
        except ApiError as e:
            # 409: somebody else wrote first; look again at once with the fresh object.
            again = CONFLICT_RETRY_SECONDS if e.code == 409 else self._backoff(item)
            if e.code not in (404, 409):
                print(f"kubesim: {name} {'/'.join(key)}: {e.code} {e.message}", file=sys.stderr)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            again = self._backoff(item)
        else:
            self._failures.pop(item, None)
            self._blocked_until.pop(item, None)
        if again is not None:
            self.enqueue(name, key, max(again, 0.001))

    def _backoff(self, item: Item) -> float:
        failures = self._failures.get(item, 0)
        self._failures[item] = failures + 1
        delay = min(ERROR_BACKOFF_START * 2 ** min(failures, 16), ERROR_BACKOFF_MAX)
        self._blocked_until[item] = time.monotonic() + delay
        return delay


def run_callbacks(callbacks: Iterable[Callable[[], None]]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:
            traceback.print_exc(file=sys.stderr)
