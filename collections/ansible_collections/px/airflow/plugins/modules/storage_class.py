#!/usr/bin/python
# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: storage_class
short_description: Manage a Portworx StorageClass with typed, validated parameters
version_added: 0.1.0
description:
  - Creates, updates or removes a Kubernetes StorageClass for Portworx, with the Portworx
    parameters as typed options that are checked before anything is sent to the cluster.
  - Compares with the live class knowing what the API server defaults (C(reclaimPolicy=Delete),
    C(volumeBindingMode=Immediate)), so a converged class is reported unchanged and no write is sent.
  - The provisioner, parameters, reclaim policy and volume binding mode of a StorageClass cannot be
    changed. A change to them fails, showing the difference, unless O(recreate=true), which deletes
    and recreates the class. Volumes already provisioned from the class keep working, as a
    PersistentVolume keeps its own copy of what it was provisioned with; only new claims get the
    new parameters.
author:
  - px.airflow contributors (@px-airflow)
extends_documentation_fragment:
  - px.airflow.k8s_auth
  - px.airflow.attributes
  - px.airflow.attributes.FULL
options:
  name:
    description: Name of the StorageClass.
    type: str
    required: true
  state:
    description: Whether the class should exist.
    type: str
    choices: [present, absent]
    default: present
  provisioner:
    description:
      - V(csi) uses the Portworx CSI driver C(pxd.portworx.com) (recommended).
      - V(intree) uses the deprecated in-tree C(kubernetes.io/portworx-volume), which Kubernetes
        migrates to the CSI driver from 1.31 on (GA and locked on from 1.33).
    type: str
    choices: [csi, intree]
    default: csi
  repl:
    description: Number of replicas Portworx keeps of each volume (Portworx parameter C(repl)).
    type: int
    choices: [1, 2, 3]
  io_profile:
    description:
      - Portworx I/O profile (C(io_profile)).
      - V(db_remote), V(auto), V(none), V(journal) and V(use_cluster_default) are current.
        V(auto_journal), V(sequential), V(cms), V(db) and V(sync_shared) are accepted with a
        deprecation warning.
    type: str
  priority_io:
    description: I/O priority of the volumes (C(priority_io)).
    type: str
    choices: [low, medium, high]
  sharedv4:
    description:
      - Make volumes sharedv4 (NFS-backed, ReadWriteMany). Rendered as the string C("true").
      - The CSI driver makes ReadWriteMany claims sharedv4 anyway; setting it states the intent and
        is required for the sharedv4 service options.
    type: bool
  sharedv4_svc_type:
    description: Service type of sharedv4 service volumes. Needs O(sharedv4=true).
    type: str
    choices: [ClusterIP, LoadBalancer]
  sharedv4_failover_strategy:
    description: Failover strategy of sharedv4 volumes. Needs O(sharedv4=true).
    type: str
    choices: [aggressive, normal]
  fs:
    description: Filesystem of the volumes. PX-StoreV2 supports ext4 only.
    type: str
    choices: [ext4, xfs]
  secure:
    description: Encrypt the volumes (C(secure)).
    type: bool
  secret:
    description:
      - The Secret holding the volume encryption key or PX-Security token, rendered as the CSI
        secret references (provisioner, node-publish and controller-expand). Needs O(secure=true)
        and O(provisioner=csi).
    type: dict
    suboptions:
      name:
        description: Name of the Secret. C(${pvc.name}) style templates are passed as they are.
        type: str
        required: true
      namespace:
        description: Namespace of the Secret.
        type: str
        required: true
  snap_interval:
    description: Minutes between local snapshots (C(snap_interval)); 0 disables them.
    type: int
  snapshot_schedule:
    description:
      - A Stork snapshot schedule for the volumes, rendered as the parameter
        C(snapshotschedule.stork.libopenstorage.org/<name>). Needs Stork.
    type: dict
    suboptions:
      name:
        description: Name of the schedule.
        type: str
        required: true
      policy:
        description: Name of the Stork SchedulePolicy.
        type: str
        required: true
      type:
        description: Local snapshots or cloud snapshots.
        type: str
        choices: [local, cloud]
        default: local
  group:
    description: Volume group; replicas of volumes in one group are placed apart.
    type: str
  nodes:
    description: Node IDs to place the replicas on.
    type: list
    elements: str
  zones:
    description: Zones to place the replicas in.
    type: list
    elements: str
  racks:
    description: Racks to place the replicas in.
    type: list
    elements: str
  aggregation_level:
    description: Aggregation level, V(1), V(2), V(3) or V(auto).
    type: str
  journal:
    description: Use a journal device for the volumes' metadata.
    type: bool
  placement_strategy:
    description: Name of a Portworx VolumePlacementStrategy.
    type: str
  extra_parameters:
    description:
      - Other Portworx parameters, passed to the class unchecked, with a warning. Prefer the typed
        options; a key also set by a typed option is refused.
    type: dict
  reclaim_policy:
    description: What happens to a volume when its claim is deleted. The API server defaults to V(Delete).
    type: str
    choices: [Delete, Retain]
  volume_binding_mode:
    description: When volumes are provisioned. The API server defaults to V(Immediate).
    type: str
    choices: [Immediate, WaitForFirstConsumer]
  allow_volume_expansion:
    description: Whether claims of this class may grow.
    type: bool
  mount_options:
    description: Mount options for the volumes.
    type: list
    elements: str
  default_class:
    description:
      - Mark the class as the cluster's default (V(true)) or explicitly not (V(false)); leave unset
        to not manage the annotation.
    type: bool
  labels:
    description: Labels the class must have. Other labels are left alone.
    type: dict
  annotations:
    description: Annotations the class must have. Other annotations are left alone.
    type: dict
  recreate:
    description:
      - When a change touches a field Kubernetes does not allow to change (provisioner, parameters,
        reclaim policy, volume binding mode), delete and recreate the class instead of failing.
      - Existing volumes keep working; claims made while the class is absent stay Pending until it
        is back.
    type: bool
    default: false
