"""Label selectors (equality- and set-based) and field selectors.

References: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors and
https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client.rest import ApiException

LABELS = {
    "a": {"app": "web", "tier": "front"},
    "b": {"app": "web", "tier": "back"},
    "c": {"app": "db"},
    "d": {},
}


@pytest.fixture
def labelled(core: Any, ns: str) -> str:
    for name, labels in LABELS.items():
        core.create_namespaced_config_map(ns, {"metadata": {"name": name, "labels": labels}})
    return ns


@pytest.mark.parametrize(
    "selector,expected",
    [
        ("app=web", {"a", "b"}),
        ("app==web", {"a", "b"}),
        ("app!=web", {"c", "d", "kube-root-ca.crt"}),
        ("app=web,tier=back", {"b"}),
        ("tier in (front,back)", {"a", "b"}),
        ("app notin (web)", {"c", "d", "kube-root-ca.crt"}),
        ("tier", {"a", "b"}),
        ("!tier", {"c", "d", "kube-root-ca.crt"}),
        ("app in (web, db), !tier", {"c"}),
    ],
)
def test_label_selector(core: Any, labelled: str, selector: str, expected: set[str]) -> None:
    """Equality (=, ==, !=) and set-based (in, notin, exists, !exists) requirements, ANDed."""
    names = {c.metadata.name for c in core.list_namespaced_config_map(labelled, label_selector=selector).items}
    assert names == expected


@pytest.mark.parametrize("selector", ["app in web", "app=a b", "=x", "app in ()"])
def test_invalid_label_selector_is_400(core: Any, ns: str, selector: str) -> None:
    """A selector that does not parse is a 400 BadRequest."""
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_config_map(ns, label_selector=selector)
    assert exc.value.status == 400


def test_field_selector_metadata_name(core: Any, labelled: str) -> None:
    """metadata.name is selectable on every resource."""
    items = core.list_namespaced_config_map(labelled, field_selector="metadata.name=b").items
    assert [c.metadata.name for c in items] == ["b"]
    items = core.list_namespaced_config_map(labelled, field_selector="metadata.name!=b").items
    assert "b" not in {c.metadata.name for c in items}


def test_field_selector_metadata_namespace(core: Any, labelled: str) -> None:
    """metadata.namespace across all namespaces."""
    items = core.list_config_map_for_all_namespaces(field_selector=f"metadata.namespace={labelled}").items
    assert {c.metadata.namespace for c in items} == {labelled}


def test_unknown_field_selector_is_400(core: Any, ns: str) -> None:
    """Fields a resource does not index are rejected: 400 "field label not supported"."""
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_config_map(ns, field_selector="data.key=x")
    assert exc.value.status == 400 and "field label not supported: data.key" in exc.value.body


def test_pod_field_selectors(core: Any, ns: str) -> None:
    """Pods select on status.phase and spec.nodeName."""
    spec = {"containers": [{"name": "c", "image": "busybox"}]}
    core.create_namespaced_pod(ns, {"metadata": {"name": "p1"}, "spec": {**spec, "nodeName": "node-1"}})
    core.create_namespaced_pod(ns, {"metadata": {"name": "p2"}, "spec": spec})
    core.patch_namespaced_pod_status("p1", ns, {"status": {"phase": "Running"}})
    running = core.list_namespaced_pod(ns, field_selector="status.phase=Running").items
    assert [p.metadata.name for p in running] == ["p1"]
    on_node = core.list_namespaced_pod(ns, field_selector="spec.nodeName=node-1").items
    assert [p.metadata.name for p in on_node] == ["p1"]
    unscheduled = core.list_namespaced_pod(ns, field_selector="spec.nodeName=").items
    assert [p.metadata.name for p in unscheduled] == ["p2"]


def test_event_involved_object_selectors(core: Any, ns: str) -> None:
    """Events select on involvedObject.name/kind/namespace (what `kubectl describe` uses)."""
    for name, kind, target in (("e1", "Pod", "p1"), ("e2", "Pod", "p2"), ("e3", "Deployment", "p1")):
        core.create_namespaced_event(
            ns,
            {
                "metadata": {"name": name},
                "reason": "Test",
                "message": "m",
                "involvedObject": {"kind": kind, "name": target, "namespace": ns},
            },
        )
    selector = f"involvedObject.name=p1,involvedObject.kind=Pod,involvedObject.namespace={ns}"
    assert [e.metadata.name for e in core.list_namespaced_event(ns, field_selector=selector).items] == ["e1"]


def test_secret_type_field_selector(core: Any, ns: str) -> None:
    """Secrets select on type."""
    core.create_namespaced_secret(ns, {"metadata": {"name": "o"}, "type": "Opaque"})
    core.create_namespaced_secret(
        ns, {"metadata": {"name": "t"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}
    )
    names = [s.metadata.name for s in core.list_namespaced_secret(ns, field_selector="type=kubernetes.io/tls").items]
    assert names == ["t"]
