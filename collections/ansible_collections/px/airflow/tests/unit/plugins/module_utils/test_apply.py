# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Client-side apply planning: converged objects need no write; changes need exactly one patch."""

from __future__ import annotations

import copy
import json

import pytest
from ansible_collections.px.airflow.plugins.module_utils import apply as ap
from ansible_collections.px.airflow.plugins.module_utils.waiter import readiness

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "ns", "labels": {"app": "web"}},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "img:1", "command": ["run", "--fast"]}]},
        },
    },
}


def as_live(desired):
    """What the API server returns after creating it: defaults, status, server metadata."""
    live = ap.with_annotation(desired)
    live["metadata"].update(uid="u", resourceVersion="5", generation=1, creationTimestamp="2026-01-01T00:00:00Z")
    spec = live["spec"]
    spec.update(revisionHistoryLimit=10, progressDeadlineSeconds=600, strategy={"type": "RollingUpdate"})
    container = spec["template"]["spec"]["containers"][0]
    container.update(imagePullPolicy="IfNotPresent", terminationMessagePath="/dev/termination-log")
    spec["template"]["spec"].update(restartPolicy="Always", dnsPolicy="ClusterFirst")
    live["status"] = {"replicas": 1, "readyReplicas": 1}
    return live


def test_converged_object_needs_no_write_despite_server_defaults_and_lists():
    assert ap.plan(DEPLOYMENT, as_live(DEPLOYMENT)) is None


@pytest.mark.parametrize(
    "change, expected_patch_fragment",
    [
        (lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="img:2"), {"image": "img:2"}),
        (lambda d: d["spec"].update(replicas=3), {"replicas": 3}),
        (lambda d: d["metadata"]["labels"].update(tier="x"), {"tier": "x"}),
        (lambda d: d["spec"]["template"]["spec"]["containers"][0].update(command=["run"]), {"command": ["run"]}),
    ],
)
def test_a_change_gives_one_patch_with_the_desired_fields(change, expected_patch_fragment):
    live = as_live(DEPLOYMENT)
    desired = copy.deepcopy(DEPLOYMENT)
    change(desired)
    patch = ap.plan(desired, live)
    assert patch is not None and json.dumps(expected_patch_fragment)[1:-1] in json.dumps(patch)
    assert json.loads(patch["metadata"]["annotations"][ap.LAST_APPLIED]) == ap.managed(desired)
    assert "name" not in patch["metadata"] and "kind" not in patch


def test_a_field_no_longer_given_is_removed_with_null():
    previous = copy.deepcopy(DEPLOYMENT)
    previous["metadata"]["labels"]["old"] = "1"
    live = as_live(previous)
    patch = ap.plan(DEPLOYMENT, live)
    assert patch["metadata"]["labels"]["old"] is None


def test_drift_in_a_managed_field_is_repaired():
    live = as_live(DEPLOYMENT)
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "hand-edited:9"
    patch = ap.plan(DEPLOYMENT, live)
    assert patch["spec"]["template"]["spec"]["containers"][0]["image"] == "img:1"


def test_an_object_made_by_someone_else_is_adopted_once():
    live = as_live(DEPLOYMENT)
    del live["metadata"]["annotations"]
    patch = ap.plan(DEPLOYMENT, live)
    assert ap.LAST_APPLIED in patch["metadata"]["annotations"]


@pytest.mark.parametrize(
    "desired, live, expected",
    [
        ({"a": 1}, {"a": 1, "b": 2}, True),
        ({"a": [1, 2]}, {"a": [1, 2, 3]}, False),
        ({"a": True}, {"a": 1}, False),
        ({"a": 1}, {"a": 1.0}, True),
        ({"a": None}, {}, True),
        ({"a": None}, {"a": 1}, False),
        ({"a": {"b": "x"}}, {"a": "x"}, False),
    ],
)
def test_is_subset(desired, live, expected):
    assert ap.is_subset(desired, live) is expected


@pytest.mark.parametrize(
    "obj, ready, failure",
    [
        ({"kind": "Job", "status": {"conditions": [{"type": "Complete", "status": "True"}]}}, True, None),
        (
            {
                "kind": "Job",
                "status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]},
            },
            False,
            "BackoffLimitExceeded: ",
        ),
        ({"kind": "PersistentVolumeClaim", "status": {"phase": "Pending"}}, False, None),
        (
            {
                "kind": "Deployment",
                "metadata": {"generation": 2},
                "spec": {"replicas": 2},
                "status": {
                    "observedGeneration": 1,
                    "replicas": 2,
                    "updatedReplicas": 2,
                    "readyReplicas": 2,
                    "availableReplicas": 2,
                },
            },
            False,
            None,
        ),
        (
            {
                "kind": "Deployment",
                "metadata": {"generation": 2},
                "spec": {"replicas": 2},
                "status": {
                    "observedGeneration": 2,
                    "replicas": 2,
                    "updatedReplicas": 2,
                    "readyReplicas": 2,
                    "availableReplicas": 2,
                },
            },
            True,
            None,
        ),
        (
            {
                "kind": "StatefulSet",
                "metadata": {"generation": 1},
                "spec": {"replicas": 1},
                "status": {
                    "observedGeneration": 1,
                    "readyReplicas": 1,
                    "updatedReplicas": 1,
                    "currentRevision": "a",
                    "updateRevision": "b",
                },
            },
            False,
            None,
        ),
        ({"kind": "ConfigMap"}, True, None),
    ],
)
def test_readiness(obj, ready, failure):
    assert readiness(obj) == (ready, failure)


def test_a_secrets_values_are_kept_in_the_annotation_only_as_digests():
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "ns"},
        "data": {"token": "c2VjcmV0LXZhbHVl"},
        "stringData": {"plain": "secret-value"},
    }
    body = ap.with_annotation(secret)
    annotation = body["metadata"]["annotations"][ap.LAST_APPLIED]
    assert "c2VjcmV0LXZhbHVl" not in annotation and "secret-value" not in annotation
    assert json.loads(annotation)["data"]["token"].startswith("sha256:")
    # Applied as recorded, the same Secret is converged; a changed value is not.
    converged = dict(secret)
    converged.pop("stringData")
    live_converged = ap.with_annotation(converged)
    assert ap.plan(converged, live_converged) is None
    changed = dict(converged, data={"token": "b3RoZXI="})
    patch = ap.plan(changed, live_converged)
    assert patch["data"] == {"token": "b3RoZXI="}
    assert "b3RoZXI=" not in patch["metadata"]["annotations"][ap.LAST_APPLIED]
