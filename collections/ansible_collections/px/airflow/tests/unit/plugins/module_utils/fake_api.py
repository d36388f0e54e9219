# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fake transport for the backends' unit tests: the only thing mocked is the wire.

``FakeApi`` keeps objects by REST path and answers GET, POST, PATCH (merge), PUT and DELETE as
the API server does for the parts the backends use: resourceVersion preconditions (409),
AlreadyExists (409), NotFound (404), label and name selectors on lists, pods' logs. Faults are
queued per request (a status, optionally with Retry-After). Every request is recorded.
"""

from __future__ import annotations

import copy
import itertools
import json

from ansible_collections.px.airflow.plugins.module_utils.transport import Response, RestError

WRITES = ("POST", "PATCH", "PUT", "DELETE")


def merge(target, patch):
    """RFC 7386 JSON merge patch (what the backends' patches need of strategic merge too)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


class FakeApi:
    host = "https://fake.invalid:6443"
    px_target = "a fake API"

    def __init__(self):
        self.objects = {}
        self.logs = {}
        self.faults = []
        self.requests = []
        self.on_create = {}
        self._versions = itertools.count(100)

    # ------------------------------------------------------------ set-up

    def put(self, path, obj):
        """Store an object at its REST path, as if someone had created it."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("name", path.rsplit("/", 1)[1])
        meta["resourceVersion"] = str(next(self._versions))
        meta.setdefault("uid", f"uid-{meta['resourceVersion']}")
        self.objects[path] = obj
        return obj

    def fail(self, method, path, status, retry_after=None, times=1):
        """The next ``times`` requests of ``method`` on ``path`` answer ``status``."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self.faults.extend([(method, path, status, headers)] * times)

    # ------------------------------------------------------------ what happened

    def writes(self):
        return [(m, p) for m, p, _q, _b in self.requests if m in WRITES]

    def sent(self, method, path):
        return [b for m, p, _q, b in self.requests if (m, p) == (method, path)]

    # ------------------------------------------------------------ the wire

    def request(self, method, path, query=None, body=None, headers=None, timeout=None):
        self.requests.append((method, path, query, copy.deepcopy(body)))
        for fault in self.faults:
            if fault[:2] == (method, path):
                self.faults.remove(fault)
                raise RestError(fault[2], "Fault", json.dumps({"message": f"injected {fault[2]}"}), fault[3])
        handler = getattr(self, "_" + method.lower())
        status, answer = handler(path, dict(query or []), body)
        if status >= 400:
            raise RestError(status, f"Status{status}", json.dumps({"message": answer}))
        data = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode() if answer else b""
        return Response(status, "OK", {}, data)

    def _get(self, path, query, _body):
        if path.endswith("/log"):
            pod = path[: -len("/log")]
            if pod not in self.logs:
                return 404, "no log"
            lines = self.logs[pod].splitlines(True)
            return 200, "".join(lines[-int(query.get("tailLines", len(lines))) :])
        if path in self.objects:
            return 200, copy.deepcopy(self.objects[path])
        items = [copy.deepcopy(o) for p, o in sorted(self.objects.items()) if self._listed(path, p, o, query)]
        if items or self._is_collection(path):
            return 200, {"items": items}
        return 404, f"{path} not found"

    def _is_collection(self, path):
        return any(p.rsplit("/", 1)[0] == path or _across_namespaces(p) == path for p in self.objects) or (
            path.rsplit("/", 1)[1] in ("pods", "configmaps", "jobs", "events", "nodes", "secrets", "services")
        )

    @staticmethod
    def _listed(path, stored, obj, query):
        if stored.rsplit("/", 1)[0] != path and _across_namespaces(stored) != path:
            return False
        labels = obj.get("metadata", {}).get("labels") or {}
        for term in filter(None, (query.get("labelSelector") or "").split(",")):
            key, _sep, value = term.partition("=")
            if labels.get(key) != value:
                return False
        field = query.get("fieldSelector")
        return not field or field == f"metadata.name={obj['metadata']['name']}"

    def _post(self, path, _query, body):
        target = f"{path}/{body['metadata']['name']}"
        if target in self.objects:
            return 409, f"{target} already exists"
        obj = self.put(target, body)
        hook = self.on_create.get(body.get("kind"))
        if hook:
            hook(self, target, obj)
        return 201, copy.deepcopy(self.objects[target])

    def _patch(self, path, _query, body):
        live = self.objects.get(path)
        if live is None:
            return 404, f"{path} not found"
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        if wanted and wanted != live["metadata"]["resourceVersion"]:
            return 409, "the object has been modified"
        merged = merge(live, body)
        merged["metadata"]["resourceVersion"] = str(next(self._versions))
        self.objects[path] = merged
        return 200, copy.deepcopy(merged)

    def _put(self, path, _query, body):
        live = self.objects.get(path)
        if live is None:
            return 404, f"{path} not found"
        if body["metadata"].get("resourceVersion") != live["metadata"]["resourceVersion"]:
            return 409, "the object has been modified"
        replaced = copy.deepcopy(body)
        replaced["metadata"]["resourceVersion"] = str(next(self._versions))
        self.objects[path] = replaced
        return 200, copy.deepcopy(replaced)

    def _delete(self, path, _query, _body):
        if self.objects.pop(path, None) is None:
            return 404, f"{path} not found"
        return 200, {"kind": "Status", "status": "Success"}


def _across_namespaces(path):
    """/api/v1/namespaces/ns/pods/x -> /api/v1/pods (a list of every namespace)."""
    parts = path.split("/")
    if "namespaces" in parts:
        at = parts.index("namespaces")
        if len(parts) > at + 3:
            return "/".join(parts[:at] + parts[at + 2 : -1])
    return None


class FakeModule:
    """What a backend uses of AnsibleModule."""

    def __init__(self, params, check_mode=False, diff=False):
        self.params = params
        self.check_mode = check_mode
        self._diff = diff
        self.no_log_values = set()
        self.warnings = []

    def warn(self, message):
        self.warnings.append(message)
