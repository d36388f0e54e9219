"""API plumbing for the stand-in's controller: raw JSON requests, watch caches, a work queue, events.

Requests go through the `kubernetes` client's ApiClient (client certificate of px:portworx from the
kubeconfig) but carry plain dicts. A `Cache` lists a resource once, then watches it from the list's
resourceVersion, resuming from the last one seen (bookmarks on) whenever a watch ends, and lists
again only when the server answers 410 Gone; a quiet cluster costs one watch request per resource
every few minutes. Reads come from the caches; the controller's own writes are put in them at once
(`Cache.put`) so it never acts twice on a stale copy.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from kubernetes import config as kube_config
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

log = logging.getLogger("portworx")

Obj = dict[str, Any]
MERGE = "application/merge-patch+json"
WATCH_MIN, WATCH_MAX = 300, 540  # server-side timeoutSeconds of one watch request


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(obj: Obj | None) -> Obj:
    return (obj or {}).get("metadata") or {}


def spec(obj: Obj | None) -> Obj:
    return (obj or {}).get("spec") or {}


def status(obj: Obj | None) -> Obj:
    return (obj or {}).get("status") or {}


def annotations(obj: Obj | None) -> dict[str, str]:
    return meta(obj).get("annotations") or {}


class Api:
    """JSON over the kubernetes client's connection pool."""

    def __init__(self, kubeconfig: str, context: str | None) -> None:
        self.client: ApiClient = kube_config.new_client_from_config(config_file=kubeconfig, context=context)
        self.client.user_agent = "px-portworx-stand-in/1.0"
        self.lock = threading.Lock()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
        timeout: float | tuple[float, float] = 30,
    ) -> Obj:
        response = self.client.call_api(
            path,
            method,
            query_params=query or [],
            header_params={"Accept": "application/json", "Content-Type": content_type},
            body=body,
            auth_settings=["BearerToken"],
            _preload_content=False,
            _return_http_data_only=True,
            _request_timeout=timeout,
        )
        data = response.data
        return json.loads(data) if data else {}

    def stream(self, path: str, query: list[tuple[str, str]], read_timeout: float) -> Iterator[Obj]:
        """The events of a watch request, one dict per line."""
        response = self.client.call_api(
            path,
            "GET",
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
            _preload_content=False,
            _return_http_data_only=True,
            _request_timeout=(10, read_timeout),
        )
        try:
            pending = b""
            for chunk in response.stream(65536, decode_content=True):
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
            if pending.strip():
                yield json.loads(pending)
        finally:
            response.release_conn()

    # convenience ------------------------------------------------------------------------------------
    def create(self, path: str, body: Obj) -> Obj:
        return self.request("POST", path, body)

    def patch(self, path: str, body: Obj) -> Obj:
        return self.request("PATCH", path, body, content_type=MERGE)

    def delete(self, path: str, body: Obj | None = None) -> Obj:
        return self.request("DELETE", path, body)


def error_status(e: BaseException) -> int:
    return e.status if isinstance(e, ApiException) and e.status else 0


def error_text(e: BaseException) -> str:
    if isinstance(e, ApiException):
        try:
            return json.loads(e.body or "{}").get("message") or f"{e.status} {e.reason}"
        except (ValueError, AttributeError):
            return f"{e.status} {e.reason}"
    return f"{type(e).__name__}: {e}"


def _rv(obj: Obj) -> int:
    try:
        return int(meta(obj).get("resourceVersion") or 0)
    except ValueError:
        return 0


