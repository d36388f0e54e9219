"""Fixtures shared by the repo-level tests (helpers live in helpers.py, importable by name)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def playbook(tmp_path: Path):
    """Write a playbook from YAML text into tmp_path and return its path."""

    def write(text: str, name: str = "play.yml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def pytest_terminal_summary(terminalreporter):
    """Print the wall time of each molecule scenario that ran (issue: print them)."""
    try:
        from test_molecule import WALL_TIMES
    except ImportError:
        return
    for scenario, seconds in WALL_TIMES.items():
        terminalreporter.write_line(f"molecule scenario {scenario}: {seconds:.1f} s")
