# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DAG sync program against temporary directories: what lands on the volume, read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest
from ansible_collections.px.airflow.plugins.module_utils import dagsync


def write(root, files):
    for path, content in files.items():
        full = root / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))


def sync(src, volume, keep=3, incoming_all=True, **kwargs):
    files = dagsync.scan_tree(str(src))
    incoming = {meta["sha256"]: str(src / path) for path, meta in files.items()} if incoming_all else {}
    return files, dagsync.apply(str(volume), files, incoming, keep=keep, **kwargs)


def current_tree(volume):
    """What a reader of `current` sees: path -> bytes."""
    base = volume / "current"
    found = {}
    for dirpath, _dirs, names in os.walk(base, followlinks=True):
        for name in names:
            full = os.path.join(dirpath, name)
            with open(full, "rb") as handle:
                found[os.path.relpath(full, base).replace(os.sep, "/")] = handle.read()
    return found


def source_tree(src):
    return {path: (src / path).read_bytes() for path in dagsync.scan_tree(str(src))}


@pytest.fixture
def dirs(tmp_path):
    src, volume = tmp_path / "src", tmp_path / "volume"
    src.mkdir()
    volume.mkdir()
    return src, volume


def test_first_sync_writes_the_tree_and_switches_current(dirs):
    src, volume = dirs
    write(src, {"a.py": "print(1)\n", "pkg/b.py": "x = 2\n"})
    files, summary = sync(src, volume)
    assert summary["switched"] and summary["previous"] is None and summary["blobs_stored"] == 2
    assert current_tree(volume) == source_tree(src)
    assert os.readlink(volume / "current") == "versions/" + dagsync.version_of(files)


def test_resync_of_an_unchanged_tree_changes_nothing(dirs):
    src, volume = dirs
    write(src, {"a.py": "print(1)\n"})
    sync(src, volume)
    link_before = os.lstat(volume / "current")
    _files, summary = sync(src, volume)
    assert not summary["switched"] and summary["blobs_stored"] == 0 and not summary["version_built"]
    assert os.lstat(volume / "current").st_ino == link_before.st_ino


def test_incremental_change_stores_only_the_changed_blob(dirs):
    src, volume = dirs
    write(src, {f"dag_{i}.py": f"x = {i}\n" for i in range(20)})
    sync(src, volume)
    write(src, {"dag_3.py": "x = 'changed'\n"})
    _files, summary = sync(src, volume)
    assert summary["blobs_stored"] == 1 and summary["switched"]
    assert current_tree(volume) == source_tree(src)


def test_delete_and_rename(dirs):
    src, volume = dirs
    write(src, {"old.py": "a = 1\n", "gone.py": "b = 2\n"})
    sync(src, volume)
    (src / "old.py").rename(src / "new.py")
    (src / "gone.py").unlink()
    _files, summary = sync(src, volume)
    assert summary["blobs_stored"] == 0  # a rename moves no content
    assert current_tree(volume) == {"new.py": b"a = 1\n"}


def test_binary_and_unicode_names_and_executable_mode(dirs):
    src, volume = dirs
    blob = bytes(range(256)) * 50
    write(src, {"données/ünïcode ✓.py": "é = 1\n", "bin/data.bin": blob, "run.sh": "#!/bin/sh\n"})
    os.chmod(src / "run.sh", 0o755)
    sync(src, volume)
    assert current_tree(volume) == source_tree(src)
    assert os.stat(volume / "current" / "run.sh").st_mode & 0o111
    assert not os.stat(volume / "current" / "bin" / "data.bin").st_mode & 0o222


def test_empty_tree_is_a_valid_version(dirs):
    src, volume = dirs
    files, summary = sync(src, volume)
    assert files == {} and summary["switched"] and current_tree(volume) == {}


def test_excludes_and_symlinks(dirs, tmp_path):
    src, _volume = dirs
    write(src, {"a.py": "1\n", "__pycache__/a.cpython-311.pyc": "x", "sub/b.pyc": "x", ".git/HEAD": "ref"})
    (src / "link.py").symlink_to(src / "a.py")
    assert sorted(dagsync.scan_tree(str(src))) == ["a.py", "link.py"]
    (tmp_path / "outside.py").write_text("secret\n")
    (src / "escape.py").symlink_to(tmp_path / "outside.py")
    with pytest.raises(dagsync.SyncError) as err:
        dagsync.scan_tree(str(src))
    assert "escape.py is a symlink to" in str(err.value) and "outside src" in str(err.value)


def test_size_limits_name_the_file(dirs):
    src, _volume = dirs
    write(src, {"big.csv": "x" * 2000, "a.py": "1\n"})
    with pytest.raises(dagsync.SyncError) as err:
        dagsync.scan_tree(str(src), max_file_size=1000)
    assert "big.csv is 2000 bytes, above the limit of 1000" in str(err.value)
    with pytest.raises(dagsync.SyncError) as err:
        dagsync.scan_tree(str(src), max_total_size=1500)
    assert "max_total_size" in str(err.value)


