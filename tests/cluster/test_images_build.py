"""The cluster's local images (px_cluster.images): built here, imported into a private containerd, run.

The containerd is this module's own (root, state and socket under a temporary folder, the CRI
sandbox image set to our pause), started by a fixture and stopped by its PID; every container a test
starts is tracked and removed, leftover shims are stopped by PID and leftover mounts unmounted.
Building the images the first time takes a few minutes (debootstrap, PyPI wheels); later runs reuse
the cache under ${XDG_CACHE_HOME:-~/.cache}/px-airflow/images.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "cluster"))

from px_cluster import images  # noqa: E402

TOOLS = ("containerd", "ctr", "containerd-shim-runc-v2", "runc", "unshare", "debootstrap", "go")
MISSING = [tool for tool in TOOLS if shutil.which(tool) is None]
needs_host = pytest.mark.skipif(
    os.geteuid() != 0 or bool(MISSING) or not Path("/bin/busybox").exists(),
    reason=f"needs root, busybox-static and {', '.join(TOOLS)} (missing: {', '.join(MISSING) or 'none'})",
)
DAGSYNC = ROOT / "collections/ansible_collections/px/airflow/plugins/module_utils/dagsync.py"


class Say:
    """Collects what the build prints (and shows it with pytest -s)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        print(f"images: {line}", flush=True)


