"""The storage admission plugins a kube-apiserver enables by default, as pure functions.

- DefaultStorageClass (plugin/pkg/admission/storage/storageclass/setdefault): a PersistentVolumeClaim
  created without a class (no spec.storageClassName and no beta annotation) gets the default
  StorageClass, the one annotated storageclass.kubernetes.io/is-default-class=true (or the beta key).
  With several defaults the newest wins, then the name in ascending order (pkg/volume/util
  GetDefaultClass, since 1.26: https://kubernetes.io/docs/concepts/storage/storage-classes/#default-storageclass).
  No default: the claim keeps no class (the PV controller assigns one later, RetroactiveDefaultStorageClass).
- StorageObjectInUseProtection (plugin/pkg/admission/storage/storageobjectinuseprotection): new claims
  get the kubernetes.io/pvc-protection finalizer and new volumes kubernetes.io/pv-protection
  (https://kubernetes.io/docs/concepts/storage/persistent-volumes/#storage-object-in-use-protection).

Both act on create only (their Handles(admission.Create)), never on subresources.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)
BETA_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"

Obj = dict[str, Any]


def is_default_class(storage_class: Obj) -> bool:
    """storageutil.IsDefaultAnnotation: either annotation set to exactly "true"."""
    annotations = (storage_class.get("metadata") or {}).get("annotations") or {}
    return any(annotations.get(key) == "true" for key in DEFAULT_CLASS_ANNOTATIONS)


def default_class(classes: Iterable[Obj]) -> Obj | None:
    """GetDefaultClass: of the default classes the newest (creationTimestamp), then the first by name."""
    defaults = [c for c in classes if is_default_class(c)]
    if not defaults:
        return None
    by_name = sorted(defaults, key=lambda c: c["metadata"]["name"])
    # sort is stable: newest first, ties keep the name order
    return sorted(by_name, key=lambda c: c["metadata"].get("creationTimestamp") or "", reverse=True)[0]


def claim_has_class(claim: Obj) -> bool:
    """helper.PersistentVolumeClaimHasClass: the beta annotation or spec.storageClassName (even "") is set."""
    annotations = (claim.get("metadata") or {}).get("annotations") or {}
    return BETA_CLASS_ANNOTATION in annotations or (claim.get("spec") or {}).get("storageClassName") is not None


def admit_default_class(claim: Obj, classes: Iterable[Obj]) -> None:
    """DefaultStorageClass: a claim created without a class gets the default one (in place)."""
    if claim_has_class(claim):
        return
    chosen = default_class(classes)
    if chosen is not None:
        claim.setdefault("spec", {})["storageClassName"] = chosen["metadata"]["name"]


def admit_protection(kind: str, obj: Obj) -> None:
    """StorageObjectInUseProtection: the protection finalizer on a new claim or volume (in place)."""
    finalizer = {"PersistentVolumeClaim": PVC_PROTECTION, "PersistentVolume": PV_PROTECTION}.get(kind)
    if finalizer is None:
        return
    meta = obj.setdefault("metadata", {})
    finalizers = list(meta.get("finalizers") or [])
    if finalizer not in finalizers:
        meta["finalizers"] = [*finalizers, finalizer]


__all__ = [
    "PVC_PROTECTION",
    "PV_PROTECTION",
    "admit_default_class",
    "admit_protection",
    "claim_has_class",
    "default_class",
    "is_default_class",
]