class Cache:
    """One resource (optionally one namespace, field selector), listed then watched, kept in memory.

    `on_change(kind, obj, old)` runs in the watch thread for every change: kind ADDED, MODIFIED or
    DELETED (a relist reports what changed meanwhile the same way).
    """

    def __init__(
        self,
        api: Api,
        name: str,
        path: str,
        api_version: str,
        kind: str,
        on_change: Callable[[str, Obj, Obj | None], None],
        stop: threading.Event,
        field_selector: str = "",
        optional: bool = False,
    ) -> None:
        self.api = api
        self.name = name
        self.path = path
        self.api_version = api_version
        self.kind = kind
        self.on_change = on_change
        self.stop = stop
        self.field_selector = field_selector
        self.optional = optional  # a missing resource (CRD not installed) is an empty cache
        self.synced = threading.Event()
        self.available = False
        self._items: dict[tuple[str, str], Obj] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"watch-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    # reads ------------------------------------------------------------------------------------------
    @staticmethod
    def key(obj: Obj) -> tuple[str, str]:
        m = meta(obj)
        return (m.get("namespace") or "", m.get("name") or "")

    def get(self, name: str, namespace: str = "") -> Obj | None:
        with self._lock:
            return self._items.get((namespace, name))

    def items(self, namespace: str | None = None) -> list[Obj]:
        with self._lock:
            values = list(self._items.values())
        return [o for o in values if namespace is None or (meta(o).get("namespace") or "") == namespace]

    # writes by the controller -----------------------------------------------------------------------
    def put(self, obj: Obj) -> None:
        """Our own write's answer: newer than what the cache holds until the watch brings it."""
        obj = self._typed(obj)
        with self._lock:
            old = self._items.get(self.key(obj))
            if old is None or _rv(obj) >= _rv(old):
                self._items[self.key(obj)] = obj

    def forget(self, obj: Obj) -> None:
        with self._lock:
            self._items.pop(self.key(obj), None)

    # the watch loop ---------------------------------------------------------------------------------
    def _typed(self, obj: Obj) -> Obj:
        # List items carry no apiVersion and kind; events about them need both.
        obj.setdefault("apiVersion", self.api_version)
        obj.setdefault("kind", self.kind)
        return obj

    def _query(self) -> list[tuple[str, str]]:
        return [("fieldSelector", self.field_selector)] if self.field_selector else []

    def _list(self) -> str:
        listing = self.api.request("GET", self.path, query=self._query(), timeout=60)
        fresh = {self.key(o): self._typed(o) for o in listing.get("items") or []}
        with self._lock:
            old_items, self._items = self._items, fresh
        for key, obj in fresh.items():
            old = old_items.get(key)
            if old is None:
                self.on_change("ADDED", obj, None)
            elif meta(old).get("resourceVersion") != meta(obj).get("resourceVersion"):
                self.on_change("MODIFIED", obj, old)
        for key, obj in old_items.items():
            if key not in fresh:
                self.on_change("DELETED", obj, obj)
        self.available = True
        return meta(listing).get("resourceVersion") or ""

    def _run(self) -> None:
        rv = ""
        failures = 0
        while not self.stop.is_set():
            try:
                if not rv:
                    rv = self._list()
                    self.synced.set()
                rv = self._watch(rv)
                failures = 0
            except Exception as e:
                if self.stop.is_set():
                    return
                code = error_status(e)
                if code == 410:
                    log.info("watch %s: resourceVersion %s expired; listing again", self.name, rv)
                    rv = ""
                    continue
                if code == 404 and self.optional:
                    with self._lock:
                        self._items.clear()
                    self.available = False
                    self.synced.set()
                    log.info("watch %s: not served (CRD absent); trying again in 120 s", self.name)
                    self.stop.wait(120)
                    rv = ""
                    continue
                failures += 1
                delay = min(30.0, 0.5 * 2**failures) * random.uniform(0.8, 1.2)
                log.warning("watch %s: %s; again in %.1f s", self.name, error_text(e), delay)
                if code in (401, 403):
                    rv = ""
                self.stop.wait(delay)

    def _watch(self, rv: str) -> str:
        timeout = random.randint(WATCH_MIN, WATCH_MAX)
        query = [
            *self._query(),
            ("watch", "true"),
            ("resourceVersion", rv),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout)),
        ]
        for event in self.api.stream(self.path, query, timeout + 30):
            if self.stop.is_set():
                return rv
            kind, obj = event.get("type"), self._typed(event.get("object") or {})
            if kind == "ERROR":
                code = obj.get("code") or 0
                raise ApiException(status=code, reason=obj.get("message") or "watch error")
            new_rv = meta(obj).get("resourceVersion") or rv
            if kind == "BOOKMARK":
                rv = new_rv
                continue
            key = self.key(obj)
            with self._lock:
                old = self._items.get(key)
                if kind == "DELETED":
                    self._items.pop(key, None)
                elif old is None or _rv(obj) >= _rv(old):
                    self._items[key] = obj
            rv = new_rv
            self.on_change(kind or "MODIFIED", obj, old)
        return rv


