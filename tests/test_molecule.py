"""molecule test for every scenario against kubesim (the default here), wall time of each printed.

The same scenarios on the local real cluster are in tests/cluster/test_molecule_local.py.

`default` deploys the whole stack and, on a real cluster (local or kind), runs the demo-test in
verify.yml (a DAG run is a change by nature, so it stays out of the idempotence step; kubesim runs
no Airflow pod, so there verify reads the state back only); the others go through create, converge,
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

WALL_TIMES: dict[str, float] = {}


SCENARIOS = ["default", "storage", "postgres", "airflow", "dags"]


def run_scenario(scenario: str, cluster: str, extra_env: dict[str, str] | None = None) -> None:
    """`molecule test -s SCENARIO` with MOLECULE_CLUSTER=cluster; asserts every step succeeded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOLECULE_", "ANSIBLE_", "K8S_AUTH_"))}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        MOLECULE_CLUSTER=cluster,
        ANSIBLE_FORCE_COLOR="0",
        NO_COLOR="1",
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
    WALL_TIMES[f"{scenario} ({cluster})"] = time.monotonic() - started
    output = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
    assert proc.returncode == 0, output[-8000:]
    for step in ("create", "converge", "idempotence", "verify", "destroy"):
        assert f"{step}: Executed: Successful" in output, f"{scenario}: step {step} did not succeed"
    if scenario == "default" and cluster != "kubesim":
        # verify.yml ran the demo-test on the cluster's own Airflow; its role wrote this report.
        report = ROOT / "out" / "molecule-demo-junit.xml"
        assert report.stat().st_mtime > started_wall
        root = ET.parse(report).getroot()
        suite = root if root.tag == "testsuite" else root.find("testsuite")
        assert suite.get("failures") == "0"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario_on_kubesim(scenario):
    run_scenario(scenario, "kubesim")
