"""molecule test for every scenario against kubesim (the default here), wall time of each printed.

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

WALL_TIMES: dict[str, float] = {}


@pytest.mark.parametrize("scenario", ["default", "storage", "postgres", "airflow", "dags"])
def test_molecule_scenario_on_kubesim(scenario):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOLECULE_", "ANSIBLE_", "K8S_AUTH_"))}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        MOLECULE_CLUSTER="kubesim",
        ANSIBLE_FORCE_COLOR="0",
        NO_COLOR="1",
    )
    started, started_wall = time.monotonic(), time.time()
    proc = subprocess.run(
        [str(VENV_BIN / "molecule"), "test", "-s", scenario],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    WALL_TIMES[scenario] = time.monotonic() - started
    output = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
    assert proc.returncode == 0, output[-8000:]
    for step in ("create", "converge", "idempotence", "verify", "destroy"):
        assert f"{step}: Executed: Successful" in output, f"{scenario}: step {step} did not succeed"
    if scenario == "default":
        # verify.yml ran the demo-test (tools/main_job.py --attach), whose role wrote this report.
        report = ROOT / "out" / "demo-junit.xml"
        assert report.stat().st_mtime > started_wall
        assert ET.parse(report).getroot().find("testsuite").get("failures") == "0"
