# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The secrets module's backend: generate-once values, rotation on request, written with a precondition."""

from __future__ import annotations

import base64

from ansible_collections.px.airflow.plugins.module_utils.errors import PxAirflowError
from ansible_collections.px.airflow.plugins.module_utils.secret_values import (
    data_digest,
    plan,
    render_template,
    validate_keys,
)
from ansible_collections.px.airflow.plugins.module_utils.service import STRATEGIC_MERGE_PATCH, ref


def _decode(secret):
    data = (secret or {}).get("data") or {}
    return {key: base64.b64decode(value).decode("utf-8") for key, value in data.items()}


def _encode(data):
    return {key: base64.b64encode(value.encode("utf-8")).decode("ascii") for key, value in data.items()}


class SecretsBackend:
    def __init__(self, module, service):
        self.module = module
        self.params = module.params
        self.service = service
        self.what = "Secret %s/%s" % (self.params["namespace"], self.params["name"])

    def ref(self, name=None):
        return ref("v1", "Secret", name or self.params["name"], self.params["namespace"])

    def read(self, name=None):
        return self.service.get(self.ref(name))

    def rendered_keys(self, existing):
        """The keys, with each kind=template key's text rendered from the Secrets it refers to.

        ``existing`` is this Secret's decoded data (None when it does not exist): a template may
        refer to a key of its own Secret without a second read.
        """
        sources = {self.params["name"]: existing}
        missing = []

        def read_value(secret, key):
            if secret not in sources:
                found = self.read(secret)
                sources[secret] = _decode(found) if found is not None else None
            value = (sources[secret] or {}).get(key)
            if value is None:
                missing.append("key %s of Secret %s/%s" % (key, self.params["namespace"], secret))
            else:
                self.module.no_log_values.add(value)
            return value

        keys = []
        for key in self.params["keys"]:
            if key["kind"] == "template":
                del missing[:]
                value = render_template(key, read_value)
                if value is None:
                    if not self.module.check_mode:
                        raise PxAirflowError(
                            "%s: keys.%s refers to %s, which does not exist. Create it first (for the database "
                            "password, run the px.airflow.postgres role, or create the Secret with that key)."
                            % (self.what, key["name"], ", ".join(missing))
                        )
                    value = "\0unknown until %s exists" % ", ".join(ref["secret"] for ref in key["refs"].values())
                self.module.no_log_values.add(value)
                key = dict(key, value=value)
            keys.append(key)
        return keys

    @staticmethod
    def check(module):
        if module.params["state"] == "present":
            validate_keys(module.params["keys"], module.params["rotate"])

    def run(self):
        # A writer that changed the Secret since we read it makes our write fail with 409: the
        # Secret is then read again and decided on again, so its change is kept.
        return self.service.update(self.ref(), self._decide)

    def _decide(self, live):
        if self.params["state"] == "absent":
            return self._absent(live)
        existing = _decode(live) if live is not None else None
        data, added, rotated, updated = plan(existing, self.rendered_keys(existing), self.params["rotate"])
        # Keep every generated value out of any output, whatever a later task prints.
        for key in added + rotated + updated:
            self.module.no_log_values.add(data[key])
        labels = self.params.get("labels") or {}
        live_labels = ((live or {}).get("metadata") or {}).get("labels") or {}
        label_drift = {k: v for k, v in labels.items() if live_labels.get(k) != v}
        changed = live is None or bool(added or rotated or updated or label_drift)
        written = live
        if changed:
            written = None
            if not self.module.check_mode:
                written = self._write(live, data, added + rotated + updated, labels, label_drift)
        result = {
            "changed": changed,
            "resource_version": ((written or {}).get("metadata") or {}).get("resourceVersion", ""),
            "data_digest": data_digest(self.params["name"], data),
            "keys": sorted(data),
            "added": added,
            "rotated": rotated,
            "updated": updated,
        }
        if self.module._diff:
            result["diff"] = {
                "before": {"keys": sorted(existing or {})} if live is not None else {},
                "after": {"keys": sorted(data), "changed_keys": sorted(added + rotated + updated)},
            }
        return result

    def _write(self, live, data, touched, labels, label_drift):
        if live is None:
            body = {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {"name": self.params["name"], "namespace": self.params["namespace"]},
                "data": _encode(data),
            }
            if labels:
                body["metadata"]["labels"] = labels
            return self.service.create(body)
        # Send only what changes, with the resourceVersion we read: a concurrent writer makes this
        # fail with 409 instead of being overwritten.
        patch = {"metadata": {}}
        if touched:
            patch["data"] = _encode({key: data[key] for key in touched})
        if label_drift:
            patch["metadata"]["labels"] = label_drift
        return self.service.patch(
            self.ref(), patch, STRATEGIC_MERGE_PATCH, resource_version=live["metadata"]["resourceVersion"]
        )

    def _absent(self, live):
        if live is not None and not self.module.check_mode:
            self.service.delete(self.ref())
        return {
            "changed": live is not None,
            "keys": [],
            "added": [],
            "rotated": [],
            "updated": [],
            "resource_version": "",
            "data_digest": "",
        }
