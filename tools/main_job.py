"""The main job when no cluster is configured: the whole stack on kubesim, demo-tested for real.

kubesim is a SIMULATED Kubernetes API server (tools/kubesim). With `--portworx healthy` it shows
an installed, healthy Portworx through the API; with `--run-pods` the small utility pods (the DAG
sync Job, the demo's writer and reader) really run on this machine with their volumes mounted.
Airflow's own images cannot run here, so a real local Airflow (api-server, scheduler with the
LocalExecutor, dag-processor) on a real local PostgreSQL stands in for the Airflow pods:
  - its DAGs folder is the synced DAGs volume's `current` view under kubesim's state dir, so the
    DAG it runs is the one dag_sync wrote;
  - its admin password is the one in the cluster's Secret;
  - it is registered behind the api-server Service through kubesim's service proxy, so the demo
    role reaches it exactly as it would reach the cluster's api-server;
  - the demo's tasks use kubesim's kubeconfig, and their pods run for real.

    .venv/bin/python tools/main_job.py [--workdir out/main-job] [--keep-running]
    .venv/bin/python tools/main_job.py --attach KUBECONFIG --state-dir DIR   (molecule's verify)
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from local_airflow import LocalAirflow, Postgres, stop_pid  # noqa: E402

VENV_BIN = Path(sys.executable).parent
BANNER = """\
================================================================================================
 No Kubernetes cluster is configured (no kubeconfig and no context named), so this run deploys the
 whole stack on kubesim: a SIMULATED Kubernetes API server with a simulated, healthy Portworx.
 This is a simulation, not a cluster. The DAG sync Job and the demo's writer and reader pods run
 for real on this machine; Airflow's pods are stood in for by a real local Airflow on a real
 local PostgreSQL. To deploy to a real cluster: set KUBECONFIG (or K8S_AUTH_KUBECONFIG) and name
 the context with K8S_AUTH_CONTEXT (or -e px_context=NAME).
