# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The objects_info module's backend: read or list objects, after waiting for those asked for."""

from __future__ import annotations

from ansible_collections.px.airflow.plugins.module_utils.errors import InvalidInput
from ansible_collections.px.airflow.plugins.module_utils.service import KindNotServed, label, ref
from ansible_collections.px.airflow.plugins.module_utils.waiter import Waiter, check_wait_options

SECRET_VALUES = ("data", "stringData")
# kubectl's annotation keeps a Secret's values in clear; ours keeps digests, left out all the same.
LAST_APPLIED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration", "px.airflow/last-applied")


def validate(params):
    """Refuse what cannot be honoured, naming the query by its index and kind."""
    check_wait_options(params)
    for index, query in enumerate(params["queries"]):
        if query["wait"] and not query["name"]:
            raise InvalidInput(
                "queries[%d] (%s) sets wait=true without a name: name the object to wait for" % (index, query["kind"])
            )
        if query["name"] and query["label_selectors"]:
            raise InvalidInput(
                "queries[%d] (%s) gives both name and label_selectors: give one of them" % (index, query["kind"])
            )


def without_secret_values(obj):
    """A Secret without its values, including the copies last-applied annotations keep of them."""
    if obj.get("kind") != "Secret":
        return obj
    kept = {key: value for key, value in obj.items() if key not in SECRET_VALUES}
    annotations = (kept.get("metadata") or {}).get("annotations")
    if annotations:
        kept["metadata"] = dict(
            kept["metadata"],
            annotations={k: v for k, v in annotations.items() if k not in LAST_APPLIED_ANNOTATIONS},
        )
    return kept


class ObjectsInfoBackend:
    def __init__(self, module, service):
        self.module = module
        self.params = module.params
        self.service = service
        self.waiter = Waiter(service, module.params.get("wait_sleep") or 2.0)

    def answer(self, query, latest):
        found = {"kind": query["kind"], "api_version": query["api_version"], "api_found": True, "resources": []}
        try:
            self.service.resource(query["api_version"], query["kind"])
        except KindNotServed:
            found["api_found"] = False
            return found
        if query["name"]:
            stub = _stub(query)
            obj = latest[label(stub)] if label(stub) in latest else self.service.get(stub)
            items = [obj] if obj else []
        else:
            selector = ",".join(query["label_selectors"]) or None
            items = self.service.list(query["api_version"], query["kind"], query["namespace"], selector)
        for item in items:
            item.setdefault("apiVersion", query["api_version"])
            item.setdefault("kind", query["kind"])
        found["resources"] = [without_secret_values(item) for item in items]
        return found

    @staticmethod
    def check(module):
        validate(module.params)

    def run(self):
        waits = [_stub(q) for q in self.params["queries"] if q["wait"]]
        latest = {}
        if waits and not self.module.check_mode:
            for obj in waits:
                self.service.resource(obj["apiVersion"], obj["kind"])  # a kind that is not served is an error here
            latest = self.waiter.wait(waits, self.params["wait_timeout"])
        return {"changed": False, "results": [self.answer(query, latest) for query in self.params["queries"]]}


def _stub(query):
    return ref(query["api_version"], query["kind"], query["name"], query["namespace"])
