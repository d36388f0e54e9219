# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one access layer: paths by kind, retries and their budget, preconditions, 409 re-read, typed errors."""

from __future__ import annotations

import pytest
from ansible_collections.px.airflow.plugins.module_utils.errors import ApiFailure, ConnectionError_
from ansible_collections.px.airflow.plugins.module_utils.service import Conflict, KindNotServed, NotFound, ref

CM = ref("v1", "ConfigMap", "cm", "ns")
CM_PATH = "/api/v1/namespaces/ns/configmaps/cm"


@pytest.mark.parametrize(
    "obj, path",
    [
        (CM, CM_PATH),
        (ref("apps/v1", "Deployment", "web", "ns"), "/apis/apps/v1/namespaces/ns/deployments/web"),
        (ref("storage.k8s.io/v1", "StorageClass", "px-db"), "/apis/storage.k8s.io/v1/storageclasses/px-db"),
        # A cluster-scoped kind ignores a namespace given by mistake.
        (ref("v1", "Namespace", "airflow", "ns"), "/api/v1/namespaces/airflow"),
    ],
)
def test_paths_come_from_the_kinds_table(service, api, obj, path):
    assert service.path(obj) == path
    assert api.requests == []  # no discovery for a known kind


def test_other_kinds_are_discovered_once_and_a_missing_group_is_named(service, api):
    api.put(
        "/apis/snapshot.storage.k8s.io/v1",
        {"resources": [{"name": "volumesnapshots", "kind": "VolumeSnapshot", "namespaced": True}]},
    )
    snap = ref("snapshot.storage.k8s.io/v1", "VolumeSnapshot", "s", "ns")
    assert service.path(snap) == "/apis/snapshot.storage.k8s.io/v1/namespaces/ns/volumesnapshots/s"
    assert service.path(snap) == "/apis/snapshot.storage.k8s.io/v1/namespaces/ns/volumesnapshots/s"
    assert [r[1] for r in api.requests] == ["/apis/snapshot.storage.k8s.io/v1"]
    with pytest.raises(KindNotServed, match=r"does not serve example\.com/v1 Widget: is its CRD"):
        service.path(ref("example.com/v1", "Widget", "w", "ns"))
    assert service.get(ref("example.com/v1", "Widget", "w", "ns")) is None
    assert service.list("example.com/v1", "Widget", "ns") == []


@pytest.mark.parametrize(
    "status, retry_after, attempts, slept",
    [
        (429, 1, 8, [1.0] * 7),  # the server's Retry-After, every time
        (429, 90, 4, [32.0] * 3),  # capped at APF's 32 s, and the budget (120 s) ends it
        (503, None, 6, None),  # back-off 0.5, 1, 2, 4, 8 (each with up to a quarter more)
        (500, None, 3, None),  # a 500 is usually a refusal that stays (a failing webhook)
        (500, 2, 3, [2.0, 2.0]),
        (403, None, 1, []),  # not retried: retrying does not change permissions
    ],
)
def test_retries_follow_the_status_and_stop_within_the_budget(service, api, status, retry_after, attempts, slept):
    api.fail("GET", CM_PATH, status, retry_after, times=20)
    with pytest.raises(ApiFailure) as failure:
        service.get(CM)
    assert len(api.requests) == attempts
    assert failure.value.status == status
    assert failure.value.msg.startswith(f"Failed to read ConfigMap ns/cm: {status} Fault: injected {status}")
    if slept is not None:
        assert service.slept == slept
    else:
        assert len(service.slept) == attempts - 1
        assert all(0.5 * 2**i <= s <= 0.5 * 2**i * 1.25 for i, s in enumerate(service.slept))


def test_a_throttled_request_succeeds_once_the_server_lets_it_through(service, api):
    api.put(CM_PATH, {"data": {"a": "1"}})
    api.fail("GET", CM_PATH, 429, retry_after=3, times=2)
    assert service.get(CM)["data"] == {"a": "1"}
    assert service.slept == [3.0, 3.0]