================================================================================================"""


def say(message: str) -> None:
    print(f"main-job: {message}", flush=True)


def start_kubesim(workdir: Path) -> tuple[subprocess.Popen, Path, Path]:
    kubeconfig, log, state = workdir / "kubeconfig", workdir / "requests.jsonl", workdir / "kubesim-state"
    for path in (kubeconfig, log):
        path.unlink(missing_ok=True)
    with open(workdir / "kubesim.log", "wb") as out:
        process = subprocess.Popen(
            [
                str(VENV_BIN / "kubesim"),
                "serve",
                "--kubeconfig",
                str(kubeconfig),
                "--request-log",
                str(log),
                "--state-dir",
                str(state),
                "--portworx",
                "healthy",
                "--run-pods",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while not kubeconfig.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_pid(process.pid)
            raise SystemExit(f"main-job: kubesim did not start; see {workdir / 'kubesim.log'}")
        time.sleep(0.1)
    return process, kubeconfig, state


def playbook(kubeconfig: Path, *args: str, name: str = "site.yml") -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("K8S_AUTH_")}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        K8S_AUTH_KUBECONFIG=str(kubeconfig),
        K8S_AUTH_CONTEXT="kubesim",
    )
    command = [str(VENV_BIN / "ansible-playbook"), str(ROOT / "playbooks" / name), *args]
    say("running " + " ".join(command[1:]))
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


class KubesimStack:
    """kubesim, and a real local Airflow standing in for the Airflow pods once the stack is deployed."""

    def __init__(self, workdir: Path, namespace: str = "airflow", release: str = "af") -> None:
        self.workdir, self.namespace, self.release = workdir, namespace, release
        self.sim: subprocess.Popen | None = None
        self.kubeconfig = workdir / "kubeconfig"
        self.state = workdir / "kubesim-state"
        self.postgres: Postgres | None = None
        self.airflow: LocalAirflow | None = None

    def start_cluster(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir.mkdir(parents=True)
        self.sim, self.kubeconfig, self.state = start_kubesim(self.workdir)
        log = self.workdir / "requests.jsonl"
        say(f"kubesim (pid {self.sim.pid}) serves {self.kubeconfig}; its request log is {log}")

    def attach(self, kubeconfig: Path, state: Path) -> None:
        """Use a kubesim somebody else started (molecule's create step)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.kubeconfig, self.state = kubeconfig, state

    def deploy(self, *args: str) -> int:
        return playbook(self.kubeconfig, "--skip-tags", "demo", *args)

    def start_airflow(self) -> LocalAirflow:
        password, volume = cluster_facts(self.kubeconfig, self.namespace, self.release)
        dags_folder = self.state / "volumes" / volume / "current"
        say(f"the DAGs volume {volume} is at {dags_folder.parent}; starting a real Airflow on it")
        self.postgres = Postgres.start()
        conn = self.postgres.create_database("airflow", "airflow", secrets.token_hex(16))
        self.airflow = LocalAirflow(
            home=self.workdir / "airflow",
            dags_folder=dags_folder,
            sql_alchemy_conn=conn,
            admin_password=password,
            extra_env={"KUBECONFIG": str(self.kubeconfig), "PX_DEMO_KUBE_CONTEXT": "kubesim"},
        )
        self.airflow.prepare()
        self.airflow.start()
        (self.workdir / "airflow-started").write_text(str(time.time()))
        register_proxy(self.kubeconfig, self.namespace, f"{self.release}-api-server", 8080, self.airflow.url)
        say(f"Airflow {self.airflow.url} answers behind service {self.namespace}/{self.release}-api-server:8080")
        return self.airflow

    def demo(self, *args: str) -> int:
        rc = playbook(self.kubeconfig, "--tags", "demo", *args)
        say("demo-test " + ("PASSED" if rc == 0 else f"FAILED (exit {rc})") + " on kubesim (a simulation)")
        return rc

    def stop_airflow(self) -> None:
        if self.airflow is not None:
            self.airflow.stop()
            self.airflow = None
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None

    def stop(self) -> None:
        self.stop_airflow()
        if self.sim is not None:
            stop_pid(self.sim.pid)
            self.sim = None


def cluster_facts(kubeconfig: Path, namespace: str, release: str) -> tuple[str, str]:
    """(admin password, name of the DAGs claim's volume) read back from the cluster."""
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))
    secret = api.read_namespaced_secret(f"{release}-airflow-secrets", namespace)
    password = base64.b64decode(secret.data["admin-password"]).decode()
    claim = api.read_namespaced_persistent_volume_claim(f"{release}-dags", namespace)
    return password, claim.spec.volume_name


def register_proxy(kubeconfig: Path, namespace: str, service: str, port: int, url: str) -> None:
    from kubernetes import config

    api = config.new_client_from_config(str(kubeconfig))
    body = {"namespace": namespace, "name": service, "port": str(port), "url": url}
    api.call_api("/kubesim/v1/proxies", "POST", body=body, auth_settings=["BearerToken"], _preload_content=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=str(ROOT / "out" / "main-job"))
    parser.add_argument("--namespace", default="airflow")
    parser.add_argument("--release", default="af")
    parser.add_argument("--attach", metavar="KUBECONFIG", help="demo-test a stack already deployed on this kubesim")
    parser.add_argument("--state-dir", help="with --attach: that kubesim's --state-dir")
    parser.add_argument("--keep-running", action="store_true", help="leave kubesim and Airflow up until Ctrl-C")
    parser.add_argument("playbook_args", nargs="*", help="extra ansible-playbook arguments")
    args = parser.parse_args()
    print(BANNER, flush=True)
    stack = KubesimStack(Path(args.workdir), args.namespace, args.release)
    try:
        if args.attach:
            if not args.state_dir:
                parser.error("--attach needs --state-dir")
            stack.attach(Path(args.attach), Path(args.state_dir))
        else:
            stack.start_cluster()
            rc = stack.deploy(*args.playbook_args)
            if rc != 0:
                say(f"deploying the stack failed (exit {rc}); nothing was demo-tested")
                return rc
        stack.start_airflow()
        rc = stack.demo(*args.playbook_args)
        if args.keep_running and rc == 0:
            say("kubesim and Airflow keep running; Ctrl-C stops them")
            signal.pause()
        return rc
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