Key = tuple[str, ...]


class WorkQueue:
    """Keys to reconcile, each at most once in the queue, at a due time (a delaying queue)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Key]] = []
        self._due: dict[Key, float] = {}
        self._cond = threading.Condition()
        self._counter = itertools.count()

    def add(self, key: Key, delay: float = 0.0) -> None:
        due = time.monotonic() + delay
        with self._cond:
            current = self._due.get(key)
            if current is not None and current <= due:
                return
            self._due[key] = due
            heapq.heappush(self._heap, (due, next(self._counter), key))
            self._cond.notify()

    def get(self, stop: threading.Event, timeout: float = 0.5) -> Key | None:
        with self._cond:
            deadline = time.monotonic() + timeout
            while not stop.is_set():
                now = time.monotonic()
                while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
                    heapq.heappop(self._heap)  # superseded by an earlier due time
                if self._heap and self._heap[0][0] <= now:
                    _, _, key = heapq.heappop(self._heap)
                    del self._due[key]
                    return key
                wait = deadline - now
                if self._heap:
                    wait = min(wait, self._heap[0][0] - now)
                if wait <= 0:
                    return None
                self._cond.wait(wait)
            return None

    def __len__(self) -> int:
        with self._cond:
            return len(self._due)


class Recorder:
    """Events (core/v1) as client-go's recorder writes them, never more than one per `interval`
    seconds for the same object, reason and message (a repeat within it is dropped; a later one
    bumps the count of the event it repeats)."""

    def __init__(self, api: Api, host: str, interval: float = 30.0) -> None:
        self.api = api
        self.host = host
        self.interval = interval
        self._seen: dict[tuple[str, str, str], tuple[str, str, int, float]] = {}
        self._lock = threading.Lock()

    def event(self, obj: Obj, kind: str, reason: str, message: str, component: str) -> None:
        m = meta(obj)
        uid = m.get("uid") or ""
        key = (uid, reason, message)
        now = time.monotonic()
        with self._lock:
            seen = self._seen.get(key)
        if seen is not None and now - seen[3] < self.interval:
            return
        namespace = m.get("namespace") or "default"
        stamp = now_rfc3339()
        try:
            if seen is not None:
                name, ns, count, _ = seen
                try:
                    self.api.patch(
                        f"/api/v1/namespaces/{ns}/events/{quote(name)}",
                        {"count": count + 1, "lastTimestamp": stamp},
                    )
                    with self._lock:
                        self._seen[key] = (name, ns, count + 1, now)
                    return
                except ApiException as e:
                    if e.status != 404:
                        raise
            name = f"{m.get('name')}.{time.time_ns():x}"
            self.api.create(
                f"/api/v1/namespaces/{namespace}/events",
                {
                    "apiVersion": "v1",
                    "kind": "Event",
                    "metadata": {"name": name, "namespace": namespace},
                    "involvedObject": {
                        "apiVersion": obj.get("apiVersion") or "v1",
                        "kind": obj.get("kind") or "",
                        "name": m.get("name") or "",
                        "namespace": m.get("namespace") or "",
                        "uid": uid,
                        "resourceVersion": m.get("resourceVersion") or "",
                    },
                    "reason": reason,
                    "message": message,
                    "type": kind,
                    "source": {"component": component, "host": self.host},
                    "firstTimestamp": stamp,
                    "lastTimestamp": stamp,
                    "count": 1,
                },
            )
            with self._lock:
                self._seen[key] = (name, namespace, 1, now)
        except Exception as e:  # an event is worth a log line, never a failed reconcile
            log.warning("event %s for %s/%s not recorded: %s", reason, namespace, m.get("name"), error_text(e))

    def forget_older_than(self, seconds: float) -> None:
        limit = time.monotonic() - seconds
        with self._lock:
            for key in [k for k, v in self._seen.items() if v[3] < limit]:
                del self._seen[key]
