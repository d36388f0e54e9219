"""The object store: objects by storage key, namespace and name; resourceVersion; watch events.

This is the etcd of kubesim. It knows nothing of validation or API semantics (that is `rest.py`);
it keeps objects, hands out a single monotonic resourceVersion (a cluster-wide revision, like
etcd's), records change events for watches, and persists to `--state-dir` when asked.

Conventions:
- Stored objects are never mutated after `put`; readers may share them without copying and
  writers build a new dict (see `clone`). This keeps gets and lists cheap.
- `lock` is re-entrant: the request pipeline holds it across read-check-write so that a
  resourceVersion precondition and the write are atomic, as etcd's transactions are.
- Subscribers (`subscribe`) are called synchronously under the lock for every event; they must
  only enqueue work (controllers in later parts use this).

Persistence: a snapshot file plus an append-only journal of writes, compacted at start and stop,
so objects and the resourceVersion counter survive a restart.
"""

from __future__ import annotations

import json
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Obj = dict[str, Any]
ObjKey = tuple[str, str, str]  # storage key, namespace ("" for cluster-scoped), name


def clone(value: Any) -> Any:
    """Deep copy of JSON data (several times faster than copy.deepcopy)."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


def obj_key(key: str, obj: Obj) -> ObjKey:
    meta = obj.get("metadata") or {}
    return key, meta.get("namespace") or "", meta.get("name") or ""


@dataclass(frozen=True)
class Event:
    """A change: ADDED, MODIFIED or DELETED, at revision `rv`, with the previous object if any."""

    rv: int
    type: str
    key: str
    obj: Obj
    old: Obj | None

    @property
    def namespace(self) -> str:
        return (self.obj.get("metadata") or {}).get("namespace") or ""


class Watcher:
    """A registered watch: receives the events of one storage key (optionally one namespace)."""

    def __init__(self, key: str, namespace: str | None) -> None:
        self.key = key
        self.namespace = namespace
        self.queue: queue.SimpleQueue[Event | None] = queue.SimpleQueue()

    def wants(self, event: Event) -> bool:
        return event.key == self.key and (self.namespace is None or event.namespace == self.namespace)

    def get(self, timeout: float) -> Event | None:
        """The next event, or None after `timeout` seconds (or when the store closes)."""
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None


class TooOld(Exception):
    """The requested resourceVersion is older than the event history (410 Gone)."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


