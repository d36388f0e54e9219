# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each module backend's decision table: the existing state and the parameters give the action,
``changed``, the diff and the writes sent (check mode sends none). Only the wire is faked."""

from __future__ import annotations

import base64
import json

import pytest
from ansible_collections.px.airflow.plugins.module_utils import apply as ap
from ansible_collections.px.airflow.plugins.module_utils.errors import InvalidInput, PxAirflowError
from ansible_collections.px.airflow.plugins.module_utils.module_backends.apply import ApplyBackend
from ansible_collections.px.airflow.plugins.module_utils.module_backends.dag_run import DagRunBackend
from ansible_collections.px.airflow.plugins.module_utils.module_backends.dag_sync import (
    VERSION_KEY,
    DagSyncBackend,
    read_state,
    state_key,
)
from ansible_collections.px.airflow.plugins.module_utils.module_backends.objects_info import ObjectsInfoBackend
from ansible_collections.px.airflow.plugins.module_utils.module_backends.secrets import SecretsBackend
from ansible_collections.px.airflow.plugins.module_utils.module_backends.storage_class import StorageClassBackend
from ansible_collections.px.airflow.plugins.module_utils.portworx import PortworxInfoBackend
from ansible_collections.px.airflow.tests.unit.plugins.module_utils.fake_api import FakeModule

NS = "ns"

# ---------------------------------------------------------------------------- apply

CM_PATH = "/api/v1/namespaces/ns/configmaps/cm"


def configmap(data, **meta):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": dict(name="cm", namespace=NS, **meta), "data": data}


def apply_params(*definitions, **given):
    return dict(
        {
            "definitions": list(definitions),
            "namespace": None,
            "wait": False,
            "wait_timeout": 60,
            "wait_sleep": 2,
            "sequential": False,
        },
        **given,
    )


def applied(data):
    """The ConfigMap as our earlier apply left it: the fields and the last-applied annotation."""
    return ap.with_annotation(configmap(data))


@pytest.mark.parametrize(
    "live, desired, action, writes",
    [
        (None, configmap({"a": "1"}), "created", [("POST", "/api/v1/namespaces/ns/configmaps")]),
        (applied({"a": "1"}), configmap({"a": "1"}), "unchanged", []),
        (applied({"a": "1"}), configmap({"a": "2"}), "updated", [("PATCH", CM_PATH)]),
        # A field we applied before and no longer want is removed; one someone else added is kept.
        (applied({"a": "1", "old": "x"}), configmap({"a": "1"}), "updated", [("PATCH", CM_PATH)]),
        # Server-side additions (labels from a policy engine) do not make it differ.
        (
            dict(applied({"a": "1"}), metadata=dict(applied({"a": "1"})["metadata"], labels={"x": "y"})),
            configmap({"a": "1"}),
            "unchanged",
            [],
        ),
    ],
)
@pytest.mark.parametrize("check_mode", [False, True])
def test_apply_decides_per_object(api, service, live, desired, action, writes, check_mode):
    if live is not None:
        api.put(CM_PATH, live)
    module = FakeModule(apply_params(desired), check_mode=check_mode, diff=True)
    result = ApplyBackend(module, service).run()
    assert result["objects"] == [{"kind": "ConfigMap", "name": "cm", "namespace": NS, "action": action}]
    assert result["changed"] is (action != "unchanged")
    assert api.writes() == ([] if check_mode else writes)
    assert ("diff" in result) is result["changed"]
    if not check_mode and action != "unchanged":
        assert api.objects[CM_PATH]["data"] == desired["data"]
    if action == "updated" and not check_mode:
        (patch,) = api.sent("PATCH", CM_PATH)
        assert "old" not in api.objects[CM_PATH]["data"]
        assert "resourceVersion" not in patch["metadata"]  # a merge patch: a concurrent writer's fields stay


def test_apply_takes_the_namespace_option_and_refuses_objects_it_cannot_place(api, service):
    cm = configmap({"a": "1"})
    del cm["metadata"]["namespace"]
    result = ApplyBackend(FakeModule(apply_params(cm, namespace="other")), service).run()
    assert result["objects"][0]["namespace"] == "other"
    with pytest.raises(InvalidInput, match="ConfigMap cm needs a namespace"):
        ApplyBackend(FakeModule(apply_params(cm)), service).run()
    with pytest.raises(InvalidInput, match=r"definitions\[0\] needs apiVersion and kind"):
        ApplyBackend(FakeModule(apply_params({"metadata": {"name": "x"}})), service).run()
    with pytest.raises(InvalidInput, match="wait_sleep must be at least 1 second"):
        ApplyBackend.check(FakeModule(apply_params(cm, wait_sleep=0)))


def test_apply_created_by_someone_in_between_is_read_again_and_patched(api, service):
    desired = configmap({"a": "1"})

    def someone_creates_first(*_args):
        api.put(CM_PATH, configmap({"b": "theirs"}))

    api.fail("POST", "/api/v1/namespaces/ns/configmaps", 409)
    api.on_create["ConfigMap"] = None
    service.sleep = someone_creates_first  # the other writer acts while we back off
    result = ApplyBackend(FakeModule(apply_params(desired)), service).run()
    assert result["objects"][0]["action"] == "updated"
    assert api.objects[CM_PATH]["data"] == {"a": "1", "b": "theirs"}


def test_apply_waits_for_workloads_and_explains_a_failed_job(api, service):
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "namespace": NS}, "spec": {}}

    def fails(fake, path, obj):
        obj["status"] = {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}

    api.on_create["Job"] = fails
    with pytest.raises(PxAirflowError, match="Job ns/migrate failed: BackoffLimitExceeded"):
        ApplyBackend(FakeModule(apply_params(job, wait=True)), service).run()
    # Check mode writes nothing and so waits for nothing.
    api.objects.clear()
    result = ApplyBackend(FakeModule(apply_params(job, wait=True), check_mode=True), service).run()
    assert result["changed"] and api.writes() == [("POST", "/apis/batch/v1/namespaces/ns/jobs")]


# ---------------------------------------------------------------------------- secrets

SECRET_PATH = "/api/v1/namespaces/ns/secrets/s"


def secret_params(*keys, **given):
    spec = [dict({"kind": "token", "length": 32, "value": None, "refs": None}, **key) for key in keys]
    return dict({"name": "s", "namespace": NS, "keys": spec, "rotate": [], "labels": None, "state": "present"}, **given)


def stored(**data):
    return {"data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def _decode_stored(secret):
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def decoded(api):
    return {k: base64.b64decode(v).decode() for k, v in api.objects[SECRET_PATH]["data"].items()}


@pytest.mark.parametrize(
    "live, keys, given, changed, added, rotated, updated",
    [
        (None, [{"name": "t"}], {}, True, ["t"], [], []),
        (stored(t="kept"), [{"name": "t"}], {}, False, [], [], []),
        (stored(t="kept"), [{"name": "t"}, {"name": "u"}], {}, True, ["u"], [], []),
        (stored(t="kept"), [{"name": "t"}], {"rotate": ["t"]}, True, [], ["t"], []),
        (stored(v="a"), [{"name": "v", "kind": "value", "value": "b"}], {}, True, [], [], ["v"]),
        (stored(t="kept"), [{"name": "t"}], {"labels": {"app": "af"}}, True, [], [], []),
    ],
)
@pytest.mark.parametrize("check_mode", [False, True])
def test_secrets_generate_once_and_change_only_what_is_asked(
    api, service, live, keys, given, changed, added, rotated, updated, check_mode
):
    if live is not None:
        api.put(SECRET_PATH, live)
    before = api.objects.get(SECRET_PATH)
    module = FakeModule(secret_params(*keys, **given), check_mode=check_mode, diff=True)
    SecretsBackend.check(module)
    result = SecretsBackend(module, service).run()
    assert (result["changed"], result["added"], result["rotated"], result["updated"]) == (
        changed,
        added,
        rotated,
        updated,
    )
    assert result["diff"]["after"]["changed_keys"] == sorted(added + rotated + updated)
    if check_mode or not changed:
        assert api.writes() == []
        assert api.objects.get(SECRET_PATH) == before
        return
    expected = [("POST", "/api/v1/namespaces/ns/secrets")] if live is None else [("PATCH", SECRET_PATH)]
    assert api.writes() == expected
    if live is not None:
        (patch,) = api.sent("PATCH", SECRET_PATH)
        # Only what changes, with the resourceVersion read: never a generated value rewritten.
        assert patch["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        assert sorted(patch.get("data") or {}) == sorted(added + rotated + updated)
        for name, value in _decode_stored(live).items():
            if name not in rotated + updated:
                assert decoded(api)[name] == value  # a generated value is never rewritten
    for name in added + rotated + updated:
        assert decoded(api)[name] in module.no_log_values


def test_a_secret_changed_by_someone_else_meanwhile_is_read_again_and_their_value_kept(api, service):
    api.put(SECRET_PATH, stored(t="kept"))
    first = api.objects[SECRET_PATH]["metadata"]["resourceVersion"]

    def they_add_u(*_args):
        api.put(SECRET_PATH, stored(t="kept", u="theirs"))

    api.fail("PATCH", SECRET_PATH, 409)
    service.sleep = they_add_u
    result = SecretsBackend(FakeModule(secret_params({"name": "t"}, {"name": "u"})), service).run()
    # The second decision sees their u: nothing to add any more.
    assert result["changed"] is False and result["added"] == []
    assert decoded(api) == {"t": "kept", "u": "theirs"}
    assert api.sent("PATCH", SECRET_PATH)[0]["metadata"]["resourceVersion"] == first


def test_secret_absent_deletes_once(api, service):
    api.put(SECRET_PATH, stored(t="x"))
    module = FakeModule(secret_params({"name": "t"}, state="absent"))
    assert SecretsBackend(module, service).run()["changed"] is True
    assert SecretsBackend(module, service).run()["changed"] is False
    assert api.writes() == [("DELETE", SECRET_PATH)]


def test_a_template_key_refers_to_another_secret(api, service):
    api.put("/api/v1/namespaces/ns/secrets/db", stored(password="p@ss"))
    key = {
        "name": "uri",
        "kind": "template",
        "value": "postgresql://u:${pw}@h/db",
        "refs": {"pw": {"secret": "db", "key": "password", "encode": "url"}},
    }
    module = FakeModule(secret_params(key))
    SecretsBackend(module, service).run()
    assert decoded(api)["uri"] == "postgresql://u:p%40ss@h/db"
    assert "p@ss" in module.no_log_values
    missing = dict(key, refs={"pw": {"secret": "nope", "key": "password"}})
    with pytest.raises(PxAirflowError, match="refers to key password of Secret ns/nope, which does not exist"):
        SecretsBackend(FakeModule(secret_params(missing)), service).run()


# ---------------------------------------------------------------------------- storage_class

SC_PATH = "/apis/storage.k8s.io/v1/storageclasses/px-db"


def sc_params(**given):
    base = dict.fromkeys(
        [
            "repl",
            "io_profile",
            "priority_io",
            "sharedv4",
            "sharedv4_svc_type",
            "sharedv4_failover_strategy",
            "fs",
            "secure",
            "secret",
            "snap_interval",
            "snapshot_schedule",
            "group",
            "nodes",
            "zones",
            "racks",
            "aggregation_level",
            "journal",
            "placement_strategy",
            "extra_parameters",
            "reclaim_policy",
            "volume_binding_mode",
            "allow_volume_expansion",
            "mount_options",
            "default_class",
            "labels",
            "annotations",
        ]
    )
    base.update(name="px-db", state="present", provisioner="csi", recreate=False)
    base.update(given)
    return base


def existing_class(api, **given):
    module = FakeModule(sc_params(**given))
    StorageClassBackend(module, api_service(api)).run()
    api.requests.clear()


def api_service(api):
    from ansible_collections.px.airflow.plugins.module_utils.service import KubeService

    return KubeService(api, sleep=lambda s: None)


@pytest.mark.parametrize(
    "existing, given, operation, writes",
    [
        (None, {"repl": 2}, "created", ["POST"]),
        ({"repl": 2}, {"repl": 2}, "none", []),
        ({"repl": 2}, {"repl": 2, "allow_volume_expansion": True}, "updated", ["PATCH"]),
        ({"repl": 2}, {"repl": 3, "recreate": True}, "recreated", ["DELETE", "POST"]),
        ({"repl": 2}, {"state": "absent"}, "deleted", ["DELETE"]),
        (None, {"state": "absent"}, "none", []),
    ],
)
@pytest.mark.parametrize("check_mode", [False, True])
def test_storage_class_decides(api, service, existing, given, operation, writes, check_mode):
    if existing is not None:
        existing_class(api, **existing)
    module = FakeModule(sc_params(**given), check_mode=check_mode, diff=True)
    StorageClassBackend.check(module)
    result = StorageClassBackend(module, service).run()
    assert result["operation"] == operation and result["changed"] is (operation != "none")
    assert [m for m, _p in api.writes()] == ([] if check_mode else writes)
    if operation == "updated" and not check_mode:
        (patch,) = api.sent("PATCH", SC_PATH)
        assert patch["metadata"]["resourceVersion"]  # written only over what was read
    if not check_mode and given.get("state") != "absent":
        assert api.objects[SC_PATH]["parameters"]["repl"] == str(given["repl"])


def test_storage_class_refuses_an_immutable_change_without_recreate(api, service):
    existing_class(api, repl=2)
    with pytest.raises(InvalidInput, match="StorageClass px-db exists with different parameters") as failure:
        StorageClassBackend(FakeModule(sc_params(repl=3)), service).run()
    assert "Set recreate=true" in failure.value.msg
    assert failure.value.details["differences"] == {"parameters": [{"repl": "2"}, {"repl": "3"}]}
    assert api.writes() == []


# ---------------------------------------------------------------------------- objects_info


def test_objects_info_reads_lists_and_hides_secret_values(api, service):
    api.put(
        SECRET_PATH, dict(stored(t="x"), kind="Secret", metadata={"annotations": {"px.airflow/last-applied": "{}"}})
    )
    api.put(CM_PATH, configmap({"a": "1"}, labels={"tier": "web"}))
    params = {
        "queries": [
            {"api_version": "v1", "kind": "Secret", "name": "s", "namespace": NS, "label_selectors": [], "wait": False},
            {
                "api_version": "v1",
                "kind": "ConfigMap",
                "name": None,
                "namespace": NS,
                "label_selectors": ["tier=web"],
                "wait": False,
            },
            {
                "api_version": "example.com/v1",
                "kind": "Widget",
                "name": None,
                "namespace": NS,
                "label_selectors": [],
                "wait": False,
            },
        ],
        "wait_timeout": 10,
        "wait_sleep": 2,
    }
    result = ObjectsInfoBackend(FakeModule(params), service).run()
    secret, configmaps, widgets = result["results"]
    assert "data" not in secret["resources"][0] and not secret["resources"][0]["metadata"]["annotations"]
    assert [c["metadata"]["name"] for c in configmaps["resources"]] == ["cm"]
    assert widgets["api_found"] is False and widgets["resources"] == []
    assert result["changed"] is False and api.writes() == []


def test_objects_info_refuses_a_wait_without_a_name_naming_the_query():
    query = {"api_version": "v1", "kind": "Pod", "name": None, "namespace": NS, "label_selectors": [], "wait": True}
    with pytest.raises(InvalidInput, match=r"queries\[0\] \(Pod\) sets wait=true without a name"):
        ObjectsInfoBackend.check(FakeModule({"queries": [query], "wait_timeout": 10, "wait_sleep": 2}))


# ---------------------------------------------------------------------------- portworx_info


@pytest.mark.parametrize(
    "phase, installed, healthy",
    [(None, False, False), ("Running", True, True), ("Online", True, True), ("Degraded", True, False)],
)
def test_portworx_info_reports_what_the_api_shows(api, service, phase, installed, healthy):
    if phase:
        api.put("/apis/storage.k8s.io/v1/csidrivers/pxd.portworx.com", {})
        api.put(
            "/apis/core.libopenstorage.org/v1/namespaces/portworx/storageclusters/px",
            {"metadata": {"namespace": "portworx"}, "status": {"phase": phase, "version": "3.2.1"}},
        )
        api.put("/apis/core.libopenstorage.org/v1/namespaces/portworx/storagenodes/n1", {"status": {"phase": "Online"}})
        api.put("/api/v1/namespaces/portworx/services/portworx-api", {"metadata": {"namespace": "portworx"}})
    result = PortworxInfoBackend(FakeModule({}), service).run()
    assert (result["installed"], result["healthy"], result["changed"]) == (installed, healthy, False)
    assert result["storage_nodes"] == (1 if phase else 0) and result["api_service"] is bool(phase)
    assert result["version"] == ("3.2.1" if phase else None)
    assert api.writes() == []


# ---------------------------------------------------------------------------- dag_sync


def dag_sync_params(src, **given):
    return dict(
        {
            "src": str(src),
            "namespace": NS,
            "pvc": "dags",
            "keep_versions": 3,
            "exclude": [],
            "validate": False,
            "force": False,
            "max_file_size": 1024,
            "max_total_size": 4096,
            "image": "python:3.12-slim",
            "image_pull_secrets": [],
            "run_as_user": 50000,
            "run_as_group": 0,
            "wait_timeout": 60,
            "wait_sleep": 2,
        },
        **given,
    )


def job_completes(api, summary):
    def complete(fake, path, job):
        job["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
        pod = "/api/v1/namespaces/ns/pods/{}-x".format(job["metadata"]["name"])
        fake.put(pod, {"metadata": {"labels": {"job-name": job["metadata"]["name"]}}})
        fake.logs[pod] = f"copying\n{json.dumps(summary)}\n"

    api.on_create["Job"] = complete


STATE_PATH = "/api/v1/namespaces/ns/configmaps/dags-sync-state"


@pytest.mark.parametrize("check_mode", [False, True])
def test_dag_sync_sends_only_what_changed_and_records_it_after_the_job(api, service, tmp_path, check_mode):
    (tmp_path / "a.py").write_text("A = 1\n")
    (tmp_path / "b.py").write_text("B = 1\n")
    job_completes(api, {"version": "v", "files": 2})
    first = DagSyncBackend(FakeModule(dag_sync_params(tmp_path)), service).run()
    assert first["changed"] and first["added"] == ["a.py", "b.py"] and first["job"] == {"version": "v", "files": 2}
    files, version = read_state(api.objects[STATE_PATH])
    assert version == first["version"] and sorted(files) == ["a.py", "b.py"]
    # The sync's ConfigMaps and Job are gone afterwards; only the state remains.
    assert sorted(api.objects) == [STATE_PATH, *sorted(p for p in api.objects if "/pods/" in p)]

    api.requests.clear()
    again = DagSyncBackend(FakeModule(dag_sync_params(tmp_path)), service).run()
    assert again["changed"] is False and api.writes() == []

    (tmp_path / "b.py").write_text("B = 2\n")
    module = FakeModule(dag_sync_params(tmp_path), check_mode=check_mode, diff=True)
    changed = DagSyncBackend(module, service).run()
    assert changed["changed"] and changed["modified"] == ["b.py"] and changed["diff"]["prepared"] == "~ b.py\n"
    if check_mode:
        assert api.writes() == []
        return
    sent = [b for m, p, _q, b in api.requests if m == "POST" and p.endswith("/configmaps")]
    blobs = [cm for cm in sent if cm.get("binaryData")]
    assert [base64.b64decode(v) for cm in blobs for v in cm["binaryData"].values()] == [b"B = 2\n"]
    (patch,) = api.sent("PATCH", STATE_PATH)
    assert patch["metadata"]["resourceVersion"] and set(patch["data"]) == {VERSION_KEY, state_key("b.py")}


def test_dag_sync_a_failed_job_keeps_the_recorded_version_and_explains(api, service, tmp_path):
    (tmp_path / "a.py").write_text("A = 1\n")

    def fails(fake, path, job):
        job["status"] = {"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]}

    api.on_create["Job"] = fails
    with pytest.raises(PxAirflowError) as failure:
        DagSyncBackend(FakeModule(dag_sync_params(tmp_path)), service).run()
    assert "did not complete (image python:3.12-slim); the volume still serves the previous version" in (
        failure.value.msg
    )
    assert "DeadlineExceeded" in failure.value.msg
    assert STATE_PATH not in api.objects
    assert not [p for p in api.objects if "/jobs/" in p or "-sync-" in p]  # cleaned up


def test_dag_sync_refuses_bad_settings_before_reading_anything(tmp_path):
    for given, message in (
        ({"keep_versions": 0}, "keep_versions must be at least 1"),
        ({"wait_timeout": 0}, "wait_timeout must be at least 1 second"),
        ({"image": " "}, "image must name an image with python3"),
    ):
        with pytest.raises(InvalidInput, match=message):
            DagSyncBackend.check(FakeModule(dag_sync_params(tmp_path, **given)))


# ---------------------------------------------------------------------------- dag_run


class FakeAirflow:
    """Answers AirflowClient.call from a table of (method, path) -> answers, the last one repeating."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def call(self, method, path, body=None, ok=(200,), accept=None):
        self.calls.append((method, path, body))
        queue = self.answers[(method, path.split("?")[0])]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return 200, answer


