"""Pinned versions of everything px-cluster builds, and where it keeps what it built."""

from __future__ import annotations

import os
from pathlib import Path

KUBERNETES = "v1.34.4"
# Kubernetes' staging modules (k8s.io/api, client-go, ...) carry the same minor as v0.
KUBERNETES_STAGING = "v0.34.4"
KUBERNETES_COMMIT = "v1.34.4"
KUBERNETES_BUILD_DATE = "2026-02-10T00:00:00Z"
ETCD = "v3.6.16"
COREDNS = "v1.12.4"
# Registry prefix the local images are imported under; the roles reach it through
# px_image_registry, never by renaming images.
REGISTRY = "localhost/px-airflow"

KUBERNETES_COMMANDS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
)


def cache_root() -> Path:
    """One cache folder outside the repo, shared by every checkout on the machine."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "px-airflow"


def bin_dir() -> Path:
    """Built binaries, one folder per component version, so a version bump rebuilds only it."""
    return cache_root() / "bin"
