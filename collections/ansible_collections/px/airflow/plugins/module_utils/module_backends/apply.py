# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The apply module's backend: create or patch each object only when it differs, then wait."""

from __future__ import annotations

from ansible_collections.px.airflow.plugins.module_utils import apply as ap
from ansible_collections.px.airflow.plugins.module_utils.errors import InvalidInput
from ansible_collections.px.airflow.plugins.module_utils.service import MERGE_PATCH, label
from ansible_collections.px.airflow.plugins.module_utils.waiter import Waiter, check_wait_options


class ApplyBackend:
    def __init__(self, module, service):
        self.module = module
        self.params = module.params
        self.service = service
        self.waiter = Waiter(service, module.params.get("wait_sleep") or 2.0)

    @staticmethod
    def check(module):
        check_wait_options(module.params)

    def normalize(self, definitions):
        objects = []
        for index, obj in enumerate(definitions):
            if not isinstance(obj, dict) or not obj.get("apiVersion") or not obj.get("kind"):
                raise InvalidInput("definitions[%d] needs apiVersion and kind" % index)
            if not (obj.get("metadata") or {}).get("name"):
                raise InvalidInput("definitions[%d] (%s) needs metadata.name" % (index, obj["kind"]))
            obj = ap.managed(obj)
            _plural, namespaced = self.service.resource(obj["apiVersion"], obj["kind"])
            if namespaced:
                obj["metadata"].setdefault("namespace", self.params["namespace"])
                if not obj["metadata"]["namespace"]:
                    raise InvalidInput(
                        "%s %s needs a namespace (metadata.namespace or the namespace option)"
                        % (obj["kind"], obj["metadata"]["name"])
                    )
            else:
                obj["metadata"].pop("namespace", None)
            objects.append(obj)
        return objects

    def apply_one(self, obj):
        """(action, before, after) of one object; after a 409 (someone wrote in between) it is decided again."""

        def decide(live):
            if live is None:
                after = obj
                if not self.module.check_mode:
                    after = self.service.create(ap.with_annotation(obj))
                return "created", None, after
            patch = ap.plan(obj, live)
            if patch is None:
                return "unchanged", live, live
            after = live
            if not self.module.check_mode:
                # A merge patch of our fields only: a concurrent writer's other fields stay.
                after = self.service.patch(obj, patch, MERGE_PATCH)
            return "updated", live, after

        return self.service.update(obj, decide)

    def run(self):
        params = self.params
        waiting = params["wait"] and not self.module.check_mode
        objects = self.normalize(params["definitions"])
        results, before_diff, after_diff = [], [], []
        # Objects left as they were, as just read: a wait's first look needs no second read of them.
        unchanged = {}
        for obj in objects:
            action, before, _after = self.apply_one(obj)
            if action == "unchanged":
                unchanged[label(obj)] = before
            if waiting and params["sequential"]:
                self.waiter.wait([obj], params["wait_timeout"], known=unchanged)
            results.append(
                {
                    "kind": obj["kind"],
                    "name": obj["metadata"]["name"],
                    "namespace": obj["metadata"].get("namespace"),
                    "action": action,
                }
            )
            if action != "unchanged":
                before_diff.append(ap.shown(before, obj) if before else {})
                after_diff.append(obj)
        changed = any(r["action"] != "unchanged" for r in results)
        result = {"changed": changed, "objects": results}
        if self.module._diff and changed:
            result["diff"] = {"before": before_diff, "after": after_diff}
        if waiting and not params["sequential"]:
            self.waiter.wait(objects, params["wait_timeout"], known=unchanged)
        return result
