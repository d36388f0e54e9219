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
from ansible_collections.px.airflow.plugins.module_utils.module import run_backend
from ansible_collections.px.airflow.plugins.module_utils.module_backends.storage_class import StorageClassBackend

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


def module_kwargs():
    """AnsibleModule's arguments; the action plugin validates with the same when it runs the code in-process."""
    return dict(argument_spec=auth_argument_spec(ARGUMENT_SPEC), supports_check_mode=True)


def execute(module):
    run_backend(module, StorageClassBackend)


def main():
    execute(AnsibleModule(**module_kwargs()))


if __name__ == "__main__":
    main()
