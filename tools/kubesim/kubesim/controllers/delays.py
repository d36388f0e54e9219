"""`--delays FILE`: how long simulated things take, per kind and name glob (zero by default).

    {"ready":   {"StatefulSet/postgres": 20, "Deployment/*": 0},   # running -> Ready, seconds
     "bind":    {"PersistentVolumeClaim/*": 10},                   # claim -> volume provisioned and bound
     "run":     {"Job/sync-dags": 3},                              # a completing pod's run time
     "backoff": {"Job/*": 10}}                                     # a Job's wait before retrying a failed pod

A pattern is `Kind/name-glob` (fnmatch), `name-glob` or `*`. A pod is looked up as itself
(`Pod/<name>`) and as each of its owners (`ReplicaSet/...`, `Deployment/...`, `StatefulSet/...`,
`Job/...`); a claim as itself and as its class (`StorageClass/<name>`). The most specific pattern
wins (an exact `Kind/name`, then `Kind/glob`, then a bare name or glob, then `*`); between equally
specific ones, the object's own before its owners'.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

import yaml

CATEGORIES = ("ready", "bind", "run", "backoff")


class Delays:
    def __init__(self, table: dict[str, dict[str, float]] | None = None) -> None:
        self.table: dict[str, dict[str, float]] = {}
        for category, patterns in (table or {}).items():
            if category not in CATEGORIES:
                raise ValueError(f"--delays: unknown category {category!r} (expected one of {', '.join(CATEGORIES)})")
            if not isinstance(patterns, dict):
                raise ValueError(f"--delays: {category} must map 'Kind/name' patterns to seconds")
            checked: dict[str, float] = {}
            for pattern, seconds in patterns.items():
                if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
                    raise ValueError(f"--delays: {category}[{pattern!r}] must be a number of seconds >= 0")
                checked[str(pattern)] = float(seconds)
            self.table[category] = checked

    @classmethod
    def load(cls, path: str | None) -> Delays:
        if not path:
            return cls()
        try:
            text = Path(path).read_text()
            data: Any = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
        except (OSError, ValueError, yaml.YAMLError) as e:
            raise ValueError(f"--delays {path}: {e}") from e
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ValueError("--delays: the file must hold a mapping of categories")
        return cls(data)

    def lookup(self, category: str, refs: list[tuple[str, str]]) -> float:
        """The delay for the first of `refs` ((kind, name), most specific object first) that matches."""
        patterns = self.table.get(category)
        if not patterns:
            return 0.0
        best: tuple[int, float] | None = None
        for index, (kind, name) in enumerate(refs):
            for pattern, seconds in patterns.items():
                rank = _rank(pattern, kind, name)
                if rank is None:
                    continue
                score = rank * 100 + index  # specificity first, then nearness to the object
                if best is None or score < best[0]:
                    best = (score, seconds)
        return best[1] if best else 0.0


def _rank(pattern: str, kind: str, name: str) -> int | None:
    """0 exact Kind/name, 1 Kind/glob, 2 bare name or glob, 3 '*'; None when it does not match."""
    if pattern == "*":
        return 3
    if "/" in pattern:
        p_kind, _, p_name = pattern.partition("/")
        if p_kind != kind:
            return None
        if p_name == name:
            return 0
        return 1 if fnmatch.fnmatchcase(name, p_name) else None
    if pattern == name:
        return 2
    return 2 if fnmatch.fnmatchcase(name, pattern) else None
