# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Builds, validates and compares Portworx StorageClasses (no API calls here).

Parameter names and values are Portworx's (shared/PORTWORX.md, docs.portworx.com "Portworx
StorageClass parameters"); values are strings in a StorageClass.
"""

from __future__ import annotations

import copy

from ansible_collections.px.airflow.plugins.module_utils.errors import InvalidInput

PROVISIONERS = {"csi": "pxd.portworx.com", "intree": "kubernetes.io/portworx-volume"}
IO_PROFILES = ("db_remote", "auto", "none", "journal", "use_cluster_default")
# Accepted with a deprecation warning: auto_journal (replaced by journal) and values older
# pxctl releases documented.
IO_PROFILES_DEPRECATED = {
    "auto_journal": "journal",
    "sequential": "auto",
    "cms": "auto",
    "db": "db_remote",
    "sync_shared": "auto",
}
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
# What the API server defaults in a StorageClass (k8s.io/kubernetes pkg/apis/storage/v1/defaults.go).
API_DEFAULTS = {"reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"}
IMMUTABLE_FIELDS = ("provisioner", "parameters", "reclaimPolicy", "volumeBindingMode")
SNAPSHOT_SCHEDULE_PREFIX = "snapshotschedule.stork.libopenstorage.org/"
CSI_SECRET_PARAMS = ("provisioner", "node-publish", "controller-expand")


def _bool_str(value):
    return "true" if value else "false"


def _csv(value):
    return ",".join(str(item) for item in value)


def validate(params):
    """Raise InvalidInput for an invalid value or combination; return deprecation warnings."""
    warnings = []
    if params.get("state", "present") == "absent":
        return warnings
    io_profile = params.get("io_profile")
    if io_profile is not None and io_profile not in IO_PROFILES:
        if io_profile in IO_PROFILES_DEPRECATED:
            warnings.append(
                "io_profile=%s is deprecated by Portworx; use io_profile=%s"
                % (io_profile, IO_PROFILES_DEPRECATED[io_profile])
            )
        else:
            raise InvalidInput(
                "io_profile=%s is not a Portworx I/O profile; use one of %s"
                % (io_profile, ", ".join(IO_PROFILES + tuple(IO_PROFILES_DEPRECATED)))
            )
    repl = params.get("repl")
    if repl is not None and repl not in (1, 2, 3):
        raise InvalidInput("repl=%s is out of range: Portworx keeps 1, 2 or 3 replicas" % repl)
    if not params.get("sharedv4"):
        for option in ("sharedv4_svc_type", "sharedv4_failover_strategy"):
            if params.get(option) is not None:
                raise InvalidInput(
                    "%s only applies to sharedv4 volumes: set sharedv4=true or remove %s" % (option, option)
                )
    secret = params.get("secret") or {}
    if secret and not params.get("secure"):
        raise InvalidInput("secret (the CSI secret references) needs secure=true")
    if secret and params.get("provisioner") != "csi":
        raise InvalidInput("secret (the CSI secret references) needs provisioner=csi")
    if secret and bool(secret.get("name")) != bool(secret.get("namespace")):
        raise InvalidInput("secret needs both name and namespace")
    aggregation = params.get("aggregation_level")
    if aggregation is not None and str(aggregation) not in ("1", "2", "3", "auto"):
        raise InvalidInput("aggregation_level=%s is invalid; use 1, 2, 3 or auto" % aggregation)
    if params.get("fs") == "xfs" and params.get("sharedv4"):
        warnings.append("fs=xfs with sharedv4: PX-StoreV2 clusters support ext4 only")
    for key in params.get("extra_parameters") or {}:
        if key in build_parameters(dict(params, extra_parameters=None)):
            raise InvalidInput(
                "extra_parameters.%s is also set by a typed option; set it through that option only" % key
            )
    if params.get("extra_parameters"):
        warnings.append(
            "extra_parameters (%s) are passed to Portworx unchecked; prefer the typed options"
            % ", ".join(sorted(params["extra_parameters"]))
        )
    schedule = params.get("snapshot_schedule")
    if schedule and schedule.get("type") not in (None, "local", "cloud"):
        raise InvalidInput("snapshot_schedule.type must be local or cloud")
    return warnings


def build_parameters(params):
    """The StorageClass ``parameters`` for the typed options (strings, as Kubernetes stores them)."""
    parameters = {}
    simple = (
        ("repl", "repl", str),
        ("io_profile", "io_profile", str),
        ("priority_io", "priority_io", str),
        ("sharedv4", "sharedv4", _bool_str),
        ("sharedv4_svc_type", "sharedv4_svc_type", str),
        ("sharedv4_failover_strategy", "sharedv4_failover_strategy", str),
        ("fs", "fs", str),
        ("secure", "secure", _bool_str),
        ("snap_interval", "snap_interval", str),
        ("group", "group", str),
        ("nodes", "nodes", _csv),
        ("zones", "zones", _csv),
        ("racks", "racks", _csv),
        ("aggregation_level", "aggregation_level", str),
        ("journal", "journal", _bool_str),
        ("placement_strategy", "placement_strategy", str),
    )
    for option, key, render in simple:
        value = params.get(option)
        if value is None or (isinstance(value, list) and not value):
            continue
        parameters[key] = render(value)
    secret = params.get("secret") or {}
    if secret:
        for prefix in CSI_SECRET_PARAMS:
            parameters["csi.storage.k8s.io/%s-secret-name" % prefix] = secret["name"]
            parameters["csi.storage.k8s.io/%s-secret-namespace" % prefix] = secret["namespace"]
    schedule = params.get("snapshot_schedule")
    if schedule:
        value = "schedulePolicyName: %s\nannotations:\n  portworx/snapshot-type: %s\n" % (
            schedule["policy"],
            schedule.get("type") or "local",
        )
        parameters[SNAPSHOT_SCHEDULE_PREFIX + schedule["name"]] = value
    for key, value in (params.get("extra_parameters") or {}).items():
        parameters[key] = _bool_str(value) if isinstance(value, bool) else str(value)
    return parameters


def build_desired(params):
    """The StorageClass the options describe, with the API server's defaults filled in."""
    metadata = {"name": params["name"]}
    labels = dict(params.get("labels") or {})
    annotations = dict(params.get("annotations") or {})
    if params.get("default_class") is not None:
        annotations[DEFAULT_CLASS_ANNOTATION] = _bool_str(params["default_class"])
    if labels:
        metadata["labels"] = labels
    if annotations:
        metadata["annotations"] = annotations
    desired = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": metadata,
        "provisioner": PROVISIONERS[params.get("provisioner") or "csi"],
        "parameters": build_parameters(params),
        "reclaimPolicy": params.get("reclaim_policy") or API_DEFAULTS["reclaimPolicy"],
        "volumeBindingMode": params.get("volume_binding_mode") or API_DEFAULTS["volumeBindingMode"],
    }
    if not desired["parameters"]:
        del desired["parameters"]
    if params.get("allow_volume_expansion") is not None:
        desired["allowVolumeExpansion"] = params["allow_volume_expansion"]
    if params.get("mount_options") is not None:
        desired["mountOptions"] = list(params["mount_options"])
    return desired