def test_keep_versions_prunes_old_ones_but_never_the_previous(dirs):
    src, volume = dirs
    versions = []
    for i in range(5):
        write(src, {"a.py": f"v = {i}\n"})
        files, _summary = sync(src, volume, keep=1)
        versions.append(dagsync.version_of(files))
        time.sleep(0.01)
    kept = sorted(os.listdir(volume / "versions"))
    assert kept == sorted(versions[-2:])  # keep=1 still keeps the previous version
    assert len(os.listdir(volume / "blobs")) == 2


def test_interrupted_sync_leaves_the_previous_version_and_does_not_block(dirs, monkeypatch):
    src, volume = dirs
    write(src, {"a.py": "v = 1\n"})
    first, _summary = sync(src, volume)
    write(src, {"a.py": "v = 2\n"})

    def killed(root, version):
        raise KeyboardInterrupt("killed half-way")

    monkeypatch.setattr(dagsync, "_switch_current", killed)
    with pytest.raises(KeyboardInterrupt):
        sync(src, volume)
    assert os.readlink(volume / "current") == "versions/" + dagsync.version_of(first)
    assert current_tree(volume) == {"a.py": b"v = 1\n"}
    monkeypatch.undo()
    _files, summary = sync(src, volume, wait=1)
    assert summary["switched"] and current_tree(volume) == {"a.py": b"v = 2\n"}


def test_a_stale_lock_is_broken(dirs):
    src, volume = dirs
    write(src, {"a.py": "1\n"})
    (volume / ".lock").write_text(json.dumps({"holder": "dead-pod", "expires": time.time() - 1}))
    _files, summary = sync(src, volume, wait=1)
    assert summary["switched"] and not (volume / ".lock").exists()


def test_a_live_lock_makes_the_second_sync_wait_then_fail_clearly(dirs):
    src, volume = dirs
    write(src, {"a.py": "1\n"})
    (volume / ".lock").write_text(json.dumps({"holder": "busy-pod", "expires": time.time() + 60}))
    with pytest.raises(dagsync.SyncError) as err:
        sync(src, volume, wait=0)
    assert "another DAG sync (busy-pod) holds the lock" in str(err.value)


def test_two_concurrent_syncs_are_serialized(tmp_path):
    volume = tmp_path / "volume"
    volume.mkdir()
    trees = []
    for name in ("one", "two"):
        src = tmp_path / name
        write(src, {f"{name}_{i}.py": f"{name} = {i}\n" for i in range(200)})
        trees.append(src)
    results, errors = [], []

    def run(src):
        try:
            results.append(sync(src, volume, wait=30)[1])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(src,)) for src in trees]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and len(results) == 2
    assert current_tree(volume) in (source_tree(trees[0]), source_tree(trees[1]))
    assert not (volume / ".lock").exists()


def test_missing_blob_fails_without_touching_current(dirs):
    src, volume = dirs
    write(src, {"a.py": "1\n"})
    with pytest.raises(dagsync.SyncError) as err:
        sync(src, volume, incoming_all=False)
    assert "force=true" in str(err.value) and not (volume / "current").exists()


def test_the_program_runs_as_a_script(dirs, tmp_path):
    src, volume = dirs
    write(src, {"a.py": "1\n"})
    files = dagsync.scan_tree(str(src))
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    for path, meta in files.items():
        (incoming / meta["sha256"]).write_bytes((src / path).read_bytes())
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(files))
    proc = subprocess.run(
        [
            sys.executable,
            dagsync.__file__,
            "apply",
            "--root",
            str(volume),
            "--manifest",
            str(manifest),
            "--incoming",
            str(incoming),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["version"] == dagsync.version_of(files) and current_tree(volume) == {"a.py": b"1\n"}


def test_a_hand_edited_version_is_repaired_when_verified(dirs):
    src, volume = dirs
    write(src, {"a.py": "1\n", "b.py": "2\n"})
    sync(src, volume)
    current = os.path.realpath(volume / "current")
    os.unlink(os.path.join(current, "b.py"))
    _files, summary = sync(src, volume, verify=True)
    assert summary["version_built"] and current_tree(volume) == source_tree(src)


def test_a_delta_manifest_rebuilds_the_full_list_from_the_volume(dirs):
    src, volume = dirs
    write(src, {"a.py": "1\n", "b.py": "2\n", "c.py": "3\n"})
    old, _summary = sync(src, volume)
    (src / "b.py").write_text("changed\n")
    (src / "c.py").unlink()
    write(src, {"d.py": "4\n"})
    new = dagsync.scan_tree(str(src))
    doc = dagsync.delta(old, new, dagsync.version_of(old), dagsync.version_of(new))
    assert sorted(doc["set"]) == ["b.py", "d.py"] and doc["remove"] == ["c.py"]
    assert dagsync.resolve_manifest(str(volume), json.loads(json.dumps(doc))) == new


def test_a_delta_on_a_missing_base_asks_for_force(dirs):
    _src, volume = dirs
    with pytest.raises(dagsync.SyncError) as err:
        dagsync.resolve_manifest(str(volume), {"base": "0" * 32, "version": "1" * 32, "set": {}, "remove": []})
    assert "force=true" in str(err.value)
