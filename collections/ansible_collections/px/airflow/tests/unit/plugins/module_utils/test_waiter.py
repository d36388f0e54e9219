# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for what a failed wait explains (no cluster needed: the API answers from a table)."""

from __future__ import annotations

import json

import pytest
from ansible_collections.px.airflow.plugins.module_utils.errors import PxAirflowError
from ansible_collections.px.airflow.plugins.module_utils.service import KubeService
from ansible_collections.px.airflow.plugins.module_utils.transport import Response, RestError
from ansible_collections.px.airflow.plugins.module_utils.waiter import Waiter

NS = "web"
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NS}}


class FakeClient:
    """Answers GETs from ``answers`` (path -> object, or an int for an error status); logs as text."""

    host = "https://api.example:6443"

    def __init__(self, answers):
        self.answers = answers
        self.paths = []

    def request(self, method, path, query=None, body=None, headers=None, timeout=None):
        self.paths.append(path)
        answer = self.answers.get(path, 404)
        if isinstance(answer, int):
            raise RestError(answer, "error", b"{}")
        data = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
        return Response(200, "OK", {}, data)


def deployment(replicas_ready=0):
    return {
        **DEPLOYMENT,
        "metadata": {**DEPLOYMENT["metadata"], "generation": 1},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}},
        "status": {
            "observedGeneration": 1,
            "readyReplicas": replicas_ready,
            "conditions": [{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"}],
        },
    }


def pod(phase, conditions, container_state=None):
    status = {"phase": phase, "conditions": conditions}
    if container_state:
        status["containerStatuses"] = [{"name": "main", "state": container_state}]
    return {"metadata": {"name": "web-1"}, "status": status}


def node(name, status, reason, message, taints=()):
    return {
        "metadata": {"name": name},
        "spec": {"taints": [{"key": key, "effect": effect} for key, effect in taints]},
        "status": {"conditions": [{"type": "Ready", "status": status, "reason": reason, "message": message}]},
    }


def timed_out(answers, client=None):
    """The message of a wait that times out at once; ``client`` (a FakeClient) keeps the paths requested."""
    client = client or FakeClient(answers)
    with pytest.raises(PxAirflowError) as failure:
        Waiter(KubeService(client)).wait([DEPLOYMENT], 0)
    return failure.value.msg


def test_a_timeout_names_the_notready_nodes_and_why_a_pod_is_not_scheduled():
    unscheduled = pod(
        "Pending",
        [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/2 nodes are available"}],
    )
    message = timed_out(
        {
            "/apis/apps/v1/namespaces/web/deployments/web": deployment(),
            "/api/v1/namespaces/web/pods": {"items": [unscheduled]},
            "/api/v1/namespaces/web/events": {"items": []},
            "/api/v1/nodes": {
                "items": [
                    node(
                        "n1",
                        "Unknown",
                        "NodeStatusUnknown",
                        "Kubelet stopped posting node status.",
                        [("node.kubernetes.io/unreachable", "NoSchedule")],
                    ),
                    node("n2", "True", "KubeletReady", "kubelet is posting ready status"),
                ]
            },
        }
    )
    assert message.startswith("Timed out after 0 s waiting for Deployment web/web.")
    assert "pod web-1 phase Pending not scheduled: Unschedulable 0/2 nodes are available" in message
    assert (
        "node n1 NotReady: NodeStatusUnknown Kubelet stopped posting node status. "
        "(taints: node.kubernetes.io/unreachable:NoSchedule)" in message
    )
    assert "n2" not in message


def test_nodes_that_cannot_be_listed_are_left_out():
    client = FakeClient(
        {
            "/apis/apps/v1/namespaces/web/deployments/web": deployment(),
            "/api/v1/namespaces/web/pods": {"items": []},
            "/api/v1/namespaces/web/events": {"items": []},
            "/api/v1/nodes": 403,
        }
    )
    message = timed_out(None, client)
    assert "/api/v1/nodes" in client.paths
    assert "node " not in message


def test_a_running_pod_that_is_not_ready_is_shown_with_its_last_log_lines():
    unready = pod(
        "Running",
        [{"type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": "unready: [main]"}],
        {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
    )
    message = timed_out(
        {
            "/apis/apps/v1/namespaces/web/deployments/web": deployment(),
            "/api/v1/namespaces/web/pods": {"items": [unready]},
            "/api/v1/namespaces/web/pods/web-1/log": "starting\nlistening on 8080\n",
            "/api/v1/namespaces/web/events": {"items": []},
            "/api/v1/nodes": {"items": []},
        }
    )
    assert "pod web-1 phase Running not ready: ContainersNotReady unready: [main]" in message
    assert "    log: listening on 8080" in message


def test_a_ready_running_pod_shows_no_log():
    ready = pod("Running", [{"type": "Ready", "status": "True"}], {"running": {}})
    client = FakeClient(
        {
            "/apis/apps/v1/namespaces/web/deployments/web": deployment(),
            "/api/v1/namespaces/web/pods": {"items": [ready]},
            "/api/v1/namespaces/web/events": {"items": []},
            "/api/v1/nodes": {"items": []},
        }
    )
    timed_out(None, client)
    assert not any(path.endswith("/log") for path in client.paths)


def ready_deployment():
    ready = deployment(replicas_ready=1)
    ready["status"].update(replicas=1, updatedReplicas=1, availableReplicas=1)
    ready["status"]["conditions"] = [{"type": "Available", "status": "True"}]
    return ready


def test_an_object_read_a_moment_ago_and_ready_is_not_read_again():
    client = FakeClient({})
    ready = ready_deployment()
    latest = Waiter(KubeService(client)).wait([DEPLOYMENT], 10, known={"Deployment web/web": ready})
    assert client.paths == []
    assert latest == {"Deployment web/web": ready}


def test_an_object_read_a_moment_ago_and_not_ready_is_read_again_until_it_is():
    path = "/apis/apps/v1/namespaces/web/deployments/web"
    ready = ready_deployment()
    client = FakeClient({path: ready})
    latest = Waiter(KubeService(client), sleep=0.01).wait([DEPLOYMENT], 10, known={"Deployment web/web": deployment()})
    assert client.paths == [path]
    assert latest["Deployment web/web"]["status"]["readyReplicas"] == 1
