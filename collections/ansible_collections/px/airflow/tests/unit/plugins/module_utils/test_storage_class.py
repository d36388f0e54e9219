# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Table-driven tests of Portworx StorageClass building, validation and comparison."""

from __future__ import annotations

import pytest
from ansible_collections.px.airflow.plugins.module_utils import storage_class as sc
from ansible_collections.px.airflow.plugins.module_utils.errors import InvalidInput


def params(**given):
    base = {"name": "px-test", "state": "present", "provisioner": "csi", "recreate": False}
    base.update(given)
    return base


@pytest.mark.parametrize(
    "given, expected",
    [
        ({}, {}),
        (
            {"repl": 3, "io_profile": "db_remote", "priority_io": "high"},
            {"repl": "3", "io_profile": "db_remote", "priority_io": "high"},
        ),
        ({"sharedv4": True, "sharedv4_svc_type": "ClusterIP"}, {"sharedv4": "true", "sharedv4_svc_type": "ClusterIP"}),
        ({"sharedv4": False}, {"sharedv4": "false"}),
        ({"secure": True, "journal": True}, {"secure": "true", "journal": "true"}),
        ({"nodes": ["n1", "n2"], "zones": ["z1"], "racks": []}, {"nodes": "n1,n2", "zones": "z1"}),
        ({"snap_interval": 0, "aggregation_level": "auto"}, {"snap_interval": "0", "aggregation_level": "auto"}),
        (
            {"extra_parameters": {"sticky": True, "io_throttle_rd_bw": 10}},
            {"sticky": "true", "io_throttle_rd_bw": "10"},
        ),
        (
            {"secure": True, "secret": {"name": "px-vol-key", "namespace": "portworx"}},
            {
                "secure": "true",
                "csi.storage.k8s.io/provisioner-secret-name": "px-vol-key",
                "csi.storage.k8s.io/provisioner-secret-namespace": "portworx",
                "csi.storage.k8s.io/node-publish-secret-name": "px-vol-key",
                "csi.storage.k8s.io/node-publish-secret-namespace": "portworx",
                "csi.storage.k8s.io/controller-expand-secret-name": "px-vol-key",
                "csi.storage.k8s.io/controller-expand-secret-namespace": "portworx",
            },
        ),
        (
            {"snapshot_schedule": {"name": "daily", "policy": "daily-policy", "type": "cloud"}},
            {
                "snapshotschedule.stork.libopenstorage.org/daily": (
                    "schedulePolicyName: daily-policy\nannotations:\n  portworx/snapshot-type: cloud\n"
                )
            },
        ),
    ],
)
def test_build_parameters_renders_strings(given, expected):
    assert sc.build_parameters(params(**given)) == expected


@pytest.mark.parametrize(
    "given, message",
    [
        ({"io_profile": "fastest"}, "io_profile=fastest is not a Portworx I/O profile; use one of db_remote"),
        ({"repl": 4}, "repl=4 is out of range"),
        ({"sharedv4_svc_type": "ClusterIP"}, "sharedv4_svc_type only applies to sharedv4 volumes"),
        ({"sharedv4": False, "sharedv4_failover_strategy": "normal"}, "sharedv4_failover_strategy only applies"),
        ({"secret": {"name": "k", "namespace": "n"}}, "needs secure=true"),
        ({"secure": True, "provisioner": "intree", "secret": {"name": "k", "namespace": "n"}}, "needs provisioner=csi"),
        ({"aggregation_level": "4"}, "aggregation_level=4 is invalid"),
        ({"repl": 2, "extra_parameters": {"repl": "3"}}, "extra_parameters.repl is also set by a typed option"),
        ({"snapshot_schedule": {"name": "a", "policy": "p", "type": "tape"}}, "snapshot_schedule.type"),
    ],
)
def test_validate_refuses_bad_values_naming_the_option(given, message):
    with pytest.raises(InvalidInput) as err:
        sc.validate(params(**given))
    assert message in err.value.msg


