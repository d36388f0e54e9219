"""The container side of `--run-pods`: one process per container, set up like a container runtime would.

`python -m kubesim.sandbox SPEC.json` (started by runner.py, as root) enters a private mount and UTS
namespace, builds the container's root and execs the container's command in it:

- the root is an overlay whose lower layer is the host's `/` and whose upper layer lives on a tmpfs
  mounted in this namespace only, so the command sees the host's programs (standing in for the
  image's) and may write anywhere, while the host's own tree stays untouched and the writes vanish
  with the container (as a container's writable layer does); the host's other writable
  filesystems (a separate /home or CI workspace) get an overlay each, the same way;
- /proc and /sys (read-only) are the host's, with /proc/sys and the other paths runc protects
  read-only; /dev is a fresh tmpfs holding only the usual device nodes, so nothing the command
  does there reaches the host's /dev. This is a stand-in, not isolation: the host's process and
  network namespaces are shared (the pod reaches kubesim on 127.0.0.1), no cgroup limits apply;
- each volume is bind-mounted at its mountPath (read-only when asked), shallow paths first so that
  nested mounts land inside their parents, as runc orders them;
- then chroot, the working directory, the user/group ids (supplementary groups include fsGroup),
  and exec.

Only the standard library is imported: this runs once per container start. A failure before the
exec is written as one line to the error pipe (`error_fd`) that runner.py reads; a successful exec
closes that pipe (close-on-exec), which is how the runner knows the container started.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
PR_SET_PDEATHSIG = 1
MAX_SYMLINKS = 40
PSEUDO = ("/proc", "/sys", "/dev")
PROC_READ_ONLY = ("bus", "fs", "irq", "sys", "sysrq-trigger")
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_LINKS = {
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
}

_libc = ctypes.CDLL(None, use_errno=True)


class SetupError(Exception):
    """The container could not be set up; the message is what the runtime would report."""


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(code)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def enc(text: str | None) -> bytes | None:
        return text.encode() if text is not None else None

    _check(_libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {source or ''} on {target}")


def bind(source: str, target: str, read_only: bool = False, recursive: bool = False) -> None:
    mount(source, target, None, MS_BIND | (MS_REC if recursive else 0))
    if read_only:
        # A bind mount ignores MS_RDONLY: it takes a remount to make it read-only.
        mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)


def resolve_in(root: Path, path: str) -> Path:
    """`path` inside `root` with symlinks followed as the container will see them: an absolute link
    restarts at `root` and `..` never leaves it (runc's securejoin). Without this, /var/run -> /run
    would lead a mount point out of the new root into the host's tree."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    current: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if current:
                current.pop()
            continue
        candidate = root.joinpath(*current, part)
        if not candidate.is_symlink():
            current.append(part)
            continue
        links += 1
        if links > MAX_SYMLINKS:
            raise SetupError(f"{path}: too many levels of symbolic links")
        target = os.readlink(candidate)
        if target.startswith("/"):
            current = []
        parts = [p for p in target.split("/") if p not in ("", ".")] + parts
    return root.joinpath(*current)


def make_target(path: Path, is_file: bool) -> None:
    """The mount point inside the new root (in the overlay, so the host never sees it)."""
    if is_file:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.touch()
    else:
        path.mkdir(parents=True, exist_ok=True)


def private_namespace(hostname: str) -> None:
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWUTS), "unshare")
    # Nothing mounted from here on may propagate back to the host.
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    if hostname:
        name = hostname.encode()
        _check(_libc.sethostname(name, len(name)), "sethostname")


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (\\040 ...)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def host_submounts() -> list[str]:
    """The host's other writable filesystems below / (a separate /home, /work or a CI workspace volume),
    in mount order: an overlay of / alone would show their mount points empty. Pseudo filesystems
    (/proc, /sys, /dev get their own mounts) and read-only mounts are left out."""
    points: list[str] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        point, options = _unescape(fields[4]), fields[5].split(",")
        if point == "/" or "ro" in options or any(point == p or point.startswith(p + "/") for p in PSEUDO):
            continue
        if point not in points:
            points.append(point)
    return points


def _overlay(root: Path, layers: Path, lower: str, index: int) -> None:
    upper, work = layers / f"upper{index}", layers / f"work{index}"
    upper.mkdir()
    work.mkdir()
    mount("overlay", str(root), "overlay", 0, f"lowerdir={lower},upperdir={upper},workdir={work}")