class Store:
    def __init__(self, state_dir: str | os.PathLike[str] | None = None, history: int = 20000) -> None:
        self.lock = threading.RLock()
        self._objects: dict[str, dict[str, dict[str, Obj]]] = {}
        self._rv = 0
        self._history: deque[Event] = deque(maxlen=history)
        self._history_floor = 0  # events after this revision are all in _history
        self._watchers: set[Watcher] = set()
        self._subscribers: list[Callable[[Event], None]] = []
        self._uids: dict[str, ObjKey] = {}
        self._dependents: dict[str, set[ObjKey]] = {}  # owner uid -> objects naming it in ownerReferences
        self._persist = _Persistence(Path(state_dir)) if state_dir else None
        if self._persist:
            rv, objects = self._persist.load()
            for key, obj in objects:
                self._index_put(key, obj)
            self._rv = rv
            self._history_floor = rv
            self._persist.compact(self._rv, self.iter_all())

    # ---- revisions ------------------------------------------------------------------------------
    @property
    def revision(self) -> int:
        return self._rv

    # ---- reads --------------------------------------------------------------------------------
    def get(self, key: str, namespace: str, name: str) -> Obj | None:
        return self._objects.get(key, {}).get(namespace or "", {}).get(name)

    def list(self, key: str, namespace: str | None = None) -> list[Obj]:
        """Objects of `key` (in `namespace`, or all), in etcd key order: namespace, then name."""
        by_ns = self._objects.get(key, {})
        if namespace is not None:
            names = by_ns.get(namespace, {})
            return [names[n] for n in sorted(names)]
        out: list[Obj] = []
        for ns in sorted(by_ns):
            names = by_ns[ns]
            out.extend(names[n] for n in sorted(names))
        return out

    def count(self, key: str, namespace: str | None = None) -> int:
        by_ns = self._objects.get(key, {})
        if namespace is not None:
            return len(by_ns.get(namespace, {}))
        return sum(len(v) for v in by_ns.values())

    def iter_all(self) -> Iterator[tuple[str, Obj]]:
        for key, by_ns in self._objects.items():
            for names in by_ns.values():
                for obj in names.values():
                    yield key, obj

    def by_uid(self, uid: str) -> ObjKey | None:
        return self._uids.get(uid)

    def dependents(self, owner_uid: str) -> list[ObjKey]:
        """Objects whose ownerReferences name `owner_uid` (for garbage collection)."""
        return sorted(self._dependents.get(owner_uid, ()))

    # ---- writes ---------------------------------------------------------------------------------
    def put(self, key: str, obj: Obj) -> Obj:
        """Store `obj` (which the store now owns) at a new revision; ADDED or MODIFIED event."""
        with self.lock:
            k = obj_key(key, obj)
            old = self.get(*k)
            self._rv += 1
            obj["metadata"]["resourceVersion"] = str(self._rv)
            if old is not None:
                self._index_remove(key, old)
            self._index_put(key, obj)
            if self._persist:
                self._persist.append({"rv": self._rv, "op": "put", "k": key, "o": obj})
                self._maybe_compact()
            self._emit(Event(self._rv, "ADDED" if old is None else "MODIFIED", key, obj, old))
            return obj

    def remove(self, key: str, namespace: str, name: str) -> Obj | None:
        """Delete an object; the DELETED event carries the object at the deletion's revision."""
        with self.lock:
            old = self.get(key, namespace, name)
            if old is None:
                return None
            self._rv += 1
            final = dict(old)
            final["metadata"] = dict(old["metadata"], resourceVersion=str(self._rv))
            self._index_remove(key, old)
            if self._persist:
                self._persist.append({"rv": self._rv, "op": "del", "k": key, "ns": namespace, "n": name})
                self._maybe_compact()
            self._emit(Event(self._rv, "DELETED", key, final, old))
            return final

    def _maybe_compact(self) -> None:
        # Keep the journal bounded: rewrite the snapshot once the journal dwarfs the live objects.
        if self._persist and self._persist.lines > max(20000, 4 * len(self._uids)):
            self._persist.compact(self._rv, self.iter_all())

    def _index_put(self, key: str, obj: Obj) -> None:
        k = obj_key(key, obj)
        self._objects.setdefault(key, {}).setdefault(k[1], {})[k[2]] = obj
        meta = obj["metadata"]
        uid = meta.get("uid")
        if uid:
            self._uids[uid] = k
        for ref in meta.get("ownerReferences") or ():
            self._dependents.setdefault(ref.get("uid", ""), set()).add(k)

    def _index_remove(self, key: str, obj: Obj) -> None:
        k = obj_key(key, obj)
        names = self._objects.get(key, {}).get(k[1], {})
        names.pop(k[2], None)
        if not names:
            self._objects.get(key, {}).pop(k[1], None)
        meta = obj["metadata"]
        if meta.get("uid") and self._uids.get(meta["uid"]) == k:
            del self._uids[meta["uid"]]
        for ref in meta.get("ownerReferences") or ():
            deps = self._dependents.get(ref.get("uid", ""))
            if deps is not None:
                deps.discard(k)
                if not deps:
                    del self._dependents[ref.get("uid", "")]

    # ---- events ---------------------------------------------------------------------------------
    def _emit(self, event: Event) -> None:
        if len(self._history) == self._history.maxlen:
            self._history_floor = self._history[0].rv
        self._history.append(event)
        for watcher in list(self._watchers):
            if watcher.wants(event):
                watcher.queue.put(event)
        for callback in list(self._subscribers):
            callback(event)

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        """Call `callback(event)` for every change, under the store lock (enqueue work only)."""
        with self.lock:
            self._subscribers.append(callback)

    def unsubscribe(self, callback: Callable[[Event], None]) -> None:
        with self.lock:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

    def watch(self, key: str, namespace: str | None, since: int | None) -> tuple[Watcher, list[Event]]:
        """Register a watcher; returns it with the past events after revision `since`.

        With `since` None the caller sends the current state itself (list-then-watch from now).
        Raises TooOld when events after `since` have left the history.
        """
        with self.lock:
            backlog: list[Event] = []
            if since is not None and since < self._rv:
                if since < self._history_floor:
                    raise TooOld(since, self._history_floor + 1)
                watcher_filter = Watcher(key, namespace)
                backlog = [e for e in self._history if e.rv > since and watcher_filter.wants(e)]
            watcher = Watcher(key, namespace)
            self._watchers.add(watcher)
            return watcher, backlog

    def unwatch(self, watcher: Watcher) -> None:
        with self.lock:
            self._watchers.discard(watcher)

    def close(self) -> None:
        """Wake every watcher (they end their streams) and write a compact snapshot."""
        with self.lock:
            for watcher in self._watchers:
                watcher.queue.put(None)
            if self._persist:
                self._persist.compact(self._rv, self.iter_all())
                self._persist.close()
                self._persist = None