@pytest.mark.parametrize(
    "status, error, hint",
    [
        (404, NotFound, None),
        (409, Conflict, None),
        (403, ApiFailure, "check the kubeconfig user's credentials and its RBAC permissions"),
        (429, ApiFailure, "priority and fairness"),
    ],
)
def test_failures_are_typed_and_say_what_to_check(service, api, status, error, hint):
    api.fail("PATCH", CM_PATH, status, retry_after=40 if status == 429 else None, times=20)
    with pytest.raises(error) as failure:
        service.patch(CM, {"data": {"a": "2"}})
    assert failure.value.msg.startswith(f"Failed to update ConfigMap ns/cm: {status}")
    if hint:
        assert hint in failure.value.msg


def test_connection_errors_name_the_target_and_give_up_after_two_attempts(service):
    class Refused:
        host = "https://127.0.0.1:1"
        px_target = "kubeconfig /k, context c"
        calls = 0

        def request(self, *args, **kwargs):
            Refused.calls += 1
            raise ConnectionRefusedError("connection refused")

    service.transport = Refused()
    with pytest.raises(ConnectionError_) as failure:
        service.list("v1", "Pod", "ns")
    assert Refused.calls == 2
    assert "Cannot reach the Kubernetes API at https://127.0.0.1:1 (kubeconfig /k, context c) to list Pod in ns" in (
        failure.value.msg
    )


def test_a_write_with_a_precondition_never_overwrites_a_change_made_since_it_was_read(service, api):
    live = api.put(CM_PATH, {"data": {"a": "1"}})
    api.put(CM_PATH, {"data": {"a": "other"}})  # someone writes after we read
    with pytest.raises(Conflict):
        service.patch(CM, {"data": {"a": "2"}}, resource_version=live["metadata"]["resourceVersion"])
    with pytest.raises(Conflict):
        service.replace(dict(CM, data={"a": "2"}), live["metadata"]["resourceVersion"])
    assert api.objects[CM_PATH]["data"] == {"a": "other"}


def test_update_reads_again_after_a_409_and_decides_on_what_it_reads(service, api):
    api.put(CM_PATH, {"data": {"a": "1"}})
    seen = []

    def decide(live):
        seen.append(dict(live["data"]))
        if len(seen) == 1:
            api.put(CM_PATH, {"data": {"a": "1", "b": "theirs"}})  # a second writer, in between
        data = dict(live["data"], mine="yes")
        return service.patch(CM, {"data": data}, resource_version=live["metadata"]["resourceVersion"])

    after = service.update(CM, decide)
    assert seen == [{"a": "1"}, {"a": "1", "b": "theirs"}]
    assert after["data"] == {"a": "1", "b": "theirs", "mine": "yes"}
    assert [m for m, _p in api.writes()] == ["PATCH", "PATCH"]


def test_update_gives_up_after_its_attempts(service, api):
    api.put(CM_PATH, {"data": {}})
    api.fail("PATCH", CM_PATH, 409, times=10)
    with pytest.raises(Conflict):
        service.update(CM, lambda live: service.patch(CM, {"data": {"x": "1"}}))
    assert len(api.sent("PATCH", CM_PATH)) == 4


def test_delete_says_whether_there_was_something_to_delete(service, api):
    api.put(CM_PATH, {})
    assert service.delete(CM) is True
    assert service.delete(CM) is False
    assert api.requests[0][2] is None
    service.delete(ref("batch/v1", "Job", "j", "ns"), propagation="Background")
    assert api.requests[-1][2] == [("propagationPolicy", "Background")]


def test_lists_filter_by_labels_and_names(service, api):
    api.put("/api/v1/namespaces/a/services/portworx-api", {"metadata": {"labels": {"app": "px"}}})
    api.put("/api/v1/namespaces/b/services/other", {"metadata": {"labels": {"app": "px"}}})
    assert [s["metadata"]["name"] for s in service.list("v1", "Service", selector="app=px")] == [
        "portworx-api",
        "other",
    ]
    named = service.list("v1", "Service", field_selector="metadata.name=portworx-api")
    assert [s["metadata"]["name"] for s in named] == ["portworx-api"]
    assert api.requests[-1][2] == [("fieldSelector", "metadata.name=portworx-api")]


def test_a_pods_log_is_text(service, api):
    api.logs["/api/v1/namespaces/ns/pods/p"] = "one\ntwo\nthree\n"
    assert service.pod_log("ns", "p", 2) == "two\nthree\n"
    with pytest.raises(NotFound):
        service.pod_log("ns", "missing", 2)
