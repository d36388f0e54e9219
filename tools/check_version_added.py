#!/usr/bin/env python3
"""Checks version_added in px.airflow's module docs and role argument_specs (part of the docs gate).

antsibull-docs lints the schema, markup and references, not the versions. Rules:

- every module states ``version_added`` at module level, a version no newer than galaxy.yml's;
- an option's (or return value's) ``version_added`` is newer than its module's or role's and no newer
  than galaxy.yml's; an option that came with its module or role states none.

It also reports argument_specs that are not valid YAML, which antsibull-docs skips without a word.
Prints one line per problem and exits 1 if there is any.

    .venv/bin/python tools/check_version_added.py [COLLECTION_DIR]
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import yaml
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parent.parent
COLLECTION = ROOT / "collections" / "ansible_collections" / "px" / "airflow"


def _version(value: object) -> Version | None:
    try:
        return Version(str(value))
    except InvalidVersion:
        return None


def _module_docs(path: Path) -> dict[str, object]:
    """DOCUMENTATION and RETURN of a module, parsed from its source without importing it."""
    docs: dict[str, object] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in ("DOCUMENTATION", "RETURN"):
                    docs[target.id] = yaml.safe_load(node.value.value) or {}
    return docs


def _walk(entries: object, where: str, floor: Version, ceiling: Version, problems: list[str]) -> None:
    """Checks the version_added of each option (or return value) and its sub-options."""
    if not isinstance(entries, dict):
        return
    for name, spec in entries.items():
        if not isinstance(spec, dict):
            continue
        here = f"{where} -> {name}"
        if "version_added" in spec:
            version = _version(spec["version_added"])
            if version is None:
                problems.append(f"{here}: version_added {spec['version_added']!r} is not a version")
            elif version <= floor:
                problems.append(
                    f"{here}: version_added {version} is not newer than its module's or role's ({floor}); remove it"
                )
            elif version > ceiling:
                problems.append(f"{here}: version_added {version} is newer than the collection ({ceiling})")
        for key in ("options", "suboptions", "contains"):
            _walk(spec.get(key), here, floor, ceiling, problems)


def check(collection: Path) -> list[str]:
    galaxy = yaml.safe_load((collection / "galaxy.yml").read_text())
    ceiling = Version(str(galaxy["version"]))
    problems: list[str] = []
    for path in sorted((collection / "plugins" / "modules").glob("*.py")):
        if path.name == "__init__.py":
            continue
        where = str(path.relative_to(collection))
        try:
            docs = _module_docs(path)
        except yaml.YAMLError as error:
            problems.append(f"{where}: DOCUMENTATION or RETURN is not valid YAML: {' '.join(str(error).split())}")
            continue
        doc = docs.get("DOCUMENTATION")
        if not isinstance(doc, dict):
            problems.append(f"{where}: no DOCUMENTATION")
            continue
        version = _version(doc.get("version_added"))
        if version is None:
            stated = doc.get("version_added")
            problems.append(f"{where}: module-level version_added {stated!r} is missing or not a version")
            continue
        if version > ceiling:
            problems.append(f"{where}: version_added {version} is newer than the collection ({ceiling})")
        _walk(doc.get("options"), where, version, ceiling, problems)
        _walk(docs.get("RETURN"), f"{where} RETURN", version, ceiling, problems)
    for path in sorted((collection / "roles").glob("*/meta/argument_specs.yml")):
        where = str(path.relative_to(collection))
        try:
            specs = (yaml.safe_load(path.read_text()) or {}).get("argument_specs", {})
        except yaml.YAMLError as error:  # antsibull-docs skips a role whose specs do not parse
            problems.append(f"{where}: not valid YAML: {' '.join(str(error).split())}")
            continue
        for entry, spec in specs.items():
            floor = _version(spec.get("version_added", "0.1.0")) or Version("0.1.0")
            _walk(spec.get("options"), f"{where} {entry}", floor, ceiling, problems)
    return problems


def main() -> int:
    collection = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else COLLECTION
    problems = check(collection)
    for problem in problems:
        print(problem)
    print(f"version_added: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
