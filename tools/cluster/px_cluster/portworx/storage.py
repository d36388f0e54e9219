"""The stand-in's "Portworx volumes": directories under the cluster's volumes folder.

A volume is `<volumes>/<pv name>` (mode 0777, so any pod uid can write: Airflow runs as 50000:0,
PostgreSQL as 999 with an fsGroup, and a hostPath volume gets no ownership change from the
kubelet); a snapshot is `<volumes>/snapshots/<content name>`. Copies (snapshots, restores, clones)
keep modes and ownership (as a block-level copy would) and are made in a `.tmp` sibling renamed
into place once complete, so an existing directory is always a whole copy.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path

SNAPSHOTS = "snapshots"
TMP = ".tmp"


class Store:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.snapshots = self.root / SNAPSHOTS

    def setup(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.snapshots.mkdir(parents=True, exist_ok=True)

    def volume(self, pv_name: str) -> Path:
        return self.root / pv_name

    def snapshot(self, content_name: str) -> Path:
        return self.snapshots / content_name

    def owns(self, path: str | os.PathLike[str]) -> bool:
        """Whether `path` is one of our volume directories (directly under the root)."""
        p = Path(path)
        return p.parent == self.root and p.name.startswith("pvc-")

    def create(self, pv_name: str, source: Path | None = None) -> Path:
        """The volume's directory: empty, or a copy of `source` (a volume or a snapshot)."""
        target = self.volume(pv_name)
        if target.is_dir():
            return target  # made by an earlier attempt (a copy is renamed into place only when whole)
        if source is None:
            target.mkdir(parents=True, exist_ok=True)
        else:
            copy_tree(source, target)
        os.chmod(target, 0o777)
        return target

    def take_snapshot(self, pv_name: str, content_name: str) -> Path:
        target = self.snapshot(content_name)
        if not target.is_dir():
            copy_tree(self.volume(pv_name), target)
        return target

    def remove(self, path: Path) -> bool:
        if not path.exists() and not path.is_symlink():
            return False
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
        return True

    def stale_tmp(self, older_than: float) -> list[Path]:
        """Half-made copies left by a controller that was stopped while copying."""
        limit = time.time() - older_than
        found = []
        for folder in (self.root, self.snapshots):
            with contextlib.suppress(OSError):
                for entry in folder.iterdir():
                    if entry.name.endswith(TMP) and entry.lstat().st_mtime < limit:
                        found.append(entry)
        return found


def du(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def copy_tree(source: Path, target: Path) -> None:
    """`source` copied to `target` with modes, times and (as root) ownership; whole or not at all."""
    if not source.is_dir():
        raise FileNotFoundError(f"no directory {source}")
    tmp = target.with_name(target.name + TMP)
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(source, tmp, symlinks=True)
    _copy_owners(source, tmp)
    os.replace(tmp, target)


def _copy_owners(source: Path, target: Path) -> None:
    if os.geteuid() != 0:
        return
    for root, dirs, files in os.walk(source):
        rel = os.path.relpath(root, source)
        for name in [".", *dirs, *files]:
            src = os.path.normpath(os.path.join(root, name))
            dst = os.path.normpath(os.path.join(target, rel, name))
            with contextlib.suppress(OSError):
                st = os.lstat(src)
                os.lchown(dst, st.st_uid, st.st_gid)