seealso:
  - module: px.airflow.portworx_info
  - name: Portworx StorageClass parameters
    description: Portworx's reference of the StorageClass parameters.
    link: https://docs.portworx.com/portworx-enterprise/reference/crd/storage-class
"""

EXAMPLES = r"""
- name: A class for databases, 3 replicas, kept when the claim is deleted
  px.airflow.storage_class:
    name: px-airflow-db
    repl: 3
    io_profile: db_remote
    priority_io: high
    reclaim_policy: Retain
    allow_volume_expansion: true

- name: A ReadWriteMany class for shared DAGs and logs
  px.airflow.storage_class:
    name: px-airflow-shared
    repl: 2
    sharedv4: true
    sharedv4_svc_type: ClusterIP

- name: Change the replica count, which needs a new class
  px.airflow.storage_class:
    name: px-airflow-scratch
    repl: 2
    recreate: true
"""

RETURN = r"""
storage_class:
  description: The StorageClass as the API server holds it after the run (empty when absent).
  returned: always
  type: dict
  sample: {apiVersion: storage.k8s.io/v1, kind: StorageClass, metadata: {name: px-airflow-db},
           provisioner: pxd.portworx.com, parameters: {repl: "3", io_profile: db_remote}, reclaimPolicy: Retain}
operation:
  description: What was done, or would be done in check mode.
  returned: always
  type: str
  sample: created
  choices: [none, created, updated, recreated, deleted]
differences:
  description: The fields that differed, each with the live and the desired value.
  returned: always
  type: dict
  sample: {parameters: [{repl: "2"}, {repl: "3"}]}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.px.airflow.plugins.module_utils.args import auth_argument_spec
