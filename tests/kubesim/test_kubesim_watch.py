"""Watch: ?watch=true streams, list-then-watch from a resourceVersion, timeouts, bookmarks, selectors.

Reference: https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from kubernetes import watch


def _collect(raw: Any, path: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Read up to `count` events from a raw watch stream."""
    response = raw("GET", path, preload=False, timeout=timeout)
    assert response.status == 200
    events: list[dict[str, Any]] = []
    buffer = b""
    for chunk in response.stream(1024):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                events.append(json.loads(line))
        if len(events) >= count:
            break
    response.release_conn()
    return events


def test_watch_from_now_sends_current_state_then_changes(core: Any, ns: str) -> None:
    """Without resourceVersion a watch starts with ADDED for what exists, then ADDED/MODIFIED/DELETED."""
    core.create_namespaced_config_map(ns, {"metadata": {"name": "before"}})

    def later() -> None:
        time.sleep(0.3)
        core.create_namespaced_config_map(ns, {"metadata": {"name": "after"}})
        core.patch_namespaced_config_map("after", ns, {"data": {"a": "b"}})
        core.delete_namespaced_config_map("after", ns)

    threading.Thread(target=later, daemon=True).start()
    seen = []
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_config_map, ns, timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name))
        if event["type"] == "DELETED":
            w.stop()
    assert ("ADDED", "before") in seen
    assert seen[-3:] == [("ADDED", "after"), ("MODIFIED", "after"), ("DELETED", "after")]


def test_watch_from_resource_version(core: Any, raw: Any, ns: str) -> None:
    """list-then-watch: a watch from the list's resourceVersion sees only later changes."""
    core.create_namespaced_config_map(ns, {"metadata": {"name": "old"}})
    listing = core.list_namespaced_config_map(ns)
    core.create_namespaced_config_map(ns, {"metadata": {"name": "new"}})
    rv = listing.metadata.resource_version
    events = _collect(raw, f"/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=2", 1)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "new")]
    assert events[0]["object"]["kind"] == "ConfigMap"


def test_watch_timeout_seconds_ends_stream(raw: Any, ns: str) -> None:
    """timeoutSeconds closes the stream cleanly after that long."""
    started = time.monotonic()
    response = raw(
        "GET",
        f"/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion=1000000000&timeoutSeconds=1",
        preload=False,
    )
    data = response.read()
    assert response.status == 200 and data == b""
    assert 0.9 <= time.monotonic() - started < 5


def test_watch_label_selector_transitions(core: Any, raw: Any, ns: str) -> None:
    """With a selector, an object entering it is ADDED and one leaving it is DELETED."""
    cm = core.create_namespaced_config_map(ns, {"metadata": {"name": "m", "labels": {"on": "no"}}})
    rv = cm.metadata.resource_version
    core.patch_namespaced_config_map("m", ns, {"metadata": {"labels": {"on": "yes"}}})
    core.patch_namespaced_config_map("m", ns, {"metadata": {"labels": {"on": "no"}}})
    events = _collect(
        raw,
        f"/api/v1/namespaces/{ns}/configmaps?watch=1&labelSelector=on%3Dyes&resourceVersion={rv}&timeoutSeconds=2",
        2,
    )
    assert [e["type"] for e in events] == ["ADDED", "DELETED"]


def test_watch_bookmarks_with_initial_events(raw: Any, ns: str) -> None:
    """sendInitialEvents=true with allowWatchBookmarks ends the initial state with a BOOKMARK
    annotated k8s.io/initial-events-end (watch-list, KEP-3157)."""
    events = _collect(
        raw,
        f"/api/v1/namespaces/{ns}/configmaps?watch=1&sendInitialEvents=true"
        "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=2",
        2,
    )
    assert events[0]["type"] == "ADDED"
    assert events[1]["type"] == "BOOKMARK"
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_watch_single_object_by_field_selector(core: Any, raw: Any, ns: str) -> None:
    """Watching one object: fieldSelector=metadata.name=<name> (what `kubectl wait` does)."""
    core.create_namespaced_config_map(ns, {"metadata": {"name": "x"}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "y"}})
    events = _collect(
        raw, f"/api/v1/namespaces/{ns}/configmaps?watch=1&fieldSelector=metadata.name%3Dy&timeoutSeconds=1", 5
    )
    assert [e["object"]["metadata"]["name"] for e in events] == ["y"]


def test_watch_too_old_resource_version_is_410(kubesim_factory: Any, tmp_path: Any) -> None:
    """A resourceVersion older than the server's event history gets an ERROR event with a 410 Expired Status."""
    from simclient import RawClient

    state = tmp_path / "state"
    first = kubesim_factory(state_dir=state)
    first.stop()
    second = kubesim_factory(state_dir=state)  # a restarted server keeps no history before its start
    events = _collect(RawClient(second), "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=1", 1)
    assert events[0]["type"] == "ERROR" and events[0]["object"]["code"] == 410
    assert events[0]["object"]["reason"] == "Expired"


def test_watch_custom_resource_kind_in_events(raw: Any, ns: str) -> None:
    """Watch events carry kind and apiVersion on every object."""
    raw.json(
        "POST",
        f"/apis/apps/v1/namespaces/{ns}/deployments",
        {
            "metadata": {"name": "w"},
            "spec": {
                "selector": {"matchLabels": {"a": "b"}},
                "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
            },
        },
    )
    events = _collect(raw, f"/apis/apps/v1/namespaces/{ns}/deployments?watch=1&timeoutSeconds=1", 1)
    assert (events[0]["object"]["kind"], events[0]["object"]["apiVersion"]) == ("Deployment", "apps/v1")
