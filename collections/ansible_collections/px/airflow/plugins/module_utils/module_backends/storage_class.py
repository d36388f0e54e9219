# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The storage_class module's backend: create, patch, recreate (when asked) or delete one StorageClass."""

from __future__ import annotations

import copy

from ansible_collections.px.airflow.plugins.module_utils.errors import InvalidInput
from ansible_collections.px.airflow.plugins.module_utils.service import STRATEGIC_MERGE_PATCH, ref
from ansible_collections.px.airflow.plugins.module_utils.storage_class import (
    build_desired,
    comparable,
    compare,
    describe_differences,
    mutable_patch,
    validate,
)


class StorageClassBackend:
    """Decides what to do with one StorageClass and does it (unless in check mode)."""

    def __init__(self, module, service):
        self.module = module
        self.params = module.params
        self.service = service
        self.name = self.params["name"]
        self.ref = ref("storage.k8s.io/v1", "StorageClass", self.name)

    def _create(self, desired):
        return self.service.create(desired)

    def _delete(self):
        self.service.delete(self.ref)

    @staticmethod
    def check(module):
        """Bad input fails here, before anything is read."""
        for warning in validate(module.params):
            module.warn(warning)

    def run(self):
        return self.service.update(self.ref, self._decide)

    def _decide(self, live):
        if self.params["state"] == "absent":
            return self._absent(live)
        return self._present(live)

    def _result(self, action, before, after, differences=None):
        result = {
            "changed": action != "none",
            "operation": action,
            "storage_class": after or {},
            "differences": {field: list(pair) for field, pair in (differences or {}).items()},
        }
        if self.module._diff:
            result["diff"] = {"before": comparable(before), "after": comparable(after)}
        return result

    def _absent(self, live):
        if live is None:
            return self._result("none", None, None)
        if not self.module.check_mode:
            self._delete()
        return self._result("deleted", live, None)

    def _present(self, live):
        desired = build_desired(self.params)
        if live is None:
            after = desired if self.module.check_mode else self._create(desired)
            return self._result("created", None, after)
        immutable, mutable = compare(live, desired)
        if immutable and not self.params["recreate"]:
            raise InvalidInput(
                "StorageClass %s exists with different %s, which Kubernetes does not allow to change (%s). "
                "Set recreate=true to delete and recreate the class (existing volumes keep working), "
                "or choose another name." % (self.name, ", ".join(sorted(immutable)), describe_differences(immutable)),
                differences={field: list(pair) for field, pair in immutable.items()},
            )
        if immutable:
            merged = dict(desired)
            merged["metadata"] = self._merged_metadata(live, desired)
            if self.module.check_mode:
                return self._result("recreated", live, merged, dict(immutable, **mutable))
            self._delete()
            return self._result("recreated", live, self._create(merged), dict(immutable, **mutable))
        if mutable:
            patch = mutable_patch(mutable)
            if self.module.check_mode:
                after = self._apply_locally(live, patch)
            else:
                after = self.service.patch(
                    self.ref, patch, STRATEGIC_MERGE_PATCH, resource_version=live["metadata"]["resourceVersion"]
                )
            return self._result("updated", live, after, mutable)
        return self._result("none", live, live)

    @staticmethod
    def _merged_metadata(live, desired):
        """Keep the labels and annotations others set on the class when recreating it."""
        metadata = {"name": desired["metadata"]["name"]}
        for section in ("labels", "annotations"):
            merged = dict((live.get("metadata") or {}).get(section) or {})
            merged.update(desired["metadata"].get(section) or {})
            if merged:
                metadata[section] = merged
        return metadata

    @staticmethod
    def _apply_locally(live, patch):
        after = copy.deepcopy(live)
        for key, value in patch.items():
            if key == "metadata":
                for section, entries in value.items():
                    after["metadata"].setdefault(section, {}).update(entries)
            else:
                after[key] = value
        return after
