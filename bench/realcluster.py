"""What the benchmarks share on the local real cluster (px-cluster, tools/cluster).

- `Identity`: a ServiceAccount of the benchmark's own (its namespace, a ClusterRoleBinding to
  cluster-admin) and a kubeconfig with its token, context `px-local`. The cluster is shared with
  other tests that also send px.airflow's User-Agent as px-admin; the audit log tells the
  benchmark's requests apart by this user.
- `CountingProxy`: an HTTP CONNECT proxy on 127.0.0.1 that forwards only to the API server and
  counts the bytes its clients send through it (TLS records, headers and bodies: the wire).
- `playbook()`: ansible-playbook as users run it in this repo (ansible.cfg, json callback), timed.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from cluster.kube import CLUSTER_DIR, PX_CLUSTER, Kube, KubectlError, unique  # noqa: E402,F401
from helpers import VENV_BIN, PlaybookRun, ansible_env  # noqa: E402

CONTEXT = "px-local"


class Identity:
    """A ServiceAccount bound to cluster-admin, in namespace PREFIX-id, with a token kubeconfig.

    `delete()` is safe whatever `create()` got to (names are fixed up front).
    """

    def __init__(self, kube: Kube, prefix: str, directory: Path) -> None:
        self.kube = kube
        self.namespace = f"{prefix}-id"
        self.binding = f"px-{prefix}"
        self.user = f"system:serviceaccount:{self.namespace}:runner"
        self.kubeconfig = directory / "kubeconfig"
        self.server = ""

    def create(self) -> None:
        kube = self.kube
        kube.create_namespace(self.namespace)
        kube.run("create", "serviceaccount", "runner", "-n", self.namespace)
        kube.create(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": self.binding},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "ServiceAccount", "name": "runner", "namespace": self.namespace}],
            }
        )
        token = kube.run("create", "token", "runner", "-n", self.namespace, "--duration=6h").strip()
        admin = yaml.safe_load(kube.kubeconfig.read_text())
        context = next(c["context"] for c in admin["contexts"] if c["name"] == kube.context)
        cluster = next(c for c in admin["clusters"] if c["name"] == context["cluster"])
        self.server = cluster["cluster"]["server"]
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [cluster],
            "users": [{"name": "runner", "user": {"token": token}}],
            "contexts": [{"name": CONTEXT, "context": {"cluster": cluster["name"], "user": "runner"}}],
            "current-context": CONTEXT,
        }
        self.kubeconfig.write_text(yaml.safe_dump(config))
        self.kubeconfig.chmod(0o600)

    def delete(self) -> None:
        self.kube.run("delete", "clusterrolebinding", self.binding, "--ignore-not-found", check=False)
        self.kube.run("delete", "namespace", self.namespace, "--ignore-not-found", "--wait=false", check=False)


class CountingProxy:
    """An HTTP CONNECT proxy that forwards to one host:port only and counts bytes client -> server."""

    def __init__(self, server_url: str) -> None:
        target = urlparse(server_url)
        self.target = (target.hostname, target.port or 443)
        self.sent = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=5)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(conn,), daemon=True).start()

    def _tunnel(self, conn: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                conn.close()
                return
            head += chunk
        parts = head.split(b"\r\n", 1)[0].split()
        host, _, port = parts[1].decode().rpartition(":") if len(parts) == 3 else ("", "", "0")
        if parts[0] != b"CONNECT" or (host.strip("[]"), int(port or 0)) != self.target:
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            conn.close()
            return
        upstream = socket.create_connection(self.target, timeout=30)
        upstream.settimeout(None)
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        rest = head.split(b"\r\n\r\n", 1)[1]
        if rest:
            self._count(len(rest))
            upstream.sendall(rest)
        back = threading.Thread(target=self._pump, args=(upstream, conn, False), daemon=True)
        back.start()
        self._pump(conn, upstream, True)
        back.join(timeout=120)

    def _count(self, n: int) -> None:
        with self.lock:
            self.sent += n

    def _pump(self, source: socket.socket, sink: socket.socket, counted: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if counted:
                    self._count(len(chunk))
                sink.sendall(chunk)
        except OSError:
            pass
        for sock in (sink, source):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if counted:
            source.close()
            sink.close()


def playbook(path: Path, *args: str, timeout: float = 1800, check: bool = True) -> tuple[PlaybookRun, float]:
    """ansible-playbook PATH ARGS from the repo root (ansible.cfg, json callback); its run and wall seconds."""
    started = time.monotonic()
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), str(path), *args],
        cwd=ROOT,
        env=ansible_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    seconds = time.monotonic() - started
    run = PlaybookRun(proc)
    if check and run.rc != 0:
        raise SystemExit(
            f"{Path(path).name} {' '.join(args)} failed ({run.rc}):\n{proc.stdout[-6000:]}{proc.stderr[-2000:]}"
        )
    return run, seconds


def wait_gone(kube: Kube, what: str, probe, timeout: float = 300) -> None:
    """Waits (bounded) until probe() is falsy; says so instead of failing: clean-up goes on."""
    try:
        kube.wait_for(what, lambda: not probe(), timeout, interval=2)
    except AssertionError as exc:
        print(f"  warning: {exc}", file=sys.stderr, flush=True)