from ansible_collections.px.airflow.plugins.module_utils.client import (
    STRATEGIC_MERGE_PATCH,
    build_api_client,
    read_object,
    request_json,
)
from ansible_collections.px.airflow.plugins.module_utils.errors import InvalidInput
from ansible_collections.px.airflow.plugins.module_utils.module import run_module
from ansible_collections.px.airflow.plugins.module_utils.storage_class import (
    build_desired,
    comparable,
    compare,
    describe_differences,
    mutable_patch,
    validate,
)

ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "provisioner": {"type": "str", "choices": ["csi", "intree"], "default": "csi"},
    "repl": {"type": "int", "choices": [1, 2, 3]},
    "io_profile": {"type": "str"},
    "priority_io": {"type": "str", "choices": ["low", "medium", "high"]},
    "sharedv4": {"type": "bool"},
    "sharedv4_svc_type": {"type": "str", "choices": ["ClusterIP", "LoadBalancer"]},
    "sharedv4_failover_strategy": {"type": "str", "choices": ["aggressive", "normal"]},
    "fs": {"type": "str", "choices": ["ext4", "xfs"]},
    "secure": {"type": "bool"},
    "secret": {
        "type": "dict",
        # A reference (name and namespace) to a Secret, not a secret value.
        "no_log": False,
        "options": {"name": {"type": "str", "required": True}, "namespace": {"type": "str", "required": True}},
    },
    "snap_interval": {"type": "int"},
    "snapshot_schedule": {
        "type": "dict",
        "options": {
            "name": {"type": "str", "required": True},
            "policy": {"type": "str", "required": True},
            "type": {"type": "str", "choices": ["local", "cloud"], "default": "local"},
        },
    },
    "group": {"type": "str"},
    "nodes": {"type": "list", "elements": "str"},
    "zones": {"type": "list", "elements": "str"},
    "racks": {"type": "list", "elements": "str"},
    "aggregation_level": {"type": "str"},
    "journal": {"type": "bool"},
    "placement_strategy": {"type": "str"},
    "extra_parameters": {"type": "dict"},
    "reclaim_policy": {"type": "str", "choices": ["Delete", "Retain"]},
    "volume_binding_mode": {"type": "str", "choices": ["Immediate", "WaitForFirstConsumer"]},
    "allow_volume_expansion": {"type": "bool"},
    "mount_options": {"type": "list", "elements": "str"},
    "default_class": {"type": "bool"},
    "labels": {"type": "dict"},
    "annotations": {"type": "dict"},
    "recreate": {"type": "bool", "default": False},
}


class StorageClassRunner:
    """Decides what to do with one StorageClass and does it (unless in check mode)."""

    def __init__(self, module, client):
        self.module = module
        self.params = module.params
        self.client = client
        self.name = self.params["name"]
        self.path = "/apis/storage.k8s.io/v1/storageclasses"

    def live(self):
        return read_object(self.client, "%s/%s" % (self.path, self.name), "read StorageClass %s" % self.name)

    def _write(self, what, method, path, body=None, content_type=None):
        return request_json(
            self.client, method, path, "%s StorageClass %s" % (what, self.name), body, content_type=content_type
        )

    def _create(self, desired):
        return self._write("create", "POST", self.path, desired)

    def _delete(self):
        self._write("delete", "DELETE", "%s/%s" % (self.path, self.name))

    def run(self):
        live = self.live()
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
                after = self._write("patch", "PATCH", "%s/%s" % (self.path, self.name), patch, STRATEGIC_MERGE_PATCH)
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
        import copy

        after = copy.deepcopy(live)
        for key, value in patch.items():
            if key == "metadata":
                for section, entries in value.items():
                    after["metadata"].setdefault(section, {}).update(entries)
            else:
                after[key] = value
        return after


def _body(module):
    # Bad input fails here, before the client is even built.
    for warning in validate(module.params):
        module.warn(warning)
    client = build_api_client(module.params)
    return StorageClassRunner(module, client).run()


def main():
    module = AnsibleModule(argument_spec=auth_argument_spec(ARGUMENT_SPEC), supports_check_mode=True)
    run_module(module, _body)


if __name__ == "__main__":
    main()
