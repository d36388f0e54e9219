#!/usr/bin/env python3
"""The main job when no cluster is configured: the whole stack on the local REAL cluster, demo-tested.

`px-cluster up` builds (the first time) and starts a real single-node Kubernetes v1.34 from upstream
sources on this machine, with the stack's images built here and a Portworx stand-in (the only
simulated part). Then playbooks/site.yml deploys the stack on it exactly as on any cluster: the
Airflow components, PostgreSQL, the DAG sync Job and the KubernetesExecutor's worker pods all run
as real pods; the demo DAG creates its PVC with the Python kubernetes client and writes and reads
it from two pods. The demo's JUnit report lands in out/demo-junit.xml.

    .venv/bin/python tools/local_deploy.py [--cluster-dir out/cluster] [-- ANSIBLE-PLAYBOOK ARGS]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
BANNER = """\
================================================================================================
 No Kubernetes cluster is configured (no kubeconfig and no context named), so this run deploys the
 whole stack on the LOCAL cluster: real Kubernetes v1.34 built here from upstream sources and
 running on this machine (px-cluster), with images built here. Airflow, PostgreSQL, the DAG sync
 Job and the demo's worker pods run as real pods. Portworx cannot run here: a stand-in plays it
 through the API and provisions host-directory volumes; that is the only simulated part.
 To deploy to your own cluster: set KUBECONFIG (or K8S_AUTH_KUBECONFIG) and name the context with
 K8S_AUTH_CONTEXT (or -e px_context=NAME).
================================================================================================"""


def say(message: str) -> None:
    print(f"main-job: {message}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cluster-dir", default=str(ROOT / "out" / "cluster"))
    parser.add_argument("playbook_args", nargs="*", help="extra ansible-playbook arguments (after --)")
    args = parser.parse_args()
    print(BANNER, flush=True)
    cluster_dir = Path(args.cluster_dir)
    kubeconfig = cluster_dir / "kubeconfig"
    times: list[tuple[str, float]] = []

    for phase, images, what in (
        ("cluster", "none", "starting the local cluster (the first run builds it: about 13 minutes)"),
        ("images", "all", "the stack's images (the first run builds them: about 4 minutes)"),
    ):
        say(f"{phase}: {what}")
        started = time.monotonic()
        up = [str(VENV_BIN / "px-cluster"), "up", "--dir", str(cluster_dir), "--images", images]
        if subprocess.run(up).returncode != 0:
            say(f"{phase}: px-cluster up failed; see the messages above")
            return 1
        times.append((phase, time.monotonic() - started))

    base = [
        str(VENV_BIN / "ansible-playbook"),
        str(ROOT / "playbooks" / "site.yml"),
        "-e",
        f"@{ROOT / 'inventory' / 'px-cluster.yml'}",
        "-e",
        f"px_kubeconfig={kubeconfig}",
        "-e",
        "px_context=px-local",
    ]
    for phase, extra in (("deploy", ["--skip-tags", "demo"]), ("demo-test", ["--tags", "demo"])):
        say(f"{phase}: ansible-playbook playbooks/site.yml {' '.join(extra)}")
        phase_started = time.monotonic()
        rc = subprocess.run([*base, *extra, *args.playbook_args], cwd=ROOT).returncode
        times.append((phase, time.monotonic() - phase_started))
        if rc != 0:
            say(f"{phase} failed (exit {rc})" + ("; nothing was demo-tested" if phase == "deploy" else ""))
            _times(times)
            return rc
    _times(times)
    kubectl = f".venv/bin/kubectl --kubeconfig {kubeconfig} --context px-local"
    say("the stack runs on the local cluster. Next:")
    say(f"  {kubectl} -n airflow get pods")
    say(f"  {kubectl} -n airflow port-forward svc/af-api-server 8080:8080   # then http://localhost:8080")
    say(
        f"  user admin; its password: {kubectl} -n airflow get secret af-airflow-secrets "
        "-o jsonpath='{.data.admin-password}' | base64 -d"
    )
    say(
        f"  .venv/bin/ansible-playbook playbooks/teardown.yml -e @inventory/px-cluster.yml "
        f"-e px_kubeconfig={kubeconfig} -e px_context=px-local"
    )
    say("  make cluster-down            # stop the local cluster (PURGE=1 also removes its data)")
    return 0


def _times(times: list[tuple[str, float]]) -> None:
    for phase, seconds in times:
        say(f"{phase:<10} {seconds:7.1f} s")


if __name__ == "__main__":
    sys.exit(main())
