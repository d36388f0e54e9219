"""Events as the controllers record them: core/v1 Events, deduplicated by counting.

client-go's EventRecorder (tools/record) names an event `<object>.<hex nanoseconds>`, fills
involvedObject from the object reference, source.component with the reporting controller, and
an EventCorrelator that turns a repeat of the same (object, type, reason, message, source) into an
update of the first event: count + 1 and a new lastTimestamp. Events of cluster-scoped objects
(PersistentVolumes, Nodes) go to the "default" namespace, as metav1.NamespaceDefault.
"""

from __future__ import annotations

import sys
import time
from collections import OrderedDict
from typing import Any

from ..errors import ApiError
from ..store import Obj, clone
from .base import EVENTS, Client, meta, now_rfc3339

NORMAL = "Normal"
WARNING = "Warning"
_CACHE_SIZE = 4096  # the EventCorrelator's LRU holds 4096 entries too


class Recorder:
    def __init__(self, client: Client, host: str = "kubesim-node-1") -> None:
        self.client = client
        self.host = host
        self._seen: OrderedDict[tuple[Any, ...], tuple[str, str]] = OrderedDict()

    def event(
        self,
        obj: Obj,
        event_type: str,
        reason: str,
        message: str,
        component: str,
        *,
        field_path: str = "",
        host: str = "",
    ) -> None:
        """Record an event about `obj` (never raises: events are best effort, as in client-go)."""
        try:
            self._record(obj, event_type, reason, message, component, field_path, host)
        except ApiError as e:
            if e.code not in (403, 404):  # a terminating or deleted namespace refuses events
                print(f"kubesim: event {reason} for {meta(obj).get('name')}: {e.message}", file=sys.stderr)

    def _record(
        self, obj: Obj, event_type: str, reason: str, message: str, component: str, field_path: str, host: str
    ) -> None:
        m = meta(obj)
        involved: dict[str, Any] = {"kind": obj.get("kind", ""), "apiVersion": obj.get("apiVersion", "")}
        if m.get("namespace"):
            involved["namespace"] = m["namespace"]
        involved.update(name=m.get("name", ""), uid=m.get("uid", ""), resourceVersion=m.get("resourceVersion", ""))
        if field_path:
            involved["fieldPath"] = field_path
        namespace = m.get("namespace") or "default"
        key = (
            namespace,
            involved["uid"],
            involved["kind"],
            involved["name"],
            field_path,
            event_type,
            reason,
            message,
            component,
        )
        now = now_rfc3339()
        existing = self._seen.get(key)
        if existing is not None and self._bump(existing, now):
            self._seen.move_to_end(key)
            return
        source: dict[str, str] = {"component": component}
        if host:
            source["host"] = host
        name = f"{m.get('name', '')}.{time.time_ns():x}"
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message[:1024],  # the recorder truncates long messages (events.k8s.io limits notes to 1 kB)
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": event_type,
            "reportingComponent": component,
        }
        if host:
            event["reportingInstance"] = host
        self.client.create(event, namespace)
        self._seen[key] = (namespace, name)
        if len(self._seen) > _CACHE_SIZE:
            self._seen.popitem(last=False)

    def _bump(self, where: tuple[str, str], now: str) -> bool:
        stored = self.client.get(EVENTS, *where)
        if stored is None:
            return False
        updated = clone(stored)
        updated["count"] = int(stored.get("count") or 1) + 1
        updated["lastTimestamp"] = now
        try:
            self.client.update(updated)
        except ApiError:
            return False
        return True
