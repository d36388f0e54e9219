"""px-cluster up / down / status: the cluster's life cycle."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from . import build, config, net, versions
from .config import Layout
from .procs import Procs, kill_pid, processes_mentioning

Say = Callable[[str], None]

CORE = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "containerd",
    "kubelet",
    "kube-proxy",
    "coredns",
]
DEBIAN_PACKAGES = {
    "containerd": "containerd",
    "runc": "runc",
    "/usr/lib/cni/bridge": "containernetworking-plugins",
    "iptables": "iptables",
    "conntrack": "conntrack",
}
# Unix socket paths are limited to 107 bytes; the deepest is under DIR/containerd/state/.
MAX_DIR_LENGTH = 60


class ClusterError(RuntimeError):
    pass


def _say(msg: str) -> None:
    print(f"px-cluster: {msg}", flush=True)


class Cluster:
    def __init__(self, directory: Path, say: Say = _say) -> None:
        self.layout = Layout(directory.resolve())
        self.procs = Procs(self.layout.run, self.layout.logs)
        self.say = say

    # ---------------------------------------------------------------- helpers
    @property
    def dir(self) -> Path:
        return self.layout.dir

    def kubectl(self, *args: str, stem: str = "bootstrap", input: str | None = None, check: bool = True) -> str:
        kubeconfig = self.layout.kubeconfig if stem == "admin" else self.layout.component_kubeconfig(stem)
        cmd = [str(build.binary("kubectl")), f"--kubeconfig={kubeconfig}", *args]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def apply(self, objects: list[dict]) -> None:
        docs = yaml.safe_dump_all(objects)
        self.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=px-cluster", "-f", "-", input=docs)

    def _wait(self, what: str, probe: Callable[[], bool], timeout: float, component: str | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if probe():
                    return
            except (OSError, ClusterError, http.client.HTTPException, subprocess.TimeoutExpired):
                pass
            if component and not self.procs.running(component):
                raise ClusterError(
                    f"{component} exited while waiting for {what}; its log ends:\n{self.procs.tail(component)}"
                )
            time.sleep(0.25)
        tail = f"; {component}'s log ends:\n{self.procs.tail(component)}" if component else ""
        raise ClusterError(f"timed out after {timeout:.0f} s waiting for {what}{tail}")

    def _https_ok(self, host: str, port: int, path: str) -> bool:
        ctx = ssl.create_default_context(cafile=str(self.layout.pki / "ca.crt"))
        ctx.load_cert_chain(self.layout.pki / "admin.crt", self.layout.pki / "admin.key")
        conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=3)
        try:
            conn.request("GET", path)
            return conn.getresponse().status == 200
        finally:
            conn.close()

    @staticmethod
    def _http_ok(url_host: str, port: int, path: str) -> bool:
        conn = http.client.HTTPConnection(url_host, port, timeout=3)
        try:
            conn.request("GET", path)
            return conn.getresponse().status == 200
        finally:
            conn.close()

    # ---------------------------------------------------------------- checks
    def _preflight(self) -> None:
        if os.geteuid() != 0:
            raise ClusterError("px-cluster needs root (it runs containerd, the kubelet and sets up bridges)")
        if len(str(self.dir)) > MAX_DIR_LENGTH:
            raise ClusterError(
                f"--dir {self.dir} is {len(str(self.dir))} characters long; unix socket paths under it would "
                f"exceed the kernel's limit: use a directory path of at most {MAX_DIR_LENGTH} characters"
            )
        from . import images

        wanted = dict(DEBIAN_PACKAGES)
        for pkg in images.DEBIAN_PACKAGES:
            wanted[f"pkg:{pkg}"] = pkg
        missing = sorted({pkg for probe, pkg in wanted.items() if not self._have(probe)})
        if missing:
            self.say(f"installing Debian packages: {' '.join(missing)}")
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
                proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
                if proc.returncode != 0:
                    raise ClusterError(f"`{' '.join(cmd)}` failed: {proc.stderr.strip()[-2000:]}")

    @staticmethod
    def _have(probe: str) -> bool:
        if probe.startswith("pkg:"):
            return subprocess.run(["dpkg", "-s", probe[4:]], capture_output=True).returncode == 0
        if probe.startswith("/"):
            return Path(probe).exists()
        return shutil.which(probe) is not None

    def core_running(self) -> bool:
        return all(self.procs.running(name) for name in CORE)

    def _registry_file(self) -> Path:
        return versions.cache_root() / "clusters.json"

    def _registered(self) -> list[str]:
        try:
            return json.loads(self._registry_file().read_text())
        except (OSError, ValueError):
            return []

    def _register(self, present: bool) -> None:
        dirs = [d for d in self._registered() if d != str(self.dir)] + ([str(self.dir)] if present else [])
        self._registry_file().parent.mkdir(parents=True, exist_ok=True)
        self._registry_file().write_text(json.dumps(dirs))

    def _other_clusters(self) -> None:
        """Another cluster dir on this machine: refuse while it runs, clear its leftovers if it was killed."""
        for other in self._registered():
            if other == str(self.dir) or not Path(other).exists():
                continue
            peer = Cluster(Path(other), self.say)
            if any(peer.procs.running(name) for name in CORE):
                raise ClusterError(
                    f"another px-cluster runs from {other}; stop it first: px-cluster down --dir {other}"
                )
            if peer.procs.names() or _mounts_under(peer.dir):
                self.say(f"clearing what a stopped cluster in {other} left behind")
                peer.stop(quiet=True)

    # ---------------------------------------------------------------- up
    def up(
        self, image_spec: str = "all", portworx: str = "healthy", portworx_nodes: int = 3, stork: bool = False
    ) -> None:
        from . import images

        started = time.monotonic()
        names = images.select(image_spec)
        self._preflight()
        if self.core_running():
            self.say(f"cluster in {self.dir} already runs")
            self._images(names)
            self._portworx(portworx, portworx_nodes, stork)
            return
        took = build.build_all(self.say)
        if took:
            self.say("built: " + ", ".join(f"{k} {v:.0f} s" for k, v in took.items()))
        self._other_clusters()
        if self.procs.names() or _mounts_under(self.dir):
            self.say("clearing what an earlier, stopped or killed run left behind")
        self.stop(quiet=True)
        self._register(True)
        self._start_all(names)
        self._portworx(portworx, portworx_nodes, stork)
        self.say(
            f"cluster up in {time.monotonic() - started:.0f} s: kubeconfig {self.layout.kubeconfig} "
            f"(contexts {config.CONTEXT}, {config.TOKEN_CONTEXT})"
        )

    def _start_all(self, image_names: list[str]) -> None:
        from . import images

        layout = self.layout
        for sub in (layout.run, layout.logs, layout.volumes):
            sub.mkdir(parents=True, exist_ok=True)
        pki = config.write_pki_and_kubeconfigs(layout)
        config.write_component_files(layout, images.IMAGES["pause"])
        if not layout.kubeconfig.exists():
            config.write_admin_kubeconfig(layout, pki, None)
        net.setup(layout.run / "sysctl.json")
        argv = config.commands(layout, build.binaries())

        def start(name: str) -> None:
            self.procs.start(name, argv[name])

        t0 = time.monotonic()
        start("etcd")
        self._wait("etcd", lambda: self._http_ok("127.0.0.1", 23790, "/health"), 60, "etcd")
        start("kube-apiserver")
        self._wait(
            "kube-apiserver /readyz",
            lambda: self._https_ok(config.NODE_IP, config.APISERVER_PORT, "/readyz"),
            120,
            "kube-apiserver",
        )
        self.say(f"control plane answers ({time.monotonic() - t0:.1f} s)")
        self._wait("namespace kube-system", lambda: bool(self.kubectl("get", "ns", "kube-system", "-o", "name")), 60)
        self.apply(config.bootstrap_objects())
        for name in ("kube-controller-manager", "kube-scheduler", "containerd"):
            start(name)
        self._wait("containerd", lambda: self._ctr("version").returncode == 0, 60, "containerd")
        self._images(image_names)
        start("kubelet")
        start("kube-proxy")
        start("coredns")
        self._wait("node Ready with a pod CIDR", self._node_ready, 180, "kubelet")
        self._wait("kube-proxy", lambda: self._http_ok("127.0.0.1", 10256, "/healthz"), 60, "kube-proxy")
        net.ensure_guard()
        self._wait(
            "cluster DNS",
            lambda: (
                dns_query(config.DNS_SERVICE_IP, "kubernetes.default.svc.cluster.local") == config.KUBERNETES_SERVICE_IP
            ),
            90,
            "coredns",
        )
        token = self._wait_token()
        config.write_admin_kubeconfig(layout, pki, token)
        self._link_kubectl()
        self.say(f"node Ready, DNS answers ({time.monotonic() - t0:.1f} s after start)")

    def _ctr(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["ctr", "--address", str(self.layout.containerd_sock), "-n", "k8s.io", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def _node_ready(self) -> bool:
        node = json.loads(self.kubectl("get", "node", config.NODE, "-o", "json"))
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))
        return ready and bool(node["spec"].get("podCIDR"))

    def _wait_token(self) -> str:
        import base64

        holder: dict[str, str] = {}

        def probe() -> bool:
            ns, name = config.TOKEN_SA
            secret = json.loads(self.kubectl("get", "secret", name, "-n", ns, "-o", "json"))
            token = (secret.get("data") or {}).get("token")
            if token:
                holder["token"] = base64.b64decode(token).decode()
            return bool(token)

        self._wait("the ServiceAccount token of px-local-token", probe, 60)
        return holder["token"]

    def _link_kubectl(self) -> None:
        venv_bin = Path(sys.executable).parent
        link = venv_bin / "kubectl"
        target = build.binary("kubectl")
        if venv_bin.name == "bin" and (venv_bin.parent / "pyvenv.cfg").exists():
            if link.is_symlink() and Path(os.readlink(link)) == target:
                return
            link.unlink(missing_ok=True)
            link.symlink_to(target)

    def _images(self, names: list[str]) -> None:
        from . import images

        if not names:
            return
        images.build(names, self.say)
        images.import_images(names, str(self.layout.containerd_sock), self.say)

    def _portworx(self, mode: str, nodes: int, stork: bool) -> None:
        try:
            from .portworx import install
        except ImportError:
            return
        stamp = self.layout.run / "portworx.json"
        want = {"mode": mode, "nodes": nodes, "stork": stork}
        current = json.loads(stamp.read_text()) if stamp.exists() else None
        if current == want and self.procs.running("portworx"):
            return
        self.say(f"Portworx stand-in: mode {mode}, {nodes} storage nodes{', Stork' if stork else ''}")
        self.procs.stop("portworx")
        # What an earlier mode made and this one must not have goes first, and is waited for: a
        # namespace or CRD still terminating would refuse what comes next.
        for api_version, kind, name, namespace in install.remove_for_mode(mode, stork=stork):
            resource = f"{kind}.{api_version.split('/')[0]}" if "/" in api_version else kind
            args = ["delete", resource, name, "--ignore-not-found", "--wait=true", "--timeout=120s"]
            self.kubectl(*args, *(["-n", namespace] if namespace else []), check=False)
        crds = install.crds(mode)
        self.apply(crds)
        for crd in crds:
            self.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{crd['metadata']['name']}")
        objects = install.objects(mode, nodes, stork)
        self._wait("the Portworx stand-in's objects to apply", lambda: self.apply(objects) is None, 90)
        self.procs.start(
            "portworx",
            install.controller_command(
                self.layout.component_kubeconfig("portworx"), self.layout.volumes, mode, nodes, stork=stork
            ),
        )
        stamp.write_text(json.dumps(want))

    # ---------------------------------------------------------------- down
    def stop(self, quiet: bool = False) -> list[str]:
        """Stops every process of ours, unmounts what is mounted under DIR and removes the network set-up."""
        did: list[str] = []
        for name in ("portworx", "coredns", "kube-proxy", "kubelet"):
            if self.procs.stop(name):
                did.append(f"stopped {name}")
        did += self._stop_containers()
        for name in ("containerd", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"):
            if self.procs.stop(name, timeout=30):
                did.append(f"stopped {name}")
        for name in self.procs.names():
            if self.procs.stop(name):
                did.append(f"stopped {name}")
        # Shims and container processes of a killed run still name our dir on their command line.
        for pid in processes_mentioning(str(self.dir) + "/"):
            kill_pid(pid, 5)
            did.append(f"stopped leftover process {pid}")
        did += _unmount_under(self.dir)
        did += net.teardown(self.layout.run / "sysctl.json", build.binary("kube-proxy"))
        if not quiet:
            for line in did:
                self.say(line)
        return did

    def _stop_containers(self) -> list[str]:
        did = []
        runc_root = self.dir / "runc" / "k8s.io"
        if self.procs.running("containerd"):
            out = self._ctr("tasks", "ls", "-q")
            for task in out.stdout.split():
                self._ctr("tasks", "kill", "-a", "-s", "SIGKILL", task)
            deadline = time.monotonic() + 20
            for task in out.stdout.split():
                while time.monotonic() < deadline and self._ctr("tasks", "rm", "-f", task).returncode != 0:
                    time.sleep(0.2)
            if out.stdout.split():
                did.append(f"stopped {len(out.stdout.split())} containers")
        if runc_root.exists():
            listing = subprocess.run(["runc", "--root", str(runc_root), "list", "-q"], capture_output=True, text=True)
            for cid in listing.stdout.split():
                subprocess.run(["runc", "--root", str(runc_root), "kill", "--all", cid, "KILL"], capture_output=True)
                subprocess.run(["runc", "--root", str(runc_root), "delete", "-f", cid], capture_output=True)
                did.append(f"removed leftover container {cid[:12]}")
        return did

    def down(self, purge: bool = False) -> None:
        did = self.stop()
        if purge:
            _remove_cgroups()
            for link in Path("/var/log/containers").glob("*.log") if Path("/var/log/containers").exists() else []:
                if link.is_symlink() and os.readlink(link).startswith(str(self.dir)):
                    link.unlink()
            if self.dir.exists():
                shutil.rmtree(self.dir)
                did.append(f"removed {self.dir}")
                self.say(f"removed {self.dir}")
            self._register(False)
        if not did:
            self.say(f"no cluster runs from {self.dir}")

    # ---------------------------------------------------------------- status
    def status(self) -> int:
        running = {name: self.procs.pid(name) for name in [*CORE, "portworx"]}
        for name, pid in running.items():
            if name == "portworx" and not self.procs.pidfile(name).exists() and pid is None:
                continue
            self.say(f"{name:<24} {'running, PID ' + str(pid) if pid else 'not running'}")
        if all(running[n] for n in CORE):
            self.say(f"cluster runs from {self.dir}; kubeconfig {self.layout.kubeconfig}")
            return 0
        self.say(f"cluster in {self.dir} is {'partly running' if any(running.values()) else 'not running'}")
        return 1 if any(running.values()) else 3


def _mountinfo() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        points.append(line.split()[4].encode().decode("unicode_escape"))
    return points


def _mounts_under(directory: Path) -> list[str]:
    prefix = str(directory) + "/"
    return [p for p in _mountinfo() if p.startswith(prefix)]


def _unmount_under(directory: Path) -> list[str]:
    did = []
    for _ in range(5):
        points = sorted(set(_mounts_under(directory)), key=lambda p: p.count("/"), reverse=True)
        if not points:
            break
        for point in points:
            if subprocess.run(["umount", point], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", point], capture_output=True)
            did.append(f"unmounted {point}")
    return did


def _remove_cgroups() -> None:
    """The kubelet's kubepods cgroups, once empty."""
    root = Path("/sys/fs/cgroup")
    for top in root.glob("*/kubepods"):
        for path in sorted(top.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path.is_dir():
                with contextlib.suppress(OSError):
                    path.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()


def dns_query(server: str, name: str, timeout: float = 2.0) -> str | None:
    """One A query over UDP; the first address in the answer, or None."""
    qid = os.getpid() & 0xFFFF
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(packet, (server, 53))
        data, _ = sock.recvfrom(4096)
    if len(data) < 12 or struct.unpack(">H", data[:2])[0] != qid:
        return None
    answers = struct.unpack(">H", data[6:8])[0]
    pos = 12 + len(question)
    for _ in range(answers):
        if data[pos] & 0xC0 == 0xC0:
            pos += 2
        else:
            while data[pos]:
                pos += data[pos] + 1
            pos += 1
        rtype, _cls, _ttl, rdlen = struct.unpack(">HHIH", data[pos : pos + 10])
        pos += 10
        if rtype == 1 and rdlen == 4:
            return socket.inet_ntoa(data[pos : pos + 4])
        pos += rdlen
    return None