def build_root(scratch: Path) -> Path:
    """tmpfs for the upper layers, then the overlay of the host's / (and of its other filesystems) as root."""
    submounts = host_submounts()  # before this namespace mounts anything of its own
    layers = scratch / "rt"
    layers.mkdir(exist_ok=True)
    mount("tmpfs", str(layers), "tmpfs", MS_NOSUID, "mode=0755")
    root = layers / "root"
    root.mkdir()
    _overlay(root, layers, "/", 0)
    for index, point in enumerate(submounts, start=1):
        target = root / point.lstrip("/")
        try:
            if Path(point).is_dir() and target.is_dir() and not target.is_symlink():
                _overlay(target, layers, point, index)
            elif Path(point).is_file() and target.is_file() and not target.is_symlink():
                bind(point, str(target), read_only=True)  # a file mount (a container's /etc/hosts)
        except SetupError:
            continue  # a filesystem overlayfs cannot stack on: the container sees its mount point only
    return root


def system_mounts(root: Path, termination_log: str, termination_path: str) -> None:
    proc = resolve_in(root, "/proc")
    bind("/proc", str(proc))
    for name in PROC_READ_ONLY:
        # What runc makes read-only too: a root container must not retune the host's kernel.
        if (proc / name).exists():
            bind(str(proc / name), str(proc / name), read_only=True)
    bind("/sys", str(resolve_in(root, "/sys")), read_only=True, recursive=True)
    dev = resolve_in(root, "/dev")
    mount("tmpfs", str(dev), "tmpfs", MS_NOSUID, "mode=0755")
    for name in DEVICES:
        if Path("/dev", name).exists():
            make_target(dev / name, is_file=True)
            bind(f"/dev/{name}", str(dev / name))
    for name, target in DEV_LINKS.items():
        (dev / name).symlink_to(target)
    (dev / "pts").mkdir()
    if Path("/dev/pts/ptmx").exists():
        bind("/dev/pts", str(dev / "pts"))
        (dev / "ptmx").symlink_to("pts/ptmx")
    (dev / "shm").mkdir()
    mount("tmpfs", str(dev / "shm"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    if termination_log:
        target = resolve_in(root, termination_path)
        make_target(target, is_file=True)
        bind(termination_log, str(target))


def volume_mounts(root: Path, mounts: list[dict[str, Any]]) -> None:
    ordered = sorted(mounts, key=lambda m: len(Path(m["target"]).parts))
    for m in ordered:
        target = resolve_in(root, m["target"])
        make_target(target, is_file=not Path(m["source"]).is_dir())
        bind(m["source"], str(target), read_only=m.get("readOnly", False))


def enter(root: Path, cwd: str) -> None:
    os.chroot(root)
    # The runtime creates a missing working directory (runc does, as root, before switching user).
    Path(cwd or "/").mkdir(parents=True, exist_ok=True)
    os.chdir(cwd or "/")


def switch_user(uid: int, gid: int, groups: list[int], parent: int) -> None:
    os.setgroups(groups)
    os.setgid(gid)
    os.setuid(uid)
    # After the id change (which clears it): die with kubesim, so no container outlives it.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        raise SetupError("kubesim exited while the container was starting")


def exec_error(argv0: str, error: OSError) -> str:
    """runc's words for a command that cannot be executed."""
    if error.errno == errno.ENOENT:
        if "/" in argv0:
            why = f"exec: {json.dumps(argv0)}: stat {argv0}: no such file or directory"
        else:
            why = f"exec: {json.dumps(argv0)}: executable file not found in $PATH"
    elif error.errno == errno.EACCES:
        why = f"exec: {json.dumps(argv0)}: permission denied"
    else:
        why = f"exec: {json.dumps(argv0)}: {error.strerror}"
    return (
        "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create "
        f"failed: unable to start container process: {why}: unknown"
    )


def run(spec: dict[str, Any]) -> None:
    """Set up and exec; returns only by raising."""
    private_namespace(spec.get("hostname", ""))
    root = build_root(Path(spec["scratch"]))
    system_mounts(root, spec.get("terminationLog", ""), spec.get("terminationPath", "/dev/termination-log"))
    volume_mounts(root, spec.get("mounts", []))
    enter(root, spec.get("cwd", "/"))
    switch_user(spec["uid"], spec["gid"], spec.get("groups", []), spec["parent"])
    argv, env = spec["argv"], spec["env"]
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as e:
        raise SetupError(exec_error(argv[0], e)) from e


def main(argv: list[str]) -> int:
    spec_path = Path(argv[1])
    spec = json.loads(spec_path.read_text())
    spec_path.unlink()  # it holds the container's env (Secret values): gone once read
    error_fd = int(spec["errorFd"])
    os.set_inheritable(error_fd, False)  # closed by a successful exec: the runner's "started"
    try:
        run(spec)
    except (SetupError, OSError) as e:
        os.write(error_fd, (str(e).replace("\n", " ") + "\n").encode())
    return 128


if __name__ == "__main__":
    sys.exit(main(sys.argv))
