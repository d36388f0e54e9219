#!/usr/bin/env python3
"""Runs px.airflow's test gates and prints one result line per gate with its wall time.

Gates: ruff, ansible-lint (production profile), ansible-test sanity, docs (antsibull-docs lint of
the module and role docs, and their version_added), ansible-test units, cluster
(``px-cluster up``: builds the local real Kubernetes from upstream sources the first time, starts it,
imports the local images), ansible-test integration (the collection's targets against that cluster:
out/cluster, or PX_CLUSTER_DIR when set), and pytest over the repo-level tests under tests/. Exits
non-zero if any gate fails. The last line counts the test cases of the units and pytest gates:
``tests: N passed, N failed, N skipped``.

    .venv/bin/python tools/gates.py [--only GATE ...] [--skip GATE ...] [-- PYTEST ARGS]

Test paths among the pytest arguments (``tests/...``) replace the default ``tests``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLLECTION = ROOT / "collections" / "ansible_collections" / "px" / "airflow"
VENV_BIN = ROOT / ".venv" / "bin"
OUT = ROOT / "out"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    env["ANSIBLE_COLLECTIONS_PATH"] = str(ROOT / "collections")
    env.setdefault("ANSIBLE_FORCE_COLOR", "0")
    env["PY_COLORS"] = "0"
    return env


def _junit_counts(path: Path) -> tuple[int, int, int]:
    """(passed, failed, skipped) from a JUnit XML file, or from every one in a directory."""
    files = sorted(path.glob("*.xml")) if path.is_dir() else [path] if path.exists() else []
    suites = []
    for file in files:
        root = ET.parse(file).getroot()
        suites += [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = failed = skipped = 0
    for suite in suites:
        tests += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    return tests - failed - skipped, failed, skipped


def gate_ruff(extra: list[str]) -> tuple[list[list[str]], Path, Path | None]:
    return [["ruff", "check", "."], ["ruff", "format", "--check", "."]], ROOT, None


def gate_lint(extra: list[str]) -> tuple[list[list[str]], Path, Path | None]:
    return [["ansible-lint", "--profile", "production", "--offline"]], ROOT, None


def gate_sanity(extra: list[str]) -> tuple[list[list[str]], Path, Path | None]:
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    return [["ansible-test", "sanity", "--venv", "--python", py, "--color", "no"]], COLLECTION, None


def gate_docs(extra: list[str]) -> tuple[list[list[str]], Path, Path | None]:
    lint = ["antsibull-docs", "lint-collection-docs", "--plugin-docs"]
    refs = ["--validate-collection-refs", "all", "--disallow-unknown-collection-refs"]
    versions = ["python", str(ROOT / "tools" / "check_version_added.py"), "."]
    # The changelog's fragments and changelog.yaml are well-formed (CHANGELOG.rst is generated from them).
    changelog = ["antsibull-changelog", "lint"]
    return [[*lint, *refs, "."], versions, changelog], COLLECTION, None


def gate_units(extra: list[str]) -> tuple[list[list[str]], Path, Path | None]:
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    junit = COLLECTION / "tests" / "output" / "junit"
    for old in junit.glob("*.xml"):
        old.unlink()
    return [["ansible-test", "units", "--venv", "--python", py, "--color", "no"]], COLLECTION, junit


def gate_cluster(extra: list[str]) -> tuple[list[list[str]], Path, Path | None]:
    return [["px-cluster", "up", "--dir", str(OUT / "cluster")]], ROOT, None


def cluster_dir() -> Path:
    """The local cluster the tests talk to: PX_CLUSTER_DIR when set (as the repo's pytest files read it)."""
    return Path(os.environ["PX_CLUSTER_DIR"]) if os.environ.get("PX_CLUSTER_DIR") else OUT / "cluster"


def gate_integration(extra: list[str]) -> tuple[list[list[str]], Path, Path | None]:
    """ansible-test integration --local: the targets of group px_cluster against the local cluster.

    ansible-test passes no K8S_AUTH_* variable through to the playbooks it runs, so the cluster is
    named in tests/integration/integration_config.yml (written here, not committed), which
    ansible-test gives every target as variables; each target sets module_defaults from them.
    """
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    config = COLLECTION / "tests" / "integration" / "integration_config.yml"
    kubeconfig = cluster_dir() / "kubeconfig"
    config.write_text(
        "# Written by tools/gates.py: the cluster the integration targets talk to.\n"
        f"px_it_kubeconfig: {json.dumps(str(kubeconfig))}\npx_it_context: px-local\n"
    )
    # No JUnit count: ansible-test's junit callback makes each task a test case and counts a task
    # failing inside a block's rescue (an expected refusal) as a failure. ansible-test itself fails
    # when no target matches, and exits non-zero when any target fails.
    cmd = ["ansible-test", "integration", "--local", "--python", py, "--color", "no", "--continue-on-error"]
    return [[*cmd, "px_cluster/"]], COLLECTION, None


def gate_pytest(extra: list[str]) -> tuple[list[list[str]], Path, Path | None]:
    junit = OUT / "pytest-junit.xml"
    if junit.exists():
        junit.unlink()
    # Test paths among the extra arguments (tests/..., with or without ::node ids) replace the default
    # "tests": `-- tests/cluster/test_faults.py` runs that file, not the whole suite and that file again.
    paths = [a for a in extra if a == "tests" or a.startswith("tests/")]
    cmd = ["python", "-m", "pytest", *(paths or ["tests"]), "-p", "no:cacheprovider", f"--junitxml={junit}"]
    return [[*cmd, "-q", "-rfEs", *(a for a in extra if a not in paths)]], ROOT, junit


GATES = {
    "ruff": gate_ruff,
    "ansible-lint": gate_lint,
    "sanity": gate_sanity,
    "docs": gate_docs,
    "units": gate_units,
    "cluster": gate_cluster,
    "integration": gate_integration,
    "pytest": gate_pytest,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=list(GATES), default=None)
    parser.add_argument("--skip", nargs="*", choices=list(GATES), default=[])
    parser.add_argument("pytest_args", nargs="*", help="extra arguments for the pytest gate (after --)")
    args = parser.parse_args()
    selected = [g for g in (args.only or GATES) if g not in args.skip]
    OUT.mkdir(exist_ok=True)
    env = _env()

    results: list[tuple[str, bool, float]] = []
    totals = [0, 0, 0]
    for name in selected:
        commands, cwd, junit = GATES[name](args.pytest_args)
        print(
            f"\n===== gate {name}: {' && '.join(' '.join(c) for c in commands)} (in {cwd.relative_to(ROOT)})",
            flush=True,
        )
        started = time.monotonic()
        ok = True
        for command in commands:
            ok = subprocess.run(command, cwd=cwd, env=env).returncode == 0 and ok
        elapsed = time.monotonic() - started
        if junit is not None:
            passed, failed, skipped = _junit_counts(junit)
            totals = [totals[0] + passed, totals[1] + failed, totals[2] + skipped]
            if passed + failed == 0:
                print(f"gate {name}: ran no test", flush=True)
                ok = False
        results.append((name, ok, elapsed))

    print("\n===== gate results")
    for name, ok, elapsed in results:
        print(f"gate {name:<13} {'PASS' if ok else 'FAIL'}  {elapsed:7.1f} s")
    failed_gates = [name for name, ok, _ in results if not ok]
    print(
        f"gates: {len(results) - len(failed_gates)} of {len(results)} passed"
        + (f" (failed: {', '.join(failed_gates)})" if failed_gates else "")
    )
    print(f"tests: {totals[0]} passed, {totals[1]} failed, {totals[2]} skipped")
    return 1 if failed_gates else 0


if __name__ == "__main__":
    sys.exit(main())
