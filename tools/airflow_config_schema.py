#!/usr/bin/env python3
"""Writes the collection's copy of Airflow's configuration description (sections, keys, types).

The preflight refuses unknown sections and keys of `airflow_config` and values of the wrong type
without Airflow installed where the modules run, so it carries this table, generated from the
Airflow the image ships (with its providers). tests/test_preflight_schema.py fails when the table
and the installed Airflow differ: re-run this after an Airflow upgrade.

    .venv/bin/python tools/airflow_config_schema.py [--check]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "collections/ansible_collections/px/airflow/plugins/module_utils/airflow_config_schema.py"

HEADER = '''# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Airflow's configuration description: {section: {key: type}} (generated: tools/airflow_config_schema.py).

Types are Airflow's own: string, integer, float, boolean.
"""

from __future__ import annotations

'''


def render() -> str:
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="px-airflow-schema-"))
    import airflow
    from airflow.configuration import retrieve_configuration_description

    description = retrieve_configuration_description(include_providers=True)
    q = json.dumps  # double quotes, as the formatter wants them
    lines = [HEADER, f"AIRFLOW_VERSION = {q(airflow.__version__)}\n\n", "SECTIONS = {\n"]
    for section in sorted(description):
        options = description[section].get("options") or {}
        lines.append(f"    {q(section)}: {{\n")
        for key in sorted(options):
            lines.append(f"        {q(key)}: {q(options[key].get('type') or 'string')},\n")
        lines.append("    },\n")
    lines.append("}\n")
    return "".join(lines)


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        if TARGET.read_text() != text:
            print(f"{TARGET} differs from the installed Airflow's description: run {sys.argv[0]}", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
