"""molecule test for every scenario on the local real cluster, wall time of each printed.

The scenarios share everything with their kind variants (users' CI) but create and destroy: create
brings px-cluster up (a no-op when it runs), each scenario works in a namespace of its own
(`mol-<scenario>`), and destroy removes that namespace, leaving the cluster running. The local
cluster is the default: one scenario runs with MOLECULE_CLUSTER unset to prove it.

`default` deploys the whole stack and runs the demo-test in verify.yml (a DAG run is a change by
nature, so it stays out of the idempotence step); the others go through create, converge,
idempotence, verify and destroy for their roles. The kind variants are checked in
test_ci_pipelines.py (syntax, and the stop-at-once message where kind is missing).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest
from helpers import ROOT, VENV_BIN

from .kube import MODULE_AGENT

pytestmark = pytest.mark.slow

WALL_TIMES: dict[str, float] = {}


SCENARIOS = ["default", "storage", "postgres", "airflow", "dags"]
# Run here in full: `default` converges every role (storage, postgres, airflow, dags) and runs the demo;
# postgres, airflow and dags converge a prefix of that same role list with the same files, so they
# add CI time and no path of their own. They stay in users' CI on kind (.github/workflows/ci.yml),
# and test_ci_pipelines.py checks all five.
RUN_HERE = ["default", "storage"]


def run_scenario(scenario: str, cluster: str | None, extra_env: dict[str, str] | None = None) -> None:
    """`molecule test -s SCENARIO` with MOLECULE_CLUSTER=cluster (unset: None); asserts every step succeeded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOLECULE_", "ANSIBLE_", "K8S_AUTH_"))}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        ANSIBLE_FORCE_COLOR="0",
        NO_COLOR="1",
        **({"MOLECULE_CLUSTER": cluster} if cluster else {}),
        **(extra_env or {}),
    )
    started, started_wall = time.monotonic(), time.time()
    proc = subprocess.run(
        [str(VENV_BIN / "molecule"), "test", "-s", scenario],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    WALL_TIMES[f"{scenario} ({cluster or 'default: local'})"] = time.monotonic() - started
    output = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
    assert proc.returncode == 0, output[-8000:]
    for step in ("create", "converge", "idempotence", "verify", "destroy"):
        assert f"{step}: Executed: Successful" in output, f"{scenario}: step {step} did not succeed"
    if scenario == "default":
        # verify.yml ran the demo-test on the cluster's own Airflow; its role wrote this report.
        report = ROOT / "out" / "molecule-demo-junit.xml"
        assert report.stat().st_mtime > started_wall
        root = ET.parse(report).getroot()
        suite = root if root.tag == "testsuite" else root.find("testsuite")
        assert suite.get("failures") == "0"


@pytest.mark.parametrize("scenario", RUN_HERE)
def test_molecule_scenario_on_the_local_cluster(scenario, kube, cluster_dir):
    # The storage scenario runs with MOLECULE_CLUSTER unset: the local cluster is the default.
    cluster = None if scenario == "storage" else "local"
    since = kube.audit.mark()
    run_scenario(scenario, cluster, {"PX_CLUSTER_DIR": str(cluster_dir)})
    # The roles' modules talked to this cluster (the audit log has their requests), not to another one.
    assert kube.audit.requests(since, agent=MODULE_AGENT), f"molecule -s {scenario}: no request reached this cluster"