def _wait(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Containerd:
    """A private containerd: its own root, state, socket and config; stopped by PID."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.address = str(base / "c.sock")
        self.log = base / "containerd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.containers: set[str] = set()
        self.clients: list[subprocess.Popen[str]] = []

    def start(self) -> None:
        config = self.base / "config.toml"
        config.write_text(
            "\n".join(
                [
                    "version = 2",
                    f'root = "{self.base}/root"',
                    f'state = "{self.base}/state"',
                    "[grpc]",
                    f'  address = "{self.address}"',
                    "[ttrpc]",
                    f'  address = "{self.address}.ttrpc"',
                    '[plugins."io.containerd.grpc.v1.cri"]',
                    f'  sandbox_image = "{images.IMAGES["pause"]}"',
                    '  [plugins."io.containerd.grpc.v1.cri".cni]',
                    f'    bin_dir = "{self.base}/cni/bin"',
                    f'    conf_dir = "{self.base}/cni/conf"',
                    '[plugins."io.containerd.internal.v1.opt"]',
                    f'  path = "{self.base}/opt"',
                    "",
                ]
            )
        )
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                ["containerd", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

        def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()[-3000:]
            return self.ctr("version", check=False, timeout=10).returncode == 0

        _wait(up, 30, "the private containerd to answer")

    def ctr(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["ctr", "--address", self.address, "-n", "k8s.io", *args], capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def _run_args(self, name: str, cid: str, args, env, mounts, net_host: bool) -> list[str]:
        out = []
        for key, value in (env or {}).items():
            out += ["--env", f"{key}={value}"]
        for src, dst in mounts or ():
            out += ["--mount", f"type=bind,src={src},dst={dst},options=rbind:rw"]
        if net_host:
            out.append("--net-host")
        return [*out, images.IMAGES[name], cid, *(args or ())]

    def run(
        self, name: str, args=None, *, env=None, mounts=None, net_host=False, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        """Runs a container in the foreground to its end (ctr run --rm)."""
        cid = f"t-{name}-{uuid.uuid4().hex[:8]}"
        self.containers.add(cid)
        proc = self.ctr(
            "run", "--rm", *self._run_args(name, cid, args, env, mounts, net_host), check=False, timeout=timeout
        )
        self.containers.discard(cid)
        return proc

    def start_task(self, name: str, args=None, *, env=None, mounts=None, net_host=False, log: Path) -> str:
        """Starts a container in the background, its output going to log."""
        cid = f"t-{name}-{uuid.uuid4().hex[:8]}"
        self.containers.add(cid)
        self.ctr("run", "-d", "--log-uri", f"file://{log}", *self._run_args(name, cid, args, env, mounts, net_host))
        return cid

    def task_status(self, cid: str) -> tuple[int, str] | None:
        for line in self.ctr("task", "ls").stdout.splitlines()[1:]:
            parts = line.split()
            if parts and parts[0] == cid:
                return int(parts[1]), parts[2]
        return None

    def exec(self, cid: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.ctr("task", "exec", "--exec-id", uuid.uuid4().hex[:12], cid, *args, check=False, timeout=timeout)

    def stop_task(self, cid: str, sig: str = "SIGTERM", timeout: float = 60) -> None:
        self.ctr("task", "kill", "-s", sig, cid)
        _wait(lambda: (self.task_status(cid) or (0, "STOPPED"))[1] == "STOPPED", timeout, f"{cid} to stop")
        self.remove(cid)

    def remove(self, cid: str) -> None:
        status = self.task_status(cid)
        if status and status[1] != "STOPPED":
            self.ctr("task", "kill", "-s", "SIGKILL", cid, check=False)
            with contextlib.suppress(AssertionError):
                _wait(lambda: (self.task_status(cid) or (0, "STOPPED"))[1] == "STOPPED", 20, f"{cid} to die")
        self.ctr("task", "delete", cid, check=False)
        self.ctr("container", "delete", cid, check=False)
        self.containers.discard(cid)

    def _our_processes(self) -> list[int]:
        """Shims (and anything else) started for this containerd: their command line names its socket."""
        pids = []
        needle = self.address.encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or (self.proc and int(entry.name) == self.proc.pid):
                continue
            with contextlib.suppress(OSError):
                if needle in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
        return pids

    def stop(self) -> None:
        for client in self.clients:
            if client.poll() is None:
                client.kill()
                client.wait(timeout=10)
        if self.proc is not None and self.proc.poll() is None:
            for cid in list(self.containers):
                with contextlib.suppress(Exception):
                    self.remove(cid)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for pid in self._our_processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        mounts = images._mounts_under(self.base)
        for point in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], check=False, timeout=30)
        assert not images._mounts_under(self.base), "mounts left under the private containerd"
        for sub in ("root", "state"):
            shutil.rmtree(self.base / sub, ignore_errors=True)


@pytest.fixture(scope="module")
def say() -> Say:
    return Say()


@pytest.fixture(scope="module")
def built(say: Say) -> dict[str, Path]:
    started = time.monotonic()
    paths = images.build(list(images.IMAGES), say)
    print(f"images: build (or cache check) of all images took {time.monotonic() - started:.1f} s")
    return paths


@pytest.fixture(scope="module")
def ctrd(tmp_path_factory: pytest.TempPathFactory, built: dict[str, Path], say: Say) -> Iterator[Containerd]:
    daemon = Containerd(tmp_path_factory.mktemp("ctrd"))
    try:
        daemon.start()
        started = time.monotonic()
        images.import_images(list(images.IMAGES), daemon.address, say)
        print(f"images: cold import of all images took {time.monotonic() - started:.1f} s")
        yield daemon
    finally:
        daemon.stop()


# --- without building anything ------------------------------------------------------------------


def test_select_parses_all_none_and_lists() -> None:
    assert images.select("all") == list(images.IMAGES)
    assert images.select("none") == ["pause"]
    assert images.select("busybox, python") == ["pause", "busybox", "python"]
    assert images.select("postgres,pause,postgres") == ["pause", "postgres"]
    assert set(images.IMAGES) == {"pause", "busybox", "python", "airflow", "postgres"}
    assert images.IMAGES["airflow"] == "localhost/px-airflow/apache/airflow:3.3.2"


@pytest.mark.parametrize(
    ("spec", "bad"), [("pause,mysql", "mysql"), ("Busybox2", "busybox2"), ("all,airflow", "all"), ("python,", None)]
)
def test_select_refuses_unknown_names(spec: str, bad: str | None) -> None:
    if bad is None:  # a trailing comma is not a name
        assert images.select(spec) == ["pause", "python"]
        return
    with pytest.raises(ValueError) as err:
        images.select(spec)
    message = str(err.value)
    assert repr(bad) in message
    for name in images.IMAGES:
        assert name in message


def _tree(root: Path) -> None:
    (root / "etc").mkdir(parents=True)
    (root / "etc/config").write_text("a=1\n")
    (root / "bin").mkdir()
    (root / "bin/tool").write_bytes(b"#!/bin/sh\necho tool\n")
    os.chmod(root / "bin/tool", 0o755)
    os.link(root / "bin/tool", root / "bin/tool-again")
    (root / "bin/alias").symlink_to("tool")
    (root / "var/lib/gone").mkdir(parents=True)
    (root / "var/lib/gone/file").write_text("x")
    (root / "var/old").write_text("old")
    (root / "var/lib/linked").symlink_to("gone")
    os.chown(root / "etc/config", 999, 999)


def _members(path: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(path) as tar:
        return tar.getmembers()


def test_layer_writer_is_deterministic_and_diffs_with_whiteouts(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    _tree(first)
    subprocess.run(["cp", "-a", str(first), str(second)], check=True)
    for path in second.rglob("*"):
        os.utime(path, (123456789, 123456789), follow_symlinks=False)
    one = images.write_layer(first, tmp_path / "one.tar")
    two = images.write_layer(second, tmp_path / "two.tar")
    assert one.diff_id == two.diff_id
    assert (tmp_path / "one.tar").read_bytes() == (tmp_path / "two.tar").read_bytes()
    members = _members(tmp_path / "one.tar")
    names = [m.name for m in members]
    assert names == [
        "bin",
        "bin/alias",
        "bin/tool",
        "bin/tool-again",
        "etc",
        "etc/config",
        "var",
        "var/lib",
        "var/lib/gone",
        "var/lib/gone/file",
        "var/lib/linked",
        "var/old",
    ]
    assert {m.mtime for m in members} == {images.EPOCH}
    assert {(m.uname, m.gname) for m in members} == {("", "")}
    by_name = {m.name: m for m in members}
    assert by_name["bin/tool-again"].islnk() and by_name["bin/tool-again"].linkname == "bin/tool"
    assert by_name["bin/alias"].issym() and by_name["bin/alias"].linkname == "tool"
    assert (by_name["etc/config"].uid, by_name["etc/config"].gid) == (999, 999)
    assert by_name["bin/tool"].mode == 0o755

    # A layer on top of `first`: only what changed, and whiteouts for what went away.
    upper = tmp_path / "upper"
    subprocess.run(["cp", "-a", str(first), str(upper)], check=True)
    (upper / "etc/config").write_text("a=2\n")
    (upper / "etc/new").write_text("new\n")
    shutil.rmtree(upper / "var/lib/gone")
    (upper / "var/old").unlink()
    os.chmod(upper / "bin", 0o700)
    # A symlink to a folder replaced by a real folder holding the same names: all of it is new.
    (upper / "var/lib/linked").unlink()
    (upper / "var/lib/linked").mkdir()
    (upper / "var/lib/linked/file").write_text("x")
    diff = images.write_layer(upper, tmp_path / "diff.tar", base=first)
    names = sorted(m.name for m in _members(tmp_path / "diff.tar"))
    expected = ["bin", "etc/config", "etc/new", "var/.wh.old", "var/lib/.wh.gone"]
    assert names == [*expected, "var/lib/linked", "var/lib/linked/file"]
    assert diff.diff_id != one.diff_id


# --- building -----------------------------------------------------------------------------------


@needs_host
@pytest.mark.slow
def test_builds_are_cached_and_reproducible(built: dict[str, Path]) -> None:
    info = {name: images.image_info(name) for name in images.IMAGES}
    for name, meta in info.items():
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", str(meta["config_digest"])), name
        assert built[name].stat().st_size == meta["tar_bytes"]
    # A second build is a cache hit: nothing built, the same files.
    again = Say()
    assert images.build(list(images.IMAGES), again) == built
    assert not [line for line in again.lines if line.startswith(("building", "built"))], again.lines
    # Rebuilding from scratch (the shared Debian base aside) gives the same digests.
    for name in ("pause", "busybox", "python", "postgres"):
        rebuilt = Say()
        images.build([name], rebuilt, force=True)
        assert any(line.startswith("built ") for line in rebuilt.lines), rebuilt.lines
        assert images.image_info(name)["config_digest"] == info[name]["config_digest"], name


@needs_host
@pytest.mark.slow
def test_airflow_rebuild_is_reproducible(built: dict[str, Path]) -> None:
    before = images.image_info("airflow")["config_digest"]
    images.build(["airflow"], Say(), force=True)
    assert images.image_info("airflow")["config_digest"] == before


@needs_host
@pytest.mark.slow
def test_archives_are_docker_save_layout(built: dict[str, Path]) -> None:
    import json

    with tarfile.open(built["postgres"]) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        config = json.load(tar.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]
        names = set(tar.getnames())
    assert manifest[0]["RepoTags"] == [images.IMAGES["postgres"]]
    assert len(manifest[0]["Layers"]) == 2 and set(manifest[0]["Layers"]) <= names
    assert config["rootfs"]["diff_ids"] == [f"sha256:{p.split('/')[0]}" for p in manifest[0]["Layers"]]
    assert config["config"]["Entrypoint"] == ["docker-entrypoint.sh"]
    assert config["config"]["Cmd"] == ["postgres"]
    # The three Debian images share their base layer.
    bases = {images.image_info(name)["diff_ids"][0] for name in ("python", "airflow", "postgres")}  # type: ignore[index]
    assert len(bases) == 1


# --- running ------------------------------------------------------------------------------------


@needs_host
@pytest.mark.slow
def test_import_is_skipped_when_present(ctrd: Containerd) -> None:
    present = images.present_digests(ctrd.address)
    for name, ref in images.IMAGES.items():
        assert present[ref] == images.image_info(name)["config_digest"], name
    warm = Say()
    images.import_images(list(images.IMAGES), ctrd.address, warm)
    assert not [line for line in warm.lines if "import" in line], warm.lines
    # The CRI plugin of this containerd uses our pause image as its sandbox image.
    assert f"SandboxImage:{images.IMAGES['pause']}" in ctrd.log.read_text()


@needs_host
@pytest.mark.slow
def test_busybox_runs_applets(ctrd: Containerd) -> None:
    out = ctrd.run("busybox", ["echo", "hello from busybox"])
    assert out.returncode == 0 and out.stdout.strip() == "hello from busybox", out
    out = ctrd.run(
        "busybox", ["sh", "-c", "mkdir -p /tmp/a && cat /etc/passwd && ls /bin | wc -l && which wget nslookup"]
    )
    assert out.returncode == 0, out
    lines = out.stdout.split()
    assert "root:x:0:0:root:/root:/bin/sh" in lines
    assert "/bin/wget" in out.stdout or "/usr/bin/wget" in out.stdout
    assert "nslookup" in out.stdout


@needs_host
@pytest.mark.slow
def test_pause_reaps_orphans_and_exits_on_sigterm(ctrd: Containerd, tmp_path: Path) -> None:
    cid = f"t-pause-{uuid.uuid4().hex[:8]}"
    ctrd.containers.add(cid)
    client = subprocess.Popen(
        ["ctr", "--address", ctrd.address, "-n", "k8s.io", "run", "--rm", images.IMAGES["pause"], cid],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ctrd.clients.append(client)
    pause_pid, _ = _wait(
        lambda: (ctrd.task_status(cid) or (0, ""))[1] == "RUNNING" and ctrd.task_status(cid), 30, "pause to run"
    )

    def children(pid: int) -> list[tuple[int, str, str]]:
        found = []
        for stat_file in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                text = stat_file.read_text()
                name = text[text.index("(") + 1 : text.rindex(")")]
                state, ppid = text[text.rindex(")") + 2 :].split()[:2]
                if int(ppid) == pid:
                    found.append((int(stat_file.parent.name), name, state))
        return found

    # A busybox joins pause's PID namespace and leaves an orphan that exits after 1 s: the orphan
    # is re-parented to pause (PID 1 there), which must reap it.
    joined = f"t-join-{uuid.uuid4().hex[:8]}"
    ctrd.containers.add(joined)
    ctrd.ctr(
        "run",
        "-d",
        "--with-ns",
        f"pid:/proc/{pause_pid}/ns/pid",
        images.IMAGES["busybox"],
        joined,
        "sh",
        "-c",
        "(sleep 1 &); sleep 8",
    )
    _wait(lambda: any(name == "sleep" for _, name, _ in children(pause_pid)), 10, "the orphan to become pause's child")
    time.sleep(3)
    zombies = [c for c in children(pause_pid) if c[2] == "Z"]
    assert not zombies, f"pause left zombies: {zombies}"
    assert not any(name == "sleep" for _, name, _ in children(pause_pid))
    ctrd.remove(joined)
    ctrd.ctr("task", "kill", "-s", "SIGTERM", cid)
    assert client.wait(timeout=30) == 0, client.stdout.read() if client.stdout else ""
    ctrd.containers.discard(cid)


@needs_host
@pytest.mark.slow
def test_python_runs_as_a_non_root_user(ctrd: Containerd, tmp_path: Path) -> None:
    script = "import os, sys, ssl, json; print(os.getuid(), os.getgid(), '%d.%d' % sys.version_info[:2])"
    for python in ("python3", "python"):
        out = ctrd.run("python", ["setpriv", "--reuid=50000", "--regid=0", "--clear-groups", python, "-c", script])
        assert out.returncode == 0 and out.stdout.split() == ["50000", "0", "3.11"], out
    # The DAG-sync program (standard library only) starts in this image.
    program = tmp_path / "program"
    program.mkdir()
    shutil.copy(DAGSYNC, program / "dagsync.py")
    out = ctrd.run(
        "python",
        ["setpriv", "--reuid=50000", "--regid=0", "--clear-groups", "python3", "/sync/dagsync.py", "apply", "--help"],
        mounts=[(program, "/sync")],
    )
    assert out.returncode == 0 and "--manifest" in out.stdout, out


@needs_host
@pytest.mark.slow
def test_airflow_image_runs_as_50000_like_the_official_one(ctrd: Containerd) -> None:
    out = ctrd.run("airflow", ["airflow", "version"])
    assert out.returncode == 0 and out.stdout.strip().splitlines()[-1] == "3.3.2", out
    # As the image's entrypoint with an airflow subcommand (how a pod without `command` runs it).
    out = ctrd.run("airflow", ["/usr/bin/dumb-init", "--", "/entrypoint", "version"])
    assert out.returncode == 0 and out.stdout.strip().splitlines()[-1] == "3.3.2", out
    out = ctrd.run(
        "airflow",
        [
            "/entrypoint",
            "bash",
            "-c",
            'id -u; id -g; pwd; echo "$HOME $AIRFLOW_HOME"; touch "$AIRFLOW_HOME/logs/probe"',
        ],
    )
    assert out.returncode == 0, out
    assert out.stdout.split() == ["50000", "0", "/opt/airflow", "/home/airflow", "/opt/airflow"], out
    # The KubernetesExecutor's worker pods: `python -m airflow.sdk.execution_time.execute_workload ...`.
    out = ctrd.run(
        "airflow",
        ["/entrypoint", "python", "-c", "import airflow.sdk.execution_time.execute_workload as m; print(m.__name__)"],
    )
    assert out.returncode == 0 and "execute_workload" in out.stdout, out
    # Any other program is exec'd as given.
    out = ctrd.run("airflow", ["/entrypoint", "find", "/opt/airflow", "-maxdepth", "1", "-name", "dags"])
    assert out.returncode == 0 and out.stdout.strip() == "/opt/airflow/dags", out


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _host_address() -> str | None:
    """A non-loopback address of this machine (password auth applies there, not on 127.0.0.1)."""
    if shutil.which("ip") is None:
        return None
    out = subprocess.run(
        ["ip", "-o", "-4", "addr", "show", "scope", "global"], capture_output=True, text=True, timeout=10
    )
    for line in out.stdout.splitlines():
        match = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", line)
        if match:
            return match.group(1)
    return None


@needs_host
@pytest.mark.slow
def test_postgres_initialises_once_keeps_data_and_serves_airflow(ctrd: Containerd, tmp_path: Path) -> None:
    port = _free_port()
    volume = tmp_path / "volume"
    volume.mkdir()
    # As a volume with fsGroup 999: group-owned, group-writable, setgid.
    os.chown(volume, 0, 999)
    os.chmod(volume, 0o2775)
    env = {
        "POSTGRES_USER": "airflow",
        "POSTGRES_PASSWORD": "s3cret-pw",
        "POSTGRES_DB": "airflow",
        "PGDATA": "/var/lib/postgresql/data/pgdata",
        "PGPORT": str(port),
    }
    mounts = [(volume, "/var/lib/postgresql/data")]
    ready = ["pg_isready", "-h", "127.0.0.1", "-U", "airflow", "-d", "airflow"]

    def psql(cid: str, sql: str, host: str = "127.0.0.1", password: str = "s3cret-pw"):
        return ctrd.exec(
            cid, "env", f"PGPASSWORD={password}", "psql", "-h", host, "-U", "airflow", "-d", "airflow", "-tAc", sql
        )

    # First start as the pod runs it (runAsUser 999, fsGroup 999): initdb, then the server.
    first_log = tmp_path / "first.log"
    cid = ctrd.start_task(
        "postgres",
        ["setpriv", "--reuid=999", "--regid=999", "--groups=999", "docker-entrypoint.sh", "postgres"],
        env=env,
        mounts=mounts,
        net_host=True,
        log=first_log,
    )
    _wait(lambda: ctrd.exec(cid, *ready).returncode == 0, 120, "postgres to accept connections")
    assert "init process complete" in first_log.read_text()
    assert (volume / "pgdata" / "PG_VERSION").read_text().strip() == images.POSTGRES_MAJOR
    assert (volume / "pgdata").stat().st_uid == 999
    assert "host all all all scram-sha-256" in (volume / "pgdata" / "pg_hba.conf").read_text()
    out = psql(cid, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives a restart'); SHOW server_version;")
    assert out.returncode == 0 and out.stdout.strip().splitlines()[-1] == images.POSTGRES_VERSION, out
    host = _host_address()
    if host is not None:
        assert psql(cid, "SELECT 1", host=host, password="wrong").returncode != 0
        assert psql(cid, "SELECT 1", host=host).stdout.strip() == "1"
    ctrd.stop_task(cid, "SIGINT")

    # Second start as root (the image's default): no initdb, steps down to postgres, data kept.
    second_log = tmp_path / "second.log"
    cid = ctrd.start_task("postgres", env=env, mounts=mounts, net_host=True, log=second_log)
    _wait(lambda: ctrd.exec(cid, *ready).returncode == 0, 120, "postgres to accept connections again")
    assert "Skipping initialization" in second_log.read_text()
    out = psql(cid, "SELECT v FROM kept")
    assert out.returncode == 0 and out.stdout.strip() == "survives a restart", out
    out = ctrd.exec(cid, "sh", "-c", "ps -o user= -p 1 2>/dev/null || stat -c %u /proc/1")
    assert out.stdout.strip() in ("postgres", "999"), out

    # The Airflow image migrates its schema into it (the migrate Job's command).
    conn = f"postgresql+psycopg2://airflow:s3cret-pw@127.0.0.1:{port}/airflow"
    out = ctrd.run(
        "airflow",
        ["bash", "-c", "airflow db migrate && airflow db check"],
        env={"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": conn},
        net_host=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    out = psql(cid, "SELECT count(*) > 0 FROM alembic_version")
    assert out.stdout.strip() == "t", out
    # The entrypoint's opt-in database check, then an airflow subcommand.
    out = ctrd.run(
        "airflow",
        ["/usr/bin/dumb-init", "--", "/entrypoint", "db", "check-migrations", "--migration-wait-timeout", "30"],
        env={"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": conn, "CONNECTION_CHECK_MAX_COUNT": "3"},
        net_host=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    ctrd.stop_task(cid, "SIGINT")
