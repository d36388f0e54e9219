"""pods/log: container choice, tailLines, timestamps, sinceSeconds, follow, and the errors of a real API server.

Reference: https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#get-read-log-of-the-specified-pod
Logs are fed through kubesim's test-only hook POST /kubesim/v1/namespaces/<ns>/pods/<pod>/log (part 1
runs no containers).
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest
from kubernetes.client.rest import ApiException


def _pod(core: Any, ns: str, name: str = "p", containers: tuple[str, ...] = ("c",), running: bool = True) -> None:
    spec = {"containers": [{"name": c, "image": "busybox"} for c in containers]}
    core.create_namespaced_pod(ns, {"metadata": {"name": name}, "spec": spec})
    if running:
        statuses = [
            {
                "name": c,
                "image": "busybox",
                "imageID": "",
                "ready": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}},
            }
            for c in containers
        ]
        core.patch_namespaced_pod_status(name, ns, {"status": {"phase": "Running", "containerStatuses": statuses}})


def _log(core: Any, ns: str, name: str = "p", **params: Any) -> str:
    # The python client's read_namespaced_pod_log returns str(bytes) for text bodies (kubernetes 36):
    # read the raw response like kubernetes.core's k8s_log does.
    return core.read_namespaced_pod_log(name, ns, _preload_content=False, **params).data.decode()


def _feed(raw: Any, ns: str, pod: str, text: str, container: str = "") -> None:
    query = f"?container={container}" if container else ""
    response = raw(
        "POST", f"/kubesim/v1/namespaces/{ns}/pods/{pod}/log{query}", text, headers={"Content-Type": "text/plain"}
    )
    assert response.status == 200


def test_read_log(core: Any, raw: Any, ns: str) -> None:
    """The container's output, one line per line."""
    _pod(core, ns)
    _feed(raw, ns, "p", "one\ntwo\nthree\n")
    assert _log(core, ns) == "one\ntwo\nthree\n"


def test_tail_lines(core: Any, raw: Any, ns: str) -> None:
    """tailLines returns the last N lines."""
    _pod(core, ns)
    _feed(raw, ns, "p", "one\ntwo\nthree\n")
    assert _log(core, ns, tail_lines=2) == "two\nthree\n"


def test_timestamps(core: Any, raw: Any, ns: str) -> None:
    """timestamps=true prefixes each line with an RFC 3339 timestamp with nanoseconds."""
    _pod(core, ns)
    _feed(raw, ns, "p", "hello\n")
    line = _log(core, ns, timestamps=True)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z hello\n", line)


def test_since_seconds(core: Any, raw: Any, ns: str) -> None:
    """sinceSeconds keeps only recent lines."""
    _pod(core, ns)
    _feed(raw, ns, "p", "recent\n")
    assert _log(core, ns, since_seconds=60) == "recent\n"


def test_container_must_be_named_when_several(core: Any, raw: Any, ns: str) -> None:
    """Two containers and no container parameter: 400 "a container name must be specified"."""
    _pod(core, ns, containers=("a", "b"))
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod_log("p", ns)
    assert exc.value.status == 400
    assert "a container name must be specified for pod p, choose one of: [a b]" in exc.value.body
    _feed(raw, ns, "p", "from b\n", container="b")
    assert _log(core, ns, container="b") == "from b\n"


def test_unknown_container_is_400(core: Any, ns: str) -> None:
    """A container the pod does not have: 400 "container x is not valid for pod p"."""
    _pod(core, ns)
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod_log("p", ns, container="x")
    assert exc.value.status == 400 and "container x is not valid for pod p" in exc.value.body


def test_pending_container_is_400(core: Any, ns: str) -> None:
    """A container that has not started: 400 "... is waiting to start: ContainerCreating"."""
    _pod(core, ns, running=False)
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod_log("p", ns)
    assert exc.value.status == 400 and 'container \\"c\\" in pod \\"p\\" is waiting to start' in exc.value.body


def test_log_of_missing_pod_is_404(core: Any, ns: str) -> None:
    """Logs of a pod that does not exist: 404."""
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod_log("ghost", ns)
    assert exc.value.status == 404


def test_follow_streams_until_container_ends(core: Any, raw: Any, ns: str) -> None:
    """follow=true streams new lines as they come and ends when the container terminates."""
    _pod(core, ns)
    _feed(raw, ns, "p", "first\n")

    def later() -> None:
        time.sleep(0.3)
        _feed(raw, ns, "p", "second\n")
        time.sleep(0.2)
        core.patch_namespaced_pod_status("p", ns, {"status": {"phase": "Succeeded"}})

    threading.Thread(target=later, daemon=True).start()
    started = time.monotonic()
    response = core.read_namespaced_pod_log("p", ns, follow=True, _preload_content=False)
    text = b"".join(response.stream(64)).decode()
    assert text == "first\nsecond\n" and time.monotonic() - started < 5
