"""The OpenAPI schemas of the served Kubernetes version, as shipped by `kubernetes-validate`.

kubernetes-validate carries, per Kubernetes minor version, a JSON-schema rendering of the API
server's OpenAPI document: `_definitions.json` holds every type under `$defs` (with the
`x-kubernetes-patch-strategy`, `x-kubernetes-patch-merge-key`, `x-kubernetes-list-type` and
`x-kubernetes-group-version-kind` extensions), and the "strict" flavour closes every struct with
`additionalProperties: false`, which is what lets us find unknown fields the way the API server's
strict decoder does.

The definitions are loaded lazily, once per version and process (about 30 ms), with descriptions
dropped to keep memory low; nodes are shared, never copied per request. Callers must treat every
returned node as read-only.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

SCHEMA_FLAVOUR = "local-strict"
DEFAULT_VERSION = "1.33"

_REF_PREFIXES = ("#/$defs/", "/api/_definitions.json#/$defs/")
_JSON_TYPES = ("object", "array", "string", "integer", "number", "boolean")


def schema_root() -> Path:
    """Where kubernetes-validate keeps its per-version schema directories."""
    import kubernetes_validate  # local import: keeps `import kubesim.schemas` cheap

    return Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"


def normalize_version(version: str) -> str:
    """'1.33', 'v1.33', '1.33.0' -> '1.33' (kubernetes-validate ships one schema per minor)."""
    match = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.\d+)?", version.strip())
    if not match:
        raise ValueError(f"not a Kubernetes version: {version!r}")
    return f"{match.group(1)}.{match.group(2)}"


def available_versions() -> list[str]:
    found = []
    for entry in schema_root().iterdir():
        match = re.fullmatch(rf"v(\d+)\.(\d+)\.0-{SCHEMA_FLAVOUR}", entry.name)
        if match:
            found.append((int(match.group(1)), int(match.group(2))))
    return [f"{major}.{minor}" for major, minor in sorted(found)]


def _strip(node: Any) -> Any:
    """Drop descriptions (most of the file's bytes) so a loaded version stays small in memory."""
    if isinstance(node, dict):
        return {key: _strip(value) for key, value in node.items() if key != "description"}
    if isinstance(node, list):
        return [_strip(value) for value in node]
    return node


class _Loaded:
    """One version's definitions and its group/version/kind index (shared by all Schemas)."""

    def __init__(self, version: str) -> None:
        directory = schema_root() / f"v{version}.0-{SCHEMA_FLAVOUR}"
        if not directory.is_dir():
            raise ValueError(
                f"kubernetes-validate ships no schemas for Kubernetes {version} "
                f"(available: {', '.join(available_versions())})"
            )
        with open(directory / "_definitions.json", encoding="utf-8") as handle:
            self.defs: dict[str, dict] = _strip(json.load(handle))["$defs"]
        self.by_gvk: dict[tuple[str, str, str], str] = {}
        for name, node in self.defs.items():
            for gvk in node.get("x-kubernetes-group-version-kind") or ():
                key = (gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))
                # Several definitions can claim a GVK (e.g. meta DeleteOptions); the first real
                # object type wins: prefer a definition that has apiVersion/kind/metadata.
                if key not in self.by_gvk or "metadata" in node.get("properties", {}):
                    self.by_gvk[key] = name
        # Merged property nodes (property's own x-kubernetes-* keys over the referenced
        # definition), built on demand and kept: keyed by id() of the (immortal) property node.
        self.merged: dict[int, dict] = {}
        self.lock = threading.Lock()


_LOADED: dict[str, _Loaded] = {}
_LOAD_LOCK = threading.Lock()


def _load(version: str) -> _Loaded:
    loaded = _LOADED.get(version)
    if loaded is None:
        with _LOAD_LOCK:
            loaded = _LOADED.get(version)
            if loaded is None:
                loaded = _LOADED[version] = _Loaded(version)
    return loaded


def split_api_version(api_version: str) -> tuple[str, str]:
    """'apps/v1' -> ('apps', 'v1'); 'v1' -> ('', 'v1')."""
    group, _, version = api_version.rpartition("/")
    return group, version


def definition_name(ref: str) -> str:
    for prefix in _REF_PREFIXES:
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    raise ValueError(f"unsupported $ref: {ref}")


