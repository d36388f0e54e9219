"""The CI pipeline users run (.github/workflows) and the molecule scenarios' kind variants.

actionlint downloads its binary from a host we cannot reach, so the workflow is checked against
the GitHub Actions workflow schema (check-jsonschema's vendored copy) plus what it must contain.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml
from helpers import ROOT, VENV_BIN

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
SCENARIOS = ["default", "storage", "postgres", "airflow", "dags"]


def test_workflow_matches_the_github_actions_schema():
    proc = subprocess.run(
        [str(VENV_BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_broken_workflow_is_caught(tmp_path):
    broken = tmp_path / "ci.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "runs-onn:", 1))
    proc = subprocess.run(
        [str(VENV_BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0


def test_workflow_runs_lint_sanity_matrix_units_and_molecule_on_kind():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    jobs = workflow["jobs"]
    assert set(jobs) == {"lint", "sanity", "units", "molecule-kind"}
    assert jobs["sanity"]["strategy"]["matrix"]["ansible-core"] == ["2.17", "2.18", "2.19", "2.20"]
    lint_steps = " ".join(step.get("run", "") for step in jobs["lint"]["steps"])
    assert "ansible-lint --profile production" in lint_steps and "ruff check" in lint_steps
    molecule = jobs["molecule-kind"]
    assert molecule["strategy"]["matrix"]["scenario"] == SCENARIOS
    steps = {step.get("name", step.get("uses")): step for step in molecule["steps"]}
    assert steps["molecule test -s ${{ matrix.scenario }} on kind"]["env"]["MOLECULE_CLUSTER"] == "kind"
    assert any(str(step.get("uses", "")).startswith("helm/kind-action") for step in molecule["steps"])
    upload = steps["Upload the demo-test's JUnit report"]
    assert upload["with"]["path"] == "out/molecule-demo-junit.xml" and "always()" in upload["if"]


def molecule(*args: str, cluster: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOLECULE_", "ANSIBLE_"))}
    env.update(PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", MOLECULE_CLUSTER=cluster, ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(
        [str(VENV_BIN / "molecule"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_kind_variant_passes_molecule_syntax(scenario):
    proc = molecule("syntax", "-s", scenario, cluster="kind")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.skipif(
    shutil.which("kind") is not None, reason="kind is installed here: the stop-at-once path does not apply"
)
def test_kind_variant_stops_at_once_saying_what_to_install():
    proc = molecule("create", "-s", "storage", cluster="kind", timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "MOLECULE_CLUSTER=kind needs docker and kind on PATH" in output and "kind" in output


def test_an_unknown_cluster_is_refused_at_once_naming_the_choices():
    proc = molecule("create", "-s", "storage", cluster="minikube", timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "MOLECULE_CLUSTER=minikube is not a cluster these scenarios know: use kind" in " ".join(output.split())
