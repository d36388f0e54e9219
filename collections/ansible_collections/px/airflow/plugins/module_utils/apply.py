# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Client-side apply that sends no write when nothing changed (no API calls here).

kubernetes.core's ``apply: true`` re-sends every list it has no merge key for (container
commands, access modes, ...), so a converged apply of most workloads still PATCHes. Here an object
is converged when every field we manage is already in the live object with the same value
(what the API server adds, its defaults and status, is ignored) and the last configuration we
applied, kept in an annotation, matches. Otherwise one JSON merge patch carries the desired
fields, plus nulls for the fields we applied last time and no longer want.
"""

from __future__ import annotations

import copy
import hashlib
import json

LAST_APPLIED = "px.airflow/last-applied"


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def managed(desired):
    """What we manage of an object: everything given except status and server-set metadata."""
    obj = copy.deepcopy(desired)
    obj.pop("status", None)
    metadata = obj.setdefault("metadata", {})
    for key in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
        metadata.pop(key, None)
    annotations = metadata.get("annotations") or {}
    annotations.pop(LAST_APPLIED, None)
    if "annotations" in metadata and not annotations:
        del metadata["annotations"]
    return obj


def is_subset(desired, live):
    """Every field of ``desired`` is in ``live`` with the same value (lists element by element)."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return False
        return all(
            is_subset(value, live.get(key)) if value is not None else key not in live for key, value in desired.items()
        )
    if isinstance(desired, list):
        if not isinstance(live, list) or len(desired) != len(live):
            return False
        return all(is_subset(desired[i], live[i]) for i in range(len(desired)))
    if isinstance(desired, bool) or isinstance(live, bool):
        return desired is live
    if isinstance(desired, (int, float)) and isinstance(live, (int, float)):
        return desired == live
    return desired == live


def last_applied(live):
    text = ((live or {}).get("metadata") or {}).get("annotations", {}).get(LAST_APPLIED)
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _removals(previous, desired):
    """A merge patch of nulls for what ``previous`` had and ``desired`` dropped (dicts only)."""
    patch = {}
    for key, value in (previous or {}).items():
        if key not in desired:
            patch[key] = None
        elif isinstance(value, dict) and isinstance(desired[key], dict):
            nested = _removals(value, desired[key])
            if nested:
                patch[key] = nested
    return patch


def _deep_merge(base, extra):
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def recorded(wanted):
    """What the last-applied annotation keeps of an object: a Secret's values only as digests.

    (kubectl keeps them in clear in its annotation, where anyone who may read the Secret's
    metadata sees them.)
    """
    if wanted.get("kind") != "Secret":
        return wanted
    kept = copy.deepcopy(wanted)
    for field in ("data", "stringData"):
        if isinstance(kept.get(field), dict):
            kept[field] = {
                key: "sha256:" + hashlib.sha256(str(value).encode("utf-8")).hexdigest()
                for key, value in kept[field].items()
            }
    return kept


def with_annotation(obj):
    """The object to create: the desired fields plus the last-applied annotation."""
    wanted = managed(obj)
    body = copy.deepcopy(wanted)
    body["metadata"].setdefault("annotations", {})[LAST_APPLIED] = canonical(recorded(wanted))
    return body


def plan(desired, live):
    """None when converged, else the merge patch to send to the live object."""
    wanted = managed(desired)
    previous = last_applied(live)
    if previous == recorded(wanted) and is_subset(wanted, live):
        return None
    patch = _deep_merge(_removals(previous, wanted), wanted)
    patch.setdefault("metadata", {}).setdefault("annotations", {})[LAST_APPLIED] = canonical(recorded(wanted))
    # Identity fields are not patched.
    for key in ("apiVersion", "kind"):
        patch.pop(key, None)
    for key in ("name", "namespace"):
        patch["metadata"].pop(key, None)
    return patch


def shown(obj, like):
    """The part of ``obj`` a diff should show: the fields ``like`` (the desired object) has."""
    if isinstance(like, dict) and isinstance(obj, dict):
        return {key: shown(obj.get(key), value) for key, value in like.items() if key in obj}
    return obj
