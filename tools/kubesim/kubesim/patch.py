"""PATCH bodies: JSON patch (RFC 6902), JSON merge patch (RFC 7386), strategic merge patch.

Strategic merge follows k8s.io/apimachinery/pkg/util/strategicpatch: lists whose schema
declares `x-kubernetes-patch-strategy: merge` are merged item by item on
`x-kubernetes-patch-merge-key` (or as a set of primitives), other lists are replaced; maps are
merged recursively; `null` deletes. Directives: `$patch: replace|delete|merge` in maps and list
items, `$retainKeys`, `$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>` (honoured
as an ordering hint). https://github.com/kubernetes/community/blob/master/contributors/devel/sig-api-machinery/strategic-merge-patch.md

The functions take a document the caller owns (they may change it in place) and return the
patched document. Errors are `PatchError` carrying the HTTP code the API server answers with.
"""

from __future__ import annotations

from typing import Any, Protocol

from .store import clone


class SchemaNavigator(Protocol):
    """The part of `schemas.Schemas` strategic merge needs (see README contract)."""

    def child(self, node: dict[str, Any], key: str) -> dict[str, Any] | None: ...


class PatchError(Exception):
    """A patch that cannot be applied; `code` is 400 (malformed), 422 (does not apply) or 500."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# ---- JSON patch (RFC 6902) ----------------------------------------------------------------------


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise PatchError(400, f'invalid JSON pointer: "{path}"')
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], token: str, op: str, path: str, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PatchError(422, f'{op} operation does not apply: doc is missing path: "{path}": invalid index')
    i = int(token)
    limit = len(container) if allow_end else len(container) - 1
    if i > limit:
        raise PatchError(422, f'{op} operation does not apply: doc is missing path: "{path}": index out of range')
    return i


def _parent(doc: Any, tokens: list[str], op: str, path: str) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, op, path, allow_end=False)]
        else:
            raise PatchError(422, f'{op} operation does not apply: doc is missing path: "{path}": missing value')
        if node is None:
            raise PatchError(422, f'{op} operation does not apply: doc is missing path: "{path}": missing value')
    return node


def _get(doc: Any, path: str, op: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, op, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(422, f'{op} operation does not apply: doc is missing path: "{path}": missing value')
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, op, path, allow_end=False)]
    raise PatchError(422, f'{op} operation does not apply: doc is missing path: "{path}": missing value')


def _add(doc: Any, path: str, value: Any, op: str = "add") -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, op, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, op, path, allow_end=True), value)
    else:
        raise PatchError(422, f'{op} operation does not apply: doc is missing path: "{path}": missing value')
    return doc


def _remove(doc: Any, path: str, op: str = "remove") -> tuple[Any, Any]:
    tokens = _pointer(path)
    if not tokens:
        raise PatchError(422, f'{op} operation does not apply: doc is missing path: "{path}"')
    parent = _parent(doc, tokens, op, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(422, f'{op} operation does not apply: doc is missing path: "{path}": missing value')
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, op, path, allow_end=False))
    raise PatchError(422, f'{op} operation does not apply: doc is missing path: "{path}": missing value')


def json_patch(doc: Any, operations: Any) -> Any:
    """Apply an RFC 6902 patch (a list of operations) to `doc` (changed in place)."""
    if not isinstance(operations, list):
        raise PatchError(400, "json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    for operation in operations:
        if not isinstance(operation, dict):
            raise PatchError(400, "json: cannot unmarshal into Go value of type jsonpatch.Operation")
        op = operation.get("op")
        path = operation.get("path")
        if op not in ("add", "remove", "replace", "move", "copy", "test"):
            raise PatchError(422, f"Unexpected kind: {op}")
        if path is None:
            raise PatchError(422, f"{op} operation does not apply: doc is missing path")
        if op in ("add", "replace", "test") and "value" not in operation:
            raise PatchError(422, f"{op} operation does not apply: missing value")
        doc = _apply_operation(doc, op, path, operation)
    return doc


def _apply_operation(doc: Any, op: str, path: str, operation: dict[str, Any]) -> Any:
    if op == "add":
        return _add(doc, path, clone(operation["value"]))
    if op == "remove":
        return _remove(doc, path)[0]
    if op == "replace":
        _get(doc, path, "replace")  # must exist
        tokens = _pointer(path)
        if not tokens:
            return clone(operation["value"])
        parent = _parent(doc, tokens, op, path)
        if isinstance(parent, list):
            parent[_index(parent, tokens[-1], op, path, allow_end=False)] = clone(operation["value"])
        else:
            parent[tokens[-1]] = clone(operation["value"])
        return doc
    if op == "test":
        if _get(doc, path, "test") != operation["value"]:
            raise PatchError(422, f"testing value {path} failed: test failed")
        return doc
    source = operation.get("from")
    if source is None:
        raise PatchError(422, f"{op} operation does not apply: doc is missing from path")
    if op == "move":
        doc, value = _remove(doc, source, "move")
        return _add(doc, path, value, "move")
    return _add(doc, path, clone(_get(doc, source, "copy")), "copy")


# ---- JSON merge patch (RFC 7386) ----------------------------------------------------------------


def merge_patch(doc: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch: maps merge recursively, null deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return clone(patch)
    result = doc if isinstance(doc, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# ---- strategic merge patch ----------------------------------------------------------------------

_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVES = "$deleteFromPrimitiveList/"


def strategic_merge_patch(
    doc: dict[str, Any], patch: Any, schemas: SchemaNavigator, node: dict[str, Any] | None
) -> Any:
    """Apply a strategic merge patch to `doc` using the merge keys/strategies found from `node`."""
    if not isinstance(patch, dict):
        raise PatchError(400, "unable to unmarshal strategic merge patch: the patch is not a JSON object")
    merged = _merge_map(doc, patch, schemas, node)
    return {} if merged is None else merged


def _child(schemas: SchemaNavigator, node: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    if not node:
        return None
    return schemas.child(node, key) or (schemas.child(node, "{}") if key not in ("[]", "{}") else None)


def _strategies(node: dict[str, Any] | None, key: str, child: dict[str, Any] | None) -> tuple[set[str], str]:
    """The patch strategy and merge key of property `key`, read where the schema declares them."""
    prop = ((node or {}).get("properties") or {}).get(key) or {}
    strategy = prop.get("x-kubernetes-patch-strategy") or (child or {}).get("x-kubernetes-patch-strategy") or ""
    merge_key = prop.get("x-kubernetes-patch-merge-key") or (child or {}).get("x-kubernetes-patch-merge-key") or ""
    return {s for s in strategy.split(",") if s}, merge_key


def _strip(value: Any) -> Any:
    """A patch value used as-is (no original to merge with): apply its directives to nothing."""
    if isinstance(value, dict):
        merged = _merge_map({}, value, None, None)
        return {} if merged is None else merged
    if isinstance(value, list):
        return [_strip(v) for v in value if not (isinstance(v, dict) and v.get("$patch") in ("delete", "replace"))]
    return value


def _merge_map(
    original: dict[str, Any], patch: dict[str, Any], schemas: SchemaNavigator | None, node: dict[str, Any] | None
) -> dict[str, Any] | None:
    patch = dict(patch)
    directive = patch.pop("$patch", None)
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: _strip(v) for k, v in patch.items() if v is not None and not k.startswith("$")}
    if directive not in (None, "merge"):
        raise PatchError(400, f"unknown patch type: {directive} in map: {patch}")
    retain = patch.pop("$retainKeys", None)
    if retain is not None:
        if not isinstance(retain, list):
            raise PatchError(400, "invalid patch: $retainKeys must be a list of strings")
        original = {k: v for k, v in original.items() if k in retain}
    orders = {k[len(_ORDER) :]: patch.pop(k) for k in list(patch) if k.startswith(_ORDER)}
    removals = {k[len(_DELETE_PRIMITIVES) :]: patch.pop(k) for k in list(patch) if k.startswith(_DELETE_PRIMITIVES)}
    for field, values in removals.items():
        if not isinstance(values, list):
            raise PatchError(400, f"invalid patch: {_DELETE_PRIMITIVES}{field} must be a list")
        if isinstance(original.get(field), list):
            original[field] = [v for v in original[field] if v not in values]
    for key, value in patch.items():
        _merge_field(original, key, value, schemas, node)
    for field, order in orders.items():
        if isinstance(order, list) and isinstance(original.get(field), list):
            _, merge_key = _strategies(node, field, _child(schemas, node, field) if schemas else None)
            original[field] = _apply_order(original[field], order, merge_key)
    return original


def _merge_field(
    result: dict[str, Any], key: str, value: Any, schemas: SchemaNavigator | None, node: dict[str, Any] | None
) -> None:
    if value is None:
        result.pop(key, None)
        return
    child = _child(schemas, node, key) if schemas else None
    strategies, merge_key = _strategies(node, key, child)
    current = result.get(key)
    if isinstance(value, dict):
        if "replace" in strategies or not isinstance(current, dict):
            merged = _merge_map({}, value, schemas, child)
        else:
            merged = _merge_map(current, value, schemas, child)
        if merged is None:
            result.pop(key, None)
        else:
            result[key] = merged
    elif isinstance(value, list):
        if "merge" in strategies:
            items = _child(schemas, child, "[]") if schemas else None
            result[key] = _merge_list(current if isinstance(current, list) else [], value, merge_key, schemas, items)
        else:
            result[key] = _strip(value)
    else:
        result[key] = value


def _merge_list(
    original: list[Any],
    patch: list[Any],
    merge_key: str,
    schemas: SchemaNavigator | None,
    items: dict[str, Any] | None,
) -> list[Any]:
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [_strip(p) for p in patch if not (isinstance(p, dict) and "$patch" in p and len(p) == 1)]
    if not any(isinstance(p, dict) for p in patch):
        # A set of primitives (e.g. finalizers): union, original order first.
        merged = list(original)
        for p in patch:
            if p not in merged:
                merged.append(p)
        return merged
    if not merge_key:
        raise PatchError(500, "Internal error occurred: merging an object in a list requires a merge key")
    result = list(original)
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError(400, f"invalid patch: list item {item!r} is not an object")
        if merge_key not in item:
            raise PatchError(500, f"map: {item} does not contain declared merge key: {merge_key}")
        at = next(
            (i for i, o in enumerate(result) if isinstance(o, dict) and o.get(merge_key) == item[merge_key]), None
        )
        if item.get("$patch") == "delete":
            if at is not None:
                result.pop(at)
            continue
        if at is None:
            merged = _merge_map({}, item, schemas, items)
            if merged is not None:
                result.append(merged)
        else:
            merged = _merge_map(result[at], item, schemas, items)
            if merged is None:
                result.pop(at)
            else:
                result[at] = merged
    return result


def _apply_order(values: list[Any], order: list[Any], merge_key: str) -> list[Any]:
    """Honour $setElementOrder: listed elements in that order, the server-only rest after them."""

    def ident(v: Any) -> Any:
        if isinstance(v, dict):
            return v.get(merge_key)
        return v

    wanted = [ident(o) for o in order]
    position = {w: i for i, w in enumerate(wanted) if isinstance(w, (str, int, float, bool))}
    indexed = list(enumerate(values))
    indexed.sort(
        key=lambda iv: (position.get(ident(iv[1]), len(position)) if _hashable(ident(iv[1])) else len(position), iv[0])
    )
    return [v for _, v in indexed]


def _hashable(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) or value is None