@pytest.mark.parametrize(
    "given, warning",
    [
        ({"io_profile": "auto_journal"}, "io_profile=auto_journal is deprecated by Portworx; use io_profile=journal"),
        ({"io_profile": "db"}, "use io_profile=db_remote"),
        ({"extra_parameters": {"sticky": "true"}}, "extra_parameters (sticky) are passed to Portworx unchecked"),
    ],
)
def test_validate_warns_for_deprecated_and_unchecked_values(given, warning):
    assert any(warning in text for text in sc.validate(params(**given)))


def test_validate_ignores_options_when_absent():
    assert sc.validate(params(state="absent", repl=9)) == []


def test_build_desired_fills_api_defaults_and_default_class_annotation():
    desired = sc.build_desired(params(repl=1, default_class=False, labels={"app": "airflow"}))
    assert desired == {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": "px-test",
            "labels": {"app": "airflow"},
            "annotations": {"storageclass.kubernetes.io/is-default-class": "false"},
        },
        "provisioner": "pxd.portworx.com",
        "parameters": {"repl": "1"},
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


def test_build_desired_intree_provisioner():
    assert sc.build_desired(params(provisioner="intree"))["provisioner"] == "kubernetes.io/portworx-volume"


def live_of(desired, **extra):
    """A class as the API server returns it: defaults, server metadata, others' annotations."""
    live = {**desired, **extra}
    live["metadata"] = dict(
        desired["metadata"], uid="u-1", resourceVersion="7", creationTimestamp="2026-01-01T00:00:00Z"
    )
    return live


@pytest.mark.parametrize(
    "given, live_changes, immutable, mutable",
    [
        ({"repl": 3}, {}, [], []),
        # The API server filled in the defaults the user left out: no change.
        ({"repl": 3}, {"reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"}, [], []),
        ({"repl": 3}, {"parameters": {"repl": "2"}}, ["parameters"], []),
        ({"repl": 3, "reclaim_policy": "Retain"}, {"reclaimPolicy": "Delete"}, ["reclaimPolicy"], []),
        ({"repl": 3}, {"provisioner": "kubernetes.io/portworx-volume"}, ["provisioner"], []),
        (
            {"volume_binding_mode": "WaitForFirstConsumer"},
            {"volumeBindingMode": "Immediate"},
            ["volumeBindingMode"],
            [],
        ),
        ({"allow_volume_expansion": True}, {"allowVolumeExpansion": False}, [], ["allowVolumeExpansion"]),
        ({"mount_options": ["nfsvers=4.1"]}, {"mountOptions": None}, [], ["mountOptions"]),
        # Fields the user does not manage are left as they are.
        ({}, {"allowVolumeExpansion": True, "mountOptions": ["x"]}, [], []),
    ],
)
def test_compare_separates_immutable_and_mutable_differences(given, live_changes, immutable, mutable):
    desired = sc.build_desired(params(**given))
    live = live_of(desired)
    live.update(live_changes)
    found_immutable, found_mutable = sc.compare(live, desired)
    assert sorted(found_immutable) == immutable
    assert sorted(found_mutable) == mutable


def test_compare_labels_only_for_managed_keys():
    desired = sc.build_desired(params(labels={"a": "1"}, annotations={"note": "x"}))
    live = live_of(desired)
    live["metadata"]["labels"] = {"a": "1", "other": "kept"}
    live["metadata"]["annotations"] = {"note": "y", "kubectl.kubernetes.io/last-applied-configuration": "{}"}
    immutable, mutable = sc.compare(live, desired)
    assert immutable == {}
    assert mutable == {"metadata.annotations": ({"note": "y"}, {"note": "x"})}
    assert sc.mutable_patch(mutable) == {"metadata": {"annotations": {"note": "x"}}}


def test_comparable_hides_server_metadata_and_last_applied():
    desired = sc.build_desired(params(repl=2))
    live = live_of(desired)
    live["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "{}"}
    shown = sc.comparable(live)
    assert shown["metadata"] == {"name": "px-test", "annotations": {}}
    assert "uid" not in str(shown)
