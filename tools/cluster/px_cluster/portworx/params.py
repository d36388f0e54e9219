"""What the Portworx CSI driver makes of a claim and its StorageClass, and when it refuses.

Refusals are the gRPC errors the driver answers CreateVolume with; the external-provisioner puts
them in the claim's ProvisioningFailed event as `failed to provision volume with StorageClass "<sc>":
rpc error: code = <Code> desc = <text>`. The rules: Portworx's health, `repl` above the online
storage nodes, and libopenstorage/openstorage's (csi/controller.go CreateVolume, resolveSharedSpec;
api/spec/spec_handler.go SpecFromOpts for the parameters' syntax).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from . import CLUSTER, DRIVER, HEALTHY_PHASES, NAMESPACE

GIB = 1024**3
_BOOL_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_BOOL_FALSE = ("0", "f", "F", "FALSE", "false", "False")
# SpecFromOpts parses these with strconv.ParseBool and fails on anything else.
BOOL_PARAMS = ("shared", "sharedv4", "journal", "sticky", "secure", "compressed", "nodiscard", "fg")
FS_TYPES = ("none", "btrfs", "ext4", "fuse", "nfs", "vfs", "xfs", "zfs", "xfsv2")
IO_PROFILES = (
    "sequential",
    "random",
    "db",
    "db_remote",
    "cms",
    "sync_shared",
    "auto",
    "none",
    "journal",
    "auto_journal",
    "use_cluster_default",
)
COS_VALUES = ("high", "3", "medium", "2", "low", "1", "")
RWX_MODES = ("ReadWriteMany", "ReadOnlyMany")
_SUFFIXES = {
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
    "Pi": 1024**5,
    "Ei": 1024**6,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": 1,
    "k": 1000,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
    "P": 1000**5,
    "E": 1000**6,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")


class Refusal(Exception):
    """CreateVolume (or another driver call) failed: a gRPC code and the driver's text."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"rpc error: code = {code} desc = {text}")
        self.code = code
        self.text = text


def to_bytes(quantity: Any) -> int:
    """A Kubernetes quantity ("1Gi", "500M", 1073741824) in bytes, rounded up."""
    text = str(quantity).strip()
    match = _QUANTITY.match(text)
    if not match or match.group(2) not in _SUFFIXES:
        raise ValueError(f"not a quantity: {quantity!r}")
    try:
        value = Decimal(match.group(1)) * _SUFFIXES[match.group(2)]
    except InvalidOperation as e:
        raise ValueError(f"not a quantity: {quantity!r}") from e
    return math.ceil(value)


def format_bytes(size: int) -> str:
    """A byte count as Kubernetes writes it (BinarySI when it divides evenly, else plain bytes)."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = _SUFFIXES[suffix]
        if size and size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


def round_up_gib(size: int) -> int:
    """The driver rounds every size up to whole GiB (csi/controller.go roundUpToNearestGiB), 1 GiB at least."""
    return max(1, math.ceil(size / GIB)) * GIB


def parse_bool(value: str) -> bool:
    if value in _BOOL_TRUE:
        return True
    if value in _BOOL_FALSE:
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{value}": invalid syntax')


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        return default  # SpecFromOpts ignores a repl it cannot parse


def spec_from_opts(params: dict[str, str]) -> None:
    """SpecFromOpts' syntax checks: a refusal (InvalidArgument) on a value it cannot parse."""
    for key, value in params.items():
        try:
            if key in BOOL_PARAMS:
                parse_bool(value)
            elif key == "fs" and value.lower() not in FS_TYPES:
                raise ValueError(f"no openstorage.FS_TYPE for {value}")
            elif key == "io_profile" and value.lower() not in IO_PROFILES:
                raise ValueError(f"no openstorage.IO_PROFILE for {value}")
            elif key in ("priority_io", "io_priority") and value.lower() not in COS_VALUES:
                raise ValueError('Cos must be one of "high" | "medium" | "low"')
        except ValueError as e:
            raise Refusal("InvalidArgument", f"Unable to get parameters: {e}\n") from e


def volume_attributes(claim: dict[str, Any], params: dict[str, str]) -> dict[str, str]:
    """What spec.csi.volumeAttributes of the real PV would hold: the class parameters (without the
    csi.storage.k8s.io/ ones), and sharedv4 "true" for a ReadWriteMany (or ReadOnlyMany) filesystem
    claim unless the class asks for the legacy `shared` (resolveSharedSpec)."""
    attributes = {k: v for k, v in params.items() if not k.startswith("csi.storage.k8s.io/")}
    claim_spec = claim.get("spec") or {}
    modes = claim_spec.get("accessModes") or []
    if any(m in RWX_MODES for m in modes) and (claim_spec.get("volumeMode") or "Filesystem") == "Filesystem":
        shared = params.get("shared") in _BOOL_TRUE and params.get("sharedv4") not in _BOOL_TRUE
        if shared:
            attributes["shared"] = "true"
        else:
            attributes["sharedv4"] = "true"
    return attributes


def not_healthy(phase: str, online: int, total: int) -> Refusal:
    return Refusal(
        "Unavailable",
        f"Failed to create volume: Portworx is not healthy: StorageCluster {NAMESPACE}/{CLUSTER} is {phase} "
        f"({online} of {total} storage nodes online)",
    )


def check_create(claim: dict[str, Any], params: dict[str, str], phase: str, online: int, total: int) -> None:
    """CreateVolume's refusals, in the order the driver meets them; returns when it would succeed."""
    if phase not in HEALTHY_PHASES:
        raise not_healthy(phase, online, total)
    spec_from_opts(params)
    if ((claim.get("spec") or {}).get("volumeMode") or "Filesystem") != "Filesystem":
        raise Refusal(
            "InvalidArgument",
            "the Portworx stand-in of this cluster provisions Filesystem volumes only (volumeMode Block)",
        )
    repl = _int(params.get("repl"), 1)
    if repl > online:
        raise Refusal(
            "Internal",
            "Failed to create volume: could not find enough nodes to provision volume: "
            f'the class asks for repl "{repl}" ({repl} replicas, each on a different node) but only '
            f"{online} of {total} Portworx storage nodes are online",
        )


def provisioning_failed(sc_name: str, error: Exception) -> str:
    """The external-provisioner's ProvisioningFailed message."""
    return f'failed to provision volume with StorageClass "{sc_name}": {error}'


def resize_failed(pv_name: str, phase: str | None) -> str:
    return (
        f'resize volume "{pv_name}" by resizer "{DRIVER}" failed: rpc error: code = Internal desc = '
        f"Failed to resize volume: Portworx is not healthy (StorageCluster {NAMESPACE}/{CLUSTER}: {phase})"
    )


def snapshot_failed(pv_name: str, phase: str | None) -> str:
    return (
        f"Failed to create snapshot: failed to take snapshot of the volume {pv_name}: rpc error: "
        f"code = Unavailable desc = Portworx is not healthy (StorageCluster {NAMESPACE}/{CLUSTER}: {phase})"
    )