DAG = "/api/v2/dags/demo"
RUN = DAG + "/dagRuns/r1"


def run_params(**given):
    return dict(
        {
            "dag_id": "demo",
            "conf": {},
            "run_id": "r1",
            "unpause": True,
            "wait": True,
            "wait_timeout": 30,
            "dag_wait_timeout": 30,
            "wait_sleep": 1,
            "log_tail_lines": 5,
        },
        **given,
    )


@pytest.mark.parametrize(
    "existing, paused, check_mode, changed, calls",
    [
        (None, True, False, True, ["PATCH", "POST"]),  # unpause, trigger
        (None, False, False, True, ["POST"]),
        ({"state": "success"}, True, False, False, []),  # already done: nothing triggered
        (None, True, True, True, []),  # check mode: says it would trigger
    ],
)
def test_dag_run_decides(monkeypatch, existing, paused, check_mode, changed, calls):
    from ansible_collections.px.airflow.plugins.module_utils import waiter
    from ansible_collections.px.airflow.plugins.module_utils.airflow_api import AirflowApiError

    monkeypatch.setattr(waiter.time, "sleep", lambda s: None)
    done = {
        "dag_run_id": "r1",
        "state": "success",
        "start_date": "2026-01-01T00:00:00Z",
        "end_date": "2026-01-01T00:00:02.5Z",
    }
    airflow = FakeAirflow(
        {
            ("GET", DAG): [{"is_paused": paused}],
            ("GET", RUN): [AirflowApiError("no run", status=404)] if existing is None else [done],
            ("PATCH", DAG): [{}],
            ("POST", DAG + "/dagRuns"): [{"dag_run_id": "r1", "state": "queued"}],
            ("GET", RUN + "/taskInstances"): [{"task_instances": [{"task_id": "t", "state": "success"}]}],
        }
    )
    if existing is None and not check_mode:
        # Not there yet; then, once triggered, running and done.
        airflow.answers[("GET", RUN)] = [
            AirflowApiError("no run", status=404),
            {"dag_run_id": "r1", "state": "running"},
            done,
        ]
    result = DagRunBackend(FakeModule(run_params(), check_mode=check_mode), airflow).run()
    assert result["changed"] is changed
    assert [m for m, _p, _b in airflow.calls if m != "GET"] == calls
    if not check_mode:
        assert result["state"] == "success" and result["duration"] == 2.5
        assert result["tasks"][0]["task_id"] == "t"
    else:
        assert result["state"] == "would-trigger"


def test_dag_run_that_fails_names_its_failed_tasks_with_their_log(monkeypatch):
    from ansible_collections.px.airflow.plugins.module_utils import waiter

    monkeypatch.setattr(waiter.time, "sleep", lambda s: None)
    airflow = FakeAirflow(
        {
            ("GET", DAG): [{"is_paused": False}],
            ("GET", RUN): [{"dag_run_id": "r1", "state": "failed"}],
            ("GET", RUN + "/taskInstances"): [
                {"task_instances": [{"task_id": "write", "state": "failed", "try_number": 1}]}
            ],
            ("GET", RUN + "/taskInstances/write/logs/1"): [{"content": [{"event": "boom: disk full"}]}],
        }
    )
    with pytest.raises(PxAirflowError) as failure:
        DagRunBackend(FakeModule(run_params()), airflow).run()
    assert "DAG run demo/r1 failed: write=failed" in failure.value.msg and "boom: disk full" in failure.value.msg