def _sub(obj, keys):
    return {key: obj[key] for key in keys if obj.get(key) not in (None, {}, [])}


def compare(live, desired):
    """Compare a live StorageClass with the desired one.

    Returns ``(immutable, mutable)``: dicts of field -> (live value, desired value). Labels and
    annotations are compared only for the keys the user manages; allowVolumeExpansion and
    mountOptions only when the user set them.
    """
    immutable = {}
    for field in IMMUTABLE_FIELDS:
        have = live.get(field) or ({} if field == "parameters" else API_DEFAULTS.get(field))
        want = desired.get(field) or ({} if field == "parameters" else None)
        if have != want:
            immutable[field] = (have, want)
    mutable = {}
    for field in ("allowVolumeExpansion", "mountOptions"):
        if field in desired and (live.get(field) or None) != (desired[field] or None):
            mutable[field] = (live.get(field), desired[field])
    for section in ("labels", "annotations"):
        want = desired["metadata"].get(section) or {}
        have = (live.get("metadata") or {}).get(section) or {}
        drift = {key: value for key, value in want.items() if have.get(key) != value}
        if drift:
            mutable["metadata." + section] = ({key: have.get(key) for key in drift}, drift)
    return immutable, mutable


def mutable_patch(mutable):
    """A merge patch that sets the mutable fields found to differ."""
    patch = {}
    for field, (_have, want) in mutable.items():
        if field.startswith("metadata."):
            patch.setdefault("metadata", {})[field.split(".", 1)[1]] = want
        else:
            patch[field] = want
    return patch


def comparable(obj):
    """The fields of a StorageClass worth showing in a diff (no server-managed metadata)."""
    if obj is None:
        return {}
    shown = _sub(
        obj, ("provisioner", "parameters", "reclaimPolicy", "volumeBindingMode", "allowVolumeExpansion", "mountOptions")
    )
    metadata = obj.get("metadata") or {}
    shown["metadata"] = _sub(metadata, ("name", "labels", "annotations"))
    annotations = shown["metadata"].get("annotations")
    if annotations and "kubectl.kubernetes.io/last-applied-configuration" in annotations:
        annotations = copy.deepcopy(annotations)
        del annotations["kubectl.kubernetes.io/last-applied-configuration"]
        shown["metadata"]["annotations"] = annotations
    return shown


def describe_differences(differences):
    return "; ".join("%s: %r -> %r" % (field, have, want) for field, (have, want) in sorted(differences.items()))