class _Persistence:
    """snapshot.json (all objects at a revision) + journal.jsonl (writes since the snapshot)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.snapshot = self.dir / "snapshot.json"
        self.journal_path = self.dir / "journal.jsonl"
        self._journal: Any = None
        self.lines = 0

    def load(self) -> tuple[int, list[tuple[str, Obj]]]:
        rv = 0
        objects: dict[ObjKey, tuple[str, Obj]] = {}
        if self.snapshot.exists():
            data = json.loads(self.snapshot.read_text())
            rv = int(data.get("rv", 0))
            for key, obj in data.get("objects", []):
                objects[obj_key(key, obj)] = (key, obj)
        if self.journal_path.exists():
            with self.journal_path.open() as f:
                for line in f:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        break  # a torn last line from a crash: everything before it is good
                    rv = max(rv, int(entry["rv"]))
                    if entry["op"] == "put":
                        objects[obj_key(entry["k"], entry["o"])] = (entry["k"], entry["o"])
                    else:
                        objects.pop((entry["k"], entry["ns"], entry["n"]), None)
        return rv, list(objects.values())

    def append(self, entry: dict[str, Any]) -> None:
        if self._journal is None:
            self._journal = self.journal_path.open("a")
        self._journal.write(json.dumps(entry, separators=(",", ":")) + "\n")
        self._journal.flush()
        self.lines += 1

    def compact(self, rv: int, objects: Iterator[tuple[str, Obj]]) -> None:
        """Write a fresh snapshot atomically, then start an empty journal."""
        tmp = self.snapshot.with_suffix(".tmp")
        with tmp.open("w") as f:
            json.dump({"rv": rv, "objects": [[k, o] for k, o in objects]}, f, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.snapshot)
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        self.journal_path.write_text("")
        self.lines = 0

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None


class LogBook:
    """Container logs by (namespace, pod, container): what `pods/log` serves.

    Part 1 has no running containers; logs arrive through `append` (simulated controllers, the
    test-only /kubesim/ endpoint). Readers of a followed log wait on the condition.
    """

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self._lines: dict[tuple[str, str, str], list[tuple[float, str]]] = {}

    def append(self, namespace: str, pod: str, container: str, text: str, when: float | None = None) -> None:
        import time

        stamp = time.time() if when is None else when
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # "a\nb\n" is two lines, not three
        with self.cond:
            self._lines.setdefault((namespace, pod, container), []).extend((stamp, line) for line in lines)
            self.cond.notify_all()

    def lines(self, namespace: str, pod: str, container: str, start: int = 0) -> list[tuple[float, str]]:
        with self.cond:
            return list(self._lines.get((namespace, pod, container), [])[start:])

    def has(self, namespace: str, pod: str, container: str) -> bool:
        with self.cond:
            return bool(self._lines.get((namespace, pod, container)))

    def forget(self, namespace: str, pod: str) -> None:
        with self.cond:
            for key in [k for k in self._lines if k[0] == namespace and k[1] == pod]:
                del self._lines[key]
            self.cond.notify_all()

    def wake(self) -> None:
        with self.cond:
            self.cond.notify_all()
