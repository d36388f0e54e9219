"""The preflight's copy of Airflow's configuration description matches the Airflow the stack ships."""

from __future__ import annotations

import subprocess
import sys

from helpers import ROOT


def test_the_schema_table_matches_the_installed_airflow():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "airflow_config_schema.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
