"""A real Airflow 3 (api-server, scheduler with the LocalExecutor, dag-processor) on a real local
PostgreSQL, for tests that need Airflow without a cluster.

Every server is started so that the PID kept is the server's own, and stopped by that PID with
bounded waits. Nothing here talks to Kubernetes.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        raise RuntimeError(f"PostgreSQL's {name} is not installed: run `make setup` (it installs postgresql)")
    return found[-1]


def _owner_kwargs(user: str) -> dict:
    if os.getuid() != 0:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid}


def stop_pid(pid: int, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
    """Signal a process by PID and wait (bounded) until it is gone; SIGKILL after the timeout."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            finished, _status = os.waitpid(pid, os.WNOHANG)
            if finished == pid:
                return
        except ChildProcessError:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@dataclass
class Postgres:
    port: int
    socket_dir: str
    data_dir: str
    pid: int
    superuser: str

    @classmethod
    def start(cls, base: str | None = None) -> Postgres:
        superuser = "postgres" if os.getuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
        base = base or tempfile.mkdtemp(prefix="px-pg-")
        os.makedirs(base, exist_ok=True)
        os.chmod(base, 0o755)
        data_dir, socket_dir, log = os.path.join(base, "data"), os.path.join(base, "sock"), os.path.join(base, "pg.log")
        os.makedirs(socket_dir, exist_ok=True)
        Path(log).touch()
        owner = _owner_kwargs(superuser)
        if owner:
            for path in (base, socket_dir, log):
                os.chown(path, owner["user"], owner["group"])
        subprocess.run(
            [_pg_bin("initdb"), "-D", data_dir, "-U", superuser, "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
            timeout=120,
            **owner,
        )
        with open(os.path.join(data_dir, "pg_hba.conf"), "w") as hba:
            hba.write("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
        port = free_port()
        subprocess.run(
            [
                _pg_bin("pg_ctl"),
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
        return cls(port, socket_dir, data_dir, pid, superuser)

    def psql(self, sql: str, database: str = "postgres") -> str:
        proc = subprocess.run(
            [
                _pg_bin("psql"),
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
            check=False,
            **_owner_kwargs(self.superuser),
        )
        if proc.returncode != 0:
            raise RuntimeError(f"psql failed: {proc.stderr}")
        return proc.stdout.strip()

    def create_database(self, name: str, user: str, password: str) -> str:
        """A role and its database; returns the SQLAlchemy URL Airflow uses for it."""
        self.psql(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
        self.psql(f"CREATE DATABASE {name} OWNER {user}")
        return f"postgresql+psycopg2://{user}:{password}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        stop_pid(self.pid, signal.SIGINT)  # PostgreSQL's fast shutdown


@dataclass
class LocalAirflow:
    """api-server, scheduler (LocalExecutor) and dag-processor sharing one AIRFLOW_HOME."""

    home: Path
    dags_folder: Path
    sql_alchemy_conn: str
    admin_password: str
    port: int = field(default_factory=free_port)
    extra_env: dict = field(default_factory=dict)
    processes: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        secrets_file = self.home / "secrets.json"
        if not secrets_file.exists():
            from cryptography.fernet import Fernet

            secrets_file.write_text(
                json.dumps(
                    {
                        "fernet": Fernet.generate_key().decode(),
                        "jwt": os.urandom(48).hex(),
                        "api": os.urandom(24).hex(),
                    }
                )
            )
        keys = json.loads(secrets_file.read_text())
        env.update(
            PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags_folder),
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__PARALLELISM="4",
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__AUTH_MANAGER="airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
            AIRFLOW__CORE__FERNET_KEY=keys["fernet"],
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.url}/execution/",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=self.sql_alchemy_conn,
            AIRFLOW__API__SECRET_KEY=keys["api"],
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API_AUTH__JWT_SECRET=keys["jwt"],
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="5",
            AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="1",
            AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(self.home / "logs"),
        )
        env.update(self.extra_env)
        return env

    def _airflow(self, *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(VENV_BIN / "airflow"), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def prepare(self) -> None:
        """Migrate the database and create the admin user (FAB)."""
        self.home.mkdir(parents=True, exist_ok=True)
        for step in (
            ("db", "migrate"),
            (
                "users",
                "create",
                "--username",
                "admin",
                # One argument: a password that starts with "-" (token_urlsafe gives one in 64) is
                # otherwise read by argparse as an option, and the user is not created.
                f"--password={self.admin_password}",
                "--email",
                "admin@example.invalid",
                "--firstname",
                "Admin",
                "--lastname",
                "User",
                "--role",
                "Admin",
            ),
        ):
            proc = self._airflow(*step)
            if proc.returncode != 0:
                raise RuntimeError(f"airflow {' '.join(step[:2])} failed: {proc.stdout[-2000:]}{proc.stderr[-3000:]}")

    def start(self, timeout: float = 180.0) -> None:
        logs = self.home / "process-logs"
        logs.mkdir(parents=True, exist_ok=True)
        commands = {
            "api-server": ["api-server", "--port", str(self.port), "--host", "127.0.0.1"],
            "scheduler": ["scheduler"],
            "dag-processor": ["dag-processor"],
        }
        for name, args in commands.items():
            with open(logs / f"{name}.log", "wb") as out:
                # exec-style start: the PID kept is the server's own.
                process = subprocess.Popen(
                    [str(VENV_BIN / "airflow"), *args],
                    env=self.env(),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.processes[name] = process
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"airflow {name} exited with {process.returncode}: {self.log_tail(name)}")
            if self.healthy():
                return
            time.sleep(0.5)
        raise RuntimeError(
            f"Airflow's api-server did not become healthy within {timeout} s: {self.log_tail('api-server')}"
        )

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=5) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.home / "process-logs" / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                # The whole session: LocalExecutor workers and the api-server's workers too.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.processes.clear()
