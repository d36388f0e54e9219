# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DAG sync: a content-addressed store on the shared DAGs volume, switched atomically.

This file is both a module_utils of px.airflow.dag_sync (which scans the source tree with it)
and the program the sync Job runs on the volume (``python3 dagsync.py apply ...``): Python's
standard library only, so any small python image runs it.

Layout on the volume (``root``)::

    blobs/<sha256>              file contents, named by their hash, never modified
    manifests/<version>.json    {"files": {path: {"sha256", "mode", "size"}}, "created": ...}
    versions/<version>/<path>   a tree of hard links to the blobs
    current -> versions/<v>     the version Airflow reads, switched with one atomic rename
    .lock                       a lease: a sync killed half-way does not block the next one

A version is the hash of its manifest's file list, so the same tree always gives the same version
and a re-sync of an unchanged tree does nothing. Readers on NFS-backed sharedv4 may still hold the
previous version: it is always kept, however small ``keep``.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import shutil
import socket
import sys
import time

DEFAULT_EXCLUDES = ("__pycache__", ".git", "*.pyc")
LOCK_NAME = ".lock"
CURRENT = "current"


class SyncError(Exception):
    """A sync cannot go on; the message says why and what to do."""


# ---------------------------------------------------------------------------- scanning


def file_sha256(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _excluded(relpath, excludes):
    parts = relpath.split("/")
    return any(fnmatch.fnmatch(part, pattern) for part in parts for pattern in excludes)


def scan_tree(src, excludes=DEFAULT_EXCLUDES, max_file_size=None, max_total_size=None):
    """Map each file's path (relative, '/'-separated) to {"sha256", "mode", "size"}.

    Symlinks are followed when they point inside ``src`` and refused otherwise. Raises SyncError.
    """
    src = os.path.realpath(src)
    if not os.path.isdir(src):
        raise SyncError("src %s is not a directory" % src)
    files = {}
    total = 0
    for dirpath, dirnames, filenames in os.walk(src, followlinks=True):
        rel_dir = os.path.relpath(dirpath, src)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
        for name in list(dirnames):
            full = os.path.join(dirpath, name)
            if _excluded(rel_dir + name, excludes):
                dirnames.remove(name)
            elif os.path.islink(full):
                _inside(src, full)
        for name in sorted(filenames):
            relpath = rel_dir + name
            full = os.path.join(dirpath, name)
            if _excluded(relpath, excludes):
                continue
            if os.path.islink(full):
                _inside(src, full)
            if not os.path.isfile(full):
                continue
            size = os.path.getsize(full)
            if max_file_size is not None and size > max_file_size:
                raise SyncError(
                    "%s is %d bytes, above the limit of %d bytes per file (max_file_size). DAG folders should "
                    "hold code, not data: move it to object storage, or raise max_file_size."
                    % (relpath, size, max_file_size)
                )
            total += size
            if max_total_size is not None and total > max_total_size:
                raise SyncError(
                    "the tree under %s is above the limit of %d bytes (max_total_size); exclude what Airflow "
                    "does not need, or raise max_total_size." % (src, max_total_size)
                )
            mode = 0o755 if os.stat(full).st_mode & 0o111 else 0o644
            files[relpath] = {"sha256": file_sha256(full), "mode": mode, "size": size}
    return files


def _inside(src, link):
    target = os.path.realpath(link)
    if target != src and not target.startswith(src + os.sep):
        raise SyncError(
            "%s is a symlink to %s, outside src %s: refusing to sync it. Copy the file into src, or "
            "exclude the link." % (os.path.relpath(link, src), target, src)
        )


def version_of(files):
    """The version id of a tree: the hash of its sorted file list (path, content hash, mode)."""
    canonical = json.dumps(
        [[path, meta["sha256"], meta["mode"]] for path, meta in sorted(files.items())], separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def compare(old_files, new_files):
    """(added, changed, removed) paths between two file maps."""
    old_files = old_files or {}
    added = sorted(p for p in new_files if p not in old_files)
    removed = sorted(p for p in old_files if p not in new_files)
    changed = sorted(
        p
        for p in new_files
        if p in old_files
        and (old_files[p]["sha256"], old_files[p]["mode"]) != (new_files[p]["sha256"], new_files[p]["mode"])
    )
    return added, changed, removed


def delta(old_files, new_files, base_version, version):
    """A manifest that names only what changed since ``base_version`` (the version on the volume)."""
    added, changed, removed = compare(old_files, new_files)
    return {
        "base": base_version,
        "version": version,
        "set": {path: new_files[path] for path in added + changed},
        "remove": removed,
    }


def resolve_manifest(root, doc):
    """The full file map of a manifest document: a plain map, {"files": ...}, or a delta on a base."""
    if "base" in doc:
        path = os.path.join(root, "manifests", doc["base"] + ".json")
        try:
            with open(path) as handle:
                files = json.load(handle)["files"]
        except (OSError, ValueError, KeyError) as exc:
            raise SyncError(
                "the manifest of version %s, which this sync builds on, is not on the volume (changed by hand?): "
                "sync with force=true" % doc["base"]
            ) from exc
        for removed in doc.get("remove", []):
            files.pop(removed, None)
        files.update(doc.get("set", {}))
        if version_of(files) != doc["version"]:
            raise SyncError(
                "the volume's version %s is not what this sync expected: sync with force=true" % doc["base"]
            )
        return files
    return doc.get("files", doc) if isinstance(doc.get("files"), dict) else doc


# ---------------------------------------------------------------------------- the lock


class Lease(object):
    """An exclusive lease on the volume, held by one sync at a time.

    Taken with an atomic hard link of a private file onto ``.lock``; a lease older than its
    duration is broken by renaming it away (only one breaker's rename succeeds).
    """

    def __init__(self, root, duration, holder=None):
        self.path = os.path.join(root, LOCK_NAME)
        self.duration = duration
        self.holder = holder or "%s-%d-%s" % (socket.gethostname(), os.getpid(), os.urandom(4).hex())
        self.root = root

    def _read(self):
        try:
            with open(self.path) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None

    def acquire(self, wait):
        deadline = time.time() + wait
        mine = os.path.join(self.root, ".lock-%s" % self.holder)
        with open(mine, "w") as handle:
            json.dump({"holder": self.holder, "expires": time.time() + self.duration}, handle)
        try:
            while True:
                try:
                    os.link(mine, self.path)
                    return
                except FileExistsError:
                    pass
                held = self._read()
                if held is None or held.get("expires", 0) < time.time():
                    self._break(held)
                    continue
                if time.time() > deadline:
                    raise SyncError(
                        "another DAG sync (%s) holds the lock on the volume until %s; try again later"
                        % (held.get("holder"), time.strftime("%H:%M:%S", time.gmtime(held["expires"])))
                    )
                time.sleep(0.2)
        finally:
            os.unlink(mine)

    def _break(self, held):
        stale = "%s.stale-%s" % (self.path, os.urandom(4).hex())
        try:
            os.rename(self.path, stale)
        except FileNotFoundError:
            return
        taken = self._read_file(stale)
        if held is not None and taken is not None and taken.get("holder") != held.get("holder"):
            # Someone took a fresh lease between our read and our rename: give it back.
            with contextlib.suppress(FileExistsError):
                os.link(stale, self.path)
        os.unlink(stale)

    @staticmethod
    def _read_file(path):
        try:
            with open(path) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None

    def release(self):
        held = self._read()
        if held is not None and held.get("holder") == self.holder:
            os.unlink(self.path)


# ---------------------------------------------------------------------------- applying


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _store_blob(root, sha, source):
    """Copy an incoming blob into blobs/ after checking its hash; atomic (temp + rename)."""
    blobs = os.path.join(root, "blobs")
    final = os.path.join(blobs, sha)
    if os.path.exists(final):
        return False
    if file_sha256(source) != sha:
        raise SyncError("incoming blob %s does not match its hash: the transfer was corrupted; sync again" % sha)
    temp = os.path.join(blobs, ".in-%s-%s" % (sha, os.urandom(4).hex()))
    shutil.copyfile(source, temp)
    os.chmod(temp, 0o444)
    os.rename(temp, final)
    return True


def _version_intact(root, version, files, deep):
    """Whether versions/<version>/ still holds exactly the manifest's files (sizes; hashes if deep)."""
    base = os.path.join(root, "versions", version)
    found = 0
    for _dirpath, _dirnames, names in os.walk(base):
        found += len(names)
    if found != len(files):
        return False
    for path, meta in files.items():
        full = os.path.join(base, *path.split("/"))
        try:
            if os.path.getsize(full) != meta["size"]:
                return False
        except OSError:
            return False
        if deep and file_sha256(full) != meta["sha256"]:
            return False
    return True


def _build_version(root, version, files, verify=False):
    """versions/<version>/ as hard links to the blobs; built aside, renamed into place.

    An existing version directory is kept when intact; one changed by hand is rebuilt.
    """
    final = os.path.join(root, "versions", version)
    if os.path.isdir(final):
        if _version_intact(root, version, files, deep=verify):
            return False
        broken = os.path.join(root, "versions", ".broken-%s-%s" % (version, os.urandom(4).hex()))
        os.rename(final, broken)
        shutil.rmtree(broken, ignore_errors=True)
    temp = os.path.join(root, "versions", ".build-%s-%s" % (version, os.urandom(4).hex()))
    os.makedirs(temp)
    for path, meta in files.items():
        target = os.path.join(temp, *path.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        blob = os.path.join(root, "blobs", meta["sha256"])
        if meta["mode"] & 0o111:
            # Hard links share the blob's mode: an executable file gets its own copy.
            shutil.copyfile(blob, target)
            os.chmod(target, 0o755)
        else:
            os.link(blob, target)
    os.rename(temp, final)
    return True


def _switch_current(root, version):
    """Point ``current`` at the version with one atomic rename of a new symlink."""
    link = os.path.join(root, CURRENT)
    temp = os.path.join(root, ".current-%s" % os.urandom(4).hex())
    os.symlink(os.path.join("versions", version), temp)
    os.replace(temp, link)
    _fsync_dir(root)


def current_version(root):
    try:
        return os.path.basename(os.readlink(os.path.join(root, CURRENT)))
    except OSError:
        return None


def _manifests(root):
    directory = os.path.join(root, "manifests")
    found = []
    for name in os.listdir(directory):
        if name.endswith(".json"):
            path = os.path.join(directory, name)
            found.append((os.stat(path).st_mtime, name[: -len(".json")]))
    return [version for _mtime, version in sorted(found)]


def _prune(root, keep, protected):
    """Keep the newest ``keep`` versions and the protected ones; remove the rest and unused blobs."""
    versions = _manifests(root)
    kept = set(versions[-keep:]) | set(v for v in protected if v)
    removed = []
    for version in versions:
        if version in kept:
            continue
        shutil.rmtree(os.path.join(root, "versions", version), ignore_errors=True)
        os.unlink(os.path.join(root, "manifests", version + ".json"))
        removed.append(version)
    referenced = set()
    for version in kept:
        try:
            with open(os.path.join(root, "manifests", version + ".json")) as handle:
                referenced.update(meta["sha256"] for meta in json.load(handle)["files"].values())
        except (OSError, ValueError):
            continue
    blobs = os.path.join(root, "blobs")
    for name in os.listdir(blobs):
        if name not in referenced:
            os.unlink(os.path.join(blobs, name))
    # Leftovers of syncs killed half-way.
    for name in os.listdir(os.path.join(root, "versions")):
        if name.startswith(".build-"):
            shutil.rmtree(os.path.join(root, "versions", name), ignore_errors=True)
    return removed


def _previous_version(root, current):
    versions = [v for v in _manifests(root) if v != current]
    return versions[-1] if versions else None


def apply(root, files, incoming, keep=3, lease=120, wait=150, verify=False):
    """Make ``files`` (a scan_tree map) the current version on the volume at ``root``.

    ``incoming`` maps sha256 to a file holding that content (the blobs the volume lacks). With
    ``verify``, blobs and the version's files are checked by hash, and what was changed by hand is
    repaired. Returns a summary dict. Raises SyncError; the previous version stays current on any failure.
    """
    if keep < 1:
        raise SyncError("keep must be at least 1")
    for directory in ("blobs", "manifests", "versions"):
        os.makedirs(os.path.join(root, directory), exist_ok=True)
    lock = Lease(root, lease)
    lock.acquire(wait)
    try:
        version = version_of(files)
        before = current_version(root)
        stored = 0
        for meta in files.values():
            sha = meta["sha256"]
            blob = os.path.join(root, "blobs", sha)
            if os.path.exists(blob) and verify and file_sha256(blob) != sha:
                os.unlink(blob)  # changed by hand: store it again from this sync
            if os.path.exists(blob):
                continue
            if sha not in incoming:
                raise SyncError(
                    "blob %s is neither on the volume nor in this sync; the volume was changed by hand: "
                    "sync with force=true" % sha
                )
            stored += _store_blob(root, sha, incoming[sha])
        manifest = os.path.join(root, "manifests", version + ".json")
        if not os.path.exists(manifest):
            temp = manifest + ".tmp-%s" % os.urandom(4).hex()
            with open(temp, "w") as handle:
                json.dump({"files": files, "created": time.time()}, handle, sort_keys=True)
            os.rename(temp, manifest)
        else:
            os.utime(manifest)  # newest again: pruning keeps the most recently used versions
        built = _build_version(root, version, files, verify)
        if before != version:
            _switch_current(root, version)
        protected = [version, before if before != version else _previous_version(root, version)]
        pruned = _prune(root, keep, protected)
        return {
            "version": version,
            "previous": before,
            "switched": before != version,
            "blobs_stored": stored,
            "version_built": built,
            "pruned": pruned,
            "files": len(files),
        }
    finally:
        lock.release()


# ---------------------------------------------------------------------------- the Job's entry point


def _main(argv):
    import argparse

    parser = argparse.ArgumentParser(prog="dagsync", description="Apply a DAG tree to the shared volume.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("apply")
    run.add_argument("--root", required=True, help="the mounted DAGs volume")
    run.add_argument(
        "--manifest", required=True, help="JSON: {path: {sha256, mode, size}}, or a delta on a base version"
    )
    run.add_argument("--incoming", required=True, help="directory of blobs named by their sha256")
    run.add_argument("--keep", type=int, default=3)
    run.add_argument("--lease", type=int, default=120)
    run.add_argument("--wait", type=int, default=150)
    run.add_argument("--verify", action="store_true", help="check blobs and files by hash; repair hand edits")
    args = parser.parse_args(argv)
    with open(args.manifest) as handle:
        doc = json.load(handle)
    incoming = {}
    if os.path.isdir(args.incoming):
        for name in os.listdir(args.incoming):
            if len(name) == 64 and all(c in "0123456789abcdef" for c in name):
                incoming[name] = os.path.join(args.incoming, name)
    try:
        files = resolve_manifest(args.root, doc)
        summary = apply(
            args.root, files, incoming, keep=args.keep, lease=args.lease, wait=args.wait, verify=args.verify
        )
    except SyncError as exc:
        sys.stdout.write(json.dumps({"error": str(exc)}) + "\n")
        return 2
    # The last line of the log is the result the module reads.
    sys.stdout.write(json.dumps(summary, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