class Schemas:
    """The schemas of one Kubernetes version. Cheap to construct; the data is loaded once per process."""

    def __init__(self, kubernetes_version: str = DEFAULT_VERSION) -> None:
        self.version = normalize_version(kubernetes_version)
        self._data: _Loaded | None = None
        # Fail fast on a version kubernetes-validate does not ship, without loading anything.
        if not (schema_root() / f"v{self.version}.0-{SCHEMA_FLAVOUR}").is_dir():
            raise ValueError(
                f"kubernetes-validate ships no schemas for Kubernetes {self.version} "
                f"(available: {', '.join(available_versions())})"
            )

    @property
    def _loaded(self) -> _Loaded:
        if self._data is None:
            self._data = _load(self.version)
        return self._data

    # -- lookups -------------------------------------------------------------------------------

    def kind(self, api_version: str, kind: str) -> dict | None:
        """The top-level schema of `kind` in `api_version`, or None when the version does not serve it."""
        group, version = split_api_version(api_version)
        name = self._loaded.by_gvk.get((group, version, kind))
        return self._loaded.defs[name] if name else None

    def definition_name(self, api_version: str, kind: str) -> str | None:
        """'io.k8s.api.apps.v1.Deployment' for ('apps/v1', 'Deployment')."""
        group, version = split_api_version(api_version)
        return self._loaded.by_gvk.get((group, version, kind))

    def definition(self, name: str) -> dict | None:
        """A definition by its full name ('io.k8s.api.core.v1.PodSpec')."""
        return self._loaded.defs.get(name)

    def resolve(self, node: dict | None) -> dict | None:
        """Follow `$ref`, keeping the referring node's own `x-kubernetes-*` keys (patch strategy lives there).

        `node` must be a node of this schema (or a bare {"$ref": ...}); the result is shared: never mutate it.
        """
        if node is None or "$ref" not in node:
            return node
        loaded = self._loaded
        target = loaded.defs.get(definition_name(node["$ref"]))
        if target is None or len(node) == 1:
            return target  # a bare reference: nothing to merge, nothing to cache
        # Merged nodes are cached by id(): only nodes of the (immortal) loaded schema carry extras, so
        # an id is never reused for another node.
        merged = loaded.merged.get(id(node))
        if merged is None:
            merged = {**target, **{key: value for key, value in node.items() if key != "$ref"}}
            with loaded.lock:
                loaded.merged[id(node)] = merged
        return merged

    def ref_name(self, node: dict | None) -> str | None:
        """The short Go type name a (possibly referring) node stands for: 'DeploymentSpec'."""
        if node and "$ref" in node:
            return definition_name(node["$ref"]).rsplit(".", 1)[-1]
        return None

    def child(self, node: dict | None, key: str) -> dict | None:
        """Navigate one step: property `key`; "[]" = array items; "{}" = map values. `$ref`s resolved."""
        node = self.resolve(node)
        if not node:
            return None
        if key == "[]":
            items = node.get("items")
            return self.resolve(items) if isinstance(items, dict) else None
        if key == "{}":
            values = node.get("additionalProperties")
            return self.resolve(values) if isinstance(values, dict) else None
        prop = (node.get("properties") or {}).get(key)
        return self.resolve(prop) if prop is not None else None

    def path(self, node: dict | None, *keys: str) -> dict | None:
        """child() repeated: schemas.path(deployment, "spec", "template", "spec", "containers", "[]")."""
        for key in keys:
            node = self.child(node, key)
            if node is None:
                return None
        return node


# -- node predicates (shared by validation and patch) --------------------------------------------


def types_of(node: dict) -> tuple[str, ...]:
    """The JSON types a node admits, without "null" (every field may be null: it means unset)."""
    declared = node.get("type")
    if declared is None:
        return ()
    if isinstance(declared, str):
        declared = [declared]
    return tuple(t for t in declared if t != "null")


def is_closed_object(node: dict) -> bool:
    """A struct whose unknown properties the strict decoder rejects."""
    return node.get("additionalProperties") is False


def is_map(node: dict) -> bool:
    return isinstance(node.get("additionalProperties"), dict)


def is_free_form(node: dict) -> bool:
    """RawExtension, JSON, FieldsV1 and the like: anything goes, nothing to walk."""
    return (
        "properties" not in node
        and "additionalProperties" not in node
        and "items" not in node
        and "oneOf" not in node
        and "object" in types_of(node) + (("object",) if not types_of(node) else ())
    )


def patch_strategy(node: dict | None) -> list[str]:
    """x-kubernetes-patch-strategy split on ',' ('merge', 'retainKeys', 'replace')."""
    if not node:
        return []
    value = node.get("x-kubernetes-patch-strategy") or ""
    return [part for part in value.split(",") if part]


def patch_merge_key(node: dict | None) -> str | None:
    return (node or {}).get("x-kubernetes-patch-merge-key")


def list_type(node: dict | None) -> str | None:
    return (node or {}).get("x-kubernetes-list-type")


def list_map_keys(node: dict | None) -> list[str]:
    return list((node or {}).get("x-kubernetes-list-map-keys") or ())


__all__ = [
    "DEFAULT_VERSION",
    "Schemas",
    "available_versions",
    "is_closed_object",
    "is_free_form",
    "is_map",
    "list_map_keys",
    "list_type",
    "normalize_version",
    "patch_merge_key",
    "patch_strategy",
    "split_api_version",
    "types_of",
]
