"""A private, real PostgreSQL server for tests (initdb + pg_ctl), stopped by its PID.

Runs as the `postgres` user when the tests run as root (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        raise RuntimeError(f"PostgreSQL's {name} is not installed: run `make setup` (it installs postgresql)")
    return found[-1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RealPostgres:
    port: int
    socket_dir: str
    data_dir: str
    pid: int
    superuser: str

    def psql(self, sql: str, database: str = "postgres") -> str:
        proc = subprocess.run(
            [
                _bin("psql"),
                "-h",
                self.socket_dir,
                "-p",
                str(self.port),
                "-U",
                self.superuser,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-Atc",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            **_as_owner(self.superuser),
        )
        if proc.returncode != 0:
            raise RuntimeError(f"psql failed: {proc.stderr}")
        return proc.stdout.strip()

    def stop(self) -> None:
        try:
            os.kill(self.pid, signal.SIGINT)  # fast shutdown
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        os.kill(self.pid, signal.SIGKILL)


def _as_owner(user: str) -> dict:
    if os.getuid() != 0:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid}


def start_postgres() -> RealPostgres:
    superuser = "postgres" if os.getuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
    base = tempfile.mkdtemp(prefix="px-pg-")
    os.chmod(base, 0o755)
    data_dir, socket_dir = os.path.join(base, "data"), os.path.join(base, "sock")
    os.makedirs(socket_dir)
    if os.getuid() == 0:
        entry = pwd.getpwnam(superuser)
        for path in (base, socket_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    owner = _as_owner(superuser)
    subprocess.run(
        [_bin("initdb"), "-D", data_dir, "-U", superuser, "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
        timeout=120,
        **owner,
    )
    # Password authentication over TCP, as the cluster's components use it.
    with open(os.path.join(data_dir, "pg_hba.conf"), "w") as hba:
        hba.write("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
    port = free_port()
    log = os.path.join(base, "postgres.log")
    Path(log).touch()
    if os.getuid() == 0:
        os.chown(log, owner["user"], owner["group"])
    subprocess.run(
        [
            _bin("pg_ctl"),
            "-D",
            data_dir,
            "-l",
            log,
            "-w",
            "-t",
            "60",
            "start",
            "-o",
            f"-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=90,
        **owner,
    )
    pid = int(Path(data_dir, "postmaster.pid").read_text().split()[0])
    return RealPostgres(port=port, socket_dir=socket_dir, data_dir=data_dir, pid=pid, superuser=superuser)
